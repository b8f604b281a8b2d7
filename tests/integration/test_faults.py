"""Faults: a trial killed with SIGKILL, a coordinator killed with SIGKILL and resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from hpo.client import Client
from hpo.errors import StudyNotFound
from hpo.model import Decision
from hpo.model import TrialState as S

HERE = Path(__file__).parent


def sweep_file(tmp: Path, *, name: str, trials: int, sleep: float, scheduler: str) -> Path:
    p = tmp / "sweep.yaml"
    p.write_text(
        textwrap.dedent(
            f"""
            name: {name}
            command: python {HERE / "slow_trial.py"} --x {{x}} --steps 9 --sleep {sleep}
            space: {{x: {{type: float, low: 0, high: 1}}}}
            objective: {{name: loss}}
            fidelity: {{name: step, min: 1, max: 9}}
            scheduler: {scheduler}
            budget: {{max_trials: {trials}}}
            parallelism: 2
            grace_s: 2
            """
        )
    )
    return p


def start_sweep(tmp: Path, db: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", *args, "--storage", str(db)],
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HPO_STORAGE": ""},
    )


def wait_for(pred, timeout: float = 60.0) -> None:  # noqa: ANN001
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def trials_so_far(db: Path, name: str) -> list:
    """The study's trials once the sweep has created it (the file exists before the study)."""
    if not db.exists():
        return []
    try:
        return Client(str(db)).trials(name)
    except StudyNotFound:
        return []


def trial_pids(parent: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_a_trial_killed_with_sigkill_fails_and_the_study_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "db"
    sweep_file(tmp_path, name="k", trials=4, sleep=0.3, scheduler="{name: random}")
    p = start_sweep(tmp_path, db, "sweep", "sweep.yaml")
    wait_for(lambda: any(t.last_step for t in trials_so_far(db, "k")))
    victim = trial_pids(p.pid)[0]
    os.kill(victim, signal.SIGKILL)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    h = Client(str(db)).history("k")
    states = sorted(t.state.value for t in h.trials())
    assert states == ["completed", "completed", "completed", "failed"]
    (failed,) = h.trials([S.FAILED])
    assert "killed by signal 9" in failed.error


def test_coordinator_killed_mid_sweep_resumes_without_losing_or_repeating_work(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db"
    sweep_file(tmp_path, name="r", trials=9, sleep=0.15, scheduler="{name: asha, eta: 3}")
    p = start_sweep(tmp_path, db, "sweep", "sweep.yaml")

    def mid_sweep() -> bool:
        """Six values reported and a trial running now (between two trials none is, and a kill
        there would interrupt no work: the check below failed once that way)."""
        trials = trials_so_far(db, "r")
        reports = sum(len(Client(str(db)).storage.get_reports(t.id)) for t in trials)
        return reports >= 6 and any(t.state is S.RUNNING for t in trials)

    wait_for(mid_sweep)
    children = trial_pids(p.pid)
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=30)
    wait_for(lambda: not any(psutil_alive(c) for c in children), 20)  # trials die with it
    c = Client(str(db))
    before = {
        (t.number, r.step, r.metrics["loss"])
        for t in c.trials("r")
        for r in c.storage.get_reports(t.id)
    }
    running_at_kill = {t.number for t in c.trials("r", [S.RUNNING])}
    assert running_at_kill  # the kill interrupted real work
    # those mid-run (not just told to pause or stop) must be resumed, from their checkpoint
    mid_run = {
        t.number
        for t in c.trials("r", [S.RUNNING])
        if (rs := c.storage.get_reports(t.id)) == [] or rs[-1].decision is Decision.CONTINUE
    }

    p2 = start_sweep(tmp_path, db, "resume", "r")
    out, err = p2.communicate(timeout=180)
    assert p2.returncode == 0, err
    c = Client(str(db))
    h = c.history("r")
    after = {(t.number, r.step, r.metrics["loss"]) for t in h.trials() for r in h.reports(t.id)}
    assert before <= after  # every value reported before the kill is kept, unchanged
    assert h.n_trials == 9  # no extra trials: the budget was not re-spent
    assert all(t.state.is_final for t in h.trials())
    assert h.study.finished
    for t in h.trials():
        steps = [r.step for r in h.reports(t.id)]
        assert steps == list(range(1, len(steps) + 1))
        starts = [
            int(x)
            for x in (tmp_path / f"hpo-runs/r/trial-{t.number}/starts.log").read_text().split()
        ]
        assert starts == sorted(starts)  # no run ever went back to an earlier step
    for n in mid_run:
        t = h.by_number(n)
        assert t.resumes >= 1
        done_before = max((s for num, s, _ in before if num == n), default=0)
        starts = [
            int(x) for x in (tmp_path / f"hpo-runs/r/trial-{n}/starts.log").read_text().split()
        ]
        # a run after the kill continued from the last checkpoint, not from scratch
        if done_before:
            assert int(done_before) in starts, (
                t,
                [(r.step, r.decision) for r in h.reports(t.id)],
                (tmp_path / f"hpo-runs/r/trial-{n}/stderr.log").read_text()[-800:],
            )


def psutil_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()
