"""Synchronous successive halving and Hyperband (Li et al., "Hyperband: A Novel Bandit-Based
Approach to Hyperparameter Optimization", JMLR 2018, Algorithm 1).

Hyperband with ``R = max_fidelity / min_fidelity`` (in units of the minimum) and ``eta``:
``s_max = floor(log_eta(R))``; bracket ``s`` (``s = s_max, ..., 0``, then repeated) starts
``n = ceil((s_max + 1) / (s + 1) * eta**s)`` configurations at ``r = max_fidelity * eta**-s``; its
rung ``i`` (``i = 0..s``) runs ``n_i = floor(n * eta**-i)`` of them to ``r_i = r * eta**i``, and
the best ``floor(n_i / eta)`` of rung ``i`` go on to rung ``i + 1`` once every trial of rung ``i``
has reported (synchronous). Successive halving is the single bracket ``s = s_max`` repeated, with
``n`` settable. Trials pause at each rung; the winners are resumed from their checkpoints, the
others are stopped when their rung completes. While a bracket waits for its rung to fill, free
workers start the next bracket, so workers never idle (as Syne Tune's synchronous Hyperband).

With integral fidelities the rung levels are rounded to whole steps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpo.schedulers.base import (
    Scheduler,
    Searcher,
    Suggestion,
    check_eta,
    check_rungs,
    fidelity_is_integral,
    fidelity_range,
    top_k,
)

from hpo.errors import InvalidStudy
from hpo.history import History
from hpo.model import Decision, Report, Study, Trial, TrialState


@dataclass(frozen=True)
class Bracket:
    s: int
    n: int  # configurations started
    levels: tuple[float, ...]  # r_0 < ... < r_s
    sizes: tuple[int, ...]  # n_0, ..., n_s


def hyperband_brackets(r_min: float, r_max: float, eta: float, integral: bool) -> list[Bracket]:
    """Brackets ``s = s_max .. 0`` of one Hyperband iteration, as in Algorithm 1. Raises
    InvalidStudy where ``check_rungs`` does."""
    check_rungs(r_min, r_max, eta)
    s_max = int(math.floor(math.log(r_max / r_min) / math.log(eta) + 1e-9))
    out = []
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) / (s + 1) * eta**s - 1e-9)
        levels = [r_max * eta ** (i - s) for i in range(s + 1)]
        if integral:
            levels = [float(round(x)) for x in levels]
        sizes = [math.floor(n * eta**-i + 1e-9) for i in range(s + 1)]
        out.append(Bracket(s, n, tuple(levels), tuple(sizes)))
    return out


class SuccessiveHalving(Scheduler):
    """Synchronous successive halving: the largest Hyperband bracket, repeated."""

    name = "sha"
    hyperband = False

    def __init__(
        self,
        study: Study,
        *,
        eta: float = 3,
        min_fidelity: float | None = None,
        max_fidelity: float | None = None,
        n: int | None = None,
        max_brackets: int | None = None,
        seed: int = 0,
        searcher: Searcher | None = None,
        points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
    ):
        super().__init__(study, seed=seed, searcher=searcher, points_to_evaluate=points_to_evaluate)
        self.eta = check_eta(eta)
        self.r_min, self.r_max = fidelity_range(study, min_fidelity, max_fidelity)
        plan = hyperband_brackets(self.r_min, self.r_max, self.eta, fidelity_is_integral(study))
        if not self.hyperband:
            b = plan[0]
            if n is not None:
                if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                    raise InvalidStudy(f"sha n must be a positive integer, got {n!r}")
                sizes = tuple(math.floor(n * self.eta**-i + 1e-9) for i in range(b.s + 1))
                b = Bracket(b.s, n, b.levels, sizes)
            plan = [b]
        elif n is not None:
            raise InvalidStudy("hyperband sets n per bracket; 'n' is a parameter of sha only")
        if max_brackets is not None and (
            isinstance(max_brackets, bool) or not isinstance(max_brackets, int) or max_brackets < 1
        ):
            raise InvalidStudy(f"max_brackets must be a positive integer, got {max_brackets!r}")
        self.plan = plan
        self.max_brackets = max_brackets
        self._done_below = 0  # brackets below this index are complete (a cache: they stay so)

    def bracket(self, index: int) -> Bracket:
        return self.plan[index % len(self.plan)]

    # ---- bracket state, derived from the history -----------------------------------------------
    def _members(self, history: History) -> dict[int, list[Trial]]:
        out: dict[int, list[Trial]] = {}
        for t in history.trials():
            if t.bracket is not None:
                out.setdefault(t.bracket, []).append(t)
        return out

    def _walk(self, history: History, index: int, members: list[Trial]):
        """Yields (rung i, members M_i, done_i, winners M_{i+1} or None) for a bracket."""
        b = self.bracket(index)
        current = members
        for i, level in enumerate(b.levels):
            full = i > 0 or len(members) >= b.n
            done = full and all(
                history.report_at(t.id, level) is not None or t.state.is_final for t in current
            )
            winners = None
            if done and i < b.s:
                scores = {
                    t.id: history.scores_at(level)[t.id]
                    for t in current
                    if t.id in history.scores_at(level)
                }
                winners = [history.trial(tid) for tid in top_k(scores, b.sizes[i + 1], history)]
            yield i, current, done, winners
            if winners is None:
                return
            current = winners

    def suggest(self, history: History) -> Suggestion | None:
        members = self._members(history)
        index = self._done_below
        while True:
            if self.max_brackets is not None and index >= self.max_brackets:
                return None
            b = self.bracket(index)
            mine = members.get(index, [])
            if len(mine) < b.n:
                return self._new(history, b.levels[0], bracket=index)
            complete = False
            for i, _current, done, winners in self._walk(history, index, mine):
                if winners is not None:
                    for t in winners:
                        if t.state is TrialState.PAUSED and (t.until or 0) <= b.levels[i]:
                            return Suggestion.resume(t, b.levels[i + 1])
                if i == b.s and done:
                    complete = True
            if complete and index == self._done_below:
                self._done_below += 1
            index += 1

    def on_report(self, history: History, trial: Trial, report: Report) -> Decision:
        b = self.bracket(trial.bracket or 0)
        if report.step in b.levels[:-1]:
            return Decision.PAUSE
        return Decision.CONTINUE

    def retired(self, history: History) -> list[int]:
        members = self._members(history)
        out: list[int] = []
        for index, mine in members.items():
            for _i, current, _done, winners in self._walk(history, index, mine):
                if winners is None:
                    break
                keep = {t.id for t in winners}
                out.extend(
                    t.id for t in current if t.id not in keep and t.state is TrialState.PAUSED
                )
        return out

    def is_finished(self, history: History) -> bool:
        if self.max_brackets is None:
            return False
        members = self._members(history)
        for index in range(self._done_below, self.max_brackets):
            mine = members.get(index, [])
            if len(mine) < self.bracket(index).n:
                return False
            steps = list(self._walk(history, index, mine))
            last_rung, _members, done, _winners = steps[-1]
            if last_rung != self.bracket(index).s or not done:
                return False
        return True


class Hyperband(SuccessiveHalving):
    """Synchronous Hyperband: brackets s_max..0 in turn, each a synchronous successive halving."""

    name = "hyperband"
    hyperband = True
