"""The sweep as a user browses it: the MLflow UI and the sweep's views in headless Chromium."""

from __future__ import annotations

import base64
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


def test_experiment_page_shows_the_sweep_and_its_trials(
    browser: Any, server: dict[str, str], server_sweep: dict, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    report = server_sweep["report"]
    client = MlflowClient(server["url"])
    trials = client.search_runs(
        [report.experiment_id], f"tags.`mlflow.parentRunId` = '{report.parent_run_id}'"
    )
    assert len(trials) == 3
    assert report.view is not None  # the sweep's view was saved on the experiment

    # The server asks who is browsing: the admin, as a browser would after its login prompt.
    token = base64.b64encode(":".join(ADMIN).encode()).decode()
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd(
        "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}}
    )
    # The page tunelab's summary links to: "Model training", the sweep's view of its runs.
    from tunelab.tracking import sweep_page

    link = sweep_page(
        server["url"], report.experiment_id, report.sweep, report.metric, "max", report.view
    )
    browser.get(link)
    page = wait_for(
        lambda: (
            (text := browser.find_element("tag name", "body").text)
            and report.sweep in text
            and "4 matching runs" in text
            and "Parameters" in text
            and text
        )
    )
    assert "Model training" in page and "Sort: val_accuracy" in page
    # The metric and the sampled hyperparameters are columns, with each trial's values.
    header = page.split("Parameters", 1)[1].split("trial-", 1)[0]
    assert {"val_accuracy", "lr", "depth"} <= set(header.split())
    for trial in trials:
        assert repr(trial.data.metrics["val_accuracy"]) in page, trial.info.run_name
        assert trial.data.params["lr"] in page, trial.info.run_name
    # Best first: the trials in the order of their val_accuracy, highest at the top.
    best_first = [
        run.info.run_name for run in sorted(trials, key=lambda r: -r.data.metrics["val_accuracy"])
    ]
    shown = [line for line in page.splitlines() if line.startswith("trial-")]
    assert shown == best_first, (shown, best_first)
    screenshot = tmp_path / "experiment.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000  # a rendered page, not a blank one
    print(f"screenshot of the sweep's runs: {screenshot}")

    # The chart view draws the objective per trial: each trial's val_accuracy, epoch by epoch.
    browser.get(link + "&compareRunsMode=CHART")
    search = wait_for(
        lambda: browser.find_elements("css selector", "input[placeholder='Search metric charts']")
    )
    search[0].send_keys("val_accuracy")
    names = {trial.info.run_name for trial in trials}

    def drawn() -> dict[str, list[float]] | None:
        traces = browser.execute_script(
            """
            const title = Array.from(document.querySelectorAll('*')).find(
                e => e.children.length === 0 && e.textContent.trim() === 'val_accuracy');
            let card = title;
            while (card && !card.querySelector('.js-plotly-plot')) card = card.parentElement;
            const plot = card && card.querySelector('.js-plotly-plot');
            return plot && plot.data && plot.data.map(t => [t.name, t.y]);
            """
        )
        lines = {name: list(values) for name, values in traces or []}
        return lines if names <= set(lines) else None

    lines = wait_for(drawn)
    for trial in trials:
        history = client.get_metric_history(trial.info.run_id, "val_accuracy")
        epochs = [point.value for point in sorted(history, key=lambda p: p.step)]
        assert lines[trial.info.run_name] == epochs
    chart = tmp_path / "chart.png"
    assert browser.save_screenshot(str(chart))
    print(f"screenshot of the sweep's charts: {chart}")


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
