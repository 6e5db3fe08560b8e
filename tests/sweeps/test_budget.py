"""Budget caps checked the way the backend asks them: after each result, before the trial
records see it. Plain logic: no Ray here."""

from __future__ import annotations

from collections.abc import Callable

from tunelab.spec import parse_spec
from tunelab.sweeps import Budget, Outcome, SweepState, TrialRecord

SPEC = """
model: mlp
dataset: digits
metric: val_accuracy
mode: max
budget: {{trials: 50, max_epochs: 10, {cap}}}
space:
  lr: {{type: float, low: 1.0e-3, high: 1.0e-2, log: true}}
"""


def budget(cap: str) -> tuple[Budget, Callable[..., bool], SweepState]:
    state = SweepState()
    spec = parse_spec(SPEC.format(cap=cap), "b.yaml").spec
    b = Budget(spec, state)
    return b, b.stop_after, state


def test_total_epochs_cap_stops_at_the_result_that_reaches_it() -> None:
    b, stop, state = budget("max_total_epochs: 5")
    assert b.capped
    # Two trials training side by side; the records are not updated, as when Ray asks the
    # stopper first: the stopper's own count must still see every epoch.
    decisions = [stop("a", 1), stop("b", 1), stop("a", 2)]
    decisions += [stop("b", 2)]
    assert decisions == [False, False, False, False] and not b.exhausted()
    assert stop("a", 3) is True  # 3 + 2 = 5 epochs
    assert state.budget_reached == "budget.max_total_epochs (5)"
    assert stop("b", 3) is True  # the other trial stops after its epoch too
    assert state.stopped_by_budget == {"a", "b"}


def test_total_epochs_count_trials_that_already_ended() -> None:
    _, stop, state = budget("max_total_epochs: 6")
    state.trials["done"] = TrialRecord(name="trial-000", config={}, last_epoch=4)
    assert stop("new", 1) is False
    assert stop("new", 2) is True


def test_no_cap_never_stops() -> None:
    b, stop, _ = budget("concurrency: 2")
    assert not b.capped
    assert not any(stop("a", e) for e in range(1, 200))


def test_the_wall_cap_gives_running_trials_one_epoch_then_stops_them_where_they_are() -> None:
    import time

    b, stop, state = budget("max_wall_s: 100")
    state.trials["slow"] = TrialRecord(name="trial-000", config={})
    state.trials["done"] = TrialRecord(name="trial-001", config={})
    state.trials["done"].outcome = Outcome.COMPLETED
    assert stop("slow", 1, 30.0) is False  # its epochs take 30 s
    b.started = time.monotonic() - 110  # 10 s past the cap: the epoch it trains may still end
    assert not b.overrun() and not b.overran
    b.started = time.monotonic() - 131  # past the cap by more than its slowest epoch
    assert b.overrun() and b.overran
    assert state.budget_reached == "budget.max_wall_s (100 s)"
    assert state.stopped_by_budget == {"slow"}  # not the trial that had ended


def test_without_a_wall_cap_nothing_is_overrun() -> None:
    import time

    b, _, _ = budget("max_total_epochs: 5")
    b.started = time.monotonic() - 1e6
    assert not b.overrun()


def test_trials_that_wait_past_the_pending_timeout_with_none_running_end_the_sweep(
    monkeypatch: object,
) -> None:
    import time

    b, _, state = budget("pending_timeout_s: 60")
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])  # type: ignore[attr-defined]
    state.waiting, state.pending_nodes = 2, {"ray.worker.gpu": 2}
    assert not b.stuck()  # the wait starts now
    clock[0] += 59
    assert not b.stuck()
    state.trials["t"] = TrialRecord("trial-000", {})  # one starts: the wait is over
    clock[0] += 30
    assert not b.stuck()
    state.trials["t"].outcome = Outcome.COMPLETED  # it ends; two still wait, none runs
    clock[0] += 1
    assert not b.stuck()
    clock[0] += 60
    assert b.stuck()
    assert state.stuck == (
        "2 trial(s) waited 60 s for 2 nodes: ray.worker.gpu with none running "
        "(budget.pending_timeout_s): the cluster could not hold them"
    )


def test_without_a_pending_timeout_trials_wait_as_long_as_it_takes() -> None:
    b, _, state = budget("max_total_epochs: 5")
    state.waiting = 3
    assert not b.stuck() and state.stuck is None


def test_what_waiting_trials_wait_for_reads_as_the_live_table_says_it() -> None:
    from tunelab.sweeps._state import waiting_for

    assert waiting_for({}) == "resources"
    assert waiting_for({"ray.worker.gpu": 1}) == "1 node: ray.worker.gpu"
    assert waiting_for({"gpu": 2, "cpu": 1}) == "3 nodes: 1 cpu, 2 gpu"
