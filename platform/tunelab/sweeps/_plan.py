"""A sweep's plan, decided before anything starts: its name, where it keeps results and its
study, which cluster and tracking store it uses, and how many trials run at once."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab import env
from tunelab.errors import ResourceProblem, TunelabError
from tunelab.search import JOURNAL_FILE
from tunelab.spec import (
    LoadedSpec,
    SweepSpec,
    hyperband_bracket_size,
    hyperband_reduction_factor,
)
from tunelab.sweeps._stores import SPOOL_FILE, Stores, results_root

if TYPE_CHECKING:
    from tunelab.backend import NodeType
    from tunelab.search import Study

MODEL_TEMPLATE_FOLDER = "model-template"  # the trials' MLflow model, prepared once per run


@dataclass(frozen=True)
class Plan:
    name: str
    stores: Stores
    database_storage: Any  # server mode: the study's storage in the database, else None
    earlier: Study | None  # --warm-start: the earlier sweep's study
    debug: bool = False
    reservation: Reservation | None = None  # a new sweep's name, taken

    def release(self) -> None:
        """The sweep stopped before it began: give back a new sweep's name."""
        if self.reservation is not None:
            self.reservation.release()

    @property
    def folder(self) -> Path:
        return self.stores.folder(self.name)

    @property
    def address(self) -> str | None:
        return self.stores.address

    @property
    def tracking_uri(self) -> str | None:
        return self.stores.tracking_uri

    @property
    def spool_path(self) -> Path:
        return self.folder / SPOOL_FILE

    def study_storage(self) -> Any:
        """The study's storage: the database in server mode, else a journal in the sweep's
        folder (created now: call it once the sweep is sure to start)."""
        if self.database_storage is not None:
            return self.database_storage
        from tunelab.search import optuna_journal

        return optuna_journal(self.folder / JOURNAL_FILE)


def make_plan(
    loaded: LoadedSpec,
    stores: Stores,
    *,
    name: str | None,
    warm_start: str | None,
    debug: bool,
    command: str = "--extend",
) -> Plan:
    """The plan. `name` is an extended or resumed sweep's own (`command` names which, in
    errors); else the sweep is named from its spec and the name reserved. Server mode's
    database and a warm start's source study are checked here, before anything starts."""
    root = stores.results_root
    database_storage = None
    if stores.database_uri:  # server mode: the study lives in the server's database; checked first
        from tunelab.search import study_storage

        database_storage = study_storage(stores.database_uri)
    if name is not None and database_storage is None and not (root / name / JOURNAL_FILE).exists():
        raise TunelabError(f"{command}: no study of sweep {name!r} in {root} (see --results-dir)")
    earlier = None
    if warm_start:
        from tunelab.search import optuna_journal, source_study

        journal = root / warm_start / JOURNAL_FILE
        if database_storage is None and not journal.exists():
            raise TunelabError(f"--warm-start: no sweep named {warm_start!r} in {root}")
        earlier = source_study(loaded.spec, warm_start, database_storage or optuna_journal(journal))
    reservation = None
    if name is None:
        reservation = reserve_name(loaded, root, database_storage)
        name = reservation.name
    return Plan(
        name=name,
        stores=stores,
        database_storage=database_storage,
        earlier=earlier,
        debug=debug,
        reservation=reservation,
    )


@dataclass(frozen=True)
class Reservation:
    """A new sweep's name, taken: its results folder, made where none was (and in server mode
    its study, created in the database), so a second sweep cannot take it too."""

    name: str
    folder: Path
    made_root: bool  # the results folder did not exist before
    database_storage: Any = None

    def release(self) -> None:
        """Give the name back: the sweep stopped before it began (bad input, no store). The
        folder was made by this reservation, so all in it (a study with no trial) goes too."""
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.made_root:
            with contextlib.suppress(OSError):
                self.folder.parent.rmdir()  # only while empty
        if self.database_storage is not None:
            from tunelab.search import release_study

            release_study(self.name, self.database_storage)


def reserve_name(loaded: LoadedSpec, root: Path, database_storage: Any = None) -> Reservation:
    """The spec's name (or file name) and a timestamp, unless --name/name: fixes it exactly.
    Taken atomically: two sweeps started in the same second get NAME and NAME-2; the same
    exact name twice, the second is refused (in server mode, on any machine)."""
    spec = loaded.spec
    exact = bool(spec.name and loaded.overridden(("name",)))
    if exact:
        base = str(spec.name)
    else:
        stem = spec.name or Path(loaded.source).stem.replace("_", "-")
        base = f"{stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    made_root = not root.exists()
    for attempt in range(1, 101):
        name = base if attempt == 1 else f"{base}-{attempt}"
        taken = False
        try:
            (root / name).mkdir(parents=True)
        except FileExistsError:
            taken = True
        if not taken and database_storage is not None:
            from tunelab.search import reserve_study

            if not reserve_study(name, database_storage, spec):
                (root / name).rmdir()
                taken = True
        if not taken:
            return Reservation(name, root / name, made_root, database_storage)
        if exact:
            where = "the database" if database_storage is not None else str(root)
            raise TunelabError(
                f"a sweep named '{name}' already exists in {where}; choose another --name"
            )
    raise TunelabError(f"no free name for a sweep like '{base}' in {root}")


def release_unbegun(name: str, results_dir: str | Path | None, database_uri: str | None) -> bool:
    """Give back the name of a sweep that was reserved and never began: its driver stopped
    after taking the name and before recording the sweep (a submitter killed at start), so its
    folder (and in server mode its study) holds no trial. Whether it released one. For a name
    the tracking store has no sweep of: run again, the same command takes it anew."""
    from tunelab.search import load_study, optuna_journal, study_storage

    database_uri = database_uri or env.TUNELAB_DATABASE_URI.get()
    folder = results_root(results_dir) / name
    database = study_storage(database_uri) if database_uri else None
    if database is None and not folder.is_dir():
        return False
    journal = folder / JOURNAL_FILE
    storage = database or (optuna_journal(journal) if journal.exists() else None)
    if storage is not None:
        try:
            if load_study(name, storage).get_trials(deepcopy=False):
                return False
        except KeyError:  # no study of that name
            if database is not None:
                return False  # in server mode the study is the reservation: none taken
    Reservation(name, folder, made_root=False, database_storage=database).release()
    return True


MAX_LAUNCHABLE = 64  # nodes of one type counted, where the autoscaler sets no limit


def concurrency(
    loaded: LoadedSpec, nodes: list[tuple[float, float]], node_types: Sequence[NodeType] = ()
) -> int:
    """Trials at once: the spec's, else as many as the cluster can hold: its nodes, given as
    (CPUs, GPUs), and the nodes its autoscaler can add (`node_types`). A trial that fits no
    node, live or launchable, is an error located at its `resources` key."""
    spec = loaded.spec
    launchable = [
        (kind.cpu, kind.gpu)
        for kind in node_types
        for _ in range(kind.max_count if kind.max_count >= 0 else MAX_LAUNCHABLE)
    ]
    try:
        fits = fit_trials(spec, [*nodes, *launchable])
    except ResourceProblem as exc:
        if node_types:
            largest = max(node_types, key=lambda kind: (kind.gpu, kind.cpu))
            message = (
                f"no node, live or launchable, can hold one trial ({spec.resources.cpu:g} CPU, "
                f"{spec.resources.gpu:g} GPU per worker); the largest node type the autoscaler "
                f"can add, {largest.name}, has {largest.cpu:g} CPU and {largest.gpu:g} GPU"
            )
            raise loaded.locate(exc.path, message) from None
        raise loaded.locate(exc.path, str(exc)) from None
    return spec.budget.concurrency or default_concurrency(spec, fits)


def fit_trials(spec: SweepSpec, nodes: list[tuple[float, float]]) -> int:
    """How many trials fit at once on nodes given as (CPUs, GPUs); raises if not even one."""
    want_cpu, want_gpu = spec.resources.cpu, spec.resources.gpu
    total_gpu = sum(gpu for _, gpu in nodes)
    if want_gpu > 0 and total_gpu == 0:
        raise ResourceProblem(
            ("resources", "gpu"), f"{want_gpu:g} GPU per trial requested, but there is no GPU"
        )
    workers = spec.resources.workers
    if workers > 1:
        return _fit_parallel_trials(workers, want_cpu, want_gpu, nodes)
    if not any(cpu >= want_cpu and gpu >= want_gpu for cpu, gpu in nodes):
        biggest = max((cpu for cpu, _ in nodes), default=0.0)
        key = "cpu" if want_cpu > biggest else "gpu"
        raise ResourceProblem(
            ("resources", key),
            f"no node can hold one trial ({want_cpu:g} CPU, {want_gpu:g} GPU); the largest node "
            f"has {biggest:g} CPU and there are {total_gpu:g} GPUs in all",
        )
    slots = sum(int(cpu // want_cpu) for cpu, _ in nodes)
    if want_gpu > 0:
        slots = min(slots, sum(int(gpu // want_gpu) for _, gpu in nodes))
    return max(1, slots)


def _fit_parallel_trials(
    workers: int, want_cpu: float, want_gpu: float, nodes: list[tuple[float, float]]
) -> int:
    """Data-parallel trials at once: each worker goes wherever it fits (Ray Train packs them
    where it can); the trial's own process holds no CPU (see backend/_run.py)."""
    room = sum(
        int(cpu // want_cpu) if want_gpu == 0 else min(int(cpu // want_cpu), int(gpu // want_gpu))
        for cpu, gpu in nodes
    )
    if room < workers:
        raise ResourceProblem(
            ("resources", "workers"),
            f"the cluster cannot hold one trial's {workers} workers of {want_cpu:g} CPU and "
            f"{want_gpu:g} GPU each: it has room for {room}",
        )
    return room // workers


def default_concurrency(spec: SweepSpec, fits: int) -> int:
    """As many trials at once as the resources hold; for hyperband, a whole bracket (the rest
    wait for resources), since it halves a bracket only once all its trials have started."""
    if spec.scheduler.type == "hyperband":
        return max(
            fits, hyperband_bracket_size(spec.budget.max_epochs, hyperband_reduction_factor(spec))
        )
    return fits


def local_resources(spec: SweepSpec) -> tuple[float, float]:
    """(CPUs, GPUs) the in-process Ray will see on this machine."""
    gpus = 0.0
    if spec.resources.gpu > 0:  # torch's import is paid only when a GPU is asked for
        import torch

        gpus = float(torch.cuda.device_count())
    return float(os.cpu_count() or 1), gpus
