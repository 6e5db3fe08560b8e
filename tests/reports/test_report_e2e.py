"""`tunelab report` on a real tiny sweep: found in MLflow by sweep name, run id and registry
alias, logged back to the runs it explains, and opened in headless Chromium."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from tunelab.cli import main
from tunelab.spec import parse_spec
from tunelab.sweeps import Stores, run_sweep

pytestmark = pytest.mark.e2e

SPEC = """
name: report-cnn
model: cnn
dataset: digits
metric: val_accuracy
mode: max
budget: {trials: 3, max_epochs: 2, concurrency: 2}
searcher: random
scheduler: fifo
space:
  lr: {type: float, low: 3.0e-3, high: 3.0e-2, log: true}
  channels: {type: categorical, choices: [8, 16]}
"""


@pytest.fixture(scope="module")
def swept(ray_session: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("report-sweep")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)  # MLflow's artifacts (./mlruns) and the reports land here
        report = run_sweep(
            parse_spec(SPEC, str(folder / "spec.yaml"), {"--name": "report-cnn"}),
            stores=Stores.resolve(tracking_uri=uri, results_dir=str(folder / "results")),
            live=False,
        )
        yield {"uri": uri, "folder": folder, "report": report, "client": MlflowClient(uri)}


def tunelab(swept: dict[str, Any], *args: str) -> int:
    return main(["report", *args, "--tracking-uri", swept["uri"], "--examples", "48"])


def test_report_on_a_sweep_explains_and_compares_its_best_trials(
    swept: dict[str, Any], capsys: pytest.CaptureFixture[str], browser: Any
) -> None:
    client: MlflowClient = swept["client"]
    out = swept["folder"] / "reports"
    assert tunelab(swept, "report-cnn", "--top", "2", "--out", str(out)) == 0
    summary = json.loads(
        Path(
            client.download_artifacts(swept["report"].parent_run_id, "sweep_summary.json")
        ).read_text()
    )
    best_two = [entry["run_id"] for entry in summary["top"][:2]]
    assert best_two[0] == swept["report"].best["run_id"]
    printed = capsys.readouterr().out
    for rank, run_id in enumerate(best_two, start=1):
        folder = out / run_id  # named after the run id, nothing else
        assert f"{folder / 'report.html'}" in printed
        logged = {a.path for a in client.list_artifacts(run_id, "report")}
        pngs = {f"report/{p.name}" for p in folder.glob("*.png")}
        assert {"report/report.html", "report/report.json"} | pngs == logged
        data = json.loads((folder / "report.json").read_text())
        assert data["family"] == "images" and data["examples"] == 48
        assert f"rank {rank}" in data["label"]
        run = client.get_run(run_id)
        expected = "passed" if data["sanity_passed"] else "failed"
        assert run.data.tags["tunelab.report.sanity"] == expected
        completeness = data["faithfulness"]["integrated_gradients_completeness"]
        assert completeness["mean_abs_delta"] >= 0

    comparison_folder = out / f"compare-{swept['report'].parent_run_id}"
    comparison = json.loads((comparison_folder / "comparison.json").read_text())
    assert comparison["run_ids"] == best_two
    matrix = comparison["rank_correlation"]
    assert matrix[0][0] == 1 and matrix[0][1] == matrix[1][0] and -1 <= matrix[0][1] <= 1
    parent_files = {
        a.path for a in client.list_artifacts(swept["report"].parent_run_id, "report_comparison")
    }
    assert "report_comparison/comparison.html" in parent_files

    # The page as a user opens it: every figure loads, with no network.
    page = out / best_two[0] / "report.html"
    browser.get_log("performance")  # drop what the browser did before
    browser.get(page.as_uri())
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth]);"
    )
    assert len(images) == len(list(page.parent.glob("*.png"))) >= 6
    assert all(complete and width > 0 for complete, width in images), images
    requests = [
        json.loads(entry["message"])["message"]["params"].get("request", {}).get("url", "")
        for entry in browser.get_log("performance")
        if json.loads(entry["message"])["message"]["method"] == "Network.requestWillBeSent"
    ]
    assert page.as_uri() in requests
    assert not [url for url in requests if url.startswith(("http:", "https:", "ws:"))], requests
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


def test_report_on_a_registered_model_is_logged_to_its_run(
    swept: dict[str, Any], tmp_path: Path
) -> None:
    from tunelab.tracking.tags import TAG_MODEL_SHA256

    client: MlflowClient = swept["client"]
    best_run = swept["report"].best["run_id"]
    client.create_registered_model("report-digits")
    # Registered as `promote` does it: the version keeps the digest of the model's files.
    digest = client.get_run(best_run).data.tags[TAG_MODEL_SHA256]
    version = client.create_model_version(
        "report-digits", f"runs:/{best_run}/model", best_run, tags={TAG_MODEL_SHA256: digest}
    )
    client.set_registered_model_alias("report-digits", "champion", version.version)
    out = tmp_path / "reports"
    code = tunelab(
        swept, "models:/report-digits@champion", "--out", str(out), "--methods", "saliency"
    )
    assert code == 0
    data = json.loads((out / best_run / "report.json").read_text())
    assert list(data["faithfulness"]["methods"]) == ["saliency"]
    assert "models:/report-digits@champion (version 1" in data["label"]


@pytest.mark.parametrize(
    ("target", "extra", "message"),
    [
        ("0" * 32, (), "no run 00000000000000000000000000000000"),
        ("models:/report-digits@nobody", (), "models:/report-digits@nobody"),
        ("models:/no-such-model/1", (), "models:/no-such-model/1"),
        ("no-such-sweep", (), "no sweep named 'no-such-sweep'"),
        ("../../etc", (), "is not a run id, a models:/ URI or a sweep name"),
        ("report-cnn", ("--top", "5"), "--top 5: sweep 'report-cnn' ranks 3 trials"),
        ("report-cnn", ("--methods", "lime"), "unknown method 'lime'"),
    ],
)
def test_a_target_that_cannot_be_explained_is_one_line_and_exit_2(
    swept: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    target: str,
    extra: tuple[str, ...],
    message: str,
) -> None:
    assert tunelab(swept, target, "--out", str(tmp_path), *extra) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not any(tmp_path.iterdir())  # nothing written


def test_no_log_writes_the_report_without_touching_the_run(
    swept: dict[str, Any], tmp_path: Path
) -> None:
    client: MlflowClient = swept["client"]
    summary = client.download_artifacts(swept["report"].parent_run_id, "sweep_summary.json")
    run_id = json.loads(Path(summary).read_text())["top"][2]["run_id"]  # never reported before
    before = {a.path for a in client.list_artifacts(run_id)}
    code = tunelab(swept, run_id, "--out", str(tmp_path), "--no-log", "--methods", "saliency")
    assert code == 0
    assert (tmp_path / run_id / "report.html").is_file()
    assert {a.path for a in client.list_artifacts(run_id)} == before
    assert "tunelab.report.sanity" not in client.get_run(run_id).data.tags
