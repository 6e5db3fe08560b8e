"""Writes the tracking store could not take yet, kept in order on disk until it can.

Runs, metrics, params, tags and run ends are appended as JSON lines to a file; work that is code
(an artifact upload) stays in memory, in its place in the order. The file is bounded: past
`max_bytes`, new metric points are dropped and counted, while run creations, tags and ends are
always kept, so every run still ends with its status."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class SpoolState:
    path: str
    writes: int  # ops still to send
    points: int  # metric points among them
    dropped_points: int  # metric points not kept: the spool was full


class Spool:
    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a+b")
        self._read_offset = 0
        self._in_memory: dict[int, Any] = {}
        self._next_id = 0
        # What the last peek read: where it ended, its in-memory ids and its metric points.
        self._peek_end = 0
        self._peek_ids: list[int] = []
        self._peek_points = 0
        self.writes = 0
        self.points = 0
        self.dropped_points = 0

    def append(self, record: dict[str, Any] | None, in_memory: Any = None) -> None:
        """Append a JSON-able record, or (record None) an object kept in memory in its place."""
        if record is None:
            self._next_id += 1
            self._in_memory[self._next_id] = in_memory
            record = {"op": "memory", "id": self._next_id}
        metrics = record.get("metrics") or []
        line = json.dumps(record, separators=(",", ":")).encode()
        self._file.seek(0, os.SEEK_END)
        if metrics and self._file.tell() + len(line) > self.max_bytes:
            self.dropped_points += len(metrics)
            record = {**record, "metrics": []}
            line = json.dumps(record, separators=(",", ":")).encode()
        self._file.write(line + b"\n")
        self.writes += 1
        self.points += len(record.get("metrics") or [])

    def peek(self, limit: int) -> list[Any]:
        """Up to `limit` records from the oldest on, in-memory objects in their places. They
        stay in the spool until `commit`."""
        self._file.flush()
        self._file.seek(self._read_offset)
        out: list[Any] = []
        self._peek_end, self._peek_ids, self._peek_points = self._read_offset, [], 0
        while len(out) < limit:
            line = self._file.readline()
            if not line:
                break
            self._peek_end += len(line)
            record = json.loads(line)
            if record["op"] == "memory":
                self._peek_ids.append(record["id"])
                out.append(self._in_memory[record["id"]])
            else:
                self._peek_points += len(record.get("metrics") or [])
                out.append(record)
        return out

    def commit(self, count: int) -> None:
        """The `count` records of the last `peek` are written: forget them."""
        self._read_offset = self._peek_end
        self.writes -= count
        self.points -= self._peek_points
        for key in self._peek_ids:
            del self._in_memory[key]

    def __len__(self) -> int:
        return self.writes

    def state(self) -> SpoolState:
        return SpoolState(str(self.path), self.writes, self.points, self.dropped_points)

    def remove(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)
