"""Hyper-Tune (``"hypertune"``): asynchronous Hyperband with a learned bracket distribution,
delayed promotions and a multi-fidelity ensemble of GPs (Li et al., "Hyper-Tune: Towards
Efficient Hyper-parameter Tuning at Scale", VLDB 2022).

Three parts, each a change to ``MOBSTER`` (``hpo.schedulers.bo``):

* **Ensemble surrogate.** One GP per rung level ``r``, on the configurations only, fitted to the
  results at exactly that level (Matérn-5/2 ARD of ``hpo.surrogates.gp``, its own milestone
  hyperparameter schedule, outputs z-scored per level so that levels are on one scale). New
  configurations maximize qLogNEI of the weighted sum ``sum_r theta_r f_r(x)`` of the level GPs
  (``hpo.surrogates.gp.propose_model_list`` with ``weights``), with pending trials fantasized
  jointly as for ``bo``. The paper combines its per-fidelity surrogates by a generalized product
  of experts; a weighted sum of independent GPs is itself a GP, so BoTorch's joint sampling,
  fantasies and incumbent handling apply unchanged.
* **Weights theta from ranking losses** (the paper's section 4.2, as RGPE, Feurer et al. 2018).
  The reference level is the highest one with at least ``MIN_POINTS`` results (the data the
  ensemble is judged on; as Syne Tune, which does not wait for the maximum level to fill). For
  each lower level, ``num_samples`` joint posterior samples of its GP at the reference
  configurations; for the reference level itself, samples from a k-fold cross-validation of its
  own GP (k = min(5, n // 2), fixed hyperparameters), so it is not judged on its training data.
  A sample's ranking loss counts the ordered pairs ``(j, k)`` with
  ``(f_j < f_k) xor (y_j < y_k)``; ``theta_r`` is the fraction of samples in which level ``r``
  has the smallest loss (ties credit every tied level). Levels with theta below 1% are dropped
  from the ensemble. Until a level above the lowest has ``MIN_POINTS`` results, the ensemble is
  the lowest level with data alone.
* **Bracket distribution** (section 4.1): bracket ``b`` starts at level ``r_b``; once theta is
  known, the brackets whose base level is at most the reference level are drawn with probability
  proportional to ``theta_{r_b} / r_b`` (how well the level ranks per unit of resource spent
  there, as in Syne Tune's implementation), scaled to the probability mass that asynchronous
  Hyperband's default distribution gives those brackets; the others keep the default.
* **Delayed promotion** (D-ASHA, section 4.3): ASHA promotes any not-yet-promoted result in the
  top ``floor(n / eta)`` of a rung, so when the ranking changes over time more than ``n / eta``
  results leave a rung. D-ASHA promotes only while fewer than ``floor(n / eta)`` results of the
  rung have been promoted, so every rung keeps successive halving's ratio at all times.

Everything stays a function of the stored history: theta is recomputed from the history at each
decision (seeded by the number of observations), and a trial's bracket is stored with it.
Written here because no library has Hyper-Tune on BoTorch: Syne Tune's version runs on its own GP
code and scheduler.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hpo.schedulers.asha import ASHA
from hpo.schedulers.base import (
    RungIndex,
    Searcher,
    check_eta,
    fidelity_is_integral,
    fidelity_range,
    rung_levels,
)
from hpo.schedulers.bo import (
    GP_LEGACY,
    GP_PINNED,
    GPSearcher,
    Observation,
    _check_choice,
    _check_int,
    _prefix_keys,
)

from hpo.errors import InvalidStudy
from hpo.history import History
from hpo.model import Study, Trial
from hpo.space import Config

MODELS = ("ensemble", "joint")  # where new configurations come from (see HyperTune)
MIN_POINTS = 6  # results a level needs before it serves as the reference of ranking losses
MIN_THETA = 0.01  # ensemble members below this weight are dropped
MAX_FOLDS = 5
LEVEL_GROWTH = 1.5  # milestone growth of each level's hyperparameter schedule


def ranking_losses(samples: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Ranking loss of each row of ``samples`` (``S x n`` predictions) against ``y`` (``n``).

    Counts ordered pairs ``(j, k)`` with ``(f_j < f_k) xor (y_j < y_k)`` (Li et al. 2022, eq. 5);
    predictions and targets must point the same way (both lower-is-better or both higher).
    """
    f = np.asarray(samples, dtype=float)
    y = np.asarray(y, dtype=float)
    below_f = f[:, :, None] < f[:, None, :]
    below_y = (y[:, None] < y[None, :])[None]
    return np.sum(below_f ^ below_y, axis=(1, 2)).astype(float)


def theta_from_losses(losses: np.ndarray) -> np.ndarray:
    """Fraction of samples (columns) in which each model (row) has the smallest loss."""
    wins = np.sum(losses == losses.min(axis=0, keepdims=True), axis=1).astype(float)
    return wins / wins.sum()


@dataclass
class Ensemble:
    """The state one decision uses: level GPs, their weights, and the reference level."""

    key: tuple[int, int]  # History.reports_key
    observations: list[Observation]  # the history's results, in arrival order
    models: dict[float, Any]  # level -> GPSurrogate (inputs: FeatureMap with z = 1)
    theta: dict[float, float]  # level -> weight, summing to 1
    reference: float | None  # level the ranking losses were computed on (None: not yet)


class HyperTuneSearcher(GPSearcher):
    """Proposals from Hyper-Tune's ensemble of per-level GPs (see the module docstring)."""

    def __init__(
        self,
        study: Study,
        *,
        levels: Sequence[float],
        fidelity_range: tuple[float, float],
        num_samples: int = 50,
        **kwargs: Any,
    ):
        super().__init__(
            study, multi_fidelity=True, levels=levels, fidelity_range=fidelity_range, **kwargs
        )
        if len(study.objectives) > 1 or self.constraints:
            raise InvalidStudy(
                "hypertune models one objective without constraints; use mobster for several "
                "objectives or constraints"
            )
        self.level_list = sorted({float(x) for x in levels})
        self.num_samples = _check_int("num_samples", num_samples, 1)
        self._level_schedules: dict[float, Any] = {}
        self._state: Ensemble | None = None

    # ---- the ensemble ------------------------------------------------------------------------
    def ensemble(self, history: History) -> Ensemble | None:
        """Level GPs and weights for ``history``; None while proposals are still random."""
        key = history.reports_key
        if self._state is not None and self._state.key == key:
            return self._state
        obs = self.observations(history)
        if len({o.trial for o in obs}) < self.n_initial:
            return None
        from hpo.surrogates import gp

        features = gp.FeatureMap(self.space, self.fidelity_range)
        cat = sorted(features.cat_dims)

        def factory() -> Any:
            return gp.GPSurrogate(
                cat_dims=cat,
                noise_floor=self.noise_floor,
                lengthscale_prior=self.lengthscale_prior,
                noise_prior=self.noise_prior,
            )

        by_level: dict[float, list[Observation]] = {r: [] for r in self.level_list}
        for o in obs:
            if o.fidelity in by_level:
                by_level[o.fidelity].append(o)
        models = {
            r: self._level_model(i, r, by_level[r], features, factory)
            for i, r in enumerate(self.level_list)
            if len(by_level[r]) >= 2
        }
        if not models:  # results only between levels (a trial's latest): use the lowest rung's
            return None
        rng = np.random.default_rng([self.seed, 4099, len(obs)])
        theta, reference = self._theta(models, by_level, features, factory, rng)
        self._state = Ensemble(key, obs, models, theta, reference)
        return self._state

    def _level_data(self, obs_r: Sequence[Observation], features: Any) -> tuple[Any, Any]:
        from hpo.surrogates.gp import subsample

        idx = subsample(
            len(obs_r),
            [True] * len(obs_r),
            [o.fidelity for o in obs_r],
            [o.score for o in obs_r],
            [o.order for o in obs_r],
            self.max_points,
        )
        sel = [obs_r[i] for i in idx]
        return features.encode([o.config for o in sel]), self._targets(sel)

    def _level_model(
        self, i: int, r: float, obs_r: Sequence[Observation], features: Any, factory: Any
    ) -> Any:
        """The GP of level ``r``: its own milestone hyperparameters, outputs z-scored."""
        from hpo.surrogates import gp

        sched = self._level_schedules.get(r)
        if sched is None:
            # from 3 results on, so a level with few results is not refitted from scratch at
            # every decision; a coarser growth than the joint GP's, as there is one chain per level
            sched = self._level_schedules[r] = gp.HyperparameterSchedule(
                first=3, growth=max(self.refit_growth, LEVEL_GROWTH)
            )
        seed = self.seed + 104729 * (i + 1)
        hp = sched.for_size(
            len(obs_r),
            lambda m: self._level_data(obs_r[:m], features),
            factory,
            seed,
            prefix_keys=_prefix_keys(obs_r),
        )
        X, y = self._level_data(obs_r, features)
        y = _zscore(y)
        import torch

        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return factory().fit(X, y, warm_start=hp, optimize=hp is None)

    def _theta(
        self,
        models: dict[float, Any],
        by_level: dict[float, list[Observation]],
        features: Any,
        factory: Any,
        rng: np.random.Generator,
    ) -> tuple[dict[float, float], float | None]:
        supported = [r for r in models if len(by_level[r]) >= MIN_POINTS]
        lowest = min(models)
        if not supported or max(supported) == lowest:
            return {lowest: 1.0}, None
        ref = max(supported)
        lower = [r for r in sorted(models) if r < ref]
        X_ref, y_ref = self._level_data(by_level[ref], features)  # y: minus the scores
        scores = -y_ref
        losses = np.empty((len(lower) + 1, self.num_samples))
        for i, r in enumerate(lower):
            samples = _samples(models[r], X_ref, self.num_samples, int(rng.integers(2**31 - 1)))
            losses[i] = ranking_losses(samples, scores)
        losses[-1] = ranking_losses(
            self._cv_samples(models[ref], X_ref, y_ref, factory, rng), scores
        )
        theta = theta_from_losses(losses)
        return {r: float(t) for r, t in zip([*lower, ref], theta, strict=True)}, ref

    def _cv_samples(
        self, model: Any, X: np.ndarray, y: np.ndarray, factory: Any, rng: np.random.Generator
    ) -> np.ndarray:
        """Held-out posterior samples of the reference level's GP: k-fold, fixed hyperparameters."""
        n = len(y)
        k = min(MAX_FOLDS, n // 2)
        folds = np.array_split(rng.permutation(n), k)
        hp = model.hyperparameters()
        out = np.empty((self.num_samples, n))
        for test in folds:
            train = np.setdiff1d(np.arange(n), test)
            held = factory().fit(X[train], _zscore(y[train]), warm_start=hp, optimize=False)
            out[:, test] = _samples(held, X[test], self.num_samples, int(rng.integers(2**31 - 1)))
        return out

    def bracket_distribution(
        self, history: History, bases: Sequence[float], default: np.ndarray
    ) -> np.ndarray:
        """Probabilities of brackets starting at levels ``bases`` (see the module docstring)."""
        state = self.ensemble(history)
        if state is None or state.reference is None:
            return default
        head = [b for b, r in enumerate(bases) if r <= state.reference + 1e-12]
        w = np.array([state.theta.get(bases[b], 0.0) / bases[b] for b in head])
        if w.sum() <= 0:
            return default
        p = default.copy()
        p[head] = default[head].sum() * w / w.sum()
        return p / p.sum()

    # ---- proposals -----------------------------------------------------------------------------
    def propose(self, history: History, pending: Sequence[Trial], n: int = 1) -> list[Config]:
        state = self.ensemble(history)
        if state is None:
            return self._random.propose(history, pending, n)
        from hpo.surrogates import gp

        features = gp.FeatureMap(self.space, self.fidelity_range)
        members = [r for r in sorted(state.theta) if state.theta[r] >= MIN_THETA]
        weights = np.array([state.theta[r] for r in members])
        weights = weights / weights.sum()
        surrogates = [state.models[r] for r in members]
        train = self._select(state.observations)
        self.last_training_size = sum(len(m.model.train_targets) for m in surrogates)
        baseline = self._baseline(features, train)
        cost_model = self._cost_model(features, history) if self.cost_aware else None

        def acquire(X_pending: np.ndarray, seed: int) -> np.ndarray:
            return gp.propose_model_list(
                surrogates,
                features,
                baseline,
                X_pending,
                n_objectives=1,
                weights=weights.tolist(),
                seed=seed,
                cost_model=cost_model,
            )

        return self._propose_with(acquire, features, history, pending, n, self.fraction(history))


def _zscore(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    sd = float(y.std())
    return (y - y.mean()) / (sd if sd > 0 else 1.0)


def _samples(surrogate: Any, X: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n x len(X)`` joint posterior samples of the latent function (lower-is-better scores)."""
    import torch

    Xt = torch.as_tensor(np.asarray(X, dtype=float), dtype=torch.float64)
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        post = surrogate.model.posterior(Xt)
        draws = post.rsample(torch.Size([n])).squeeze(-1).numpy()
    return -draws  # the GPs model -score


class HyperTune(ASHA):
    """Hyper-Tune (``"hypertune"``): see the module docstring.

    Params: ``eta``, ``min_fidelity``, ``max_fidelity`` as for ``asha``; ``brackets`` (default:
    all that ``eta`` allows between the fidelities); ``delayed`` (D-ASHA promotions, default
    true); ``skip_repeats`` as for ``asha`` (default false: a result whose curve up to a rung
    repeats an earlier one's exactly is left out of the rung, so it is neither counted, nor
    ranked, nor promoted); ``n_initial``, ``max_points``, ``cost_aware`` as for ``mobster``;
    ``random_fraction``, ``output_warping``, ``noise_floor``, ``lengthscale_prior``,
    ``best_so_far``, ``initial_design`` and ``noise_prior`` as for ``bo`` (default 0, false,
    1e-4, ``"dim_scaled"``, false, ``"sobol"`` and ``"lognormal"``; Sobol' since the seventeenth
    session: 10 seeds on charlm-gpt reached Optuna GP's final 2.37x sooner than it, against 1.40x
    with uniform draws, docs/benchmarks.md);
    ``num_samples`` (posterior samples per level for the ranking losses, default 50);
    ``model`` (``"ensemble"``, the default: proposals from the weighted ensemble of per-level GPs,
    as the paper; ``"joint"``: from MOBSTER's one GP over (configuration, fidelity), while the
    ensemble still learns the bracket distribution); ``seed``. Trials pause at their rungs and
    resume when promoted (ASHA's promotion variant).
    """

    name = "hypertune"
    pinned = GP_PINNED
    legacy = GP_LEGACY

    def __init__(
        self,
        study: Study,
        *,
        eta: float = 3,
        min_fidelity: float | None = None,
        max_fidelity: float | None = None,
        brackets: int | str | None = None,
        delayed: bool = True,
        skip_repeats: bool = False,
        n_initial: int | None = None,
        max_points: int = 500,
        cost_aware: bool = False,
        num_samples: int = 50,
        random_fraction: float | str = 0.0,
        output_warping: bool = False,
        noise_floor: float | None = None,
        lengthscale_prior: str = "dim_scaled",
        best_so_far: bool = False,
        initial_design: str = "sobol",
        noise_prior: str = "lognormal",
        model: str = "ensemble",
        seed: int = 0,
        searcher: Searcher | None = None,
        points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
    ):
        _check_choice("model", model, MODELS)
        if brackets == "adaptive":
            raise InvalidStudy(
                "hypertune learns its own bracket distribution; brackets 'adaptive' is for asha "
                "and mobster"
            )
        if brackets is None:
            r_min, r_max = fidelity_range(study, min_fidelity, max_fidelity)
            brackets = len(rung_levels(r_min, r_max, check_eta(eta), fidelity_is_integral(study)))
        if not isinstance(delayed, bool):
            raise InvalidStudy(f"hypertune delayed must be true or false, got {delayed!r}")
        super().__init__(
            study,
            eta=eta,
            min_fidelity=min_fidelity,
            max_fidelity=max_fidelity,
            variant="promotion",
            brackets=brackets,
            skip_repeats=skip_repeats,
            seed=seed,
            searcher=searcher,
            points_to_evaluate=points_to_evaluate,
        )
        self.delayed = delayed
        self.model = model
        levels = sorted({x for rungs in self.rungs for x in rungs})
        common: dict[str, Any] = {
            "levels": levels,
            "fidelity_range": (self.r_min, self.r_max),
            "seed": self.seed,
            "n_initial": n_initial,
            "max_points": max_points,
            "cost_aware": cost_aware,
            "random_fraction": random_fraction,
            "output_warping": output_warping,
            "noise_floor": noise_floor,
            "lengthscale_prior": lengthscale_prior,
            "best_so_far": best_so_far,
            "initial_design": initial_design,
            "noise_prior": noise_prior,
        }
        self.ensemble_searcher = HyperTuneSearcher(study, num_samples=num_samples, **common)
        # what proposes new configurations unless a searcher is given; while it does, brackets
        # come from the ensemble's learned distribution
        self._proposer = (
            GPSearcher(study, multi_fidelity=True, **common)
            if model == "joint"
            else self.ensemble_searcher
        )
        if searcher is None:
            self.searcher = self._proposer

    def _may_promote(self, history: History, rung: RungIndex, n_top: int) -> bool:
        if not self.delayed:
            return True
        promoted = sum(self._promoted(history.trial(tid), rung.level) for _, _, tid in rung.entries)
        return promoted < n_top

    def _draw_bracket(self, history: History) -> int:
        if len(self.rungs) == 1:
            return 0
        p = self._bracket_p
        if self.searcher is self._proposer:
            bases = [levels[0] for levels in self.rungs]
            p = self.ensemble_searcher.bracket_distribution(history, bases, self._bracket_p)
        rng = np.random.default_rng([self.seed, 7919, history.n_trials])
        return int(rng.choice(len(self.rungs), p=p))


__all__ = ["HyperTune", "HyperTuneSearcher", "ranking_losses", "theta_from_losses"]
