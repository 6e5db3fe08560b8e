"""End-of-sweep records on the parent run, and the best trial's model."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.tracking._mapping import (
    TAG_BEST_CONFIG,
    TAG_BEST_RUN_ID,
    TAG_BEST_TRIAL,
    TAG_BUDGET_REACHED,
    Outcome,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from tunelab.data import DataInfo

MODEL_ARTIFACT = "model"
TOP_TRIALS = 10  # listed in sweep_summary.json, with their models logged
SPEC_ARTIFACT = "spec.yaml"


def parent_summary_writer(
    *,
    parent_run_id: str,
    spec_text: str,
    metric: str,
    counts: Mapping[str, int],
    best: Mapping[str, Any] | None,
    top: Sequence[Mapping[str, Any]],
    wall_s: float,
    pareto_front: Sequence[Mapping[str, Any]] | None = None,
    usage: Mapping[str, float],
    budget_reached: str | None = None,
) -> Any:
    """A writer call that records the sweep's outcome on the parent run."""

    def write(client: MlflowClient, _run_ids: Mapping[str, str]) -> None:
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        metrics = [Metric(f"trials_{o}", float(counts.get(o, 0)), now, 0) for o in Outcome]
        metrics.append(Metric("wall_s", wall_s, now, 0))
        metrics += [Metric(name, float(value), now, 0) for name, value in usage.items()]
        tags: list[RunTag] = []
        if budget_reached is not None:
            tags.append(RunTag(TAG_BUDGET_REACHED, budget_reached))
        if best is not None:
            metrics.append(Metric(f"best_{metric}", float(best["metric"]), now, 0))
            tags += [
                RunTag(TAG_BEST_RUN_ID, best["run_id"] or ""),
                RunTag(TAG_BEST_TRIAL, best["trial"]),
                RunTag(TAG_BEST_CONFIG, json.dumps(best["config"], sort_keys=True)[:5000]),
            ]
            client.log_dict(parent_run_id, best["config"], "best_config.json")
        client.log_batch(parent_run_id, metrics=metrics, tags=tags)
        client.log_text(parent_run_id, spec_text, SPEC_ARTIFACT)
        summary = {
            "metric": metric,
            "trials": {o.value: counts.get(o, 0) for o in Outcome},
            "best": dict(best) if best is not None else None,
            "top": [dict(t) for t in top],
            **(
                {"pareto_front": [dict(t) for t in pareto_front]}
                if pareto_front is not None
                else {}
            ),
            "wall_s": wall_s,
            **{name: round(value, 6) for name, value in usage.items()},
            "budget_reached": budget_reached,
        }
        client.log_dict(parent_run_id, summary, "sweep_summary.json")

    return write


class ModelTemplate:
    """The best trial's MLflow model, prepared while the sweep runs.

    Saving an MLflow model costs about a second (MLflow checks the requirements against the
    installed packages), none of it specific to the trial. `prepare` saves the model once, with a
    placeholder in place of the weights, at the start of the sweep; `logger` then copies the best
    checkpoint in and uploads the folder. The checkpoint file is copied as it is (the model loads
    it with `weights_only=True`), so the driver never imports torch, and the upload goes through
    the client, not MLflow's fluent API, which would reopen the run and set the process-wide
    tracking URI."""

    def __init__(self, data: DataInfo, trainer: str = "supervised", example: Any = None) -> None:
        """`example`: a few inputs, saved as the model's input example (the first validation
        examples; a GAN, whose inputs are latent vectors of a size each trial picks, has none)."""
        self.data, self.trainer, self.example = data, trainer, example
        self._folder = tempfile.TemporaryDirectory(prefix="tunelab-model-")
        self.path = Path(self._folder.name) / MODEL_ARTIFACT
        self.ready = False

    def prepare(
        self, _client: MlflowClient | None = None, _run_ids: Mapping[str, str] | None = None
    ) -> None:
        import mlflow
        import numpy as np
        from mlflow.models import ModelSignature
        from mlflow.types import Schema, TensorSpec

        import tunelab
        from tunelab.tracking import _pyfunc_model
        from tunelab.training._checkpoint import CHECKPOINT_FILE

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        example: tuple[int, ...] = (-1, *self.data.input_shape)
        shapes: tuple[tuple[int, ...], tuple[int, ...]]
        if self.trainer == "gan":  # latent vectors in, generated examples out
            shapes = (-1, -1), example
        else:
            shapes = example, (-1, self.data.n_outputs)
        signature = ModelSignature(
            inputs=Schema([TensorSpec(np.dtype(np.float32), shapes[0])]),
            outputs=Schema([TensorSpec(np.dtype(np.float32), shapes[1])]),
        )
        placeholder = Path(self._folder.name) / CHECKPOINT_FILE
        placeholder.write_bytes(b"")
        with warnings.catch_warnings():
            # MLflow suggests type hints on predict(); the signature above is the schema.
            warnings.simplefilter("ignore", UserWarning)
            mlflow.pyfunc.save_model(
                self.path,
                python_model=_pyfunc_model.__file__,
                artifacts={"checkpoint": str(placeholder)},
                signature=signature,
                input_example=None
                if self.example is None
                else np.asarray(self.example, np.float32),
                # Given explicitly: inferring them would load the model in a subprocess.
                pip_requirements=[
                    f"torch=={_version('torch')}",
                    f"mlflow=={mlflow.__version__}",
                    f"numpy=={np.__version__}",
                    f"tunelab=={tunelab.__version__}",
                ],
            )
        self.ready = True

    def logger(self, *, run_key: str, checkpoint_path: str | Path) -> Any:
        """A writer call that logs the model, with this checkpoint's weights, in the trial's run."""

        def write(client: MlflowClient, run_ids: Mapping[str, str]) -> None:
            from tunelab.training._checkpoint import CHECKPOINT_FILE

            if not self.ready:
                self.prepare()
            source = Path(checkpoint_path)
            if source.is_dir():
                source = source / CHECKPOINT_FILE
            weights = [p for p in self.path.rglob(CHECKPOINT_FILE)]
            if len(weights) != 1:
                raise RuntimeError(
                    f"expected one {CHECKPOINT_FILE} in the model folder, found {len(weights)}"
                )
            shutil.copyfile(source, weights[0])
            client.log_artifacts(run_ids[run_key], str(self.path), MODEL_ARTIFACT)

        return write

    def cleanup(self) -> None:
        self._folder.cleanup()


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package).split("+")[0]
