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
