"""Gaussian-process Bayesian optimization: a searcher, and the schedulers that own one.

* ``GPSearcher``: proposes the configuration that maximizes log noisy expected improvement
  (qLogNEI, Ament et al. 2023) at the target (maximum) fidelity under a GP fitted to the history
  (``hpo.surrogates.gp``). Trials still in flight are the acquisition's ``X_pending``: their
  outcomes are fantasized jointly with the candidate's, so a point next to a running trial adds
  little expected improvement and is not proposed (asynchronous BO as in Snoek et al. 2012 and
  Klein et al. 2020). Until ``n_initial`` trials have results it proposes its initial design
  (default ``n_initial = clip(2 d + 1, 3, 10)`` for ``d`` parameters: enough points that a
  d-dimensional ARD GP has something to fit): uniformly at random, exactly as
  ``RandomSearcher``, or with ``initial_design="sobol"`` (the default of the ``bo``,
  ``mobster`` and ``hypertune`` schedulers) the points of a scrambled Sobol' sequence
  (``SobolSearcher``).

  Single fidelity: one observation per trial, its result at the study's maximum fidelity.
  Multi-fidelity (MOBSTER, Klein et al. 2020, "Model-based Asynchronous Hyperparameter and
  Neural Architecture Search"): one joint GP over (configuration, log-fidelity) fitted to every
  trial's results at the scheduler's rung levels plus its latest result, and log EI evaluated at
  the maximum fidelity, where the incumbent is the posterior best of the evaluated
  configurations projected to that fidelity; or, with ``acquisition_fidelity="bohb"`` (the
  ``mobster`` scheduler's default), both at the highest rung level that has at least d + 1
  results (BOHB's rule, Falkner et al. 2018).

  ``cost_aware=True`` divides EI by the predicted cost of a configuration (log EI minus the
  posterior mean of a GP on the log of each trial's reported seconds per unit of fidelity,
  ``Report.cost_s``), as in Snoek et al. 2012, section 3.2.

  ``best_so_far=True`` gives the model each result as the best value its trial reported up to
  that step (a running minimum of the signed score): for trainings that keep their best
  checkpoint, where a configuration that peaks early and then overfits is worth its peak.

  ``constraints`` (outcome constraints ``metric <= bound`` / ``metric >= bound``): one more GP
  per constraint metric in a BoTorch ``ModelListGP``, and the acquisition weighted by the
  probability of feasibility (constrained qLogNEI: Gardner et al. 2014, "Bayesian optimization
  with inequality constraints"; Ament et al. 2023), whose incumbent is the best feasible
  result. Several objectives (2 to 4): one GP each and qLogNEHVI (Daulton et al. 2020, 2021,
  "Parallel Bayesian optimization of multiple noisy objectives with expected hypervolume
  improvement"; Ament et al. 2023) against a reference point (``ref_point`` or inferred from
  the worst observed values), pending trials fantasized as for qLogNEI. docs/bo.md says how
  missing constraint metrics and the rung decisions are handled.

* ``BayesianOptimization`` (``"bo"``): random search's scheduler (every trial to the maximum
  fidelity) with a single-fidelity ``GPSearcher``.
* ``MOBSTER`` (``"mobster"``): ASHA (promotion or stopping, optional brackets) whose new trials
  come from a multi-fidelity ``GPSearcher``.

Decisions are functions of the history: the random parts are seeded by (seed, number of
trials, index of the proposal), and the GP's hyperparameters by the milestone schedule of
``hpo.surrogates.gp``, so a scheduler rebuilt from a stored history proposes the same
configurations. torch and BoTorch are imported on the first model-based proposal only.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hpo.schedulers.asha import ASHA
from hpo.schedulers.base import INITIAL_DESIGNS, RungIndex, Searcher, check_seed
from hpo.schedulers.random_search import RandomSearch

from hpo.errors import InvalidStudy
from hpo.history import History
from hpo.model import Decision, Report, Study, Trial
from hpo.space import Config

log = logging.getLogger(__name__)

MAX_BASELINE = 64  # incumbent candidates handed to qLogNEI (it prunes them further)
MAX_COST_POINTS = 200
MAX_OBJECTIVES = 4  # qLogNEHVI's box decompositions grow quickly with the number of objectives
MAX_CONSTRAINTS = 8  # one GP each: the model's cost grows linearly with them
# where a multi-fidelity searcher evaluates its acquisition (GPSearcher.acquisition_level)
ACQUISITION_FIDELITIES = ("max", "bohb", "gated")
# what MOBSTER's rungs rank results by for promotion or stopping: the result at the rung (ASHA),
# the model's prediction at the maximum fidelity, or ("auto") the model's where, over the trials
# with results at the rung and at the top, its held-out predictions rank their top results better
# than their results at the rung do (GPSearcher.model_ranks_better): over the AUTO_TOP best top
# results, and only with at least MOBSTER's auto_min of them (AUTO_MIN unless given; 8 before the
# thirty-second session), and by more than MOBSTER's auto_z spreads of the difference of two
# taus over that many trials under independence (AUTO_Z unless given; 0 before the thirty-third)
PROMOTE_BY = ("score", "model", "auto")
AUTO_TOP = 16
AUTO_MIN = 5
AUTO_Z = 1.0
# acquisition_fidelity "gated" (gated_level): the maximum fidelity where trials promoted between
# adjacent rung levels rank at the upper one with a pooled Kendall's tau below GATE_TAU, over at
# least GATE_MIN trials (pairs of levels with fewer than GATE_PAIR_MIN left out)
GATE_TAU = 0.1
GATE_MIN = 10
GATE_PAIR_MIN = 3


@dataclass(frozen=True)
class Observation:
    """One result: trial number, its configuration, fidelity, score (lower is better).

    ``values``: every objective's signed value (``sign * metric``, lower is better; ``score`` is
    ``values[0]``); ``constraint_values``: each constraint's metric, ``None`` where not reported.
    """

    trial: int
    config: Config
    fidelity: float
    score: float
    order: tuple[float, int, float]  # (report time, trial number, step): arrival order
    values: tuple[float, ...] = ()
    constraint_values: tuple[float | None, ...] = ()


# ---- outcome constraints and reference points --------------------------------------------------


@dataclass(frozen=True)
class Constraint:
    """``metric <= bound`` or ``metric >= bound`` on a metric that trials report.

    A result satisfies it when the metric is reported and on the right side of the bound
    (equality included); a result that does not report the metric does not satisfy it.
    """

    metric: str
    op: str  # "<=" or ">="
    bound: float

    def satisfied(self, value: float | None) -> bool:
        if value is None:
            return False
        return value <= self.bound if self.op == "<=" else value >= self.bound

    @property
    def direction(self) -> float:
        """+1 for ``<=`` and -1 for ``>=``: ``direction * (value - bound) <= 0`` is feasible."""
        return 1.0 if self.op == "<=" else -1.0

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"


_CONSTRAINT_HELP = (
    "write constraints as a list of 'metric<=bound' / 'metric>=bound' strings or "
    "{metric, op, bound} mappings, e.g. constraints: ['mem_gb<=16', 'accuracy>=0.9']"
)


def _bound(text: Any, where: str) -> float:
    if isinstance(text, bool):
        raise InvalidStudy(f"constraint {where}: the bound must be a number, got {text!r}")
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise InvalidStudy(
            f"constraint {where}: the bound must be a number, got {text!r}"
        ) from None
    if not math.isfinite(v):
        raise InvalidStudy(f"constraint {where}: the bound must be finite, got {text!r}")
    return v


def _one_constraint(item: Any) -> Constraint:
    if isinstance(item, str):
        ops = [op for op in ("<=", ">=") if op in item]
        if len(ops) != 1 or item.count(ops[0]) != 1:
            raise InvalidStudy(
                f"constraint {item!r}: expected one '<=' or '>=' between a metric and a bound, "
                "e.g. 'mem_gb<=16'"
            )
        metric, bound = (x.strip() for x in item.split(ops[0]))
        op = ops[0]
    elif isinstance(item, Mapping):
        extra = sorted(set(item) - {"metric", "op", "bound"})
        missing = [k for k in ("metric", "op", "bound") if k not in item]
        if extra or missing:
            raise InvalidStudy(
                f"constraint {dict(item)!r}: needs exactly the keys metric, op and bound"
                + (f"; unknown {extra}" if extra else "")
                + (f"; missing {missing}" if missing else "")
            )
        metric, op, bound = item["metric"], item["op"], item["bound"]
        if op not in ("<=", ">="):
            raise InvalidStudy(f"constraint on {metric!r}: op must be '<=' or '>=', got {op!r}")
    else:
        raise InvalidStudy(f"constraint {item!r}: {_CONSTRAINT_HELP}")
    if not isinstance(metric, str) or not metric or any(c in metric for c in "<>=!"):
        raise InvalidStudy(f"constraint {item!r}: it names no metric (or a malformed one)")
    return Constraint(metric, op, _bound(bound, repr(item)))


def parse_constraints(spec: Any, study: Study) -> tuple[Constraint, ...]:
    """The scheduler parameter ``constraints`` as validated ``Constraint`` objects.

    Accepts ``None``, or a list of ``"metric<=bound"`` / ``"metric>=bound"`` strings and
    ``{metric, op, bound}`` mappings. Raises InvalidStudy with one line naming the problem:
    a malformed item, an operator other than ``<=``/``>=``, a bound that is not a finite number,
    a constraint on the fidelity (it is the step of a report, not a metric), a duplicate, or more
    than ``MAX_CONSTRAINTS``. Constraining an objective's metric is allowed (e.g. minimize
    latency, maximize accuracy, and require accuracy >= 0.9).
    """
    if spec is None:
        return ()
    if isinstance(spec, (str, Mapping)) or not isinstance(spec, Sequence):
        raise InvalidStudy(f"scheduler parameter constraints must be a list: {_CONSTRAINT_HELP}")
    out = tuple(_one_constraint(item) for item in spec)
    if len(out) > MAX_CONSTRAINTS:
        raise InvalidStudy(f"at most {MAX_CONSTRAINTS} constraints are supported, got {len(out)}")
    if study.fidelity is not None:
        for c in out:
            if c.metric == study.fidelity.name:
                raise InvalidStudy(
                    f"constraint {str(c)!r}: {c.metric!r} is the fidelity (a report's step), "
                    "not a reported metric; limit the fidelity with the study's fidelity range"
                )
    seen: set[tuple[str, str]] = set()
    for c in out:
        if (c.metric, c.op) in seen:
            raise InvalidStudy(f"constraint {str(c)!r}: {c.metric!r} {c.op} is given twice")
        seen.add((c.metric, c.op))
    return out


def parse_ref_point(spec: Any, study: Study) -> tuple[float, ...] | None:
    """The scheduler parameter ``ref_point``: one value per objective, in its own units.

    The hypervolume counts only the part of the objective space better than it in every
    objective: for a ``min`` objective an upper limit, for a ``max`` objective a lower limit.
    """
    if spec is None:
        return None
    k = len(study.objectives)
    names = [o.name for o in study.objectives]
    if k < 2:
        raise InvalidStudy("scheduler parameter ref_point needs a study with 2 or more objectives")
    if isinstance(spec, (str, Mapping)) or not isinstance(spec, Sequence) or len(spec) != k:
        raise InvalidStudy(
            f"scheduler parameter ref_point must be a list of {k} numbers, one per objective "
            f"{names}, got {spec!r}"
        )
    out = []
    for name, v in zip(names, spec, strict=True):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InvalidStudy(
                f"ref_point for objective {name!r} must be a finite number, got {v!r}"
            )
        out.append(float(v))
    return tuple(out)


def check_objectives(study: Study) -> None:
    if len(study.objectives) > MAX_OBJECTIVES:
        raise InvalidStudy(
            f"bo and mobster model at most {MAX_OBJECTIVES} objectives, the study has "
            f"{len(study.objectives)}"
        )


def feasible(o: Observation, constraints: Sequence[Constraint]) -> bool:
    """Whether a result satisfies every constraint (a missing metric does not)."""
    return all(c.satisfied(v) for c, v in zip(constraints, o.constraint_values, strict=True))


def violated(metrics: Mapping[str, float], constraints: Sequence[Constraint]) -> int:
    """How many constraints a report's metrics violate (a missing metric violates)."""
    return sum(not c.satisfied(metrics.get(c.metric)) for c in constraints)


PLATEAU_WINDOW = 20  # recent trials over which random_fraction "auto" counts repeats
PLATEAU_CAP = 0.5  # the most random_fraction "auto" gives the uniform draws


def plateau_share(history: History, metric: str, window: int) -> float:
    """The share of the last ``window`` trials (by number, among those with a ``metric``
    result) whose first result (fidelity and value) equals an earlier trial's first result
    exactly.

    Two configurations that train differently essentially never give the bit-identical value,
    nor does a noisy objective trained twice; an exact repeat means the objective is flat between
    the two configurations (a parameter it ignores, a metric quantized coarser than the search
    resolves, such as accuracy on a small validation set, a lookup table answering with its
    nearest row) or that a deterministic objective ran the same configuration again. Either way
    the trial bought a result the study already had, and ``random_fraction: auto`` sends that
    share of proposals to uniform draws instead. Only first results are compared, so a parameter
    that acts only after the lowest rung also counts as flat there. Our own heuristic; 0 on a
    continuous objective.
    """
    first: set[tuple[float, float]] = set()
    repeats: list[bool] = []
    for t in history.trials():  # ordered by number
        r = next((r for r in history.reports(t.id) if metric in r.metrics), None)
        if r is None:
            continue
        key = (float(r.step), float(r.metrics[metric]))
        repeats.append(key in first)
        first.add(key)
    recent = repeats[-window:]
    return sum(recent) / len(recent) if recent else 0.0


def _prefix_keys(obs: Sequence[Observation]) -> list[int]:
    """``keys[m - 1]`` identifies ``obs[:m]`` (a hash chain over each result's trial, fidelity,
    arrival order and values; a trial's configuration is fixed by its number): what a model is
    fitted on at milestone ``m`` (``HyperparameterSchedule.for_size``'s ``prefix_keys``), in
    O(n) for every ``m`` at once rather than encoding each prefix to hash it."""
    keys: list[int] = []
    h = 0
    for o in obs:
        h = hash((h, o.trial, o.fidelity, o.score, o.order, o.values, o.constraint_values))
        keys.append(h)
    return keys


def default_n_initial(dim: int) -> int:
    return int(min(max(2 * dim + 1, 3), 10))


def _check_int(name: str, v: Any, low: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise InvalidStudy(f"scheduler parameter {name} must be an integer >= {low}, got {v!r}")
    return v


def _check_number(name: str, v: Any, ok: Any, expected: str) -> float:
    """``v`` as a float when it is a real number (not a bool) with ``ok(v)`` true."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not ok(v):
        raise InvalidStudy(f"scheduler parameter {name} must be {expected}, got {v!r}")
    return float(v)


def _check_choice(name: str, v: Any, choices: Any) -> str:
    """``v`` when it is one of the names in ``choices`` (a string, so a list or a number is
    refused with the same message rather than failing the lookup)."""
    if not isinstance(v, str) or v not in choices:
        raise InvalidStudy(f"scheduler parameter {name} must be one of {list(choices)}, got {v!r}")
    return v


def tau_difference_sd(n: int) -> float:
    """The standard deviation of the difference of two independent Kendall's taus, each over
    ``n`` pairs of independent rankings: ``sqrt(2)`` times tau's null standard deviation
    ``sqrt(2 (2n + 5) / (9 n (n - 1)))`` (Kendall 1938). The two taus ``promote_by: auto``
    compares share the top results, so this is a scale for their difference (0.58 at 5 trials,
    0.41 at 8, 0.26 at 16), not an exact test."""
    from hpo.schedulers.asha import kendall_null_sd

    return math.sqrt(2) * kendall_null_sd(n)


def model_beats_rung(model: float, rung: float | None, n: int, z: float) -> bool:
    """``GPSearcher.model_ranks_better``'s rule on one answer of ``held_out_agreement``: the
    model's tau over ``n`` trials beats the rung's (None: the rung's results are all tied) by
    more than ``z`` times ``tau_difference_sd(n)``. With ``z`` 0 it is the rule before the
    thirty-third session: strictly greater, and an all-tied rung always goes to the model;
    above 0 an all-tied rung counts as tau 0."""
    if rung is None:
        if z == 0:
            return True
        rung = 0.0
    return model - rung > z * tau_difference_sd(n)


def bohb_level(
    per_level: Mapping[float, Mapping[int, float]], levels: Sequence[float], target: float, d: int
) -> float:
    """``acquisition_fidelity="bohb"``: the highest of ``levels`` (at most ``target``) at which at
    least ``d + 1`` trials have a result (``per_level``: per level, each trial's score there), else
    the lowest (see ``GPSearcher.acquisition_level``)."""
    enough = [r for r, trials in per_level.items() if len(trials) >= d + 1]
    return min(max(enough, default=min(levels)), target)


def gated_level(
    per_level: Mapping[float, Mapping[int, float]],
    levels: Sequence[float],
    start: float,
    target: float,
) -> float:
    """``acquisition_fidelity="gated"``: ``target`` where the study's rung levels do not rank
    trials as the levels above them do, else ``start`` (BOHB's level).

    ``per_level``: per rung level, each trial's score there. For each pair of adjacent levels
    ``(a, b)`` (``levels`` and ``target`` in order), the trials with scores at both (those
    promoted from ``a``: ASHA's best there) give Kendall's tau-b of their scores at ``a`` and
    ``b``; pairs of fewer than ``GATE_PAIR_MIN`` trials, or all tied, are left out. The pooled
    agreement is the mean of the taus weighted by their numbers of trials. With at least
    ``GATE_MIN`` trials pooled and an agreement below ``GATE_TAU``, the acquisition is at the
    target, as with ``"max"``; otherwise (also early, before there is evidence) at ``start``.

    Why pooled, and why all levels: the question is whether this study's low fidelities say
    anything about its high ones, and the first evidence comes from the lowest levels, long
    before the levels above BOHB's have trials in common. Measured inside studies on the tabular
    benchmarks (the taus move as the model concentrates proposals near an optimum), the pooled
    agreement is strongly negative on breast_cancer-mlp early on (epoch 1 against 3: -0.6 over
    7 trials, -0.4 over 22), where ``"max"`` has the lower final regret, and 0.2 to 0.7 on
    digits-mlp, charlm-gpt, branin-mf and hartmann6-mf, where ``"bohb"`` has
    (docs/benchmarks.md). Ours: BOHB and MOBSTER fix the level by counts alone.
    """
    agreement = pooled_agreement(per_level, levels, target)
    if agreement is not None and agreement[1] >= GATE_MIN and agreement[0] < GATE_TAU:
        return target
    return start


def pooled_agreement(
    per_level: Mapping[float, Mapping[int, float]], levels: Sequence[float], target: float
) -> tuple[float, int] | None:
    """(Mean Kendall's tau-b over adjacent level pairs weighted by their trials, trials pooled),
    or None with no pair of ``GATE_PAIR_MIN`` trials (see ``gated_level``)."""
    from hpo.schedulers.asha import kendall_tau

    steps = sorted({x for x in levels if x < target} | {target})
    total, n = 0.0, 0
    for a, b in itertools.pairwise(steps):
        at_a, at_b = per_level.get(a, {}), per_level.get(b, {})
        both = [t for t in at_a if t in at_b]
        if len(both) < GATE_PAIR_MIN:
            continue
        tau = kendall_tau([at_a[t] for t in both], [at_b[t] for t in both])
        if tau is not None:
            total += tau * len(both)
            n += len(both)
    return None if n == 0 else (total / n, n)


class GPSearcher:
    """GP-BO proposals with log EI and fantasized pending trials (see the module docstring).

    ``levels``: for a multi-fidelity searcher, the fidelities whose results are kept (rung
    levels); every trial's latest result is kept too. ``None`` with ``multi_fidelity=False``:
    only results at the study's maximum fidelity are used.
    """

    def __init__(
        self,
        study: Study,
        *,
        seed: int = 0,
        n_initial: int | None = None,
        max_points: int = 500,
        cost_aware: bool = False,
        multi_fidelity: bool = False,
        levels: Sequence[float] | None = None,
        fidelity_range: tuple[float, float] | None = None,
        refit_growth: float = 1.25,
        constraints: Any = None,
        ref_point: Any = None,
        random_fraction: float | str = 0.0,
        noise_floor: float | None = None,
        output_warping: bool = False,
        lengthscale_prior: str = "dim_scaled",
        best_so_far: bool = False,
        initial_design: str = "random",
        noise_prior: str = "lognormal",
        acquisition_fidelity: str = "max",
    ):
        check_objectives(study)
        self.constraints = parse_constraints(constraints, study)
        self.ref_point = parse_ref_point(ref_point, study)
        self.study = study
        self.space = study.space
        self.seed = check_seed(seed)
        self.n_initial = (
            default_n_initial(len(self.space))
            if n_initial is None
            else _check_int("n_initial", n_initial, 1)
        )
        self.max_points = _check_int("max_points", max_points, 10)
        self.random_fraction: float | str = (
            "auto"
            if random_fraction == "auto"
            else _check_number(
                "random_fraction",
                random_fraction,
                lambda v: 0 <= v < 1,
                "a number in [0, 1) or 'auto'",
            )
        )
        from hpo.surrogates.gp import NOISE_FLOOR

        self.noise_floor = _check_number(
            "noise_floor",
            NOISE_FLOOR if noise_floor is None else noise_floor,
            lambda v: 1e-10 <= v <= 0.1,
            "a number in [1e-10, 0.1]",
        )
        from hpo.surrogates.gp import LENGTHSCALE_PRIORS, NOISE_PRIORS

        self.lengthscale_prior = _check_choice(
            "lengthscale_prior", lengthscale_prior, LENGTHSCALE_PRIORS
        )
        self.noise_prior = _check_choice("noise_prior", noise_prior, NOISE_PRIORS)
        self.acquisition_fidelity = _check_choice(
            "acquisition_fidelity", acquisition_fidelity, ACQUISITION_FIDELITIES
        )
        for name, flag in (
            ("cost_aware", cost_aware),
            ("output_warping", output_warping),
            ("best_so_far", best_so_far),
        ):
            if not isinstance(flag, bool):
                raise InvalidStudy(
                    f"scheduler parameter {name} must be true or false, got {flag!r}"
                )
        if best_so_far and self.generalized:  # several objectives or a constraint
            raise InvalidStudy(
                "scheduler parameter best_so_far takes one objective and no constraints (the "
                "best epoch of one metric is not the best of another)"
            )
        self.best_so_far = best_so_far
        self.cost_aware = cost_aware
        self.output_warping = output_warping
        self.multi_fidelity = multi_fidelity
        if self.acquisition_fidelity != "max" and not multi_fidelity:
            raise InvalidStudy(
                f"scheduler parameter acquisition_fidelity {self.acquisition_fidelity!r} needs a "
                "multi-fidelity searcher (mobster); a single-fidelity one has only the maximum"
            )
        self.levels = None if levels is None else frozenset(float(x) for x in levels)
        if multi_fidelity:
            if fidelity_range is None:
                f = study.fidelity
                if f is None:
                    raise InvalidStudy("a multi-fidelity searcher needs a study with a fidelity")
                fidelity_range = (float(f.min), float(f.max))
            self.fidelity_range: tuple[float, float] | None = fidelity_range
            self.target = fidelity_range[1]
        else:
            self.fidelity_range = None
            self.target = study.max_fidelity
        self.refit_growth = refit_growth
        self.initial_design = _check_choice("initial_design", initial_design, INITIAL_DESIGNS)
        # the proposals before the model has n_initial trials with results
        self._random = INITIAL_DESIGNS[initial_design](study, seed=self.seed)
        self._schedule: Any = None  # hpo.surrogates.gp.HyperparameterSchedule, made on first use
        # one more schedule per extra output (objectives 2.., then constraints), made on first use
        self._schedules: dict[int, Any] = {}
        self._warned: set[str] = set()
        # _first_model keeps its last fit only when asked (MOBSTER ranking promotions by the
        # model): otherwise every proposal is made from a fresh fit, as before
        self.keep_fit = False
        self._last_fit: tuple[int, Any, list[Observation]] | None = None
        self._agreement: tuple[Any, float, Any] | None = None  # held_out_agreement's last
        # observations() and _model_now() of the last history seen, by History.reports_key: a
        # rung decision and the proposal after it read the same results once
        self._obs_memo: tuple[Any, list[Observation]] | None = None
        self._model_memo: tuple[Any, Any] | None = None
        self.last_training_size = 0  # points the last model was conditioned on (tests, benchmarks)
        self.last_acquisition_level: float | None = None  # where the last acquisition was (tests)
        self.last_ref_point: tuple[float, ...] | None = None  # maximize space (tests, debugging)
        # the fewest trials with results at a rung and at the top from which held_out_agreement
        # compares the two rankings (MOBSTER's auto_min), and by how many spreads of the
        # difference of two taus the model's must beat the rung's (MOBSTER's auto_z)
        self.auto_min = AUTO_MIN
        self.auto_z = AUTO_Z

    @property
    def generalized(self) -> bool:
        """True when the model is a list of GPs: several objectives or any constraint."""
        return len(self.study.objectives) > 1 or bool(self.constraints)

    # ---- data --------------------------------------------------------------------------------
    def observations(self, history: History) -> list[Observation]:
        """Every usable result, in arrival order. With ``best_so_far`` a result's value is the
        best the trial reported up to its step (reports come in step order), as when the best
        checkpoint is the one kept. The list is shared between calls on an unchanged history:
        callers must not modify it. On a later state of the same History only the trials that
        reported since are read again (``History.reported_since``)."""
        token, revision = history.reports_key
        memo = self._obs_memo
        if memo is not None and memo[0] == (token, revision):
            return memo[1]
        if memo is not None and memo[0][0] == token and memo[0][1] < revision:
            changed = [history.trial(i) for i in history.reported_since(memo[0][1])]
            numbers = {t.number for t in changed}
            out = [o for o in memo[1] if o.trial not in numbers]
            for t in changed:
                out.extend(self._trial_observations(history, t))
        else:
            out = []
            for t in history.trials():
                out.extend(self._trial_observations(history, t))
        out.sort(key=lambda o: o.order)  # (time, number, step): unique, so any start order
        self._obs_memo = ((token, revision), out)
        return out

    def _trial_observations(self, history: History, t: Trial) -> list[Observation]:
        """The usable results of trial ``t`` (``observations``), in step order."""
        objectives = self.study.objectives
        out: list[Observation] = []
        best = math.inf
        for r in history.reports(t.id):
            values = [r.metrics.get(o.name) for o in objectives]
            if any(v is None for v in values):
                continue
            signed = tuple(o.sign() * v for o, v in zip(objectives, values, strict=True))
            if self.best_so_far:  # one objective (checked in __init__)
                best = min(best, signed[0])
                signed = (best,)
            if not self.multi_fidelity and r.step < self.target - 1e-9:
                continue
            step = min(float(r.step), self.target)
            out.append(
                Observation(
                    t.number,
                    t.config,
                    step,
                    signed[0],
                    (r.time, t.number, step),
                    signed,
                    tuple(r.metrics.get(c.metric) for c in self.constraints),
                )
            )
        return out

    def _select(self, obs: Sequence[Observation]) -> list[Observation]:
        """Results the model trains on: rung levels and each trial's latest, capped."""
        from hpo.surrogates.gp import subsample

        last: dict[int, int] = {}
        for i, o in enumerate(obs):
            j = last.get(o.trial)
            if j is None or (o.fidelity, o.order) >= (obs[j].fidelity, obs[j].order):
                last[o.trial] = i
        latest_ids = set(last.values())
        keep = [
            i
            for i, o in enumerate(obs)
            if i in latest_ids
            or not self.multi_fidelity
            or self.levels is None
            or o.fidelity in self.levels
        ]
        if not self.multi_fidelity:  # one result per trial: the latest at the maximum fidelity
            keep = sorted(latest_ids)
        cand = [obs[i] for i in keep]
        idx = subsample(
            len(cand),
            [keep[k] in latest_ids for k in range(len(cand))],
            [o.fidelity for o in cand],
            [o.score for o in cand],
            [o.order for o in cand],
            self.max_points,
        )
        return [cand[i] for i in idx]

    def _xy(self, features: Any, obs: Sequence[Observation]) -> tuple[np.ndarray, np.ndarray]:
        """Model inputs (with the fidelity) and ``_targets`` of ``obs``."""
        X = features.encode([o.config for o in obs], [o.fidelity for o in obs])
        return X, self._targets(obs)

    def _targets(self, obs: Sequence[Observation]) -> np.ndarray:
        """The model's outputs (maximized) for the first objective: minus the scores, through
        ``power_warp`` with ``output_warping`` (one objective, no constraints: the other paths
        compare raw values with thresholds and reference points)."""
        scores = np.array([o.score for o in obs], dtype=float)
        if self.output_warping and not self.generalized:
            from hpo.surrogates.gp import power_warp

            scores = power_warp(scores)
        return -scores

    # ---- proposals -----------------------------------------------------------------------------
    def propose(self, history: History, pending: Sequence[Trial], n: int = 1) -> list[Config]:
        obs = self.observations(history)
        if len({o.trial for o in obs}) < self.n_initial:
            return self._random.propose(history, pending, n)
        from hpo.surrogates import gp

        level = self.last_acquisition_level = self.acquisition_level(obs)
        features = gp.FeatureMap(self.space, self.fidelity_range)
        if self.multi_fidelity:
            features = dataclasses.replace(features, target_z=features.z(level))
        fraction = self.fraction(history)
        if all(self._at_random(history, i, fraction) for i in range(n)):  # no model needed
            return self._propose_with(None, features, history, pending, n, fraction)
        factory = self._factory(features)
        surrogate, train = self._first_model(obs, features, factory)
        baseline = self._baseline(features, train)
        cost_model = self._cost_model(features, history) if self.cost_aware else None
        if self.generalized:
            acquire = self._list_acquisition(
                features, factory, obs, train, surrogate, cost_model, level
            )
        else:

            def acquire(X_pending: np.ndarray, seed: int) -> np.ndarray:
                return gp.propose_log_ei(
                    surrogate, features, baseline, X_pending, seed=seed, cost_model=cost_model
                )

        return self._propose_with(acquire, features, history, pending, n, fraction)

    def _factory(self, features: Any) -> Callable[[], Any]:
        """A new, unfitted GP of this searcher's settings (``hpo.surrogates.gp.GPSurrogate``)."""
        from hpo.surrogates import gp

        cat = sorted(features.cat_dims)

        def factory() -> gp.GPSurrogate:
            return gp.GPSurrogate(
                cat_dims=cat,
                noise_floor=self.noise_floor,
                lengthscale_prior=self.lengthscale_prior,
                noise_prior=self.noise_prior,
            )

        return factory

    def _first_model(
        self, obs: Sequence[Observation], features: Any, factory: Callable[[], Any]
    ) -> tuple[Any, list[Observation]]:
        """The GP of the first objective on ``obs`` (hyperparameters from the milestone schedule)
        and the results it was conditioned on. With ``keep_fit`` the last fit is kept, keyed by the
        results, so a promotion ranked by the model (``MOBSTER`` with ``promote_by: model``) and
        the proposal that follows at the same results share one fit."""
        from hpo.surrogates import gp

        prefix = _prefix_keys(obs)
        key = (prefix[-1] if prefix else 0) if self.keep_fit else None  # names all of obs
        if key is not None and self._last_fit is not None and self._last_fit[0] == key:
            self.last_training_size = len(self._last_fit[2])
            return self._last_fit[1], self._last_fit[2]
        if self._schedule is None:
            self._schedule = gp.HyperparameterSchedule(
                first=max(self.n_initial, 3), growth=self.refit_growth
            )
        hp = self._schedule.for_size(
            len(obs),
            lambda m: self._xy(features, self._select(obs[:m])),
            factory,
            self.seed,
            prefix_keys=prefix,
        )
        train = self._select(obs)
        X, y = self._xy(features, train)
        self.last_training_size = len(train)
        import torch

        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            surrogate = factory().fit(X, y, warm_start=hp, optimize=hp is None)
        if key is not None:
            self._last_fit = (key, surrogate, train)
        return surrogate, train

    def _model_now(self, history: History) -> tuple[Any, list[Observation], Any] | None:
        """The first objective's GP on the history's results (``_first_model``), the results it
        was conditioned on and its feature map; None while there is no single model (fewer than
        ``n_initial`` trials with results, or a list of models). Kept while the history is
        unchanged (``History.reports_key``)."""
        key = history.reports_key
        if self._model_memo is not None and self._model_memo[0] == key:
            return self._model_memo[1]
        obs = self.observations(history)
        out: tuple[Any, list[Observation], Any] | None = None
        if not self.generalized and len({o.trial for o in obs}) >= self.n_initial:
            from hpo.surrogates import gp

            features = gp.FeatureMap(self.space, self.fidelity_range)
            surrogate, train = self._first_model(obs, features, self._factory(features))
            out = (surrogate, train, features)
        self._model_memo = (key, out)
        return out

    def predicted_scores(
        self, history: History, configs: Sequence[Config], fidelity: float | None = None
    ) -> np.ndarray | None:
        """The model's scores of ``configs`` at ``fidelity`` (default: the maximum), lower is
        better: minus the GP's posterior mean of the first objective in the model's own
        (warped, standardized) space, an order rather than a value. None while the model does
        not exist yet (fewer than ``n_initial`` trials with results) and for a list of models
        (several objectives or constraints)."""
        model = self._model_now(history)
        if model is None:
            return None
        surrogate, _, features = model
        at = self.target if fidelity is None else float(fidelity)
        X = features.encode(list(configs), [at] * len(configs) if self.multi_fidelity else None)
        mean, _ = surrogate.posterior(X)
        return -np.asarray(mean, dtype=float)

    def held_out_agreement(
        self, history: History, level: float
    ) -> tuple[float | None, float | None, int] | None:
        """How well the model and the results at ``level`` rank the top results, on the trials
        with a result at both (the ``AUTO_TOP`` best at the top): Kendall's tau between their
        top results and (1) the model's predictions at the top held out from everything those
        trials reported above ``level`` (what the model knows of a trial waiting at ``level``;
        ``GPSurrogate.held_out_means``), (2) their results at ``level``; and how many trials.
        None while the model does not exist, for a list of models, or below ``auto_min``."""
        model = self._model_now(history)
        if model is None:
            return None
        from hpo.schedulers.asha import kendall_tau

        surrogate, train, _ = model
        if (
            self._agreement is not None
            and self._agreement[0] is surrogate
            and self._agreement[1] == level
        ):
            return self._agreement[2]
        rows: dict[int, dict[float, int]] = {}
        for i, o in enumerate(train):
            rows.setdefault(o.trial, {})[o.fidelity] = i
        top = self.target
        both = sorted((train[r[top]].score, t) for t, r in rows.items() if top in r and level in r)
        both = both[:AUTO_TOP]
        out: tuple[float | None, float | None, int] | None = None
        if len(both) >= self.auto_min:
            blocks = [[i for f, i in rows[t].items() if f > level] for _, t in both]
            at = [rows[t][top] for _, t in both]
            held = surrogate.held_out_means(blocks, at)  # the model maximizes: minus the score
            tops = [v for v, _ in both]
            out = (
                kendall_tau([-float(v) for v in held], tops),
                kendall_tau([train[rows[t][level]].score for _, t in both], tops),
                len(both),
            )
        self._agreement = (surrogate, float(level), out)
        return out

    def model_ranks_better(self, history: History, level: float) -> bool:
        """Whether the model's held-out predictions rank the top results better than the results
        at ``level`` do (``held_out_agreement``), by more than ``auto_z`` times
        ``tau_difference_sd(n)``: a difference that two rankings of ``n`` trials would often
        show by chance hands the rung to the model only with ``auto_z`` 0 (strictly greater,
        the rule before the thirty-third session). False without the evidence. A rung whose
        results are all tied ranks nothing: its tau counts as 0 (with ``auto_z`` 0, as before,
        the model ranks better there whatever its tau)."""
        got = self.held_out_agreement(history, level)
        if got is None or got[0] is None:
            return False
        return model_beats_rung(got[0], got[1], got[2], self.auto_z)

    def acquisition_level(self, obs: Sequence[Observation]) -> float:
        """The fidelity at which a multi-fidelity acquisition is evaluated and its incumbent taken.

        ``"max"``: the maximum fidelity. ``"bohb"``: the highest rung level at which at least
        ``d + 1`` trials have a result (``d`` parameters; BOHB's rule for the budget its model
        is built on, ``N_min = d + 1``, Falkner et al. 2018, section 3.1, which Syne Tune's
        MOBSTER also uses by default), else the lowest rung: early in a study the model is asked
        about the fidelity where it has data, not extrapolated to one it has not seen.
        ``"gated"``: BOHB's level, or the maximum where the trials promoted between rung levels
        rank unlike at the level above (``gated_level``).
        """
        if self.acquisition_fidelity == "max" or not self.levels:
            return self.target
        per_level: dict[float, dict[int, float]] = {}
        for o in obs:
            if o.fidelity in self.levels:
                per_level.setdefault(o.fidelity, {})[o.trial] = o.score
        level = bohb_level(per_level, self.levels, self.target, len(self.space))
        if self.acquisition_fidelity == "gated":
            level = gated_level(per_level, sorted(self.levels), level, self.target)
        return level

    def _propose_with(
        self,
        acquire: Any,
        features: Any,
        history: History,
        pending: Sequence[Trial],
        n: int,
        fraction: float,
    ) -> list[Config]:
        """``n`` configurations from ``acquire(X_pending, seed)``, each one pending for the next.

        A proposal equal to a pending configuration means the acquisition was flat there: a
        uniformly random configuration is proposed instead. Proposal ``i`` is uniformly random
        when ``_at_random`` says so at ``fraction`` (``acquire`` may then be None when every one
        is). Seeds follow (seed, trials, index).
        """
        pend = [t.config for t in pending]
        X_pending = features.encode(pend) if pend else np.empty((0, features.dim))
        out: list[Config] = []
        for i in range(n):
            rng = np.random.default_rng([self.seed, history.n_trials, i])
            if self._at_random(history, i, fraction):
                config = self.space.sample(rng)
            else:
                x = acquire(X_pending, int(rng.integers(2**31 - 1)))
                config = self.space.validate_config(features.decode(x))
            if any(config == c for c in pend):  # the acquisition was flat: explore instead
                config = self.space.sample(rng)
            out.append(config)
            pend.append(config)
            X_pending = np.vstack([X_pending, features.encode([config])])
        return out

    def _at_random(self, history: History, i: int, fraction: float) -> bool:
        """Whether proposal ``i`` at this history is drawn uniformly at random instead of from
        the model: probability ``fraction``, seeded by (seed, trials, index) on a stream of its
        own (BOHB's random fraction, Falkner et al. 2018, section 3.2)."""
        if not fraction:
            return False
        coin = np.random.default_rng([self.seed, history.n_trials, i, 1]).random()
        return bool(coin < fraction)

    def fraction(self, history: History) -> float:
        """The share of proposals drawn at random now: ``random_fraction``, or with ``"auto"``
        the share of the last ``PLATEAU_WINDOW`` trials whose first result repeated an earlier
        trial's exactly (``plateau_share``), at most ``PLATEAU_CAP``."""
        if self.random_fraction != "auto":
            return float(self.random_fraction)
        share = plateau_share(history, self.study.objectives[0].name, PLATEAU_WINDOW)
        return min(PLATEAU_CAP, share)

    # ---- several objectives, constraints -------------------------------------------------------
    def _list_acquisition(
        self,
        features: Any,
        factory: Any,
        obs: Sequence[Observation],
        train: Sequence[Observation],
        first: Any,
        cost_model: Any,
        level: float,
    ) -> Any:
        """``acquire(X_pending, seed)`` for a ModelListGP: objectives, then constraints, at
        fidelity ``level`` (``acquisition_level``; ``features.target_z`` is its input).

        One GP per objective (all results report every objective, so they share the training
        set of the first) and one per constraint metric, trained on the results that report it
        (each with its own subsample and milestone schedule). A constraint that no result
        reports yet is left out of the acquisition, with a warning naming the metric.
        """
        from hpo.surrogates import gp

        k = len(self.study.objectives)
        surrogates = [first]
        for i in range(1, k):
            surrogates.append(
                self._fit_output(
                    i, obs, lambda sel, i=i: [-o.values[i] for o in sel], features, factory
                )
            )
        outcome_constraints: list[gp.OutcomeConstraint] = []
        for j, c in enumerate(self.constraints):
            obs_j = [o for o in obs if o.constraint_values[j] is not None]
            if len({o.trial for o in obs_j}) < 2:
                if c.metric not in self._warned:
                    self._warned.add(c.metric)
                    reported = sorted({m for o in obs for m in self._metric_names(o)})
                    log.warning(
                        "constraint %s: fewer than 2 trials reported %r yet (they report %s); "
                        "it is left out of the acquisition until they do",
                        c,
                        c.metric,
                        reported,
                    )
                continue

            def values_of(sel: Sequence[Observation], j: int = j) -> list[float]:
                return [float(o.constraint_values[j]) for o in sel]  # type: ignore[arg-type]

            model = self._fit_output(k + j, obs_j, values_of, features, factory)
            vals = np.array(values_of(self._select(obs_j)))
            scale = float(vals.std()) if vals.size > 1 and vals.std() > 0 else 1.0
            outcome_constraints.append(
                gp.OutcomeConstraint(len(surrogates), c.direction, c.bound, scale)
            )
            surrogates.append(model)
        baseline = self._baseline(features, train)
        ref = self._reference_point(train, level) if k > 1 else None
        self.last_ref_point = ref

        def acquire(X_pending: np.ndarray, seed: int) -> np.ndarray:
            return gp.propose_model_list(
                surrogates,
                features,
                baseline,
                X_pending,
                n_objectives=k,
                constraints=outcome_constraints,
                ref_point=ref,
                seed=seed,
                cost_model=cost_model,
            )

        return acquire

    def _metric_names(self, o: Observation) -> list[str]:
        names = [x.name for x in self.study.objectives]
        return names + [
            c.metric
            for c, v in zip(self.constraints, o.constraint_values, strict=True)
            if v is not None
        ]

    def _fit_output(
        self,
        key: int,
        obs_k: Sequence[Observation],
        y_of: Any,
        features: Any,
        factory: Any,
    ) -> Any:
        """The GP of output ``key`` on ``obs_k`` (arrival order), with its own milestones."""
        from hpo.surrogates import gp

        sched = self._schedules.get(key)
        if sched is None:
            sched = self._schedules[key] = gp.HyperparameterSchedule(
                first=max(self.n_initial, 3), growth=self.refit_growth
            )

        def data_at(m: int) -> tuple[np.ndarray, np.ndarray]:
            sel = self._select(obs_k[:m])
            return features.encode([o.config for o in sel], [o.fidelity for o in sel]), np.array(
                y_of(sel), dtype=float
            )

        seed = self.seed + 7919 * key
        hp = sched.for_size(len(obs_k), data_at, factory, seed, prefix_keys=_prefix_keys(obs_k))
        X, y = data_at(len(obs_k))
        import torch

        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return factory().fit(X, y, warm_start=hp, optimize=hp is None)

    def _reference_point(self, train: Sequence[Observation], level: float) -> tuple[float, ...]:
        """The hypervolume's reference point in the model's space (maximized: ``-values``).

        The user's ``ref_point`` when given; otherwise BoTorch's ``infer_reference_point``
        applied to the results themselves (not only their Pareto front): the worst observed
        value of each objective, moved away by 10% of the observed range. The results are the
        feasible ones at or above ``level``, the acquisition's fidelity (``acquisition_level``:
        the target, or BOHB's rung with ``acquisition_fidelity="bohb"``), else all feasible
        ones, else all.
        (The nadir of the Pareto front alone collapses to a tiny box when the front is narrow
        early on, and then nothing outside the box looks like an improvement; Optuna's
        GPSampler also starts from the worst observed values.)
        """
        if self.ref_point is not None:
            return tuple(
                -o.sign() * r for o, r in zip(self.study.objectives, self.ref_point, strict=True)
            )
        import torch
        from botorch.utils.multi_objective.hypervolume import infer_reference_point

        ok = [o for o in train if feasible(o, self.constraints)]
        top = [o for o in ok if o.fidelity >= level - 1e-9]
        pool = top or ok or list(train)
        Y = torch.tensor([[-v for v in o.values] for o in pool], dtype=torch.float64)
        return tuple(float(v) for v in infer_reference_point(Y, scale=0.1))

    def _baseline(self, features: Any, train: Sequence[Observation]) -> np.ndarray:
        """Distinct evaluated configurations at the maximum fidelity: the incumbent's candidates.

        Each trial's highest-fidelity result; past ``MAX_BASELINE`` trials, the highest fidelity
        first, then (with constraints) feasible results, then (with several objectives) the
        non-dominated ones, then the first objective.
        """
        best: dict[int, Observation] = {}
        for o in train:
            b = best.get(o.trial)
            if b is None or (o.fidelity, -o.score) > (b.fidelity, -b.score):
                best[o.trial] = o
        cands = list(best.values())
        if not self.generalized or len(cands) <= MAX_BASELINE:
            top = sorted(cands, key=lambda o: (-o.fidelity, o.score, o.trial))[:MAX_BASELINE]
            return features.encode([o.config for o in top])
        import torch
        from botorch.utils.multi_objective.pareto import is_non_dominated

        Y = torch.tensor([[-v for v in o.values] for o in cands], dtype=torch.float64)
        nd = is_non_dominated(Y).tolist()
        rank = {
            id(o): (-o.fidelity, not feasible(o, self.constraints), not nd[i], o.score, o.trial)
            for i, o in enumerate(cands)
        }
        top = sorted(cands, key=lambda o: rank[id(o)])[:MAX_BASELINE]
        return features.encode([o.config for o in top])

    def _cost_model(self, features: Any, history: History) -> Any:
        """A GP on log(seconds per unit of fidelity) of trials that reported costs, or None."""
        from hpo.surrogates import gp

        configs, costs = [], []
        for t in history.trials():
            reps = history.reports(t.id)
            if not reps or any(r.cost_s is None for r in reps) or not t.last_step:
                continue
            total = sum(r.cost_s for r in reps)  # type: ignore[misc]
            if total > 0:
                configs.append(t.config)
                costs.append(math.log(total / max(float(t.last_step), 1e-12)))
        if len(configs) < 3:
            return None
        configs, costs = configs[-MAX_COST_POINTS:], costs[-MAX_COST_POINTS:]
        space_only = gp.FeatureMap(self.space)
        import torch

        with torch.random.fork_rng():
            torch.manual_seed(self.seed + 1)
            return gp.GPSurrogate(cat_dims=sorted(space_only.cat_dims), max_iter=50).fit(
                space_only.encode(configs), np.array(costs)
            )


# the GP schedulers' params whose defaults have changed between releases or are measured for a
# change: a new bo, mobster or hypertune study stores their current defaults (Scheduler.pinned)
GP_PINNED = (
    "random_fraction",
    "output_warping",
    "lengthscale_prior",
    "initial_design",
    "noise_prior",
)
# what bo and hypertune searched with before each of GP_PINNED was pinned (``Scheduler.legacy``):
# random_fraction and output_warping from 820c487, lengthscale_prior from edd83c5 (BoTorch's
# prior until then), initial_design from 31975f0 (bo) and a8ef16a (hypertune), noise_prior
# from 10c1956
GP_LEGACY = {
    "random_fraction": 0.0,
    "output_warping": False,
    "lengthscale_prior": "dim_scaled",
    "initial_design": "random",
    "noise_prior": "lognormal",
}


def _searcher_params(
    n_initial: Any,
    max_points: Any,
    cost_aware: Any,
    constraints: Any,
    ref_point: Any,
    random_fraction: Any = 0.0,
    noise_floor: Any = None,
    output_warping: Any = False,
    lengthscale_prior: Any = "dim_scaled",
    best_so_far: Any = False,
    initial_design: Any = "random",
    noise_prior: Any = "lognormal",
) -> dict[str, Any]:  # validated by GPSearcher
    return {
        "initial_design": initial_design,
        "noise_prior": noise_prior,
        "best_so_far": best_so_far,
        "random_fraction": random_fraction,
        "noise_floor": noise_floor,
        "output_warping": output_warping,
        "lengthscale_prior": lengthscale_prior,
        "n_initial": n_initial,
        "max_points": max_points,
        "cost_aware": cost_aware,
        "constraints": constraints,
        "ref_point": ref_point,
    }


class BayesianOptimization(RandomSearch):
    """GP-BO (``"bo"``): every trial runs to the maximum fidelity; configurations from a GP.

    Params: ``n_initial`` (random trials before the model; default ``clip(2 d + 1, 3, 10)``),
    ``max_points`` (training set cap, default 500), ``cost_aware`` (EI per unit of predicted
    cost, default false), ``constraints`` (outcome constraints, see ``parse_constraints``),
    ``ref_point`` (hypervolume reference point with several objectives, see
    ``parse_ref_point``), ``random_fraction`` (share of proposals drawn uniformly at random
    instead of from the model, as in BOHB; default 0; ``"auto"``: the share of recent trials
    whose first result repeated another's exactly, see ``plateau_share``), ``noise_floor`` (the
    least GP noise variance, standardized, default 1e-4), ``output_warping`` (the scores through
    ``hpo.surrogates.gp.power_warp`` before the GP, one objective without constraints; default
    false), ``lengthscale_prior`` (``"dim_scaled"``, the default, or ``"gamma"``; see
    ``hpo.surrogates.gp.LENGTHSCALE_PRIORS``), ``best_so_far`` (the model sees each result as
    the best value its trial reported up to that step, as when the best checkpoint is kept; one
    objective, no constraints; default false), ``initial_design`` (how the ``n_initial``
    proposals before the model are drawn: ``"sobol"``, successive points of a scrambled Sobol'
    sequence, ``SobolSearcher``, the default since the seventeenth session (10 seeds on the seven
    benchmarks: lower final mean regret than uniform draws on four, docs/benchmarks.md);
    ``"random"``, uniform as random search), ``noise_prior`` (the prior on the GP's noise
    variance: ``"lognormal"``, BoTorch's LogNormal(-4, 1), the default, or ``"none"``, the noise
    by maximum likelihood above ``noise_floor``, for objectives without noise; see
    ``hpo.surrogates.gp.NOISE_PRIORS``), ``seed``. With several objectives the acquisition
    is qLogNEHVI.
    """

    name = "bo"
    pinned = GP_PINNED
    legacy = GP_LEGACY

    def __init__(
        self,
        study: Study,
        *,
        n_initial: int | None = None,
        max_points: int = 500,
        cost_aware: bool = False,
        constraints: list[Any] | None = None,
        ref_point: list[float] | None = None,
        random_fraction: float | str = 0.0,
        noise_floor: float | None = None,
        output_warping: bool = False,
        lengthscale_prior: str = "dim_scaled",
        best_so_far: bool = False,
        initial_design: str = "sobol",
        noise_prior: str = "lognormal",
        seed: int = 0,
        searcher: Searcher | None = None,
        points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
    ):
        super().__init__(study, seed=seed, searcher=searcher, points_to_evaluate=points_to_evaluate)
        gp_searcher = GPSearcher(
            study,
            seed=self.seed,
            **_searcher_params(
                n_initial,
                max_points,
                cost_aware,
                constraints,
                ref_point,
                random_fraction,
                noise_floor,
                output_warping,
                lengthscale_prior,
                best_so_far,
                initial_design,
                noise_prior,
            ),
        )
        if searcher is None:
            self.searcher = gp_searcher


def resolved_skip_repeats(value: Any, variant: Any) -> Any:
    """What mobster's ``skip_repeats`` stands for: ``"auto"`` is true in the promotion variant
    and false in the stopping one (to which it does not apply); any other value as it is."""
    return variant == "promotion" if value == "auto" else value


class FeasibleFirstRungIndex(RungIndex):
    """A rung whose results sort by (constraints violated, score): infeasible results last.

    Entries are ``((violated, score), trial number, trial id)`` (``rank_key``), so ASHA's ``top_k``
    and ``count_better((violated, score))`` rank a feasible result above every infeasible one, and
    infeasible ones by how many constraints they violate, then by score. A result violates a
    constraint whose metric its report at this rung lacks. Same incremental update as ``RungIndex``
    (reports are stored once per (trial, step), so a result's constraint metrics do not change after
    it arrived), with ``RungIndex.update``.
    """

    __slots__ = ("constraints",)

    def __init__(
        self,
        level: float,
        constraints: Sequence[Constraint],
        key: Any = None,
        skip_repeats: bool = False,
    ) -> None:
        super().__init__(level, key, skip_repeats)
        self.constraints = tuple(constraints)

    def rank_key(self, history: History, trial_id: int, score: float) -> tuple[int, float]:
        r = history.report_at(trial_id, self.level)
        return (violated(r.metrics if r else {}, self.constraints), score)


class MOBSTER(ASHA):
    """MOBSTER (``"mobster"``): ASHA whose new configurations come from a multi-fidelity GP.

    Params: ASHA's (``eta``, ``min_fidelity``, ``max_fidelity``, ``variant``, ``brackets``; with
    ``"adaptive"``, one bracket until the low rungs rank the best top-fidelity results
    significantly in reverse, then new trials start above those rungs; docs/bo.md) and
    ``n_initial``, ``max_points``, ``cost_aware``, ``constraints``, ``ref_point``,
    ``random_fraction`` as for ``"bo"`` but ``"auto"`` by default (0 until results repeat
    exactly; on the tabular benchmarks it lowers the final regret, docs/benchmarks.md),
    ``noise_floor`` and ``output_warping`` as for ``"bo"`` but true by default (the scores go
    through a fitted power transform before the GP, ``power_warp``: docs/benchmarks.md),
    ``lengthscale_prior`` as for ``"bo"`` but ``"gamma"`` by default (the shorter Gamma(3, 6)
    prior: it does not lock the search onto a face of the box, and had the best final regret
    on six of the seven benchmarks, docs/benchmarks.md), ``initial_design`` as for ``"bo"``
    (``"sobol"`` by default here first: a lower final regret than uniform draws on four of the
    six benchmarks measured, and the best peer's final in under half its time on hartmann6-mf
    and digits-mlp-best; docs/benchmarks.md), ``best_so_far`` and ``noise_prior`` as for
    ``"bo"``, ``acquisition_fidelity`` (``"bohb"``, the default since the twenty-third session:
    log EI and its incumbent at the highest rung level with at least ``d + 1`` results, as BOHB
    and Syne Tune's MOBSTER do, ``GPSearcher.acquisition_level``; over the seven benchmarks it
    reached the best peer's final in half its time on three against two, with the lowest final
    on five as before, docs/benchmarks.md; ``"max"``: at the maximum fidelity, better where
    the first epochs rank configurations unlike the last and the budget holds few full
    trainings, as on breast_cancer-mlp), ``promote_by`` (``"auto"``, the default since the
    thirtieth session: the model's ranking at a rung only while its held-out predictions rank
    the best top results better than the results at that rung do, else the results', so it
    decides as ``"score"`` wherever the low fidelities rank well; over the seven benchmarks,
    paired seed by seed with ``"score"`` on the development machine, its mean final was lower
    or equal on every one; on the device host's runs it was higher on five, each by one or two
    seeds of ten, and over both hosts only branin-mf leans clearly (lower in 15 of 20 pairs),
    docs/benchmarks.md; ``"score"``: a rung's
    top ``1 / eta`` by their results there, as ASHA ranks, the default before; ``"model"``: by
    the GP's predicted score at the maximum fidelity, so the model, which has seen every level,
    decides whom to train further where the low fidelities rank configurations unlike the high
    ones; opt-in, docs/bo.md), ``auto_min`` (5: the fewest trials with results at a rung and
    at the top over which ``auto`` compares the two rankings; below it the rung ranks by its
    results. 8 before the thirty-second session, when a branin-mf run had fewer than 8 results
    at the top for its first 2.5 simulated hours, while the first rung stopped nearly every new
    trial, so the comparison that would have handed the rungs to the model came that late;
    docs/benchmarks.md), ``auto_z`` (1.0: ``auto`` hands a rung to the model only where the
    model's tau beats the rung's by more than ``auto_z`` times ``tau_difference_sd(n)`` over
    its ``n`` trials, so that over few trials only a clear difference moves the rung; 0, the
    default before the thirty-third session: any difference; docs/benchmarks.md),
    ``skip_repeats`` (``"auto"``, the default since the forty-third session: true with the
    promotion variant, false with ``"stopping"``, to which it does not apply; true: a result
    whose curve up to a rung repeats an earlier result's exactly is left out of the rung, so
    such a copy, a table's row read again, is neither counted nor promoted; on the four MLP
    tables and charlm-gpt its mean final was lower or level, breast_cancer-mlp 0.0620 against
    0.1455, and with no repeated curve it decides as false does; docs/benchmarks.md; false,
    the default before: as ``asha``'s), and ``seed``.

    Rung decisions (promotion or stopping) rank results by the first objective, as ASHA does,
    also when the study has several objectives; with constraints, infeasible results rank after
    every feasible one (``FeasibleFirstRungIndex``). New configurations come from qLogNEHVI, at
    the same fidelity as log EI, when there are several objectives.
    """

    name = "mobster"
    pinned = (
        *GP_PINNED,
        "brackets",
        "acquisition_fidelity",
        "promote_by",
        "auto_min",
        "auto_z",
        "skip_repeats",
    )
    # before each was pinned (``Scheduler.legacy``): one bracket (d4b75fc), uniform initial draws
    # (4af9cdc), log EI at the maximum fidelity (cb14a72), rungs ranked by their results
    # (d69b916), the model's ranking compared after 8 trials (6f10362) and without a margin
    # (9f2b72b), repeated curves kept in the rungs (the default before "auto"); random_fraction
    # and output_warping had today's defaults when pinned (820c487)
    legacy = {
        **GP_LEGACY,
        "random_fraction": "auto",
        "output_warping": True,
        "brackets": 1,
        "acquisition_fidelity": "max",
        "promote_by": "score",
        "auto_min": 8,
        "auto_z": 0.0,
        "skip_repeats": False,
    }

    def __init__(
        self,
        study: Study,
        *,
        eta: float = 3,
        min_fidelity: float | None = None,
        max_fidelity: float | None = None,
        variant: str = "promotion",
        brackets: int | str = 1,
        n_initial: int | None = None,
        max_points: int = 500,
        cost_aware: bool = False,
        constraints: list[Any] | None = None,
        ref_point: list[float] | None = None,
        random_fraction: float | str = "auto",
        noise_floor: float | None = None,
        output_warping: bool = True,
        lengthscale_prior: str = "gamma",
        best_so_far: bool = False,
        initial_design: str = "sobol",
        noise_prior: str = "lognormal",
        acquisition_fidelity: str = "bohb",
        promote_by: str = "auto",
        auto_min: int = AUTO_MIN,
        auto_z: float = AUTO_Z,
        skip_repeats: bool | str = "auto",
        seed: int = 0,
        searcher: Searcher | None = None,
        points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
    ):
        self.promote_by = _check_choice("promote_by", promote_by, PROMOTE_BY)
        skip_repeats = resolved_skip_repeats(skip_repeats, variant)
        if not isinstance(skip_repeats, bool):
            raise InvalidStudy(
                f"mobster skip_repeats must be true, false or 'auto', got {skip_repeats!r}"
            )
        super().__init__(
            study,
            eta=eta,
            min_fidelity=min_fidelity,
            max_fidelity=max_fidelity,
            variant=variant,
            brackets=brackets,
            skip_repeats=skip_repeats,
            seed=seed,
            searcher=searcher,
            points_to_evaluate=points_to_evaluate,
        )
        levels = sorted({x for rungs in self.rungs for x in rungs})
        gp_searcher = GPSearcher(
            study,
            seed=self.seed,
            multi_fidelity=True,
            levels=levels,
            fidelity_range=(self.r_min, self.r_max),
            acquisition_fidelity=acquisition_fidelity,
            **_searcher_params(
                n_initial,
                max_points,
                cost_aware,
                constraints,
                ref_point,
                random_fraction,
                noise_floor,
                output_warping,
                lengthscale_prior,
                best_so_far,
                initial_design,
                noise_prior,
            ),
        )
        self.constraints = gp_searcher.constraints
        self.model = gp_searcher  # what promote_by "model" ranks with, whoever proposes
        gp_searcher.keep_fit = self.promote_by != "score"
        gp_searcher.auto_min = _check_int("auto_min", auto_min, 3)
        gp_searcher.auto_z = _check_number(
            "auto_z", auto_z, lambda v: 0 <= v <= 10, "a number from 0 to 10"
        )
        if searcher is None:
            self.searcher = gp_searcher

    def _new_rung(self, level: float, key: Callable[[Trial], bool] | None) -> RungIndex:
        """With constraints, infeasible results rank after every feasible one."""
        if not self.constraints:
            return super()._new_rung(level, key)
        return FeasibleFirstRungIndex(level, self.constraints, key, self.skip_repeats)

    def _model_order(self, history: History, rung: RungIndex) -> list[int] | None:
        """The trial ids of ``rung``, best first by the model's score at the maximum fidelity
        (``GPSearcher.predicted_scores``; ties by trial number); None while the model cannot
        rank (before ``n_initial`` trials, or with several objectives or constraints), and with
        ``promote_by: auto`` where the model does not rank the top results better than the
        rung's results do (``GPSearcher.model_ranks_better``)."""
        if self.promote_by == "auto" and not self.model.model_ranks_better(history, rung.level):
            return None
        if not rung.entries:
            return []
        trials = [history.trial(e[2]) for e in rung.entries]
        pred = self.model.predicted_scores(history, [t.config for t in trials])
        if pred is None:
            return None
        order = sorted(range(len(trials)), key=lambda i: (pred[i], trials[i].number))
        return [trials[i].id for i in order]

    def _promotion_order(self, history: History, rung: RungIndex) -> list[int] | None:
        """With ``promote_by: model`` (or ``auto`` where the model ranks better), a rung's top
        ``floor(n / eta)`` are those the model predicts best at the maximum fidelity rather than
        those with the best results at the rung (DyHPO, Wistuba et al. 2022, continues
        configurations by the model's prediction in the same spirit), so where the low
        fidelities rank configurations unlike the high ones, the model, which has seen both,
        picks whom to train further."""
        return None if self.promote_by == "score" else self._model_order(history, rung)

    def _top_rank(self, history: History) -> Callable[[int, float], Any] | None:
        """With constraints, adaptive brackets compare the best feasible top results first."""
        if not self.constraints:
            return None
        return functools.partial(
            FeasibleFirstRungIndex(self.r_max, self.constraints).rank_key, history
        )

    def on_report(self, history: History, trial: Trial, report: Report) -> Decision:
        levels = self.rungs[self._bracket_of(trial)]
        step = report.step
        if (
            self.promote_by != "score"
            and self.variant == "stopping"
            and step < self.r_max
            and step in levels
            and trial.id in history.scores_at(step)
        ):
            rung = self._rung(history, self._bracket_of(trial), step)
            order = self._model_order(history, rung)
            if order is not None:
                keep = order.index(trial.id) < math.ceil(len(rung) / self.eta)
                return Decision.CONTINUE if keep else Decision.STOP
        if (
            not self.constraints
            or self.variant != "stopping"
            or step >= self.r_max
            or step not in levels
        ):
            return super().on_report(history, trial, report)
        mine = history.scores_at(step).get(trial.id)
        if mine is None:
            return Decision.CONTINUE
        rung = self._rung(history, self._bracket_of(trial), step)
        assert isinstance(rung, FeasibleFirstRungIndex)
        better = rung.count_better(rung.rank_key(history, trial.id, mine))  # type: ignore[arg-type]
        return Decision.CONTINUE if better < math.ceil(len(rung) / self.eta) else Decision.STOP
