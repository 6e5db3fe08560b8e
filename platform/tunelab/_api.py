"""tunelab's Python API, which the command line is built on: running a sweep from a spec in any
form, and the models and datasets a spec can name. (Reports, promotion and models are the
`reports` and `promotion` packages' own functions, offered by `tunelab` as they are.) Bad input
raises a TunelabError subclass with the one line the command prints; heavy libraries are
imported when a function is called."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.errors import PluginError, TunelabError

if TYPE_CHECKING:
    from tunelab.data import Dataset
    from tunelab.models import Architecture
    from tunelab.spec import LoadedSpec, SweepSpec
    from tunelab.sweeps import Stores, SweepCheck, SweepResult


def sweep(
    spec: str | Path | Mapping[str, Any] | SweepSpec | None = None,
    *,
    trials: int | None = None,
    max_epochs: int | None = None,
    concurrency: int | None = None,
    seed: int | None = None,
    max_retries: int | None = None,
    name: str | None = None,
    warm_start: str | None = None,
    extend: str | None = None,
    address: str | None = None,
    tracking_uri: str | None = None,
    results_dir: str | None = None,
    database_uri: str | None = None,
    metrics_port: int | None = None,
    live: bool = True,
    debug: bool = False,
    trust_code: bool = False,
    resume: bool = False,
    overrides: Mapping[str, Any] | None = None,
) -> SweepResult | None:
    """Run a sweep and return what it did. `spec` is a spec file, a mapping of the same keys, or
    a `SweepSpec`. `trials`, `max_epochs`, `concurrency`, `seed`, `max_retries` and `name`
    override the spec's keys of those names (`trials` is `budget.trials`); `overrides` maps
    any spec key, dotted, to a value (`{"budget.max_wall_s": 600}`). An error about an
    override names it as it was given. `extend=SWEEP` adds `trials` trials to a finished sweep, with the
    spec it recorded (whose import paths are imported only with `trust_code`, see
    `plugins.stored_code`). `live` draws the live board on stderr; `metrics_port`: where Ray started in this process
    serves the sweep's metrics and its own for Prometheus (see dashboards/). `resume` with a
    `name`: start the sweep if the store has none of that name, go on with it if its driver
    stopped (see `resume`), return None if it has finished: the one command a Kubernetes Job,
    a preempted head or a CI retry can run again and again.

    (Long for its parameters and this text: the body routes to a new, extended or resumed
    sweep.)"""
    from tunelab.plugins import stored_code
    from tunelab.spec import override_path
    from tunelab.sweeps import Stores, run_sweep

    given = {
        "trials": trials,
        "max_epochs": max_epochs,
        "concurrency": concurrency,
        "seed": seed,
        "max_retries": max_retries,
        "name": name,
        **(overrides or {}),
    }
    name = _override(given, ("name",))
    stores = Stores.resolve(
        address=address,
        tracking_uri=tracking_uri,
        results_dir=results_dir,
        database_uri=database_uri,
        metrics_port=metrics_port,
    )
    if resume:
        if extend is not None or name is None:
            raise TunelabError(
                "--resume needs --name NAME (and no --extend): the sweep to "
                "start, or to go on with where it exists"
            )
        return _start_or_resume(
            spec,
            given,
            str(name),
            stores,
            warm_start=warm_start,
            trust_code=trust_code,
            live=live,
            debug=debug,
        )

    with stored_code(refused=extend is not None and not trust_code):
        if extend is not None:
            kept = (("budget", "trials"), ("budget", "concurrency"))
            loaded, extension = _extension(
                extend,
                stores,
                trials=_override(given, ("budget", "trials")),
                concurrency=_override(given, ("budget", "concurrency")),
                given={
                    "SPEC": spec,
                    **{k: v for k, v in given.items() if override_path(k) not in kept},
                    "--warm-start": warm_start,
                },
            )
        else:
            loaded, extension = validate(spec, given), None
        return run_sweep(
            loaded, stores=stores, warm_start=warm_start, extend=extension, live=live, debug=debug
        )


def resume(
    sweep_name: str,
    *,
    address: str | None = None,
    tracking_uri: str | None = None,
    results_dir: str | None = None,
    database_uri: str | None = None,
    metrics_port: int | None = None,
    live: bool = True,
    debug: bool = False,
    trust_code: bool = False,
    given: LoadedSpec | None = None,
) -> SweepResult | None:
    """Continue a sweep whose driver stopped (SIGKILL, SIGTERM, a lost machine, Ctrl-C) from
    what it recorded, in its own runs and study; None when it had finished. A sweep whose
    heartbeat is fresh is waited on until it goes stale, and refused if it is renewed (it runs
    elsewhere). The recorded spec's import paths are imported only with `trust_code` (see
    `plugins.stored_code`). `given`: the spec the caller expects it to have run (refused if
    it ran another)."""
    from tunelab.sweeps import Stores

    stores = Stores.resolve(
        address=address,
        tracking_uri=tracking_uri,
        results_dir=results_dir,
        database_uri=database_uri,
        metrics_port=metrics_port,
    )
    return _resume(sweep_name, stores, live=live, debug=debug, trust_code=trust_code, given=given)


def _resume(
    sweep_name: str,
    stores: Stores,
    *,
    live: bool,
    debug: bool,
    trust_code: bool,
    given: LoadedSpec | None,
) -> SweepResult | None:
    from tunelab.plugins import stored_code
    from tunelab.sweeps import prepare_resume, run_sweep

    with stored_code(refused=not trust_code):
        prepared = prepare_resume(sweep_name, stores)
        if prepared is None:
            return None
        loaded, resumption = prepared
        differs = None if given is None else _differing_key(given.spec, loaded.spec)
        if differs is not None:
            raise TunelabError(
                f"sweep {sweep_name!r} exists and ran another spec ({differs} differs): choose "
                f"another --name, or `tunelab resume {sweep_name}` to go on with its own"
            )
        return run_sweep(loaded, stores=stores, live=live, debug=debug, resume=resumption)


def check_sweep(
    sweep_name: str,
    *,
    name: str | None = None,
    address: str | None = None,
    tracking_uri: str | None = None,
    results_dir: str | None = None,
    database_uri: str | None = None,
    metrics_port: int | None = None,
    live: bool = True,
    debug: bool = False,
    trust_code: bool = False,
) -> SweepCheck:
    """Run a finished sweep's recorded spec again, as a new sweep (`name`, else its name and a
    timestamp), warm-started as it was, and compare the two trial by trial: `divergence` is
    the first difference (a config, where a trial stopped, a value, the best), None where the
    rerun is the same sweep. The recorded spec's import paths are imported only with
    `trust_code` (see `plugins.stored_code`)."""
    from tunelab.plugins import stored_code
    from tunelab.sweeps import (
        Stores,
        SweepCheck,
        first_divergence,
        prepare_check,
        rerun_trials,
        run_sweep,
    )

    stores = Stores.resolve(
        address=address,
        tracking_uri=tracking_uri,
        results_dir=results_dir,
        database_uri=database_uri,
        metrics_port=metrics_port,
    )
    with stored_code(refused=not trust_code):
        checked = prepare_check(sweep_name, name=name, tracking_uri=stores.tracking_uri)
        result = run_sweep(
            checked.loaded,
            stores=stores,
            warm_start=checked.warm_start,
            live=live,
            debug=debug,
        )
    divergence = None
    if not (result.interrupted or result.terminated):
        divergence = first_divergence(
            rerun_trials(result.tracking_uri, result.sweep, checked.loaded),
            checked.trials,
            result.best["trial"] if result.best else None,
            checked.best_trial,
        )
    return SweepCheck(sweep_name, result, len(checked.trials), divergence, checked.caveat)


def _override(given: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value overrides give a spec key, whichever way it was written; None if none does."""
    from tunelab.spec import overriding

    key = overriding(given, path)
    return given[key] if key is not None else None


def _start_or_resume(
    spec: str | Path | Mapping[str, Any] | SweepSpec | None,
    overrides: Mapping[str, Any],
    name: str,
    stores: Stores,
    *,
    warm_start: str | None,
    trust_code: bool,
    live: bool,
    debug: bool,
) -> SweepResult | None:
    """`tunelab sweep SPEC --name NAME --resume`: a new sweep, or the same one going on."""
    from tunelab.sweeps import release_unbegun, run_sweep, sweep_exists

    given = validate(spec, overrides)
    if not sweep_exists(name, tracking_uri=stores.tracking_uri):
        # A driver killed after taking the name and before recording the sweep left the name
        # taken by a sweep that never began: this run takes it anew.
        if release_unbegun(name, stores.results_root, stores.database_uri):
            print(
                f"tunelab: sweep {name!r} took its name and stopped before it began: "
                "starting it again",
                file=sys.stderr,
            )
        return run_sweep(given, stores=stores, warm_start=warm_start, live=live, debug=debug)
    return _resume(name, stores, live=live, debug=debug, trust_code=trust_code, given=given)


def _differing_key(given: SweepSpec, stored: SweepSpec) -> str | None:
    """The first top-level key where two specs differ, or None where they are the same."""
    from tunelab.spec import spec_to_mapping

    mine, theirs = spec_to_mapping(given), spec_to_mapping(stored)
    return next((k for k in {**mine, **theirs} if mine.get(k) != theirs.get(k)), None)


def validate(
    spec: str | Path | Mapping[str, Any] | SweepSpec | None,
    overrides: Mapping[str, Any] | None = None,
) -> LoadedSpec:
    """A spec file, mapping or SweepSpec, validated and checked as a sweep checks it before
    anything starts; `overrides` maps spec keys (dotted, `budget.trials`; a flag, `--trials`,
    or a keyword of `sweep`, `trials`) to values."""
    from tunelab.spec import (
        SweepSpec,
        check_spec,
        load_spec,
        spec_from_mapping,
        spec_to_mapping,
    )

    if spec is None:
        raise TunelabError("give a SPEC file, or --extend SWEEP --trials N")
    if isinstance(spec, str | Path):
        return load_spec(spec, overrides)
    if isinstance(spec, SweepSpec):
        spec = spec_to_mapping(spec)
    if not isinstance(spec, Mapping):
        raise TunelabError(f"a spec is a file, a mapping or a SweepSpec, got {type(spec).__name__}")
    loaded = spec_from_mapping(spec, "spec", overrides)
    check_spec(loaded)
    return loaded


def _extension(
    sweep_name: str,
    stores: Stores,
    *,
    trials: int | None,
    concurrency: int | None,
    given: Mapping[str, Any],
) -> Any:
    from tunelab.sweeps import prepare_extension

    extra = [flag for flag, value in given.items() if value is not None]
    if extra:
        raise TunelabError(f"--extend takes the sweep's own spec: drop {', '.join(extra)}")
    if trials is None:
        raise TunelabError("--extend needs --trials N: how many trials to add")
    return prepare_extension(sweep_name, stores, trials=trials, concurrency=concurrency)


def list_models() -> dict[str, str]:
    """Every model a spec can name (built in, registered, or installed), with a line on each."""
    from tunelab.models import architectures

    return _describe(architectures)


def list_datasets() -> dict[str, str]:
    """Every dataset a spec can name (built in, registered, or installed), with a line on each."""
    from tunelab.data import datasets

    return _describe(datasets)


def register_model(name: str, builder: Any, *, override: bool = False) -> Architecture:
    """Make `name` a model a spec can name, in this process: `builder(hparams, info)` returns a
    `torch.nn.Module` (declare tunable hyperparameters and defaults in its `hyperparameters`
    attribute), or give an `Architecture`. Trials receive it from the driver, so it need not be
    importable on the workers."""
    from tunelab.models import architectures, as_architecture

    try:
        return architectures.register(name, as_architecture(name, builder), override=override)
    except TypeError as exc:
        raise PluginError(f"model '{name}': {exc}") from None


def register_dataset(name: str, loader: Any, *, override: bool = False) -> Dataset:
    """Make `name` a dataset a spec can name, in this process: `loader(**options)` returns
    `(x, y)` arrays or a `DataSplits` (loaded once, on the driver)."""
    from tunelab.data import as_dataset, datasets

    try:
        return datasets.register(name, as_dataset(name, loader), override=override)
    except TypeError as exc:
        raise PluginError(f"dataset '{name}': {exc}") from None


def _describe(registry: Any) -> dict[str, str]:
    from tunelab.errors import NotFoundError

    out = {}
    for name in registry.names():  # installed plugins' entries included
        try:
            out[name] = registry.get(name).description
        except NotFoundError as exc:
            out[name] = f"(cannot be loaded: {exc})"
    return out
