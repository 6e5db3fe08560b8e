"""`tunelab` command line. Heavy libraries are imported inside commands so `--help` is instant."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from tunelab import __version__
from tunelab.errors import TunelabError

EXIT_USAGE = 2  # bad input: spec, flags, names; nothing was started
EXIT_NO_RESULT = 1  # the sweep ran but no trial finished
EXIT_INTERRUPTED = 130


def _int(text: str) -> int:
    """Any integer: the spec's own checks give the range error, naming the flag."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunelab",
        description="Hyperparameter sweeps for PyTorch: Optuna proposes, Ray Tune runs, MLflow records.",
    )
    parser.add_argument("--version", action="version", version=f"tunelab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sweep = commands.add_parser("sweep", help="run a sweep from a spec file")
    sweep.add_argument(
        "spec", metavar="SPEC", help="sweep spec (YAML), e.g. search_spaces/cnn_digits.yaml"
    )
    sweep.add_argument("--trials", type=_int, help="overrides budget.trials")
    sweep.add_argument("--max-epochs", type=_int, help="overrides budget.max_epochs")
    sweep.add_argument("--concurrency", type=_int, help="overrides budget.concurrency")
    sweep.add_argument("--seed", type=_int, help="overrides seed")
    sweep.add_argument(
        "--name", help="the sweep's exact name (default: the spec's name and a timestamp)"
    )
    sweep.add_argument(
        "--address", help="Ray cluster to run on (default: $RAY_ADDRESS, else Ray in-process)"
    )
    sweep.add_argument(
        "--tracking-uri",
        help="MLflow tracking store (default: $MLFLOW_TRACKING_URI, else MLflow's default in this folder)",
    )
    sweep.add_argument(
        "--results-dir",
        help="checkpoints and the Optuna study (default: $TUNELAB_RESULTS_DIR or ./tunelab_results)",
    )
    sweep.add_argument(
        "--database-uri",
        help="server mode: PostgreSQL for the Optuna study (default: $TUNELAB_DATABASE_URI, "
        "else a file beside the results)",
    )
    sweep.add_argument(
        "--json", action="store_true", help="end with one JSON line describing the sweep"
    )
    sweep.add_argument("--debug", action="store_true", help="show Ray's logs and full tracebacks")

    ui = commands.add_parser("ui", help="start the MLflow UI on the same tracking store")
    ui.add_argument(
        "--tracking-uri", help="default: $MLFLOW_TRACKING_URI, else MLflow's default here"
    )
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)

    server = commands.add_parser(
        "server", help="start the tracking server on PostgreSQL (the set-up a cluster uses)"
    )
    server.add_argument(
        "--host", help="address to listen on (default: $TUNELAB_SERVER_HOST or 127.0.0.1)"
    )
    server.add_argument("--port", type=int, help="default: $TUNELAB_SERVER_PORT or 5000")
    server.add_argument(
        "--database-uri",
        help="postgresql://USER:PASSWORD@HOST:PORT/DB (default: $TUNELAB_DATABASE_URI)",
    )
    server.add_argument(
        "--artifacts-destination",
        help="folder or s3:// URI for artifacts (default: $TUNELAB_ARTIFACTS_DESTINATION or ./tunelab_artifacts)",
    )
    server.add_argument("--workers", type=int, default=2, help="server processes (default 2)")

    report = commands.add_parser(
        "report",
        help="explain a trained model with Captum; the report is logged to the model's run",
        description="Explain a trained model: attributions chosen by its family, checked for "
        "faithfulness, written as HTML, JSON and PNG under --out and logged to the model's run.",
    )
    report.add_argument(
        "target",
        metavar="TARGET",
        help="a trial's MLflow run id, a sweep name (its best trial), or models:/NAME@ALIAS",
    )
    report.add_argument(
        "--top", type=_int, help="with a sweep name: explain its K best trials and compare them"
    )
    report.add_argument(
        "--methods",
        help="comma-separated, overriding the family's defaults: integrated_gradients, "
        "saliency, occlusion, grad_cam, feature_ablation",
    )
    report.add_argument(
        "--examples", type=_int, default=256, help="validation examples explained (default 256)"
    )
    report.add_argument(
        "--out", default="tunelab_reports", help="output folder (default ./tunelab_reports)"
    )
    report.add_argument(
        "--tracking-uri", help="default: $MLFLOW_TRACKING_URI, else MLflow's default here"
    )
    report.add_argument(
        "--device",
        default="auto",
        help="auto (the GPU when there is one), cpu or cuda",
    )
    report.add_argument(
        "--no-log", action="store_true", help="write the report locally, do not log it to MLflow"
    )
    report.add_argument("--debug", action="store_true", help="full tracebacks")

    commands.add_parser("list", help="list the models, datasets and ready specs")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    try:
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "ui":
            return _ui(args)
        if args.command == "list":
            return _list()
        if args.command == "server":
            return _server(args)
        if args.command == "report":
            return _report(args)
    except TunelabError as exc:
        if debug:
            raise
        print(f"tunelab: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tunelab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_USAGE


def _sweep(args: argparse.Namespace) -> int:
    from tunelab.spec import load_spec

    loaded = load_spec(
        args.spec,
        {
            "--trials": args.trials,
            "--max-epochs": args.max_epochs,
            "--concurrency": args.concurrency,
            "--seed": args.seed,
            "--name": args.name,
        },
    )
    from tunelab.sweep import run_sweep

    report = run_sweep(
        loaded,
        address=args.address,
        tracking_uri=args.tracking_uri,
        results_dir=args.results_dir,
        database_uri=args.database_uri,
        live=not args.json,
        debug=args.debug,
    )
    out = sys.stdout
    counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in report.counts.items() if n)
    print(f"sweep {report.sweep}: {counts or 'no trials'} in {report.wall_s:.1f} s", file=out)
    if report.best is not None:
        print(
            f"best: {report.best['trial']} {loaded.spec.metric}={report.best['metric']:.4f}",
            file=out,
        )
        print(f"  config: {json.dumps(report.best['config'], sort_keys=True)}", file=out)
    else:
        print("best: none (no trial finished)", file=out)
    print(f"parent run: {report.parent_run_id} (experiment '{report.experiment}')", file=out)
    ui = f"{_invoked_as()} ui"
    if args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"):
        ui += f" --tracking-uri {report.tracking_uri}"
    if report.tracking_uri.startswith(("http://", "https://")):
        base = report.tracking_uri.rstrip("/")
        print(
            f"browse: {base}/#/experiments/{report.experiment_id}/runs/{report.parent_run_id}",
            file=out,
        )
    else:
        print(
            f"browse: run `{ui}`, then open "
            f"http://127.0.0.1:5000/#/experiments/{report.experiment_id}/runs/{report.parent_run_id}",
            file=out,
        )
    if report.pending_writes is not None:
        kept = report.pending_writes
        dropped = (
            f"; {kept.dropped_points} points dropped (spool full)" if kept.dropped_points else ""
        )
        print(
            f"warning: the tracking store stayed unreachable: {kept.writes} writes "
            f"({kept.points} metric points) are still pending, kept in {kept.path}{dropped}",
            file=sys.stderr,
        )
    if report.failed_writes:
        print(
            f"warning: {len(report.failed_writes)} tracking writes failed: {report.failed_writes[0]}",
            file=out,
        )
    if args.json:
        print(json.dumps(report.as_json(), sort_keys=True), file=out)
    if report.interrupted:
        return EXIT_INTERRUPTED
    return 0 if report.best is not None else EXIT_NO_RESULT


def _report(args: argparse.Namespace) -> int:
    from tunelab.report import make_report

    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    outcome = make_report(
        args.target,
        top=args.top,
        methods=methods,
        examples=args.examples,
        out_dir=args.out,
        tracking_uri=args.tracking_uri,
        device=args.device,
        log=not args.no_log,
        progress=lambda line: print(line, file=sys.stderr),
    )
    for written in outcome.reports:
        verdict = "passed" if written.sanity_passed else "FAILED"
        print(
            f"report: {written.folder / 'report.html'} ({written.label}, {written.seconds:.1f} s)"
        )
        print(f"  sanity checks {verdict}")
        for flag in written.flags:
            print(f"  flagged: {flag}")
        if written.logged:
            print(f"  logged to run {written.run_id} under report/")
    if outcome.comparison is not None:
        print(f"comparison: {outcome.comparison / 'comparison.html'}")
    return 0


def _invoked_as() -> str:
    """How the user started tunelab (`tunelab`, or `.venv/bin/tunelab` from `make demo`)."""
    program = sys.argv[0] if sys.argv and sys.argv[0] else "tunelab"
    return program if os.path.basename(program) == "tunelab" else "tunelab"


def _ui(args: argparse.Namespace) -> int:
    from tunelab import env

    uri = args.tracking_uri or env.MLFLOW_TRACKING_URI.get() or _mlflow_default_uri()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    print(f"MLflow UI on http://{args.host}:{args.port} for {uri}", file=sys.stderr)
    os.execv(sys.executable, command)
    return 0  # not reached


def _server(args: argparse.Namespace) -> int:
    from tunelab import env
    from tunelab.server import (
        DEFAULT_ARTIFACTS,
        DEFAULT_HOST,
        DEFAULT_PORT,
        ServerConfig,
        check_database,
        redact,
    )

    database_uri = args.database_uri or env.TUNELAB_DATABASE_URI.get()
    if not database_uri:
        raise TunelabError("--database-uri (or $TUNELAB_DATABASE_URI) is required")
    port = args.port or int(env.TUNELAB_SERVER_PORT.get() or DEFAULT_PORT)
    config = ServerConfig(
        database_uri=database_uri,
        artifacts_destination=args.artifacts_destination
        or env.TUNELAB_ARTIFACTS_DESTINATION.get()
        or DEFAULT_ARTIFACTS,
        host=args.host or env.TUNELAB_SERVER_HOST.get() or DEFAULT_HOST,
        port=port,
        workers=args.workers,
    )
    check_database(config.database_uri)
    print(
        f"tracking server on http://{config.host}:{config.port} for {redact(database_uri)}, "
        f"artifacts in {config.artifacts_destination}",
        file=sys.stderr,
    )
    command = config.command()
    os.execv(command[0], command)
    return 0  # not reached


def _mlflow_default_uri() -> str:
    import mlflow

    return mlflow.get_tracking_uri()


def _list() -> int:
    from pathlib import Path

    from tunelab.data import datasets
    from tunelab.errors import NotFoundError
    from tunelab.models import architectures

    for title, registry in (("models", architectures), ("datasets", datasets)):
        print(f"{title}:")
        for name in registry.names():  # installed plugins' entries included
            try:
                description = registry.get(name).description  # type: ignore[attr-defined]
            except NotFoundError as exc:
                description = f"(cannot be loaded: {exc})"
            print(f"  {name:<14} {description}")
    specs = sorted(Path("search_spaces").glob("*.yaml"))
    if specs:
        print("specs (search_spaces/):")
        for path in specs:
            first = path.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
            print(f"  {path.name:<24} {first}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
