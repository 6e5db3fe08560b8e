"""The report's figures (PNG, drawn with matplotlib's Agg backend) and its one self-contained
HTML page: figures embedded as data URIs, no script, no network."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Figure:
    key: str  # the PNG's file stem: a fixed name, never text from the user or the run
    title: str
    png: bytes
    caption: str = ""


@dataclass(frozen=True)
class Table:
    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[Any]]


@dataclass
class Section:
    title: str
    key: str  # the section's key in the JSON summary
    numbers: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # failed checks, shown first and in red


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    _pyplot().close(fig)
    return buffer.getvalue()


def image_grid(
    images: Sequence[np.ndarray],
    titles: Sequence[str],
    *,
    columns: int,
    cmap: str = "viridis",
    signed: bool = False,
) -> bytes:
    """Small 2-d maps in a grid, drawn as one mosaic (one axes, however many maps: subplots
    cost tens of milliseconds each). Each map is scaled to its own range, or, when `signed`,
    all share one colour scale centred on zero."""
    plt = _pyplot()
    from matplotlib import colormaps

    rows = max(1, math.ceil(len(images) / columns))
    height = max(im.shape[0] for im in images)
    width = max(im.shape[1] for im in images)
    pad = max(1, height // 8)
    cell_h, cell_w = height + pad, width + pad
    mosaic = np.ones((rows * cell_h, columns * cell_w, 4))
    limit = max((float(np.abs(im).max()) for im in images), default=1.0) or 1.0
    for index, image in enumerate(images):
        if image.ndim == 3:  # already RGB in [0, 1]
            rgba = np.concatenate([image, np.ones((*image.shape[:2], 1))], axis=2)
        elif signed:
            rgba = colormaps["RdBu_r"]((image / limit + 1) / 2)
        else:
            lo, hi = float(image.min()), float(image.max())
            rgba = colormaps[cmap]((image - lo) / (hi - lo) if hi > lo else np.zeros_like(image))
        r, c = divmod(index, columns)
        top, left = r * cell_h, c * cell_w
        mosaic[top : top + image.shape[0], left : left + image.shape[1]] = rgba
    scale = 1.6 / cell_w * 8 if cell_w < 32 else 1.6 / cell_w * 32
    fig, ax = plt.subplots(
        figsize=(columns * cell_w * scale / 8 + 0.2, rows * cell_h * scale / 8 + 0.4)
    )
    ax.imshow(mosaic, interpolation="nearest")
    ax.axis("off")
    for index, title in enumerate(titles[: len(images)]):
        if title:
            r, c = divmod(index, columns)
            ax.text(
                c * cell_w + width / 2,
                r * cell_h - 0.3,
                title,
                ha="center",
                va="bottom",
                fontsize=7,
            )
    return _png(fig)


def bars(
    names: Sequence[str],
    series: Mapping[str, Any],
    *,
    xlabel: str,
    colors: Sequence[str] | None = None,
) -> bytes:
    """Horizontal bars, one group per name, one bar per series (each scaled to its maximum)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 0.32 * len(names) * max(1, len(series)) + 1.2))
    height = 0.8 / max(1, len(series))
    positions = np.arange(len(names))
    for i, (label, values) in enumerate(series.items()):
        v = np.asarray(values, dtype=float)
        top = np.nanmax(np.abs(v)) if v.size and np.nanmax(np.abs(v)) > 0 else 1.0
        kwargs = {"color": colors} if colors is not None and len(series) == 1 else {}
        ax.barh(positions + i * height, v / top, height=height, label=label, **kwargs)
    ax.set_yticks(positions + height * (len(series) - 1) / 2)
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return _png(fig)


def heatmap(
    matrix: np.ndarray,
    *,
    xlabel: str,
    ylabel: str,
    xticks: Sequence[str] | None = None,
    yticks: Sequence[str] | None = None,
    annotate: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
) -> bytes:
    plt = _pyplot()
    rows, cols = matrix.shape
    fig, ax = plt.subplots(figsize=(min(10.0, 1.0 + 0.45 * cols), min(8.0, 1.0 + 0.4 * rows)))
    im = ax.imshow(matrix, aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax)
    fig.colorbar(im, ax=ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if xticks is not None:
        ax.set_xticks(range(cols))
        ax.set_xticklabels(xticks, fontsize=7, rotation=90)
    if yticks is not None:
        ax.set_yticks(range(rows))
        ax.set_yticklabels(yticks, fontsize=7)
    if annotate:
        for i in range(rows):
            for j in range(cols):
                ax.text(
                    j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7, color="w"
                )
    return _png(fig)


def profile(
    steps: np.ndarray, series: Mapping[str, np.ndarray], *, xlabel: str, ylabel: str
) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 2.6))
    for label, values in series.items():
        ax.plot(steps, values, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return _png(fig)


# ---- the page ---------------------------------------------------------------------------------

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; border-bottom: 1px solid #ddd; margin-top: 2rem; }
table { border-collapse: collapse; margin: .6rem 0; } td, th { border: 1px solid #ddd; padding: 3px 8px; }
th { background: #f4f4f4; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.flag { color: #b00020; font-weight: 600; } .ok { color: #1b7f3b; } figure { margin: 1rem 0; }
figcaption { font-size: 12px; color: #555; } img { max-width: 100%; }
"""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:.4g}</td>'
    if isinstance(value, bool):
        return f'<td class="{"ok" if value else "flag"}">{"pass" if value else "FAIL"}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def page(title: str, facts: Sequence[tuple[str, str]], sections: Sequence[Section]) -> str:
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<table>",
        *(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts),
        "</table>",
    ]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts += [f'<p class="flag">{html.escape(flag)}</p>' for flag in section.flags]
        parts += [f"<p>{html.escape(note)}</p>" for note in section.notes]
        for table in section.tables:
            parts.append(f"<h3>{html.escape(table.title)}</h3><table><tr>")
            parts += [f"<th>{html.escape(str(h))}</th>" for h in table.header]
            parts.append("</tr>")
            for row in table.rows:
                parts.append("<tr>" + "".join(_cell(v) for v in row) + "</tr>")
            parts.append("</table>")
        for figure in section.figures:
            data = base64.b64encode(figure.png).decode("ascii")
            parts.append(
                f'<figure><img alt="{html.escape(figure.title)}" '
                f'src="data:image/png;base64,{data}">'
                f"<figcaption><b>{html.escape(figure.title)}</b> {html.escape(figure.caption)}"
                "</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts)
