"""The sweep's analysis, drawn with Optuna's visualization on the sweep's own study: each view as
an HTML page that opens with no network (plotly, its script inlined) and as a PNG (Optuna's
matplotlib backend). The sweep logs the folder on its parent run under `views/`."""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from pathlib import Path
from typing import Any

from tunelab.errors import first_line_of

NOT_DRAWN = "not_drawn.txt"
# name -> (Optuna plotting function name, needs at least this many finished trials)
VIEWS: dict[str, tuple[str, int]] = {
    "optimization_history": ("plot_optimization_history", 1),
    "param_importances": ("plot_param_importances", 2),
    "parallel_coordinate": ("plot_parallel_coordinate", 1),
    "slice": ("plot_slice", 1),
}
PARETO_VIEW = ("pareto_front", ("plot_pareto_front", 1))


def draw_views(study: Any, folder: Path, *, target_name: str) -> dict[str, str]:
    """Write every view this study supports to `folder`; returns {view: why not} for the views
    it could not draw (too few finished trials, a single value per parameter, ...)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a driver or in CI
    import matplotlib.pyplot as plt
    import optuna.visualization as interactive
    import optuna.visualization.matplotlib as static
    from optuna.trial import TrialState

    finished = [t for t in study.trials if t.state == TrialState.COMPLETE]
    views = dict(VIEWS)
    multi = len(study.directions) > 1
    if multi:
        views = {
            "pareto_front": PARETO_VIEW[1],
            "parallel_coordinate": VIEWS["parallel_coordinate"],
        }
    skipped: dict[str, str] = {}
    for name, (function, needed) in views.items():
        if len(finished) < needed:
            skipped[name] = f"needs {needed} finished trials, the study has {len(finished)}"
            continue
        kwargs: dict[str, Any] = {} if multi else {"target_name": target_name}
        if name == "pareto_front":
            kwargs = {"target_names": target_name.split(",")}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib backend experimental
                figure = getattr(interactive, function)(study, **kwargs)
                figure.write_html(folder / f"{name}.html", include_plotlyjs=True, full_html=True)
                axes = getattr(static, function)(study, **kwargs)
                image = _figure_of(axes)
                image.savefig(folder / f"{name}.png", dpi=110, bbox_inches="tight")
                plt.close(image)
        except (ValueError, RuntimeError) as exc:  # e.g. importances of a constant parameter
            skipped[name] = first_line_of(exc)
            for suffix in (".html", ".png"):
                (folder / f"{name}{suffix}").unlink(missing_ok=True)
    return skipped


def _figure_of(axes: Any) -> Any:
    first = axes.flat[0] if hasattr(axes, "flat") else axes
    return first.get_figure()


def draw_views_into(folder: Path, study: Any, *, target_name: str) -> None:
    """Every view the study supports, and `not_drawn.txt` naming the others with the reason."""
    skipped = draw_views(study, folder, target_name=target_name)
    if skipped:
        lines = [f"{view}: {why}" for view, why in sorted(skipped.items())]
        (folder / NOT_DRAWN).write_text("\n".join(lines) + "\n")


def prewarm_views() -> None:
    """Draw every view once on a small throwaway study, so that the imports and first-use set-up
    of plotly and matplotlib (most of the cost of the first drawing) happen while the trials
    run, on the writer's low-priority thread, not after the last trial."""
    import optuna

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(
        lambda trial: trial.suggest_float("x", 0.0, 1.0) + trial.suggest_int("y", 0, 2),
        n_trials=3,
    )
    # Only a warm-up: errors are the real drawing's to report.
    with (
        tempfile.TemporaryDirectory(prefix="tunelab-views-") as folder,
        contextlib.suppress(Exception),
    ):
        draw_views(study, Path(folder), target_name="value")
