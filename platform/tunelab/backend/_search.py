"""The scheduler, the searcher and the stopper, as Ray Tune runs them: Ray's schedulers by the
spec's name, Ray's OptunaSearch on tunelab's study, and the sweep's budget asked after each
result and before each new trial."""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from ray import tune
from ray.tune.schedulers import (
    ASHAScheduler,
    FIFOScheduler,
    HyperBandScheduler,
    MedianStoppingRule,
    TrialScheduler,
)
from ray.tune.schedulers.async_hyperband import _Bracket
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from tunelab.backend._callback import epoch_of
from tunelab.backend._events import (
    ERROR_KEY,
    RESUME_KEY,
    Budget,
    Continued,
    EarlierResults,
    resumed_name,
)
from tunelab.backend._live import live
from tunelab.backend._moasha import MultiObjectiveASHA
from tunelab.search import constraint_values
from tunelab.spec import Bound, SweepSpec, hyperband_reduction_factor, violations

if TYPE_CHECKING:
    from tunelab.backend._groups import Group


def make_scheduler(
    spec: SweepSpec,
    sweep: str = "",
    trainer: str = "supervised",
    untrained: Mapping[str, tuple[float, float]] | None = None,
    concurrency: int = 1,
    earlier: Sequence[EarlierResults] = (),
) -> TrialScheduler:
    """The spec's scheduler. A population based one (pbt, pb2) tells the sweep `sweep` of each
    exploit, and changes the hyperparameters `trainer` can change as it trains. `untrained`:
    what a model that learned nothing scores, and a perfect one, by metric (ASHA's plateau).
    `concurrency`: trials at once (a reproducible sweep's ASHA judges in trial order).
    `earlier`: a resumed sweep's trials, whose results ASHA's rungs hold again."""
    s, max_epochs = spec.scheduler, spec.budget.max_epochs
    if s.population_based:
        from tunelab.backend._population import population_scheduler

        return population_scheduler(spec, sweep, trainer)
    if s.type == "asha" and spec.objectives:
        moasha = MultiObjectiveASHA(
            targets=spec.targets,
            max_t=max_epochs,
            grace_period=s.grace_period or 1,
            reduction_factor=s.reduction_factor or 3,
            constraints=spec.constraints,
            plateau=plateau_cutoffs(spec, untrained or {}),
            in_order=concurrency if spec.searcher.reproducible else None,
        )
        moasha.record_earlier(earlier)
        return moasha
    if s.type == "asha":
        asha = SeededASHA(
            time_attr="training_iteration",
            max_t=max_epochs,
            grace_period=s.grace_period or 1,
            reduction_factor=s.reduction_factor or 3,
            brackets=s.brackets or 1,
            seed=spec.seed,
            plateau=plateau_cutoffs(spec, untrained or {}),
            in_order=concurrency if spec.searcher.reproducible else None,
        )
        asha.record_earlier(earlier, spec.metric, spec.mode)
        return asha
    if s.type == "hyperband":
        return HyperBandScheduler(
            time_attr="training_iteration",
            max_t=max_epochs,
            reduction_factor=hyperband_reduction_factor(spec),
        )
    if s.type == "median":
        return MedianStoppingRule(
            time_attr="training_iteration", grace_period=s.grace_period or 1, min_samples_required=3
        )
    return FIFOScheduler()


# ASHA's plateau when a spec sets none: the one setting that reached random search's best in
# every seed on the adding specs, and lost no seed on the other nine (benchmarks/README.md).
DEFAULT_PLATEAU = 0.1


def plateau_cutoffs(
    spec: SweepSpec, untrained: Mapping[str, tuple[float, float]]
) -> tuple[float, float] | None:
    """ASHA's plateau (`scheduler.plateau`), as rewards (Ray's ASHA: higher is better, the metric
    times -1 when it is minimized): (the reward a rung's cutoff must reach before the rung stops
    trials by it, the one below which a trial stops anyway: as far below learning nothing). None:
    plain ASHA (no plateau set, or a metric whose untrained level is not known)."""
    margin = spec.scheduler.plateau
    if margin is None:
        margin = DEFAULT_PLATEAU
    if not margin or spec.metric not in untrained:
        return None
    level, ideal = untrained[spec.metric]
    sign = 1.0 if spec.mode == "max" else -1.0
    reach = sign * margin * (ideal - level)  # > 0: the way to go, as a reward
    return sign * level + reach, sign * level - reach


class TunelabBracket(_Bracket):
    """An ASHA bracket with two of tunelab's rules, each optional.

    The plateau (`leaves`, `worse`): a rung stops no trial while the cutoff (the top
    1/reduction_factor of the rung's results) is still on the plateau: then every result there
    is noise around what a model that learned nothing scores, and ranking by it keeps random
    trials. Only a trial clearly worse than learning nothing (diverging) stops there. Once a
    rung's top has left the plateau, it is plain ASHA's, and stops the trials still on it.

    Trial order (`lag`, a reproducible sweep's concurrency): trial n is judged at a rung against
    the trials that had ended when it was proposed, 0 .. n - lag, not whichever reached the
    rung first; so the trials it stops depend on the results only, not on timing."""

    def __init__(
        self,
        *args: Any,
        leaves: float | None = None,
        worse: float | None = None,
        numbers: Mapping[str, int] | None = None,
        lag: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.leaves, self.worse = leaves, worse
        self.numbers, self.lag = numbers, lag
        self.judged: int | None = None  # the number of the trial being judged

    def on_result(self, trial: Any, cur_iter: int, cur_rew: float | None) -> str:
        if self.numbers is not None:
            self.judged = self.numbers[trial.trial_id]
        return str(super().on_result(trial, cur_iter, cur_rew))

    def cutoff(self, recorded: dict[str, float]) -> float | None:  # type: ignore[override]
        if self.numbers is not None and self.lag is not None and self.judged is not None:
            seen = self.judged - self.lag
            recorded = {k: v for k, v in recorded.items() if self.numbers[k] <= seen}
        if not recorded:
            return None
        cutoff = float(np.nanpercentile(list(recorded.values()), (1 - 1 / self.rf) * 100))
        if self.leaves is None or self.worse is None or cutoff >= self.leaves:
            return cutoff
        return min(cutoff, self.worse)


class SeededASHA(ASHAScheduler):
    """Ray's ASHA, whose trials join their brackets (`brackets` > 1) by the sweep's seed rather
    than numpy's global state, so that a seeded sweep stops the same trials when run again;
    with `plateau` (see plateau_cutoffs), its brackets wait out the plateau trials start on;
    with `in_order` (a reproducible sweep's concurrency), its rungs judge in trial order (see
    TunelabBracket)."""

    def __init__(
        self,
        *,
        grace_period: int,
        max_t: int,
        reduction_factor: float,
        brackets: int,
        seed: int | None,
        plateau: tuple[float, float] | None = None,
        in_order: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            grace_period=grace_period,
            max_t=max_t,
            reduction_factor=reduction_factor,
            brackets=brackets,
            **kwargs,
        )
        self._rng = np.random.default_rng(seed)
        self._numbers: dict[str, int] = {}  # each trial's, in the order trials were added
        # A resumed sweep's trials that go on: by name, their number and rewards at each rung.
        self._going_on: dict[str, tuple[int, _Bracket, dict[float, float]]] = {}
        leaves, worse = plateau if plateau is not None else (None, None)
        self._brackets = [
            TunelabBracket(
                grace_period,
                max_t,
                reduction_factor,
                s,
                stop_last_trials=self._stop_last_trials,
                leaves=leaves,
                worse=worse,
                numbers=self._numbers if in_order is not None else None,
                lag=in_order,
            )
            for s in range(brackets)
        ]

    def record_earlier(self, earlier: Sequence[EarlierResults], metric: str, mode: str) -> None:
        """A resumed sweep's rungs as they were: each earlier trial's `metric` at each rung it
        reached, in the bracket it was in. The trials that go on are recorded under their new
        ids as Ray adds them, so no rung judges them twice. A trial's bracket is the seed's
        draw for its number (the draws depend on nothing else), so they are drawn again in
        number order, and the trials to come draw on where the first run would have."""
        sign = 1.0 if mode == "max" else -1.0
        drawn = [self._draw() for _ in range(max((t.number + 1 for t in earlier), default=0))]
        for trial in earlier:
            bracket = drawn[trial.number]
            rewards = {
                milestone: sign * trial.epochs[math.ceil(milestone)][metric]
                for milestone, _ in bracket._rungs
                if metric in trial.epochs.get(math.ceil(milestone), {})
            }
            if trial.going_on:
                self._going_on[trial.name] = (trial.number, bracket, rewards)
                continue
            key = f"earlier:{trial.name}"
            self._numbers[key] = trial.number
            for milestone, recorded in bracket._rungs:
                if milestone in rewards:
                    recorded[key] = rewards[milestone]

    def _draw(self) -> _Bracket:
        """The bracket the next trial joins: Ray's weights (a softmax of each bracket's number
        of rungs), drawn from the sweep's seed."""
        if len(self._brackets) == 1:
            return self._brackets[0]
        rungs = np.array([len(b._rungs) for b in self._brackets])
        weights = np.exp(rungs - rungs.max())
        return self._brackets[self._rng.choice(len(self._brackets), p=weights / weights.sum())]

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        name = resumed_name(trial)
        earlier = self._going_on.pop(name, None) if name else None
        if earlier is not None:
            self._numbers[trial.trial_id] = earlier[0]
        self._numbers.setdefault(trial.trial_id, len(self._numbers))
        super().on_trial_add(tune_controller, trial)
        bracket = earlier[1] if earlier is not None else self._draw()
        self._trial_info[trial.trial_id] = bracket
        if earlier is not None:
            for milestone, recorded in bracket._rungs:
                if milestone in earlier[2]:
                    recorded[trial.trial_id] = earlier[2][milestone]


class BudgetStopper(tune.Stopper):
    """Once the budget is spent, each running trial stops at its next report: after the epoch
    it was training, whose checkpoint comes with the report. A trial that does not report in
    time is stopped where it is once `max_wall_s` is overrun (see Budget.overrun)."""

    def __init__(self, sweep: str) -> None:
        self.sweep = sweep  # pickled with the experiment: only the name (see _live)

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        groups = live(self.sweep).groups
        if groups is not None and groups.is_group(trial_id):
            return False  # its members, each (see _fusion.MemberScheduler)
        epoch_s = float(result.get("time_this_iter_s") or 0.0)
        return live(self.sweep).budget.stop_after(trial_id, epoch_of(result), epoch_s)

    def stop_all(self) -> bool:
        # Asked by Ray many times a second, results or not: running trials finish their epoch
        # and the searcher starts no new one, unless the wall-time cap is overrun.
        budget = live(self.sweep).budget
        return budget.overrun() or budget.stuck()


class ConstraintStopper(tune.Stopper):
    """Stops a trial at the first report whose size or speed (a metric its training does not
    change: `param_count`, `latency_ms`) breaks one of the spec's constraints on it: no later
    epoch can make it feasible. A fused sweep's group trials are left to the member scheduler,
    which judges each member (a group's result carries its first member's values only)."""

    def __init__(self, fixed: Mapping[str, Bound], sweep: str | None = None) -> None:
        self.fixed = dict(fixed)
        self.sweep = sweep  # pickled with the experiment: only the name (see _live)

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        groups = live(self.sweep).groups if self.sweep is not None else None
        if groups is not None and groups.is_group(trial_id):
            return False  # its members, each (see _fusion.MemberScheduler)
        values = {m: result[m] for m in self.fixed if isinstance(result.get(m), int | float)}
        return bool(values) and bool(violations({m: self.fixed[m] for m in values}, values))

    def stop_all(self) -> bool:
        return False


class BudgetedOptunaSearch(OptunaSearch):
    """Ray's OptunaSearch that suggests no new trial once the budget is spent, that can tell
    Optuna a trial the scheduler stopped early as pruned rather than complete, and that first
    hands a resumed sweep's unfinished trials back, each bound to its own Optuna trial."""

    def __init__(
        self,
        *args: Any,
        sweep: str,
        max_epochs: int | None = None,
        stopped_as_pruned: bool = False,
        continued: list[Continued] | None = None,
        asked: Sequence[int] = (),
        in_order: tuple[int, int] | None = None,
        constraints: Mapping[str, Bound] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # The spec's constraints: how far each trial's last values are outside them is set on
        # its Optuna trial before it is told, for the samplers that learn them.
        self.constraints = dict(constraints or {})
        self.sweep = sweep  # pickled with the experiment: only the name (see _live)
        self.max_epochs, self.stopped_as_pruned = max_epochs, stopped_as_pruned
        self.continued = list(continued or [])
        # A resumed sweep's Optuna trials that its lost driver asked for, by number: the first
        # new trials take them (see `_take_asked`).
        self.asked = list(asked)
        self.told_epochs: dict[str, int] = {}  # the last epoch told Optuna, by trial
        # Reproducible (searcher.reproducible): (trials at once, trials to propose). Trial n is
        # proposed from the results of trials 0 .. n - concurrency exactly, told Optuna in
        # trial order whatever order they ended in; the ones between are running, as they
        # would be in any run. So the proposals depend on the seed and the results only.
        self.in_order = in_order
        self.proposed: list[str] = []  # trial ids, in the order proposed
        self.held: dict[str, list[tuple[str, Any]]] = {}  # by trial: its calls, not yet told
        self.released = 0  # trials told Optuna: proposed[:released]
        self.proposing_ended = False

    # Ray pickles the searcher into the results folder (its own checkpoint, and the Tuner's
    # state), which is shared storage on a cluster: the study stays out, for its storage holds
    # the database's address and password. A sweep resumes from the study itself.
    _NOT_PICKLED = ("_storage", "_ot_study", "_ot_trials")

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in self._NOT_PICKLED}

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.__getstate__(), file)

    @property
    def budget(self) -> Budget | None:
        budget = live(self.sweep).budget
        return budget if budget.capped else None

    def _hold(self, trial_id: str, call: tuple[str, Any]) -> bool:
        """In order: keep a trial's call until its turn, then tell what is due. Whether it
        was held (else it is told now, as it comes)."""
        if self.in_order is None:
            return False
        self.held.setdefault(trial_id, []).append(call)
        self._release()
        return True

    def _due(self) -> int:
        """How many trials, in order, the next proposal is to see: trials 0 .. n - concurrency
        for proposal n; every one once proposing has ended."""
        assert self.in_order is not None
        concurrency, planned = self.in_order
        if self.proposing_ended or len(self.proposed) >= planned:
            return len(self.proposed)
        return len(self.proposed) - concurrency + 1

    def _release(self) -> None:
        """Tell Optuna, in trial order, each ended trial the next proposal is to see."""
        due = self._due()
        while self.released < due:
            trial_id = self.proposed[self.released]
            calls = self.held.get(trial_id, [])
            if not calls or calls[-1][0] != "complete":
                return  # its turn, and still running: what comes after waits
            for kind, arguments in self.held.pop(trial_id):
                if kind == "result":
                    self._on_result(trial_id, arguments)
                else:
                    self._on_complete(trial_id, *arguments)
            self.released += 1

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if not self._hold(trial_id, ("result", result)):
            self._on_result(trial_id, result)

    def _on_result(self, trial_id: str, result: dict[str, Any]) -> None:
        group = self._group(trial_id)
        if group is not None:
            self._tell_members(group)
            return
        # Optuna's intermediate values go by epoch: Ray's count starts again when a resumed
        # sweep's trial goes on. An epoch is told once: a retried trial repeats epochs, and a
        # population based one can go back to an earlier epoch of another trial's.
        epoch = epoch_of(result)
        if epoch <= self.told_epochs.get(trial_id, 0):
            return
        self.told_epochs[trial_id] = epoch
        super().on_trial_result(trial_id, {**result, "training_iteration": epoch})

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        if not self._hold(trial_id, ("complete", (result, error))):
            self._on_complete(trial_id, result, error)

    def _on_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        group = self._group(trial_id)
        if group is not None:  # every member it was training ends with it
            self._tell_members(group, ended=True, error=error)
            return
        if result is not None and ERROR_KEY in result:  # the trial's own error ended it
            result, error = None, True  # told FAIL, whatever it reported before
        if self.constraints and result is not None and trial_id in self._ot_trials:
            trial = self._ot_trials[trial_id]
            for metric, far in constraint_values(self.constraints, result).items():
                trial.set_constraint(metric, far)
        stopped_early = (
            self.stopped_as_pruned
            and not error
            and result is not None
            and self.max_epochs is not None
            and epoch_of(result) < self.max_epochs
            and not isinstance(self.metric, list)
            and trial_id not in self._completed_trials
        )
        if not stopped_early:
            super().on_trial_complete(trial_id, result, error)
            return
        # Optuna ranks pruned trials by the last step they reported (Ray reported every epoch).
        from optuna.trial import TrialState

        study = self._ot_study
        assert study is not None  # set up by OptunaSearch before any trial starts
        study.tell(self._ot_trials[trial_id], state=TrialState.PRUNED)
        self._completed_trials.add(trial_id)

    def _group(self, trial_id: str) -> Group | None:
        groups = live(self.sweep).groups
        return groups.by_trial.get(trial_id) if groups is not None else None

    def _tell_members(self, group: Group, *, ended: bool = False, error: bool = False) -> None:
        """Each member's latest result, and the end of those that ended (`ended`: every one)."""
        for member in group.members:
            if member.id in self._completed_trials:
                continue
            if member.last is not None:
                self.on_trial_result(member.id, member.last)
            if member.error is not None or (error and member.stopped_at is None):
                self.on_trial_complete(member.id, None, error=True)
            elif ended or member.stopped_at is not None:
                self.on_trial_complete(member.id, member.last)

    def prune_unfinished(self) -> None:
        """Tell Optuna PRUNED every trial that did not end (the wall-time cap stopped them where
        they were): ranked, as any trial stopped early, by the last epoch it reported."""
        from optuna.trial import TrialState

        if self.in_order is not None:  # what ended is told first, in order
            self.proposing_ended = True
            self._release()
        study = self._ot_study
        for trial_id, trial in self._ot_trials.items():
            if trial_id not in self._completed_trials:
                assert study is not None
                study.tell(trial, state=TrialState.PRUNED)
                self._completed_trials.add(trial_id)

    # Searcher.FINISHED (a string) is how a searcher ends the sweep; Ray's annotation omits it.
    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
        if self.in_order is None:
            return self._suggest(trial_id)
        if trial_id not in self.proposed:
            self._release()
            if self.released < self._due():
                return None  # a trial before its turn's is still running: asked again later
        proposal = self._suggest(trial_id)
        if isinstance(proposal, dict) and trial_id not in self.proposed:
            self.proposed.append(trial_id)
        elif proposal == Searcher.FINISHED:
            self.proposing_ended = True
            self._release()
        return proposal

    def _suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        groups = live(self.sweep).groups
        if self.budget is not None and self.budget.exhausted():
            if groups is not None and groups.carried is not None:
                self._never_ran(groups.carried[0])  # proposed for a group that never came
                groups.carried = None
            return Searcher.FINISHED
        if self.continued and trial_id not in self._ot_trials:
            return self._go_on(trial_id, self.continued.pop(0))  # it trains alone
        if groups is None:
            if self.asked and trial_id not in self._ot_trials:
                self._take_asked(trial_id, self.asked.pop(0))
            return super().suggest(trial_id)  # type: ignore[no-any-return]
        if groups.remaining <= 0 and groups.carried is None:
            return Searcher.FINISHED
        return groups.propose(trial_id, self._ask_member, self._rename)

    def _ask_member(
        self, member_id: str, wanted: dict[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A fused group's member from Optuna: its config and Optuna params, with `wanted` (the
        group's shared params) fixed and the member's own sampled."""
        assert self._ot_study is not None  # set up by OptunaSearch before any trial starts
        if wanted:
            self._ot_study.enqueue_trial(wanted, skip_if_exists=False)
        config = super().suggest(member_id)
        assert isinstance(config, dict)  # define-by-run: always a config
        return config, dict(self._ot_trials[member_id].params)

    def _never_ran(self, trial_id: str) -> None:
        from optuna.trial import TrialState

        assert self._ot_study is not None
        self._ot_study.tell(self._ot_trials[trial_id], state=TrialState.FAIL)
        self._completed_trials.add(trial_id)

    def _rename(self, old: str, new: str) -> None:
        self._ot_trials[new] = self._ot_trials.pop(old)

    def _take_asked(self, trial_id: str, number: int) -> None:
        """A new trial takes an Optuna trial asked for before a resume and never run: the
        define-by-run function gets back the parameters it had suggested (Optuna returns a
        parameter already suggested as it was) and suggests any it had not reached, so the
        trial has the number, the seed and the name it would have had uninterrupted. (A fused
        sweep's members share their group's parameters: there such trials are told FAIL at the
        end, see `fail_abandoned`.)"""
        import optuna

        study = self._ot_study
        assert study is not None  # set up by OptunaSearch before any trial starts
        (frozen,) = study.get_trials(deepcopy=False, states=None)[number : number + 1]
        self._ot_trials[trial_id] = optuna.trial.Trial(study, frozen._trial_id)

    def _go_on(self, trial_id: str, trial: Continued) -> dict[str, Any]:
        """A resumed sweep's trial: its Optuna trial (still RUNNING in the study, never asked
        anew), its config as it was, and where to go on from."""
        import optuna

        study = self._ot_study
        assert study is not None  # set up by OptunaSearch before any trial starts
        (frozen,) = study.get_trials(deepcopy=False, states=None)[trial.number : trial.number + 1]
        self._ot_trials[trial_id] = optuna.trial.Trial(study, frozen._trial_id)
        where = {
            "name": trial.name,
            "folder": trial.folder,
            "epoch": trial.epoch,
            "going_on": trial.going_on,
        }
        return {**trial.config, RESUME_KEY: where}
