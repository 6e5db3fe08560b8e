"""What the sweep does with each trial event the backend forwards: keep the trial's record,
write its run through the tracking writer (which only enqueues), update the live board, and
log the model of a trial that finishes among the best so far."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tunelab.backend import FUSION_KEY, RESUME_KEY, SCHEDULE_PREFIX
from tunelab.spec import SweepSpec
from tunelab.sweeps._ranking import best_trial, ranked_trials
from tunelab.sweeps._state import (
    FINISHED,
    RUN_STATUS,
    Outcome,
    SweepState,
    TrialRecord,
    end_tags,
    feasibility_tags,
    trial_outcome,
    waiting_for,
)
from tunelab.tracking import TrackingWriter, metrics_of, params_of, trial_tags
from tunelab.tracking.tags import (
    TAG_CLOSED,
    TAG_EXPLOIT,
    TAG_EXPLOITS,
    TAG_NODE,
    TAG_NODE_IP,
    TAG_RESUMED_AT_EPOCH,
    TAG_RETRIES,
    TAG_RETRY_REASON,
    TAG_WORKER_NODES,
    TAG_WORKERS,
)

if TYPE_CHECKING:
    from tunelab.backend import SweepMetrics, TrialResult
    from tunelab.views import Board


LOST_UNSAVED = "could not go on when the sweep was resumed"


def workers_tags(result: TrialResult) -> dict[str, str]:
    """A data-parallel trial's workers and their nodes, as it reported them (none otherwise)."""
    if not result.worker_nodes:
        return {}
    return {
        TAG_WORKERS: str(len(result.worker_nodes)),
        TAG_WORKER_NODES: ",".join(result.worker_nodes),
    }


def resumed_key(name: str) -> str:
    """Where a resumed sweep's trial that goes on waits for Ray to start it again."""
    return f"resumed:{name}"


class SweepRecorder:
    """Implements the backend's `TrialEvents` for one sweep."""

    def __init__(
        self,
        *,
        spec: SweepSpec,
        sweep: str,
        parent_run_id: str,
        writer: TrackingWriter,
        board: Board | None,
        state: SweepState,
        metric_names: tuple[str, ...],
        keep_model: Callable[[str, str], None] | None = None,
        keep_models: int = 0,
        on_trial_end: Callable[[], None] | None = None,
        metrics: SweepMetrics | None = None,
        on_first_result: Callable[[], None] | None = None,
    ) -> None:
        self.spec, self.sweep, self.parent_run_id = spec, sweep, parent_run_id
        self.writer, self.board, self.state = writer, board, state
        self.metric_names = metric_names
        # keep_model(trial_id, checkpoint) logs a trial's model; it is called as soon as a trial
        # finishes among the `keep_models` best so far, so the uploads happen while others train.
        self.keep_model, self.keep_models = keep_model, keep_models
        # Called once a trial's end is recorded (its model logged first): the summary so far.
        self.on_trial_end = on_trial_end
        self.best: float | None = None  # the best trial's metric, for the board and metrics
        self.metrics = metrics  # what Prometheus sees of the sweep (see dashboards/)
        self.exploits: dict[str, dict[str, Any]] = {}  # told before the result they follow
        self.on_first_result = on_first_result  # called once, with the sweep's first result

    def trial_started(self, trial_id: str, name: str, config: dict[str, Any]) -> None:
        config = dict(config)
        fusion = config.pop(FUSION_KEY, None)  # its fused group: a tag, not a hyperparameter
        record = self.state.trials.get(trial_id)
        if record is None and RESUME_KEY in config:
            record = self._go_on(trial_id, str(config[RESUME_KEY]["name"]))
        if record is None:  # a trial that restarts keeps its record and its run
            record = TrialRecord(name=name, config=dict(config))
            self.state.trials[trial_id] = record
            self.writer.start_run(
                trial_id,
                record.name,
                tags=trial_tags(
                    sweep=self.sweep,
                    parent_run_id=self.parent_run_id,
                    trial_id=trial_id,
                    model=self.spec.model.name,
                    dataset=self.spec.dataset.label,
                    fused_group=fusion["group"] if fusion else None,
                ),
                params=params_of(config),
            )
        if self.board is not None:
            self.board.started(trial_id, record.name)

    def _go_on(self, trial_id: str, name: str) -> TrialRecord:
        """A resumed sweep's trial going on from its checkpoint: its record and its run, under
        Ray's new id."""
        record = self.state.trials.pop(resumed_key(name))
        self.state.trials[trial_id] = record
        record.outcome, record.ended, record.restarted, record.resumed = None, None, True, False
        record.started = time.time() - record.seconds_before
        if record.run_id is not None:
            self.writer.adopt(trial_id, record.run_id)
        self.writer.reopen(trial_id)
        return record

    def trial_result(self, trial_id: str, result: TrialResult) -> None:
        first = self.on_first_result
        if first is not None:
            self.on_first_result = None
            first()
        record = self.state.trials[trial_id]
        if result.error is not None:  # the trial's code raised: it ends, failed, on completion
            record.error = result.error
            return
        if record.restarted:  # where, and from which epoch, it trains again
            record.restarted = False
            self.writer.set_tags(
                trial_id,
                {
                    TAG_NODE: result.node_id,
                    TAG_NODE_IP: result.node_ip,
                    TAG_RESUMED_AT_EPOCH: str(result.epoch),
                    **workers_tags(result),
                },
            )
        repeat = record.last_epoch is not None and result.epoch <= record.last_epoch
        if self.metrics is not None:
            self.metrics.result(new_epoch=not repeat)
        if repeat:
            return  # a restarted trial repeating an epoch already recorded: written once
        if record.last_epoch is None:
            self.writer.set_tags(
                trial_id,
                {TAG_NODE: result.node_id, TAG_NODE_IP: result.node_ip, **workers_tags(result)},
            )
        record.last_epoch = result.epoch
        for sample in result.system_samples:
            values = {k: float(v) for k, v in sample.items() if k != "t"}
            timestamp = int(sample.get("t", 0)) or None
            self.writer.log(trial_id, record.system_samples, values, timestamp_ms=timestamp)
            record.system_samples += 1
        self._record_values(
            trial_id, record, result.epoch, result.values, self.metric_names, result.timestamp_ms
        )
        if self.board is not None:
            self.board.result(trial_id, result.epoch, record.last_value)
        exploit = self.exploits.pop(trial_id, None)
        if exploit is not None:
            self.trial_exploited(trial_id, **exploit)

    def _record_values(
        self,
        trial_id: str,
        record: TrialRecord,
        epoch: int,
        values: Mapping[str, Any],
        names: tuple[str, ...],
        timestamp_ms: int | None = None,
    ) -> None:
        record.last_epoch = epoch
        value = values.get(self.spec.metric)
        record.last_value = float(value) if isinstance(value, int | float) else None
        for metric in self.spec.kept_metrics:
            if isinstance(values.get(metric), int | float):
                record.last_values[metric] = float(values[metric])
        logged = metrics_of(values, names)
        self.writer.log(trial_id, epoch, logged, timestamp_ms=timestamp_ms)
        if self.spec.scheduler.population_based:
            kept = {k: v for k, v in logged.items() if k.startswith(SCHEDULE_PREFIX)}
            record.schedule.append({"epoch": epoch, "value": record.last_value, **kept})

    def trial_checkpointed(self, trial_id: str, checkpoint: str) -> None:
        record = self.state.trials.get(trial_id)
        if record is not None:
            record.checkpoint = checkpoint

    def checkpoints_dropped(self, trial_id: str, delete: Callable[[], None]) -> None:
        record = self.state.trials.get(trial_id)
        name = record.name if record is not None else trial_id
        self.writer.after_written(f"delete the checkpoints {name} no longer keeps", delete)

    def trial_exploited(
        self,
        trial_id: str,
        source_id: str,
        *,
        epoch: int,
        source_epoch: int,
        config: dict[str, Any],
        values: Mapping[str, Any],
        source_checkpoint: str,
    ) -> None:
        """Population based training: it goes on from another trial's checkpoint, with that
        trial's configuration explored. Its run's params stay those it started with; the tags
        name each exploit. Its model is now the source's of `source_epoch`: that epoch's
        metrics are recorded again in its run, and the epochs after it are new results."""
        record = self.state.trials.get(trial_id)
        if record is None:
            return
        if record.last_epoch is None or record.last_epoch < epoch:
            # Ray's scheduler decides before the callbacks hear of the result it decided on:
            # the trial's own result of `epoch` is recorded first.
            self.exploits[trial_id] = dict(
                source_id=source_id,
                epoch=epoch,
                source_epoch=source_epoch,
                config=config,
                values=values,
                source_checkpoint=source_checkpoint,
            )
            return
        source = self.state.trials.get(source_id)
        config = {k: v for k, v in config.items() if not k.startswith("tunelab_")}
        record.exploits += 1
        record.config = config  # what its model is trained with from now on
        exploit = {
            "epoch": epoch,
            "source": source.name if source is not None else source_id,
            "source_epoch": source_epoch,
            "source_checkpoint": source_checkpoint,
            "config": config,
        }
        self.writer.set_tags(
            trial_id,
            {
                TAG_EXPLOITS: str(record.exploits),
                f"{TAG_EXPLOIT}.{record.exploits}": json.dumps(exploit, sort_keys=True),
            },
        )
        record.lineage.append(exploit)
        names = tuple(n for n in self.metric_names if not n.startswith(SCHEDULE_PREFIX))
        self._record_values(trial_id, record, source_epoch, values, names)
        if record.schedule:
            record.schedule[-1]["source"] = exploit["source"]

    def trial_retried(self, trial_id: str, attempt: int, reason: str) -> None:
        """Its worker or node died: Ray restarts it from its last checkpoint, in the same run."""
        record = self.state.trials.get(trial_id)
        if record is None:
            return
        record.retries, record.restarted = attempt, True
        self.writer.set_tags(trial_id, {TAG_RETRIES: str(attempt), TAG_RETRY_REASON: reason})
        if self.board is not None:
            self.board.retried(trial_id, attempt)

    def trials_waiting(self, count: int, pending_nodes: Mapping[str, int]) -> None:
        self.state.waiting, self.state.pending_nodes = count, dict(pending_nodes)
        if self.board is not None:
            self.board.waiting(count, waiting_for(pending_nodes))

    def trial_completed(self, trial_id: str, checkpoint: str | None) -> None:
        record = self.state.trials.get(trial_id)
        if record is None or record.outcome is not None:
            return  # removed before it ever started, or its end is recorded already
        if record.error is not None:
            self.trial_failed(trial_id, record.error)
            return
        if checkpoint is not None:
            record.checkpoint = checkpoint
        outcome = trial_outcome(
            errored=False,
            finished=True,
            last_epoch=record.last_epoch,
            max_epochs=self.spec.budget.max_epochs,
        )
        if outcome is Outcome.STOPPED_EARLY and trial_id in self.state.stopped_by_budget:
            outcome = Outcome.STOPPED_BY_BUDGET
        self._end(trial_id, outcome)
        self.keep_if_top(trial_id)
        if self.on_trial_end is not None:
            self.on_trial_end()

    def keep_if_top(self, trial_id: str) -> None:
        """Log the trial's model if it ranks among the best (from its latest checkpoint)."""
        record = self.state.trials[trial_id]
        top = ranked_trials(self.state, self.spec.mode, self.spec.constraints)[: self.keep_models]
        if self.keep_model is not None and record.checkpoint is not None and trial_id in top:
            self.keep_model(trial_id, record.checkpoint)

    def trial_failed(self, trial_id: str, error: str) -> None:
        record = self.state.trials.get(trial_id)
        if record is None or record.outcome is not None:
            return
        self._end(trial_id, Outcome.FAILED, error=error)
        if self.on_trial_end is not None:
            self.on_trial_end()

    def end_stopped_by_budget(self) -> None:
        """Trials the wall-time cap stopped where they were (see Budget.overrun): stopped by the
        budget, at their last recorded epoch, their model kept like any other's."""
        for trial_id, record in self.state.trials.items():
            if record.outcome is None and trial_id in self.state.stopped_by_budget:
                self._end(trial_id, Outcome.STOPPED_BY_BUDGET)
                self.keep_if_top(trial_id)

    def end_unfinished(self) -> None:
        """Trials still open when the sweep stops (interrupted, or Ray gave up) were killed. A
        resumed sweep's trial that Ray never took up again had started after Ray last saved
        its state, and was lost with the driver: it is killed, saying so."""
        for trial_id, record in self.state.trials.items():
            if record.outcome is None:
                lost = {TAG_CLOSED: LOST_UNSAVED} if record.resumed else {}
                self._end(trial_id, Outcome.KILLED, extra_tags=lost)

    def _end(
        self,
        trial_id: str,
        outcome: Outcome,
        error: str | None = None,
        extra_tags: dict[str, str] | None = None,
    ) -> None:
        record = self.state.trials[trial_id]
        if record.outcome is not None:
            return
        record.outcome = outcome
        record.ended = time.time()
        tags = {**end_tags(outcome, error), **(extra_tags or {})}
        broken = self.spec.violations(record.last_values) if outcome in FINISHED else {}
        if self.spec.constraints and outcome in FINISHED:
            tags.update(feasibility_tags(broken))
        self.writer.end_run(trial_id, RUN_STATUS[outcome], tags)
        # The best is the best trial's: its last epoch's value, whose checkpoint is its model,
        # feasible first (as the summary, the tags and `promote` have it).
        best_id = best_trial(self.state, self.spec.mode, self.spec.constraints)
        self.best = self.state.trials[best_id].last_value if best_id is not None else None
        if self.metrics is not None:
            self.metrics.trial_ended(outcome.value, record.seconds)
            if self.best is not None:
                self.metrics.best(self.best)
        if self.board is not None:
            self.board.ended(trial_id, outcome.value, self.best, tuple(sorted(broken)))
