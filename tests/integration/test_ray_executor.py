"""The Ray executor on a real local Ray cluster: a CLI sweep with ASHA, pause/resume across
actors, a killed actor resumed from its checkpoint, per-trial resources, checkpoints at an fsspec
URL, and a batch-size Schedule reaching a Ray trial that reports its noise scale.

One private cluster serves the module: ``ray start --head --block`` in its own process group
and temp dir, with ports of its own, stopped by signalling that process group only (``ray stop``
would stop every Ray instance of this user on the machine).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ray", reason="the Ray executor needs ray: pip install 'hpo[ray]'")
pytest.importorskip("fsspec", reason="checkpoint URLs need fsspec: pip install 'hpo[ray]'")

import ray.cloudpickle  # noqa: E402

import hpo  # noqa: E402
from hpo.model import Decision  # noqa: E402
from hpo.model import TrialState as S  # noqa: E402

# Trial functions defined here travel to Ray workers by value (this module is not importable
# there).
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a private 2-CPU Ray cluster with 4 units of custom resource hpo_test."""
    tmp = Path(f"/tmp/hpo-ray-{os.getpid()}")  # short: Ray's socket paths must fit 107 bytes
    tmp.mkdir(exist_ok=True)
    port = _free_port()
    ports = {
        f"--{k}": str(_free_port())
        for k in (
            "node-manager-port",
            "object-manager-port",
            "dashboard-agent-listen-port",
            "dashboard-agent-grpc-port",
            "metrics-export-port",
            "runtime-env-agent-port",
        )
    }
    args = [
        str(Path(sys.executable).parent / "ray"),
        "start",
        "--head",
        "--block",
        "--num-cpus=2",
        "--num-gpus=2",  # declared, not real: Ray hands them out and sets CUDA_VISIBLE_DEVICES
        f"--port={port}",
        "--include-dashboard=false",
        f"--temp-dir={tmp}",
        "--resources",
        json.dumps({"hpo_test": 4}),
        f"--object-store-memory={100 * 1024 * 1024}",
        "--disable-usage-stats",
        *[x for kv in ports.items() for x in kv],
    ]
    out = tmp_path_factory.mktemp("ray") / "ray-start.log"
    saved = {k: os.environ.get(k) for k in RAY_ENV}
    os.environ.update(RAY_ENV)  # the test's bridges must not expect a token either
    with open(out, "wb") as logf:
        proc = subprocess.Popen(
            args, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True, env=os.environ
        )
    try:
        deadline = time.time() + 60
        while b"Ray runtime started" not in out.read_bytes():
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"ray start failed:\n{out.read_text()[-3000:]}")
            time.sleep(0.2)
        yield f"{socket.gethostbyname(socket.gethostname())}:{port}"
    finally:
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0)):
            try:
                os.killpg(proc.pid, sig)  # this cluster's process group only
            except ProcessLookupError:
                break
            end = time.time() + wait
            while time.time() < end and _group_alive(proc.pid):
                time.sleep(0.1)
        proc.wait()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for(pred: Any, timeout: float = 60.0, what: str = "condition") -> None:
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached in {timeout}s")


# ---- a CLI sweep with ASHA ----------------------------------------------------------------------
TRIAL_SCRIPT = """
import json, os, sys, time
import hpo.trial
from hpo import Decision

x, steps, sleep = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
t = hpo.trial.current()
start = int(t.checkpoint_step) if (t.resume and t.checkpoint_step) else 0
if start:
    assert json.loads((t.checkpoint_dir / f"state-{start}.json").read_text())["step"] == start
with open(t.checkpoint_dir / "starts.log", "a") as f:
    f.write(f"{start}\\n")
for step in range(start + 1, steps + 1):
    time.sleep(sleep)
    (t.checkpoint_dir / f"state-{step}.json").write_text(json.dumps({"step": step}))
    loss = (x - 0.3) ** 2 + 1.0 / step
    if t.report(step, checkpoint=True, loss=loss, actor=os.getppid()) is not Decision.CONTINUE:
        break
"""


@pytest.fixture(scope="module")
def cli_sweep(cluster: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "trial.py").write_text(TRIAL_SCRIPT)
    (tmp / "sweep.yaml").write_text(
        textwrap.dedent(
            """
            name: ray-asha
            command: python trial.py {x} 4 0.05
            space: {x: {type: float, low: 0, high: 1}}
            objective: {name: loss}
            fidelity: {name: epoch, min: 1, max: 4}
            scheduler: {name: asha, eta: 2, seed: 3}
            budget: {max_trials: 6}
            parallelism: 2
            grace_s: 5
            """
        )
    )
    db = tmp / "hpo.db"
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "hpo.cli", "sweep", "sweep.yaml", "--storage", str(db)]
        + ["--executor", "ray", "--ray-address", "auto"],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HPO_STORAGE": "", "RAY_ADDRESS": cluster},
    )
    client = hpo.Client(f"sqlite:///{db}")
    return {
        "proc": proc,
        "seconds": time.time() - t0,
        "client": client,
        "history": client.history("ray-asha"),
        "runs": tmp / "hpo-runs" / "ray-asha",
    }


def test_cli_sweep_on_ray_runs_asha_to_completion(cli_sweep: dict[str, Any]) -> None:
    proc = cli_sweep["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    h = cli_sweep["history"]
    trials = h.trials()
    assert len(trials) == 6
    assert all(t.state in (S.COMPLETED, S.STOPPED) for t in trials), [t.state for t in trials]
    assert any(t.state is S.COMPLETED for t in trials)  # someone reached epoch 4
    for t in trials:
        steps = [r.step for r in h.reports(t.id)]
        assert steps == list(range(1, len(steps) + 1)), (t.number, steps)  # none repeated


def test_cli_sweep_paused_trials_resume_in_another_actor_at_the_next_epoch(
    cli_sweep: dict[str, Any],
) -> None:
    h = cli_sweep["history"]
    resumed = [t for t in h.trials() if t.resumes > 0]
    assert resumed, "ASHA resumed no paused trial"
    for t in resumed:
        reports = h.reports(t.id)
        paused_at = [r.step for r in reports if r.decision is Decision.PAUSE]
        assert paused_at, (t.number, [(r.step, r.decision) for r in reports])
        starts = (cli_sweep["runs"] / f"trial-{t.number}" / "starts.log").read_text().split()
        assert starts == ["0", *[f"{s:g}" for s in paused_at[: len(starts) - 1]]]
        by_step = {r.step: r.metrics["actor"] for r in reports}
        for s in paused_at:
            if s + 1 in by_step:
                assert by_step[s + 1] != by_step[s]  # a new actor continued at the next epoch


# ---- the SDK: resources, a killed actor, a paused study, checkpoints at an fsspec URL ----------
STEPS, SLEEP = 8, 0.3


def _sdk_trial(t: Any) -> None:
    import ray as ray_

    res = ray_.get_runtime_context().get_assigned_resources()
    start = int(t.checkpoint_step) if (t.resume and t.checkpoint_step) else 0
    if start:
        assert json.loads((t.checkpoint_dir / f"state-{start}.json").read_text())["step"] == start
    with open(t.checkpoint_dir / "starts.log", "a") as f:
        f.write(f"{start} {os.getpid()}\n")
    for step in range(start + 1, STEPS + 1):
        time.sleep(SLEEP)
        (t.checkpoint_dir / f"state-{step}.json").write_text(json.dumps({"step": step}))
        d = t.report(
            step,
            checkpoint=True,
            loss=1.0 / step + t.config["x"],
            pid=os.getpid(),
            cpus=res.get("CPU", 0.0),
            hpo_test=res.get("hpo_test", 0.0),
        )
        if d is not Decision.CONTINUE:
            return


@pytest.fixture(scope="module")
def sdk_run(cluster: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("sdk")
    url = f"sqlite:///{tmp / 'hpo.db'}"
    client = hpo.Client(url)
    study = client.create_study(
        "ray-sdk",
        {"x": hpo.Float(0, 1)},
        "loss",
        fidelity={"name": "step", "min": 1, "max": STEPS},
        budget={"max_trials": 2},
    )
    ck_url = f"file://{tmp / 'bucket'}"
    options = {
        "address": cluster,
        "num_cpus": 0.5,
        "resources": {"hpo_test": 1},
        "checkpoint_url": ck_url,
    }
    result: dict[str, Any] = {}

    def drive() -> None:
        try:
            result["summary"] = hpo.Client(url).run(
                study,
                _sdk_trial,
                executor="ray",
                ray=options,
                n_workers=2,
                progress=False,
                runs_dir=str(tmp / "runs"),
            )
        except BaseException as e:  # noqa: BLE001 - re-raised in the test thread
            result["error"] = e

    def last(number: int) -> Any:
        h = client.history(study)
        ts = [t for t in h.trials() if t.number == number]
        return h.last_report(ts[0].id) if ts else None

    th = threading.Thread(target=drive, daemon=True)
    th.start()
    # 1. pause the study while both trials run, then resume it
    _wait_for(
        lambda: all((r := last(n)) is not None and r.step >= 2 for n in (0, 1)),
        what="both trials at step 2",
    )
    client.pause_study(study)
    _wait_for(
        lambda: all(t.state is S.PAUSED for t in client.trials(study)), what="both trials paused"
    )
    paused = {t.number: t.last_step for t in client.trials(study)}
    client.resume_study(study)
    # 2. once trial 0 has reported from its new actor, kill that actor
    _wait_for(
        lambda: (r := last(0)) is not None and r.step >= paused[0] + 1,
        what="trial 0 resumed",
    )
    killed = last(0)
    os.kill(int(killed.metrics["pid"]), signal.SIGKILL)
    th.join(timeout=90)
    assert not th.is_alive(), "the SDK run did not finish"
    if "error" in result:
        raise result["error"]
    return {
        "history": client.history(study),
        "killed": killed,
        "paused": paused,
        "bucket": tmp / "bucket" / "ray-sdk",
    }


def _runs(h: Any, t: Any) -> list[tuple[float, int]]:
    return [(r.step, int(r.metrics["pid"])) for r in h.reports(t.id)]


def test_sdk_run_on_ray_completes_every_trial_without_repeating_a_step(
    sdk_run: dict[str, Any],
) -> None:
    h = sdk_run["history"]
    assert [t.state for t in h.trials()] == [S.COMPLETED, S.COMPLETED]
    for t in h.trials():
        assert [r.step for r in h.reports(t.id)] == list(range(1, STEPS + 1))


def test_killed_actor_resumes_its_trial_from_the_last_checkpoint(sdk_run: dict[str, Any]) -> None:
    h = sdk_run["history"]
    t0 = next(t for t in h.trials() if t.number == 0)
    killed_pid = int(sdk_run["killed"].metrics["pid"])
    pids = dict(_runs(h, t0))
    last_killed = max(s for s, pid in pids.items() if pid == killed_pid)
    assert last_killed < STEPS
    assert pids[last_killed + 1] != killed_pid  # a new actor continued at the next step
    assert t0.resumes == 2  # after the study's pause, and after the kill


def test_paused_study_resumes_trials_in_new_actors_at_the_next_step(
    sdk_run: dict[str, Any],
) -> None:
    h = sdk_run["history"]
    for t in h.trials():
        at = sdk_run["paused"][t.number]
        pids = dict(_runs(h, t))
        assert pids[at + 1] != pids[at], (t.number, at, pids)
        assert next(r for r in h.reports(t.id) if r.step == at).decision is Decision.PAUSE


def test_trials_get_the_resources_they_ask_for(sdk_run: dict[str, Any]) -> None:
    h = sdk_run["history"]
    for t in h.trials():
        for r in h.reports(t.id):
            assert r.metrics["cpus"] == 0.5 and r.metrics["hpo_test"] == 1.0


def test_checkpoints_live_at_the_fsspec_url(sdk_run: dict[str, Any]) -> None:
    for n in (0, 1):
        steps = sorted(p.name for p in (sdk_run["bucket"] / f"trial-{n}").iterdir())
        assert steps == [f"step-{STEPS}"]  # one directory per step; older ones pruned
        d = sdk_run["bucket"] / f"trial-{n}" / f"step-{STEPS}"
        assert (d / f"state-{STEPS}.json").exists()
        starts = [int(line.split()[0]) for line in (d / "starts.log").read_text().splitlines()]
        assert starts[0] == 0 and len(starts) >= 2 and all(s > 0 for s in starts[1:])


# ---- a batch-size Schedule reaches a Ray trial, which reports the noise scale -------------------
def _schedule_trial(t: Any) -> None:
    import torch
    from hpo.batch_size import AdaptiveBatchTrainer, Schedule

    class Data:
        def __init__(self, x: Any, y: Any) -> None:
            self.x, self.y = x, y

        def __len__(self) -> int:
            return self.x.shape[0]

        def get_batch(self, idx: Any) -> Any:
            return self.x[idx], self.y[idx]

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2048, 8, generator=g, dtype=torch.float64)
    y = x @ torch.randn(8, generator=g, dtype=torch.float64) + torch.randn(2048, generator=g)
    model = torch.nn.Linear(8, 1, bias=False).double()

    def loss_fn(m: Any, batch: Any) -> Any:
        xb, yb = batch
        return 0.5 * (m(xb).squeeze(-1) - yb).pow(2).mean()

    sched = Schedule.from_json(t.config["schedule"])
    opt = torch.optim.SGD(model.parameters(), lr=sched.at(0).lr)
    AdaptiveBatchTrainer(model, opt, Data(x, y), loss_fn, schedule=sched, report_every=10).run(1000)


def test_batch_size_schedule_reaches_a_ray_trial_and_noise_scale_comes_back(
    cluster: str, tmp_path: Path
) -> None:
    pytest.importorskip("torch", reason="the batch-size trainer needs torch")
    from hpo.batch_size import Schedule

    sched = Schedule.constant(16, 0.01, max_micro_batch=4)
    client = hpo.Client(f"sqlite:///{tmp_path / 'hpo.db'}")
    study = client.create_study(
        "ray-gns",
        {"schedule": hpo.Categorical([sched.to_json()])},
        "loss",
        fidelity={"name": "step", "min": 10, "max": 30},
        budget={"max_trials": 1},
    )
    client.run(
        study,
        _schedule_trial,
        executor="ray",
        ray={"address": cluster},
        n_workers=1,
        progress=False,
        runs_dir=str(tmp_path / "runs"),
    )
    h = client.history(study)
    (t,) = h.trials()
    assert t.state is S.COMPLETED, t.error
    reports = h.reports(t.id)
    assert [r.step for r in reports] == [10, 20, 30]
    last = reports[-1].metrics
    assert last["batch_size"] == 16 and last["lr"] == pytest.approx(0.01)
    assert last["b_noise"] > 0 and last["examples"] == 30 * 16


def _gpu_trial(t: Any) -> None:
    import ray as ray_

    ids = [str(i) for i in ray_.get_gpu_ids()]
    seen = [x for x in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if x]
    time.sleep(0.3)
    t.report(1, loss=t.config["x"], gpu_ids=len(ids), visible=len(seen), agree=float(ids == seen))


def test_gpus_param_gives_each_trial_its_own_number_of_gpus(cluster: str, tmp_path: Path) -> None:
    # The module's cluster declares 2 GPUs: 1-GPU and 2-GPU trials share the sweep, each actor
    # sees exactly the GPUs Ray assigned it (CUDA_VISIBLE_DEVICES), a 2-GPU trial both of them.
    client = hpo.Client(f"sqlite:///{tmp_path / 'hpo.db'}")
    study = client.create_study(
        "ray-gpus",
        {"x": hpo.Float(0, 1), "gpus": hpo.Categorical([1, 2])},
        "loss",
        scheduler={"name": "random", "params": {"seed": 3}},
        budget={"max_trials": 6},
    )
    client.run(
        study,
        _gpu_trial,
        executor="ray",
        ray={"address": cluster, "num_cpus": 0.25, "num_gpus": 1, "gpus_param": "gpus"},
        n_workers=2,
        progress=False,
        runs_dir=str(tmp_path / "runs"),
    )
    h = client.history(study)
    seen = set()
    for t in h.trials():
        assert t.state is S.COMPLETED, t.error
        m = h.last_report(t.id).metrics
        assert m["gpu_ids"] == m["visible"] == t.config["gpus"], (t.config, m)
        assert m["agree"] == 1.0
        seen.add(t.config["gpus"])
    assert seen == {1, 2}


def test_gpus_param_must_name_a_parameter(cluster: str, tmp_path: Path) -> None:
    client = hpo.Client(f"sqlite:///{tmp_path / 'hpo.db'}")
    study = client.create_study("ray-bad", {"x": hpo.Float(0, 1)}, "loss", budget={"max_trials": 1})
    with pytest.raises(hpo.errors.InvalidStudy, match="gpus_param 'gpus' is not a parameter"):
        client.run(
            study,
            _gpu_trial,
            executor="ray",
            ray={"address": cluster, "gpus_param": "gpus"},
            progress=False,
            runs_dir=str(tmp_path / "runs"),
        )


@pytest.mark.parametrize(
    "domain",
    [hpo.Categorical([1, 0]), hpo.Categorical([1, "two"]), hpo.Int(0, 2), hpo.Float(-1.0, 2.0)],
)
def test_a_gpus_param_that_can_draw_a_non_positive_count_fails_before_any_trial(
    cluster: str, tmp_path: Path, domain
) -> None:
    client = hpo.Client(f"sqlite:///{tmp_path / 'hpo.db'}")
    study = client.create_study("ray-gpus", {"gpus": domain}, "loss", budget={"max_trials": 2})
    with pytest.raises(hpo.errors.InvalidStudy, match="gpus_param 'gpus': .*positive"):
        client.run(
            study,
            _gpu_trial,
            executor="ray",
            ray={"address": cluster, "num_gpus": 1, "gpus_param": "gpus"},
            progress=False,
            runs_dir=str(tmp_path / "runs"),
        )
    assert client.trials(study) == []
