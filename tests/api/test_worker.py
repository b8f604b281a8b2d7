"""``hpo worker``: agents on other machines run a study's trials through the REST service."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

import hpo

HERE = Path(__file__).resolve().parent.parent / "integration"
TRIAL = HERE / "slow_trial.py"


def _worker(url: str, study: str, runs: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hpo.cli",
            "worker",
            "--server",
            url,
            "--study",
            study,
            "--runs-dir",
            str(runs),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _study(url: str, name: str, command: str, max_trials: int) -> None:
    c = hpo.Client(url)
    c.create_study(
        name,
        {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "loss",
        fidelity={"name": "step", "min": 1, "max": 9},
        budget={"max_trials": max_trials},
        metadata={"sweep": {"command": command, "grace_s": 2.0}},
    )


def test_two_workers_share_a_study_over_http(server, tmp_path):
    cmd = f"{sys.executable} {TRIAL} --x {{x}} --steps 9 --sleep 0.01"
    _study(server.url, "agents", cmd, 8)
    runs = tmp_path / "shared-runs"  # a path both workers reach
    procs = [_worker(server.url, "agents", runs, "-j", "2") for _ in range(2)]
    outs = [p.communicate(timeout=180)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert all("is over" in o for o in outs)
    trials = hpo.Client(server.url).trials("agents")
    assert len(trials) == 8 and {t.state.value for t in trials} == {"completed"}
    assert all(t.last_step == 9 for t in trials)


def test_a_killed_worker_s_trial_resumes_elsewhere_from_its_checkpoint(server, tmp_path):
    cmd = f"{sys.executable} {TRIAL} --x {{x}} --steps 9 --sleep 0.4"
    _study(server.url, "kill-agent", cmd, 1)
    runs = tmp_path / "shared-runs"
    first = _worker(server.url, "kill-agent", runs, "-j", "1", "--lease-s", "2")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait for a few checkpointed reports
        t = httpx.get(f"{server.url}/v1/studies/kill-agent/trials/0")
        if t.status_code == 200 and (t.json()["checkpoint_step"] or 0) >= 3:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the first worker never reported")
    # kill -9 the worker and its trial process, as when a machine vanishes
    subprocess.run(["pkill", "-9", "-P", str(first.pid)], check=False)
    first.send_signal(signal.SIGKILL)
    first.wait()
    ck = httpx.get(f"{server.url}/v1/studies/kill-agent/trials/0").json()["checkpoint_step"]
    second = _worker(server.url, "kill-agent", runs, "-j", "1", "--lease-s", "2")
    out = second.communicate(timeout=120)[0]
    assert second.returncode == 0, out
    trial = httpx.get(f"{server.url}/v1/studies/kill-agent/trials/0").json()
    assert trial["state"] == "completed" and trial["last_step"] == 9 and trial["resumes"] >= 1
    steps = [r["step"] for r in trial["reports"]]
    assert steps == sorted(set(steps)) == [float(s) for s in range(1, 10)]  # none twice
    starts = (runs / "kill-agent" / "trial-0" / "starts.log").read_text().split()
    assert starts[0] == "0" and int(starts[-1]) >= ck  # resumed from the checkpoint


def test_remote_run_drives_a_function_study_from_two_clients(server, tmp_path):
    import threading

    c = hpo.Client(server.url)
    s = c.create_study(
        "fn-remote",
        {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "loss",
        fidelity={"name": "epoch", "min": 1, "max": 9},
        scheduler="asha",
        budget={"max_trials": 12},
    )
    seen: list[int] = []

    def train(t):
        start = int(t.checkpoint_step or 0) if t.resume else 0
        for epoch in range(start + 1, 10):
            seen.append(t.number)
            if t.report(epoch, checkpoint=True, loss=t.config["x"] + 1 / epoch) is not (
                hpo.Decision.CONTINUE
            ):
                return

    runs = [
        threading.Thread(
            target=hpo.Client(server.url).run,
            args=(s, train),
            kwargs={"n_workers": 2, "runs_dir": str(tmp_path / "r")},
        )
        for _ in range(2)
    ]
    for r in runs:
        r.start()
    for r in runs:
        r.join(120)
    trials = c.trials(s)
    assert len(trials) == 12
    assert {t.state.value for t in trials} <= {"completed", "stopped"}
    assert max(t.last_step for t in trials) == 9
    for t in trials:  # resumed runs started from their checkpoints: no epoch ran twice
        assert seen.count(t.number) == int(t.last_step)
    assert c.get_study(s.name).finished


def _one_slot_worker(url: str, study: str, runs: Path) -> tuple[int, str]:
    """Runs ``hpo worker`` with one slot on ``study`` to its end: (exit code, output)."""
    p = _worker(url, study, runs, "-j", "1")
    out = p.communicate(timeout=120)[0]
    return p.returncode, out


def test_a_worker_whose_trials_all_fail_exits_1_with_the_first_error(server, tmp_path):
    """The sweep's rule: two failures (below fail_fast's three) and no result on the study give
    exit 1 and the first error on one line, not 'is over' and 0."""
    cmd = f"{sys.executable} -c \"import sys; sys.exit('no such dataset: {{x}}')\""
    _study(server.url, "broken", cmd, 2)
    rc, out = _one_slot_worker(server.url, "broken", tmp_path / "runs")
    assert rc == 1, out
    assert "error: 2 trial(s) failed and none completed; first: trial 0:" in out
    assert "no such dataset" in out and "Traceback" not in out
    assert {t.state.value for t in hpo.Client(server.url).trials("broken")} == {"failed"}


def test_a_worker_whose_trials_report_no_objective_exits_1(server, tmp_path):
    _study(server.url, "silent", f"{sys.executable} -c \"print('trained {{x}}')\"", 2)
    rc, out = _one_slot_worker(server.url, "silent", tmp_path / "runs")
    assert rc == 1, out
    assert "error: no trial reported the objective 'loss'" in out


def test_a_worker_beside_a_result_warns_of_its_failures_and_exits_0(server, tmp_path):
    """A study with a result (another worker's trial here) turns this worker's failures into a
    warning."""
    _study(server.url, "mixed", f"{sys.executable} -c \"import sys; sys.exit('bad {{x}}')\"", 2)
    c = hpo.Client(server.url)
    a = c.ask("mixed", worker="elsewhere")
    c.report("mixed", a.trial_id, 1, loss=0.5)
    c.tell("mixed", a.trial_id)
    rc, out = _one_slot_worker(server.url, "mixed", tmp_path / "runs")
    assert rc == 0, out
    assert "warning: 1 trial(s) failed; first: trial 1:" in out and "bad" in out
