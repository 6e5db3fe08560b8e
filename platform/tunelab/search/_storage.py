"""Where a sweep's Optuna study lives, so that it outlives the driver: a journal file beside the
sweep's results on one machine, or the server-mode PostgreSQL database, in a schema of its own
(Optuna and MLflow each keep an `alembic_version` table)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.spec import SweepSpec

if TYPE_CHECKING:
    from optuna import Study

STUDY_SCHEMA = "optuna"
JOURNAL_FILE = "optuna.journal"


def load_study(name: str, storage: Any) -> Study:
    """The study a sweep named `name` keeps in `storage`."""
    import optuna

    return optuna.load_study(study_name=name, storage=storage)


def fail_abandoned(name: str, storage: Any) -> int:
    """Tell FAIL every trial of the study still RUNNING once its sweep's trials have all
    ended: suggestions whose trials were lost with a driver before Ray saved them. Returns how
    many."""
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=name, storage=storage)
    abandoned = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in abandoned:
        study.tell(trial.number, state=TrialState.FAIL)
    return len(abandoned)


def reserve_study(name: str, storage: Any, spec: SweepSpec) -> bool:
    """Create the sweep's study in `storage`; False when a study of that name exists: the
    database says, atomically, which of two sweeps of one name came first."""
    import optuna

    from tunelab.search._warm_start import study_directions

    try:
        optuna.create_study(study_name=name, storage=storage, directions=study_directions(spec))
    except optuna.exceptions.DuplicatedStudyError:
        return False
    return True


def release_study(name: str, storage: Any) -> None:
    """Delete a reserved study that never held a trial (its sweep stopped before it began)."""
    import optuna

    with contextlib.suppress(KeyError):
        if not load_study(name, storage).get_trials(deepcopy=False):
            optuna.delete_study(study_name=name, storage=storage)


def trial_states(name: str, storage: Any) -> dict[int, str]:
    """Each trial of a sweep's study by number: RUNNING, COMPLETE, PRUNED, FAIL or WAITING."""
    return {t.number: t.state.name for t in load_study(name, storage).get_trials(deepcopy=False)}


def quiet_optuna() -> None:
    """Optuna's own INFO lines (a trial finished, ...) are not tunelab's output."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def optuna_journal(path: Path) -> Any:
    """Optuna's journal storage in a file (its folder created if missing)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def study_storage_uri(database_uri: str) -> str:
    """The same database, with Optuna's tables in their own schema."""
    from tunelab.tracking import with_schema

    return with_schema(database_uri, STUDY_SCHEMA)


def study_storage(database_uri: str) -> Any:
    """Optuna's storage in server mode (the schema is created if missing). The password is
    given to the driver, not kept in the URL that Optuna and Ray pickle."""
    import optuna

    from tunelab.tracking import check_database, split_password

    check_database(database_uri, schemas=[STUDY_SCHEMA])
    address, password = split_password(database_uri)
    connect_args = {} if password is None else {"password": password}
    return optuna.storages.RDBStorage(
        study_storage_uri(address),
        engine_kwargs={"pool_pre_ping": True, "connect_args": connect_args},
    )
