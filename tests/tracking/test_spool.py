"""The on-disk spool that keeps writes while the tracking store is unreachable."""

from __future__ import annotations

from pathlib import Path

from tunelab.tracking._ops import unreachable
from tunelab.tracking._spool import Spool


def test_records_come_back_in_order_with_in_memory_work_in_its_place(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl", max_bytes=1 << 20)
    upload = object()
    spool.append({"op": "create", "key": "t0", "name": "trial-000", "tags": {}, "params": {}})
    spool.append({"op": "log", "key": "t0", "metrics": [["loss", 0.5, 1000, 1]], "tags": {}})
    spool.append(None, in_memory=upload)
    spool.append({"op": "end", "key": "t0", "status": "FINISHED", "tags": {}})
    assert (len(spool), spool.state().points) == (4, 1)

    first = spool.peek(2)
    assert [r["op"] for r in first] == ["create", "log"]
    assert spool.peek(2) == first  # not committed: read again
    spool.commit(2)
    rest = spool.peek(10)
    assert rest[0] is upload and rest[1]["op"] == "end"
    spool.commit(2)
    assert (len(spool), spool.state().points) == (0, 0)
    assert spool.peek(10) == []


def test_a_full_spool_drops_metric_points_but_keeps_run_ends(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl", max_bytes=300)
    points = [["loss", 0.5, 1000, step] for step in range(20)]
    spool.append({"op": "log", "key": "t0", "metrics": points, "tags": {}})
    spool.append({"op": "end", "key": "t0", "status": "FINISHED", "tags": {}})
    state = spool.state()
    assert state.dropped_points == 20 and state.points == 0 and state.writes == 2
    assert spool.peek(5)[1]["status"] == "FINISHED"


def test_refused_connections_count_as_unreachable_and_bad_requests_do_not() -> None:
    from mlflow.exceptions import MlflowException

    refused = MlflowException(
        "API request to http://127.0.0.1:5000/api/2.0/mlflow/runs/log-batch failed with "
        "exception HTTPConnectionPool(host='127.0.0.1', port=5000): Max retries exceeded"
    )
    assert unreachable(refused)
    assert not unreachable(MlflowException("INVALID_PARAMETER_VALUE: Param value too long"))
