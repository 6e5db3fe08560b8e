"""Ray's OptunaSearch on tunelab's study: no new trial once the budget is spent, stopped trials
told as pruned, a resumed sweep's trials bound to their own Optuna trials, and the proposals of a
reproducible sweep made in trial order."""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from tunelab.backend._callback import epoch_of
from tunelab.backend._events import (
    ERROR_KEY,
    RESUME_KEY,
    Budget,
    Continued,
)
from tunelab.backend._live import live
from tunelab.search import constraint_values
from tunelab.spec import Bound

if TYPE_CHECKING:
    from tunelab.backend._groups import Group


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
        self._bind(trial_id, number)

    def _bind(self, trial_id: str, number: int) -> None:
        """Ray's trial `trial_id` is the study's trial `number` (RUNNING, never asked anew)."""
        import optuna

        study = self._ot_study
        assert study is not None  # set up by OptunaSearch before any trial starts
        (frozen,) = study.get_trials(deepcopy=False, states=None)[number : number + 1]
        self._ot_trials[trial_id] = optuna.trial.Trial(study, frozen._trial_id)

    def _go_on(self, trial_id: str, trial: Continued) -> dict[str, Any]:
        """A resumed sweep's trial: its Optuna trial (still RUNNING in the study, never asked
        anew), its config as it was, and where to go on from."""
        self._bind(trial_id, trial.number)
        where = {
            "name": trial.name,
            "folder": trial.folder,
            "epoch": trial.epoch,
            "going_on": trial.going_on,
        }
        return {**trial.config, RESUME_KEY: where}
