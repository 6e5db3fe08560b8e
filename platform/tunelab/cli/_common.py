"""What the command groups share: exit statuses, flag types, and the flags several commands take,
each written once (`shared`, a parent parser for `add_parser(parents=...)`)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

EXIT_USAGE = 2  # bad input: spec, flags, names; nothing was started
EXIT_NO_RESULT = 1  # the sweep ran but no trial finished; a promotion was refused
EXIT_DIVERGED = 1  # `sweep --check-against`: the rerun differs from the sweep it checks
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_TERMINATED = 143  # SIGTERM (a preemption, `kill`)

TRACKING_HELP = "default: $MLFLOW_TRACKING_URI, else MLflow's default here"


def integer(text: str) -> int:
    """Any integer: the spec's own checks give the range error, naming the flag."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def invoked_as() -> str:
    """How the user started tunelab (`tunelab`, or `.venv/bin/tunelab` from `make demo`)."""
    program = sys.argv[0] if sys.argv and sys.argv[0] else "tunelab"
    return program if os.path.basename(program) == "tunelab" else "tunelab"


def add_trust_code(parser: argparse.ArgumentParser, reads: str) -> None:
    """--trust-code, on a command that works from a spec or model read back from the store."""
    parser.add_argument(
        "--trust-code",
        action="store_true",
        help=f"import code that {reads} names as module:attribute (by default only installed "
        "and registered names, and $TUNELAB_TRUSTED_MODULES, are used)",
    )


# Each shared flag, once: its name, and what add_argument is given.
SHARED: dict[str, dict[str, Any]] = {
    "--tracking-uri": {"help": f"MLflow tracking store ({TRACKING_HELP})"},
    "--address": {"help": "Ray cluster to run on (default: $RAY_ADDRESS, else Ray in-process)"},
    "--results-dir": {
        "help": "checkpoints and the Optuna study (default: $TUNELAB_RESULTS_DIR or "
        "./tunelab_results)"
    },
    "--database-uri": {
        "help": "server mode: PostgreSQL for the Optuna study (default: $TUNELAB_DATABASE_URI, "
        "else a file beside the results)"
    },
    "--metrics-port": {
        "type": integer,
        "metavar": "PORT",
        "help": "with Ray in-process: serve the sweep's metrics and Ray's for Prometheus on this "
        "port (default: $TUNELAB_METRICS_PORT, else a free one; see dashboards/)",
    },
    "--json": {"action": "store_true", "help": "end with one JSON line describing the sweep"},
    "--debug": {"action": "store_true", "help": "full tracebacks (and Ray's logs, for a sweep)"},
}
# Where a sweep runs and records (tunelab.sweep's keywords of the same names).
STORES = ("--address", "--tracking-uri", "--results-dir", "--database-uri", "--metrics-port")


def shared(*flags: str) -> argparse.ArgumentParser:
    """A parent parser of the shared `flags`, for a command to take them as every other does.
    Its help lists them after the command's own: the stores under "where it runs and records",
    the rest under "output"."""
    parent = argparse.ArgumentParser(add_help=False)
    where = parent.add_argument_group("where it runs and records")
    output = parent.add_argument_group("output")
    for flag in flags:
        (where if flag in STORES else output).add_argument(flag, **SHARED[flag])
    return parent


def stores(args: argparse.Namespace) -> dict[str, Any]:
    """The STORES flags as given, by tunelab.sweep's keyword."""
    keywords = (flag.removeprefix("--").replace("-", "_") for flag in STORES)
    return {keyword: getattr(args, keyword) for keyword in keywords}
