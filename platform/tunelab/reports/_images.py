"""Images (an MLP or a CNN on digits): mean maps by method, per-class average maps, and the most
and least confident examples with their maps."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor

from tunelab.data import DataInfo
from tunelab.reports._faithfulness import Supervised, maps_of, rounded, show, supervised_family
from tunelab.reports._family import Material, register
from tunelab.reports._render import Figure, Section, image_grid

CONFIDENT_SHOWN = 4  # most and least confident examples shown with their maps
MAX_CLASS_MAPS = 20


def image_sections(frame: Supervised) -> list[Section]:
    if frame.x.dim() != 4:
        return []
    import torch

    probs = torch.softmax(frame.out, 1).cpu() if frame.classification else None
    return [images_section(frame.material, frame.x.cpu(), frame.y, frame.attributions, probs)]


def images_section(
    m: Material,
    x: Tensor,
    y: np.ndarray,
    attributions: dict[str, Tensor],
    probs: Tensor | None,
) -> Section:
    section = Section("Images: what the model looks at", "images")
    names = m.data.class_names or tuple(str(c) for c in range(m.data.n_classes))
    maps = {method: maps_of(attr) for method, attr in attributions.items()}
    section.figures.append(
        Figure(
            "mean_maps",
            "Mean |attribution| per pixel, by method",
            image_grid([np.abs(v).mean(0) for v in maps.values()], list(maps), columns=len(maps)),
        )
    )
    classes = sorted(set(y.tolist()))[:MAX_CLASS_MAPS]
    per_class: dict[str, dict[str, Any]] = {}
    for method, values in maps.items():
        class_maps = [values[y == c].mean(0) for c in classes]
        per_class[method] = {
            names[c]: rounded(cm, 5) for c, cm in zip(classes, class_maps, strict=True)
        }
        section.figures.append(
            Figure(
                f"class_maps_{method}",
                f"Average {method} attribution per class",
                image_grid(
                    class_maps,
                    [names[c] for c in classes],
                    columns=min(10, len(classes)),
                    signed=method != "saliency",
                ),
                "Red supports the predicted class, blue speaks against it.",
            )
        )
    section.numbers["per_class_maps"] = per_class
    if probs is not None:
        confidence = probs.max(1).values.numpy()
        order = np.argsort(-confidence)
        most, least = order[:CONFIDENT_SHOWN], order[::-1][:CONFIDENT_SHOWN]
        predicted = probs.argmax(1).numpy()
        for key, title, picked in (
            ("most_confident", "Most confident examples", most),
            ("least_confident", "Least confident examples", least),
        ):
            section.numbers[key] = [
                {
                    "index": int(i),
                    "confidence": float(confidence[i]),
                    "label": names[int(y[i])],
                    "predicted": names[int(predicted[i])],
                }
                for i in picked
            ]
            images, titles = [], []
            for i in picked:
                images.append(show(x[i].numpy()))
                titles.append(f"{names[int(predicted[i])]} ({confidence[i]:.2f})")
                for method, values in maps.items():
                    images.append(values[i])
                    titles.append(method.replace("_", " "))
            section.figures.append(
                Figure(
                    key,
                    title,
                    image_grid(images, titles, columns=1 + len(maps), cmap="gray"),
                    "Each row: the input (predicted class, confidence), then its maps.",
                )
            )
    return section


def _matches(state: dict[str, Any], info: DataInfo) -> bool:
    return info.input_kind == "image"


register(
    supervised_family(
        "images",
        ("integrated_gradients", "saliency", "occlusion", "grad_cam"),
        _matches,
        image_sections,
    )
)
