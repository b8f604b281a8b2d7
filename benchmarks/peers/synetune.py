"""Syne Tune's own schedulers on Syne Tune's own simulator backend, over our benchmarks.

``run(bb, method, seed, workers, limit_s)`` wraps a benchmark (benchmarks/synthetic.py or
benchmarks/tabular) as a Syne Tune :class:`Blackbox` whose learning curve has the fidelities
1..``bb.max_epochs`` and, as ``elapsed_time``, the cumulative cost ``bb.cost(config, 1..e)``;
simulates it with ``UserBlackboxBackend`` + ``SimulatorCallback`` and a ``Tuner`` with
``n_workers=workers`` and ``StoppingCriterion(max_wallclock_time=limit_s)``; and returns one event
``(simulated_seconds, config, value)`` per epoch that a trial reported to the scheduler, in our
parameter names and types, with the simulated time stamp Syne Tune gave that report.

Methods (our settings everywhere: min resource 1 epoch, max resource ``bb.max_epochs``, reduction
factor 3, minimize, ``random_seed=seed``, Syne Tune's defaults otherwise). In ``syne_tune``
0.16.0:

* ``asha``: ``baselines.ASHA``, asynchronous successive halving with one bracket (Li et al.
  2020). In 0.16.0 it is the stopping variant, ported from Ray Tune: a trial that is not in the
  top 1/3 of its rung is stopped, one that is runs on; there is no pause and resume.
* ``hyperband``: ``AsynchronousSuccessiveHalving`` with ``brackets = s_max + 1`` (one per
  Hyperband bracket, s_max = floor(log_3(max_epochs))) and random search: Syne Tune's
  asynchronous Hyperband. Each new trial draws its bracket with probability proportional to
  exp(number of rungs), so most trials go to the most aggressive bracket.
* ``bohb``: ``baselines.BOHB``, ASHA (one bracket) whose searcher fits the kernel density
  estimators of Falkner et al. 2018 on the last value of every trial.

Syne Tune 0.15.0 removed ``HyperbandScheduler`` with its Gaussian-process searchers and the
synchronous schedulers (PR #971). These methods need syne-tune<0.15 (0.13.0 is the one we test):

* ``mobster``: ``baselines.MOBSTER`` (Klein et al. 2020), ``HyperbandScheduler`` with the
  ``bayesopt`` searcher (a joint multi-task GP over configuration and epoch, fitted on the rung
  values; expected improvement) and Syne Tune's default ``type="stopping"``, the variant that
  Syne Tune's own benchmark baselines run and the one our other synetune-* rows use (0.16.0's
  ASHA and BOHB can only stop). ``mobster-promotion``: the same with ``type="promotion"``
  (pause at a rung, resume when promoted; like our hpo-asha and hpo-mobster).
* ``dehb``: ``baselines.DEHB`` (Awad et al. 2021): synchronous Hyperband whose configurations
  after the first bracket come from differential evolution (mutation factor 0.5, crossover
  probability 0.5: Syne Tune's defaults); all brackets, cycled.
* ``hyperband-sync``: ``baselines.SyncHyperband`` (Li et al. 2018), synchronous Hyperband with
  random search over all brackets, cycled.
* ``asha-legacy``, ``hyperband-legacy``, ``bohb-legacy``: 0.13.0's own ASHA (stopping),
  asynchronous Hyperband (``HyperbandScheduler`` with ``s_max + 1`` brackets) and BOHB, to check
  one version against the other.

The synchronous schedulers and ``mobster-promotion`` pause trials at their rungs: a resumed
trial continues from its last epoch (the backend's ``support_checkpointing``), so its events are
still epochs 1..k of one curve, but with waiting time between them.

Where the syne_tune imported here lacks a method, ``run`` runs it in another interpreter: the
environment variable ``HPO_SYNETUNE_LEGACY_PYTHON`` names a Python with syne-tune<0.15 (a
virtualenv with ``pip install "syne-tune[gpsearchers,kde]==0.13.0" scikit-learn``), and ``run``
starts benchmarks/peers/synetune_legacy_runner.py there, which rebuilds the benchmark from its
description (a :class:`~benchmarks.synthetic.SyntheticBenchmark`'s fields, or a table's name),
calls :func:`simulate` of this module with that syne_tune and sends the events back as JSON.
Unset, or for a benchmark that cannot be rebuilt, :class:`MethodUnavailable` says why. This
module imports only numpy and the standard library at the top, and syne_tune on first use, so
that it loads under both versions.

The clock. By default (``clock="events"``) the simulation is exact and reproducible: the
simulator's delays (start, report, stop) are 0, the tuner's clock jumps to the next simulated
event when all workers are busy, and the real time the tuner and scheduler spend is not added to
simulated time, as in our simulator and compare.run_optuna (the same private hooks exist in
0.13.0 and 0.16.0). ``clock="syne-tune"`` keeps Syne Tune's defaults instead: 0.05 s per start,
report and stop, the clock advanced in steps of 5 s while all workers are busy (so a freed
worker waits up to 5 s), and the real decision time counted; its runs then depend on the
machine's speed (MOBSTER's GP fits take real seconds). In both, Syne Tune's backend makes every
report at least 0.01 s after the previous one of the trial, and each stop or pause decision
moves its clock on by 2 ms.

Checkpoints. With ``checkpoint`` (a file; benchmarks/compare.py passes
``<method>-seed<n>.partial`` of its runs directory), a search saves its whole state there every
30 real seconds and, started again with the same file, goes on from it: the Tuner with its
scheduler and searcher (the GP's data and random states), the simulator backend (its clock and
event queue), the callbacks (the results so far), numpy's global generator, and the three loop
variables that Tuner.run keeps as locals (read up the stack at the end of a loop; on resume the
running and finished trials are put back into the fresh set and dict at the first loop). Syne
Tune has no such API (its own ``Tuner.load`` restarts the clock and drops the loop state), so
this is ours. dill pickles it, since Syne Tune's objects hold lambdas; the blackbox (the
benchmark, with a table's every row: 40 % of a MOBSTER checkpoint) is left out and rebuilt from
the benchmark where the search resumes. A search resumed from its
checkpoint gives the uninterrupted search's events exactly where no two reports share a
simulated time stamp (tested: BOHB killed 58 times; MOBSTER of 0.13.0 on breast_cancer-mlp
checked by hand, killed 285 times). Where reports tie, Tuner.run hands them to the scheduler in
the iteration order of a Python set of trial ids, which depends on the set's history and cannot
be carried over; the resumed search may then take the tied reports in another order and go on
as a different, equally valid run of the same method (seen with the asynchronous Hyperband on
branin-mf, whose epochs all cost the same: the same events, two tied ones swapped). Syne Tune's
MOBSTER needs this: a seed takes about 55 minutes on the 2-core development machine on
hartmann6-mf and breast_cancer-mlp, longer than a device call. A checkpoint resumes only under
the Python minor version that wrote it (recorded as ``python`` and checked before the state is
read): dill keeps the benchmark's classes by value, as bytecode, and another Python's interpreter
crashes on that (3.12's checkpoint in 3.11: a segmentation fault), so a device host's checkpoint
(Python 3.12) goes on elsewhere only under a Python 3.12 with syne-tune.

Experiment files go under a temporary directory that is deleted afterwards; Syne Tune's logging
is set to WARNING and the tuner's printing is swallowed. Nothing is downloaded: the blackbox
repository's loaders are never called; where the optional ``huggingface_hub`` (which
``syne_tune.blackbox_repository`` 0.16.0 imports for its downloads) is not installed, a
placeholder that refuses to download stands in for that import.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import logging
import os
import pickle
import re
import signal
import subprocess
import sys
import tempfile
import time
import types
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.peers import MethodUnavailable, RunInterrupted

__all__ = ["METHODS", "MethodUnavailable", "RunInterrupted", "run", "simulate"]

#: Methods of Syne Tune 0.16.0 and of syne-tune<0.15 (see the module docstring).
CURRENT_METHODS = ("asha", "hyperband", "bohb")
LEGACY_METHODS = (
    "asha",
    "hyperband",
    "bohb",
    "mobster",
    "mobster-promotion",
    "dehb",
    "hyperband-sync",
)
LEGACY_SUFFIX = "-legacy"  # "bohb-legacy": 0.13.0's BOHB, in the legacy interpreter
METHODS = (
    *CURRENT_METHODS,
    *(m for m in LEGACY_METHODS if m not in CURRENT_METHODS),
    *(m + LEGACY_SUFFIX for m in CURRENT_METHODS),
)
LEGACY_PYTHON_ENV = "HPO_SYNETUNE_LEGACY_PYTHON"
LEGACY_RUNNER = "benchmarks.peers.synetune_legacy_runner"
LEGACY_BEFORE = (0, 15)  # syne-tune versions below this have HyperbandScheduler, MOBSTER, DEHB
REPO_ROOT = Path(__file__).resolve().parents[2]

METRIC = "loss"
FIDELITY = "epoch"
ELAPSED = "elapsed_time"
REDUCTION_FACTOR = 3
SIMULATOR_LOGGER = "syne_tune.backend.simulator_backend.simulator_backend"
LAST_VALUE_SEARCHER_LOGGER = (
    "syne_tune.optimizer.schedulers.searchers.last_value_multi_fidelity_searcher"
)
# 0.13.0's synchronous schedulers warn that max_resource_level is used, not max_resource_attr
SYNC_HYPERBAND_LOGGER = "syne_tune.optimizer.schedulers.synchronous.hyperband"
_FOREVER_S = 1e9  # real seconds: Syne Tune's periodic saving and printing never comes due
CHECKPOINT_EVERY_S = 30.0  # real seconds between a checkpointed search's saves

_ENABLE_LEGACY = (
    'To run it, make a virtualenv with `pip install "syne-tune[gpsearchers,kde]==0.13.0" '
    f"scikit-learn` and set {LEGACY_PYTHON_ENV} to its python (e.g. /path/to/venv/bin/python): "
    "benchmarks.peers.synetune then runs it there."
)
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
    "hyperband-sync": (
        "Synchronous Hyperband (SyncHyperband) is not in syne-tune {version}: v0.15.0 removed "
        "synchronous scheduling (syne-tune PR #971, 'refactor: remove legacy code'). It needs "
        "syne-tune<0.15 (e.g. 0.13.0)."
    ),
    "legacy": "{method} is syne-tune<0.15's own {base}, run in that version's interpreter.",
}
_UNAVAILABLE["mobster-promotion"] = _UNAVAILABLE["mobster"]


def run(
    bb: Any,
    method: str,
    seed: int,
    workers: int,
    limit_s: float,
    *,
    clock: str = "events",
    checkpoint: str | os.PathLike | None = None,
    origin: str | None = None,
) -> list[tuple[float, dict, float]]:
    """Events ``(simulated_seconds, config, value)`` of one Syne Tune search on ``bb``, one per
    epoch reported to the scheduler up to ``limit_s`` simulated seconds (see the module
    docstring for the methods, ``clock`` and ``checkpoint``): in this process where the
    syne_tune installed here has ``method``, else in the interpreter named by
    ``HPO_SYNETUNE_LEGACY_PYTHON``."""
    _check(method, workers, limit_s, clock)
    if checkpoint is not None:
        checkpoint = os.fspath(Path(checkpoint).resolve())  # the runner's cwd is the repo root
    options = dict(clock=clock, checkpoint=checkpoint, origin=origin)
    if method.endswith(LEGACY_SUFFIX):
        base = method[: -len(LEGACY_SUFFIX)]
        why = _UNAVAILABLE["legacy"].format(method=method, base=base)
    else:
        st = _import_syne_tune()
        if method in st["schedulers"]:
            return simulate(bb, method, seed, workers, limit_s, **options)
        base, why = method, _UNAVAILABLE[method].format(version=st["version"])
    job = dict(method=base, seed=seed, workers=workers, limit_s=limit_s, **options)
    return _run_in_legacy_python(bb, job, why)


def simulate(
    bb: Any,
    method: str,
    seed: int,
    workers: int,
    limit_s: float,
    *,
    clock: str = "events",
    checkpoint: str | os.PathLike | None = None,
    origin: str | None = None,
    every_s: float = CHECKPOINT_EVERY_S,
) -> list[tuple[float, dict, float]]:
    """:func:`run`, always in this process, with the syne_tune installed here (0.16.0, or
    syne-tune<0.15 in the legacy runner); :class:`MethodUnavailable` where it lacks ``method``.

    With ``checkpoint`` (a file), the search resumes from it where it exists and saves its whole
    state there every ``every_s`` real seconds as it goes (see "Checkpoints" in the module
    docstring); ``origin`` is recorded as where this part ran. The file is left in place: the
    caller removes it once the run's events are stored."""
    _check(method, workers, limit_s, clock)
    st = _import_syne_tune()
    if method not in st["schedulers"]:
        raise MethodUnavailable(
            _UNAVAILABLE.get(method, "{method} is not in syne-tune {version}.").format(
                method=method, version=st["version"]
            )
        )
    logging.getLogger("syne_tune").setLevel(logging.WARNING)
    # The baselines pass points_to_evaluate twice themselves, and the searcher warns each time
    logging.getLogger(LAST_VALUE_SEARCHER_LOGGER).setLevel(logging.ERROR)
    logging.getLogger(SYNC_HYPERBAND_LOGGER).setLevel(logging.ERROR)
    job = dict(method=method, seed=seed, workers=workers, limit_s=limit_s, clock=clock)
    saver = None if checkpoint is None else _Checkpoint(Path(checkpoint), job, origin, every_s)

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
        saved = None if saver is None else saver.load(st["version"], blackbox)
        if saved is not None:
            tuner, callback = _resumed_tuner(st, saved, tmp)
        else:
            backend, callback = _backend(st, blackbox, clock)
            scheduler = st["schedulers"][method](blackbox.configuration_space, bb.max_epochs, seed)
            tuner = st["Tuner"](
                trial_backend=backend,
                scheduler=scheduler,
                stop_criterion=st["StoppingCriterion"](max_wallclock_time=limit_s),
                n_workers=workers,
                sleep_time=0,
                results_update_interval=_FOREVER_S,
                print_update_interval=_FOREVER_S,
                tuner_name="hpo-compare",
                callbacks=[callback, st["CheckpointCallback"]()],
                save_tuner=False,
                trial_backend_path=tmp,
            )
        time_key = st["ST_TUNER_TIME"]
        if saver is not None:
            saver.events = lambda: _events(callback.results, bb.space, limit_s, time_key)
        _checkpoint_callback(tuner).saver = saver
        tuner.run()
    return _events(callback.results, bb.space, limit_s, time_key)


class _Checkpoint:
    """Where one search keeps its resumable state, and when it saves it.

    The file is a gzipped pickle of a dict, in the layout of benchmarks.compare's
    ``Checkpoint`` (so ``SavedRuns`` reads its ``"from"`` and ``"seconds"``): ``state`` holds the
    search itself as :mod:`dill` bytes (the Tuner with its scheduler, searcher, simulator backend
    and callbacks, Tuner.run's loop state and numpy's global generator; the backend's blackbox
    is a persistent id, :func:`_dill`), which only an
    interpreter with the same syne_tune and the same Python minor version (``python``, checked
    on load: dill keeps the benchmark's classes as bytecode) unpickles; ``job`` the run's
    arguments, checked on load;
    ``seconds`` the real seconds spent on the run so far; ``from`` where it ran, in turn;
    ``progress`` how far the search got, readable without syne_tune (benchmarks.unfinished):
    ``time``, the simulated seconds, and ``events``, what :func:`simulate` would return so far
    (absent in files written before it was recorded, until their next save). Written whole (a
    temporary file renamed), so a process killed at any moment leaves the previous one.
    """

    def __init__(self, path: Path, job: dict[str, Any], origin: str | None, every_s: float):
        self.path, self.job, self.origin, self.every_s = path, job, origin, every_s
        self.prior_s, self.origins = 0.0, []
        self._t0 = self._last = time.perf_counter()
        self.blackbox: Any = None  # the search's, kept out of the file (set by load)
        # the events so far (set by simulate once the search's callback exists), as progress
        self.events: Callable[[], list[tuple[float, dict, float]]] | None = None

    def load(self, version: str, blackbox: Any) -> dict[str, Any] | None:
        """The saved state, its blackbox being ``blackbox`` (the benchmark rebuilt here; the file
        names it only), or None where there is no file yet."""
        self.blackbox = blackbox
        if not self.path.exists():
            return None
        data = pickle.loads(gzip.decompress(self.path.read_bytes()))
        python = data.get("python")  # absent in checkpoints written before it was recorded
        if python is not None and python != _python_version():
            # dill pickles the benchmark's classes by value, with their bytecode: another
            # Python's interpreter crashes on it (a segmentation fault, seen 3.12 -> 3.11)
            raise ValueError(
                f"{self.path} was written by Python {python} and this is Python "
                f"{_python_version()}: resume it with a Python {python} interpreter (for "
                "syne-tune < 0.15, HPO_SYNETUNE_LEGACY_PYTHON), or remove it to start over"
            )
        if data.get("job") != self.job or data.get("syne_tune") != version:
            raise ValueError(
                f"{self.path} holds another run (syne-tune {data.get('syne_tune')}, "
                f"{data.get('job')}), not syne-tune {version}'s {self.job}: remove it to start over"
            )
        self.prior_s, self.origins = float(data["seconds"]), list(data.get("from", []))
        state = _undill(data["state"], blackbox)
        # a file written before the blackbox was left out holds a copy: this one replaces it (a
        # blackbox holds no state of the search), so that the next save leaves it out
        state["tuner"].trial_backend._blackbox = blackbox
        return state

    def due(self) -> bool:
        return time.perf_counter() - self._last >= self.every_s

    def save(self, state: dict[str, Any], version: str) -> None:
        origins = self.origins
        if self.origin is not None and (not origins or origins[-1] != self.origin):
            origins = [*origins, self.origin]
        data = {
            "state": _dill(state, self.blackbox),
            "job": self.job,
            "syne_tune": version,
            "python": _python_version(),
            "seconds": self.prior_s + time.perf_counter() - self._t0,
            "from": origins,
        }
        if self.events is not None:
            data["progress"] = {"time": float(state["time"]), "events": self.events()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_bytes(gzip.compress(pickle.dumps(data), compresslevel=1))
        tmp.replace(self.path)
        self._last = time.perf_counter()


_BLACKBOX_ID = "blackbox"  # the persistent id that stands for the search's blackbox in a file


def _dill(state: dict[str, Any], blackbox: Any) -> bytes:
    """``state`` as :mod:`dill` bytes, ``blackbox`` left out (a persistent id names it): the
    benchmark's whole table would otherwise be 40 % of every checkpoint, and the benchmark is
    rebuilt from its description wherever the search resumes."""
    import dill

    class Pickler(dill.Pickler):
        def persistent_id(self, obj: Any) -> str | None:
            # (a search always has one; None would stand for every None in the state)
            return _BLACKBOX_ID if blackbox is not None and obj is blackbox else None

    buf = io.BytesIO()
    Pickler(buf).dump(state)
    return buf.getvalue()


def _undill(data: bytes, blackbox: Any) -> dict[str, Any]:
    """What :func:`_dill` wrote, ``blackbox`` put back where it was left out."""
    import dill

    class Unpickler(dill.Unpickler):
        def persistent_load(self, pid: Any) -> Any:
            if pid != _BLACKBOX_ID:
                raise pickle.UnpicklingError(f"unknown persistent id {pid!r} in a checkpoint")
            return blackbox

    return Unpickler(io.BytesIO(data)).load()


def _python_version() -> str:
    return "{}.{}".format(*sys.version_info[:2])


def _tuner_run_locals() -> dict[str, Any]:
    """The local variables of the ``Tuner.run`` that is calling back now (found up the stack).

    Tuner.run keeps its loop state in locals (``running_trials_ids``, ``done_trials_statuses``,
    ``config_space_exhausted``); Syne Tune has no API to save or set them, so the checkpoint
    callback reads them here and, on resume, adds the saved trials into the fresh set and dict in
    place. Syne Tune 0.13.0 and 0.16.0 both name them so; another version that does not fails
    here, loudly."""
    from syne_tune import Tuner

    frame = sys._getframe(1)
    while frame is not None and frame.f_code is not Tuner.run.__code__:
        frame = frame.f_back
    names = ("running_trials_ids", "done_trials_statuses", "config_space_exhausted")
    if frame is None or not all(n in frame.f_locals for n in names):
        raise RuntimeError(
            "cannot checkpoint this Syne Tune search: Tuner.run is not on the stack with the loop "
            f"state {names} (syne-tune changed?)"
        )
    return frame.f_locals


def _checkpoint_callback(tuner: Any) -> Any:
    found = [c for c in tuner.callbacks if isinstance(c, _SYNE_TUNE["CheckpointCallback"])]
    assert len(found) == 1, "every search here has one CheckpointCallback"
    return found[0]


def _resumed_tuner(st: dict[str, Any], saved: dict[str, Any], tmp: str) -> tuple[Any, Any]:
    """The Tuner of a saved search, ready for ``run()`` to go on where it stopped, and its
    simulator callback (which holds the results so far)."""
    tuner = saved["tuner"]
    callback = next(c for c in tuner.callbacks if isinstance(c, st["EventSimulatorCallback"]))
    # SimulatorCallback swapped the stop criterion for one on simulated time at the start and
    # does it again at this start; it also restarts the clock, which resume_at moves on
    tuner.stop_criterion = callback._backup_stop_criterion
    callback.resume_at = saved["time"]
    if getattr(tuner.scheduler, "time_keeper", None) is not None:
        # syne-tune<0.15's schedulers take the backend's clock once, at the start, and refuse it
        # a second time; it is the same clock object, restored with the backend
        tuner.scheduler.time_keeper = None
    _checkpoint_callback(tuner).pending = (saved["running"], saved["done"])
    tuner.tuner_path = Path(tmp) / "hpo-compare"
    tuner.trial_backend.set_path(results_root=str(tuner.tuner_path), tuner_name=tuner.name)
    np.random.set_state(saved["np_random"])
    return tuner, callback


def _check(method: str, workers: int, limit_s: float, clock: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown Syne Tune method {method!r}, expected one of {METHODS}")
    if clock not in ("events", "syne-tune"):
        raise ValueError(f"clock must be 'events' or 'syne-tune', got {clock!r}")
    if workers < 1 or limit_s <= 0:
        raise ValueError(f"need workers >= 1 and limit_s > 0, got {workers} and {limit_s}")


def _run_in_legacy_python(
    bb: Any, job: dict[str, Any], why: str
) -> list[tuple[float, dict, float]]:
    """:func:`simulate` in the interpreter named by ``HPO_SYNETUNE_LEGACY_PYTHON`` (through
    benchmarks/peers/synetune_legacy_runner.py: a JSON job on its stdin, the events as one JSON
    line on its stdout), with ``job``'s arguments; :class:`MethodUnavailable` with ``why`` and
    what to do where it can't."""
    from benchmarks.peers.synetune_legacy_runner import BenchmarkNotRebuildable, benchmark_spec

    python = os.environ.get(LEGACY_PYTHON_ENV, "").strip()
    if not python:
        raise MethodUnavailable(f"{why} {_ENABLE_LEGACY}")
    try:
        spec = benchmark_spec(bb)
    except BenchmarkNotRebuildable as e:
        raise MethodUnavailable(f"{why} Here it would run in {python}, but {e}") from None
    job = dict(benchmark=spec, **job)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONNOUSERSITE="1")
    try:
        proc = subprocess.run(
            [python, "-m", LEGACY_RUNNER],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env=env,
            check=False,
        )
    except OSError as e:
        raise MethodUnavailable(
            f"{why} {LEGACY_PYTHON_ENV}={python} does not run ({e}). {_ENABLE_LEGACY}"
        ) from None
    if proc.returncode < 0:  # killed from outside (a time limit, the OOM killer, a person)
        part = job.get("checkpoint")
        kept = f"; its checkpoint {part} is kept" if part and Path(part).exists() else ""
        try:
            how = signal.Signals(-proc.returncode).name
        except ValueError:
            how = f"signal {-proc.returncode}"
        raise RunInterrupted(f"the Syne Tune legacy runner in {python} was stopped by {how}{kept}")
    lines = proc.stdout.strip().splitlines()
    reply = _json_or_none(lines[-1]) if proc.returncode == 0 and lines else None
    if not isinstance(reply, dict):
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(
            f"the Syne Tune legacy runner failed in {python} (exit {proc.returncode}):\n{tail}"
        )
    if "unavailable" in reply:
        raise MethodUnavailable(f"{why} In {python}: {reply['unavailable']} {_ENABLE_LEGACY}")
    if reply["benchmark"] != json.loads(json.dumps(spec)):
        raise RuntimeError(f"the legacy runner rebuilt another benchmark: {reply['benchmark']}")
    return [(float(t), cfg, float(v)) for t, cfg, v in reply["events"]]


def _json_or_none(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


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


def _s_max(max_epochs: int) -> int:
    """floor(log_3(max_epochs)), in integers: the most aggressive Hyperband bracket."""
    s_max = 0
    while REDUCTION_FACTOR ** (s_max + 1) <= max_epochs:
        s_max += 1
    return s_max


Factory = Callable[[dict, int, int], Any]  # (config_space, max_epochs, seed) -> scheduler


def _current_schedulers(ASHA: Any, BOHB: Any, AsynchronousSuccessiveHalving: Any) -> dict:
    """Syne Tune >= 0.15 (0.16.0): our method -> scheduler factory."""

    def common(config_space: dict, max_epochs: int, seed: int) -> dict[str, Any]:
        return dict(
            config_space=config_space,
            metric=METRIC,
            time_attr=FIDELITY,
            max_t=max_epochs,
            do_minimize=True,
            random_seed=seed,
            grace_period=1,
            reduction_factor=REDUCTION_FACTOR,
        )

    def hyperband(config_space: dict, max_epochs: int, seed: int) -> Any:
        return AsynchronousSuccessiveHalving(
            searcher="random_search",
            brackets=_s_max(max_epochs) + 1,
            **common(config_space, max_epochs, seed),
        )

    return {
        "asha": lambda *a: ASHA(**common(*a)),
        "hyperband": hyperband,
        "bohb": lambda *a: BOHB(**common(*a)),
    }


def _legacy_schedulers(
    ASHA: Any,
    BOHB: Any,
    MOBSTER: Any,
    HyperbandScheduler: Any,
    SyncHyperband: Any,
    DEHB: Any,
) -> dict[str, Factory]:
    """Syne Tune < 0.15 (0.13.0): our method -> scheduler factory. The asynchronous ones take
    ``max_t`` and keep ``type="stopping"`` (the default) unless said; the synchronous ones take
    ``max_resource_level`` and use all brackets (the default)."""

    def common(config_space: dict, seed: int) -> dict[str, Any]:
        return dict(
            config_space=config_space,
            metric=METRIC,
            resource_attr=FIDELITY,
            mode="min",
            random_seed=seed,
            grace_period=1,
            reduction_factor=REDUCTION_FACTOR,
        )

    def asynchronous(cls: Any, **extra: Any) -> Factory:
        return lambda space, max_epochs, seed: cls(max_t=max_epochs, **extra, **common(space, seed))

    def synchronous(cls: Any) -> Factory:
        return lambda space, max_epochs, seed: cls(
            max_resource_level=max_epochs, **common(space, seed)
        )

    def hyperband(config_space: dict, max_epochs: int, seed: int) -> Any:
        return HyperbandScheduler(
            searcher="random",
            brackets=_s_max(max_epochs) + 1,
            max_t=max_epochs,
            **common(config_space, seed),
        )

    return {
        "asha": asynchronous(ASHA),
        "hyperband": hyperband,
        "bohb": asynchronous(BOHB),
        "mobster": asynchronous(MOBSTER),
        "mobster-promotion": asynchronous(MOBSTER, type="promotion"),
        "dehb": synchronous(DEHB),
        "hyperband-sync": synchronous(SyncHyperband),
    }


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
    from syne_tune.tuner_callback import TunerCallback

    version = syne_tune.__version__
    if _version_tuple(version) < LEGACY_BEFORE:
        from syne_tune.optimizer.baselines import ASHA, BOHB, DEHB, MOBSTER, SyncHyperband
        from syne_tune.optimizer.schedulers import HyperbandScheduler

        schedulers = _legacy_schedulers(
            ASHA, BOHB, MOBSTER, HyperbandScheduler, SyncHyperband, DEHB
        )
    else:
        from syne_tune.optimizer.baselines import ASHA, BOHB
        from syne_tune.optimizer.schedulers.asha import AsynchronousSuccessiveHalving

        schedulers = _current_schedulers(ASHA, BOHB, AsynchronousSuccessiveHalving)

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

        resume_at: float | None = None  # a resumed search's simulated time (checkpoints)

        def on_tuning_start(self, tuner: Any) -> None:
            super().on_tuning_start(tuner)  # restarts the simulated clock at 0
            self._backend = tuner.trial_backend
            if self.resume_at is not None:
                self._time_keeper.advance_to(self.resume_at)
                self.resume_at = None

        def on_tuning_sleep(self, sleep_time: float) -> None:
            heap = self._backend._simulator_state.event_heap
            now = self._time_keeper.time()
            self._time_keeper.advance_to(heap[0][0] if heap else now + self._tuner_sleep_time)

    class CheckpointCallback(TunerCallback):
        """Saves the search through ``saver`` (a ``_Checkpoint``, or None: never) at the end of
        a loop of Tuner.run when it is due, and puts a resumed search's running and finished
        trials (``pending``) back into Tuner.run's loop state at the first loop."""

        def __init__(self) -> None:
            self.saver: Any = None
            self.pending: tuple[set, dict] | None = None
            self._tuner: Any = None

        def __getstate__(self) -> dict[str, Any]:
            return {**self.__dict__, "saver": None}  # the file is the caller's, not the state's

        def on_tuning_start(self, tuner: Any) -> None:
            self._tuner = tuner

        def on_loop_start(self) -> None:
            if self.pending is not None:
                loop = _tuner_run_locals()
                loop["running_trials_ids"].update(self.pending[0])
                loop["done_trials_statuses"].update(self.pending[1])
                self.pending = None

        def on_loop_end(self) -> None:
            if self.saver is None or not self.saver.due():
                return
            loop = _tuner_run_locals()
            if loop["config_space_exhausted"]:
                return  # a local that cannot be set on resume; the search ends soon anyway
            state = {
                "tuner": self._tuner,
                "running": set(loop["running_trials_ids"]),
                "done": dict(loop["done_trials_statuses"]),
                "time": self._tuner.trial_backend.time_keeper.time(),
                "np_random": np.random.get_state(),
            }
            self.saver.save(state, _SYNE_TUNE["version"])

    # module-level names, so that a checkpoint pickles them by reference (benchmark-specific
    # CurveBlackbox classes are pickled by value)
    for cls in (EventTimeKeeper, EventSimulatorCallback, CheckpointCallback):
        cls.__qualname__ = cls.__name__
        globals()[cls.__name__] = cls

    def make_blackbox(bb: Any) -> Any:
        space = {k: _domain(_SYNE_TUNE, k, p) for k, p in bb.space.items()}
        return _curve_blackbox(Blackbox, bb, space)

    _SYNE_TUNE.update(
        version=version,
        schedulers=schedulers,
        StoppingCriterion=StoppingCriterion,
        Tuner=Tuner,
        SimulatorConfig=SimulatorConfig,
        SimulatorCallback=SimulatorCallback,
        EventTimeKeeper=EventTimeKeeper,
        EventSimulatorCallback=EventSimulatorCallback,
        CheckpointCallback=CheckpointCallback,
        UserBlackboxBackend=UserBlackboxBackend,
        ST_TUNER_TIME=ST_TUNER_TIME,
        uniform=uniform,
        loguniform=loguniform,
        randint=randint,
        lograndint=lograndint,
        choice=choice,
        make_blackbox=make_blackbox,
    )
    return _SYNE_TUNE


def _version_tuple(version: str) -> tuple[int, int]:
    """(0, 13) from "0.13.0" (major and minor; "0.16.0rc1" -> (0, 16))."""
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None:
        raise ValueError(f"cannot read the syne-tune version {version!r}")
    return int(match[1]), int(match[2])


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
