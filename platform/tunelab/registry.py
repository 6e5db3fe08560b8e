"""Registries by name. Built-ins register through the same call that plugins use; installed
packages add entries through an entry point group, loaded only when a name is looked up."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from tunelab.errors import DuplicateNameError, NotFoundError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> entry map that rejects duplicates and says what exists on a miss.

    `entry_point_group` names the group installed packages register in; an entry point's object
    goes through `adapt(name, obj)`, which turns e.g. a bare builder function into an entry.
    """

    def __init__(
        self,
        kind: str,
        *,
        entry_point_group: str | None = None,
        adapt: Callable[[str, Any], T] | None = None,
    ) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self.adapt = adapt
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T, *, override: bool = False) -> T:
        if name in self._entries and not override:
            raise DuplicateNameError(
                f"{self.kind} '{name}' is already registered; pass override=True to replace it"
            )
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Forget an entry registered in this process (one an installed package offers stays)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        if name not in self._entries:
            point = self._entry_points().get(name)
            if point is None:
                raise NotFoundError(self.missing_message(name))
            self._load(point)
        return self._entries[name]

    def _entry_points(self) -> dict[str, EntryPoint]:
        if not self.entry_point_group:
            return {}
        return {ep.name: ep for ep in entry_points(group=self.entry_point_group)}

    def _load(self, point: EntryPoint) -> None:
        try:
            obj = point.load()
            entry = self.adapt(point.name, obj) if self.adapt else obj
        except Exception as exc:
            raise NotFoundError(
                f"{self.kind} '{point.name}' (entry point {point.value}, group "
                f"{self.entry_point_group}) cannot be loaded: {type(exc).__name__}: {exc}"
            ) from None
        self.register(point.name, entry)

    def names(self) -> list[str]:
        """Every name, registered or offered by an installed package."""
        return sorted({*self._entries, *self._entry_points()})

    def registered(self) -> list[str]:
        """The names registered in this process, in the order they were (built-ins first)."""
        return list(self._entries)

    def missing_message(self, name: str) -> str:
        names = self.names()
        available = ", ".join(names) or "(none)"
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown {self.kind} '{name}'{hint} Available: {available}"

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._entry_points()

    def __iter__(self) -> Any:
        return iter(sorted(self._entries))

    def items(self) -> list[tuple[str, T]]:
        """Built-in and registered entries (installed packages' entries once looked up)."""
        return sorted(self._entries.items())
