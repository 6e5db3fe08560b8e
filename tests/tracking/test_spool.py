"""The on-disk spool that keeps writes while the tracking store is unreachable."""

from __future__ import annotations

from pathlib import Path

from tunelab.tracking._ops import unreachable
from tunelab.tracking._spool import Spool


def test_records_come_back_in_order_with_in_memory_work_in_its_place(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl", max_bytes=1 << 20, header={})
    upload = object()
    spool.append({"op": "create", "key": "t0", "name": "trial-000", "tags": {}, "params": {}})
    spool.append({"op": "log", "key": "t0", "metrics": [["loss", 0.5, 1000, 1]], "tags": {}})
    spool.append(None, in_memory=upload)
    spool.append({"op": "end", "key": "t0", "status": "FINISHED", "tags": {}})
    assert (len(spool), spool.state().points) == (4, 1)

    first = spool.peek(2)
    assert [r["op"] for r in first] == ["create", "log"]
    assert spool.peek(2) == first  # not committed: read again
    spool.commit()
    rest = spool.peek(10)
    assert rest[0] is upload and rest[1]["op"] == "end"
    spool.commit()
    assert (len(spool), spool.state().points) == (0, 0)
    assert spool.peek(10) == []


def test_a_full_spool_drops_metric_points_but_keeps_run_ends(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl", max_bytes=300, header={})
    points = [["loss", 0.5, 1000, step] for step in range(20)]
    spool.append({"op": "log", "key": "t0", "metrics": points, "tags": {}})
    spool.append({"op": "end", "key": "t0", "status": "FINISHED", "tags": {}})
    state = spool.state()
    assert state.dropped_points == 20 and state.points == 0 and state.writes == 2
    assert spool.peek(5)[1]["status"] == "FINISHED"


def log(step: int) -> dict[str, object]:
    return {"op": "log", "key": "t0", "metrics": [["loss", 0.5, 1000, step]], "tags": {}}


def test_a_later_process_gets_exactly_what_was_not_sent(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    spool = Spool(path, max_bytes=1 << 20, header={"run_ids": {"t0": "abc"}})
    for step in range(1, 6):
        spool.append(log(step))
    spool.sync()
    spool.peek(2)
    spool.commit()  # steps 1 and 2 reached the store; then the process is killed
    spool.append(None, in_memory=object())  # work only that process held
    spool.append(log(6))
    spool.sync()
    with path.open("ab") as torn:  # the write the kill cut short
        torn.write(b'{"op":"log","key":"t0","metr')

    later = Spool(path, max_bytes=1 << 20)
    assert later.header == {"run_ids": {"t0": "abc"}}
    assert (len(later), later.state().points) == (5, 4)  # 3, 4, 5, the lost work, 6
    records = later.peek(100)
    assert [r["metrics"][0][3] for r in records] == [3, 4, 5, 6]
    later.commit()
    assert len(Spool(path, max_bytes=1 << 20)) == 0  # a third process: nothing left to send
    later.remove()
    assert not path.exists() and not path.with_name("spool.jsonl.sent").exists()


def test_the_size_cap_counts_what_is_still_to_send(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl", max_bytes=400, header={})
    for step in range(1, 6):
        spool.append(log(step))  # about 60 bytes each
    spool.peek(5)
    spool.commit()
    for step in range(6, 11):
        spool.append(log(step))  # past 400 bytes of file, but not of what is pending
    assert spool.state().dropped_points == 0 and spool.state().points == 5


def test_refused_connections_count_as_unreachable_and_bad_requests_do_not() -> None:
    from mlflow.exceptions import MlflowException

    refused = MlflowException(
        "API request to http://127.0.0.1:5000/api/2.0/mlflow/runs/log-batch failed with "
        "exception HTTPConnectionPool(host='127.0.0.1', port=5000): Max retries exceeded"
    )
    assert unreachable(refused)
    assert not unreachable(MlflowException("INVALID_PARAMETER_VALUE: Param value too long"))
