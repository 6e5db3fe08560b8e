"""Writes the tracking store could not take yet, kept in order on disk until it can, so that
they outlive the process that made them.

Runs, metrics, params, tags, run ends and the uploads that go with them (a model, the views, the
sweep's summary) are appended as JSON lines to a file and fsynced batch by batch; the first line
names the runs created before the outage (their keys and run ids). What has been sent is marked
in a second file (`SPOOL.sent`, a byte offset, replaced atomically after each chunk), so a later
process (`tunelab resume`) sends the rest exactly once: a chunk sent but not yet marked when a
process died is sent again, which the store takes as a no-op (a metric point is the same row, a
tag or a status the same value, a run is looked up before it is created). A torn last line, cut
by the crash, is ignored.

The file is bounded: past `max_bytes` still to send, new metric points are dropped and counted,
while everything else is always kept, so every run still ends with its status."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HEADER = "begin"


@dataclass
class SpoolState:
    path: str
    writes: int  # ops still to send
    points: int  # metric points among them
    dropped_points: int  # metric points not kept: the spool was full


class Spool:
    def __init__(self, path: Path, max_bytes: int, header: dict[str, Any] | None = None) -> None:
        """A new spool at `path` (its first line `header`), or with `header` None the one a
        process left there, from what it had not sent."""
        self.path = path
        self.max_bytes = max_bytes
        self.sent_path = path.with_name(path.name + ".sent")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._in_memory: dict[int, Any] = {}
        self._next_id = 0
        # What the last peek read: where it ended, its in-memory ids and its metric points.
        self._peek_end = 0
        self._peek_ids: list[int] = []
        self._peek_points = 0
        self._peek_lines = 0
        self.writes = 0
        self.points = 0
        self.dropped_points = 0
        if header is not None:
            self._file = path.open("w+b")
            self._file.write(_line({"op": HEADER, **header}))
            self.header = header
            self._read_offset = self._file.tell()
            self.sync()
            with contextlib.suppress(FileNotFoundError):
                self.sent_path.unlink()
        else:
            self._file = path.open("r+b")
            first = self._file.readline()
            self.header = {k: v for k, v in (_parse(first) or {}).items() if k != "op"}
            self._read_offset = max(self._file.tell(), _sent_offset(self.sent_path))
            self._count_pending()

    def append(self, record: dict[str, Any] | None, in_memory: Any = None) -> None:
        """Append a JSON-able record, or (record None) an object kept in memory in its place.
        Call `sync` once a batch is appended."""
        if record is None:
            self._next_id += 1
            self._in_memory[self._next_id] = in_memory
            record = {"op": "memory", "id": self._next_id}
        metrics = record.get("metrics") or []
        line = _line(record)
        end = self._file.seek(0, os.SEEK_END)
        if metrics and end - self._read_offset + len(line) > self.max_bytes:
            self.dropped_points += len(metrics)
            record = {**record, "metrics": []}
            line = _line(record)
        self._file.write(line)
        self.writes += 1
        self.points += len(record.get("metrics") or [])

    def sync(self) -> None:
        """What was appended is on disk: it survives this process being killed."""
        self._file.flush()
        os.fsync(self._file.fileno())

    def peek(self, limit: int) -> list[Any]:
        """Up to `limit` records from the oldest unsent on, in-memory objects in their places
        (one a dead process kept in memory is gone: skipped). They stay until `commit`."""
        self._file.flush()
        self._file.seek(self._read_offset)
        out: list[Any] = []
        self._peek_end, self._peek_ids, self._peek_points = self._read_offset, [], 0
        self._peek_lines = 0
        while len(out) < limit:
            line = self._file.readline()
            record = _parse(line)
            if record is None:
                break  # the end, or a torn last line
            self._peek_end += len(line)
            self._peek_lines += 1
            if record["op"] == "memory":
                self._peek_ids.append(record["id"])
                if record["id"] in self._in_memory:
                    out.append(self._in_memory[record["id"]])
            else:
                self._peek_points += len(record.get("metrics") or [])
                out.append(record)
        return out

    def commit(self) -> None:
        """The records of the last `peek` are written: forget them, here and on disk."""
        self._read_offset = self._peek_end
        self.writes -= self._peek_lines
        self.points -= self._peek_points
        for key in self._peek_ids:
            self._in_memory.pop(key, None)
        temporary = self.sent_path.with_name(self.sent_path.name + ".tmp")
        with temporary.open("w") as out:
            out.write(str(self._read_offset))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.sent_path)

    @property
    def peeked(self) -> int:
        """Lines the last `peek` read (more than it returned where a dead process's in-memory
        work was skipped)."""
        return self._peek_lines

    def __len__(self) -> int:
        return self.writes

    def state(self) -> SpoolState:
        return SpoolState(str(self.path), self.writes, self.points, self.dropped_points)

    def remove(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)
        self.sent_path.unlink(missing_ok=True)

    def close(self) -> None:
        self._file.close()

    def _count_pending(self) -> None:
        self._file.seek(self._read_offset)
        for line in self._file:
            record = _parse(line)
            if record is None:
                break
            self.writes += 1
            self.points += len(record.get("metrics") or [])


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def _parse(line: bytes) -> dict[str, Any] | None:
    """A whole line's record; None at the end of the file or for a line cut short."""
    if not line.endswith(b"\n"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _sent_offset(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def free_spool_path(path: Path) -> Path:
    """`path`, or beside it a name no spool has yet (one a dead process left waits there)."""
    number = 1
    candidate = path
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}.{number}{path.suffix}")
    return candidate


def kept_spools(path: Path) -> list[Path]:
    """The spools left at `path` and beside it (see free_spool_path), oldest first."""

    def number(kept: Path) -> int:
        middle = kept.name[len(path.stem) : -len(path.suffix)].lstrip(".")
        return int(middle) if middle.isdigit() else 1

    found = path.parent.glob(f"{path.stem}*{path.suffix}")
    return sorted((p for p in found if p == path or number(p) > 1), key=number)
