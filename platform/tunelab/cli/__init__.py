"""The `tunelab` command: the parser and a dispatch table. Each command group is a small module
that adds its commands to the parser, calls the Python API and prints; heavy libraries are
imported only when a command runs, so `tunelab --help` is instant."""

from __future__ import annotations

from tunelab.cli._main import (
    EXIT_INTERRUPTED,
    EXIT_NO_RESULT,
    EXIT_TERMINATED,
    EXIT_USAGE,
    build_parser,
    main,
)

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_NO_RESULT",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "build_parser",
    "main",
]
