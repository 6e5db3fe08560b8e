"""Registries by name. Built-ins register through the same call that plugins use."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Generic, TypeVar

from tunelab.errors import NotFoundError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> entry map that rejects duplicates and says what exists on a miss."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T, *, override: bool = False) -> T:
        if name in self._entries and not override:
            raise ValueError(
                f"{self.kind} '{name}' is already registered; pass override=True to replace it"
            )
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise NotFoundError(self.missing_message(name)) from None

    def missing_message(self, name: str) -> str:
        available = ", ".join(sorted(self._entries)) or "(none)"
        close = difflib.get_close_matches(name, self._entries, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown {self.kind} '{name}'{hint} Available: {available}"

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._entries.items())
