"""One rank of the DDP tests (run as a script by test_ddp.py; gloo backend on the CPU).

Usage: ddp_worker.py RANK WORLD PORT OUT.json
Writes, on rank 0, the monitor's per-step observations (DDP with 2 micro-batches per rank) and
an AdaptiveBatchTrainer run's trajectory, to compare with one process doing the same work.
"""

from __future__ import annotations

import json
import os
import sys

import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.batch_size.ddp_common import (  # noqa: E402
    MICRO,
    make_data,
    make_model,
    monitor_steps,
    trainer_run,
)


def main() -> None:
    rank, world, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        model = DistributedDataParallel(make_model())
        x, y = make_data()
        per_rank = x.shape[0] // world
        mine = slice(rank * per_rank, (rank + 1) * per_rank)
        observations = monitor_steps(model, x[mine], y[mine], micro=MICRO)
        ddp_model = DistributedDataParallel(make_model())
        trajectory = trainer_run(ddp_model, world_size=world)
        # mode="ddp" (the comm hook): with 2 micro-batches per rank and with 1
        by_comm_hook = {
            str(k): monitor_steps(
                DistributedDataParallel(make_model()),
                x[mine],
                y[mine],
                micro=MICRO * 2 // k,
                mode="ddp",
            )
            for k in (2, 1)
        }
        auto_trajectory = trainer_run(DistributedDataParallel(make_model()), world, mode="auto")
        by_allreduce = {
            str(k): monitor_steps(
                DistributedDataParallel(make_model()),
                x[mine],
                y[mine],
                micro=MICRO * 2 // k,
                mode="allreduce",
            )
            for k in (2, 1)
        }
        allreduce_trajectory = trainer_run(
            DistributedDataParallel(make_model()), world, mode="allreduce"
        )
        if rank == 0:
            with open(out, "w") as f:
                json.dump(
                    {
                        "observations": observations,
                        "trajectory": trajectory,
                        "comm_hook": by_comm_hook,
                        "auto_trajectory": auto_trajectory,
                        "allreduce": by_allreduce,
                        "allreduce_trajectory": allreduce_trajectory,
                    },
                    f,
                )
        dist.barrier()  # both ranks done before teardown (gloo aborts on a one-sided close)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
    # Skip the interpreter's teardown: a gloo/DDP background thread still joinable there makes
    # C++ call std::terminate ("terminate called without an active exception") about once in
    # tens of runs, after the results are written and the process group is destroyed.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
