"""Side-by-side search on a simulated clock: hpo's schedulers against Optuna's, same benchmark.

Every method searches the same benchmark (benchmarks/synthetic.py) with the same number of
workers, the same per-epoch costs and the same simulated time budget:

* hpo-*: the real Coordinator and Driver with hpo.executors.simulated.SimulatedExecutor (a
  temporary SQLite file per run), schedulers random / asha / hyperband.
* optuna-*: Optuna's own samplers and pruners through ask/tell, on a discrete-event simulation
  with the same workers and costs: each worker holds one Optuna trial, reports every epoch
  (``trial.report``), asks ``should_prune`` and starts a new trial when its trial ends. Optuna
  sees pending trials exactly as it does in a parallel run (its default: they are not used).
* synetune-* and raytune-*: the peers' own schedulers through the adapters in benchmarks/peers/.

The speed-up column: the best peer is the non-hpo method with the lowest mean regret at the
end; each method's entry is the simulated time at which its mean regret (over seeds, on a grid
of 400 times) first reaches that peer's final mean regret, and the speed-up is the peer's time
divided by the method's (above 1: faster than the best peer).

Regret on synthetic functions is measured on the true objective (fidelity 1, no noise) of the
incumbent, the configuration with the best value reported so far at any fidelity; on tables
(benchmarks/tabular) on the best value observed so far. It is normalized by the median value of
random configurations minus the optimum (so a random guess is about 1).

With ``--runs-dir`` every finished run's file records where it ran (``"from"``: the host, the
commit of the code and the date; a run resumed from a checkpoint lists every place it ran). The
host and the code are read from the machine and ``git``, or from ``HPO_RUNS_HOST`` and
``HPO_RUNS_CODE`` where set (the device host's copy of the tree has no git history).

    python -m benchmarks.compare --benchmark branin-mf --seeds 5 --workers 4 --hours 8
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import heapq
import json
import math
import os
import pickle
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks import package_versions
from benchmarks.peers import (
    CHECKPOINTED,
    PEER_METHODS,
    MethodUnavailable,
    RunInterrupted,
    run_peer,
)
from benchmarks.synthetic import BENCHMARKS as SYNTHETIC
from benchmarks.synthetic import SyntheticBenchmark

# each table, and its running-best variant (benchmarks/tabular: ``best_so_far``)
TABULAR = tuple(
    sorted(
        name + variant
        for p in (Path(__file__).parent / "tabular" / "data").glob("*.json.gz")
        for name in [p.name[: -len(".json.gz")]]
        for variant in ("", "-best")
    )
)

HPO_METHODS = {
    "hpo-random": "random",
    "hpo-asha": "asha",
    "hpo-hyperband": "hyperband",
    "hpo-bo": "bo",
    "hpo-mobster": "mobster",
    "hpo-hypertune": "hypertune",
}


def _mobster_d618abb(**params: Any) -> dict[str, Any]:
    """mobster's defaults of d618abb (log EI at BOHB's rung, the Gamma lengthscale prior, the
    Sobol' design), which the variants below vary one parameter of, with ``params`` over them."""
    return {
        "acquisition_fidelity": "bohb",
        "lengthscale_prior": "gamma",
        "initial_design": "sobol",
        **params,
    }


# variants with non-default parameters: run when named in --methods, never by default
HPO_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    # mobster warps its outputs by default (output_warping); the variants below that were measured
    # before that (docs/benchmarks.md) keep it off, so their stored runs stay reproducible; they
    # name one bracket too, mobster's default, which was briefly "adaptive"
    # BOHB's random fraction (Falkner et al. 2018): a third of proposals uniformly at random
    "hpo-mobster-rf": (
        "mobster",
        {"random_fraction": 1 / 3, "output_warping": False, "brackets": 1},
    ),
    "hpo-mobster-rf20": (
        "mobster",
        {"random_fraction": 0.2, "output_warping": False, "brackets": 1},
    ),
    "hpo-hypertune-rf": ("hypertune", {"random_fraction": 1 / 3}),
    # mobster's random fraction is "auto" by default: this is the model alone
    "hpo-mobster-rf0": ("mobster", {"random_fraction": 0, "output_warping": False, "brackets": 1}),
    # a GP noise floor of 1e-6 (standardized variance; BoTorch's default is 1e-4)
    "hpo-mobster-nf6": ("mobster", {"noise_floor": 1e-6, "output_warping": False, "brackets": 1}),
    # the scores straight to the GP (mobster's default before output warping)
    # (its runs were made at 0971500, where mobster's random_fraction defaulted to 0, not "auto")
    "hpo-mobster-nowarp": (
        "mobster",
        {"output_warping": False, "brackets": 1, "random_fraction": 0.0},
    ),
    # EI per unit of predicted cost (Snoek et al. 2012)
    "hpo-mobster-ca": ("mobster", {"cost_aware": True, "output_warping": False, "brackets": 1}),
    # hpo-bo and hpo-hypertune with their outputs warped as mobster's are
    "hpo-bo-warp": ("bo", {"output_warping": True}),
    "hpo-hypertune-warp": ("hypertune", {"output_warping": True}),
    # mobster on asynchronous Hyperband's brackets (some trials start at higher rungs)
    "hpo-mobster-hb": ("mobster", {"brackets": "all"}),
    "hpo-mobster-hb-nf6": ("mobster", {"brackets": "all", "noise_floor": 1e-6}),
    "hpo-mobster-nf6w": ("mobster", {"noise_floor": 1e-6, "brackets": 1}),
    # new trials start in the lowest bracket none of whose rungs ranks the best top results
    # significantly in reverse; -1b: one bracket, mobster's default, named so for the A/B runs
    "hpo-mobster-adapt": ("mobster", {"brackets": "adaptive"}),
    "hpo-mobster-1b": ("mobster", {"brackets": 1}),
    # a rung leaves out results whose curve repeats an earlier one's exactly (never promoted),
    # over hpo-mobster-random's settings (every mobster default from before the sixteenth
    # session, filled in below): run by mistake as hpo-mobster-norep in the forty-first session,
    # when the fill-in below made it so; hpo-mobster-norep (after the loop) has today's defaults
    "hpo-mobster-random-norep": ("mobster", {"initial_design": "random", "skip_repeats": True}),
    "hpo-asha-norep": ("asha", {"skip_repeats": True}),
    "hpo-mobster-adapt-nf6": ("mobster", {"brackets": "adaptive", "noise_floor": 1e-6}),
    # Hyper-Tune's learned brackets and delayed promotions, MOBSTER's joint GP, warped outputs
    "hpo-hypertune-joint": ("hypertune", {"model": "joint", "output_warping": True}),
    "hpo-hypertune-joint-nf6": (
        "hypertune",
        {"model": "joint", "output_warping": True, "noise_floor": 1e-6},
    ),
    # the GP's shorter Gamma(3, 6) lengthscale prior: mobster's default since the eleventh session
    # (hpo-mobster-random runs the same), named so for the runs made before that
    "hpo-mobster-gamma": ("mobster", {"lengthscale_prior": "gamma", "brackets": 1}),
    "hpo-hypertune-gamma": ("hypertune", {"lengthscale_prior": "gamma"}),
    "hpo-bo-gamma": ("bo", {"lengthscale_prior": "gamma"}),
    # the dimension-scaled prior, mobster's default until the eleventh session
    "hpo-mobster-dimscaled": ("mobster", {"lengthscale_prior": "dim_scaled", "brackets": 1}),
    # each result seen as its trial's best value so far (a kept best checkpoint)
    "hpo-mobster-best": ("mobster", {"best_so_far": True, "lengthscale_prior": "gamma"}),
    # the initial design from a scrambled Sobol' sequence instead of uniform draws, with the
    # default number of initial trials or 20 of them (cheap: most stop at the lowest rung)
    "hpo-mobster-sobol": ("mobster", {"initial_design": "sobol", "lengthscale_prior": "gamma"}),
    "hpo-mobster-sobol20": (
        "mobster",
        {"initial_design": "sobol", "n_initial": 20, "lengthscale_prior": "gamma"},
    ),
    # uniform random initial trials: mobster's default until the sixteenth session
    "hpo-mobster-random": ("mobster", {"initial_design": "random"}),
    # bo with the Sobol' initial design, its default since the seventeenth session (hpo-bo-sobol
    # runs what hpo-bo runs now), and with uniform draws, its default before
    "hpo-bo-sobol": ("bo", {"initial_design": "sobol"}),
    "hpo-bo-random": ("bo", {"initial_design": "random"}),
    # hypertune with the Sobol' initial design, its default since the seventeenth session
    # (hpo-hypertune-sobol runs what hpo-hypertune runs now), and with uniform draws
    "hpo-hypertune-sobol": ("hypertune", {"initial_design": "sobol"}),
    "hpo-hypertune-random": ("hypertune", {"initial_design": "random"}),
    # bo with its defaults (Sobol') but Optuna GPSampler's least noise variance, 1e-6
    "hpo-bo-nf6": ("bo", {"noise_floor": 1e-6, "initial_design": "sobol"}),
    # no noise prior (noise_prior "none": the noise variance by maximum likelihood alone, instead
    # of under BoTorch's LogNormal(-4, 1)), with the 1e-6 floor or bo's default 1e-4; the other
    # params are each scheduler's defaults since the seventeenth session
    "hpo-bo-np0": ("bo", {"noise_prior": "none", "noise_floor": 1e-6, "initial_design": "sobol"}),
    "hpo-bo-np0-nf4": ("bo", {"noise_prior": "none", "initial_design": "sobol"}),
    "hpo-mobster-np0": (
        "mobster",
        {
            "noise_prior": "none",
            "noise_floor": 1e-6,
            "lengthscale_prior": "gamma",
            "initial_design": "sobol",
        },
    ),
    "hpo-hypertune-np0": (
        "hypertune",
        {"noise_prior": "none", "noise_floor": 1e-6, "initial_design": "sobol"},
    ),
    # log EI at BOHB's rung (the highest with d + 1 results) instead of the maximum fidelity
    # (acquisition_fidelity "bohb", Syne Tune MOBSTER's default): mobster's default from the
    # twenty-third session; the same settings as hpo-mobster-scorerank, under the name its runs
    # were stored with
    "hpo-mobster-acqbohb": ("mobster", _mobster_d618abb()),
    # log EI at the maximum fidelity (acquisition_fidelity "max"), mobster's default before the
    # twenty-third session: the stored hpo-mobster runs made before then are kept under this name
    "hpo-mobster-acqmax": ("mobster", _mobster_d618abb(acquisition_fidelity="max")),
    # BOHB's rung, or the maximum where trials promoted between rungs rank unlike at the rung above
    # (pooled Kendall's tau below 0.1 over 10 or more; acquisition_fidelity "gated", twenty-fourth
    # session)
    "hpo-mobster-gated": ("mobster", _mobster_d618abb(acquisition_fidelity="gated")),
    # the rungs promote the results the model predicts best at the maximum fidelity instead of
    # the best results at the rung (promote_by "model", twenty-eighth session)
    "hpo-mobster-modelrank": ("mobster", _mobster_d618abb(promote_by="model")),
    # by the model at a rung only while its held-out predictions rank the best top results better
    # than the rung's results do, over at least 8 trials with results at both (promote_by
    # "auto", auto_min 8): mobster's default from the thirtieth to the thirty-second session,
    # when auto_min became 5; the stored hpo-mobster runs made then are kept under this name
    "hpo-mobster-autorank": ("mobster", _mobster_d618abb(promote_by="auto")),
    # the same with auto_min 5 and no margin (auto_z 0: the model's tau need only exceed the
    # rung's), mobster's default of the thirty-second session, when auto_z became 1; the stored
    # hpo-mobster runs made then are kept under this name
    "hpo-mobster-auto5": ("mobster", _mobster_d618abb(promote_by="auto", auto_min=5)),
    # the rungs promote by their results (promote_by "score"), mobster's default before the
    # thirtieth session: the stored hpo-mobster runs made before then are kept under this name
    "hpo-mobster-scorerank": ("mobster", _mobster_d618abb(promote_by="score")),
}
# the mobster variants above were measured with the dimension-scaled prior and uniform random
# initial trials, the other variants with uniform random initial trials, and keep them, so their
# stored runs stay reproducible (hpo-mobster-sobol runs what hpo-mobster runs now); the mobster
# variants that name no acquisition_fidelity were measured with "max", the default before the
# twenty-third session (d618abb), and keep it too; every mobster variant that names no
# promote_by was measured with "score", the default before the thirtieth session, and every one
# with auto_min 8, the default before the thirty-second, and auto_z 0, the default before the
# thirty-third. A run stored
# from now on records its settings (run_settings), so that a later change of a default is caught
# rather than mixed in.
for _sched, _params in HPO_VARIANTS.values():
    if _sched == "mobster":
        _params.setdefault("lengthscale_prior", "dim_scaled")
        _params.setdefault("acquisition_fidelity", "max")
        _params.setdefault("promote_by", "score")
        _params.setdefault("auto_min", 8)
        _params.setdefault("auto_z", 0.0)
        _params.setdefault("skip_repeats", False)
    if _sched in ("mobster", "bo", "hypertune"):
        _params.setdefault("initial_design", "random")
# variants added from the forty-first session on vary today's defaults (their runs record their
# settings, so a later change of a default is caught): not filled in above
HPO_VARIANTS.update(
    {
        # skip_repeats: a rung leaves out results whose curve up to it repeats an earlier
        # result's exactly (a table's row read again), so such copies are never promoted;
        # mobster's default ("auto": true in the promotion variant) since the forty-third
        # session, so hpo-mobster runs what this runs, and its stored runs were copied there
        "hpo-mobster-norep": ("mobster", {"skip_repeats": True}),
        # mobster's default before the forty-third session (repeated curves kept in the rungs):
        # the stored hpo-mobster runs made before then are kept under this name
        "hpo-mobster-rep": ("mobster", {"skip_repeats": False}),
        # probes of the forty-fifth session on Hartmann6's local minimum (today's defaults and
        # one change): a fifth of the proposals uniformly at random; asynchronous Hyperband's
        # brackets; the scores straight to the GP. Two more (hpo-mobster-ts, -tsei: the
        # acquisition's optimizer started by Thompson draws) ran on the code of 18fddb7, which
        # is not kept (docs/benchmarks.md, session 45)
        "hpo-mobster-rf20d": ("mobster", {"random_fraction": 0.2}),
        "hpo-mobster-hbd": ("mobster", {"brackets": "all"}),
        "hpo-mobster-nowarpd": ("mobster", {"output_warping": False}),
        # ASHA's stopping variant, as Syne Tune's MOBSTER runs by default (type "stopping")
        "hpo-mobster-stopd": ("mobster", {"variant": "stopping"}),
    }
)


def add_hpo_run_args(
    ap: argparse.ArgumentParser,
    *,
    benchmark: str,
    methods: str = "hpo-mobster",
    hours: float = 8.0,
    choices: Any = None,
) -> None:
    """``--benchmark``, ``--methods``, ``--seeds``, ``--workers`` and ``--hours`` of the scripts
    that run hpo's schedulers alone (benchmarks.rung_reach, benchmarks.boundary,
    benchmarks.tabular.coverage), with their defaults; ``choices``: the benchmarks allowed (every
    synthetic and tabular one by default). ``hpo_methods_and_seeds`` checks the values."""
    ap.add_argument(
        "--benchmark", default=benchmark, choices=sorted(choices or [*SYNTHETIC, *TABULAR])
    )
    ap.add_argument("--methods", default=methods)
    ap.add_argument("--seeds", default="0", help="comma-separated seeds")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--hours", type=float, default=hours, help="simulated time budget")


def add_setting_args(ap: argparse.ArgumentParser) -> None:
    """The arguments that name one setting of stored runs (``SavedRuns``: benchmark, simulated
    hours, noise, workers) and its seeds 0..N-1, for the scripts that read ``--runs-dir``."""
    ap.add_argument("--benchmark", required=True, choices=sorted([*SYNTHETIC, *TABULAR]))
    ap.add_argument("--hours", type=float, required=True)
    ap.add_argument("--noise", type=float, default=0.0)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1")


def regret_scale(bb: Any) -> float:
    """What regret is normalized by: the median regret of 2,000 uniformly random configurations
    (drawn with a fixed seed, so every script and table divides by the same number)."""
    rng = random.Random(12345)
    return statistics.median(bb.true_value(bb.sample(rng)) for _ in range(2000)) - bb.optimum


def hpo_methods_and_seeds(
    ap: argparse.ArgumentParser, methods: str, seeds: str
) -> tuple[list[str], list[int]]:
    """``--methods`` and ``--seeds`` (comma-separated) of the scripts that run hpo's schedulers
    alone (benchmarks.rung_reach, benchmarks.tabular.coverage): ``ap.error`` on a peer's method,
    an unknown one, or a seed that is not an integer."""
    names = [m for m in methods.split(",") if m]
    unknown = [m for m in names if m not in HPO_METHODS and m not in HPO_VARIANTS]
    if unknown:
        ap.error(f"not hpo methods: {unknown} (these scripts run hpo's schedulers only)")
    try:
        numbers = [int(x) for x in seeds.split(",") if x.strip()]
    except ValueError:
        ap.error(f"--seeds must be comma-separated integers, got {seeds!r}")
    if not names or not numbers:
        ap.error("--methods and --seeds must not be empty")
    return names, numbers


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Inside: log records below ERROR and every warning (BoTorch's and linear_operator's
    numerical ones) are dropped; on leaving, both are as before, so that a script's ``main``
    called in-process (the tests) leaves logging and warnings to whatever runs next."""
    import logging
    import warnings

    before = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(before)


def hpo_scheduler(method: str) -> tuple[str, dict[str, Any]]:
    """(scheduler name, parameters other than the seed) of one of hpo's methods."""
    if method in HPO_VARIANTS:
        return HPO_VARIANTS[method]
    return HPO_METHODS[method], {}


def run_settings(method: str) -> dict[str, Any] | None:
    """What a run of one of hpo's methods is made with: the scheduler's name and every parameter
    it takes (the method's, and the scheduler's defaults of the day for the rest; the seed
    aside), as JSON values. Stored with each run (``SavedRuns``, ``Checkpoint``), so that a run
    made before a default changed is not taken for a run of the method as it is now. None for
    the peers."""
    if method not in HPO_METHODS and method not in HPO_VARIANTS:
        return None
    from hpo.schedulers import SCHEDULERS, scheduler_defaults

    name, params = hpo_scheduler(method)
    defaults = scheduler_defaults(SCHEDULERS[name])
    defaults.pop("seed", None)
    return json.loads(json.dumps({"scheduler": name, **defaults, **params}))


class StaleRun(Exception):
    """A stored run (or checkpoint) was made with other settings than its method has now."""


# parameters added after stored runs began to record their settings, each with the value that
# gives the behaviour from before it existed: a stored run that lacks one was made with that value
PARAMS_BEFORE: dict[str, Any] = {
    "promote_by": "score",
    "auto_min": 8,
    "auto_z": 0.0,
    "skip_repeats": False,
    "points_to_evaluate": None,  # every scheduler's since the forty-sixth session
}


def _resolved(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with mobster's ``skip_repeats`` as the value it stands for
    (``resolved_skip_repeats``: ``"auto"`` is true in the promotion variant), so that a run made
    with that value spelled out is the same run."""
    if settings.get("scheduler") != "mobster" or "skip_repeats" not in settings:
        return settings
    from hpo.schedulers.bo import resolved_skip_repeats

    variant = settings.get("variant", "promotion")
    return {**settings, "skip_repeats": resolved_skip_repeats(settings["skip_repeats"], variant)}


def check_settings(method: str, stored: Any, where: Path) -> None:
    """Raise ``StaleRun`` where ``stored`` (a run's recorded settings; None: recorded before
    settings were) differs from ``run_settings(method)``, naming the parameters that differ."""
    if stored is None:
        return
    now = run_settings(method)
    if now is None:
        return
    stored = {**{k: v for k, v in PARAMS_BEFORE.items() if k in now}, **stored}
    same_as, same_now = _resolved(stored), _resolved(now)
    if same_as == same_now:
        return
    absent = "(absent)"  # a key one side lacks is named too, even where the other holds None
    keys = sorted(
        k for k in stored.keys() | now.keys() if same_as.get(k, absent) != same_now.get(k, absent)
    )
    was = ", ".join(f"{k}={stored.get(k, absent)!r}" for k in keys)
    is_ = ", ".join(f"{k}={now.get(k, absent)!r}" for k in keys)
    raise StaleRun(
        f"{where} was made with {was}, but {method} now runs {is_}: move the file away, or "
        "give the old settings a variant of their own in benchmarks/compare.py"
    )


OPTUNA_METHODS = (
    "optuna-random",
    "optuna-tpe",
    "optuna-tpe-hyperband",
    "optuna-random-sha",
    "optuna-gp",
)
FRACTIONS = (0.25, 0.5, 1.0)


def make_benchmark(name: str, noise: float = 0.0) -> Any:
    if name in SYNTHETIC:
        return SYNTHETIC[name](noise=noise)
    from benchmarks.tabular import load

    return load(name)


def _trajectory(bb: SyntheticBenchmark, events: list[tuple[float, dict, float]]):
    """[(time, value)] from (time, config, reported value) events: the true value of the
    incumbent (synthetic functions), or the best value observed so far (tables)."""
    observed = getattr(bb, "observed_regret", False)
    best = math.inf
    out = []
    for t, cfg, v in sorted(events, key=lambda e: e[0]):
        if v < best:
            best = v
            out.append((t, v if observed else bb.true_value(cfg)))
    return out


def run_origin() -> str:
    """Where and from what code a run is made: "<host>, code of <commit>, <date> (<stack>)". The
    host is ``HPO_RUNS_HOST`` or "<hostname> (<n> CPU cores)"; the commit is ``HPO_RUNS_CODE`` or
    git's short HEAD of this checkout, marked "+ uncommitted changes" when the code that runs
    (hpo/, schedulers/, surrogates/, benchmarks/) differs from it; the date is UTC; the stack is
    ``numeric_stack()``. The same code on another machine, or on the same machine name with
    other builds, is another draw of every seed (docs/benchmarks.md), so it is recorded."""
    import platform

    host = os.environ.get("HPO_RUNS_HOST") or f"{platform.node()} ({os.cpu_count()} CPU cores)"
    code = os.environ.get("HPO_RUNS_CODE") or _git_code()
    date = time.strftime("%Y-%m-%d", time.gmtime())
    return f"{host}, code of {code}, {date} ({numeric_stack()})"


def numeric_stack() -> str:
    """The versions of the numerical libraries a GP run's floating point depends on and the CPU
    model: "torch 2.13.0+cpu, botorch 0.18.1, gpytorch 1.15.2, numpy 2.4.6, scipy 1.17.1; <cpu>"
    (a library not installed is left out; the CPU is "unknown CPU" where /proc/cpuinfo is not)."""
    libs = package_versions(("torch", "botorch", "gpytorch", "numpy", "scipy"))
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{', '.join(libs)}; {cpu}"


def _git_code() -> str:
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=True
        )
        return out.stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "hpo", "schedulers", "surrogates", "benchmarks")
    except (OSError, subprocess.SubprocessError):
        return "an unknown commit (no git here; set HPO_RUNS_CODE)"
    return head + (" + uncommitted changes" if dirty else "")


def _with_origin(origins: list[str], origin: str) -> list[str]:
    """``origins`` with ``origin`` appended unless it is already the last one (as it is, too,
    when the last one is ``origin`` with the stack of the interpreter that ran the search
    appended, as Syne Tune's legacy runner records it: ``synetune_legacy_runner.origin_here``)."""
    return origins if origins and origins[-1].startswith(origin) else [*origins, origin]


class Checkpoint:
    """An hpo run's resumable state in one gzipped pickle: the study's SQLite database (a consistent
    copy through SQLite's backup API), the simulated executor's ``snapshot()`` and the real seconds
    spent so far. ``save`` is called after every change of the run and writes at most every
    ``every_s`` real seconds, whole (a temporary file renamed), so a process killed at any moment
    leaves the previous checkpoint; the run it resumes continues on the same simulated clock, with
    the coordinator and scheduler rebuilt from the stored history.
    """

    def __init__(
        self,
        path: Path,
        every_s: float = 30.0,
        origin: str | None = None,
        settings: dict[str, Any] | None = None,
    ):
        self.path = Path(path)
        self.settings = settings  # the run's (run_settings), kept with its state
        self.every_s = every_s
        self.prior_s = 0.0  # real seconds spent before this process (from the checkpoint)
        self._t0 = time.perf_counter()
        self._last = time.perf_counter()
        self.origins: list[str] = []  # where the run ran before this process (run_origin)
        # this invocation's (SavedRuns.origin, found when it started), else found at the first save
        self._origin = origin

    @staticmethod
    def read(path: Path) -> dict[str, Any]:
        """The checkpoint stored at ``path``, as ``save`` wrote it."""
        return pickle.loads(gzip.decompress(Path(path).read_bytes()))

    def load(self) -> tuple[bytes, dict[str, Any]] | None:
        if not self.path.exists():
            return None
        data = self.read(self.path)
        self.prior_s = data["seconds"]
        self.origins = list(data.get("from", []))
        return data["db"], data["executor"]

    def seconds(self) -> float:
        return self.prior_s + time.perf_counter() - self._t0

    def save(self, db: Path, executor: Any) -> None:
        if time.perf_counter() - self._last < self.every_s:
            return
        import sqlite3

        src, mem = sqlite3.connect(db), sqlite3.connect(":memory:")
        try:
            src.backup(mem)
            image = mem.serialize()
        finally:
            src.close()
            mem.close()
        if self._origin is None:
            self._origin = run_origin()
        data = {
            "db": image,
            "executor": executor.snapshot(),
            "seconds": self.seconds(),
            "from": _with_origin(self.origins, self._origin),
        }
        if self.settings is not None:
            data["settings"] = self.settings
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")  # not SavedRuns' <run>.tmp
        tmp.write_bytes(gzip.compress(pickle.dumps(data), compresslevel=1))
        tmp.replace(self.path)
        self._last = time.perf_counter()


def settled_note(share: float | None, from_checkpoint: bool = False) -> str:
    """What a run's file says when the run was stored once settled, at ``share`` of the budget
    (None: not known); ``from_checkpoint``: stored afterwards from its checkpoint
    (``benchmarks.unfinished.store_settled``), not by the run itself."""
    where = "?" if share is None else f"{share:.0%}"
    source = " from its checkpoint" if from_checkpoint else ""
    return (
        f"stored{source} at {where} of the budget, where it had observed the table's best "
        "value: the rest of the run could not change its trajectory "
        "(benchmarks.unfinished.settled); seconds are those spent until then"
    )


class _Settled(Exception):
    """Stops a table run that has observed the table's best value (``run_hpo``'s
    ``settled_out``), at simulated time ``at``."""

    def __init__(self, at: float):
        super().__init__(at)
        self.at = at


def run_hpo(
    bb: SyntheticBenchmark,
    scheduler: str | tuple[str, dict[str, Any]],
    seed: int,
    workers: int,
    limit_s: float,
    checkpoint: Checkpoint | None = None,
    trials_out: list[tuple[int, dict[str, Any], float]] | None = None,
    trace_out: list[tuple[float, int, int, float]] | None = None,
    settled_out: list[float] | None = None,
):
    """One hpo run on the simulated clock; with ``checkpoint``, resumed from it when it exists
    and saved to it as the run goes. ``scheduler``: a name, or (name, parameters).
    ``trials_out`` receives every trial's (number, config, last fidelity reached), ``trace_out``
    every report's (simulated time, trial number, epoch, value).

    With ``settled_out`` on a table (``observed_regret``), the run stops as soon as a report
    reaches the table's best value, and ``settled_out`` receives that simulated time: from then
    on the trajectory (the best value observed so far) cannot change, so the rest of the budget
    would only cost real time (``benchmarks.unfinished.settled`` does the same for a run's
    checkpoint). On a synthetic function it does nothing: the incumbent's true value can still
    change."""
    import hpo
    from hpo.coordinator import Coordinator
    from hpo.executors.simulated import SimulatedExecutor
    from hpo.runner import Driver

    name, params = (scheduler, {}) if isinstance(scheduler, str) else scheduler
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "sim.db"
        saved = checkpoint.load() if checkpoint is not None else None
        if saved is not None:
            db.write_bytes(saved[0])
        c = hpo.Client(f"sqlite:///{db}")
        if saved is not None:
            s = c.storage.get_study("sim")
        else:
            s = c.create_study(
                "sim",
                bb.space,
                "loss",
                fidelity={"name": "epoch", "min": 1, "max": bb.max_epochs},
                scheduler={"name": name, "params": {**params, "seed": seed}},
                budget={"max_trials": 100_000},
            )
        ex = SimulatedExecutor(bb, n_workers=workers, time_limit_s=limit_s)
        # simulated workers never die: leases must not expire while a run waits to be resumed
        coord = Coordinator(c.storage, s, lease_s=1e9)
        if saved is not None:
            ex.restore(saved[1])
        watch = settled_out is not None and getattr(bb, "observed_regret", False)
        seen = 0  # trace events already looked at

        def on_progress(_coord: Any) -> None:
            nonlocal seen
            if watch:
                new, seen = ex.trace[seen:], len(ex.trace)
                if any(e.value <= bb.optimum for e in new):
                    raise _Settled(ex.now)
            if checkpoint is not None:
                checkpoint.save(db, ex)

        try:
            Driver(coord, ex, on_progress=on_progress).run()
        except _Settled as e:
            assert settled_out is not None
            settled_out.append(e.at)
        trials = c.trials(s)
        configs = {t.number: dict(t.config) for t in trials}
        if trials_out is not None:
            trials_out.extend((t.number, dict(t.config), float(t.last_step or 0)) for t in trials)
        if trace_out is not None:
            trace_out.extend((e.time, e.trial, e.epoch, e.value) for e in ex.trace)
        c.storage.close()
    return _trajectory(bb, [(e.time, configs[e.trial], e.value) for e in ex.trace])


def run_optuna(bb: SyntheticBenchmark, method: str, seed: int, workers: int, limit_s: float):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if "random" in method:
        sampler: Any = optuna.samplers.RandomSampler(seed=seed)
    elif "gp" in method:
        sampler = optuna.samplers.GPSampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed)
    if method.endswith("hyperband"):
        pruner: Any = optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=bb.max_epochs, reduction_factor=3
        )
    elif method.endswith("sha"):
        pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    else:
        pruner = optuna.pruners.NopPruner()
    # A fixed name: HyperbandPruner assigns brackets by a hash of the study's name and the trial
    # number, so Optuna's default (a random uuid) would make runs irreproducible.
    study = optuna.create_study(
        study_name=f"compare-{method}-{seed}", direction="minimize", sampler=sampler, pruner=pruner
    )
    heap: list[tuple[float, int, int]] = []  # (time, order, worker)
    state: dict[int, tuple[Any, dict, int]] = {}  # worker -> (trial, config, epoch running)
    events: list[tuple[float, dict, float]] = []
    order = 0

    def start(w: int, now: float) -> None:
        nonlocal order
        trial = study.ask()
        cfg = {
            k: (trial.suggest_int if v["type"] == "int" else trial.suggest_float)(
                k, v["low"], v["high"], log=bool(v.get("log", False))
            )
            for k, v in bb.space.items()
        }
        state[w] = (trial, cfg, 1)
        heapq.heappush(heap, (now + bb.cost(cfg, 1), order, w))
        order += 1

    for w in range(workers):
        start(w, 0.0)
    while heap and heap[0][0] <= limit_s:
        now, _, w = heapq.heappop(heap)
        trial, cfg, epoch = state[w]
        v = bb.value(cfg, epoch)
        events.append((now, cfg, v))
        trial.report(v, epoch)
        if epoch == bb.max_epochs:
            study.tell(trial, v)
        elif trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            state[w] = (trial, cfg, epoch + 1)
            heapq.heappush(heap, (now + bb.cost(cfg, epoch + 1), order, w))
            order += 1
            continue
        start(w, now)
    return _trajectory(bb, events)


def regret_at(
    traj: list[tuple[float, float]],
    t: float,
    bb: SyntheticBenchmark,
    scale: float,
    missing: float = 1.0,
):
    """Normalized regret of the incumbent at time t; ``missing`` before the first result."""
    value = None
    for tt, v in traj:
        if tt > t:
            break
        value = v
    return missing if value is None else max(value - bb.optimum, 0.0) / scale


def regret_curves(
    runs: list[list[tuple[float, float]]], grid, bb, scale: float
) -> list[list[float]]:
    """Each run's normalized regret at each time of ``grid`` (inf before its first result)."""
    return [[regret_at(tr, t, bb, scale, missing=math.inf) for t in grid] for tr in runs]


def mean_curve(per_run: list[list[float]]) -> list[float]:
    """The mean over runs of ``regret_curves`` at each time."""
    return [statistics.mean(col) for col in zip(*per_run, strict=True)]


def tied_ranks(values: dict[str, float]) -> dict[str, float]:
    """Rank of each key by its value, lowest first; tied keys share the mean of their ranks (so
    a method equal to another is not ranked ahead of it for being listed first)."""
    out = {}
    for k, v in values.items():
        below = sum(1 for x in values.values() if x < v)
        tied = sum(1 for x in values.values() if x == v)
        out[k] = below + (tied + 1) / 2
    return out


def _percentile(xs: list[float], q: float) -> float:
    """The ``q`` quantile of ``xs`` (linear between order statistics, numpy's default)."""
    import numpy as np

    return float(np.quantile(np.asarray(xs, dtype=float), q))


def regret_cell(x: float) -> str:
    """A table's regret: four decimals, or two significant digits below 0.001, where four
    decimals would print 0.0000 for every method (branin-mf's finals are 1e-6 to 1e-4)."""
    return f"{x:.4f}" if x == 0 or x >= 1e-3 else f"{x:.1e}"


def time_grid(limit_s: float, points: int = 400) -> list[float]:
    """The simulated times at which the tables read every run's regret: ``points`` equal steps
    up to ``limit_s``, the first one step in."""
    return [limit_s * i / points for i in range(1, points + 1)]


def time_to_reach(curve: list[float], grid, target: float) -> float | None:
    """The first time of ``grid`` where ``curve`` is at or below ``target`` (None: never)."""
    for t, v in zip(grid, curve, strict=True):
        if v <= target:
            return t
    return None


def speedups(curves: dict[str, list[float]], grid, peers: list[str]) -> tuple[str, dict]:
    """The best peer (lowest mean regret at the end) and, per method, the simulated time to reach
    that peer's final mean regret and the speed-up (peer's time / method's time; > 1: faster)."""
    best = min(peers, key=lambda m: curves[m][-1])
    target = curves[best][-1]
    t_peer = time_to_reach(curves[best], grid, target)
    out = {}
    for m, c in curves.items():
        t = time_to_reach(c, grid, target)
        out[m] = (t, None if t is None or t_peer is None else t_peer / t)
    return best, out


def speedup_band(ratios: list[float]) -> tuple[float, float]:
    """The 10th and 90th percentiles of ``bootstrap_target``'s speed-ups (0: not reached)."""
    return _percentile(ratios, 0.1), _percentile(ratios, 0.9)


def ratio_cell(ratio: float | None) -> str:
    """A speed-up as the tables print it: "2.06x", or "not reached" (None or 0)."""
    return "not reached" if not ratio else f"{ratio:.2f}x"


def band_cell(lo: float, hi: float) -> str:
    """A ``speedup_band`` as the tables print it: "1.78x to 2.49x", "not reached to 2.09x", or
    "not reached" where even the 90th percentile never reaches the target."""
    return "not reached" if not hi else f"{ratio_cell(lo)} to {ratio_cell(hi)}"


def bootstrap_target(
    per_run: dict[str, list[list[float]]],
    grid,
    peers: list[str],
    reps: int,
    seed: int = 0,
) -> dict[str, dict[str, list[float]]]:
    """Issue 7's two targets over ``reps`` seed resamples: each method's runs (its regret curves
    on ``grid``) drawn with replacement, independently per method, then the mean curves, the best
    peer and its final taken again from each resample (Efron and Tibshirani 1993, "An
    Introduction to the Bootstrap", ch. 13, the percentile interval). Per method:
    ``"speedup"``, the ``speedups`` ratio of each resample (0 where it never reaches the target);
    ``"best"``, 1.0 where its final mean regret is at or below every other peer's, else 0.0.
    Their spread says how much of a table's verdict another draw of the same number of seeds
    keeps."""
    import numpy as np

    rng = np.random.default_rng(seed)
    mats = {m: np.asarray(c, dtype=float) for m, c in per_run.items()}
    out: dict[str, dict[str, list[float]]] = {m: {"speedup": [], "best": []} for m in mats}
    for _ in range(reps):
        curves = {m: list(a[rng.integers(0, len(a), len(a))].mean(axis=0)) for m, a in mats.items()}
        _, sp = speedups(curves, grid, peers)
        for m, (_, ratio) in sp.items():
            out[m]["speedup"].append(0.0 if ratio is None else ratio)
            others = [curves[p][-1] for p in peers if p != m]
            out[m]["best"].append(float(not others or curves[m][-1] <= min(others)))
    return out


def _run_one(
    benchmark: str,
    noise: float,
    workers: int,
    limit: float,
    method: str,
    seed: int,
    bb: Any = None,
    checkpoint: str | None = None,
    origin: str | None = None,
    stop_settled: bool = False,
) -> tuple[list[tuple[float, float]], float] | tuple[list[tuple[float, float]], float, str] | str:
    """One seed of one method: (trajectory, real seconds), or why the method is unavailable.
    A top-level function, so that ``--jobs`` can run it in other processes. hpo's methods and
    Syne Tune's (``CHECKPOINTED``) resume from and save to the file ``checkpoint`` when given
    (the real seconds then sum over the processes that ran it), which records ``origin`` as
    where this part ran. With ``stop_settled``, an hpo run on a table stops once it has observed
    the table's best value (``run_hpo``'s ``settled_out``), and a third item says so."""
    import logging

    logging.getLogger("hpo").setLevel(logging.ERROR)  # runs cut by the time limit are expected
    bb = bb if bb is not None else make_benchmark(benchmark, noise)
    t0 = time.perf_counter()
    try:
        if method in HPO_METHODS or method in HPO_VARIANTS:
            ck = (
                Checkpoint(Path(checkpoint), origin=origin, settings=run_settings(method))
                if checkpoint
                else None
            )
            at: list[float] = []
            traj = run_hpo(
                bb,
                hpo_scheduler(method),
                seed,
                workers,
                limit,
                ck,
                settled_out=at if stop_settled else None,
            )
            seconds = ck.seconds() if ck is not None else time.perf_counter() - t0
            if at:
                return traj, seconds, settled_note(at[0] / limit)
            return traj, seconds
        elif method in OPTUNA_METHODS:
            traj = run_optuna(bb, method, seed, workers, limit)
        elif method in CHECKPOINTED and checkpoint:
            # Syne Tune's searches keep their own checkpoint (benchmarks.peers.synetune), in the
            # same file layout, so the real seconds sum over the processes that ran it
            part = Path(checkpoint)
            prior = Checkpoint.read(part)["seconds"] if part.exists() else 0.0
            where = origin or run_origin()
            events = run_peer(bb, method, seed, workers, limit, checkpoint=part, origin=where)
            return _trajectory(bb, events), prior + time.perf_counter() - t0
        else:
            traj = _trajectory(bb, run_peer(bb, method, seed, workers, limit))
    except MethodUnavailable as e:
        return str(e)
    return traj, time.perf_counter() - t0


class SavedRuns:
    """Finished (method, seed) runs of one comparison setting, one JSON file each.

    ``root/<benchmark>-w<workers>-h<hours>-n<noise>/<method>-seed<seed>.json`` holds the
    trajectory and the real seconds (or why the method was unavailable); files are written
    whole (a temporary file renamed). An hpo or Syne Tune run killed mid-way leaves its last
    checkpoint in ``<method>-seed<seed>.partial`` (at most 30 real seconds old), from which the
    next invocation goes on; Optuna's and Ray Tune's runs start again. Each file's ``"from"``
    says where the run ran (``run_origin``; every place in turn for a run resumed from its
    checkpoint). The origin is found once, when the invocation starts (``origin``), since that
    is the code its processes import: a commit made while the runs go on does not change it.
    ``read_only`` (tables from stored runs, ``--saved-only``) skips it: nothing is saved, so
    git is not asked.
    """

    def __init__(
        self,
        root: str | None,
        benchmark: str,
        workers: int,
        hours: float,
        noise: float,
        read_only: bool = False,
    ):
        self.dir = (
            None if root is None else Path(root) / f"{benchmark}-w{workers}-h{hours:g}-n{noise:g}"
        )
        self.read_only = read_only
        self.origin = run_origin() if self.dir is not None and not read_only else None

    def _path(self, method: str, seed: int) -> Path:
        assert self.dir is not None
        return self.dir / f"{method}-seed{seed}.json"

    def load(self, method: str, seed: int) -> Any:
        """The stored run, or None; raises ``StaleRun`` where the run or the checkpoint it would
        resume from was made with other settings than ``method`` has now."""
        if self.dir is None:
            return None
        if not self._path(method, seed).exists():
            stored = self._checkpoint_data(method, seed).get("settings")
            check_settings(method, stored, self._partial(method, seed))
            return None
        data = json.loads(self._path(method, seed).read_text())
        check_settings(method, data.get("settings"), self._path(method, seed))
        if "unavailable" in data:
            return data["unavailable"]
        return [tuple(p) for p in data["trajectory"]], data["seconds"]

    def checkpoint(self, method: str, seed: int) -> str | None:
        """Where an unfinished hpo or Syne Tune run keeps its state (``Checkpoint``, or Syne
        Tune's in the same layout), or None."""
        if self.dir is None:
            return None
        return str(self._partial(method, seed))

    def methods(self, checkpoints: bool = False) -> set[str]:
        """The methods with a finished run stored here; with ``checkpoints``, also those with
        only an unfinished run's checkpoint."""
        if self.dir is None:
            return set()
        suffixes = (".json", ".partial") if checkpoints else (".json",)
        return {
            p.name.rsplit("-seed", 1)[0] for x in suffixes for p in self.dir.glob(f"*-seed*{x}")
        }

    def _partial(self, method: str, seed: int) -> Path:
        return self._path(method, seed).with_suffix(".partial")

    def _checkpoint_data(self, method: str, seed: int) -> dict[str, Any]:
        """The run's checkpoint as ``Checkpoint.save`` wrote it ({} without a readable one)."""
        part = self._partial(method, seed)
        if not part.exists():
            return {}
        try:
            return Checkpoint.read(part)
        except (OSError, EOFError, pickle.UnpicklingError):
            return {}

    def _origins(self, method: str, seed: int) -> list[str]:
        """Where the run's checkpoint says it ran before (none without a checkpoint)."""
        return list(self._checkpoint_data(method, seed).get("from", []))

    def save(self, method: str, seed: int, result: Any) -> Any:
        if self.read_only:
            raise RuntimeError("SavedRuns opened read_only (--saved-only) saves nothing")
        if self.dir is None:
            return result
        if isinstance(result, str) and self._partial(method, seed).exists():
            # a run begun elsewhere cannot go on here (its peer library is missing): keep its
            # checkpoint for a host that can, and store nothing that would mark it done
            return result
        self.dir.mkdir(parents=True, exist_ok=True)
        if isinstance(result, str):
            data: dict[str, Any] = {"unavailable": result}
        else:
            data = {"trajectory": result[0], "seconds": result[1]}
            settings = run_settings(method)
            if settings is not None:
                data["settings"] = settings
            if len(result) > 2:  # stopped once settled (_run_one's stop_settled)
                data["settled"] = result[2]
                result = result[:2]
        assert self.origin is not None
        data["from"] = "; then ".join(_with_origin(self._origins(method, seed), self.origin))
        tmp = self._path(method, seed).with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self._path(method, seed))
        self._partial(method, seed).unlink(missing_ok=True)
        return result


def _seed_words(seeds: range) -> str:
    """'5 seeds', or with --first-seed 'seeds 5-9' ('seed 9')."""
    if seeds.start == 0:
        return f"{len(seeds)} seeds"
    if len(seeds) == 1:
        return f"seed {seeds.start}"
    return f"seeds {seeds.start}-{seeds.stop - 1}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__)
    ap.add_argument("--benchmark", default="branin-mf", choices=sorted([*SYNTHETIC, *TABULAR]))
    ap.add_argument(
        "--methods",
        default=",".join([*HPO_METHODS, *OPTUNA_METHODS]),
        help="comma-separated, from "
        + ", ".join([*HPO_METHODS, *HPO_VARIANTS, *OPTUNA_METHODS, *PEER_METHODS]),
    )
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="run and tabulate seeds first-seed .. seeds-1 only (to split seeds between hosts; "
        "a table of all of them reads every seed's file with --saved-only)",
    )
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--hours", type=float, default=8.0, help="simulated time budget")
    ap.add_argument("--noise", type=float, default=0.0)
    ap.add_argument("--jobs", type=int, default=1, help="processes running (method, seed) pairs")
    ap.add_argument("--json", default=None, help="write raw trajectories here")
    ap.add_argument("--html", default=None, help="write a plotly figure of regret over time")
    ap.add_argument(
        "--runs-dir",
        default=None,
        help="keep each (method, seed) run here as it finishes and reuse the runs found there, "
        "so that an interrupted comparison goes on where it stopped (hpo's runs also keep a "
        "checkpoint every 30 real seconds and resume from it)",
    )
    ap.add_argument(
        "--stop-settled",
        action="store_true",
        help="on a table, stop each hpo run once it has observed the table's best value and "
        "store it (its trajectory can no longer change; the file says 'settled'); Syne Tune's "
        "runs are settled from their checkpoints by benchmarks.unfinished --store-settled",
    )
    ap.add_argument(
        "--saved-only",
        action="store_true",
        help="with --runs-dir: run nothing, tabulate the runs found (methods with missing seeds "
        "are listed and left out)",
    )
    ap.add_argument(
        "--reference",
        default=None,
        help="one of --methods: the speed-ups are to its final mean regret (default: the peer "
        "with the lowest, where any peer runs)",
    )
    ap.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        metavar="N",
        help="add, over N seed resamples, the 10th-90th percentile of each speed-up, the share "
        "of resamples at 2x or more, and the share where the method's final mean regret is at or "
        "below every other peer's (default 0: none)",
    )
    args = ap.parse_args(argv)
    if args.bootstrap < 0:
        ap.error("--bootstrap must be 0 or more")
    if not 0 <= args.first_seed < args.seeds:
        ap.error("--first-seed must be at least 0 and below --seeds")
    if args.saved_only and not args.runs_dir:
        ap.error("--saved-only needs --runs-dir")
    if args.html:
        try:
            import plotly  # noqa: F401
        except ImportError:
            ap.error("--html needs plotly (pip install plotly); leave it out or use --json")
    methods = [m for m in args.methods.split(",") if m]
    known = {*HPO_METHODS, *HPO_VARIANTS, *OPTUNA_METHODS, *PEER_METHODS}
    unknown = [m for m in methods if m not in known]
    if unknown:
        ap.error(f"unknown methods: {unknown}")
    if args.reference is not None and args.reference not in methods:
        ap.error(f"--reference {args.reference!r} is not one of --methods")
    bb = make_benchmark(args.benchmark, args.noise)
    scale = regret_scale(bb)
    limit = args.hours * 3600
    runs: dict[str, list[list[tuple[float, float]]]] = {}
    unavailable: dict[str, str] = {}
    wall: dict[str, float] = {}
    seeds = range(args.first_seed, args.seeds)
    # seed by seed, every method of a seed before the next seed's: a run cut short by a time
    # limit leaves whole seeds, paired across the methods
    jobs = [(m, seed) for seed in seeds for m in methods]
    spec = (args.benchmark, args.noise, args.workers, limit)
    saved = SavedRuns(
        args.runs_dir, args.benchmark, args.workers, args.hours, args.noise, args.saved_only
    )
    try:
        results: dict[tuple[str, int], Any] = {job: saved.load(*job) for job in jobs}
    except StaleRun as e:
        ap.error(str(e))
    todo = [job for job in jobs if results[job] is None and not args.saved_only]
    interrupted: dict[tuple[str, int], str] = {}

    def store(job: tuple[str, int], run: Any) -> None:
        """Saves the run ``run()`` returns; one killed from outside is left unsaved (its
        checkpoint, if any, is kept) while the other jobs go on."""
        try:
            results[job] = saved.save(*job, run())
        except RunInterrupted as e:
            interrupted[job] = str(e)

    if args.jobs > 1 and todo:
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from multiprocessing import get_context

        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            futures = {
                pool.submit(
                    _run_one,
                    *spec,
                    *job,
                    checkpoint=saved.checkpoint(*job),
                    origin=saved.origin,
                    stop_settled=args.stop_settled,
                ): job
                for job in todo
            }
            for fut in as_completed(futures):
                store(futures[fut], fut.result)
    else:
        for job in todo:
            store(
                job,
                lambda job=job: _run_one(
                    *spec,
                    *job,
                    bb=bb,
                    checkpoint=saved.checkpoint(*job),
                    origin=saved.origin,
                    stop_settled=args.stop_settled,
                ),
            )
    for (m, seed), why in interrupted.items():
        print(f"  {m:22s} seed {seed} interrupted: {why}", file=sys.stderr)
    missing = sorted({m for (m, _), r in results.items() if r is None})
    for m in missing:
        print(f"  {m:22s} left out: not every seed is in {args.runs_dir}", file=sys.stderr)
    methods = [m for m in methods if m not in missing]
    for m in methods:
        outs = [results[(m, seed)] for seed in seeds]
        why = next((o for o in outs if isinstance(o, str)), None)
        if why is not None:
            unavailable[m] = why
            print(f"  {m:22s} unavailable: {why}", file=sys.stderr, flush=True)
            continue
        runs[m] = [traj for traj, _ in outs]
        wall[m] = sum(sec for _, sec in outs)
        print(f"  {m:22s} {len(seeds)} seeds in {wall[m]:.1f}s", file=sys.stderr, flush=True)

    per_epoch = getattr(bb, "epoch_seconds", None)
    cost = f"{per_epoch:g}s" if per_epoch else f"measured {getattr(bb, 'cost_column', 'seconds')}"
    print(
        f"# {bb.name}: {args.workers} workers, {args.hours:g} simulated hours, "
        f"{bb.max_epochs} epochs x {cost}, {_seed_words(seeds)}, noise {args.noise}"
    )
    print(f"command: python -m benchmarks.compare {' '.join(argv or sys.argv[1:])}")
    for m, why in unavailable.items():
        print(f"unavailable: {m}: {why}")
    methods = [m for m in methods if m in runs]
    grid = time_grid(limit)
    per_run = {m: regret_curves(runs[m], grid, bb, scale) for m in methods}
    curves = {m: mean_curve(per_run[m]) for m in methods}
    peers = [m for m in methods if not m.startswith("hpo-")]
    if args.reference is not None:
        peers = [args.reference] if args.reference in runs else []
    best_peer, speed = speedups(curves, grid, peers) if peers else (None, {})
    head = " | ".join(f"regret @ {int(f * 100)}%" for f in FRACTIONS)
    extra = f" h to {best_peer}'s final | speed-up |" if best_peer else ""
    use_boot = bool(best_peer) and args.bootstrap > 0
    boot = bootstrap_target(per_run, grid, peers, args.bootstrap) if use_boot else {}
    if boot:
        extra += f" speed-up 10-90% ({args.bootstrap} resamples) | share >= 2x | share best |"
    print(f"\n| method | {head} | mean rank at end | real s (sum over seeds) |{extra}")
    ncol = len(FRACTIONS) + 2 + (2 if best_peer else 0) + (3 if boot else 0)
    print("|---|" + "---:|" * ncol)
    finals = {m: [regret_at(tr, limit, bb, scale) for tr in runs[m]] for m in methods}
    ranks: dict[str, list[float]] = {m: [] for m in methods}
    for i in range(len(seeds)):
        for m, r in tied_ranks({x: finals[x][i] for x in methods}).items():
            ranks[m].append(r)
    for m in methods:
        cells = []
        for f in FRACTIONS:
            xs = [regret_at(tr, f * limit, bb, scale) for tr in runs[m]]
            se = statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else 0.0
            cells.append(f"{regret_cell(statistics.mean(xs))} ± {regret_cell(se)}")
        row = f"| {m} | {' | '.join(cells)} | {statistics.mean(ranks[m]):.2f} | {wall[m]:.1f} |"
        if best_peer:
            t, ratio = speed[m]
            row += " not reached | — |" if t is None else f" {t / 3600:.2f} | {ratio:.2f}x |"
        if boot:
            ratios = boot[m]["speedup"]
            share = sum(r >= 2.0 for r in ratios) / len(ratios)
            best = statistics.mean(boot[m]["best"])
            row += f" {band_cell(*speedup_band(ratios))} | {share:.0%} | {best:.0%} |"
        print(row)
    if args.json:
        Path(args.json).write_text(json.dumps({"scale": scale, "runs": runs, "curves": curves}))
    if args.html:
        import plotly.graph_objects as go

        fig = go.Figure()
        for m in methods:
            fig.add_trace(go.Scatter(x=[t / 3600 for t in grid], y=curves[m], name=m, mode="lines"))
        fig.update_layout(
            title=f"{bb.name}: normalized regret, mean over {_seed_words(seeds)}",
            xaxis_title="simulated hours",
            yaxis_title="normalized regret",
            yaxis_type="log",
        )
        fig.write_html(args.html, include_plotlyjs="cdn")
    return 1 if interrupted else 0  # the tables lack the interrupted runs: run again to finish


if __name__ == "__main__":
    sys.exit(main())
