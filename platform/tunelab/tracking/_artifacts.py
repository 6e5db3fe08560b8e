"""Artifacts the sweep logs: a trial's model (an MLflow pyfunc model that loads without
unpickling code), and any folder drawn by a function (the sweep's views)."""

from __future__ import annotations

import functools
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab import env
from tunelab.tracking._durable import Durable, kind
from tunelab.tracking._integrity import folder_digest
from tunelab.tracking.tags import MODEL_ARTIFACT, TAG_MODEL_SHA256

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from tunelab.data import DataInfo

WriterCall = Callable[["MlflowClient", Mapping[str, str]], None]


def folder_writer(
    run_id: str, under: str, fill: Callable[[Path], None], prefix: str, keep_in: Path | None = None
) -> WriterCall:
    """A writer call that fills a fresh folder with `fill(folder)` and logs its files on the run
    under `under`. With `keep_in`, it can wait on disk for the store: then it fills that folder
    (in the sweep's own folder) when it is kept, and the upload is kept."""
    return _FolderWriter(run_id, under, fill, prefix, keep_in)


class _FolderWriter:
    def __init__(
        self,
        run_id: str,
        under: str,
        fill: Callable[[Path], None],
        prefix: str,
        keep_in: Path | None,
    ) -> None:
        self.run_id, self.under, self.fill, self.prefix = run_id, under, fill, prefix
        if keep_in is not None:
            self.record = functools.partial(self._record, keep_in)

    def __call__(self, client: MlflowClient, _run_ids: Mapping[str, str]) -> None:
        with tempfile.TemporaryDirectory(prefix=self.prefix) as folder:
            self.fill(Path(folder))
            client.log_artifacts(self.run_id, folder, self.under)

    def _record(self, keep_in: Path) -> dict[str, Any]:
        shutil.rmtree(keep_in, ignore_errors=True)
        keep_in.mkdir(parents=True)
        self.fill(keep_in)
        folder = Durable("folder", run_id=self.run_id, under=self.under, folder=str(keep_in))
        return folder.record()


@contextmanager
def requirements_as_installed() -> Iterator[None]:
    """MLflow's model saving without its check that the model's pip requirements match the
    installed packages. The check maps every installed distribution's files to the modules they
    hold (`importlib.metadata.packages_distributions`): 1.1 s of the driver's CPU with this
    project's 70 packages, more in a larger environment, at a sweep's start, where the trials'
    processes need the two cores. The model's requirements are pinned to the installed versions
    (`ModelTemplate.prepare`), so it cannot find a mismatch. MLflow has no switch for it; the
    function is replaced for the length of the save, and a pinned MLflow without it fails here
    (AttributeError), not silently."""
    from mlflow.utils import environment

    def unchecked(model_requirements: list[str]) -> None:
        del model_requirements

    check = environment.warn_dependency_requirement_mismatches
    environment.warn_dependency_requirement_mismatches = unchecked
    try:
        yield
    finally:
        environment.warn_dependency_requirement_mismatches = check


class ModelTemplate:
    """The best trial's MLflow model, prepared while the sweep runs.

    Saving an MLflow model costs a second or more, none of it specific to the trial. `prepare`
    saves the model once (without MLflow's check of its requirements, see
    `requirements_as_installed`), with a
    placeholder in place of the weights, at the start of the sweep; `logger` then copies the best
    checkpoint in and uploads the folder. The checkpoint file is copied as it is (the model loads
    it with `weights_only=True`), so the driver never imports torch, and the upload goes through
    the client, not MLflow's fluent API, which would reopen the run and set the process-wide
    tracking URI."""

    def __init__(
        self,
        data: DataInfo,
        trainer: str = "supervised",
        example: Any = None,
        folder: Path | None = None,
    ) -> None:
        """`example`: a few inputs, saved as the model's input example (the first validation
        examples; a GAN, whose inputs are latent vectors of a size each trial picks, has none).
        `folder`: where the model is prepared (a sweep's own folder, so that an upload waiting
        for the store outlives the process), else a temporary one."""
        self.data, self.trainer, self.example = data, trainer, example
        self._temporary = None
        if folder is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="tunelab-model-")
            folder = Path(self._temporary.name)
        self.folder = folder
        self.path = folder / MODEL_ARTIFACT
        self.ready = False

    def prepare(self) -> None:
        import mlflow
        import numpy as np
        from mlflow.models import ModelSignature
        from mlflow.types import Schema, TensorSpec

        from tunelab.tracking import _pyfunc_model
        from tunelab.training import CHECKPOINT_FILE, trainer_of
        from tunelab.version import __version__

        env.apply_library_defaults("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
        example: tuple[int, ...] = (-1, *self.data.input_shape)
        shapes: tuple[tuple[int, ...], tuple[int, ...]]
        if trainer_of(self.trainer).generates:  # latent vectors in, generated examples out
            shapes = (-1, -1), example
        else:
            shapes = example, (-1, self.data.n_outputs)
        signature = ModelSignature(
            inputs=Schema([TensorSpec(np.dtype(np.float32), shapes[0])]),
            outputs=Schema([TensorSpec(np.dtype(np.float32), shapes[1])]),
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.path, ignore_errors=True)  # one an earlier run of the sweep left
        placeholder = self.folder / CHECKPOINT_FILE
        placeholder.write_bytes(b"")
        with warnings.catch_warnings(), requirements_as_installed():
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
                # Given explicitly: inferring them would load the model in a subprocess. Each
                # is the version installed, read from the package itself.
                pip_requirements=[
                    f"torch=={_version('torch')}",
                    f"mlflow=={mlflow.__version__}",
                    f"numpy=={np.__version__}",
                    f"tunelab=={__version__}",
                ],
            )
        self.ready = True

    def logger(self, *, run_key: str, checkpoint_path: str | Path) -> Durable:
        """A writer call that logs the model, with this checkpoint's weights, in the trial's run
        (after `prepare`, which the sweep queues first)."""
        return Durable(
            "model", key=run_key, template=str(self.path), checkpoint=str(checkpoint_path)
        )

    def cleanup(self) -> None:
        if self._temporary is not None:
            self._temporary.cleanup()
        else:
            shutil.rmtree(self.folder, ignore_errors=True)


@kind("model")
def _write_kept_model(
    client: MlflowClient, run_ids: Mapping[str, str], record: Mapping[str, Any]
) -> None:
    log_model(client, run_ids[record["key"]], Path(record["template"]), record["checkpoint"])


def log_model(client: MlflowClient, run_id: str, template: Path, checkpoint: str | Path) -> None:
    """Log the prepared model folder `template` in the run, with this checkpoint's weights."""
    from tunelab.training import CHECKPOINT_FILE

    source = Path(checkpoint)
    if source.is_dir():
        source = source / CHECKPOINT_FILE
    weights = list(template.rglob(CHECKPOINT_FILE))
    if len(weights) != 1:
        raise RuntimeError(
            f"expected one {CHECKPOINT_FILE} in the model folder, found {len(weights)}"
        )
    shutil.copyfile(source, weights[0])
    digest = folder_digest(template)
    client.log_artifacts(run_id, str(template), MODEL_ARTIFACT)
    # After the upload: a run with the tag has all of its model's files.
    client.set_tag(run_id, TAG_MODEL_SHA256, digest)


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package).split("+")[0]
