"""What the driver does between a valid spec and the first trial: load the data and check it,
resolve the model's options (a transfer source, a GAN's reference classifier), and try a
plugin's builder once. Every failure is one located line; no trial has started."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tunelab.data import DataSplits, check_splits
from tunelab.errors import NotFoundError, TunelabError, cause_of
from tunelab.models import BUILTIN_ARCHITECTURES, Architecture
from tunelab.spec import (
    CategoricalParam,
    ConstantParam,
    FloatParam,
    IntParam,
    LoadedSpec,
    check_compatible,
    ref_path,
    resolve_data,
    resolve_model,
)
from tunelab.training import trainer_of

REFERENCE_PREFIX = "reference:"


@dataclass(frozen=True)
class Prepared:
    arch: Architecture
    data: DataSplits
    options: dict[str, Any]  # the model's options, resolved (weights included)


def prepare(loaded: LoadedSpec, *, tracking_uri: str | None) -> Prepared:
    spec = loaded.spec
    arch = resolve_model(loaded)
    data = load_data(loaded)
    check_compatible(loaded, arch, data.task, data.info.input_kind)
    options = resolve_options(loaded, arch, data, tracking_uri)
    if spec.model.name not in BUILTIN_ARCHITECTURES or "source" in options:
        try_builder(loaded, arch, data, options)  # a plugin, or a source of another shape
    return Prepared(arch=arch, data=data, options=options)


def load_data(loaded: LoadedSpec) -> DataSplits:
    dataset = resolve_data(loaded)
    label = loaded.spec.dataset.label
    try:
        data = dataset.load(**loaded.spec.dataset.options)
    except Exception as exc:
        raise loaded.locate(("dataset",), f"'{label}' failed to load: {cause_of(exc)}") from None
    problem = check_splits(data)
    if problem:
        raise loaded.locate(("dataset",), f"'{label}': the loader's data is unusable: {problem}")
    if loaded.data_sha256 is not None and data.digest() != loaded.data_sha256:
        raise loaded.locate(
            ("dataset",),
            f"'{label}' is not the data the sweep ran on (its SHA-256 differs from the one "
            "recorded): refusing to use it for this sweep",
        )
    return data


def resolve_options(
    loaded: LoadedSpec, arch: Architecture, data: DataSplits, tracking_uri: str | None
) -> dict[str, Any]:
    try:
        return model_options(arch, data, loaded.spec.model.options, tracking_uri)
    except TunelabError as exc:
        raise loaded.locate(("model", "options", "source"), str(exc)) from None


def model_options(
    arch: Architecture, data: DataSplits, given: Mapping[str, Any], tracking_uri: str | None
) -> dict[str, Any]:
    """The model's options with what they name fetched: a `source` (by contract, a model
    reference to start from) becomes its weights; a GAN gets the reference classifier that
    scores it. Raises TunelabError for a source that cannot be fetched."""
    options: dict[str, Any] = {**arch.options, **given}
    if "source" in arch.options:
        options["source"] = load_source(str(options["source"]), tracking_uri)
    if trainer_of(arch.trainer).needs_reference:
        from tunelab.training import reference_state

        options["reference"] = reference_state(data)
    return options


def train_briefly(
    model: str,
    data: DataSplits,
    config: Mapping[str, Any],
    epochs: int,
    *,
    device: Any = None,
    options: Mapping[str, Any] | None = None,
    restore: Mapping[str, Any] | None = None,
) -> list[tuple[dict[str, float], dict[str, Any]]]:
    """Train a registered architecture for a few epochs outside any sweep, as a trial would
    (options resolved the same way), from `restore` (a checkpoint's state) if given; returns
    each epoch's (metrics, checkpoint state)."""
    from tunelab.plugins import resolve_architecture
    from tunelab.training import train

    arch = resolve_architecture(model)
    seen: list[tuple[dict[str, float], dict[str, Any]]] = []
    train(
        {"seed": 0, **config},
        data,
        arch,
        max_epochs=epochs,
        report=lambda epoch, metrics, state: seen.append((metrics, state)),
        device=device,
        options=model_options(arch, data, options or {}, None),
        restore=restore,
    )
    return seen


def load_source(ref: str, tracking_uri: str | None) -> dict[str, Any]:
    if ref.startswith(REFERENCE_PREFIX):
        from tunelab.data import datasets
        from tunelab.training import reference_state

        name = ref.removeprefix(REFERENCE_PREFIX)
        try:
            return reference_state(datasets.get(name).load())
        except (NotFoundError, ValueError) as exc:  # no such dataset, or not a classification
            raise TunelabError(f"{ref}: {exc}") from None
    from tunelab.tracking import load_source as fetch

    return fetch(ref, tracking_uri)


def representative_config(loaded: LoadedSpec, *, middle: bool = False) -> dict[str, Any]:
    """One point of the space to try a builder on: constants, first choices, lower bounds;
    with `middle`, the middle choices and the middles of the ranges (on a log scale for a log
    range), to measure a typical trial on."""
    config: dict[str, Any] = {"seed": loaded.spec.seed}
    for name, param in loaded.spec.space.items():
        if isinstance(param, ConstantParam):
            config[name] = param.value
        elif isinstance(param, CategoricalParam):
            config[name] = param.choices[len(param.choices) // 2 if middle else 0]
        elif isinstance(param, FloatParam | IntParam):
            config[name] = _middle(param) if middle else param.low
    return config


def _middle(param: FloatParam | IntParam) -> float | int:
    low, high = float(param.low), float(param.high)
    value = math.sqrt(low * high) if param.log else (low + high) / 2
    step = getattr(param, "step", None)
    if step:  # on the range's grid
        value = low + step * round((value - low) / step)
    return round(value) if isinstance(param, IntParam) else value


def try_builder(
    loaded: LoadedSpec, arch: Architecture, data: DataSplits, options: dict[str, Any]
) -> None:
    """Build the model once and run two training examples through it."""
    import torch

    from tunelab.training import split_hyperparameters

    _, model_hp = split_hyperparameters(representative_config(loaded), arch, options)
    where = ref_path(loaded, "model", "name")
    try:
        model = arch.build(model_hp, data.info)
    except Exception as exc:
        raise loaded.locate(
            where, f"'{arch.name}' raised while building: {cause_of(exc)}"
        ) from None
    if not isinstance(model, torch.nn.Module):
        raise loaded.locate(
            where, f"'{arch.name}' must return a torch.nn.Module, got {type(model).__name__}"
        )
    try:
        with torch.inference_mode():
            out = model.eval()(torch.as_tensor(data.train.x[:2]))
    except Exception as exc:
        raise loaded.locate(
            where, f"'{arch.name}' fails on inputs shaped {data.info.input_shape}: {cause_of(exc)}"
        ) from None
    want = (2, data.info.n_outputs)
    if not isinstance(out, torch.Tensor) or out.numel() != 2 * want[1] or out.shape[0] != 2:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise loaded.locate(
            where,
            f"'{arch.name}' must output {want} for 2 examples of this {data.task} task, got {got}",
        )
