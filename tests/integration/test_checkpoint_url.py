"""Checkpoints through a checkpoint URL (fsspec): a trial resumes on a machine that never saw
its local directory. Two executors with separate runs directories stand for two machines; a
``file://`` URL stands for the object store (the same code path as s3:// or gs://)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from hpo.client import Client
from hpo.executors.checkpoints import CheckpointError, CheckpointStore
from hpo.executors.local import LocalExecutor
from hpo.model import TrialState
from hpo.runner import Driver

pytest.importorskip("fsspec", reason="checkpoint URLs need fsspec (pip install 'hpo[api]')")
TRIAL = Path(__file__).with_name("ckpt_trial.py")


def test_store_round_trip_keeps_logs_local_and_prunes_old_steps(tmp_path: Path) -> None:
    store = CheckpointStore(f"file://{tmp_path / 'store'}")
    a = tmp_path / "a"
    (a / "sub").mkdir(parents=True)
    (a / "sub" / "x.bin").write_bytes(b"\x01\x02")
    (a / "state.json").write_text("{}")
    (a / "stdout.log").write_text("local only")
    store.upload(a, "s", 3, 2)
    (a / "state.json").write_text('{"step": 4}')
    store.upload(a, "s", 3, 4.5)
    store.prune("s", 3, 4.5)
    assert sorted(p.name for p in (tmp_path / "store" / "s" / "trial-3").iterdir()) == ["step-4.5"]
    b = tmp_path / "b"
    b.mkdir()
    (b / "stale.txt").write_text("from an older run")
    (b / "stderr.log").write_text("kept")
    store.download(b, "s", 3, 4.5)
    assert (b / "sub" / "x.bin").read_bytes() == b"\x01\x02"
    assert json.loads((b / "state.json").read_text()) == {"step": 4}
    assert not (b / "stale.txt").exists() and (b / "stderr.log").read_text() == "kept"
    assert not (tmp_path / "store" / "s" / "trial-3" / "step-4.5" / "stdout.log").exists()
    with pytest.raises(CheckpointError, match="step 2 "):
        store.download(b, "s", 3, 2)  # pruned


def test_a_trial_whose_machine_vanished_resumes_elsewhere_from_the_uploaded_checkpoint(
    tmp_path: Path,
) -> None:
    c = Client(f"sqlite:///{tmp_path / 'db.sqlite'}")
    s = c.create_study(
        "ck",
        {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "loss",
        fidelity={"name": "epoch", "min": 1, "max": 6},
        budget={"max_trials": 1},
    )
    coord = c.coordinator(s)
    url = f"file://{tmp_path / 'store'}"
    cmd = [sys.executable, str(TRIAL)]
    a = LocalExecutor(
        cmd, n_slots=1, runs_dir=tmp_path / "a", checkpoint_url=url, env={"HANG_AT": "3"}
    )
    a.bind(coord)
    (wa,) = a.free_workers()
    a.start(coord.ask(wa))
    deadline = time.monotonic() + 60
    while (t := coord.history().trials()[0]).checkpoint_step != 3:
        assert time.monotonic() < deadline, "the trial never reported step 3"
        time.sleep(0.05)
    # machine A vanishes: its trial process dies and its lease is given up
    a._runs[wa].proc.kill()
    assert coord.release_worker(wa, "machine A vanished") == 1
    t = coord.history().trials()[0]
    assert t.state is TrialState.PAUSED and t.interrupted and t.checkpoint_step == 3
    b = LocalExecutor(cmd, n_slots=1, runs_dir=tmp_path / "b", checkpoint_url=url)
    Driver(coord, b).run()
    t = c.trials(s)[0]
    assert t.state is TrialState.COMPLETED and t.resumes == 1
    steps = [r.step for r in c.storage.get_reports(t.id)]
    assert steps == [1, 2, 3, 4, 5, 6]  # none repeated, none lost
    state = json.loads((tmp_path / "b" / "ck" / "trial-0" / "state.json").read_text())
    assert state == {"step": 6, "resumed": True}
    left = tmp_path / "store" / "ck" / "trial-0"
    assert [p.name for p in left.iterdir()] == ["step-6"]  # older steps pruned
    assert (left / "step-6" / "weights" / "w.bin").read_bytes() == bytes([6]) * 1000


def test_a_failed_upload_keeps_the_report_and_the_previous_checkpoint(tmp_path: Path) -> None:
    c = Client(f"sqlite:///{tmp_path / 'db.sqlite'}")
    s = c.create_study(
        "ck2",
        {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "loss",
        fidelity={"name": "epoch", "min": 1, "max": 3},
        budget={"max_trials": 1},
    )
    coord = c.coordinator(s)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the store's directory should be")
    ex = LocalExecutor(
        [sys.executable, str(TRIAL)],
        n_slots=1,
        runs_dir=tmp_path / "r",
        checkpoint_url=str(blocker),
    )
    Driver(coord, ex).run()
    t = c.trials(s)[0]
    assert t.state is TrialState.COMPLETED and t.checkpoint_step is None
    assert [r.step for r in c.storage.get_reports(t.id)] == [1, 2, 3]


def test_an_s3_checkpoint_url_round_trips_through_a_real_s3_endpoint(tmp_path: Path) -> None:
    """s3:// through s3fs against moto's S3 server on a local port (the S3 protocol, offline)."""
    pytest.importorskip("s3fs", reason="s3:// URLs need s3fs (pip install s3fs)")
    server_mod = pytest.importorskip("moto.server", reason="needs moto[server] for a local S3")
    import boto3

    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        creds = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **creds).create_bucket(
            Bucket="ckpt"
        )
        store = CheckpointStore(
            "s3://ckpt/hpo",
            key=creds["aws_access_key_id"],
            secret=creds["aws_secret_access_key"],
            client_kwargs={"endpoint_url": endpoint, "region_name": "us-east-1"},
        )
        a = tmp_path / "a"
        (a / "w").mkdir(parents=True)
        (a / "w" / "x.bin").write_bytes(b"\x00\x01" * 500)
        (a / "state.json").write_text('{"step": 3}')
        (a / "stdout.log").write_text("local only")
        assert store.upload(a, "s", 1, 3) == "ckpt/hpo/s/trial-1/step-3"
        store.upload(a, "s", 1, 4)
        store.prune("s", 1, 4)
        listed = sorted(store.fs.find("ckpt/hpo/s/trial-1"))
        assert listed == [
            "ckpt/hpo/s/trial-1/step-4/state.json",
            "ckpt/hpo/s/trial-1/step-4/w/x.bin",
        ]
        b = tmp_path / "b"
        store.download(b, "s", 1, 4)
        assert (b / "w" / "x.bin").read_bytes() == b"\x00\x01" * 500
        assert (b / "state.json").read_text() == '{"step": 3}'
        with pytest.raises(CheckpointError, match="step 3 "):
            store.download(b, "s", 1, 3)
    finally:
        server.stop()
