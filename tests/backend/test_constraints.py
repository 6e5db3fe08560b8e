"""Constraints (`constraints:` in the spec) where trials are proposed and stopped: the sampler is
told how far each trial was outside them, so it learns where the feasible region is; a trial
whose size breaks a constraint stops at its first report. Driven as Ray Tune drives them,
without Ray."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tunelab.backend._live import attached
from tunelab.backend._searcher import BudgetedOptunaSearch
from tunelab.backend._stoppers import ConstraintStopper
from tunelab.search import define_by_run, make_sampler
from tunelab.spec import Bound, parse_spec

SPEC = """
model: mlp
dataset: wine
metric: val_accuracy
mode: max
seed: 3
budget: {trials: 40, max_epochs: 1, concurrency: 1}
searcher: {sampler: SAMPLER, startup_trials: 8}
scheduler: fifo
CONSTRAINTS
space:
  width: {type: int, low: 8, high: 256, log: true}
  lr: {type: float, low: 1.0e-3, high: 1.0e-1, log: true}
"""


def result(config: dict[str, Any]) -> dict[str, float]:
    """Wider is better, and bigger: the best unconstrained trials break `param_count <= 2000`."""
    return {
        "val_accuracy": 0.5 + config["width"] / 512 - abs(config["lr"] - 0.01),
        "param_count": 20.0 * config["width"],
        "training_iteration": 1,
    }


def run(sampler: str, constrained: bool) -> tuple[list[dict[str, Any]], Any]:
    constraints = "constraints: {param_count: {max: 2000}}" if constrained else ""
    text = SPEC.replace("SAMPLER", sampler).replace("CONSTRAINTS", constraints)
    spec = parse_spec(text, "constrained.yaml").spec
    name = f"constrained-{sampler}-{constrained}"
    searcher = BudgetedOptunaSearch(
        space=define_by_run(spec),
        metric="val_accuracy",
        mode="max",
        sampler=make_sampler(spec),
        sweep=name,
        max_epochs=1,
        constraints=spec.constraints,
    )
    configs = []
    with attached(name, events=None, budget=SimpleNamespace(capped=False)):  # type: ignore[arg-type]
        for n in range(40):
            config = searcher.suggest(f"t{n}")
            assert isinstance(config, dict)
            configs.append(config)
            searcher.on_trial_result(f"t{n}", result(config))
            searcher.on_trial_complete(f"t{n}", result(config))
    return configs, searcher._ot_study


def test_the_sampler_learns_where_the_constraints_hold() -> None:
    def infeasible_late(configs: list[dict[str, Any]]) -> int:
        return sum(result(c)["param_count"] > 2000 for c in configs[20:])

    constrained, study = run("tpe", constrained=True)
    unconstrained, _ = run("tpe", constrained=False)
    # Each trial carries how far it was outside (> 0) or inside (<= 0), as Optuna takes it.
    trial = study.get_trials()[0]
    assert trial.constraints == {"param_count": 20.0 * trial.params["width"] - 2000}
    # Unconstrained, TPE climbs to the widest (infeasible) trials; constrained, it stays near
    # the edge of the feasible region, where the best feasible trials are (seeded: 9 of the
    # last 20 outside, against 16).
    assert infeasible_late(constrained) + 4 <= infeasible_late(unconstrained)


def test_a_trial_whose_size_breaks_a_constraint_stops_at_its_first_report() -> None:
    stopper = ConstraintStopper({"param_count": Bound(max=2000), "latency_ms": Bound(max=5)})
    assert stopper("t", {"param_count": 2400, "latency_ms": 1.0, "val_accuracy": 0.9})
    assert stopper("t", {"param_count": 100, "latency_ms": 7.5})
    assert not stopper("t", {"param_count": 2000, "latency_ms": 5.0})  # bounds included
    assert not stopper("t", {"val_accuracy": 0.1})  # not measured (yet): nothing to judge
    assert not stopper.stop_all()


def test_a_fused_group_is_left_to_its_members_judge() -> None:
    # A group's result carries its first member's size: stopping on it would stop every member.
    from types import SimpleNamespace

    from tunelab.backend._live import attached

    groups = SimpleNamespace(is_group=lambda trial_id: trial_id == "group")
    stopper = ConstraintStopper({"param_count": Bound(max=2000)}, sweep="fused")
    with attached("fused", SimpleNamespace(), SimpleNamespace(), groups):  # type: ignore[arg-type]
        assert not stopper("group", {"param_count": 2400})
        assert stopper("alone", {"param_count": 2400})  # a resumed member, its own trial
