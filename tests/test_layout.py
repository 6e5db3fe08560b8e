"""The house rules a reader relies on, checked on the source: every environment variable is
read through `tunelab.env`, every name recorded in MLflow is spelled in `tracking/tags.py`, and
no package reaches into another's private modules (import-linter checks the layers)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "platform" / "tunelab"
RECORDED_NAME = re.compile(r"^(tunelab|mlflow)\.[A-Za-z0-9_.]+$")


def modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        yield relative, ast.parse(path.read_text(encoding="utf-8"), relative)


def is_tunelab_module(dotted: str) -> bool:
    parts = dotted.split(".")[1:]
    path = PACKAGE.joinpath(*parts)
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def test_environment_variables_are_read_only_through_env() -> None:
    found = []
    for relative, tree in modules():
        if relative == "env.py":
            continue
        for node in ast.walk(tree):
            reads = (
                isinstance(node, ast.Attribute)
                and node.attr in ("environ", "getenv", "putenv")
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
            )
            imports = (
                isinstance(node, ast.ImportFrom)
                and node.module == "os"
                and any(alias.name in ("environ", "getenv") for alias in node.names)
            )
            if reads or imports:
                found.append(f"{relative}:{node.lineno}")
    assert found == []


def test_recorded_names_are_spelled_only_in_the_tags_module() -> None:
    found = []
    for relative, tree in modules():
        if relative == "tracking/tags.py":
            continue
        # Plugins' entry point groups (`tunelab.datasets`) are names of the plugin interface.
        groups = {
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.keyword) and node.arg == "entry_point_group"
        }
        for node in ast.walk(tree):
            if id(node) in groups:
                continue
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if RECORDED_NAME.match(text) and not is_tunelab_module(text):
                    found.append(f"{relative}:{node.lineno}: {text!r}")
            elif isinstance(node, ast.JoinedStr) and node.values:
                head = node.values[0]
                if isinstance(head, ast.Constant) and str(head.value).startswith(
                    ("tunelab.", "mlflow.")
                ):
                    found.append(f"{relative}:{node.lineno}: f{str(head.value)!r}...")
    assert found == []


def test_no_package_imports_another_packages_private_module() -> None:
    found = []
    for relative, tree in modules():
        package = relative.split("/")[0] if "/" in relative else None
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if (
                    parts[0] != "tunelab"
                    or len(parts) < 3
                    or not is_tunelab_module(".".join(parts[:3]))
                ):
                    continue
                if parts[2].startswith("_") and parts[1] != package:
                    found.append(f"{relative}:{node.lineno}: {name}")
    assert found == []
