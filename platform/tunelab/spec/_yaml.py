"""YAML as data (safe loader only), with the line of every key path for error messages."""

from __future__ import annotations

from typing import Any

import yaml

from tunelab.errors import SpecError

KeyPath = tuple[str | int, ...]


def load_yaml_with_lines(text: str, source: str) -> tuple[Any, dict[KeyPath, int]]:
    """Parse `text` with the safe loader; return the data and a map key path -> 1-based line."""
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"not valid YAML: {problem}", source=source, line=line) from None
    lines: dict[KeyPath, int] = {}
    if root is not None:
        _walk(root, (), lines, source)
    return data, lines


def dotted(path: KeyPath) -> str:
    """A key path as the spec's reader writes it: `space.lr.low`, `objectives[1].metric`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _walk(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], source: str) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            child = (*path, key)
            line = key_node.start_mark.line + 1
            if child in lines:  # YAML would keep the last silently: the first would be lost
                raise SpecError(
                    f"duplicate key (first on line {lines[child]})",
                    source=source,
                    line=line,
                    path=dotted(child),
                )
            lines[child] = line
            _walk(value_node, child, lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, source)
