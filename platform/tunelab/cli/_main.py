"""The parser, the dispatch, and how an error reads: one line and exit status 2."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from tunelab import env
from tunelab.cli import _list, _registry, _report, _servers, _sweep
from tunelab.cli._common import EXIT_INTERRUPTED, EXIT_NO_RESULT, EXIT_TERMINATED, EXIT_USAGE
from tunelab.errors import Terminated, TunelabError
from tunelab.version import __version__

# Each group adds its commands, each with `run(args) -> exit status` as its default.
GROUPS = (_sweep, _servers, _report, _registry, _list)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunelab",
        description="Hyperparameter sweeps for PyTorch: Optuna proposes, Ray Tune runs, MLflow records.",
    )
    parser.add_argument("--version", action="version", version=f"tunelab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    if not debug:  # MLflow's INFO lines (creating a store's tables, ...) are not tunelab's output
        env.apply_library_defaults("MLFLOW_LOGGING_LEVEL")  # read when mlflow is imported
        logging.getLogger("mlflow").setLevel(logging.WARNING)  # if it already was
    previous = signal.signal(signal.SIGTERM, _terminated)  # a command stops as for Ctrl-C
    try:
        status: int = args.run(args)
        return status
    except TunelabError as exc:
        if debug:
            raise
        print(f"tunelab: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        from tunelab.tracking import refused_access

        message = refused_access(exc)
        if message is None or debug:
            raise
        print(f"tunelab: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as stopped:
        print("tunelab: interrupted", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(stopped, Terminated) else EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminated(signum: int, frame: Any) -> None:
    raise Terminated()


__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_NO_RESULT",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "build_parser",
    "main",
]
