"""The Syne Tune adapter: its events replay our benchmark exactly, on our workers and clock."""

from __future__ import annotations

import gzip
import math
import os
import pickle
import random
import subprocess
import sys
from collections import defaultdict
from typing import Any

import pytest

pytest.importorskip("syne_tune", reason="syne-tune is not installed (the synetune-* peers)")

from benchmarks.compare import Checkpoint  # noqa: E402
from benchmarks.peers import run_peer, synetune  # noqa: E402
from benchmarks.peers.synetune import (  # noqa: E402
    LEGACY_PYTHON_ENV,
    REPO_ROOT,
    MethodUnavailable,
    RunInterrupted,
    run,
)
from benchmarks.synthetic import mf_branin  # noqa: E402

LIMIT_S = 3600.0
WORKERS = 2
LEGACY = ("mobster", "dehb", "hyperband-sync")  # syne-tune<0.15 only, in its own interpreter


class Mixed:
    """A benchmark of our own with log-scaled and integer parameters (not rebuildable by name)."""

    space = {
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "width": {"type": "int", "low": 16, "high": 512, "log": True},
        "depth": {"type": "int", "low": 1, "high": 4},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5},
    }
    max_epochs = 3

    def value(self, cfg: dict, epoch: int) -> float:
        return math.log(cfg["lr"]) + cfg["width"] / cfg["depth"] - cfg["dropout"] / epoch

    def cost(self, cfg: dict, epoch: int) -> float:
        return 10.0 * cfg["depth"]


@pytest.fixture(scope="module")
def branin():
    return mf_branin(max_epochs=9)


@pytest.fixture(scope="module")
def runs(branin):
    """One search per method on branin-mf, 9 epochs of 60 s, 2 workers, 1 simulated hour."""
    return {m: run(branin, m, 0, WORKERS, LIMIT_S) for m in ("asha", "hyperband", "bohb")}


def _trials(events: list[tuple[float, dict, float]]) -> dict[tuple, list[tuple[float, float]]]:
    """(time, value) per trial, a trial being its config (continuous draws do not repeat)."""
    out: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    for t, cfg, v in events:
        out[tuple(sorted(cfg.items()))].append((t, v))
    return out


def _in_space(space: dict, cfg: dict[str, Any]) -> bool:
    if set(cfg) != set(space):
        return False
    for k, p in space.items():
        want = int if p["type"] == "int" else float
        if type(cfg[k]) is not want or not p["low"] <= cfg[k] <= p["high"]:
            return False
    return True


@pytest.mark.parametrize("method", ["asha", "hyperband", "bohb"])
def test_events_lie_within_the_simulated_budget_and_the_space(runs, branin, method):
    events = runs[method]
    assert len(events) > 50  # 2 workers x 60 epoch slots, less the time stops cost
    assert all(0 < t <= LIMIT_S for t, _, _ in events)
    assert all(_in_space(branin.space, cfg) for _, cfg, _ in events)
    assert [t for t, _, _ in events] == sorted(t for t, _, _ in events)


@pytest.mark.parametrize("method", ["asha", "hyperband", "bohb"])
def test_each_trial_reports_epochs_1_to_k_in_order_with_exact_values(runs, branin, method):
    for key, reports in _trials(runs[method]).items():
        cfg = dict(key)
        epochs = range(1, len(reports) + 1)
        assert len(reports) <= branin.max_epochs
        assert [v for _, v in reports] == [branin.value(cfg, e) for e in epochs]
        # each report comes one epoch's cost after the previous (Syne Tune: cumulative cost)
        gaps = [b - a for (a, _), (b, _) in zip(reports, reports[1:], strict=False)]
        assert gaps == pytest.approx([branin.cost(cfg, e) for e in epochs[1:]], abs=1e-6)


@pytest.mark.parametrize("method", ["asha", "hyperband", "bohb"])
def test_no_more_trials_run_at_once_than_workers(runs, branin, method):
    edges = []
    for key, reports in _trials(runs[method]).items():
        start = reports[0][0] - branin.cost(dict(key), 1)
        assert start >= -1e-9
        edges += [(start, 1), (reports[-1][0], -1)]
    running, most = 0, 0
    for _, step in sorted(edges):  # at a tie, an end (-1) comes before a start (+1)
        running += step
        most = max(most, running)
    assert most == WORKERS  # and the workers were used


def test_asha_stops_trials_only_at_its_rungs(runs, branin):
    trials = _trials(runs["asha"]).values()
    # rungs at epochs 1 and 3 (and the end, 9): a trial stops there, or the time limit cuts it
    cut = [r for r in trials if r[-1][0] + branin.epoch_seconds > LIMIT_S]
    lengths = [len(r) for r in trials if r not in cut]
    assert set(lengths) <= {1, 3, branin.max_epochs} and len(cut) <= WORKERS
    assert 1 in lengths and branin.max_epochs in lengths


def test_a_seed_replays_the_same_search(branin, runs):
    assert run(branin, "asha", 0, WORKERS, LIMIT_S) == runs["asha"]
    assert run(branin, "asha", 1, WORKERS, LIMIT_S) != runs["asha"]


def test_integer_and_log_parameters_keep_their_types_and_bounds():
    bb = Mixed()
    events = run(bb, "asha", 3, 2, 600.0)
    assert events and all(_in_space(bb.space, cfg) for _, cfg, _ in events)
    for key, reports in _trials(events).items():
        cfg = dict(key)
        assert [v for _, v in reports] == [bb.value(cfg, e) for e in range(1, len(reports) + 1)]


@pytest.mark.parametrize("method", ["mobster", "dehb"])
def test_methods_missing_from_syne_tune_say_why_and_how_to_enable_them(branin, method, monkeypatch):
    monkeypatch.delenv(LEGACY_PYTHON_ENV, raising=False)
    with pytest.raises(MethodUnavailable, match="removed") as e:
        run_peer(branin, f"synetune-{method}", 0, WORKERS, LIMIT_S)
    assert LEGACY_PYTHON_ENV in str(e.value) and "syne-tune[gpsearchers,kde]==0.13.0" in str(
        e.value
    )


def test_syne_tunes_stock_clock_adds_its_delays(branin):
    events = run(branin, "asha", 0, WORKERS, LIMIT_S, clock="syne-tune")
    assert events and all(0 < t <= LIMIT_S for t, _, _ in events)
    assert events[0][0] > branin.cost(events[0][1], 1)  # 0.05 s start + 0.05 s report delays


# --- syne-tune<0.15 (MOBSTER, DEHB, synchronous Hyperband) in the HPO_SYNETUNE_LEGACY_PYTHON
# interpreter, e.g. HPO_SYNETUNE_LEGACY_PYTHON=/tmp/st013/bin/python (syne-tune 0.13.0)


@pytest.fixture(scope="module")
def legacy_runs(branin):
    """One search per legacy method on branin-mf, 2 workers, 1 simulated hour; skipped where no
    legacy interpreter is set up."""
    if not os.environ.get(LEGACY_PYTHON_ENV):
        pytest.skip(f"{LEGACY_PYTHON_ENV} is unset: no interpreter with syne-tune<0.15")
    try:
        return {m: run(branin, m, 0, WORKERS, LIMIT_S) for m in LEGACY}
    except MethodUnavailable as e:
        pytest.skip(f"{LEGACY_PYTHON_ENV}={os.environ[LEGACY_PYTHON_ENV]} cannot run them: {e}")


def _epochs_at_once(events: list[tuple[float, dict, float]], bb: Any) -> int:
    """The most epochs computed at the same time: an event at t is its epoch, run on
    (t - cost, t] (paused trials hold no worker, so a trial's span is not one interval)."""
    edges = []
    for key, reports in _trials(events).items():
        for e, (t, _) in enumerate(reports, start=1):
            edges += [(t - bb.cost(dict(key), e) + 1e-6, 1), (t, -1)]
    running, most = 0, 0
    for _, step in sorted(edges):
        running += step
        most = max(most, running)
    return most


@pytest.mark.parametrize("method", LEGACY)
def test_legacy_events_lie_within_the_simulated_budget_and_the_space(legacy_runs, branin, method):
    events = legacy_runs[method]
    assert len(events) > 50
    assert all(0 < t <= LIMIT_S for t, _, _ in events)
    assert all(_in_space(branin.space, cfg) for _, cfg, _ in events)
    assert [t for t, _, _ in events] == sorted(t for t, _, _ in events)


@pytest.mark.parametrize("method", LEGACY)
def test_legacy_trials_report_epochs_1_to_k_in_order_with_exact_values(legacy_runs, branin, method):
    paused = 0
    for key, reports in _trials(legacy_runs[method]).items():
        cfg = dict(key)
        epochs = range(1, len(reports) + 1)
        assert len(reports) <= branin.max_epochs
        assert [v for _, v in reports] == [branin.value(cfg, e) for e in epochs]
        # an epoch's cost after the previous report, or later where the trial was paused
        for e in epochs[1:]:
            gap = reports[e - 1][0] - reports[e - 2][0]
            assert gap >= branin.cost(cfg, e) - 1e-6
            paused += gap > branin.cost(cfg, e) + 1e-6
    if method != "mobster":  # synchronous Hyperband pauses at its rungs; MOBSTER here stops
        assert paused > 0


@pytest.mark.parametrize("method", LEGACY)
def test_legacy_methods_run_no_more_epochs_at_once_than_workers(legacy_runs, branin, method):
    assert _epochs_at_once(legacy_runs[method], branin) == WORKERS


def test_legacy_mobster_stops_trials_only_at_its_rungs(legacy_runs, branin):
    trials = _trials(legacy_runs["mobster"]).values()
    cut = [r for r in trials if r[-1][0] + branin.epoch_seconds > LIMIT_S]
    lengths = [len(r) for r in trials if r not in cut]
    assert set(lengths) <= {1, 3, branin.max_epochs} and len(cut) <= WORKERS


def test_a_seed_replays_the_same_legacy_search(legacy_runs, branin):
    assert run(branin, "dehb", 0, WORKERS, LIMIT_S) == legacy_runs["dehb"]


def test_a_legacy_interpreter_that_does_not_run_is_reported(branin, monkeypatch):
    monkeypatch.setenv(LEGACY_PYTHON_ENV, "/nonexistent/bin/python")
    with pytest.raises(MethodUnavailable, match="does not run"):
        run(branin, "dehb", 0, WORKERS, LIMIT_S)


def test_a_benchmark_that_cannot_be_rebuilt_by_name_is_reported(monkeypatch):
    monkeypatch.setenv(LEGACY_PYTHON_ENV, "/nonexistent/bin/python")
    with pytest.raises(MethodUnavailable, match="Mixed cannot be rebuilt"):
        run(Mixed(), "mobster", 0, WORKERS, 600.0)


def test_a_table_is_rebuilt_by_name_and_metric():
    from benchmarks.peers.synetune_legacy_runner import benchmark_from_spec, benchmark_spec
    from benchmarks.tabular import load

    bb = load("digits-mlp", "val_acc")
    again = benchmark_from_spec(benchmark_spec(bb))
    assert benchmark_spec(again) == benchmark_spec(bb)
    cfg = bb.sample(random.Random(0))
    assert again.value(cfg, 3) == bb.value(cfg, 3) and again.cost(cfg, 3) == bb.cost(cfg, 3)


def test_the_adapter_and_the_legacy_runner_load_without_hpo_or_syne_tune():
    code = (
        "import sys\n"
        "import benchmarks.peers.synetune, benchmarks.peers.synetune_legacy_runner as r\n"
        "from benchmarks.synthetic import mf_branin\n"
        "bb = mf_branin(max_epochs=9, noise=0.5, seed=3)\n"
        "assert r.benchmark_from_spec(r.benchmark_spec(bb)) == bb\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('hpo', 'syne_tune')))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]"


# --- checkpoints: a search killed after a save goes on from it, to the same events


class _Killed(BaseException):
    """Stands for the process being killed (Syne Tune's searchers catch Exception)."""


def _killed_after_every_second_save(monkeypatch) -> None:
    save, saves = synetune._Checkpoint.save, [0]

    def save_then_die(self, state, version):
        save(self, state, version)
        saves[0] += 1
        if saves[0] % 2 == 0:
            raise _Killed

    monkeypatch.setattr(synetune._Checkpoint, "save", save_then_die)


def test_a_search_killed_at_its_checkpoints_resumes_to_the_same_events(
    runs, branin, tmp_path, monkeypatch
):
    _killed_after_every_second_save(monkeypatch)
    part, parts = tmp_path / "bohb-seed0.partial", 0
    while True:
        try:
            events = synetune.simulate(
                branin,
                "bohb",
                0,
                WORKERS,
                LIMIT_S,
                checkpoint=part,
                origin=f"part {parts}",
                every_s=0.0,
            )
            break
        except _Killed:
            parts += 1
    assert parts >= 5
    assert events == runs["bohb"]
    # the file in compare's checkpoint layout: where each part ran (every killed part saved;
    # the last one may have ended before a save), the real seconds so far
    stored = Checkpoint.read(part)
    assert stored["from"][:parts] == [f"part {i}" for i in range(parts)]
    assert stored["seconds"] > 0 and stored["job"]["method"] == "bohb"


def test_a_checkpoint_of_another_search_is_refused(branin, tmp_path, monkeypatch):
    _killed_after_every_second_save(monkeypatch)
    part = tmp_path / "run.partial"
    with pytest.raises(_Killed):
        synetune.simulate(branin, "asha", 0, WORKERS, LIMIT_S, checkpoint=part, every_s=0.0)
    with pytest.raises(ValueError, match="holds another run"):
        synetune.simulate(branin, "asha", 1, WORKERS, LIMIT_S, checkpoint=part)


def test_a_checkpoint_of_another_python_is_refused_before_its_state_is_loaded(
    branin, tmp_path, monkeypatch
):
    _killed_after_every_second_save(monkeypatch)
    part = tmp_path / "run.partial"
    with pytest.raises(_Killed):
        synetune.simulate(branin, "asha", 0, WORKERS, LIMIT_S, checkpoint=part, every_s=0.0)
    data = Checkpoint.read(part)
    assert data["python"] == "{}.{}".format(*sys.version_info[:2])
    # written by another interpreter: its dill bytes would crash this one, so they are not read
    data["python"], data["state"] = "2.7", b"not a pickle"
    part.write_bytes(gzip.compress(pickle.dumps(data)))
    with pytest.raises(ValueError, match=r"written by Python 2\.7 .* Python 2\.7 interpreter"):
        synetune.simulate(branin, "asha", 0, WORKERS, LIMIT_S, checkpoint=part)
    assert Checkpoint.read(part)["state"] == b"not a pickle"


# --- a legacy runner killed from outside: its seed is left for later, the other runs go on


def _self_killing_python(tmp_path) -> str:
    """An 'interpreter' that dies of SIGTERM at once, as a runner stopped by a time limit does."""
    python = tmp_path / "killed-python"
    python.write_text("#!/bin/sh\nkill -TERM $$\n")
    python.chmod(0o755)
    return str(python)


def test_a_legacy_runner_killed_by_a_signal_is_an_interruption_not_a_failure(
    branin, tmp_path, monkeypatch
):
    monkeypatch.setenv(LEGACY_PYTHON_ENV, _self_killing_python(tmp_path))
    part = tmp_path / "mobster-seed0.partial"
    with pytest.raises(RunInterrupted, match=r"stopped by SIGTERM$"):
        run(branin, "mobster", 0, WORKERS, LIMIT_S, checkpoint=part)
    part.write_bytes(b"an earlier part's state")
    with pytest.raises(RunInterrupted, match=f"SIGTERM; its checkpoint {part} is kept"):
        run(branin, "mobster", 0, WORKERS, LIMIT_S, checkpoint=part)


def test_compare_stores_the_other_runs_when_a_legacy_runner_is_killed(
    tmp_path, monkeypatch, capsys
):
    from benchmarks.compare import main

    monkeypatch.setenv(LEGACY_PYTHON_ENV, _self_killing_python(tmp_path))
    runs = tmp_path / "runs"
    args = ["--benchmark", "branin-mf", "--seeds", "2", "--workers", "2", "--hours", "1"]
    args += ["--methods", "synetune-mobster,hpo-random", "--runs-dir", str(runs)]
    assert main(args) == 1  # not every run is in: the caller is told
    out = capsys.readouterr()
    stored = sorted(p.name for p in runs.glob("*/*.json"))
    assert stored == ["hpo-random-seed0.json", "hpo-random-seed1.json"]
    assert out.err.count("interrupted: the Syne Tune legacy runner") == 2
    assert "| hpo-random |" in out.out and "| synetune-mobster |" not in out.out


def test_a_legacy_part_records_the_stack_of_the_interpreter_that_ran_it():
    import platform
    from importlib import metadata

    from benchmarks.compare import _with_origin
    from benchmarks.peers.synetune_legacy_runner import origin_here

    caller = "host A (2 CPU cores), code of abc1234, 2026-12-06 (torch 2.13.0, numpy 2.4.6; cpu)"
    here = origin_here(caller)
    numpy, st = metadata.version("numpy"), metadata.version("syne-tune")
    assert here.startswith(f"{caller}; run by Python {platform.python_version()} with ")
    assert f"numpy {numpy}, " in here and here.endswith(f", syne-tune {st}")
    assert origin_here(None) is None
    # the caller, storing the finished run, does not count its own process as another part
    assert _with_origin(["device host", here], caller) == ["device host", here]
    assert _with_origin(["device host"], caller) == ["device host", caller]


def test_a_checkpoint_leaves_the_benchmark_out_and_an_older_one_with_it_still_resumes(
    runs, branin, tmp_path, monkeypatch
):
    _killed_after_every_second_save(monkeypatch)
    part = tmp_path / "bohb-seed0.partial"
    with pytest.raises(_Killed):
        synetune.simulate(branin, "bohb", 0, WORKERS, LIMIT_S, checkpoint=part, every_s=0.0)
    data = Checkpoint.read(part)
    assert b"CurveBlackbox" not in data["state"]  # only a persistent id stands for it
    # a file of the earlier layout (the blackbox pickled with the rest) resumes too, and its
    # next save leaves the blackbox out
    st = synetune._import_syne_tune()
    blackbox = st["make_blackbox"](branin)
    state = synetune._undill(data["state"], blackbox)
    import dill

    data["state"] = dill.dumps(state)
    assert b"CurveBlackbox" in data["state"]
    part.write_bytes(gzip.compress(pickle.dumps(data)))
    parts = 0
    while True:
        try:
            events = synetune.simulate(
                branin, "bohb", 0, WORKERS, LIMIT_S, checkpoint=part, every_s=0.0
            )
            break
        except _Killed:
            parts += 1
            assert b"CurveBlackbox" not in Checkpoint.read(part)["state"]
    assert parts >= 1 and events == runs["bohb"]
