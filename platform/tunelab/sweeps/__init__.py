"""A sweep, start to end, with no Ray in it: the plan (naming, concurrency, the stores), the
driver's checks before the first trial, the sweep's state and each trial's outcome, budgets,
ranking and the Pareto front, the recording of every trial event, the run as a list of steps,
and extending a finished sweep. The backend runs the trials; tracking writes what happens."""

from __future__ import annotations

from tunelab.sweeps._budget import Budget
from tunelab.sweeps._check import (
    Divergence,
    SweepCheck,
    first_divergence,
    prepare_check,
    rerun_trials,
)
from tunelab.sweeps._extend import EarlierTrial, Extension, prepare_extension
from tunelab.sweeps._heartbeat import HEARTBEAT_S, STALE_S, Heartbeat, is_stale
from tunelab.sweeps._listing import SweepInfo, close_sweep, list_sweeps, state_of, sweep_exists
from tunelab.sweeps._plan import (
    Plan,
    default_concurrency,
    fit_trials,
    make_plan,
    release_unbegun,
    reserve_name,
)
from tunelab.sweeps._preflight import (
    Prepared,
    load_data,
    load_source,
    model_options,
    prepare,
    train_briefly,
)
from tunelab.sweeps._ranking import TOP_TRIALS, best_trial, is_better, pareto_front, ranked_trials
from tunelab.sweeps._record import GIVE_UP_S, trial_rows
from tunelab.sweeps._recorder import SweepRecorder
from tunelab.sweeps._result import SweepResult
from tunelab.sweeps._resume import Resumption, prepare_resume
from tunelab.sweeps._run import run_sweep
from tunelab.sweeps._state import (
    FINISHED,
    RUN_STATUS,
    Outcome,
    SweepState,
    TrialRecord,
    end_tags,
    trial_outcome,
)
from tunelab.sweeps._stores import DEFAULT_RESULTS_DIR, Stores, results_root

__all__ = [
    "DEFAULT_RESULTS_DIR",
    "FINISHED",
    "GIVE_UP_S",
    "HEARTBEAT_S",
    "RUN_STATUS",
    "STALE_S",
    "TOP_TRIALS",
    "Budget",
    "Divergence",
    "EarlierTrial",
    "Extension",
    "Heartbeat",
    "Outcome",
    "Plan",
    "Prepared",
    "Resumption",
    "Stores",
    "SweepCheck",
    "SweepInfo",
    "SweepRecorder",
    "SweepResult",
    "SweepState",
    "TrialRecord",
    "best_trial",
    "close_sweep",
    "default_concurrency",
    "end_tags",
    "first_divergence",
    "fit_trials",
    "is_better",
    "is_stale",
    "list_sweeps",
    "load_data",
    "load_source",
    "make_plan",
    "model_options",
    "pareto_front",
    "prepare",
    "prepare_check",
    "prepare_extension",
    "prepare_resume",
    "ranked_trials",
    "release_unbegun",
    "rerun_trials",
    "reserve_name",
    "results_root",
    "run_sweep",
    "state_of",
    "sweep_exists",
    "train_briefly",
    "trial_outcome",
    "trial_rows",
]
