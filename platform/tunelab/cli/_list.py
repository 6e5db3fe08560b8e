"""`tunelab list`: the models, datasets and ready specs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import tunelab


def add_commands(commands: Any) -> None:
    listing = commands.add_parser("list", help="list the models, datasets and ready specs")
    listing.set_defaults(run=run)


def run(_args: argparse.Namespace) -> int:
    for title, entries in (
        ("models", tunelab.list_models()),
        ("datasets", tunelab.list_datasets()),
    ):
        print(f"{title}:")
        for name, description in entries.items():
            print(f"  {name:<14} {description}")
    specs = sorted(Path("search_spaces").glob("*.yaml"))
    if specs:
        print("specs (search_spaces/):")
        for path in specs:
            first = path.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
            print(f"  {path.name:<24} {first}")
    return 0
