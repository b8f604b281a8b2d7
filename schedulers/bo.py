"""Gaussian-process Bayesian optimization: a searcher, and the schedulers that own one.

* ``GPSearcher``: proposes the configuration that maximizes log noisy expected improvement
  (qLogNEI, Ament et al. 2023) at the target (maximum) fidelity under a GP fitted to the history
  (``hpo.surrogates.gp``). Trials still in flight are the acquisition's ``X_pending``: their
  outcomes are fantasized jointly with the candidate's, so a point next to a running trial adds
  little expected improvement and is not proposed (asynchronous BO as in Snoek et al. 2012 and
  Klein et al. 2020). Until ``n_initial`` trials have results it proposes uniformly at random,
  exactly as ``RandomSearcher`` (default ``n_initial = clip(2 d + 1, 3, 10)`` for ``d``
  parameters: enough points that a d-dimensional ARD GP has something to fit).

  Single fidelity: one observation per trial, its result at the study's maximum fidelity.
  Multi-fidelity (MOBSTER, Klein et al. 2020, "Model-based Asynchronous Hyperparameter and
  Neural Architecture Search"): one joint GP over (configuration, log-fidelity) fitted to every
  trial's results at the scheduler's rung levels plus its latest result, and log EI evaluated at
  the maximum fidelity, where the incumbent is the posterior best of the evaluated
  configurations projected to that fidelity.

  ``cost_aware=True`` divides EI by the predicted cost of a configuration (log EI minus the
  posterior mean of a GP on the log of each trial's reported seconds per unit of fidelity,
  ``Report.cost_s``), as in Snoek et al. 2012, section 3.2.

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

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hpo.schedulers.asha import ASHA
from hpo.schedulers.base import RandomSearcher, Searcher
from hpo.schedulers.random_search import RandomSearch

from hpo.errors import InvalidStudy
from hpo.history import History
from hpo.model import Study, Trial
from hpo.space import Config

log = logging.getLogger(__name__)

MAX_BASELINE = 64  # incumbent candidates handed to qLogNEI (it prunes them further)
MAX_COST_POINTS = 200


@dataclass(frozen=True)
class Observation:
    """One result: trial number, its configuration, fidelity, score (lower is better)."""

    trial: int
    config: Config
    fidelity: float
    score: float
    order: tuple[float, int, float]  # (report time, trial number, step): arrival order


def default_n_initial(dim: int) -> int:
    return int(min(max(2 * dim + 1, 3), 10))


def _check_int(name: str, v: Any, low: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise InvalidStudy(f"scheduler parameter {name} must be an integer >= {low}, got {v!r}")
    return v


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
    ):
        self.study = study
        self.space = study.space
        self.seed = int(seed)
        self.n_initial = (
            default_n_initial(len(self.space))
            if n_initial is None
            else _check_int("n_initial", n_initial, 1)
        )
        self.max_points = _check_int("max_points", max_points, 10)
        if not isinstance(cost_aware, bool):
            raise InvalidStudy(
                f"scheduler parameter cost_aware must be true or false, got {cost_aware!r}"
            )
        self.cost_aware = cost_aware
        self.multi_fidelity = multi_fidelity
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
        self._random = RandomSearcher(study, seed=self.seed)
        self._schedule: Any = None  # hpo.surrogates.gp.HyperparameterSchedule, made on first use
        self.last_training_size = 0  # points the last model was conditioned on (tests, benchmarks)

    # ---- data --------------------------------------------------------------------------------
    def observations(self, history: History) -> list[Observation]:
        """Every usable result, in arrival order."""
        sign = self.study.objective.sign()
        name = self.study.objective.name
        out: list[Observation] = []
        for t in history.trials():
            for r in history.reports(t.id):
                v = r.metrics.get(name)
                if v is None:
                    continue
                if not self.multi_fidelity and r.step < self.target - 1e-9:
                    continue
                step = min(float(r.step), self.target)
                out.append(
                    Observation(t.number, t.config, step, sign * v, (r.time, t.number, step))
                )
        out.sort(key=lambda o: o.order)
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
        X = features.encode([o.config for o in obs], [o.fidelity for o in obs])
        return X, -np.array([o.score for o in obs], dtype=float)

    # ---- proposals -----------------------------------------------------------------------------
    def propose(self, history: History, pending: Sequence[Trial], n: int = 1) -> list[Config]:
        obs = self.observations(history)
        if len({o.trial for o in obs}) < self.n_initial:
            return self._random.propose(history, pending, n)
        from hpo.surrogates import gp

        features = gp.FeatureMap(self.space, self.fidelity_range)
        cat = sorted(features.cat_dims)

        def factory() -> gp.GPSurrogate:
            return gp.GPSurrogate(cat_dims=cat)

        if self._schedule is None:
            self._schedule = gp.HyperparameterSchedule(
                first=max(self.n_initial, 3), growth=self.refit_growth
            )
        hp = self._schedule.for_size(
            len(obs), lambda m: self._xy(features, self._select(obs[:m])), factory, self.seed
        )
        train = self._select(obs)
        X, y = self._xy(features, train)
        self.last_training_size = len(train)
        import torch

        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            surrogate = factory().fit(X, y, warm_start=hp, optimize=hp is None)
        baseline = self._baseline(features, train)
        cost_model = self._cost_model(features, history) if self.cost_aware else None
        pend = [t.config for t in pending]
        X_pending = features.encode(pend) if pend else np.empty((0, features.dim))
        out: list[Config] = []
        for i in range(n):
            rng = np.random.default_rng([self.seed, history.n_trials, i])
            x = gp.propose_log_ei(
                surrogate,
                features,
                baseline,
                X_pending,
                seed=int(rng.integers(2**31 - 1)),
                cost_model=cost_model,
            )
            config = self.space.validate_config(features.decode(x))
            if any(config == c for c in pend):  # the acquisition was flat: explore instead
                config = self.space.sample(rng)
            out.append(config)
            pend.append(config)
            X_pending = np.vstack([X_pending, features.encode([config])])
        return out

    def _baseline(self, features: Any, train: Sequence[Observation]) -> np.ndarray:
        """Distinct evaluated configurations at the maximum fidelity: the incumbent's candidates."""
        best: dict[int, Observation] = {}
        for o in train:
            b = best.get(o.trial)
            if b is None or (o.fidelity, -o.score) > (b.fidelity, -b.score):
                best[o.trial] = o
        top = sorted(best.values(), key=lambda o: (-o.fidelity, o.score, o.trial))[:MAX_BASELINE]
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


def _searcher_params(
    n_initial: Any, max_points: Any, cost_aware: Any
) -> dict[str, Any]:  # validated by GPSearcher
    return {"n_initial": n_initial, "max_points": max_points, "cost_aware": cost_aware}


class BayesianOptimization(RandomSearch):
    """GP-BO (``"bo"``): every trial runs to the maximum fidelity; configurations from a GP.

    Params: ``n_initial`` (random trials before the model; default ``clip(2 d + 1, 3, 10)``),
    ``max_points`` (training set cap, default 500), ``cost_aware`` (EI per unit of predicted
    cost, default false), ``seed``.
    """

    name = "bo"

    def __init__(
        self,
        study: Study,
        *,
        n_initial: int | None = None,
        max_points: int = 500,
        cost_aware: bool = False,
        seed: int = 0,
        searcher: Searcher | None = None,
    ):
        super().__init__(study, seed=seed, searcher=searcher)
        gp_searcher = GPSearcher(
            study, seed=self.seed, **_searcher_params(n_initial, max_points, cost_aware)
        )
        if searcher is None:
            self.searcher = gp_searcher


class MOBSTER(ASHA):
    """MOBSTER (``"mobster"``): ASHA whose new configurations come from a multi-fidelity GP.

    Params: ASHA's (``eta``, ``min_fidelity``, ``max_fidelity``, ``variant``, ``brackets``) and
    ``n_initial``, ``max_points``, ``cost_aware`` as for ``"bo"``, and ``seed``.
    """

    name = "mobster"

    def __init__(
        self,
        study: Study,
        *,
        eta: float = 3,
        min_fidelity: float | None = None,
        max_fidelity: float | None = None,
        variant: str = "promotion",
        brackets: int = 1,
        n_initial: int | None = None,
        max_points: int = 500,
        cost_aware: bool = False,
        seed: int = 0,
        searcher: Searcher | None = None,
    ):
        super().__init__(
            study,
            eta=eta,
            min_fidelity=min_fidelity,
            max_fidelity=max_fidelity,
            variant=variant,
            brackets=brackets,
            seed=seed,
            searcher=searcher,
        )
        levels = sorted({x for rungs in self.rungs for x in rungs})
        gp_searcher = GPSearcher(
            study,
            seed=self.seed,
            multi_fidelity=True,
            levels=levels,
            fidelity_range=(self.r_min, self.r_max),
            **_searcher_params(n_initial, max_points, cost_aware),
        )
        if searcher is None:
            self.searcher = gp_searcher
