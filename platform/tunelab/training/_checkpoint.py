"""Atomic, self-describing checkpoints that load with `weights_only=True`. Torch is imported
inside the functions: the driver uses this module's names without paying for torch."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from tunelab.version import __version__

CHECKPOINT_FILE = "checkpoint.pt"
FORMAT_VERSION = 1


def _payload(state: dict[str, Any]) -> dict[str, Any]:
    import torch

    return {
        "format_version": FORMAT_VERSION,
        "tunelab_version": __version__,
        "torch_version": str(torch.__version__),  # TorchVersion is not a plain str
        **state,
    }


def checkpoint_bytes(state: dict[str, Any]) -> bytes:
    """The bytes `save_checkpoint` writes for `state`: made where the tensors are (a fused
    group's trainer), written by a process that need not import torch (the member's trial)."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(_payload(state), buffer)
    return buffer.getvalue()


def save_checkpoint(directory: str | Path, state: dict[str, Any] | bytes) -> Path:
    """Write `state` (tensors, numbers, strings, lists, dicts only; or `checkpoint_bytes` of
    them) to DIRECTORY/checkpoint.pt by writing a temporary file beside it and renaming, so a
    reader never sees half a checkpoint."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / CHECKPOINT_FILE
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".checkpoint-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            if isinstance(state, bytes):
                handle.write(state)
            else:
                import torch

                torch.save(_payload(state), handle)  # streamed: no copy in memory
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint file (or a directory holding one) without unpickling arbitrary objects."""
    import pickle

    import torch

    from tunelab.errors import CheckpointError, UnsafeModelError

    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_FILE
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UnsafeModelError(
            f"refusing to load {path}: it holds objects other than tensors and plain data, "
            "which would run code when unpickled; tunelab checkpoints never do"
        ) from None
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {state.get('format_version')!r} is not {FORMAT_VERSION}"
        )
    return state
