"""Asynchronous Successive Halving (ASHA; Li et al., "A System for Massively Parallel
Hyperparameter Tuning", MLSys 2020), in its promotion and stopping variants, with optional
asynchronous Hyperband brackets.

Rungs of bracket ``s``: ``r_min * eta**(s + k)`` below ``r_max``, then ``r_max``.

Promotion variant (the paper's Algorithm 2). ``get_job`` looks at rungs from the top one down and
promotes the best trial of ``top_k(rung k, floor(|rung k| / eta))`` that has not been promoted
yet; if there is none, a new configuration starts at the bottom rung. A trial that reaches a rung
pauses (it checkpoints and frees its worker) unless ``get_job`` would pick that very trial at that
moment, in which case it continues at once: the same decision the paper's worker would get back,
without a pause/resume round trip. Paused trials are resumed from their checkpoints when promoted.

Stopping variant (as in Syne Tune's and Ray Tune's ASHA): a trial reaching rung ``k`` continues if
it is among the best ``ceil(n / eta)`` of the ``n`` results recorded at that rung so far
(itself included), and is stopped otherwise. The first result at a rung always continues.

Brackets (asynchronous Hyperband, Li et al. 2020 section 3.3): with ``brackets > 1`` (``"all"``:
every bracket the rung levels allow, ``s_max + 1``), each new
trial draws its bracket ``s`` with probability proportional to the size of the matching
Hyperband bracket, ``eta**(s_max - s) / (s_max - s + 1)``; rungs are kept per bracket.

``brackets="adaptive"`` (ours; every bracket available, none drawn at random): a new trial starts
in the lowest bracket none of whose rungs below the top ranks the best configurations in reverse
of the top fidelity. Per rung level ``r``: Kendall's tau-b between the values at ``r`` and at the
top fidelity of the ``n <= AGREE_TOP_K`` trials with the best top-fidelity values among those
with a value at both (``rung_agreement``). A level reverses the ranking when tau is significantly
negative: below ``-AGREE_Z`` standard deviations of tau under independence,
``sqrt(2 (2n + 5) / (9 n (n - 1)))`` (Kendall 1938; a one-sided test at 10%), so noise among
near-equal top results (tau about 0) keeps a study in the cheap brackets. With fewer than
``AGREE_MIN`` such trials there is no evidence, and a study starts as one-bracket ASHA. Where the
low fidelities do rank the near-optimal configurations in reverse (branin-mf: their optimum is
shifted), their rungs would stop exactly the configurations a model proposes near the optimum;
starting higher skips those rungs. Trials report at every step they train, so trials started
higher still add values at the lower levels and the choice can move back down. Hyper-Tune
(``hypertune``) learns a bracket distribution from ranking losses of per-level GPs; this tests the
measured values directly and is a pure function of the history.

Trials must report at every rung level (with integral fidelities, at whole steps).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from hpo.schedulers.base import (
    RungIndex,
    Scheduler,
    Searcher,
    Suggestion,
    check_eta,
    fidelity_is_integral,
    fidelity_range,
    rung_levels,
)

from hpo.errors import InvalidStudy
from hpo.history import History
from hpo.model import Decision, Report, Study, Trial, TrialState

AGREE_TOP_K = 8  # best top-fidelity results whose ranking a lower level is compared with
AGREE_MIN = 5  # fewer trials with values at both levels: no evidence, the level agrees
AGREE_Z = 1.2816  # a level reverses the top's ranking below -AGREE_Z null sds of tau (10%)


def kendall_tau(a: list[float], b: list[float]) -> float | None:
    """Kendall's tau-b of two equally long sequences; None where it is undefined (all ties)."""
    from scipy.stats import kendalltau

    tau = kendalltau(a, b).statistic
    return None if math.isnan(tau) else float(tau)


def kendall_null_sd(n: int) -> float:
    """Standard deviation of Kendall's tau of ``n`` pairs under independence (no ties)."""
    return math.sqrt(2 * (2 * n + 5) / (9 * n * (n - 1)))


def rung_agreement(
    history: History,
    levels: list[float],
    top: float,
    k: int = AGREE_TOP_K,
    least: int = AGREE_MIN,
    rank: Callable[[int, float], Any] | None = None,
) -> dict[float, tuple[float, int] | None]:
    """Per level in ``levels``: (Kendall's tau, n) between the values at that level and at ``top``
    of the ``n <= k`` trials with the best top results among those with a score at both; None
    with fewer than ``least`` such trials or an undefined tau. "Best": the lowest top scores, or
    the lowest ``rank(trial_id, top_score)`` (MOBSTER with constraints: feasible ones first)."""
    at_top = history.scores_at(top)
    order = (lambda c: c[1]) if rank is None else (lambda c: rank(c[0], c[1]))
    out: dict[float, tuple[float, int] | None] = {}
    for r in levels:
        at_r = history.scores_at(r)
        both = ((t, s, at_r[t]) for t, s in at_top.items() if t in at_r)
        best = heapq.nsmallest(k, both, key=order)
        tau = (
            kendall_tau([s for _, s, _ in best], [v for _, _, v in best])
            if len(best) >= least
            else None
        )
        out[r] = None if tau is None else (tau, len(best))
    return out


def reverses(agreement: tuple[float, int] | None) -> bool:
    """Whether a level's (tau, n) is significantly negative (see the module docstring)."""
    if agreement is None:
        return False
    tau, n = agreement
    return tau < -AGREE_Z * kendall_null_sd(n)


class ASHA(Scheduler):
    name = "asha"

    def __init__(
        self,
        study: Study,
        *,
        eta: float = 3,
        min_fidelity: float | None = None,
        max_fidelity: float | None = None,
        variant: str = "promotion",
        brackets: int | str = 1,
        skip_repeats: bool = False,
        seed: int = 0,
        searcher: Searcher | None = None,
        points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
    ):
        super().__init__(study, seed=seed, searcher=searcher, points_to_evaluate=points_to_evaluate)
        self.eta = check_eta(eta)
        self.r_min, self.r_max = fidelity_range(study, min_fidelity, max_fidelity)
        if variant not in ("promotion", "stopping"):
            raise InvalidStudy(f"asha variant must be 'promotion' or 'stopping', got {variant!r}")
        self.variant = variant
        if not isinstance(skip_repeats, bool):
            raise InvalidStudy(
                f"{self.name} skip_repeats must be true or false, got {skip_repeats!r}"
            )
        if skip_repeats and variant != "promotion":
            raise InvalidStudy(f"{self.name} skip_repeats applies to the promotion variant only")
        self.skip_repeats = skip_repeats
        integral = fidelity_is_integral(study)
        self.rungs: list[list[float]] = []
        s_max = len(rung_levels(self.r_min, self.r_max, self.eta, integral)) - 1
        self.adaptive = brackets == "adaptive"
        if brackets in ("all", "adaptive"):
            brackets = s_max + 1
        if isinstance(brackets, bool) or not isinstance(brackets, int) or brackets < 1:
            raise InvalidStudy(
                f"asha brackets must be a positive integer, 'all' or 'adaptive', got {brackets!r}"
            )
        if brackets > s_max + 1:
            raise InvalidStudy(
                f"asha brackets={brackets} exceeds the {s_max + 1} that eta={self.eta:g} "
                f"allows between fidelities {self.r_min:g} and {self.r_max:g}"
            )
        for s in range(brackets):
            self.rungs.append(rung_levels(self.r_min * self.eta**s, self.r_max, self.eta, integral))
        # ASHA bracket s starts at r_min * eta**s: Hyperband's bracket s_max - s, whose size is
        # eta**(s_max - s) / (s_max - s + 1)
        weights = np.array([self.eta ** (s_max - s) / (s_max - s + 1) for s in range(brackets)])
        self._bracket_p = weights / weights.sum()
        self._rungs: dict[tuple[int, float], RungIndex] = {}

    # ---- helpers ---------------------------------------------------------------------------
    def _bracket_of(self, trial: Trial) -> int:
        return trial.bracket or 0

    def _rung(self, history: History, bracket: int, level: float) -> RungIndex:
        """The sorted results of ``bracket`` at ``level``, updated incrementally."""
        idx = self._rungs.get((bracket, level))
        if idx is None:
            key = None if len(self.rungs) == 1 else (lambda t, b=bracket: self._bracket_of(t) == b)
            idx = self._rungs[(bracket, level)] = self._new_rung(level, key)
        return idx.update(history)

    def _new_rung(self, level: float, key: Callable[[Trial], bool] | None) -> RungIndex:
        """An empty index of the results at ``level`` of the trials ``key`` selects."""
        return RungIndex(level, key, self.skip_repeats)

    @staticmethod
    def _promoted(trial: Trial, level: float) -> bool:
        return (trial.until is not None and trial.until > level) or (
            trial.last_step is not None and trial.last_step > level
        )

    def _get_job(self, history: History, running_ok: int | None = None) -> Trial | None:
        """The paper's get_job promotion search; ``running_ok`` may be picked though running.

        Scans, rung by rung from the top, the not-yet-promoted results in rank order while their
        rank is inside top_k(rung, floor(n / eta)); promotion is permanent, so promoted results
        leave the scan list for good and each call costs O(candidates), not O(rung).
        """
        for b, levels in enumerate(self.rungs):
            for k in range(len(levels) - 2, -1, -1):
                rung = self._rung(history, b, levels[k])
                n_top = math.floor(len(rung) / self.eta)
                if n_top == 0 or not self._may_promote(history, rung, n_top):
                    continue
                order = self._promotion_order(history, rung)
                if order is not None:  # another ranking than the results': no scan list
                    for tid in order[:n_top]:
                        t = history.trial(tid)
                        if not self._promoted(t, levels[k]) and (
                            t.state is TrialState.PAUSED or t.id == running_ok
                        ):
                            return t
                    continue
                i = 0
                while i < len(rung.open):
                    entry = rung.open[i]
                    if rung.rank(entry) >= n_top:
                        break
                    t = history.trial(entry[2])
                    if self._promoted(t, levels[k]):
                        del rung.open[i]
                        continue
                    if t.state is TrialState.PAUSED or t.id == running_ok:
                        return t
                    i += 1
        return None

    def _promotion_order(self, history: History, rung: RungIndex) -> list[int] | None:
        """The trial ids of ``rung`` in the order promotion ranks them, best first, where it is
        not the order of their results (None: ASHA's, by the results)."""
        return None

    def _may_promote(self, history: History, rung: RungIndex, n_top: int) -> bool:
        """Whether ``rung`` may promote a result now (ASHA: whenever one is in its top n_top)."""
        return True

    def _next_level(self, trial: Trial, step: float) -> float:
        for level in self.rungs[self._bracket_of(trial)]:
            if level > step:
                return level
        return self.r_max

    def _draw_bracket(self, history: History) -> int:
        if len(self.rungs) == 1:
            return 0
        if self.adaptive:
            return self.agreeing_bracket(history)
        rng = np.random.default_rng([self.seed, 7919, history.n_trials])
        return int(rng.choice(len(self.rungs), p=self._bracket_p))

    def agreeing_bracket(self, history: History) -> int:
        """The lowest bracket none of whose rungs below the top reverses its ranking (module
        docstring)."""
        lower = sorted({r for levels in self.rungs for r in levels if r < self.r_max})
        agreement = rung_agreement(history, lower, self.r_max, rank=self._top_rank(history))
        for b, levels in enumerate(self.rungs):
            if not any(reverses(agreement[r]) for r in levels if r < self.r_max):
                return b
        return len(self.rungs) - 1

    def _top_rank(self, history: History) -> Callable[[int, float], Any] | None:
        """How ``agreeing_bracket`` orders top-fidelity results (None: by score)."""
        return None

    # ---- Scheduler -------------------------------------------------------------------------
    def suggest(self, history: History) -> Suggestion | None:
        if self.variant == "promotion":
            t = self._get_job(history)
            if t is not None:
                return Suggestion.resume(t, self._next_level(t, t.last_step or 0.0))
        if not self.starts_allowed:  # before _draw_bracket, which may fit models (hypertune)
            return None
        b = self._draw_bracket(history)
        until = self.rungs[b][0] if self.variant == "promotion" else self.r_max
        return self._new(history, until, bracket=b)

    def on_report(self, history: History, trial: Trial, report: Report) -> Decision:
        levels = self.rungs[self._bracket_of(trial)]
        step = report.step
        if step >= self.r_max or step not in levels:
            return Decision.CONTINUE
        if self.variant == "promotion":
            if trial.until is not None and trial.until > step:
                return Decision.CONTINUE  # already promoted past this rung (a replayed run)
            chosen = self._get_job(history, running_ok=trial.id)
            return (
                Decision.CONTINUE
                if chosen is not None and chosen.id == trial.id
                else (Decision.PAUSE)
            )
        mine = history.scores_at(step).get(trial.id)
        if mine is None:
            return Decision.CONTINUE
        rung = self._rung(history, self._bracket_of(trial), step)
        better = rung.count_better(mine)
        return Decision.CONTINUE if better < math.ceil(len(rung) / self.eta) else Decision.STOP

    def next_until(self, history: History, trial: Trial, step: float) -> float:
        return self._next_level(trial, step) if self.variant == "promotion" else self.r_max
