"""The registry's commands: `promote`, `models`, `rollback`, `reproduce`, `predict` and `serve`."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import tunelab
from tunelab import env
from tunelab.cli._common import EXIT_NO_RESULT, add_trust_code, shared
from tunelab.errors import TunelabError


def add_commands(commands: Any) -> None:
    """The registry's six commands and their flags (long: declarations, one after another)."""
    promote = commands.add_parser(
        "promote",
        parents=[shared("--tracking-uri")],
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
    promote.add_argument(
        "--pick",
        metavar="RULE",
        help="a multi-objective sweep: the trial of its feasible Pareto front best by one "
        "objective, 'max val_accuracy' or 'min latency_ms' (default: its best by the first); "
        "kept in the registry's history",
    )
    promote.add_argument("--force", action="store_true", help="promote whatever the gates say")
    promote.add_argument("--reason", help="why (required with --force); kept in the registry")
    add_trust_code(promote, "the sweep's stored spec")
    promote.set_defaults(run=run_promote)

    models = commands.add_parser(
        "models",
        parents=[shared("--tracking-uri")],
        help="a registered model's versions and history",
    )
    models.add_argument("name", metavar="NAME")
    models.set_defaults(run=run_models)

    rollback = commands.add_parser(
        "rollback",
        parents=[shared("--tracking-uri")],
        help="move the champion alias back to the version it replaced",
    )
    rollback.add_argument("name", metavar="NAME")
    rollback.add_argument("--reason", help="kept in the registry")
    rollback.set_defaults(run=run_rollback)

    reproduce = commands.add_parser(
        "reproduce",
        parents=[shared("--tracking-uri")],
        help="retrain a trial from its logged config and seed; compare the metric",
        description="Exit status 1 when the metric differs by more than 1e-6 relative.",
    )
    reproduce.add_argument("run_id", metavar="RUN_ID")
    add_trust_code(reproduce, "the run's stored spec")
    reproduce.set_defaults(run=run_reproduce)

    predict = commands.add_parser(
        "predict",
        parents=[shared("--tracking-uri")],
        help="predict with a registered model on a file",
    )
    predict.add_argument(
        "model", metavar="MODEL", help="models:/NAME@ALIAS or models:/NAME/VERSION"
    )
    predict.add_argument(
        "file", metavar="FILE", help="CSV (one example per row, header optional) or .npy"
    )
    predict.add_argument("--out", help="write the predictions as CSV here (default: stdout)")
    add_trust_code(predict, "the model's stored spec")
    predict.set_defaults(run=run_predict)

    serve = commands.add_parser(
        "serve",
        parents=[shared("--tracking-uri")],
        help="serve a registered model over HTTP, once its files are verified",
    )
    serve.add_argument(
        "model", metavar="MODEL", help="models:/NAME@ALIAS, models:/NAME/VERSION or a run id"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5001)
    serve.set_defaults(run=run_serve)


def run_promote(args: argparse.Namespace) -> int:
    decision = tunelab.promote(
        args.sweep,
        args.model_name,
        margin=args.margin,
        require_reproducible=args.require_reproducible,
        force=args.force,
        reason=args.reason,
        pick=args.pick,
        tracking_uri=args.tracking_uri,
        trust_code=args.trust_code,
        progress=lambda line: print(line, file=sys.stderr),
    )
    for gate in decision.gates:
        verdict = {True: "pass", False: "FAIL", None: "n/a"}[gate.passed]
        print(f"  {gate.name:<17} {verdict:<4}  {gate.detail}")
    name, version = decision.model, decision.version
    failed = ", ".join(g.name for g in decision.failed_gates)
    if decision.action == "promote":
        print(
            f"promoted: {name} version {version} is the champion (was {decision.champion_before})"
        )
    elif decision.action == "force":
        print(f"forced: {name} version {version} is the champion despite {failed}; reason kept")
    else:
        print(
            f"refused ({failed}): {name} version {version} stays the challenger; "
            f"the champion is still version {decision.champion_before}"
        )
    return 0 if decision.promoted else EXIT_NO_RESULT


def run_models(args: argparse.Namespace) -> int:
    history = tunelab.model_history(args.name, tracking_uri=args.tracking_uri)
    print(f"{args.name}:")
    for version in history.versions:
        aliases = f" [{', '.join(version.aliases)}]" if version.aliases else ""
        print(
            f"  version {version.version}{aliases}: {version.trial or '?'} of sweep "
            f"{version.sweep or '?'}, {version.decision}"
        )
    print("history:")
    for number, event in enumerate(history.events, start=1):
        extra = f" reason: {event['reason']}" if event.get("reason") else ""
        failed = [n for n, g in event.get("gates", {}).items() if g.get("passed") is False]
        gates = f" failed: {', '.join(failed)}" if failed else ""
        print(
            f"  {number:>3}. {event['time']} {event['user']}: {event['action']} version "
            f"{event['version']}; champion {event['champion_before']} -> "
            f"{event['champion_after']}{gates}{extra}"
        )
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    event = tunelab.rollback(args.name, reason=args.reason, tracking_uri=args.tracking_uri)
    print(
        f"rolled back: {args.name} champion is version {event['champion_after']} "
        f"(was {event['champion_before']})"
    )
    return 0


def run_reproduce(args: argparse.Namespace) -> int:
    result = tunelab.reproduce(
        args.run_id, tracking_uri=args.tracking_uri, trust_code=args.trust_code
    )
    verdict = "reproducible" if result.reproducible else "NOT reproducible"
    print(
        f"{result.trial} (run {result.run_id}), {result.epochs} epochs on {result.threads} "
        f"CPU thread(s): {result.metric} {result.reproduced:.9g} retrained vs "
        f"{result.logged:.9g} logged, relative difference {result.relative_difference:.2e} "
        f"(tolerance {result.tolerance:g}): {verdict}"
    )
    return 0 if result.reproducible else EXIT_NO_RESULT


def run_serve(args: argparse.Namespace) -> int:
    from tunelab.promotion import serve_command

    # The verified copy is served; it lives as long as the server (this process becomes it).
    folder = Path(tempfile.mkdtemp(prefix="tunelab-serve-"))
    command = serve_command(
        args.model, host=args.host, port=args.port, into=folder, tracking_uri=args.tracking_uri
    )
    print(
        f"serving {args.model} (its files verified) on http://{args.host}:{args.port}",
        file=sys.stderr,
    )
    # MLflow's server runs uvicorn from PATH: the one installed beside this Python.
    path = os.pathsep.join([str(Path(sys.executable).parent), env.PATH.get() or ""])
    os.execve(command[0], command, env.environment_with({env.PATH.name: path}))
    return 0  # not reached


def run_predict(args: argparse.Namespace) -> int:
    import numpy as np

    inputs = read_inputs(args.file)
    if not args.model.startswith("models:/"):  # a registered model: its files are verified
        raise TunelabError(f"{args.model}: expected models:/NAME@ALIAS or models:/NAME/VERSION")
    loaded = tunelab.load_model(
        args.model, tracking_uri=args.tracking_uri, trust_code=args.trust_code
    )
    from tunelab.training import trainer_of

    shape = loaded.info.input_shape
    generates = trainer_of(loaded.trainer).generates
    if not generates and inputs[0].size != int(np.prod(shape)):
        raise TunelabError(
            f"{args.file}: each example has {inputs[0].size} values, the model takes "
            f"{int(np.prod(shape))} (shaped {shape})"
        )
    out = loaded.predict(inputs).reshape(len(inputs), -1)
    if loaded.info.task == "classification" and not generates:
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


def read_inputs(path: str) -> Any:
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
