"""Report families: each explains one kind of model and registers itself here by name, with
the methods it uses by default and which models it explains. A family is added in one module;
nothing dispatches on a model's or a dataset's name elsewhere."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from tunelab.data import DataInfo, DataSplits
from tunelab.registry import Registry
from tunelab.reports import _attribution as A
from tunelab.reports._render import Section


@dataclass(frozen=True)
class Material:
    """A trained model and its data, ready to explain."""

    model: nn.Module  # on the device it is explained on
    rebuild: Callable[[], nn.Module]  # the same architecture with fresh weights
    state: dict[str, Any]  # the checkpoint
    data: DataSplits
    dataset: str
    family: str


@dataclass
class Explanation:
    sections: list[Section]
    summary: dict[str, Any]
    global_attribution: np.ndarray  # the first method's mean |attribution| per input element
    sanity_passed: bool
    seconds: float = 0.0
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Family:
    """A kind of model a report explains.

    `matches(state, info)` says whether the family explains the model a checkpoint holds, read
    with the shape of its data; of the families that match, the one with the highest `priority`
    explains it (a GAN's or a transfer model's family before its inputs' kind).
    `explain(material, methods, examples)` writes the report's sections."""

    name: str
    methods: tuple[str, ...]  # the default methods, in the order the report shows them
    matches: Callable[[dict[str, Any], DataInfo], bool]
    explain: Callable[[Material, Sequence[str], int], Explanation]
    priority: int = 0


families: Registry[Family] = Registry("report family")


def register(family: Family) -> Family:
    """Add a family by its name (a name taken already is refused)."""
    return families.register(family.name, family)


def family_of(state: dict[str, Any], info: DataInfo) -> Family | None:
    """The family that explains the model a checkpoint holds, or None."""
    matching = [family for _, family in families.items() if family.matches(state, info)]
    return max(matching, key=lambda family: family.priority, default=None)


def material_from_state(state: dict[str, Any], data: DataSplits, dataset: str) -> Material:
    """The model a checkpoint holds, rebuilt (on the CPU), with its data. Raises ValueError
    for a family no report covers; KeyError or NotFoundError for a model it cannot rebuild."""
    from tunelab.plugins import resolve_architecture
    from tunelab.training import build_from_state

    loaded = build_from_state(state)
    arch = resolve_architecture(state["architecture"])
    hyperparameters = {**arch.hyperparameters, **state["model_hparams"]}
    family = family_of(state, loaded.info)
    if family is None:
        raise ValueError(
            f"no report for a model of family '{state['architecture']}' with "
            f"{loaded.info.input_kind} inputs {loaded.info.input_shape}; reports cover "
            f"{', '.join(name for name, _ in families.items())}"
        )
    return Material(
        model=loaded.model,
        rebuild=lambda: arch.build(hyperparameters, loaded.info),
        state=state,
        data=data,
        dataset=dataset,
        family=family.name,
    )


def has_convolution(material: Material) -> bool:
    """Whether Grad-CAM has a layer to work on (a GAN's is its discriminator's)."""
    return A.last_conv(getattr(material.model, "discriminator", material.model)) is not None


def default_methods(material: Material) -> list[str]:
    """The family's methods, without Grad-CAM for a model that has no convolution."""
    methods = list(families.get(material.family).methods)
    return methods if has_convolution(material) else [m for m in methods if m != "grad_cam"]


def explain(material: Material, methods: Sequence[str], examples: int) -> Explanation:
    started = time.perf_counter()
    result = families.get(material.family).explain(material, methods, examples)
    result.seconds = time.perf_counter() - started
    return result
