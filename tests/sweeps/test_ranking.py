"""Which trials are best, by one metric or on the Pareto front of several. Plain functions of
the sweep's state: no Ray, no MLflow."""

from __future__ import annotations

import subprocess
import sys

from tunelab.spec import Bound
from tunelab.sweeps import (
    Outcome,
    SweepState,
    TrialRecord,
    best_trial,
    is_better,
    pareto_front,
    ranked_trials,
)


def state_of(**trials: tuple[Outcome, dict[str, float]]) -> SweepState:
    state = SweepState()
    for trial_id, (outcome, values) in trials.items():
        first = next(iter(values.values()), None)
        state.trials[trial_id] = TrialRecord(
            trial_id, {}, 3, first, outcome, checkpoint=f"/c/{trial_id}", last_values=values
        )
    return state


def test_ranking_takes_every_finished_trial_best_first_and_no_failed_one() -> None:
    state = state_of(
        a=(Outcome.COMPLETED, {"acc": 0.7}),
        b=(Outcome.FAILED, {"acc": 0.99}),
        c=(Outcome.STOPPED_EARLY, {"acc": 0.8}),
        d=(Outcome.STOPPED_BY_BUDGET, {"acc": 0.75}),
        e=(Outcome.KILLED, {"acc": 0.9}),
    )
    assert ranked_trials(state, "max") == ["c", "d", "a"]
    assert ranked_trials(state, "min") == ["a", "d", "c"]


def test_a_tie_goes_to_the_trial_started_first_whichever_ended_first() -> None:
    # trial-007 ended (and was recorded) before trial-006: the same value, the same best.
    state = state_of(**{"trial-007": (Outcome.COMPLETED, {"acc": 0.9})})
    state.trials.update(state_of(**{"trial-006": (Outcome.COMPLETED, {"acc": 0.9})}).trials)
    assert ranked_trials(state, "max") == ["trial-006", "trial-007"]
    assert ranked_trials(state, "min") == ["trial-006", "trial-007"]


def test_the_pareto_front_keeps_every_trade_off_and_drops_the_dominated() -> None:
    targets = [("acc", "max"), ("size", "min")]
    state = state_of(
        small=(Outcome.COMPLETED, {"acc": 0.80, "size": 10.0}),
        accurate=(Outcome.COMPLETED, {"acc": 0.95, "size": 500.0}),
        middle=(Outcome.COMPLETED, {"acc": 0.90, "size": 100.0}),
        dominated=(Outcome.COMPLETED, {"acc": 0.85, "size": 200.0}),  # middle beats it on both
        tied=(Outcome.COMPLETED, {"acc": 0.80, "size": 10.0}),  # equal to small: neither beats
        failed=(Outcome.FAILED, {"acc": 0.99, "size": 1.0}),
    )
    front = pareto_front(state, targets)
    assert front == ["accurate", "middle", "small", "tied"]  # by the first objective


def test_feasible_trials_rank_first_and_only_they_make_the_front() -> None:
    constraints = {"size": Bound(max=150.0), "acc": Bound(min=0.5)}
    state = state_of(
        small=(Outcome.COMPLETED, {"acc": 0.80, "size": 10.0}),
        accurate=(Outcome.COMPLETED, {"acc": 0.95, "size": 500.0}),  # too big: far outside
        middle=(Outcome.STOPPED_EARLY, {"acc": 0.90, "size": 100.0}),
        nearly=(Outcome.COMPLETED, {"acc": 0.97, "size": 160.0}),  # too big, but less so
        unmeasured=(Outcome.COMPLETED, {"acc": 0.99}),  # its size never reported
    )
    assert ranked_trials(state, "max", constraints) == [
        "middle",
        "small",
        "nearly",
        "accurate",
        "unmeasured",
    ]
    assert best_trial(state, "max", constraints) == "middle"
    assert best_trial(state, "max") == "unmeasured"  # without constraints: the metric alone
    targets = [("acc", "max"), ("size", "min")]
    assert pareto_front(state, targets, constraints) == ["middle", "small"]
    assert pareto_front(state, targets) == ["nearly", "middle", "small"]  # nearly beats accurate
    none_feasible = {"size": Bound(max=1.0)}
    assert best_trial(state, "max", none_feasible) == "small"  # the least far outside
    assert pareto_front(state, targets, none_feasible) == []


def test_nan_never_counts_as_better() -> None:
    assert not is_better(float("nan"), None, "max")
    assert is_better(0.5, None, "min")
    assert is_better(0.4, 0.5, "min") and not is_better(0.6, 0.5, "min")
    assert is_better(0.6, 0.5, "max") and not is_better(0.5, 0.5, "max")


def test_budgets_ranking_and_gates_need_neither_ray_nor_mlflow() -> None:
    code = (
        "import sys\n"
        "from tunelab.spec import parse_spec\n"
        "from tunelab.sweeps import Budget, SweepState, pareto_front, ranked_trials\n"
        "from tunelab.promotion import beats_champion\n"
        "spec = parse_spec('model: mlp\\ndataset: digits\\nmetric: val_accuracy\\nmode: max\\n"
        "budget: {trials: 2, max_epochs: 2, max_total_epochs: 3}\\nspace: {lr: 0.1}', 's').spec\n"
        "budget = Budget(spec, SweepState())\n"
        "assert [budget.stop_after('a', 1), budget.stop_after('a', 2), budget.stop_after('b', 1)]"
        " == [False, False, True]\n"
        "assert beats_champion('test_accuracy', 'max', 0.0, {'test_accuracy': 0.9}, '1',"
        " {'test_accuracy': 0.8}).passed\n"
        "print(sorted(m for m in ('ray', 'mlflow', 'torch') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
