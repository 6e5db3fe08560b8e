"""Making a report: the target found, each model explained by its family, the page, JSON and
figures written under a folder named by run id, and logged to the explained run."""

from __future__ import annotations

import json
import math
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunelab import tracking
from tunelab.errors import ReportError, TunelabError
from tunelab.reports._attribution import METHODS
from tunelab.reports._family import Explanation, Material
from tunelab.reports._target import Subject
from tunelab.tracking.tags import COMPARISON_ARTIFACT, REPORT_ARTIFACT, TAG_REPORT_SANITY

DEFAULT_EXAMPLES = 256
DEFAULT_OUT = "tunelab_reports"
# Output folders are named after run ids: nothing else ever becomes part of a path.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Written:
    run_id: str
    label: str
    folder: Path
    sanity_passed: bool
    flags: list[str]
    seconds: float
    logged: bool


@dataclass(frozen=True)
class ReportOutcome:
    reports: list[Written]
    comparison: Path | None


def make_report(
    target: str,
    *,
    top: int | None = None,
    methods: Sequence[str] | None = None,
    examples: int = DEFAULT_EXAMPLES,
    out: str | Path = DEFAULT_OUT,
    tracking_uri: str | None = None,
    device: str = "auto",
    log: bool = True,
    progress: Callable[[str], None] = lambda _: None,
    trust_code: bool = False,
) -> ReportOutcome:
    """Explain a trained model with Captum and write its report (HTML, JSON, PNG) under `out`,
    logged to the model's run unless `log` is false. `target`: a trial's run id, a sweep's name
    (its best trial; its `top` best, compared), or `models:/NAME@ALIAS`. Raises ReportError (a
    TunelabError) for anything that cannot be explained. Code the stored spec names by import
    path is imported only with `trust_code` (see `plugins.stored_code`)."""
    from tunelab.plugins import stored_code

    with stored_code(refused=not trust_code):
        return _make_report(
            target,
            top=top,
            methods=methods,
            examples=examples,
            out=out,
            tracking_uri=tracking_uri,
            device=device,
            log=log,
            progress=progress,
        )


def _make_report(
    target: str,
    *,
    top: int | None,
    methods: Sequence[str] | None,
    examples: int,
    out: str | Path,
    tracking_uri: str | None,
    device: str,
    log: bool,
    progress: Callable[[str], None],
) -> ReportOutcome:
    from tunelab.reports._target import resolve

    check_arguments(top=top, methods=methods, examples=examples, device=device)
    out_root = Path(out).resolve()
    client = tracking.client(tracking_uri)
    with tempfile.TemporaryDirectory(prefix="tunelab-report-") as scratch:
        resolved = resolve(target, top=top, client=client, into=Path(scratch))
        on = _device(device)
        loaded_data: dict[tuple[str, str], Any] = {}  # the K best of a sweep share one data set
        materials = [_material(subject, on, loaded_data) for subject in resolved.subjects]
        for subject, material in zip(resolved.subjects, materials, strict=True):
            _check_methods(methods, material, subject)
        written, globals_ = [], []
        for subject, material in zip(resolved.subjects, materials, strict=True):
            progress(f"explaining {subject.label} ({material.family})")
            explanation = _explain(material, methods, examples)
            folder = write_report(out_root, subject, material, explanation, examples)
            logged = False
            if log:
                verdict = "passed" if explanation.sanity_passed else "failed"
                tracking.log_folder(
                    client, subject.run_id, folder, REPORT_ARTIFACT, {TAG_REPORT_SANITY: verdict}
                )
                logged = True
            written.append(
                Written(
                    run_id=subject.run_id,
                    label=subject.label,
                    folder=folder,
                    sanity_passed=explanation.sanity_passed,
                    flags=explanation.flags,
                    seconds=explanation.seconds,
                    logged=logged,
                )
            )
            globals_.append(explanation.global_attribution)
    comparison = None
    if len(written) > 1 and resolved.parent_run_id is not None:
        comparison = write_comparison(
            out_root, resolved.parent_run_id, resolved.sweep, written, globals_
        )
        if log:
            tracking.log_folder(client, resolved.parent_run_id, comparison, COMPARISON_ARTIFACT)
    return ReportOutcome(written, comparison)


def check_arguments(
    *, top: int | None, methods: Sequence[str] | None, examples: int, device: str
) -> None:
    if top is not None and not 1 <= top <= 10:
        raise ReportError(f"--top must be between 1 and 10, got {top}")
    if examples < 2:
        raise ReportError(f"--examples must be at least 2, got {examples}")
    if device not in ("auto", "cpu", "cuda"):
        raise ReportError(f"--device must be auto, cpu or cuda, got {device!r}")
    for method in methods or ():
        if method not in METHODS:
            raise ReportError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")


def _device(name: str) -> Any:
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise ReportError("--device cuda: no CUDA device here")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def _material(subject: Subject, device: Any, loaded_data: dict[tuple[str, str], Any]) -> Material:
    from tunelab.reports._family import material_from_state
    from tunelab.sweeps import load_data
    from tunelab.training import load_checkpoint

    try:
        state = load_checkpoint(subject.checkpoint)
    except Exception as exc:
        raise ReportError(f"{subject.label}: the model's checkpoint is unreadable: {exc}") from None
    key = (subject.spec.source, subject.spec.text)
    if key not in loaded_data:
        loaded_data[key] = load_data(subject.spec)
    data = loaded_data[key]
    try:
        material = material_from_state(state, data, subject.spec.spec.dataset.name or "")
    except (TunelabError, KeyError, ValueError) as exc:
        # A model whose architecture cannot be found or imported (a plugin not installed here)
        # is a TunelabError too: one line, naming the model.
        raise ReportError(f"{subject.label}: {exc}") from None
    material.model.to(device)
    return material


def _check_methods(methods: Sequence[str] | None, material: Material, subject: Subject) -> None:
    from tunelab.reports._family import has_convolution

    if methods and "grad_cam" in methods and not has_convolution(material):
        raise ReportError(
            f"{subject.label}: grad_cam needs a convolutional layer and this "
            f"{material.state['architecture']} model has none"
        )


def _explain(material: Material, methods: Sequence[str] | None, examples: int) -> Explanation:
    from tunelab.reports._family import default_methods, explain

    return explain(material, list(methods or default_methods(material)), examples)


def safe_child(root: Path, name: str) -> Path:
    """ROOT/NAME for a NAME that is a run id: anything else, or a path that would resolve
    outside ROOT, is refused."""
    if not _SAFE_NAME.match(name):
        raise ReportError(f"refusing to name an output folder {name!r}: not a run id")
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise ReportError(f"refusing to write outside {root}")
    return path


def write_report(
    out_root: Path, subject: Subject, material: Material, explanation: Explanation, examples: int
) -> Path:
    from tunelab.reports._render import page

    folder = safe_child(out_root, subject.run_id)
    folder.mkdir(parents=True, exist_ok=True)
    n_examples = min(examples, len(material.data.val))
    facts = [
        ("model", subject.label),
        ("run id", subject.run_id),
        ("family", f"{material.family} ({material.state['architecture']})"),
        ("dataset", material.dataset),
        ("examples", f"{n_examples} validation examples"),
        ("device", str(next(material.model.parameters()).device)),
        ("sanity checks", "passed" if explanation.sanity_passed else "FAILED: see Faithfulness"),
        ("time", f"{explanation.seconds:.1f} s"),
    ]
    (folder / "report.html").write_text(
        page(f"tunelab report: {subject.label}", facts, explanation.sections), encoding="utf-8"
    )
    summary = {
        "run_id": subject.run_id,
        "label": subject.label,
        "family": material.family,
        "architecture": material.state["architecture"],
        "dataset": material.dataset,
        "examples": n_examples,
        "sanity_passed": explanation.sanity_passed,
        "flags": explanation.flags,
        "seconds": round(explanation.seconds, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **explanation.summary,
    }
    _write_json(folder / "report.json", summary)
    for section in explanation.sections:
        for figure in section.figures:
            (folder / f"{figure.key}.png").write_bytes(figure.png)
    return folder


def write_comparison(
    out_root: Path,
    parent_run_id: str,
    sweep: str | None,
    written: Sequence[Written],
    globals_: Sequence[Any],
) -> Path:
    from tunelab.reports._compare import compare
    from tunelab.reports._render import page

    folder = safe_child(out_root, f"compare-{parent_run_id}")
    folder.mkdir(parents=True, exist_ok=True)
    labels = [w.label.split(" of sweep ")[0] for w in written]
    section = compare(labels, globals_)
    section.numbers["run_ids"] = [w.run_id for w in written]
    facts = [
        ("sweep", sweep or ""),
        ("parent run id", parent_run_id),
        ("trials", str(len(written))),
    ]
    (folder / "comparison.html").write_text(
        page(f"tunelab: the {len(written)} best trials of {sweep}", facts, [section]),
        encoding="utf-8",
    )
    _write_json(folder / "comparison.json", section.numbers)
    for figure in section.figures:
        (folder / f"{figure.key}.png").write_bytes(figure.png)
    return folder


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(_finite(value), indent=1, sort_keys=True), encoding="utf-8")


def _finite(value: Any) -> Any:
    """JSON has no NaN: an undefined number (a constant attribution's correlation) is null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
