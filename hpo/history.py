"""History: the snapshot of a study's trials and reports that schedulers decide from.

Storage keeps one ``History`` per study up to date incrementally (rows changed since the last
version it saw), so a decision at 10,000 trials does not reread 10,000 rows. Schedulers receive it
read-only while the study's write lock is held; they must not mutate it. Everything a scheduler
needs is derivable from it, which is what makes decisions replayable after a restart.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Iterator

from hpo.model import Decision, Report, Study, Trial, TrialState

_TOKENS = itertools.count()  # one per History object: tells copies and rebuilt ones apart


class History:
    """Trials and reports of one study at one storage ``version``.

    ``score`` values are the first objective multiplied by its sign, so lower is always better.
    """

    def __init__(self, study: Study):
        self.study = study
        self.version = 0
        # the trial id of every apply_report, in order: its length and the object's token make
        # ``reports_key`` (``version`` is the storage's, which stays put while a write
        # transaction applies rows)
        self._report_log: list[int] = []
        self._token = next(_TOKENS)
        self._trials: dict[int, Trial] = {}
        self._by_number: dict[int, int] = {}
        self._reports: dict[int, list[Report]] = {}  # trial id -> reports sorted by step
        self._scores_at: dict[float, dict[int, float]] = {}  # step -> trial id -> score
        # step -> trial ids in the order their score at that step first appeared, and how many
        # scores at that step were later changed: lets schedulers index rungs incrementally.
        self._score_log: dict[float, list[int]] = {}
        self._score_changes: dict[float, int] = {}
        self._by_state: dict[TrialState, set[int]] = {s: set() for s in TrialState}
        self._fidelity_used: dict[int, float] = {}
        self._interrupted: set[int] = set()
        self._sign = study.objective.sign()
        self._objective = study.objective.name

    # ---- building (storage only) ---------------------------------------------------------
    def apply_trial(self, trial: Trial) -> None:
        old = self._trials.get(trial.id)
        if old is not None:
            self._by_state[old.state].discard(trial.id)
        self._trials[trial.id] = trial
        self._by_number[trial.number] = trial.id
        self._by_state[trial.state].add(trial.id)
        if trial.interrupted:
            self._interrupted.add(trial.id)
        else:
            self._interrupted.discard(trial.id)

    def apply_report(self, report: Report) -> None:
        self._report_log.append(report.trial_id)
        lst = self._reports.setdefault(report.trial_id, [])
        steps = [r.step for r in lst]
        i = bisect.bisect_left(steps, report.step)
        if i < len(lst) and lst[i].step == report.step:
            lst[i] = report
        else:
            lst.insert(i, report)
        value = report.metrics.get(self._objective)
        if value is not None:
            at = self._scores_at.setdefault(report.step, {})
            score = self._sign * value
            old = at.get(report.trial_id)
            if old is None:
                self._score_log.setdefault(report.step, []).append(report.trial_id)
            elif old != score:
                self._score_changes[report.step] = self._score_changes.get(report.step, 0) + 1
            at[report.trial_id] = score
        used = self._fidelity_used.get(report.trial_id, 0.0)
        if report.step > used:
            self._fidelity_used[report.trial_id] = report.step

    # ---- reading ---------------------------------------------------------------------------
    @property
    def report_revision(self) -> int:
        """How many reports were applied to this object (or the one it was copied from)."""
        return len(self._report_log)

    @property
    def reports_key(self) -> tuple[int, int]:
        """Equal between two reads only if no report was applied to this object in between: what
        a scheduler may key what it derived from the reports alone on (a trial's number and
        configuration never change; another History object, a copy included, never has the same
        key)."""
        return (self._token, self.report_revision)

    def reported_since(self, revision: int) -> list[int]:
        """The ids of the trials with a report applied after ``report_revision`` was
        ``revision`` (each once, in order of their first such report)."""
        return list(dict.fromkeys(self._report_log[revision:]))

    @property
    def n_trials(self) -> int:
        return len(self._trials)

    def trials(self, states: Iterable[TrialState] | None = None) -> list[Trial]:
        """Trials ordered by number, optionally only those in ``states``."""
        if states is None:
            ids: Iterable[int] = self._trials
        else:
            ids = set().union(*(self._by_state[TrialState(s)] for s in states))
        return sorted((self._trials[i] for i in ids), key=lambda t: t.number)

    def trial(self, trial_id: int) -> Trial:
        return self._trials[trial_id]

    def get(self, trial_id: int) -> Trial | None:
        return self._trials.get(trial_id)

    def by_number(self, number: int) -> Trial | None:
        tid = self._by_number.get(number)
        return None if tid is None else self._trials[tid]

    def count(self, state: TrialState) -> int:
        return len(self._by_state[state])

    def ids_in(self, state: TrialState) -> set[int]:
        return self._by_state[state]

    def interrupted(self, states: Iterable[TrialState]) -> list[Trial]:
        """Trials marked interrupted (lease expired) in ``states``, ordered by number."""
        wanted = {TrialState(s) for s in states}
        found = (self._trials[i] for i in self._interrupted)
        return sorted((t for t in found if t.state in wanted), key=lambda t: t.number)

    @property
    def pending(self) -> list[Trial]:
        """Trials in flight (pending or running): searchers must not propose near them."""
        return self.trials((TrialState.PENDING, TrialState.RUNNING))

    def reports(self, trial_id: int) -> list[Report]:
        return self._reports.get(trial_id, [])

    def report_at(self, trial_id: int, step: float) -> Report | None:
        lst = self._reports.get(trial_id)
        if not lst:
            return None
        steps = [r.step for r in lst]
        i = bisect.bisect_left(steps, step)
        return lst[i] if i < len(lst) and lst[i].step == step else None

    def last_report(self, trial_id: int) -> Report | None:
        lst = self._reports.get(trial_id)
        return lst[-1] if lst else None

    def last_decision(self, trial_id: int) -> Decision | None:
        r = self.last_report(trial_id)
        return r.decision if r else None

    def scores_at(self, step: float) -> dict[int, float]:
        """Trial id -> score (signed first objective) of every report made at exactly ``step``."""
        return self._scores_at.get(step, {})

    def score_log(self, step: float) -> tuple[list[int], int]:
        """(trial ids scored at ``step`` in order of arrival, number of scores changed since).

        Append-only while the change count stays the same, so a scheduler can index a rung by
        reading only the ids past the ones it has seen. Read-only: do not mutate the list.
        """
        return self._score_log.get(step, []), self._score_changes.get(step, 0)

    @property
    def total_fidelity(self) -> float:
        """Resource consumed: the sum over trials of the highest step each reported."""
        return float(sum(self._fidelity_used.values()))

    def __iter__(self) -> Iterator[Trial]:
        return iter(self.trials())

    def copy(self) -> History:
        """A deep-enough copy that later ``apply_*`` calls on either leave the other alone."""
        h = History(self.study)
        h.version = self.version
        h._report_log = list(self._report_log)
        h._trials = dict(self._trials)
        h._by_number = dict(self._by_number)
        h._reports = {k: list(v) for k, v in self._reports.items()}
        h._scores_at = {k: dict(v) for k, v in self._scores_at.items()}
        h._score_log = {k: list(v) for k, v in self._score_log.items()}
        h._score_changes = dict(self._score_changes)
        h._interrupted = set(self._interrupted)
        h._by_state = {k: set(v) for k, v in self._by_state.items()}
        h._fidelity_used = dict(self._fidelity_used)
        return h
