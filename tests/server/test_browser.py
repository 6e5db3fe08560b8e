"""The sweep as a user browses it: the MLflow UI and the sweep's views in headless Chromium."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from tests.server.conftest import ADMIN

pytestmark = pytest.mark.e2e


def wait_for(condition: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError("the page did not get there in time")


def search_responses(driver: Any) -> list[dict]:
    """Bodies of the runs/search responses the page received."""
    bodies = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] != "Network.responseReceived":
            continue
        if "/runs/search" not in message["params"]["response"]["url"]:
            continue
        try:
            body = driver.execute_cdp_cmd(
                "Network.getResponseBody", {"requestId": message["params"]["requestId"]}
            )
        except Exception:
            continue  # evicted from the browser's buffer
        bodies.append(json.loads(body["body"]))
    return bodies


def test_experiment_page_shows_the_sweep_and_its_trials(
    browser: Any, server: dict[str, str], server_sweep: dict, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    report = server_sweep["report"]
    client = MlflowClient(server["url"])
    children = {
        run.info.run_id
        for run in client.search_runs(
            [report.experiment_id], f"tags.`mlflow.parentRunId` = '{report.parent_run_id}'"
        )
    }
    assert len(children) == 3

    # The server asks who is browsing: the admin, as a browser would after its login prompt.
    token = base64.b64encode(":".join(ADMIN).encode()).decode()
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd(
        "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}}
    )
    # The page tunelab's summary links to: "Model training", the sweep's runs, best first.
    from tunelab.tracking import sweep_page

    browser.get(sweep_page(server["url"], report.experiment_id, report.sweep, report.metric, "max"))
    page = wait_for(
        lambda: (
            (text := browser.find_element("tag name", "body").text)
            and report.sweep in text
            and "4 matching runs" in text
            and text
        )
    )
    assert "server-sweep" in page
    assert "Model training" in page and "Sort: val_accuracy" in page
    # Best first: the trials in the order of their val_accuracy, highest at the top.
    trials = client.search_runs(
        [report.experiment_id], f"tags.`mlflow.parentRunId` = '{report.parent_run_id}'"
    )
    best_first = [
        run.info.run_name for run in sorted(trials, key=lambda r: -r.data.metrics["val_accuracy"])
    ]
    shown = [line for line in page.splitlines() if line.startswith("trial-")]
    assert shown == best_first, (shown, best_first)
    seen: set[str] = set()

    def all_runs_fetched() -> bool:
        for body in search_responses(browser):
            seen.update(run["info"]["run_id"] for run in body.get("runs", []))
        return {report.parent_run_id, *children} <= seen

    wait_for(all_runs_fetched)
    screenshot = tmp_path / "experiment.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000  # a rendered page, not a blank one


def test_parallel_coordinates_view_renders_with_no_console_errors(
    browser: Any, server: dict[str, str], server_sweep: dict
) -> None:
    from mlflow import MlflowClient

    report = server_sweep["report"]
    page = MlflowClient(server["url"]).download_artifacts(
        report.parent_run_id, "views/parallel_coordinate.html", str(server_sweep["folder"])
    )
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(Path(page).as_uri())
    title = wait_for(
        lambda: browser.execute_script(
            "const p = document.querySelector('.js-plotly-plot');"
            "return p && p.layout && p.layout.title && p.layout.title.text;"
        )
    )
    assert title == "Parallel Coordinate Plot"
    lines = browser.execute_script(
        "return document.querySelectorAll('.js-plotly-plot .scatterlayer path.js-line').length"
    )
    assert lines >= 3  # one line per finished trial
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
