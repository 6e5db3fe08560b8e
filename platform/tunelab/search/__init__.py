"""Search: what Optuna needs to propose trials. The spec's space as a define-by-run function,
the sampler, the study's storage, and a warm start from an earlier sweep's study."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunelab.search._samplers import (
    constraint_values,
    make_sampler,
    tpe_settings,
)
from tunelab.search._space import SEED_KEY, DefineByRun, define_by_run, is_active, sampling_order
from tunelab.search._storage import (
    JOURNAL_FILE,
    STUDY_SCHEMA,
    fail_abandoned,
    load_study,
    optuna_journal,
    quiet_optuna,
    release_study,
    reserve_study,
    study_storage,
    study_storage_uri,
    trial_states,
)
from tunelab.search._warm_start import (
    WarmStart,
    contains,
    distribution,
    seed_study,
    source_study,
    study_directions,
)

if TYPE_CHECKING:
    from optuna import Study  # noqa: F401 (for annotations elsewhere)

__all__ = [
    "JOURNAL_FILE",
    "SEED_KEY",
    "STUDY_SCHEMA",
    "DefineByRun",
    "WarmStart",
    "constraint_values",
    "contains",
    "define_by_run",
    "distribution",
    "fail_abandoned",
    "is_active",
    "load_study",
    "make_sampler",
    "optuna_journal",
    "quiet_optuna",
    "release_study",
    "reserve_study",
    "sampling_order",
    "seed_study",
    "source_study",
    "study_directions",
    "study_storage",
    "study_storage_uri",
    "tpe_settings",
    "trial_states",
]
