"""Syne Tune's own schedulers on Syne Tune's own simulator backend, over our benchmarks.

``run(bb, method, seed, workers, limit_s)`` wraps a benchmark (benchmarks/synthetic.py or
benchmarks/tabular) as a Syne Tune :class:`Blackbox` whose learning curve has the fidelities
1..``bb.max_epochs`` and, as ``elapsed_time``, the cumulative cost ``bb.cost(config, 1..e)``;
simulates it with ``UserBlackboxBackend`` + ``SimulatorCallback`` and a ``Tuner`` with
``n_workers=workers`` and ``StoppingCriterion(max_wallclock_time=limit_s)``; and returns one event
``(simulated_seconds, config, value)`` per epoch that a trial reported to the scheduler, in our
parameter names and types, with the simulated time stamp Syne Tune gave that report.

Methods (``syne_tune`` 0.16.0; our settings: min resource 1 epoch, max resource
``bb.max_epochs``, reduction factor 3, minimize, ``random_seed=seed``):

* ``asha``: ``baselines.ASHA``, asynchronous successive halving with one bracket (Li et al.
  2020). In 0.16.0 it is the stopping variant, ported from Ray Tune: a trial that is not in the
  top 1/3 of its rung is stopped, one that is runs on; there is no pause and resume.
* ``hyperband``: ``AsynchronousSuccessiveHalving`` with ``brackets = s_max + 1`` (one per
  Hyperband bracket, s_max = floor(log_3(max_epochs))) and random search: Syne Tune's
  asynchronous Hyperband. Each new trial draws its bracket with probability proportional to
  exp(number of rungs), so most trials go to the most aggressive bracket. Syne Tune 0.15.0
  removed its ``HyperbandScheduler`` and the synchronous Hyperband, so nothing closer is left.
* ``bohb``: ``baselines.BOHB``, ASHA (one bracket) whose searcher fits the kernel density
  estimators of Falkner et al. 2018 on the last value of every trial.
* ``mobster``, ``dehb``: not in Syne Tune 0.16.0; :class:`MethodUnavailable` says why.

The clock. By default (``clock="events"``) the simulation is exact and reproducible: the
simulator's delays (start, report, stop) are 0, the tuner's clock jumps to the next simulated
event when all workers are busy, and the real time the tuner and scheduler spend is not added to
simulated time, as in our simulator and compare.run_optuna. ``clock="syne-tune"`` keeps Syne
Tune's defaults instead: 0.05 s per start, report and stop, the clock advanced in steps of 5 s
while all workers are busy (so a freed worker waits up to 5 s), and the real decision time
counted; its runs then depend on the machine's speed. In both, Syne Tune's backend makes every
report at least 0.01 s after the previous one of the trial, and each stop decision moves its
clock on by 2 ms.

Experiment files go under a temporary directory that is deleted afterwards; Syne Tune's logging
is set to WARNING and the tuner's printing is swallowed. Nothing is downloaded: the blackbox
repository's loaders are never called; where the optional ``huggingface_hub`` (which
``syne_tune.blackbox_repository`` imports for its downloads) is not installed, a placeholder that
refuses to download stands in for that import.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import types
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

METHODS = ("asha", "hyperband", "mobster", "bohb", "dehb")
METRIC = "loss"
FIDELITY = "epoch"
ELAPSED = "elapsed_time"
REDUCTION_FACTOR = 3
SIMULATOR_LOGGER = "syne_tune.backend.simulator_backend.simulator_backend"
LAST_VALUE_SEARCHER_LOGGER = (
    "syne_tune.optimizer.schedulers.searchers.last_value_multi_fidelity_searcher"
)
_FOREVER_S = 1e9  # real seconds: Syne Tune's periodic saving and printing never comes due


from benchmarks.peers import MethodUnavailable  # noqa: E402 - re-exported for the tests

_UNAVAILABLE = {
    "mobster": (
        "MOBSTER is not in syne-tune {version}: v0.15.0 removed HyperbandScheduler together "
        "with its Gaussian-process searchers (syne-tune PR #971, 'refactor: remove legacy "
        "code'), and syne_tune.optimizer.baselines now has no multi-fidelity GP method (its "
        "multi-fidelity schedulers are ASHA, BOHB, ASHABORE and ASHACQR). It needs "
        "syne-tune<0.15 (e.g. 0.13.0)."
    ),
    "dehb": (
        "DEHB is not in syne-tune {version}: v0.15.0 removed it with synchronous scheduling "
        "(SyncHyperband, SyncBOHB, DEHB; syne-tune PR #971, 'refactor: remove legacy code'; "
        "issue #1033). It needs syne-tune<0.15 (e.g. 0.13.0)."
    ),
}


def run(
    bb: Any, method: str, seed: int, workers: int, limit_s: float, *, clock: str = "events"
) -> list[tuple[float, dict, float]]:
    """Events ``(simulated_seconds, config, value)`` of one Syne Tune search on ``bb``, one per
    epoch reported to the scheduler up to ``limit_s`` simulated seconds (see the module
    docstring for the methods and ``clock``)."""
    if method not in METHODS:
        raise ValueError(f"unknown Syne Tune method {method!r}, expected one of {METHODS}")
    if clock not in ("events", "syne-tune"):
        raise ValueError(f"clock must be 'events' or 'syne-tune', got {clock!r}")
    if workers < 1 or limit_s <= 0:
        raise ValueError(f"need workers >= 1 and limit_s > 0, got {workers} and {limit_s}")
    st = _import_syne_tune()
    if method in _UNAVAILABLE:
        raise MethodUnavailable(_UNAVAILABLE[method].format(version=st["version"]))
    logging.getLogger("syne_tune").setLevel(logging.WARNING)
    # The baselines pass points_to_evaluate twice themselves, and the searcher warns each time
    logging.getLogger(LAST_VALUE_SEARCHER_LOGGER).setLevel(logging.ERROR)

    with (
        tempfile.TemporaryDirectory(prefix="hpo-synetune-") as tmp,
        _environ("SYNETUNE_FOLDER", tmp),
        _numpy_global_seed(seed),
        contextlib.redirect_stdout(io.StringIO()),  # the Tuner prints its progress
        warnings.catch_warnings(),
    ):
        # BOHB's KDE searcher hands a RandomState to pandas, which announces a future change
        warnings.filterwarnings("ignore", "After 0.17", FutureWarning)
        blackbox = st["make_blackbox"](bb)
        backend, callback = _backend(st, blackbox, clock)
        tuner = st["Tuner"](
            trial_backend=backend,
            scheduler=_scheduler(st, method, blackbox.configuration_space, bb.max_epochs, seed),
            stop_criterion=st["StoppingCriterion"](max_wallclock_time=limit_s),
            n_workers=workers,
            sleep_time=0,
            results_update_interval=_FOREVER_S,
            print_update_interval=_FOREVER_S,
            tuner_name="hpo-compare",
            callbacks=[callback],
            save_tuner=False,
            trial_backend_path=tmp,
        )
        tuner.run()
    return _events(callback.results, bb.space, limit_s, st["ST_TUNER_TIME"])


def _backend(st: dict[str, Any], blackbox: Any, clock: str) -> tuple[Any, Any]:
    """Syne Tune's simulator backend for ``blackbox`` and its callback, on the ``clock``."""
    if clock == "events":
        backend = st["UserBlackboxBackend"](
            blackbox=blackbox,
            elapsed_time_attr=ELAPSED,
            simulator_config=st["SimulatorConfig"](
                delay_on_trial_result=0.0,
                delay_complete_after_final_report=0.0,
                delay_complete_after_stop=0.0,
                delay_start=0.0,
                delay_stop=0.0,
            ),
        )
        backend._time_keeper = st["EventTimeKeeper"]()  # no public hook for the clock
        callback = st["EventSimulatorCallback"]()
    else:
        backend = st["UserBlackboxBackend"](blackbox=blackbox, elapsed_time_attr=ELAPSED)
        callback = st["SimulatorCallback"]()
    # SimulatorBackend sets its module's logger to INFO when constructed
    logging.getLogger(SIMULATOR_LOGGER).setLevel(logging.WARNING)
    return backend, callback


def _scheduler(
    st: dict[str, Any], method: str, config_space: dict, max_epochs: int, seed: int
) -> Any:
    common = dict(
        config_space=config_space,
        metric=METRIC,
        time_attr=FIDELITY,
        max_t=max_epochs,
        do_minimize=True,
        random_seed=seed,
        grace_period=1,
        reduction_factor=REDUCTION_FACTOR,
    )
    if method == "asha":
        return st["ASHA"](**common)
    if method == "bohb":
        return st["BOHB"](**common)
    s_max = 0
    while REDUCTION_FACTOR ** (s_max + 1) <= max_epochs:
        s_max += 1
    return st["AsynchronousSuccessiveHalving"](
        searcher="random_search", brackets=s_max + 1, **common
    )


def _events(
    results: list[dict], space: Mapping[str, Mapping[str, Any]], limit_s: float, time_key: str
) -> list[tuple[float, dict, float]]:
    out = []
    for r in results:
        t = float(r[time_key])
        if t <= limit_s:
            cfg = {k: _cast(p, r[f"config_{k}"]) for k, p in space.items()}
            out.append((t, cfg, float(r[METRIC])))
    out.sort(key=lambda e: e[0])
    return out


def _cast(param: Mapping[str, Any], value: Any) -> Any:
    kind = param["type"]
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    return value.item() if isinstance(value, np.generic) else value


def _domain(st: dict[str, Any], name: str, p: Mapping[str, Any]) -> Any:
    kind, log = p["type"], bool(p.get("log", False))
    if kind == "float":
        fn = st["loguniform"] if log else st["uniform"]
        return fn(float(p["low"]), float(p["high"]))
    if kind == "int":
        fn = st["lograndint"] if log else st["randint"]
        return fn(int(p["low"]), int(p["high"]))
    if kind == "categorical":
        return st["choice"](list(p["choices"]))
    raise ValueError(f"parameter {name!r}: type {kind!r} has no Syne Tune domain here")


@contextlib.contextmanager
def _environ(key: str, value: str) -> Iterator[None]:
    old = os.environ.get(key)
    os.environ[key] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


@contextlib.contextmanager
def _numpy_global_seed(seed: int) -> Iterator[None]:
    """Seed numpy's global generator for the run, then put its state back.

    Syne Tune 0.16.0 draws from it where it should use its seeded generators: ASHA picks a new
    trial's bracket with ``np.random.choice`` and ``RandomSearcher`` (which ASHA's searcher
    switches to after its first 5 trials) samples with ``Domain.sample()`` and no
    ``random_state``. Its searchers' own generators are ``RandomState(seed)``, so the global one
    gets another stream drawn from ``seed``: seeded with ``seed`` itself, it replays their draws
    and the search repeats its first configurations.
    """
    state = np.random.get_state()
    np.random.seed(int(np.random.SeedSequence([seed, 0x5EED]).generate_state(1)[0]))
    try:
        yield
    finally:
        np.random.set_state(state)


_SYNE_TUNE: dict[str, Any] = {}


def _import_syne_tune() -> dict[str, Any]:
    """Syne Tune's pieces, and our classes built on them (imported once, on first use)."""
    if _SYNE_TUNE:
        return _SYNE_TUNE
    import syne_tune
    from syne_tune import StoppingCriterion, Tuner
    from syne_tune.backend.simulator_backend.simulator_backend import SimulatorConfig
    from syne_tune.backend.simulator_backend.simulator_callback import SimulatorCallback
    from syne_tune.backend.simulator_backend.time_keeper import SimulatedTimeKeeper
    from syne_tune.config_space import choice, lograndint, loguniform, randint, uniform
    from syne_tune.constants import ST_TUNER_TIME
    from syne_tune.optimizer.baselines import ASHA, BOHB
    from syne_tune.optimizer.schedulers.asha import AsynchronousSuccessiveHalving

    with _without_downloads():
        from syne_tune.blackbox_repository.blackbox import Blackbox
        from syne_tune.blackbox_repository.simulated_tabular_backend import (
            UserBlackboxBackend,
        )

    class EventTimeKeeper(SimulatedTimeKeeper):
        """Simulated time that real computing time does not advance."""

        def real_time_since_last_recent_exit(self) -> float:
            return 0.0

    class EventSimulatorCallback(SimulatorCallback):
        """SimulatorCallback whose sleep jumps to the simulator's next event (instead of a
        fixed ``tuner_sleep_time``), so the tuner sees each report at its own time."""

        def on_tuning_start(self, tuner: Any) -> None:
            super().on_tuning_start(tuner)
            self._backend = tuner.trial_backend

        def on_tuning_sleep(self, sleep_time: float) -> None:
            heap = self._backend._simulator_state.event_heap
            now = self._time_keeper.time()
            self._time_keeper.advance_to(heap[0][0] if heap else now + self._tuner_sleep_time)

    def make_blackbox(bb: Any) -> Any:
        space = {k: _domain(_SYNE_TUNE, k, p) for k, p in bb.space.items()}
        return _curve_blackbox(Blackbox, bb, space)

    _SYNE_TUNE.update(
        version=syne_tune.__version__,
        StoppingCriterion=StoppingCriterion,
        Tuner=Tuner,
        SimulatorConfig=SimulatorConfig,
        SimulatorCallback=SimulatorCallback,
        EventTimeKeeper=EventTimeKeeper,
        EventSimulatorCallback=EventSimulatorCallback,
        UserBlackboxBackend=UserBlackboxBackend,
        ST_TUNER_TIME=ST_TUNER_TIME,
        ASHA=ASHA,
        BOHB=BOHB,
        AsynchronousSuccessiveHalving=AsynchronousSuccessiveHalving,
        uniform=uniform,
        loguniform=loguniform,
        randint=randint,
        lograndint=lograndint,
        choice=choice,
        make_blackbox=make_blackbox,
    )
    return _SYNE_TUNE


def _curve_blackbox(base: type, bb: Any, config_space: dict[str, Any]) -> Any:
    """``bb`` as a Syne Tune Blackbox: objectives [loss, elapsed_time] at fidelities
    1..max_epochs, elapsed_time being the cumulative cost (the time since the trial started)."""
    epochs = np.arange(1, bb.max_epochs + 1)

    class CurveBlackbox(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__(
                configuration_space=config_space,
                fidelity_space={FIDELITY: _SYNE_TUNE["randint"](1, bb.max_epochs)},
                objectives_names=[METRIC, ELAPSED],
            )

        @property
        def fidelity_values(self) -> np.ndarray:
            return epochs

        def _objective_function(
            self,
            configuration: dict[str, Any],
            fidelity: dict | None = None,
            seed: int | None = None,
        ) -> Any:
            cfg = {k: _cast(p, configuration[k]) for k, p in bb.space.items()}
            rows = np.empty((len(epochs), 2))
            elapsed = 0.0
            for i, e in enumerate(epochs.tolist()):
                elapsed += bb.cost(cfg, e)
                rows[i] = (bb.value(cfg, e), elapsed)
            if fidelity is None:
                return rows  # shape (max_epochs, 2): what the simulator asks for
            return dict(zip(self.objectives_names, rows[int(fidelity[FIDELITY]) - 1], strict=True))

    return CurveBlackbox()


@contextlib.contextmanager
def _without_downloads() -> Iterator[None]:
    """Import syne_tune.blackbox_repository without huggingface_hub where it is absent: a
    placeholder stands in for that import only, and refuses any download."""
    try:
        import huggingface_hub  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        yield
        return

    def snapshot_download(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("benchmarks.peers.synetune runs offline: no blackbox download")

    placeholder = types.ModuleType("huggingface_hub")
    placeholder.snapshot_download = snapshot_download  # type: ignore[attr-defined]
    sys.modules["huggingface_hub"] = placeholder
    try:
        yield
    finally:
        if sys.modules.get("huggingface_hub") is placeholder:
            del sys.modules["huggingface_hub"]
