"""End-of-sweep records on the parent run, and the best trial's model."""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.tracking._mapping import (
    TAG_BEST_CONFIG,
    TAG_BEST_RUN_ID,
    TAG_BEST_TRIAL,
    Outcome,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

MODEL_ARTIFACT = "model"
SPEC_ARTIFACT = "spec.yaml"


def parent_summary_writer(
    *,
    parent_run_id: str,
    spec_text: str,
    metric: str,
    counts: Mapping[Outcome, int],
    best: Mapping[str, Any] | None,
    wall_s: float,
) -> Any:
    """A writer call that records the sweep's outcome on the parent run."""

    def write(client: MlflowClient, _run_ids: Mapping[str, str]) -> None:
        from mlflow.entities import Metric, RunTag

        now = int(__import__("time").time() * 1000)
        metrics = [Metric(f"trials_{o.value}", float(counts.get(o, 0)), now, 0) for o in Outcome]
        metrics.append(Metric("wall_s", wall_s, now, 0))
        tags: list[RunTag] = []
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
            "wall_s": wall_s,
        }
        client.log_dict(parent_run_id, summary, "sweep_summary.json")

    return write


def model_logger(*, run_key: str, checkpoint_path: str | Path) -> Any:
    """A writer call that stores a trial's checkpoint as an MLflow pyfunc model in the trial's run.

    The model is saved to a temporary folder and uploaded with the client, not through MLflow's
    fluent API, which would reopen the run and set the process-wide tracking URI."""

    def write(client: MlflowClient, run_ids: Mapping[str, str]) -> None:
        import mlflow
        import numpy as np
        import torch
        from mlflow.models import infer_signature

        import tunelab
        from tunelab.tracking import _pyfunc_model
        from tunelab.tracking._torch_model import build_from_state, export_model_state
        from tunelab.training._checkpoint import load_checkpoint

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        state = load_checkpoint(checkpoint_path)
        model, info = build_from_state(state)
        example = np.zeros((2, *info.input_shape), dtype=np.float32)
        with torch.inference_mode():
            output = torch.softmax(model(torch.from_numpy(example)), dim=1).numpy()
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            # MLflow suggests type hints on predict(); the signature below is the schema.
            warnings.simplefilter("ignore", UserWarning)
            exported = export_model_state(state, Path(tmp) / "weights")
            saved = Path(tmp) / MODEL_ARTIFACT
            mlflow.pyfunc.save_model(
                saved,
                python_model=_pyfunc_model.__file__,
                artifacts={"checkpoint": str(exported)},
                signature=infer_signature(example, output),
                input_example=example,
                # Given explicitly: inferring them would load the model in a subprocess.
                pip_requirements=[
                    f"torch=={str(torch.__version__).split('+')[0]}",
                    f"mlflow=={mlflow.__version__}",
                    f"numpy=={np.__version__}",
                    f"tunelab=={tunelab.__version__}",
                ],
            )
            client.log_artifacts(run_ids[run_key], str(saved), MODEL_ARTIFACT)

    return write
