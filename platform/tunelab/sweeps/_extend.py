"""Extending a finished sweep: N more trials in the same parent run and the same Optuna study.

The spec is the one the sweep recorded; its earlier trials are read back from their runs, so the
summary, the best trial and the views cover the whole sweep. Nothing already recorded changes:
the earlier child runs are not written to, the parent's params are never rewritten (each
extension adds its own), and its metrics gain new values beside the earlier ones."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab import tracking
from tunelab.errors import TunelabError
from tunelab.spec import LoadedSpec, parse_spec
from tunelab.sweeps._state import Outcome
from tunelab.sweeps._stores import Stores
from tunelab.tracking.tags import TAG_OUTCOME, TAG_TRIAL_ID

EXTENSION_PARAM = "extension_{number}_trials"


@dataclass(frozen=True)
class EarlierTrial:
    """A trial as its run recorded it."""

    run_id: str
    name: str
    config: dict[str, Any]
    last_epoch: int | None
    last_value: float | None
    last_values: dict[str, float]
    outcome: Outcome | None  # None: it never ended (its driver was lost)
    seconds: float  # its time, to its end or its last recorded epoch
    trial_id: str = ""  # Ray's
    settled: bool = False  # its end, lost with its driver, was read from the Optuna study


@dataclass(frozen=True)
class Extension:
    sweep: str
    parent_run_id: str
    number: int  # 1 for a sweep's first extension
    earlier: list[EarlierTrial] = field(default_factory=list)
    spec_text: str = ""  # the spec it records: the sweep's, with every trial of its budget


def prepare_extension(
    sweep: str, stores: Stores, *, trials: int, concurrency: int | None
) -> tuple[LoadedSpec, Extension]:
    """The recorded spec with `trials` new trials, and what the sweep has already done (what
    its driver kept on disk for the store is sent first)."""
    client = tracking.client(stores.tracking_uri)
    stores.send_kept_writes(sweep)
    parent = tracking.find_sweep(client, sweep)
    if parent.info.status == "RUNNING":
        raise TunelabError(f"--extend: sweep {sweep!r} is still running; extend it once it ends")
    overrides = {"--trials": trials, "--concurrency": concurrency, "--name": sweep}
    with tempfile.TemporaryDirectory(prefix="tunelab-extend-") as folder:
        loaded = tracking.sweep_spec(
            client,
            parent,
            Path(folder),
            overrides,
            missing=f"--extend: sweep {sweep!r} recorded no spec (did it finish?)",
        )
        number = 1 + sum(1 for key in parent.data.params if key.startswith("extension_"))
        earlier = recorded_trials(client, parent, loaded)
    # Recorded: the whole budget, so a resume of the extended sweep runs the trials it adds.
    whole = {"--trials": len(earlier) + trials, "--concurrency": concurrency}
    text = parse_spec(loaded.text, loaded.source, whole, shown=loaded.shown).recorded_text
    return loaded, Extension(sweep, parent.info.run_id, number, earlier, spec_text=text)


def recorded_trials(client: Any, parent: Any, loaded: LoadedSpec) -> list[EarlierTrial]:
    """Every trial of a sweep as its run recorded it, in the order they started."""
    spec = loaded.spec
    trials = []
    for run in sorted(tracking.sweep_trials(client, parent), key=lambda r: r.info.start_time):
        metrics = run.data.metrics
        outcome = run.data.tags.get(TAG_OUTCOME)
        last = tracking.last_point(client, run.info.run_id, spec.metric)
        end = run.info.end_time or (last[2] if last else None) or run.info.start_time
        trials.append(
            EarlierTrial(
                run_id=run.info.run_id,
                name=run.info.run_name or run.info.run_id,
                config=tracking.config_of(run.data.params),
                last_epoch=last[0] if last else None,
                last_value=last[1] if last else None,
                last_values={m: metrics[m] for m in spec.kept_metrics if m in metrics},
                outcome=Outcome(outcome) if outcome in set(Outcome) else None,
                seconds=max(0.0, (end - run.info.start_time) / 1000),
                trial_id=run.data.tags.get(TAG_TRIAL_ID, ""),
            )
        )
    return trials


def extension_params(extension: Extension, trials: int) -> dict[str, str]:
    """The parent run's new params: MLflow keeps a param's first value for good."""
    return {EXTENSION_PARAM.format(number=extension.number): str(trials)}
