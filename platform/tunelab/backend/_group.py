"""A fused group's process (see _fusion for the driver's side): it trains its members as one
stacked model (`train_fused`) and reports, each epoch, every member's metrics and checkpoint in
one result, then asks the driver which members go on. A retried group goes on from its last
checkpoint's manifest with the members it still had."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray import tune

from tunelab.backend._events import EPOCH_FILE, EPOCH_KEY, FUSION_KEY, MEMBERS_KEY, NODE_KEY
from tunelab.backend._system import SYSTEM_KEY
from tunelab.errors import error_line
from tunelab.training import TrialSetup

# In a group's checkpoint: each member's checkpoint folder, by member id, for those that trained
# its epoch: what a retried group goes on from.
MANIFEST_FILE = "members.json"


def member_config(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A trial's config without its fused group, and the group (None: not fused)."""
    config = dict(config)
    return config, config.pop(FUSION_KEY, None)


def train_group(
    fusion: dict[str, Any],
    setup: TrialSetup,
    *,
    node_id: str,
    system: Callable[[], list[dict[str, float]]],
    report: Callable[[dict[str, Any], str | None], None],
) -> None:
    """A group's Ray Tune trial: trains its members fused and reports, each epoch, every
    member's metrics and checkpoint in one result; then trains on the members the driver says
    go on. A retried group goes on from its last checkpoint with the members it still had."""
    import torch

    from tunelab.training import load_checkpoint, save_checkpoint

    torch.set_num_threads(setup.threads)
    members = list(fusion["members"])
    restores = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            folders = json.loads((Path(directory) / MANIFEST_FILE).read_text())
        members = [m for m in members if m["id"] in folders]
        restores = [load_checkpoint(_local(folders[m["id"]])) for m in members]
    control = ray.get_actor(fusion["control"])
    storage = tune.get_context().get_storage()
    epoch_results: dict[str, list[Any]] = {}
    going_on: set[str] = {m["id"] for m in members}

    def reported(number: int) -> Callable[[int, dict[str, float], dict[str, Any]], None]:
        member = members[number]

        def put(epoch: int, metrics: dict[str, float], state: dict[str, Any]) -> None:
            folder = f"{storage.experiment_fs_path}/{member['name']}/checkpoint_{epoch:06d}"
            with tempfile.TemporaryDirectory(prefix="tunelab-ckpt-") as local:
                save_checkpoint(local, state)
                (Path(local) / EPOCH_FILE).write_text(str(epoch))
                _upload(local, folder, storage.storage_filesystem)
            epoch_results[member["id"]] = [member["id"], metrics, folder, None]

        return put

    def failed(number: int, error: BaseException) -> None:
        member = members[number]
        epoch_results[member["id"]] = [member["id"], None, None, error_line(error)]

    def epoch_end(epoch: int) -> None:
        entries = list(epoch_results.values())
        epoch_results.clear()
        trained = [metrics for _, metrics, _, _ in entries if metrics is not None]
        # Ray Tune checks that every result carries the sweep's metrics: the group's first
        # member's (the members' own are in MEMBERS_KEY, which tunelab reads).
        first = trained[0] if trained else {}
        with tempfile.TemporaryDirectory(prefix="tunelab-group-") as local:
            manifest = {member_id: folder for member_id, _, folder, _ in entries if folder}
            (Path(local) / MANIFEST_FILE).write_text(json.dumps(manifest))
            report(
                {
                    **{name: first.get(name, float("nan")) for name in setup.targets},
                    EPOCH_KEY: epoch,
                    NODE_KEY: node_id,
                    SYSTEM_KEY: system(),
                    MEMBERS_KEY: entries,
                },
                local if manifest else None,
            )
        if epoch < setup.max_epochs and trained:
            going_on.clear()
            going_on.update(ray.get(control.going_on.remote(fusion["group"], epoch)))

    setup.train_fused(
        [m["config"] for m in members],
        reports=[reported(i) for i in range(len(members))],
        restores=restores,
        stop=lambda number: members[number]["id"] not in going_on,
        failed=failed,
        epoch_end=epoch_end,
    )


def _upload(local: str, folder: str, filesystem: Any) -> None:
    """A checkpoint's files into the sweep's storage (a local folder, or a cluster's shared
    storage), as Ray Tune uploads a trial's own checkpoints."""
    import pyarrow.fs

    filesystem.create_dir(folder, recursive=True)
    pyarrow.fs.copy_files(local, folder, destination_filesystem=filesystem)


def _local(folder: str) -> str:
    """A member's checkpoint folder, readable here (downloaded from the storage if need be)."""
    storage = tune.get_context().get_storage()
    checkpoint = tune.Checkpoint(path=folder, filesystem=storage.storage_filesystem)
    return checkpoint.to_directory()
