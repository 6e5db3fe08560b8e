"""A resumed sweep's ASHA holds its rungs again: every earlier trial's results at the rungs it
reached, so the trials to come are judged against all of them, and a trial that goes on is not
judged twice at a rung it passed. Single- and multi-objective ASHA, driven without Ray."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tunelab.backend import RESUME_KEY, EarlierResults
from tunelab.backend._moasha import MultiObjectiveASHA
from tunelab.backend._schedulers import SeededASHA

EARLIER = [
    EarlierResults(
        "trial-000", 0, {1: {"acc": 0.90, "size": 100.0}, 2: {"acc": 0.91, "size": 100.0}}
    ),
    EarlierResults("trial-001", 1, {1: {"acc": 0.80, "size": 90.0}}),
    EarlierResults("trial-002", 2, {1: {"acc": 0.85, "size": 95.0}}, going_on=True),
]


def trial(trial_id: str, resumed: str | None = None) -> Any:
    config = {RESUME_KEY: {"name": resumed}} if resumed else {}
    return SimpleNamespace(trial_id=trial_id, config=config)


def asha(earlier: list[EarlierResults], brackets: int = 1) -> SeededASHA:
    scheduler = SeededASHA(
        time_attr="training_iteration", max_t=9, grace_period=1, reduction_factor=3,
        brackets=brackets, seed=0,
    )  # fmt: skip
    scheduler.set_search_properties("acc", "max")
    scheduler.record_earlier(earlier, "acc", "max")
    return scheduler


def result(epoch: int, acc: float, size: float = 50.0) -> dict[str, float]:
    return {"training_iteration": epoch, "acc": acc, "size": size}


def test_asha_judges_a_new_trial_against_the_earlier_ones() -> None:
    for earlier, expected in ((EARLIER, "STOP"), ([], "CONTINUE")):
        scheduler = asha(earlier)
        new = trial("new")
        scheduler.on_trial_add(None, new)
        # Below the earlier trials at rung 1: stopped; alone at an empty rung, it goes on.
        assert scheduler.on_trial_result(None, new, result(1, 0.5)) == expected


def test_asha_does_not_judge_a_trial_that_goes_on_again_at_a_rung_it_passed() -> None:
    scheduler = asha(EARLIER)
    going_on = trial("ray-id-7", resumed="trial-002")
    scheduler.on_trial_add(None, going_on)
    # At epoch 2 it reports far worse than anyone: rung 1 had it already, rung 3 is ahead.
    assert scheduler.on_trial_result(None, going_on, result(2, 0.1)) == "CONTINUE"
    (bracket,) = scheduler._brackets
    rung_1 = dict(bracket._rungs)[1]
    assert rung_1 == {"earlier:trial-000": 0.90, "earlier:trial-001": 0.80, "ray-id-7": 0.85}
    new = trial("new")
    scheduler.on_trial_add(None, new)
    assert scheduler._numbers["ray-id-7"] == 2 and scheduler._numbers["new"] == 3


def test_with_several_brackets_each_earlier_trial_is_back_in_its_own_and_new_ones_join_theirs() -> (
    None
):
    def rungs(scheduler: SeededASHA) -> list[dict[float, dict[str, float]]]:
        return [{m: dict(r) for m, r in b._rungs} for b in scheduler._brackets]

    # Eight trials, uninterrupted; each reports at every epoch up to 3.
    accs = [0.9, 0.5, 0.7, 0.6, 0.8, 0.4, 0.95, 0.3]
    whole = asha([], brackets=3)
    for n, acc in enumerate(accs[:5]):
        whole.on_trial_add(None, trial(f"trial-{n:03d}"))
        for epoch in (1, 2, 3):
            whole.on_trial_result(None, trial(f"trial-{n:03d}"), result(epoch, acc))
    joined = [whole._brackets.index(whole._trial_info[f"trial-{n:03d}"]) for n in range(5)]
    assert len(set(joined)) > 1  # the test means something only if the trials spread out

    # The same five as a resumed sweep's earlier trials: the same rungs, in the same brackets.
    earlier = [
        EarlierResults(f"trial-{n:03d}", n, {e: {"acc": acc} for e in (1, 2, 3)})
        for n, acc in enumerate(accs[:5])
    ]
    resumed = asha(earlier, brackets=3)
    renamed = [
        {m: {k.removeprefix("earlier:"): v for k, v in r.items()} for m, r in b.items()}
        for b in rungs(resumed)
    ]
    assert renamed == rungs(whole)
    # The trials to come join the brackets they would have joined without the stop.
    for n in range(5, 8):
        whole.on_trial_add(None, trial(f"trial-{n:03d}"))
        resumed.on_trial_add(None, trial(f"trial-{n:03d}"))
        assert resumed._brackets.index(resumed._trial_info[f"trial-{n:03d}"]) == (
            whole._brackets.index(whole._trial_info[f"trial-{n:03d}"])
        )


def test_multi_objective_asha_holds_its_rungs_again_too() -> None:
    for earlier, expected in ((EARLIER, "STOP"), ([], "CONTINUE")):
        moasha = MultiObjectiveASHA(targets=[("acc", "max"), ("size", "min")], max_t=9)
        moasha.record_earlier(earlier)
        going_on = trial("ray-id-7", resumed="trial-002")
        moasha.on_trial_add(None, going_on)
        assert moasha.on_trial_result(None, going_on, result(2, 0.1, 500.0)) == "CONTINUE"
        new = trial("new")
        moasha.on_trial_add(None, new)
        # Dominated by every earlier trial at rung 1 (and not the first there): stopped.
        assert moasha.on_trial_result(None, new, result(1, 0.5, 120.0)) == expected
