"""Scheduler and Searcher interfaces.

A *scheduler* decides when trials start, continue, pause, stop or resume; a *searcher* decides
which configuration comes next (Syne Tune's split). Both are functions of the stored History:
they may cache, but a scheduler rebuilt from the same history must decide the same way, which
the conformance tests check by replaying stored histories into fresh instances.
"""

from __future__ import annotations

import bisect
import inspect
import logging
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from hpo.errors import InvalidConfig, InvalidStudy
from hpo.history import History
from hpo.model import Decision, Report, Study, Trial
from hpo.space import Categorical, Config, SearchSpace

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Suggestion:
    """Start a new trial with ``config``, or resume paused trial ``trial_id``, up to ``until``."""

    kind: str  # "new" | "resume"
    until: float
    config: Config | None = None
    trial_id: int | None = None
    bracket: int | None = None

    @staticmethod
    def new(config: Config, until: float, bracket: int | None = None) -> Suggestion:
        return Suggestion("new", until, config=config, bracket=bracket)

    @staticmethod
    def resume(trial: Trial, until: float) -> Suggestion:
        return Suggestion("resume", until, trial_id=trial.id, bracket=trial.bracket)


class Searcher(Protocol):
    def propose(self, history: History, pending: Sequence[Trial], n: int = 1) -> list[Config]:
        """``n`` configurations to try next, knowing which trials are still in flight."""
        ...


class RandomSearcher:
    """Uniform sampling in the encoded unit cube (log-uniform on log-scale parameters).

    The generator is seeded with ``(seed, number of trials so far, i)``, so a replay of the same
    history proposes the same configurations.
    """

    def __init__(self, study: Study, seed: int = 0):
        self.space = study.space
        self.seed = seed

    def propose(self, history: History, pending: Sequence[Trial], n: int = 1) -> list[Config]:
        return [
            self.space.sample(np.random.default_rng([self.seed, history.n_trials, i]))
            for i in range(n)
        ]


class SobolSearcher:
    """Points of one scrambled Sobol' sequence (Owen scrambling, seeded), decoded by the space.

    Trial ``k`` of the study (``history.n_trials`` plus the index in the batch) gets point ``k``
    of the sequence, so the first trials cover the unit cube more evenly than independent
    uniform draws (low discrepancy: Sobol' 1967; Owen 1998 for the scrambling) while a replay of
    the same history proposes the same configurations. The sequence is scipy's
    (``scipy.stats.qmc.Sobol``); an initial design for BO as in Ax and BoTorch.
    """

    def __init__(self, study: Study, seed: int = 0):
        self.space = study.space
        self.seed = seed

    def propose(self, history: History, pending: Sequence[Trial], n: int = 1) -> list[Config]:
        import warnings

        from scipy.stats import qmc

        rng = np.random.default_rng(self.seed)
        try:
            engine = qmc.Sobol(len(self.space), scramble=True, rng=rng)
        except TypeError:  # scipy < 1.15 names it seed
            engine = qmc.Sobol(len(self.space), scramble=True, seed=rng)
        with warnings.catch_warnings():  # "balance properties" of n not a power of 2: expected
            warnings.simplefilter("ignore", UserWarning)
            if history.n_trials:  # scipy's fast_forward(0) fails
                engine.fast_forward(history.n_trials)
            points = engine.random(n)
        return [self.space.decode(u) for u in points]


INITIAL_DESIGNS: dict[str, type[RandomSearcher] | type[SobolSearcher]] = {
    "random": RandomSearcher,
    "sobol": SobolSearcher,
}


MAX_POINTS_TO_EVALUATE = 1000  # a study's stored params hold them; more is a mistake


def default_config(space: SearchSpace) -> Config:
    """The configuration a partial ``points_to_evaluate`` entry is completed with: each number at
    the middle of its range in the space's own scale (the geometric mean of the bounds for a log
    scale; an integer's middle value), each categorical at its first choice. Syne Tune completes
    its ``points_to_evaluate`` by the same midpoint rule."""
    return {
        name: dom.choices[0] if isinstance(dom, Categorical) else dom.decode(0.5)
        for name, dom in space.params.items()
    }


def parse_points(spec: Any, space: SearchSpace) -> tuple[Config, ...]:
    """A scheduler's ``points_to_evaluate``: a list of configurations, each a mapping of some or
    all of the space's parameters (the rest from ``default_config``), checked against the space.
    Anything else raises InvalidStudy saying which entry and why."""
    if spec is None:
        return ()
    if isinstance(spec, (str, bytes, Mapping)) or not isinstance(spec, Sequence):
        raise InvalidStudy(
            "scheduler parameter points_to_evaluate must be a list of configurations (mappings "
            f"of parameter name to value), got {type(spec).__name__}"
        )
    if len(spec) > MAX_POINTS_TO_EVALUATE:
        raise InvalidStudy(
            f"scheduler parameter points_to_evaluate has {len(spec)} configurations; at most "
            f"{MAX_POINTS_TO_EVALUATE} are taken"
        )
    fill = default_config(space)
    out = []
    for i, item in enumerate(spec):
        if not isinstance(item, Mapping):
            raise InvalidStudy(
                f"scheduler parameter points_to_evaluate[{i}] must be a mapping of parameter "
                f"name to value, got {item!r}"
            )
        try:
            out.append(space.validate_config({**fill, **item}))
        except InvalidConfig as e:
            raise InvalidStudy(f"scheduler parameter points_to_evaluate[{i}]: {e}") from None
    return tuple(out)


class Scheduler:
    """Base class. Subclasses set ``name`` and implement ``suggest`` and ``on_report``.

    Constructor keyword arguments are the scheduler's parameters (from sweep.yaml or the SDK);
    unknown or invalid ones raise InvalidStudy with the parameter's name.

    ``points_to_evaluate`` (every scheduler): configurations the study's first new trials get,
    in order, before its searcher proposes any (``parse_points``): trial ``k`` of the study gets
    entry ``k``. They are what Syne Tune's and Ray Tune's ``points_to_evaluate`` give (and
    Optuna's ``enqueue_trial`` before the first trial): known good settings to start from. A
    model-based searcher counts them among its initial design (its own design continues after
    them), and a scheduler treats them as any other trial (an ASHA rung may stop them).
    """

    name: ClassVar[str] = ""
    # parameters whose defaults are written into a study's stored params when it is created
    # (``with_pinned_defaults``), so that a later release changing such a default does not
    # change how a study created before it searches once its coordinator restarts
    pinned: ClassVar[tuple[str, ...]] = ()
    # for each of ``pinned``, what a stored study that lacks it searches with: the parameter's
    # default just before it was pinned (or, for one added then, the value that behaves as the
    # code did before it existed). A study without the key was stored by a release from before
    # that pinning, so this keeps its search as it was when a newer release restarts its
    # coordinator (``with_stored_defaults``). Every pinned parameter has one.
    legacy: ClassVar[Mapping[str, Any]] = {}

    def __init__(
        self,
        study: Study,
        *,
        seed: int = 0,
        searcher: Searcher | None = None,
        points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
    ):
        self.study = study
        self.seed = check_seed(seed)
        self.points_to_evaluate = parse_points(points_to_evaluate, study.space)
        self.searcher: Searcher = searcher or RandomSearcher(study, seed=self.seed)
        # False when the study's trial budget is spent: ``suggest`` may still resume a paused
        # trial but proposes no new one (a model-based proposal that would be thrown away costs
        # seconds). The coordinator sets it before each ``suggest``.
        self.starts_allowed = True

    @property
    def max_fidelity(self) -> float:
        return self.study.max_fidelity

    def suggest(self, history: History) -> Suggestion | None:
        raise NotImplementedError

    def on_report(self, history: History, trial: Trial, report: Report) -> Decision:
        raise NotImplementedError

    def next_until(self, history: History, trial: Trial, step: float) -> float:
        """The next milestone of a trial that was told to CONTINUE at ``step >= until``."""
        return self.max_fidelity

    def retired(self, history: History) -> list[int]:
        """Paused trials that this scheduler will never resume (they are marked stopped)."""
        return []

    def is_finished(self, history: History) -> bool:
        """True when the scheduler has nothing more to run (e.g. its brackets are done)."""
        return False

    def _new(self, history: History, until: float, bracket: int | None = None) -> Suggestion | None:
        if not self.starts_allowed:
            return None
        if history.n_trials < len(self.points_to_evaluate):
            config = dict(self.points_to_evaluate[history.n_trials])
        else:
            (config,) = self.searcher.propose(history, history.pending, 1)
        return Suggestion.new(config, until, bracket)


def rung_levels(r_min: float, r_max: float, eta: float, integral: bool) -> list[float]:
    """``r_min * eta**k`` for every k with level < r_max, then ``r_max`` (ASHA's rungs).

    With integral fidelities the levels are rounded to integers (duplicates dropped), since
    trials report at whole epochs or steps. Raises InvalidStudy where ``check_rungs`` does.
    """
    check_rungs(r_min, r_max, eta)
    levels: list[float] = []
    k = 0
    while True:
        x = r_min * eta**k
        if x >= r_max * (1 - 1e-9):
            break
        levels.append(float(round(x)) if integral else x)
        k += 1
    levels.append(float(r_max))
    out: list[float] = []
    for x in levels:
        if not out or x > out[-1]:
            out.append(x)
    return out


def fidelity_is_integral(study: Study) -> bool:
    f = study.fidelity
    return f is not None and float(f.min).is_integer() and float(f.max).is_integer()


def check_eta(eta: Any) -> float:
    if (
        isinstance(eta, bool)
        or not isinstance(eta, (int, float))
        or not eta >= 2
        or not math.isfinite(eta)
    ):
        raise InvalidStudy(f"scheduler parameter eta must be a finite number >= 2, got {eta!r}")
    return float(eta)


MAX_SEED = 2**32 - 1  # seeds reach torch.manual_seed multiplied by about 2**20 (surrogates/gp.py)


def check_seed(seed: Any, *, new: bool = False) -> int:
    """A scheduler's or searcher's ``seed``: a non-negative integer (a bool is not one); a
    ``new`` study's also at most MAX_SEED (checked at creation only: a study stored before that
    check, with a larger seed that ran, keeps running)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0 or (new and seed > MAX_SEED):
        raise InvalidStudy(
            f"scheduler parameter seed must be an integer from 0 to {MAX_SEED}, got {seed!r}"
        )
    return seed


MAX_RUNGS = 100  # eta = 2 from 1 epoch to 6e29: far beyond any real fidelity range


def check_rungs(r_min: float, r_max: float, eta: float) -> None:
    """Refuses fidelities ``0 < r_min <= r_max`` and ``eta >= 2`` whose rungs ``r_min * eta**k``
    number more than MAX_RUNGS, or for which ``eta**k`` overflows a float at some k up to the
    top rung (ASHA's and Hyperband's bracket sizes are such powers; Python raises
    OverflowError on them). Counted in logarithms, which cannot overflow."""
    span = (math.log(r_max) - math.log(r_min)) / math.log(eta)  # rungs above r_min, fractional
    rungs = math.ceil(span - 1e-9) + 1
    if rungs > MAX_RUNGS:
        raise InvalidStudy(
            f"eta={eta:g} between fidelities {r_min:g} and {r_max:g} makes {rungs} rungs, more "
            f"than {MAX_RUNGS}: raise min_fidelity or eta"
        )
    if (span + 1) * math.log(eta) >= math.log(sys.float_info.max):
        raise InvalidStudy(
            f"eta={eta:g} is too large for fidelities {r_min:g} to {r_max:g} (its powers "
            "overflow a float): lower eta or narrow the fidelity range"
        )


def fidelity_range(study: Study, min_fidelity: Any, max_fidelity: Any) -> tuple[float, float]:
    if study.fidelity is None:
        raise InvalidStudy(
            "this scheduler needs a fidelity (e.g. epochs): add 'fidelity: {name, min, max}'"
        )
    lo = study.fidelity.min if min_fidelity is None else min_fidelity
    hi = study.fidelity.max if max_fidelity is None else max_fidelity
    for n, v in (("min_fidelity", lo), ("max_fidelity", hi)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InvalidStudy(f"scheduler parameter {n} must be a number, got {v!r}")
    if not 0 < lo < hi:
        raise InvalidStudy(f"scheduler needs 0 < min_fidelity < max_fidelity, got {lo} and {hi}")
    if hi > study.fidelity.max or lo < study.fidelity.min:
        raise InvalidStudy(
            f"scheduler fidelities [{lo}, {hi}] must lie within the study's fidelity "
            f"[{study.fidelity.min}, {study.fidelity.max}]"
        )
    return float(lo), float(hi)


def top_k(scores: Mapping[int, float], k: int, history: History) -> list[int]:
    """Ids of the ``k`` lowest scores; ties go to the lower trial number."""
    if k <= 0:
        return []
    return sorted(scores, key=lambda tid: (scores[tid], history.trial(tid).number))[:k]


class RungIndex:
    """The results at one rung, sorted, kept up to date from the history's score log.

    ``entries`` holds ``(score, trial number, trial id)`` sorted ascending (ties to the lower
    trial number, as :func:`top_k`), ``open`` the subset not yet seen promoted. Updating reads
    only the ids logged since the last call, so a decision costs O(new results x log n) rather
    than a sort of the whole rung. The index rebuilds itself from scratch whenever the history
    is not a later state of the one it has seen (another study, an older version, a changed
    score), so decisions stay exactly those of a scheduler rebuilt from the history alone.

    With ``skip_repeats``, a result whose curve up to this level (:func:`curve_up_to`) repeats
    exactly that of a result already in the rung (earlier in arrival order) is left out of it:
    it is neither counted nor ranked, so it is never promoted. Each one left out is logged
    (``hpo.schedulers.base``, INFO) with the trial it repeats, once per index: a rebuilt index
    (a restarted coordinator) logs them again.
    """

    __slots__ = (
        "key",
        "level",
        "entries",
        "open",
        "seen",
        "last",
        "changes",
        "version",
        "skip_repeats",
        "curves",
    )

    def __init__(
        self,
        level: float,
        key: Callable[[Trial], bool] | None = None,
        skip_repeats: bool = False,
    ) -> None:
        self.level = level
        self.key = key  # which trials belong to this rung (e.g. one bracket); None: all
        self.entries: list[tuple[float, int, int]] = []
        self.open: list[tuple[float, int, int]] = []
        self.seen = 0
        self.last: int | None = None
        self.changes = 0
        self.version: tuple[int, int] = (-1, -1)
        self.skip_repeats = skip_repeats
        # with skip_repeats: each curve in the rung -> the number of the trial that brought it
        self.curves: dict[tuple, int] = {}

    def update(self, history: History) -> RungIndex:
        log, changes = history.score_log(self.level)
        version = (history.study.id, history.version)
        stale = (
            version[0] != self.version[0]
            or version[1] < self.version[1]
            or changes != self.changes
            or self.seen > len(log)
            or (self.seen and log[self.seen - 1] != self.last)
        )
        if stale:
            self.entries, self.open, self.seen, self.changes = [], [], 0, changes
            self.curves = {}
        scores = history.scores_at(self.level)
        for tid in log[self.seen :]:
            t = history.trial(tid)
            if self.key is not None and not self.key(t):
                continue
            if self.skip_repeats:
                curve = curve_up_to(history, tid, self.level)
                first = self.curves.setdefault(curve, t.number)
                if first != t.number:
                    logger.info(
                        "trial %d left out of the rung at %g: its results up to there repeat"
                        " trial %d's exactly (skip_repeats), so it is not promoted",
                        t.number,
                        self.level,
                        first,
                    )
                    continue
            e = (self.rank_key(history, tid, scores[tid]), t.number, tid)
            bisect.insort(self.entries, e)
            bisect.insort(self.open, e)
        self.seen = len(log)
        self.last = log[-1] if log else None
        self.version = version
        return self

    def rank_key(self, history: History, trial_id: int, score: float) -> Any:
        """What a result sorts by (lower is better): its score; subclasses may add to it."""
        return score

    def __len__(self) -> int:
        return len(self.entries)

    def rank(self, entry: tuple[float, int, int]) -> int:
        """Position of ``entry`` in the sorted rung (0 = best)."""
        return bisect.bisect_left(self.entries, entry)

    def count_better(self, score: float) -> int:
        """Results at this rung strictly better (lower) than ``score``."""
        return bisect.bisect_left(self.entries, (score,))


def curve_up_to(history: History, trial_id: int, level: float) -> tuple:
    """A trial's reported objective values at every step up to ``level``, as
    ``((step, values), ...)``: what ``RungIndex(skip_repeats=True)`` compares exactly.

    Two trials with the same curve bit for bit either ran the same configuration of a
    deterministic objective or sit on a plateau of it (a parameter it ignores, a lookup table
    answering both with one row): promoting the second would buy the first one's next results
    again. Different trainings (other configurations, other seeds, a noisy objective) do not
    repeat a whole curve to the last bit; a metric quantized coarser than the search resolves
    (accuracy on a few hundred samples) can, over the first steps, and then the two are tied at
    this rung anyway, where ASHA would promote the earlier one first.
    """
    names = [o.name for o in history.study.objectives]
    return tuple(
        (r.step, tuple(r.metrics.get(n) for n in names))
        for r in history.reports(trial_id)
        if r.step <= level
    )


def scheduler_params(cls: type[Scheduler]) -> list[str]:
    sig = inspect.signature(cls.__init__)
    return [p for p in sig.parameters if p not in ("self", "study", "searcher")]


def scheduler_defaults(cls: type[Scheduler]) -> dict[str, Any]:
    """The current default of each of ``cls``'s parameters that has one, by name."""
    sig = inspect.signature(cls.__init__)
    return {
        p: sig.parameters[p].default
        for p in scheduler_params(cls)
        if sig.parameters[p].default is not inspect.Parameter.empty
    }


def pinned_defaults(cls: type[Scheduler]) -> dict[str, Any]:
    """The current defaults of ``cls.pinned`` (JSON values), by parameter name."""
    defaults = scheduler_defaults(cls)
    return {p: defaults[p] for p in cls.pinned}


def legacy_defaults(cls: type[Scheduler], params: Mapping[str, Any]) -> dict[str, Any]:
    """``cls.legacy``'s values of the pinned parameters that stored ``params`` lack."""
    return {p: cls.legacy[p] for p in cls.pinned if p not in params}
