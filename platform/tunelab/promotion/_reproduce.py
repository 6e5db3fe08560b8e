"""Retrain a trial from what its run recorded (config, seed, epochs, the sweep's spec) and
compare the metric it reaches with the one logged. On the CPU, with the thread count the trial
had, training is deterministic: the same metric to within REPRODUCIBLE_RTOL."""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunelab import tracking
from tunelab.errors import SourceError, TunelabError
from tunelab.plugins import stored_code
from tunelab.tracking.tags import TAG_EXPLOITS

REPRODUCIBLE_RTOL = 1e-6
# A trial trained as a member of a fused group, retrained alone: its batched products round
# differently in the last bits (tests/training/test_fused.py measures under 2e-6).
FUSED_RTOL = 1e-5


@dataclass(frozen=True)
class Reproduction:
    run_id: str
    trial: str
    metric: str
    epochs: int
    logged: float
    reproduced: float
    threads: int
    tolerance: float = REPRODUCIBLE_RTOL

    @property
    def relative_difference(self) -> float:
        if self.logged == self.reproduced:
            return 0.0
        return abs(self.reproduced - self.logged) / max(abs(self.logged), 1e-12)

    @property
    def reproducible(self) -> bool:
        return math.isfinite(self.reproduced) and self.relative_difference <= self.tolerance


def reproduce(
    run_id: str, *, tracking_uri: str | None = None, trust_code: bool = False
) -> Reproduction:
    """Retrain a trial from what its run recorded, with the thread count it had, and compare
    the metric it reaches with the one logged. Code the stored spec names by import path is
    imported only with `trust_code` (see `plugins.stored_code`)."""
    with stored_code(refused=not trust_code):
        return _reproduce(run_id, tracking_uri)


def _reproduce(run_id: str, tracking_uri: str | None) -> Reproduction:
    import torch

    from tunelab.sweeps import prepare
    from tunelab.training import train

    client = tracking.client(tracking_uri)
    run = tracking.get_run(client, run_id)
    exploits = int(run.data.tags.get(TAG_EXPLOITS, "0"))
    if exploits:
        raise TunelabError(
            f"run {run_id} went on from other trials' checkpoints {exploits} time(s) "
            "(population based training; its tags tunelab.exploit.N say when and from "
            "whom): a configuration trained from the start cannot reproduce it"
        )
    with tempfile.TemporaryDirectory(prefix="tunelab-reproduce-") as folder:
        loaded = tracking.trial_spec(client, run, Path(folder))
    spec = loaded.spec
    if spec.resources.workers > 1:
        raise TunelabError(
            f"run {run_id} trained on {spec.resources.workers} data-parallel workers, each with "
            "its own dropout masks and, on CPUs, batch statistics: one process retraining it "
            "does not reproduce it"
        )
    metric = spec.metric
    last = tracking.last_metric(client, run_id, metric)
    if last is None:
        raise TunelabError(f"run {run_id} logged no {metric}: nothing to reproduce")
    epochs, logged = last
    config = _config(client, run_id, run.data.params)
    prepared = prepare(loaded, tracking_uri=client.tracking_uri)
    threads = max(1, int(spec.resources.cpu))
    reached: dict[str, float] = {}

    def report(_epoch: int, metrics: dict[str, float], _state: dict[str, Any]) -> None:
        reached.update(metrics)

    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # as the trial had: reduction order depends on it
    try:
        train(
            config,
            prepared.data,
            prepared.arch,
            max_epochs=epochs,
            report=report,
            options=prepared.options,
        )
    finally:
        torch.set_num_threads(before)
    return Reproduction(
        run_id=run_id,
        trial=run.info.run_name or run_id,
        metric=metric,
        epochs=epochs,
        logged=logged,
        reproduced=float(reached.get(metric, math.nan)),
        threads=threads,
        tolerance=FUSED_RTOL if spec.fusion is not None else REPRODUCIBLE_RTOL,
    )


def _config(client: Any, run_id: str, params: dict[str, str]) -> dict[str, Any]:
    """A trial's config, exactly as the trial had it: from its logged model's checkpoint, or
    else from its MLflow params."""
    from tunelab.training import load_checkpoint

    with tempfile.TemporaryDirectory(prefix="tunelab-reproduce-") as folder:
        try:
            state = load_checkpoint(tracking.verified_checkpoint(client, run_id, Path(folder)))
            return dict(state["config"])
        except (SourceError, KeyError):
            pass  # no logged model (not among its sweep's best): the params say the same
    return tracking.config_of(params)
