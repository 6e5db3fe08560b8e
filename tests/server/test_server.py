"""Server mode for real: PostgreSQL, `tunelab server`, a sweep that records over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.server.conftest import S3_KEY, s3_keys

pytestmark = pytest.mark.e2e


def test_sweep_records_through_the_server_and_keeps_its_study_in_postgres(
    server, server_sweep, s3
) -> None:
    import optuna
    from mlflow import MlflowClient

    from tunelab.search import study_storage_uri

    report, folder = server_sweep["report"], server_sweep["folder"]
    assert report.counts["completed"] == 3
    client = MlflowClient(server["url"])
    experiment = client.get_experiment_by_name("tunelab")
    # Marked a model-training experiment: MLflow's UI opens it on its runs.
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([experiment.experiment_id], "tags.`tunelab.sweep` = 'server-sweep'")
    assert sorted(r.data.tags["tunelab.role"] for r in runs) == ["sweep", "trial", "trial", "trial"]
    # Artifacts went through the server to its S3 bucket; the client kept none (and holds no
    # S3 credentials).
    model_files = [a.path for a in client.list_artifacts(report.best["run_id"], "model")]
    assert "model/MLmodel" in model_files
    keys = s3_keys(s3)
    best = report.best["run_id"]
    assert any(best in k and k.endswith("model/artifacts/checkpoint.pt") for k in keys), keys
    assert S3_KEY[1] not in os.environ.values()
    assert not (folder / "mlruns").exists() and not (folder / "mlflow.db").exists()
    # The study is in PostgreSQL, in its own schema, beside MLflow's tables.
    study = optuna.load_study(
        study_name="server-sweep", storage=study_storage_uri(server["database_uri"])
    )
    assert len(study.trials) == 3
    assert not (folder / "results" / "server-sweep" / "optuna.journal").exists()


def test_server_with_an_unreachable_database_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tunelab.cli", "server", "--database-uri",
         "postgresql://tunelab:secret@127.0.0.1:1/tunelab"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "tunelab: error: cannot use the database postgresql://tunelab:***@127.0.0.1:1/tunelab: "
        'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused'
    ]
    assert "secret" not in result.stderr


def test_server_off_loopback_without_authentication_is_refused_before_it_starts(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tunelab.cli", "server", "--host", "0.0.0.0", "--database-uri",
         "postgresql://tunelab:secret@127.0.0.1:1/tunelab"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if k != "TUNELAB_ADMIN_PASSWORD"},
    )  # fmt: skip
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("tunelab: error: refusing to listen on 0.0.0.0 without authentication")
    assert "--admin-password-file" in line and "--insecure" in line


def test_report_reads_from_and_logs_to_the_tracking_server(
    server, server_sweep, s3, tmp_path: Path
) -> None:
    import json

    from mlflow import MlflowClient

    from tunelab.cli import main

    out = tmp_path / "reports"
    code = main(
        ["report", "server-sweep", "--top", "2", "--tracking-uri", server["url"], "--out", str(out)]
    )
    assert code == 0
    client = MlflowClient(server["url"])
    best = server_sweep["report"].best["run_id"]
    logged = {a.path for a in client.list_artifacts(best, "report")}
    assert {"report/report.html", "report/report.json", "report/feature_importance.png"} <= logged
    # Stored where the server keeps artifacts (S3), not beside the client.
    assert any(best in k and k.endswith("report/report.json") for k in s3_keys(s3))
    data = json.loads((out / best / "report.json").read_text())
    assert data["family"] == "tabular" and len(data["tabular"]["features"]) == 13
    assert set(data["tabular"]["rank_agreement"]) == {"integrated_gradients", "feature_ablation"}
    parent = server_sweep["report"].parent_run_id
    assert "report_comparison/comparison.json" in {
        a.path for a in client.list_artifacts(parent, "report_comparison")
    }
