"""Artifacts the sweep logs: a trial's model (an MLflow pyfunc model that loads without
unpickling code), and any folder drawn by a function (the sweep's views)."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab import env

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from tunelab.data import DataInfo

MODEL_ARTIFACT = "model"
WriterCall = Callable[["MlflowClient", Mapping[str, str]], None]


def folder_writer(run_id: str, under: str, fill: Callable[[Path], None], prefix: str) -> WriterCall:
    """A writer call that fills a fresh folder with `fill(folder)` and logs its files on the run
    under `under`."""

    def write(client: MlflowClient, _run_ids: Mapping[str, str]) -> None:
        with tempfile.TemporaryDirectory(prefix=prefix) as folder:
            fill(Path(folder))
            client.log_artifacts(run_id, folder, under)

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

    def prepare(self) -> None:
        import mlflow
        import numpy as np
        from mlflow.models import ModelSignature
        from mlflow.types import Schema, TensorSpec

        from tunelab.tracking import _pyfunc_model
        from tunelab.training import CHECKPOINT_FILE
        from tunelab.version import __version__

        env.apply_library_defaults("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
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
                    f"tunelab=={__version__}",
                ],
            )
        self.ready = True

    def logger(self, *, run_key: str, checkpoint_path: str | Path) -> Any:
        """A writer call that logs the model, with this checkpoint's weights, in the trial's run."""

        def write(client: MlflowClient, run_ids: Mapping[str, str]) -> None:
            from tunelab.training import CHECKPOINT_FILE

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
