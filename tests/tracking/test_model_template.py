"""The model folder a sweep prepares at its start (every kept model is a copy of it with a
trial's weights): saved without MLflow's scan of the installed packages, its requirements are
the installed versions, pinned, and MLflow's own check is back in place afterwards."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
from mlflow.utils import environment

from tunelab.tracking._artifacts import ModelTemplate
from tunelab.version import __version__


def test_the_prepared_model_pins_the_installed_versions(tmp_path: Path) -> None:
    check = environment.warn_dependency_requirement_mismatches
    data = SimpleNamespace(input_shape=(8,), n_outputs=3)
    template = ModelTemplate(data, example=np.zeros((2, 8)), folder=tmp_path)  # type: ignore[arg-type]
    template.prepare()

    assert template.ready
    requirements = (template.path / "requirements.txt").read_text().split()
    assert requirements == [
        f"torch=={version('torch').split('+')[0]}",  # MLflow drops the local label
        f"mlflow=={mlflow.__version__}",
        f"numpy=={np.__version__}",
        f"tunelab=={__version__}",
    ]
    model = mlflow.models.Model.load(template.path)
    assert model.signature is not None
    assert model.signature.inputs.to_dict()[0]["tensor-spec"]["shape"] == (-1, 8)
    assert environment.warn_dependency_requirement_mismatches is check
