"""Reference models: small classifiers trained once, deterministically, and cached.

The GAN's quality metric measures generated examples in a reference classifier's feature space,
and `reference:DATASET` is a ready transfer-learning source. Each is trained on the CPU with a
fixed seed and configuration, so every machine gets the same weights; the cache only saves time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tunelab import env
from tunelab.data import DataSplits

REFERENCE_VERSION = 1
REFERENCE_EPOCHS = 15
REFERENCE_CONFIG: dict[str, Any] = {"seed": 0, "optimizer": "adam", "lr": 3e-3, "batch_size": 64}


def cache_dir() -> Path:
    root = env.TUNELAB_CACHE_DIR.get() or Path.home() / ".cache" / "tunelab"
    return Path(root) / "reference"


def reference_architecture(data: DataSplits) -> str:
    return "cnn" if data.info.input_kind == "image" else "mlp"


def fingerprint(data: DataSplits) -> str:
    digest = hashlib.sha256()
    for split in (data.train, data.val):
        digest.update(split.x.tobytes())
        digest.update(split.y.tobytes())
    return digest.hexdigest()[:16]


def reference_state(data: DataSplits) -> dict[str, Any]:
    """The reference classifier of this data: architecture, hyperparameters, data shape and
    weights, loaded from the cache or trained (a few seconds for the built-in sets)."""
    from tunelab.training._checkpoint import load_checkpoint, save_checkpoint

    if data.task != "classification":
        raise ValueError("a reference classifier needs a classification dataset")
    arch_name = reference_architecture(data)
    key = json.dumps([REFERENCE_VERSION, arch_name, REFERENCE_CONFIG, REFERENCE_EPOCHS])
    folder = (
        cache_dir()
        / f"{arch_name}-{fingerprint(data)}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    )
    if (folder / "checkpoint.pt").exists():
        state = load_checkpoint(folder)
    else:
        state = _train(data, arch_name)
        save_checkpoint(folder, state)
    return {k: state[k] for k in ("architecture", "model_hparams", "data_info", "model_state")}


def _train(data: DataSplits, arch_name: str) -> dict[str, Any]:
    import torch

    from tunelab.models import architectures
    from tunelab.training._supervised import train_supervised

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic, so the same weights, on every machine
    last: dict[str, Any] = {}
    try:
        train_supervised(
            REFERENCE_CONFIG,
            data,
            architectures.get(arch_name),
            max_epochs=REFERENCE_EPOCHS,
            report=lambda epoch, metrics, state: last.update(state, metrics=metrics),
        )
    finally:
        torch.set_num_threads(threads)
    return last


def build_reference(reference: Mapping[str, Any]) -> Any:
    from tunelab.data import DataInfo
    from tunelab.models import architectures

    arch = architectures.get(reference["architecture"])
    model = arch.build(
        {**arch.hyperparameters, **reference["model_hparams"]},
        DataInfo.from_dict(reference["data_info"]),
    )
    model.load_state_dict(reference["model_state"])
    return model.eval()
