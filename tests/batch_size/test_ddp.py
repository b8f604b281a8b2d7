"""The noise scale under DistributedDataParallel (2 processes, gloo) equals one process's.

Two ranks with two micro-batches each see the same four micro-batches as one process
accumulating four: the small norms (per rank and micro-batch, before the all-reduce) and the big
norm (after it) must agree, and so must the AdaptiveBatchTrainer's trajectory.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.batch_size.ddp_common import MICRO, make_data, make_model, monitor_steps, trainer_run

WORKER = Path(__file__).with_name("ddp_worker.py")


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


@pytest.fixture(scope="module")
def ddp_result(tmp_path_factory):
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available in this torch build")
    out = tmp_path_factory.mktemp("ddp") / "out.json"
    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(r), "2", port, str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in range(2)
    ]
    logs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)
    return json.loads(out.read_text())


def test_ddp_norms_equal_single_process_accumulation(ddp_result):
    # One process: step s's rows are rank 0's then rank 1's rows of that step, as 4 micro-batches.
    single = _single_process_reference(micro=MICRO)
    for got, want in zip(ddp_result["observations"][:-1], single[:-1], strict=True):
        assert got["small_batch"] == want["small_batch"] == MICRO
        assert got["big_batch"] == want["big_batch"] == 4 * MICRO
        for key in ("small_sq_norm", "big_sq_norm", "grad_sq", "trace_cov"):
            assert got[key] == pytest.approx(want[key], rel=1e-6), key
    assert ddp_result["observations"][-1]["b_simple"] == pytest.approx(
        single[-1]["b_simple"], rel=1e-6
    )


def _single_process_reference(micro: int) -> list[dict[str, float]]:
    """One process taking each step's rank-0 rows then rank-1 rows as micro-batches."""
    x, y = make_data()
    per_rank_step = x.shape[0] // 2 // 3
    rows = []
    for s in range(3):
        for r in range(2):
            start = r * (x.shape[0] // 2) + s * per_rank_step
            rows.append(torch.arange(start, start + per_rank_step))
    order = torch.cat(rows)
    return monitor_steps(make_model(), x[order], y[order], micro=micro)


@pytest.mark.parametrize("mode", ["comm_hook", "allreduce"])
@pytest.mark.parametrize("k", ["2", "1"])
def test_ddp_modes_use_each_ranks_batch_as_the_small_batch(ddp_result, k, mode):
    # mode="ddp": the small batches are the two ranks' whole batches (8 rows each, k
    # micro-batches accumulated), the big one their all-reduced mean: one process with two
    # micro-batches of 8 rows, one per rank's rows, sees the same norms.
    single = _single_process_reference(micro=2 * MICRO)
    got_all = ddp_result[mode][k]
    for got, want in zip(got_all[:-1], single[:-1], strict=True):
        assert got["small_batch"] == want["small_batch"] == 2 * MICRO
        assert got["big_batch"] == want["big_batch"] == 4 * MICRO
        for key in ("small_sq_norm", "big_sq_norm", "grad_sq", "trace_cov"):
            assert got[key] == pytest.approx(want[key], rel=1e-6), key
    assert got_all[-1]["b_simple"] == pytest.approx(single[-1]["b_simple"], rel=1e-6)


@pytest.mark.parametrize("key", ["auto_trajectory", "allreduce_trajectory"])
def test_trainer_under_ddp_matches_one_process_in_both_ddp_modes(ddp_result, key):
    # measure_mode="auto" under DDP is the comm hook, "allreduce" all-reduces measured steps
    # itself: either way each rank's 8 rows are a small batch, as in one process accumulating
    # two micro-batches of 8, and the parameters (third column) follow the same trajectory.
    single = trainer_run(make_model(), world_size=1, mode="exact", micro=2 * MICRO)
    assert math.isfinite(single[-1][1])  # a real estimate to compare, not only inf
    for got, want in zip(ddp_result[key], single, strict=True):
        assert got == pytest.approx(want, rel=1e-6, nan_ok=True)


def test_trainer_under_ddp_follows_the_single_process_trajectory(ddp_result):
    single = trainer_run(make_model(), world_size=1)
    for got, want in zip(ddp_result["trajectory"], single, strict=True):
        assert got == pytest.approx(want, rel=1e-6, nan_ok=True)
