"""What the command groups share: exit statuses, flag types and help texts."""

from __future__ import annotations

import argparse
import os
import sys

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
