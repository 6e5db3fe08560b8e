"""Transfer learning: the report of the source's input kind, and the conductance of each block
of layers, frozen or fine-tuned."""

from __future__ import annotations

from typing import Any

from tunelab.data import DataInfo
from tunelab.reports import _attribution as A
from tunelab.reports._faithfulness import Supervised, supervised_family
from tunelab.reports._family import Material, register
from tunelab.reports._images import image_sections
from tunelab.reports._render import Figure, Section, Table, bars
from tunelab.reports._sequences import sequence_sections
from tunelab.reports._tabular import tabular_sections
from tunelab.training import generates


def transfer_sections(frame: Supervised) -> list[Section]:
    """The input kind's section (images, a table, sequences), then conductance per block."""
    by_dims = {4: image_sections, 2: tabular_sections, 3: sequence_sections}
    inputs = by_dims.get(frame.x.dim())
    return [
        *(inputs(frame) if inputs else []),
        conductance_section(frame.material, frame.explainer),
    ]


def conductance_section(m: Material, ex: A.Explainer) -> Section:
    from tunelab.models import layer_groups

    section = Section("Transfer: conductance of frozen and fine-tuned blocks", "transfer")
    net = getattr(ex.forward, "net", ex.forward)
    frozen = {id(module) for module in getattr(ex.forward, "_frozen", [])}
    blocks: list[dict[str, Any]] = []
    for index, group in enumerate(layer_groups(net)):
        layer = group[0]
        cond = A.layer_conductance(ex, layer)
        total = cond.abs().sum(1)
        sorted_units = cond.abs().mean(0).sort(descending=True).values
        top = max(1, len(sorted_units) // 10)
        blocks.append(
            {
                "block": index + 1,
                "layer": type(layer).__name__,
                "units": int(cond.shape[1]),
                "frozen": id(layer) in frozen,
                "mean_total_abs_conductance": total.mean().item(),
                "mean_total_conductance": cond.sum(1).mean().item(),
                "top10pct_units_share": (
                    sorted_units[:top].sum() / sorted_units.sum().clamp_min(1e-12)
                ).item(),
            }
        )
    section.numbers["blocks"] = blocks
    names = [
        f"{b['block']} {b['layer']} ({'frozen' if b['frozen'] else 'fine-tuned'})" for b in blocks
    ]
    section.figures.append(
        Figure(
            "conductance",
            "Mean total |conductance| per block",
            bars(
                names,
                {"|conductance|": [b["mean_total_abs_conductance"] for b in blocks]},
                xlabel="scaled to the largest block",
                colors=["#7f7f7f" if b["frozen"] else "#1f77b4" for b in blocks],
            ),
            "Grey: frozen blocks kept from the source model; blue: fine-tuned.",
        )
    )
    section.tables.append(
        Table(
            "Blocks",
            [
                "block",
                "layer",
                "units",
                "frozen",
                "mean Σ|cond.|",
                "mean Σcond.",
                "top-10% units share",
            ],
            [
                [
                    b["block"],
                    b["layer"],
                    b["units"],
                    "yes" if b["frozen"] else "no",
                    b["mean_total_abs_conductance"],
                    b["mean_total_conductance"],
                    b["top10pct_units_share"],
                ]
                for b in blocks
            ],
        )
    )
    section.notes.append(
        "Conductance of a layer's units sums, per example, to the output change from the "
        "baseline (the training mean; completeness), so Σcond. is about the same in every block; Σ|cond.| and the "
        "share of the top tenth of units show how spread out each block's contribution is."
    )
    return section


def _matches(state: dict[str, Any], info: DataInfo) -> bool:
    return state.get("architecture") == "transfer" and not generates(state.get("trainer"))


register(
    supervised_family(
        "transfer",
        ("integrated_gradients", "saliency", "occlusion", "grad_cam"),
        _matches,
        transfer_sections,
        priority=10,
    )
)
