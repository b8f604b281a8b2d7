"""Ray Tune's own ASHA, HyperBand and BOHB on our benchmarks, by time-scaled replay.

Ray Tune has no simulated backend, so this adapter replays a benchmark in real time, scaled
down: a function trainable sleeps ``bb.cost(config, epoch) * time_scale`` real seconds per
epoch and then reports ``{"loss": bb.value(config, epoch), "epoch": epoch}`` with a checkpoint
(HyperBand's PAUSE stops a trial and resumes it later from that checkpoint, after the
checkpointed epoch). Ray Tune's own schedulers and searchers decide:

* ``asha``: ``AsyncHyperBandScheduler`` (Li et al. 2020; grace_period=1, max_t=max_epochs,
  reduction_factor=3, time_attr="epoch") with Tune's seeded random search.
* ``hyperband``: ``HyperBandScheduler`` (Li et al. 2018; max_t=max_epochs, reduction_factor=3,
  time_attr="epoch") with Tune's seeded random search.
* ``bohb``: ``HyperBandForBOHB`` with ``TuneBOHB`` (Falkner et al. 2018; hpbandster's KDE
  model over a ConfigSpace space, seeded; same max_t and reduction_factor).

``workers`` trials run at once: a private Ray instance (``ray.init(address="local",
num_cpus=workers)``) with one CPU per trial; finished trials hand their actor to the next
(``reuse_actors``). The run ends when Tune's ``time_budget_s = limit_s * time_scale`` runs out.
Each report's simulated time is the real time since the tuner's start, taken inside the
trainable after the epoch's sleep, divided by ``time_scale``; reports after ``limit_s`` are
dropped, as the discrete-event simulations of benchmarks/compare.py drop them. Ray's results go
to a temporary directory, deleted afterwards; Tune's per-report CSV/JSON/TensorBoard files are
switched off.

Caveat: Ray's own costs are counted on the simulated clock, scaled up by ``1 / time_scale``
(480 at the default). Creating the first actors, starting or resuming a trial and handing each
result to the driver take real time that no epoch accounts for. :class:`ReplayRun` measures
them per run. With the default scale on branin-mf, 4 workers and 8 simulated hours, on a
2-core machine under a load of 4-8 (2 runs of 3 seeds per method), in simulated seconds:

* cold start, until the first ``workers`` trials begin their first epoch: 1,400-4,200 s
  (3-9 real s), 5-15% of the budget, before any trial has reported;
* per later trial start or resume (upper bound, see :attr:`ReplayRun.overhead_per_start_s`):
  ASHA 11-120 s, HyperBand 11-12 s, BOHB 60-450 s (TuneBOHB fits its KDEs in the driver);
* per report, beyond the epoch's 60 s: 4-22 s (9-47 real ms);
* workers' time that replayed no epoch: ASHA 18-48%, HyperBand 14-19%, BOHB 32-70%.

So Ray Tune's methods get less search done in the same simulated budget than methods on an
exact simulated clock; compare them at equal budgets with that in mind. A larger
``time_scale`` (``HPO_RAYTUNE_TIME_SCALE``) shrinks these costs in proportion and makes the run
longer. The default suits budgets of hours: for the tabular benchmarks' budgets of minutes, set
it so that ``limit_s * time_scale`` is about a minute (0.5 for digits-mlp at 0.03 hours).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.peers import MethodUnavailable

logger = logging.getLogger(__name__)

METHODS = ("asha", "hyperband", "bohb")
REDUCTION_FACTOR = 3
#: Real seconds per simulated second: an 8-hour simulated budget takes 60 real seconds.
TIME_SCALE = 60.0 / (8 * 3600)
TIME_SCALE_ENV = "HPO_RAYTUNE_TIME_SCALE"
#: The least real time :func:`run` gives a search: Ray's cold start alone takes 3-9 real seconds
#: on a 2-core machine, so a shorter run reports little or nothing and would be recorded as a
#: search that found nothing.
MIN_REAL_S = 10.0
_CHECKPOINT_FILE = "epoch.json"


def time_scale() -> float:
    """The real seconds per simulated second: ``$HPO_RAYTUNE_TIME_SCALE`` or :data:`TIME_SCALE`."""
    raw = os.environ.get(TIME_SCALE_ENV)
    if not raw:
        return TIME_SCALE
    try:
        scale = float(raw)
    except ValueError:
        scale = math.nan
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"{TIME_SCALE_ENV} must be a positive number, got {raw!r}")
    return scale


class ReplayError(RuntimeError):
    """A trial of the replay failed inside Ray (its error is the cause)."""


@dataclass(frozen=True)
class Report:
    """One epoch reported by a trial. Times are simulated seconds since the tuner's start."""

    trial_id: str
    config: dict[str, Any]
    epoch: int
    value: float
    cost: float  # the epoch's simulated cost (bb.cost)
    time: float
    segment_start: float  # when this run of the trainable began (a start or a resume)
    first_epoch: int  # the first epoch this run of the trainable replays


@dataclass
class ReplayRun:
    """The outcome of one replayed search, with Ray's overhead on the simulated clock."""

    method: str
    workers: int
    limit_s: float
    time_scale: float
    elapsed_real_s: float
    reports: list[Report] = field(default_factory=list)  # all, including any after limit_s

    @property
    def events(self) -> list[tuple[float, dict[str, Any], float]]:
        """(simulated seconds, config, reported value) of each report within the limit."""
        return [(r.time, r.config, r.value) for r in self.reports if r.time <= self.limit_s]

    @property
    def segments(self) -> int:
        """Runs of the trainable that reported at least once: trial starts plus resumes."""
        return len({(r.trial_id, r.first_epoch) for r in self.reports})

    @property
    def trials(self) -> int:
        return len({r.trial_id for r in self.reports})

    @property
    def idle_fraction(self) -> float:
        """Share of the workers' simulated time within the limit that replayed no epoch."""
        busy = sum(r.cost for r in self.reports if r.time <= self.limit_s)
        return 1.0 - busy / (self.workers * self.limit_s)

    @property
    def overhead_per_report_s(self) -> float:
        """Mean simulated seconds between two reports of one run of the trainable beyond the
        later epoch's cost: handing the result over, persisting the checkpoint, scheduling."""
        gaps = self._report_gaps(self.reports)
        return sum(gaps) / len(gaps) if gaps else math.nan

    @property
    def startup_s(self) -> float:
        """Mean simulated seconds from the tuner's start until each of the first ``workers``
        trials began its first epoch: Ray's cold start (actors, imports, the first searches)."""
        firsts = sorted({(r.segment_start, r.trial_id, r.first_epoch) for r in self.reports})
        firsts = firsts[: self.workers]
        return sum(f[0] for f in firsts) / len(firsts) if firsts else math.nan

    @property
    def overhead_per_start_s(self) -> float:
        """Simulated worker-seconds lost per trial start or resume after the cold start: the
        workers' time from :attr:`startup_s` to the limit, less the reported epochs' costs and
        the per-report gaps, over the later starts. An upper bound on the start cost: it also
        holds slots a synchronous scheduler leaves idle and the epochs cut off by the limit
        (at most one per worker)."""
        inside = [r for r in self.reports if r.time <= self.limit_s]
        starts = len({(r.trial_id, r.first_epoch) for r in inside}) - self.workers
        if starts <= 0:
            return math.nan
        busy = sum(r.cost for r in inside) + sum(self._report_gaps(inside))
        return (self.workers * (self.limit_s - self.startup_s) - busy) / starts

    @staticmethod
    def _report_gaps(reports: list[Report]) -> list[float]:
        by_segment: dict[tuple[str, int], list[Report]] = {}
        for r in reports:
            by_segment.setdefault((r.trial_id, r.first_epoch), []).append(r)
        gaps = []
        for seg in by_segment.values():
            seg.sort(key=lambda r: r.epoch)
            gaps += [b.time - a.time - b.cost for a, b in zip(seg, seg[1:], strict=False)]
        return gaps


def tune_space(space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Our parameters as Ray Tune domains (Tune's integer bounds exclude ``high``)."""
    from ray import tune

    out: dict[str, Any] = {}
    for name, p in space.items():
        log = bool(p.get("log", False))
        if p["type"] == "float":
            lo, hi = float(p["low"]), float(p["high"])
            out[name] = tune.loguniform(lo, hi) if log else tune.uniform(lo, hi)
        elif p["type"] == "int":
            lo, hi = int(p["low"]), int(p["high"]) + 1
            out[name] = tune.lograndint(lo, hi) if log else tune.randint(lo, hi)
        else:
            raise ValueError(f"parameter {name!r}: type {p['type']!r} is not float or int")
    return out


def our_config(space: Mapping[str, Mapping[str, Any]], config: Mapping[str, Any]) -> dict:
    """A Tune config (numpy scalars from ConfigSpace included) in our names and types."""
    return {
        name: int(round(float(config[name]))) if p["type"] == "int" else float(config[name])
        for name, p in space.items()
    }


def replay_trainable(config: dict, *, bb: Any, start: float, scale: float) -> None:
    """Ray Tune function trainable: replays ``bb``'s epochs for ``config`` in scaled real time.

    Resumes after the epoch in its checkpoint. Each report carries ``sim_time`` (simulated
    seconds since ``start``, a ``time.time()`` stamp) and the run's start and first epoch.
    """
    from ray import tune

    entered = (time.time() - start) / scale
    cfg = our_config(bb.space, config)
    checkpoint = tune.get_checkpoint()
    first = 1
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            first = json.loads((Path(d) / _CHECKPOINT_FILE).read_text())["epoch"] + 1
    for epoch in range(first, bb.max_epochs + 1):
        cost = bb.cost(cfg, epoch)
        time.sleep(cost * scale)
        now = (time.time() - start) / scale
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / _CHECKPOINT_FILE).write_text(json.dumps({"epoch": epoch}))
            tune.report(
                {
                    "loss": bb.value(cfg, epoch),
                    "epoch": epoch,
                    "cost": cost,
                    "sim_time": now,
                    "segment_start": entered,
                    "first_epoch": first,
                },
                checkpoint=tune.Checkpoint.from_directory(d),
            )


class _TrialDirOnAdd:
    """Scheduler mixin: gives each trial its directory as soon as Tune adds it.

    Works around Ray Tune 2.60 with ``reuse_actors``: when an actor is freed, the controller may
    hand it to a PENDING trial that never went through ``_schedule_trial_actor`` (step 3 of
    ``TuneController._maybe_add_actors``), so that trial has no ``trial_dir_name`` yet; its
    ``reset`` fails ("Cannot access `trial_working_directory` without setting
    `trial_dir_name`"), handling that error fails the same way, and ``Tuner.fit`` aborts with a
    TuneError. ``init_local_path`` is what ``_schedule_trial_actor`` calls first; it is
    idempotent.
    """

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        trial.init_local_path()
        super().on_trial_add(tune_controller, trial)  # type: ignore[misc]


def _with_trial_dirs(scheduler_cls: type) -> type:
    return type(scheduler_cls.__name__, (_TrialDirOnAdd, scheduler_cls), {})


def _scheduler_and_searcher(method: str, bb: Any, seed: int, workers: int) -> tuple[Any, Any]:
    """Ray Tune's scheduler and search algorithm for ``method``, seeded.

    Concurrency: ASHA's random search is limited to ``workers`` live trials (what
    ``max_concurrent_trials`` does for Tune's default searcher). HyperBand's is not: Tune counts
    paused trials as live, so a limit of ``workers`` would stop filling a bracket once
    ``workers`` trials wait at a rung, and HyperBand would then halve an unfilled bracket. The
    ``workers`` CPUs bound the running trials instead. TuneBOHB's own limit counts running
    trials only (paused ones free their slot), and ``max_concurrent_trials`` hands it over.
    """
    from ray.tune import schedulers
    from ray.tune.search.basic_variant import BasicVariantGenerator

    AsyncHyperBandScheduler = _with_trial_dirs(schedulers.AsyncHyperBandScheduler)
    HyperBandScheduler = _with_trial_dirs(schedulers.HyperBandScheduler)
    HyperBandForBOHB = _with_trial_dirs(schedulers.HyperBandForBOHB)

    if method == "asha":
        scheduler = AsyncHyperBandScheduler(
            time_attr="epoch",
            grace_period=1,
            max_t=bb.max_epochs,
            reduction_factor=REDUCTION_FACTOR,
        )
        return scheduler, BasicVariantGenerator(random_state=seed, max_concurrent=workers)
    if method == "hyperband":
        scheduler = HyperBandScheduler(
            time_attr="epoch", max_t=bb.max_epochs, reduction_factor=REDUCTION_FACTOR
        )
        return scheduler, BasicVariantGenerator(random_state=seed)
    if method == "bohb":
        from ray.tune.search.bohb import TuneBOHB

        scheduler = HyperBandForBOHB(
            time_attr="epoch", max_t=bb.max_epochs, reduction_factor=REDUCTION_FACTOR
        )
        return scheduler, TuneBOHB(seed=seed)
    raise ValueError(f"unknown Ray Tune method {method!r}; expected one of {METHODS}")


@contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    log = logging.getLogger(name)
    old = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(old)


def replay(
    bb: Any,
    method: str,
    seed: int,
    workers: int,
    limit_s: float,
    scale: float | None = None,
    reuse_actors: bool = True,
) -> ReplayRun:
    """One search by Ray Tune's ``method`` on ``bb``, replayed at ``scale`` real seconds per
    simulated second (default :func:`time_scale`), on a private Ray instance.

    ``reuse_actors``: a new or resumed trial runs in a finished trial's actor, as Tune allows
    for function trainables; starting an actor per trial instead costs about a second of real
    time per start on a 2-core machine (the module docstring's caveat)."""
    import numpy as np
    import ray
    from ray import tune

    if method not in METHODS:
        raise ValueError(f"unknown Ray Tune method {method!r}; expected one of {METHODS}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if ray.is_initialized():
        raise RuntimeError(
            "Ray is already initialized in this process; the Ray Tune replay starts and shuts"
            " down its own instance with num_cpus=workers. Call ray.shutdown() first."
        )
    scale = time_scale() if scale is None else scale
    random.seed(seed)
    np.random.seed(seed)  # hpbandster's BOHB draws from numpy's global generator
    scheduler, searcher = _scheduler_and_searcher(method, bb, seed, workers)
    reports: list[Report] = []

    class Collect(tune.Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            reports.append(
                Report(
                    trial_id=trial.trial_id,
                    config=our_config(bb.space, trial.config),
                    epoch=int(result["epoch"]),
                    value=float(result["loss"]),
                    cost=float(result["cost"]),
                    time=float(result["sim_time"]),
                    segment_start=float(result["segment_start"]),
                    first_epoch=int(result["first_epoch"]),
                )
            )

    tmp = Path(tempfile.mkdtemp(prefix="hpo-raytune-"))
    # Tune's CSV/JSON/TensorBoard loggers write files on every report; nobody reads them here.
    with (
        _env(
            TUNE_DISABLE_AUTO_CALLBACK_LOGGERS="1",
            TUNE_MAX_PENDING_TRIALS_PG=str(workers),
            RAY_AIR_NEW_OUTPUT="0",
        ),
        _quiet("ray"),
        warnings.catch_warnings(),
    ):
        # pandas' FutureWarning about numpy's global RNG, raised inside hpbandster's KDE, and
        # hpbandster's use of ConfigSpace's deprecated accessors
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="hpbandster")
        try:
            ray.init(
                address="local",
                num_cpus=workers,
                num_gpus=0,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.ERROR,
                _temp_dir=str(tmp / "ray"),
            )
            start = time.time()
            tuner = tune.Tuner(
                tune.with_resources(
                    tune.with_parameters(replay_trainable, bb=bb, start=start, scale=scale),
                    {"cpu": 1},
                ),
                param_space=tune_space(bb.space),
                tune_config=tune.TuneConfig(
                    metric="loss",
                    mode="min",
                    scheduler=scheduler,
                    search_alg=searcher,
                    num_samples=-1,
                    # only TuneBOHB is a Searcher; Tune ignores the limit (with a warning)
                    # for the random searches, which carry their own (see above)
                    max_concurrent_trials=workers if method == "bohb" else None,
                    time_budget_s=limit_s * scale,
                    reuse_actors=reuse_actors,
                ),
                run_config=tune.RunConfig(
                    name="replay",
                    storage_path=str(tmp / "results"),
                    verbose=0,
                    callbacks=[Collect()],
                ),
            )
            results = tuner.fit()
            elapsed = time.time() - start
            if results.errors:
                raise ReplayError(
                    f"{len(results.errors)} Ray Tune trial(s) of {method} failed; the first:"
                    f" {results.errors[0]!r}"
                ) from results.errors[0]
        finally:
            ray.shutdown()
            shutil.rmtree(tmp, ignore_errors=True)
    return ReplayRun(method, workers, limit_s, scale, elapsed, reports)


def run(
    bb: Any, method: str, seed: int, workers: int, limit_s: float
) -> list[tuple[float, dict, float]]:
    """Events (simulated seconds, config, reported value) of one Ray Tune search, one per
    reported epoch within ``limit_s`` (see the module docstring). :class:`MethodUnavailable`
    when ``limit_s`` at the time scale is less than :data:`MIN_REAL_S` real seconds."""
    scale = time_scale()
    if limit_s * scale < MIN_REAL_S:
        raise MethodUnavailable(
            f"Ray Tune's replay would get {limit_s * scale:.2g} real seconds for {limit_s:g}"
            f" simulated, less than Ray's start-up; set {TIME_SCALE_ENV} to about"
            f" {60.0 / limit_s:.2g} (a minute of real time for the budget)"
        )
    result = replay(bb, method, seed, workers, limit_s, scale)
    logger.info(
        "raytune-%s seed %d: %d trials, %d starts, %.1f real s; simulated overhead: %.0f s"
        " cold start, %.1f s per later start, %.2f s per report; idle %.1f%%",
        method,
        seed,
        result.trials,
        result.segments,
        result.elapsed_real_s,
        result.startup_s,
        result.overhead_per_start_s,
        result.overhead_per_report_s,
        100 * result.idle_fraction,
    )
    return result.events
