"""Real tiny sweeps: Ray in-process, a real MLflow store, checked with MLflow's own client."""

from __future__ import annotations

from pathlib import Path

import mlflow.artifacts
import mlflow.pyfunc
import numpy as np
import pytest
from mlflow import MlflowClient

import tunelab
from tunelab.spec import load_spec, parse_spec
from tunelab.sweeps import Stores, run_sweep

pytestmark = pytest.mark.e2e


def runs_of(uri: str, sweep: str) -> tuple:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tunelab")
    runs = client.search_runs([experiment.experiment_id], f"tags.`tunelab.sweep` = '{sweep}'")
    parents = [r for r in runs if r.data.tags.get("tunelab.role") == "sweep"]
    children = [r for r in runs if r.data.tags.get("tunelab.role") == "trial"]
    return client, parents, children


def test_cnn_sweep_records_one_parent_four_children_and_a_loadable_best_model(
    ray_session, store, repo
) -> None:
    loaded = load_spec(
        repo / "search_spaces/cnn_digits.yaml",
        {"--trials": 4, "--max-epochs": 2, "--name": "e2e-cnn"},
    )
    report = run_sweep(loaded, stores=Stores.resolve(**store), live=False)

    client, parents, children = runs_of(store["tracking_uri"], "e2e-cnn")
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert parent.info.run_id == report.parent_run_id and parent.info.status == "FINISHED"
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert sorted(c.info.run_name for c in children) == [
        "trial-000",
        "trial-001",
        "trial-002",
        "trial-003",
    ]
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags["tunelab.outcome"] == "completed"
        assert child.data.tags["tunelab.stopped_early"] == "false"
        assert child.data.tags["tunelab.node"]
        assert child.data.params["optimizer"] in {"sgd", "adam", "adamw"}
        assert ("momentum" in child.data.params) == (child.data.params["optimizer"] == "sgd")
        history = client.get_metric_history(child.info.run_id, "val_accuracy")
        assert sorted(m.step for m in history) == [1, 2]

    assert report.counts == {
        "completed": 4,
        "stopped_early": 0,
        "stopped_by_budget": 0,
        "failed": 0,
        "killed": 0,
    }
    best_run = client.get_run(report.best["run_id"])
    accuracies = {c.info.run_id: c.data.metrics["val_accuracy"] for c in children}
    assert report.best["metric"] == pytest.approx(max(accuracies.values()))
    assert accuracies[best_run.info.run_id] == max(accuracies.values())
    assert parent.data.tags["tunelab.best_run_id"] == best_run.info.run_id
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(report.best["metric"])
    assert parent.data.metrics["trials_completed"] == 4
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"spec.yaml", "best_config.json", "sweep_summary.json", "views"} <= artifacts

    summary = mlflow.artifacts.load_dict(f"{parent.info.artifact_uri}/sweep_summary.json")
    assert [t["metric"] for t in summary["top"]] == sorted(accuracies.values(), reverse=True)
    assert summary["top"][0]["run_id"] == best_run.info.run_id
    for entry in summary["top"]:  # the best trials keep their models, for reports
        assert "model/MLmodel" in {a.path for a in client.list_artifacts(entry["run_id"], "model")}
    assert summary["trials"]["completed"] == 4 and summary["gpu_hours"] == 0
    assert 0 < summary["cpu_hours"] < 4 * summary["wall_s"] / 3600
    views = {a.path for a in client.list_artifacts(parent.info.run_id, "views")}
    for view in ("optimization_history", "param_importances", "parallel_coordinate", "slice"):
        assert {f"views/{view}.html", f"views/{view}.png"} <= views, view
    page = client.download_artifacts(parent.info.run_id, "views/parallel_coordinate.html")
    html = Path(page).read_text()
    assert "<script" in html and 'src="http' not in html  # plotly inlined: opens offline

    local = mlflow.artifacts.download_artifacts(
        run_id=best_run.info.run_id, artifact_path="model", tracking_uri=store["tracking_uri"]
    )
    model = mlflow.pyfunc.load_model(local)
    test = load_spec(repo / "search_spaces/cnn_digits.yaml").spec
    from tunelab.data import datasets

    data = datasets.get(test.dataset.name or "").load()
    probabilities = model.predict(data.val.x)
    accuracy = float((np.argmax(probabilities, axis=1) == data.val.y).mean())
    assert accuracy == pytest.approx(report.best["metric"], abs=1e-6)


EARLY_STOP_SPEC = """
name: e2e-asha
model: mlp
dataset: digits
metric: val_accuracy
mode: max
budget: {trials: 6, max_epochs: 4, concurrency: 1}
searcher: random
scheduler: {type: asha, grace_period: 1, reduction_factor: 2}
space:
  lr: {type: float, low: 1.0e-5, high: 1.0e-1, log: true}
  width: {type: int, low: 8, high: 64}
"""


def test_asha_stops_weak_trials_early_and_marks_them(ray_session, store) -> None:
    loaded = parse_spec(EARLY_STOP_SPEC, "asha.yaml", {"--name": "e2e-asha"})
    report = run_sweep(loaded, stores=Stores.resolve(**store), live=False)
    client, _, children = runs_of(store["tracking_uri"], "e2e-asha")
    stopped = [c for c in children if c.data.tags["tunelab.outcome"] == "stopped_early"]
    assert report.counts["stopped_early"] == len(stopped) >= 1
    for child in stopped:
        assert child.info.status == "FINISHED"
        assert child.data.tags["tunelab.stopped_early"] == "true"
        assert len(client.get_metric_history(child.info.run_id, "val_accuracy")) < 4


DIVERGING_SPEC = """
model: mlp
dataset: digits
metric: val_accuracy
mode: max
budget: {trials: 2, max_epochs: 3, concurrency: 1}
scheduler: fifo
space:
  optimizer: sgd
  lr: 1.0e12
"""


def test_a_diverging_trial_fails_with_its_reason_and_the_sweep_goes_on(ray_session, store) -> None:
    loaded = parse_spec(DIVERGING_SPEC, "nan.yaml", {"--name": "e2e-nan"})
    report = run_sweep(loaded, stores=Stores.resolve(**store), live=False)
    _, parents, children = runs_of(store["tracking_uri"], "e2e-nan")
    assert report.counts["failed"] == 2 and report.best is None
    assert len(children) == 2
    for child in children:
        assert child.info.status == "FAILED"
        assert child.data.tags["tunelab.outcome"] == "failed"
        assert child.data.tags["tunelab.error"].startswith("non_finite_metric: train_loss is nan")
    assert parents[0].info.status == "FINISHED"
    assert parents[0].data.metrics["trials_failed"] == 2


SOURCE_SPEC = """
name: e2e-source
model: cnn
dataset: digits_0_4
metric: val_accuracy
mode: max
budget: {trials: 2, max_epochs: 2, concurrency: 2}
searcher: random
scheduler: fifo
space:
  lr: 3.0e-3
  channels: {type: categorical, choices: [8, 16]}
"""

TRANSFER_SPEC = """
name: e2e-transfer
model:
  name: transfer
  options: {{source: "{source}"}}
dataset: {{name: digits_5_9, options: {{labels_per_class: 20}}}}
metric: val_accuracy
mode: max
budget: {{trials: 2, max_epochs: 2, concurrency: 2}}
searcher: random
scheduler: fifo
space:
  init: {{type: categorical, choices: [pretrained, scratch]}}
  freeze: partial
"""


def test_transfer_sweep_starts_from_a_registered_model(ray_session, store) -> None:
    from tunelab.sweeps import load_source

    source = run_sweep(
        parse_spec(SOURCE_SPEC, "source.yaml", {"--name": "e2e-source"}),
        stores=Stores.resolve(**store),
        live=False,
    )
    client = MlflowClient(store["tracking_uri"])
    client.create_registered_model("digits-0-4")
    # Registered as `promote` does it: the version keeps the digest of the model's files.
    digest = client.get_run(source.best["run_id"]).data.tags["tunelab.model_sha256"]
    version = client.create_model_version(
        "digits-0-4",
        f"runs:/{source.best['run_id']}/model",
        source.best["run_id"],
        tags={"tunelab.model_sha256": digest},
    )
    client.set_registered_model_alias("digits-0-4", "champion", version.version)

    # The registry, the run id and the run's model all name the same weights.
    by_alias = load_source("models:/digits-0-4@champion", store["tracking_uri"])
    by_run = load_source(source.best["run_id"], store["tracking_uri"])
    assert by_alias["architecture"] == "cnn"
    assert by_alias["model_hparams"]["channels"] == source.best["config"]["channels"]
    for key, tensor in by_alias["model_state"].items():
        assert (tensor == by_run["model_state"][key]).all()

    spec = TRANSFER_SPEC.format(source="models:/digits-0-4@champion")
    report = run_sweep(
        parse_spec(spec, "transfer.yaml", {"--name": "e2e-transfer"}),
        stores=Stores.resolve(**store),
        live=False,
    )
    assert report.counts["completed"] == 2
    _, parents, children = runs_of(store["tracking_uri"], "e2e-transfer")
    assert parents[0].data.params["model.source"] == "models:/digits-0-4@champion"
    assert sorted(c.data.params["init"] for c in children) == ["pretrained", "scratch"]


ADDING_SPEC = """
name: e2e-adding
model: lstm
dataset: {name: adding, options: {length: 10, size: 400}}
metric: val_mse
mode: min
budget: {trials: 2, max_epochs: 2, concurrency: 2}
searcher: random
scheduler: fifo
system_metrics: {interval_s: 0.2}
space:
  hidden: {type: int, low: 8, high: 16}
"""


def test_regression_sweep_records_mse_and_its_model_predicts_values(ray_session, store) -> None:
    import mlflow.pyfunc

    report = run_sweep(
        parse_spec(ADDING_SPEC, "adding.yaml", {"--name": "e2e-adding"}),
        stores=Stores.resolve(**store),
        live=False,
    )
    _, _, children = runs_of(store["tracking_uri"], "e2e-adding")
    assert {c.data.tags["tunelab.outcome"] for c in children} == {"completed"}
    assert all({"train_loss", "val_mse", "val_mae"} <= set(c.data.metrics) for c in children)
    # System metrics, sampled in each trial's process, with the time they were taken.
    client = MlflowClient(store["tracking_uri"])
    for child in children:
        cpu = client.get_metric_history(child.info.run_id, "system/cpu_utilization_percentage")
        assert cpu and [m.step for m in cpu] == list(range(len(cpu)))
        assert all(0 <= m.value <= 100 for m in cpu)
        assert child.info.start_time <= cpu[0].timestamp <= child.info.end_time
        rss = client.get_metric_history(child.info.run_id, "system/process_memory_rss_megabytes")
        assert len(rss) == len(cpu) and all(m.value > 50 for m in rss)  # torch alone is more
    assert report.best["metric"] == pytest.approx(min(c.data.metrics["val_mse"] for c in children))

    from tunelab.data import datasets

    data = datasets.get("adding").load(length=10, size=400)
    model = mlflow.pyfunc.load_model(f"runs:/{report.best['run_id']}/model")
    predicted = np.asarray(model.predict(data.val.x)).reshape(-1)
    assert float(((predicted - data.val.y) ** 2).mean()) == pytest.approx(
        report.best["metric"], rel=1e-4
    )


GAN_SPEC = """
name: e2e-gan
model: gan
dataset: digits
metric: frechet_distance
mode: min
budget: {trials: 2, max_epochs: 2, concurrency: 2}
searcher: random
scheduler: fifo
space:
  latent_size: {type: categorical, choices: [8, 16]}
"""


def test_gan_sweep_minimises_frechet_distance_and_its_model_generates(ray_session, store) -> None:
    import mlflow.pyfunc

    report = run_sweep(
        parse_spec(GAN_SPEC, "gan.yaml", {"--name": "e2e-gan"}),
        stores=Stores.resolve(**store),
        live=False,
    )
    _, _, children = runs_of(store["tracking_uri"], "e2e-gan")
    distances = {c.info.run_id: c.data.metrics["frechet_distance"] for c in children}
    assert report.counts["completed"] == 2
    assert report.best["metric"] == pytest.approx(min(distances.values()))
    assert distances[report.best["run_id"]] == min(distances.values())

    model = mlflow.pyfunc.load_model(f"runs:/{report.best['run_id']}/model")
    latent = report.best["config"]["latent_size"]
    samples = np.asarray(model.predict(np.zeros((3, latent), dtype=np.float32)))
    assert samples.shape == (3, 1, 8, 8) and samples.min() >= 0.0 and samples.max() <= 1.0


MULTI_SPEC = """
name: e2e-multi
model: mlp
dataset: wine
objectives:
  - {metric: val_accuracy, mode: max}
  - {metric: param_count, mode: min}
constraints:
  param_count: {max: 500}
budget: {trials: 8, max_epochs: 3, concurrency: 2}
seed: 1
space:
  lr: 3.0e-2
  depth: {type: int, low: 1, high: 3}
  width: {type: int, low: 2, high: 64, log: true}
"""


def test_multi_objective_sweep_stops_early_keeps_its_constraints_and_tags_its_front(
    ray_session, store
) -> None:
    """The default scheduler of a multi-objective sweep, MO-ASHA, stops trials by their place
    on the rung's fronts; a trial too big for the constraint stops at its first epoch; the
    front is of the feasible trials, tagged on their runs and listed in the summary."""
    report = run_sweep(
        parse_spec(MULTI_SPEC, "multi.yaml", {"--name": "e2e-multi"}),
        stores=Stores.resolve(**store),
        live=False,
    )
    client, parents, children = runs_of(store["tracking_uri"], "e2e-multi")
    assert len(children) == 8
    assert report.counts["completed"] + report.counts["stopped_early"] == 8
    epochs = {
        c.info.run_id: len(client.get_metric_history(c.info.run_id, "val_accuracy"))
        for c in children
    }
    points = {
        c.info.run_id: (c.data.metrics["val_accuracy"], c.data.metrics["param_count"])
        for c in children
    }
    feasible = {run_id for run_id, (_, size) in points.items() if size <= 500}
    assert feasible and feasible != set(points), points  # the seed gives both kinds
    for c in children:
        run_id = c.info.run_id
        assert c.data.tags["tunelab.feasible"] == str(run_id in feasible).lower()
        if run_id not in feasible:  # its size cannot change: stopped at its first report
            assert epochs[run_id] == 1 and c.data.tags["tunelab.outcome"] == "stopped_early"

    def dominated(run_id: str) -> bool:
        acc, size = points[run_id]
        return any(
            a >= acc and s <= size and (a, s) != (acc, size)
            for other, (a, s) in points.items()
            if other in feasible
        )

    expected = {run_id for run_id in feasible if not dominated(run_id)}
    tagged = {c.info.run_id for c in children if c.data.tags.get("tunelab.pareto_front") == "true"}
    assert tagged == expected and expected

    parent = parents[0]
    summary = mlflow.artifacts.load_dict(f"{parent.info.artifact_uri}/sweep_summary.json")
    assert {t["run_id"] for t in summary["pareto_front"]} == expected
    assert all(t["feasible"] for t in summary["pareto_front"])
    assert summary["best"]["run_id"] in feasible and report.best is not None
    assert report.best["feasible"] is True
    assert parent.data.params["objectives"] == "val_accuracy:max,param_count:min"
    views = {a.path for a in client.list_artifacts(parent.info.run_id, "views")}
    assert {"views/pareto_front.html", "views/pareto_front.png"} <= views

    # Promote picks the smallest model of the feasible front, and says so in the history; the
    # report explains the best (feasible) trial.
    decision = tunelab.promote(
        "e2e-multi", "multi", pick="min param_count", tracking_uri=store["tracking_uri"]
    )
    smallest = min(expected, key=lambda run_id: points[run_id][1])
    assert decision.promoted, decision.gates
    assert {g.name: g.passed for g in decision.gates}["feasible"] is True
    history = tunelab.model_history("multi", tracking_uri=store["tracking_uri"])
    assert history.events[-1]["pick"] == "min param_count"
    assert history.events[-1]["run_id"] == smallest
    outcome = tunelab.report(
        "e2e-multi", methods=["saliency"], examples=8, out="reports",
        tracking_uri=store["tracking_uri"],
    )  # fmt: skip
    assert outcome.reports[0].run_id == report.best["run_id"]


WARM_SPEC = """
name: {name}
model: mlp
dataset: digits
metric: val_accuracy
mode: max
budget: {{trials: {trials}, max_epochs: 1, concurrency: 2}}
searcher: random
scheduler: fifo
space:
  lr: {{type: float, low: {low}, high: 1.0e-1, log: true}}
  optimizer: {{type: categorical, choices: [sgd, adam]}}
  momentum: {{type: float, low: 0.5, high: 0.99, when: {{optimizer: sgd}}}}
"""


def test_warm_start_seeds_the_new_sweep_with_the_earlier_trials(ray_session, store) -> None:
    import optuna

    from tunelab.search import optuna_journal

    first = run_sweep(
        parse_spec(
            WARM_SPEC.format(name="e2e-first", trials=5, low=1e-4),
            "a.yaml",
            {"--name": "e2e-first"},
        ),
        stores=Stores.resolve(**store),
        live=False,
    )
    assert first.counts["completed"] == 5
    results = Path(store["results_dir"])
    earlier = optuna.load_study(
        study_name="e2e-first", storage=optuna_journal(results / "e2e-first" / "optuna.journal")
    )
    fitting = [t for t in earlier.trials if t.params["lr"] >= 3e-3]
    second = run_sweep(
        parse_spec(
            WARM_SPEC.format(name="e2e-second", trials=2, low=3e-3),
            "b.yaml",
            {"--name": "e2e-second"},
        ),
        stores=Stores.resolve(**store),
        live=False,
        warm_start="e2e-first",
    )
    _, parents, children = runs_of(store["tracking_uri"], "e2e-second")
    params = parents[0].data.params
    assert params["warm_start"] == "e2e-first"
    assert params["warm_start_trials"] == str(len(fitting))
    assert params["warm_start_skipped"] == str(5 - len(fitting))
    assert len(children) == 2 and second.counts["completed"] == 2  # runs only for new trials
    study = optuna.load_study(
        study_name="e2e-second", storage=optuna_journal(results / "e2e-second" / "optuna.journal")
    )
    assert len(study.trials) == len(fitting) + 2
    assert all(t.params["lr"] >= 3e-3 for t in study.trials)


BUDGET_SPEC = """
name: e2e-budget
model: mlp
dataset: digits
metric: val_accuracy
mode: max
budget: {trials: 8, max_epochs: 400, concurrency: 2, max_wall_s: 10}
searcher: random
scheduler: fifo
space:
  lr: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}
"""


def test_a_wall_time_cap_stops_running_trials_after_their_epoch_and_starts_no_more(
    ray_session, store
) -> None:
    report = run_sweep(
        parse_spec(BUDGET_SPEC, "budget.yaml", {"--name": "e2e-budget"}),
        stores=Stores.resolve(**store),
        live=False,
    )
    assert report.budget_reached == "budget.max_wall_s (10 s)"
    # 400 epochs take far longer than 10 s: the two running trials were stopped, none started.
    assert report.counts["stopped_by_budget"] == 2 and sum(report.counts.values()) == 2
    client, parents, children = runs_of(store["tracking_uri"], "e2e-budget")
    assert parents[0].data.tags["tunelab.budget_reached"] == "budget.max_wall_s (10 s)"
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags["tunelab.outcome"] == "stopped_by_budget"
        epochs = [m.step for m in client.get_metric_history(child.info.run_id, "val_accuracy")]
        last = max(epochs)
        assert 1 <= last < 400 and sorted(epochs) == list(range(1, last + 1))
        # Its last epoch was checkpointed: the trial stopped after it, not in the middle.
        folder = Path(report.results_dir) / child.info.run_name
        assert (folder / f"checkpoint_{last - 1:06d}" / "checkpoint.pt").is_file()
    assert report.best is not None
    assert "model/MLmodel" in {
        a.path for a in client.list_artifacts(report.best["run_id"], "model")
    }


def test_extend_adds_trials_to_the_same_parent_and_study_and_changes_nothing_recorded(
    ray_session, store, monkeypatch
) -> None:
    import optuna

    from tunelab.cli import main
    from tunelab.search import optuna_journal

    spec = WARM_SPEC.format(name="e2e-extend", trials=3, low=1e-3)
    first = run_sweep(
        parse_spec(spec, "x.yaml", {"--name": "e2e-extend"}),
        stores=Stores.resolve(**store),
        live=False,
    )
    client, parents, before = runs_of(store["tracking_uri"], "e2e-extend")
    recorded = {
        r.info.run_id: (
            r.data.params,
            r.data.metrics,
            r.info.status,
            r.data.tags["tunelab.outcome"],
        )
        for r in before
    }
    parent_params = dict(parents[0].data.params)

    code = main(
        ["sweep", "--extend", "e2e-extend", "--trials", "2", "--json",
         "--tracking-uri", store["tracking_uri"], "--results-dir", store["results_dir"]]
    )  # fmt: skip
    assert code == 0
    client, parents, after = runs_of(store["tracking_uri"], "e2e-extend")
    assert len(parents) == 1 and parents[0].info.run_id == first.parent_run_id
    assert parents[0].info.status == "FINISHED"
    new = [r for r in after if r.info.run_id not in recorded]
    assert len(after) == 5 and len(new) == 2
    assert sorted(r.info.run_name for r in new) == ["trial-003", "trial-004"]
    assert {r.data.tags["mlflow.parentRunId"] for r in new} == {first.parent_run_id}
    for run in after:  # the earlier trials' runs are exactly as they were
        if run.info.run_id in recorded:
            params, metrics, status, outcome = recorded[run.info.run_id]
            assert (run.data.params, run.data.metrics, run.info.status) == (params, metrics, status)
            assert run.data.tags["tunelab.outcome"] == outcome
    params = parents[0].data.params
    assert {k: v for k, v in params.items() if k in parent_params} == parent_params
    assert params["extension_1_trials"] == "2"
    summary = mlflow.artifacts.load_dict(f"{parents[0].info.artifact_uri}/sweep_summary.json")
    assert summary["trials"]["completed"] == 5 and len(summary["top"]) == 5
    study = optuna.load_study(
        study_name="e2e-extend",
        storage=optuna_journal(Path(store["results_dir"]) / "e2e-extend" / "optuna.journal"),
    )
    assert len(study.trials) == 5  # one history: the new trials were sampled knowing the first
    assert parents[0].data.metrics["trials_completed"] == 5
    history = client.get_metric_history(first.parent_run_id, "trials_completed")
    assert sorted(m.value for m in history) == [3, 5]  # the first value is kept


PRUNED_SPEC = """
name: e2e-pruned
model: mlp
dataset: wine
metric: val_accuracy
mode: max
budget: {trials: 40, max_epochs: 4, concurrency: 1, max_total_epochs: 14}
searcher: {sampler: tpe, stopped_trials: pruned}
scheduler: {type: asha, grace_period: 1, reduction_factor: 2}
space:
  lr: {type: float, low: 1.0e-5, high: 1.0e-1, log: true}
  optimizer: sgd
"""


def test_an_epoch_cap_ends_the_sweep_and_stopped_trials_reach_optuna_as_pruned(
    ray_session, store
) -> None:
    import optuna

    from tunelab.search import optuna_journal

    report = run_sweep(
        parse_spec(PRUNED_SPEC, "pruned.yaml", {"--name": "e2e-pruned"}),
        stores=Stores.resolve(**store),
        live=False,
    )
    client, _, children = runs_of(store["tracking_uri"], "e2e-pruned")
    epochs = {
        c.info.run_name: len(client.get_metric_history(c.info.run_id, "val_accuracy"))
        for c in children
    }
    # One trial at a time: the cap is met exactly, long before 40 trials.
    assert sum(epochs.values()) == 14 and len(children) < 40
    assert report.budget_reached == "budget.max_total_epochs (14)"
    study = optuna.load_study(
        study_name="e2e-pruned",
        storage=optuna_journal(Path(report.results_dir) / "optuna.journal"),
    )
    states = {f"trial-{t.number:03d}": t.state.name for t in study.trials}
    for child in children:
        name, outcome = child.info.run_name, child.data.tags["tunelab.outcome"]
        if outcome == "completed":
            assert states[name] == "COMPLETE" and epochs[name] == 4
        else:  # stopped by ASHA, or by the cap: Optuna ranks it by how far it got
            assert outcome in {"stopped_early", "stopped_by_budget"}
            assert states[name] == "PRUNED" and epochs[name] < 4
    assert "COMPLETE" in states.values() and "PRUNED" in states.values()
