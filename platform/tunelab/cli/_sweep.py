"""`tunelab sweep`, `resume` and `sweeps`: run a sweep or go on with one, print what it did; and
every sweep in the store."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

import tunelab
from tunelab import env
from tunelab.cli._common import (
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    EXIT_NO_RESULT,
    EXIT_TERMINATED,
    STORES,
    add_trust_code,
    integer,
    invoked_as,
    shared,
    stores,
)

if TYPE_CHECKING:
    from tunelab.sweeps import SweepResult


def add_commands(commands: Any) -> None:
    sweep = commands.add_parser(
        "sweep", help="run a sweep from a spec file", parents=[shared(*STORES, "--json", "--debug")]
    )
    sweep.add_argument(
        "spec",
        metavar="SPEC",
        nargs="?",
        help="sweep spec (YAML), e.g. search_spaces/cnn_digits.yaml (not with --extend)",
    )
    sweep.add_argument(
        "--extend",
        metavar="SWEEP",
        help="add --trials N trials to a finished sweep: same parent run, same study",
    )
    sweep.add_argument(
        "--check-against",
        metavar="SWEEP",
        help="run a finished sweep's recorded spec again as a new sweep and report where the "
        "two first differ (a config, where a trial stopped, a value, the best): exit 0 if "
        "they are the same sweep, 1 if not",
    )
    sweep.add_argument("--trials", type=integer, help="overrides budget.trials")
    sweep.add_argument("--max-epochs", type=integer, help="overrides budget.max_epochs")
    sweep.add_argument("--concurrency", type=integer, help="overrides budget.concurrency")
    sweep.add_argument("--seed", type=integer, help="overrides seed")
    sweep.add_argument(
        "--max-retries",
        type=integer,
        help="overrides failure.max_retries: restarts of a trial whose worker or node died",
    )
    sweep.add_argument(
        "--name", help="the sweep's exact name (default: the spec's name and a timestamp)"
    )
    sweep.add_argument(
        "--resume",
        action="store_true",
        help="with --name: start the sweep if there is none of that name, go on with it if its "
        "driver stopped (waiting for a just-killed driver's heartbeat to go stale), exit 0 if "
        "it has finished; the command a Kubernetes Job or a CI retry runs again as it is",
    )
    sweep.add_argument(
        "--warm-start",
        metavar="SWEEP",
        help="seed the search with an earlier sweep's finished trials (same results folder, or "
        "the same database in server mode)",
    )
    add_trust_code(sweep, "the extended sweep's stored spec")
    sweep.set_defaults(run=run)  # tunelab.sweep(extend=...) guards the stored spec itself

    resume = commands.add_parser(
        "resume",
        parents=[shared(*STORES, "--json", "--debug")],
        help="continue a sweep whose driver stopped, from where it was",
        description="Continue a sweep whose driver was killed, preempted or interrupted: its "
        "trials that had not ended go on from their checkpoints in their own runs, its study "
        "as it was. Exit status 0 for a sweep that had finished.",
    )
    resume.add_argument("sweep", metavar="SWEEP")
    add_trust_code(resume, "the sweep's stored spec")
    resume.set_defaults(run=run_resume)  # tunelab.resume guards the stored spec itself

    sweeps = commands.add_parser(
        "sweeps",
        parents=[shared("--tracking-uri")],
        help="every sweep in the store, its state and its trials; --close an interrupted one",
    )
    sweeps.add_argument(
        "--close",
        metavar="SWEEP",
        help="end an interrupted sweep's runs (left RUNNING by a lost driver) as KILLED",
    )
    sweeps.add_argument("--reason", help="with --close: kept on the runs it ends")
    sweeps.set_defaults(run=run_sweeps)


def run(args: argparse.Namespace) -> int:
    if args.check_against is not None:
        return run_check(args)
    result = tunelab.sweep(
        args.spec,
        # By flag: an error about a value names the flag it came from.
        overrides={
            "--trials": args.trials,
            "--max-epochs": args.max_epochs,
            "--concurrency": args.concurrency,
            "--seed": args.seed,
            "--max-retries": args.max_retries,
            "--name": args.name,
        },
        warm_start=args.warm_start,
        extend=args.extend,
        **stores(args),
        live=not args.json,
        debug=args.debug,
        trust_code=args.trust_code,
        resume=args.resume,
    )
    return print_result(args, result, args.name)


def run_check(args: argparse.Namespace) -> int:
    """`tunelab sweep --check-against SWEEP`: the rerun as a sweep prints, then the check."""
    given = {
        "SPEC": args.spec,
        "--extend": args.extend,
        "--trials": args.trials,
        "--max-epochs": args.max_epochs,
        "--concurrency": args.concurrency,
        "--seed": args.seed,
        "--max-retries": args.max_retries,
        "--warm-start": args.warm_start,
        "--resume": args.resume or None,
    }
    extra = [flag for flag, value in given.items() if value is not None]
    if extra:
        raise tunelab.TunelabError(
            f"--check-against runs the sweep's own spec as it ran: drop {', '.join(extra)}"
        )
    check = tunelab.check_sweep(
        args.check_against,
        name=args.name,
        **stores(args),
        live=not args.json,
        debug=args.debug,
        trust_code=args.trust_code,
    )
    status = print_result(args, check.result, args.name or "", check=check.as_json())
    if check.caveat is not None:
        print(f"note: {args.check_against}: {check.caveat}", file=sys.stderr)
    print(check.describe(), file=sys.stdout if check.reproduced else sys.stderr)
    if status != 0:
        return status
    return 0 if check.reproduced else EXIT_DIVERGED


def run_resume(args: argparse.Namespace) -> int:
    result = tunelab.resume(
        args.sweep,
        **stores(args),
        live=not args.json,
        debug=args.debug,
        trust_code=args.trust_code,
    )
    return print_result(args, result, args.sweep)


def print_result(
    args: argparse.Namespace,
    result: SweepResult | None,
    name: str = "",
    check: dict[str, Any] | None = None,
) -> int:
    """What a sweep did, as `tunelab sweep` and `tunelab resume` print it; the exit status.
    None: the sweep `name` had finished before (a resume with nothing to do). `check`: what
    --check-against found, in the JSON line."""
    if result is None:
        print(f"sweep {name} is finished: nothing to resume")
        return 0
    out = sys.stdout
    counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in result.counts.items() if n)
    print(f"sweep {result.sweep}: {counts or 'no trials'} in {result.wall_s:.1f} s", file=out)
    if result.interrupted:
        print(
            f"interrupted: `{invoked_as()} resume {result.sweep}` goes on from where it stopped",
            file=sys.stderr,
        )
    if result.stuck:
        print(f"{invoked_as()}: error: {result.stuck}", file=sys.stderr)
    if result.budget_reached:
        print(f"budget: {result.budget_reached} reached; no further trial started", file=out)
    if result.best is not None:
        print(f"best: {result.best['trial']} {result.metric}={result.best['metric']:.4f}", file=out)
        print(f"  config: {json.dumps(result.best['config'], sort_keys=True)}", file=out)
    else:
        print("best: none (no trial finished)", file=out)
    print(f"parent run: {result.parent_run_id} (experiment '{result.experiment}')", file=out)
    ui = f"{invoked_as()} ui"
    if args.tracking_uri or env.MLFLOW_TRACKING_URI.get():
        ui += f" --tracking-uri {result.tracking_uri}"
    from tunelab.tracking import sweep_page

    served = result.tracking_uri.startswith(("http://", "https://"))
    page = sweep_page(
        result.tracking_uri if served else "http://127.0.0.1:5000",
        result.experiment_id,
        result.sweep,
        result.metric,
        result.mode,
        result.view,
    )
    print(f"browse: {page}" if served else f"browse: run `{ui}`, then open {page}", file=out)
    if result.pending_writes is not None:
        kept = result.pending_writes
        dropped = (
            f"; {kept.dropped_points} points dropped (spool full)" if kept.dropped_points else ""
        )
        print(
            f"warning: the tracking store stayed unreachable: {kept.writes} writes "
            f"({kept.points} metric points) are still pending, kept in {kept.path}{dropped}",
            file=sys.stderr,
        )
    if result.failed_writes:
        print(
            f"warning: {len(result.failed_writes)} tracking writes failed: {result.failed_writes[0]}",
            file=out,
        )
    if args.json:
        line = result.as_json() | ({"check": check} if check is not None else {})
        print(json.dumps(line, sort_keys=True), file=out)
    if result.terminated:
        return EXIT_TERMINATED
    if result.interrupted:
        return EXIT_INTERRUPTED
    return 0 if result.best is not None and not result.stuck else EXIT_NO_RESULT


def run_sweeps(args: argparse.Namespace) -> int:
    import time

    if args.close:
        closed = tunelab.close_sweep(args.close, reason=args.reason, tracking_uri=args.tracking_uri)
        if closed is None:
            print(f"sweep {args.close} is finished: nothing to close")
        else:
            print(f"closed sweep {args.close}: it and {closed} open trial run(s) are KILLED")
        return 0
    listed = tunelab.list_sweeps(tracking_uri=args.tracking_uri)
    if not listed:
        print("no sweeps in this store")
        return 0
    width = max(len(s.name) for s in listed)
    for sweep in listed:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(sweep.started_ms / 1000))
        trials = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(sweep.trials.items()))
        print(f"{sweep.name:<{width}}  {sweep.state:<11}  {started}  {trials or 'no trials'}")
    return 0
