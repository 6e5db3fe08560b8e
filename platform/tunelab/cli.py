"""`tunelab` command line. Heavy libraries are imported inside commands so `--help` is instant."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

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
        "--warm-start",
        metavar="SWEEP",
        help="seed the search with an earlier sweep's finished trials (same results folder, or "
        "the same database in server mode)",
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

    tracking_help = "default: $MLFLOW_TRACKING_URI, else MLflow's default here"
    promote = commands.add_parser(
        "promote",
        help="register a sweep's best model and make it the champion if it passes the gates",
        description="Register the sweep's best trial model as a new version (alias challenger), "
        "evaluate it and the champion on the test split, and move the champion alias to it "
        "when the gates pass. Exit status 1 when the promotion is refused.",
    )
    promote.add_argument("sweep", metavar="SWEEP", help="the sweep's name")
    promote.add_argument("--model-name", required=True, help="registered model name")
    promote.add_argument(
        "--margin",
        type=float,
        default=0.0,
        help="how much better than the champion on the test metric (default 0: strictly better)",
    )
    promote.add_argument(
        "--require-reproducible",
        action="store_true",
        help="retrain the trial and require the same metric (to 1e-6 relative)",
    )
    promote.add_argument("--force", action="store_true", help="promote whatever the gates say")
    promote.add_argument("--reason", help="why (required with --force); kept in the registry")
    promote.add_argument("--tracking-uri", help=tracking_help)

    models = commands.add_parser("models", help="a registered model's versions and history")
    models.add_argument("name", metavar="NAME")
    models.add_argument("--tracking-uri", help=tracking_help)

    rollback = commands.add_parser(
        "rollback", help="move the champion alias back to the version it replaced"
    )
    rollback.add_argument("name", metavar="NAME")
    rollback.add_argument("--reason", help="kept in the registry")
    rollback.add_argument("--tracking-uri", help=tracking_help)

    reproduce = commands.add_parser(
        "reproduce",
        help="retrain a trial from its logged config and seed; compare the metric",
        description="Exit status 1 when the metric differs by more than 1e-6 relative.",
    )
    reproduce.add_argument("run_id", metavar="RUN_ID")
    reproduce.add_argument("--tracking-uri", help=tracking_help)

    predict = commands.add_parser("predict", help="predict with a registered model on a file")
    predict.add_argument(
        "model", metavar="MODEL", help="models:/NAME@ALIAS or models:/NAME/VERSION"
    )
    predict.add_argument(
        "file", metavar="FILE", help="CSV (one example per row, header optional) or .npy"
    )
    predict.add_argument("--out", help="write the predictions as CSV here (default: stdout)")
    predict.add_argument("--tracking-uri", help=tracking_help)

    commands.add_parser("list", help="list the models, datasets and ready specs")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    if not debug:  # MLflow's INFO lines (creating a store's tables, ...) are not tunelab's output
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when mlflow is imported
        logging.getLogger("mlflow").setLevel(logging.WARNING)  # if it already was
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
        if args.command == "promote":
            return _promote(args)
        if args.command == "models":
            return _models(args)
        if args.command == "rollback":
            return _rollback(args)
        if args.command == "reproduce":
            return _reproduce(args)
        if args.command == "predict":
            return _predict(args)
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

    extension = None
    if args.extend:
        from tunelab.extend import prepare_extension

        given = [
            flag
            for flag, value in (
                ("SPEC", args.spec),
                ("--max-epochs", args.max_epochs),
                ("--seed", args.seed),
                ("--name", args.name),
                ("--warm-start", args.warm_start),
            )
            if value is not None
        ]
        if given:
            raise TunelabError(f"--extend takes the sweep's own spec: drop {', '.join(given)}")
        if args.trials is None:
            raise TunelabError("--extend needs --trials N: how many trials to add")
        loaded, extension = prepare_extension(
            args.extend,
            trials=args.trials,
            concurrency=args.concurrency,
            tracking_uri=args.tracking_uri,
        )
    elif args.spec is None:
        raise TunelabError("give a SPEC file, or --extend SWEEP --trials N")
    else:
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
        warm_start=args.warm_start,
        extend=extension,
    )
    out = sys.stdout
    counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in report.counts.items() if n)
    print(f"sweep {report.sweep}: {counts or 'no trials'} in {report.wall_s:.1f} s", file=out)
    if report.budget_reached:
        print(f"budget: {report.budget_reached} reached; no further trial started", file=out)
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


def _promote(args: argparse.Namespace) -> int:
    from tunelab.promote import promote

    decision = promote(
        args.sweep,
        args.model_name,
        margin=args.margin,
        require_reproducible=args.require_reproducible,
        force=args.force,
        reason=args.reason,
        tracking_uri=args.tracking_uri,
        progress=lambda line: print(line, file=sys.stderr),
    )
    for gate in decision.gates:
        verdict = {True: "pass", False: "FAIL", None: "n/a"}[gate.passed]
        print(f"  {gate.name:<17} {verdict:<4}  {gate.detail}")
    name, version = decision.model, decision.version
    if decision.action == "promote":
        print(
            f"promoted: {name} version {version} is the champion (was {decision.champion_before})"
        )
    elif decision.action == "force":
        failed = ", ".join(g.name for g in decision.failed_gates)
        print(f"forced: {name} version {version} is the champion despite {failed}; reason kept")
    else:
        failed = ", ".join(g.name for g in decision.failed_gates)
        print(
            f"refused ({failed}): {name} version {version} stays the challenger; "
            f"the champion is still version {decision.champion_before}"
        )
    return 0 if decision.promoted else EXIT_NO_RESULT


def _models(args: argparse.Namespace) -> int:
    from tunelab.tracking import _lookup as lookup
    from tunelab.tracking import _registry as registry

    client = lookup.client(args.tracking_uri)
    events = registry.history(client, args.name)
    print(f"{args.name}:")
    aliases_of: dict[str, list[str]] = {}
    for alias, version_number in registry.aliases(client, args.name).items():
        aliases_of.setdefault(version_number, []).append(alias)
    for version in registry.versions(client, args.name):
        names = sorted(aliases_of.get(str(version.version), []))
        aliases = f" [{', '.join(names)}]" if names else ""
        tags = version.tags
        print(
            f"  version {version.version}{aliases}: {tags.get('tunelab.trial', '?')} of sweep "
            f"{tags.get('tunelab.sweep', '?')}, {tags.get('tunelab.decision', 'registered')}"
        )
    print("history:")
    for number, event in enumerate(events, start=1):
        extra = f" reason: {event['reason']}" if event.get("reason") else ""
        failed = [n for n, g in event.get("gates", {}).items() if g.get("passed") is False]
        gates = f" failed: {', '.join(failed)}" if failed else ""
        print(
            f"  {number:>3}. {event['time']} {event['user']}: {event['action']} version "
            f"{event['version']}; champion {event['champion_before']} -> "
            f"{event['champion_after']}{gates}{extra}"
        )
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from tunelab.promote import rollback

    event = rollback(args.name, reason=args.reason, tracking_uri=args.tracking_uri)
    print(
        f"rolled back: {args.name} champion is version {event['champion_after']} "
        f"(was {event['champion_before']})"
    )
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from tunelab.reproduce import REPRODUCIBLE_RTOL, reproduce

    result = reproduce(args.run_id, tracking_uri=args.tracking_uri)
    verdict = "reproducible" if result.reproducible else "NOT reproducible"
    print(
        f"{result.trial} (run {result.run_id}), {result.epochs} epochs on {result.threads} "
        f"CPU thread(s): {result.metric} {result.reproduced:.9g} retrained vs "
        f"{result.logged:.9g} logged, relative difference {result.relative_difference:.2e} "
        f"(tolerance {REPRODUCIBLE_RTOL:g}): {verdict}"
    )
    return 0 if result.reproducible else EXIT_NO_RESULT


def _predict(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    import numpy as np

    from tunelab.promote import verified_checkpoint
    from tunelab.tracking import _lookup as lookup
    from tunelab.tracking._torch_model import load_model, predict

    inputs = _read_inputs(args.file)
    client = lookup.client(args.tracking_uri)
    with tempfile.TemporaryDirectory(prefix="tunelab-predict-") as folder:
        loaded = load_model(verified_checkpoint(client, args.model, Path(folder)))
    shape = loaded.info.input_shape
    if loaded.trainer != "gan" and inputs[0].size != int(np.prod(shape)):
        raise TunelabError(
            f"{args.file}: each example has {inputs[0].size} values, the model takes "
            f"{int(np.prod(shape))} (shaped {shape})"
        )
    out = predict(loaded, inputs).reshape(len(inputs), -1)
    if loaded.info.task == "classification" and loaded.trainer != "gan":
        header = ["predicted", *(f"p_{c}" for c in range(out.shape[1]))]
        rows = [[int(p.argmax()), *p] for p in out]
    else:
        header = [f"y{i}" for i in range(out.shape[1])]
        rows = [list(p) for p in out]
    lines = [",".join(header)]
    lines += [",".join(str(v) if isinstance(v, int) else f"{v:.6g}" for v in row) for row in rows]
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"{len(rows)} predictions written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _read_inputs(path: str) -> Any:
    """Examples from a .npy file (no pickles) or a CSV of numbers, header row optional."""
    import numpy as np

    try:
        if path.endswith(".npy"):
            array = np.load(path, allow_pickle=False)
        else:
            with open(path, encoding="utf-8") as handle:
                first = handle.readline()
            try:
                [float(v) for v in first.strip().split(",")]
                skip = 0
            except ValueError:
                skip = 1  # a header
            array = np.loadtxt(path, delimiter=",", skiprows=skip, dtype=np.float32, ndmin=2)
    except (OSError, ValueError) as exc:
        raise TunelabError(f"{path}: cannot read examples: {str(exc).splitlines()[0]}") from None
    if array.ndim < 2 or len(array) == 0:
        raise TunelabError(f"{path}: expected one example per row, got shape {array.shape}")
    return array


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
