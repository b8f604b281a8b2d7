"""GPU trials on Ray, several per GPU: hpo's Ray executor against Ray Tune, same trials, same ASHA.

Each trial trains the byte-level GPT of ``benchmarks/batch_size/charlm.py`` with a configuration
drawn from the char-LM table's space (benchmarks/tabular/charlm.py: lr, width, layers, batch
size, weight decay) for up to ``--max-intervals`` intervals of ``--steps`` steps, evaluates the
validation loss after each and saves a checkpoint (model, optimizer, step). The same training
function runs on both sides, each trial as a Ray actor with ``--gpu-per-trial`` of the GPU
(0.25: four trials at once on one GPU) and one CPU:

* hpo: ``Client.run(..., executor="ray")`` with the ASHA scheduler (stopping variant, eta 3,
  fidelity 1..max-intervals), the study in a SQLite file;
* Ray Tune: ``Tuner`` with ``AsyncHyperBandScheduler`` (the same stopping rule: grace period 1,
  reduction factor 3, max_t = max-intervals), ``max_concurrent_trials`` = trials per GPU.

Measured per system: wall seconds, trial runs, intervals trained, the compute seconds the
trials spent training and evaluating (timed inside the trials, with CUDA synchronization), the
idle slot-seconds per run = (wall x slots - compute) / runs (the scheduling overhead: actor
start, CUDA context, data loading, the scheduler's and the storage's work), and the GPU
utilization sampled by nvidia-smi every second during the run.

    python -m benchmarks.ray_gpu --trials 48 --out /tmp/ray_gpu.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.tabular.charlm import CTX, SPACE, adamw, lm_steps

ARGS: dict[str, Any] = {"steps": 150, "eval_batches": 8}


def train(
    cfg: dict[str, Any],
    ckpt_dir: Path,
    start: int,
    until: int,
    report: Any,
    steps: int,
    world: int = 1,
) -> None:
    """Trains intervals start+1..until; ``report(interval, loss, compute_s, setup_s)`` returns
    False to stop. Checkpoints (model, optimizer) go to ``ckpt_dir/state.pt`` before each
    report. ``world`` > 1: DistributedDataParallel over that many GPUs (NCCL), this process
    being rank 0 (it reports) and the others spawned here; each rank takes batch/world
    sequences per step."""
    if world == 1:
        _train_rank(0, 1, 0, cfg, ckpt_dir, start, until, report, steps)
        return
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # by reference from the module: the trial function may have travelled by value (__main__)
    from benchmarks.ray_gpu import _train_rank as rank_main

    ctx = mp.get_context("spawn")
    others = [
        ctx.Process(
            target=rank_main,
            args=(r, world, port, cfg, ckpt_dir, start, until, None, steps),
            daemon=True,
        )
        for r in range(1, world)
    ]
    for p in others:
        p.start()
    try:
        _train_rank(0, world, port, cfg, ckpt_dir, start, until, report, steps)
    finally:
        for p in others:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()


def _train_rank(
    rank: int,
    world: int,
    port: int,
    cfg: dict[str, Any],
    ckpt_dir: Path,
    start: int,
    until: int,
    report: Any,
    steps: int,
) -> None:
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F

    from benchmarks.batch_size.charlm import GPT, VOCAB, Windows, load_corpus

    t0 = time.perf_counter()
    cuda = torch.cuda.is_available()
    dev = torch.device(f"cuda:{rank}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(dev)
    if world > 1:
        dist.init_process_group(
            "nccl" if cuda else "gloo",
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=world,
        )
    try:
        data, _ = load_corpus(10_000_000)
        tokens = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(dev)
        n_val = len(data) // 20
        train_w, val_w = Windows(tokens[:-n_val], CTX), Windows(tokens[-n_val:], CTX)
        g_val = torch.Generator().manual_seed(7)
        val = [val_w.get_batch(s) for s in torch.randint(0, len(val_w), (8, 64), generator=g_val)]
        width = max(32, int(round(cfg["width"] / 32)) * 32)
        torch.manual_seed(0)
        net = GPT(CTX, int(cfg["layers"]), width, width // 32, tie=True).to(dev)
        opt = adamw(net, cfg)
        state = ckpt_dir / "state.pt"
        if start > 0 and state.exists():
            ck = torch.load(state, map_location=dev)
            net.load_state_dict(ck["model"])
            opt.load_state_dict(ck["opt"])
        model = (
            torch.nn.parallel.DistributedDataParallel(net, device_ids=[rank] if cuda else None)
            if world > 1
            else net
        )
        g = torch.Generator(device=dev).manual_seed(1000 + start + 7919 * rank)
        amp = {"device_type": dev.type, "dtype": torch.bfloat16, "enabled": cuda}
        per_rank = max(1, int(cfg["batch_size"]) // world)
        step = start * steps
        setup_s = time.perf_counter() - t0
        for interval in range(start + 1, until + 1):
            t1 = time.perf_counter()
            step = lm_steps(model, opt, cfg, train_w, g, step, steps, per_rank)
            go = torch.ones(1, device=dev)
            if rank == 0:
                net.eval()
                with torch.no_grad(), torch.autocast(**amp):
                    vl = sum(
                        float(F.cross_entropy(net(xb).float().reshape(-1, VOCAB), yb.reshape(-1)))
                        for xb, yb in val
                    ) / len(val)
                net.train()
                if cuda:
                    torch.cuda.synchronize(dev)
                compute = time.perf_counter() - t1
                torch.save({"model": net.state_dict(), "opt": opt.state_dict()}, state)
                vl = vl if math.isfinite(vl) else 10.0
                first = interval == start + 1
                go[0] = float(report(interval, vl, compute, setup_s if first else 0.0))
            if world > 1:
                dist.broadcast(go, src=0)  # the other ranks follow rank 0's decision
            if not go.item():
                return
    finally:
        if world > 1:
            dist.destroy_process_group()


def hpo_trial(t: Any) -> None:
    """hpo's side: a function trial (TrialContext)."""
    start = int(t.checkpoint_step) if (t.resume and t.checkpoint_step) else 0

    import ray

    gpu_ids = sorted(int(i) for i in ray.get_gpu_ids())
    world = int(t.config.get("gpus", 1))  # with ray.gpus_param: this trial's GPUs, DDP if > 1

    def report(interval: int, loss: float, compute: float, setup: float) -> bool:
        d = t.report(
            interval,
            checkpoint=True,
            loss=loss,
            compute_s=compute,
            setup_s=setup,
            gpu_first=gpu_ids[0] if gpu_ids else -1,
            gpu_count=len(gpu_ids),
        )
        return d.value == "continue"

    steps = int(os.environ.get("HPO_RAY_GPU_STEPS", ARGS["steps"]))
    # Train until hpo says PAUSE or STOP, not to t.until: ASHA's promotion variant may answer
    # CONTINUE at a rung (the trial is promoted in place), and then the run goes on past it.
    last = int(os.environ.get("HPO_RAY_GPU_MAX_INTERVALS", t.until))
    train(t.config, t.checkpoint_dir, start, last, report, steps, world=world)


def tune_trial(config: dict[str, Any]) -> None:
    """Ray Tune's side: a function trainable with checkpoints."""
    from ray import tune

    ckpt = tune.get_checkpoint()
    start = 0
    work = Path(tempfile.mkdtemp(prefix="tune-trial-"))
    if ckpt is not None:
        with ckpt.as_directory() as d:
            meta = json.loads((Path(d) / "meta.json").read_text())
            start = meta["interval"]
            (work / "state.pt").write_bytes((Path(d) / "state.pt").read_bytes())

    def report(interval: int, loss: float, compute: float, setup: float) -> bool:
        (work / "meta.json").write_text(json.dumps({"interval": interval}))
        tune.report(
            {"loss": loss, "interval": interval, "compute_s": compute, "setup_s": setup},
            checkpoint=tune.Checkpoint.from_directory(str(work)),
        )
        return True  # Ray Tune stops a trial by not returning from report

    train(config, work, start, config["_max_intervals"], report, config["_steps"])


class GpuSampler:
    """nvidia-smi utilization.gpu of every GPU every second, in a thread, while in ``with``."""

    def __init__(self) -> None:
        self.per_gpu: list[list[float]] = []  # one row per sample, one value per GPU
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                out = subprocess.run(
                    ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                    capture_output=True,
                    text=True,
                    timeout=5,
                ).stdout
                row = [float(x) for x in out.split()]
                if row:
                    self.per_gpu.append(row)
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                pass
            self._stop.wait(1.0)

    @property
    def samples(self) -> list[float]:
        """Utilization averaged over the GPUs, per sample."""
        return [statistics.fmean(r) for r in self.per_gpu]

    def gpu_means(self) -> list[float]:
        n = min((len(r) for r in self.per_gpu), default=0)
        return [round(statistics.fmean(r[i] for r in self.per_gpu), 1) for i in range(n)]

    def __enter__(self) -> GpuSampler:
        self._t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._t.join(timeout=10)


def _summary(
    name: str, wall: float, slots: int, runs: int, rows: list[dict[str, float]], gpu: list[float]
) -> dict[str, Any]:
    compute = sum(r["compute_s"] for r in rows)
    return {
        "system": name,
        "wall_s": round(wall, 1),
        "runs": runs,
        "intervals": len(rows),
        "compute_s": round(compute, 1),
        "setup_s_mean": round(statistics.mean(r["setup_s"] for r in rows if r["setup_s"]), 2)
        if any(r["setup_s"] for r in rows)
        else None,
        "idle_slot_s_per_run": round((wall * slots - compute) / max(runs, 1), 2),
        "gpu_util_mean": round(statistics.mean(gpu), 1) if gpu else None,
        "best_loss": round(min(r["loss"] for r in rows), 4) if rows else None,
    }


def run_hpo(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import hpo

    c = hpo.Client(f"sqlite:///{tmp / 'hpo.db'}")
    space = dict(SPACE)
    ray_opts: dict[str, Any] = {
        "num_gpus": args.gpu_per_trial,
        "num_cpus": 1,
        "address": args.ray_address,
    }
    if args.gpus_choice:  # some trials data-parallel over several GPUs
        space["gpus"] = {"type": "categorical", "choices": _ints(args.gpus_choice)}
        ray_opts.update(num_gpus=1, gpus_param="gpus")
    s = c.create_study(
        "ray-gpu",
        space,
        "loss",
        fidelity={"name": "interval", "min": 1, "max": args.max_intervals},
        scheduler={"name": "asha", "params": {"eta": 3, "variant": args.asha, "seed": 0}},
        budget={"max_trials": args.trials},
    )
    slots = args.slots
    t0 = time.perf_counter()
    with GpuSampler() as gpu:
        c.run(
            s,
            hpo_trial,
            executor="ray",
            n_workers=slots,
            runs_dir=str(tmp / "runs"),
            progress=False,
            ray={
                **ray_opts,
                "runtime_env": {
                    "env_vars": {
                        "HPO_RAY_GPU_STEPS": str(args.steps),
                        "HPO_RAY_GPU_MAX_INTERVALS": str(args.max_intervals),
                    }
                },
            },
        )
    wall = time.perf_counter() - t0
    h = c.history(s)
    rows = [dict(r.metrics) for t in h.trials() for r in h.reports(t.id)]
    runs = sum(t.resumes + 1 for t in h.trials())
    states: dict[str, int] = {}
    for t in h.trials():
        states[t.state.value] = states.get(t.state.value, 0) + 1
    out = _summary("hpo (Ray executor, ASHA)", wall, slots, runs, rows, gpu.samples)
    out["states"] = states
    out["gpu_util_per_gpu"] = gpu.gpu_means()
    out["placement"] = _placement(h)
    return out


def _placement(h: Any) -> dict[str, Any]:
    """Which GPUs each run of each trial used (a run = the reports between two pauses)."""
    trials, moved, resumed = [], 0, 0
    for t in h.trials():
        runs: list[dict[str, Any]] = []
        for r in h.reports(t.id):
            where = (int(r.metrics.get("gpu_first", -1)), int(r.metrics.get("gpu_count", 0)))
            if not runs or r.metrics.get("setup_s", 0.0) > 0 or runs[-1]["gpus"] != where:
                runs.append({"from": r.step, "gpus": where})
        gpus = int(t.config.get("gpus", 1))
        trials.append(
            {"number": t.number, "gpus": gpus, "runs": [(x["from"], *x["gpus"]) for x in runs]}
        )
        resumed += max(len(runs) - 1, 0)
        moved += sum(1 for a, b in zip(runs, runs[1:], strict=False) if a["gpus"] != b["gpus"])
    return {
        "resumed_runs": resumed,
        "resumed_on_other_gpus": moved,
        "trials_by_gpus": {
            str(k): sum(1 for x in trials if x["gpus"] == k) for k in {x["gpus"] for x in trials}
        },
        "trials": trials,
    }


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def run_tune(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import ray
    from ray import tune
    from ray.tune.schedulers import AsyncHyperBandScheduler

    from benchmarks.peers.raytune import tune_space

    slots = args.slots
    space = tune_space(SPACE)
    space.update(_max_intervals=args.max_intervals, _steps=ARGS["steps"])
    ray.init(include_dashboard=False, log_to_driver=False, num_cpus=max(args.slots, 1) + 1)
    t0 = time.perf_counter()
    with GpuSampler() as gpu:
        tuner = tune.Tuner(
            tune.with_resources(tune_trial, {"cpu": 1, "gpu": args.gpu_per_trial}),
            param_space=space,
            tune_config=tune.TuneConfig(
                metric="loss",
                mode="min",
                scheduler=AsyncHyperBandScheduler(
                    time_attr="interval",
                    grace_period=1,
                    max_t=args.max_intervals,
                    reduction_factor=3,
                ),
                num_samples=args.trials,
                max_concurrent_trials=slots,
            ),
            run_config=tune.RunConfig(storage_path=str(tmp / "tune"), verbose=0),
        )
        grid = tuner.fit()
    wall = time.perf_counter() - t0
    rows = []
    for r in grid:
        df = r.metrics_dataframe
        if df is None:
            continue
        for _, row in df.iterrows():
            rows.append({k: float(row[k]) for k in ("loss", "compute_s", "setup_s") if k in row})
    ray.shutdown()
    return _summary("Ray Tune (AsyncHyperBand)", wall, slots, len(grid), rows, gpu.samples)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ray_gpu", description=__doc__)
    ap.add_argument("--trials", type=int, default=48)
    ap.add_argument("--max-intervals", type=int, default=9)
    ap.add_argument("--steps", type=int, default=150, help="training steps per interval")
    ap.add_argument("--gpu-per-trial", type=float, default=0.25)
    ap.add_argument("--slots", type=int, default=None, help="default: 1 / gpu-per-trial")
    ap.add_argument("--systems", default="hpo,raytune")
    ap.add_argument(
        "--gpus-choice",
        default="",
        help="e.g. 1,2: a 'gpus' parameter per trial (hpo only): 2 = DDP over 2 GPUs",
    )
    ap.add_argument("--asha", default="stopping", choices=["stopping", "promotion"])
    ap.add_argument("--ray-address", default=None, help="hpo: an existing cluster (default: own)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    ARGS["steps"] = args.steps
    if args.gpus_choice:
        if "raytune" in args.systems.split(","):
            ap.error("--gpus-choice is for --systems hpo")
        args.gpu_per_trial = 1.0
        if args.slots is None:
            import torch

            args.slots = max(torch.cuda.device_count(), 1)  # one 1-GPU trial per GPU
    if args.slots is None:
        if args.gpu_per_trial <= 0:
            ap.error("--slots is needed without GPUs")
        args.slots = int(round(1 / args.gpu_per_trial))
    os.environ["HPO_RAY_GPU_STEPS"] = str(args.steps)
    results = []
    with tempfile.TemporaryDirectory() as d:
        for system in args.systems.split(","):
            fn = {"hpo": run_hpo, "raytune": run_tune}[system]
            (Path(d) / system).mkdir()
            res = fn(args, Path(d) / system)
            results.append(res)
            print(json.dumps(res), flush=True)
            if args.out:
                Path(args.out).write_text(json.dumps({"args": vars(args), "results": results}))
    keys = ("system", "wall_s", "runs", "intervals", "compute_s", "idle_slot_s_per_run")
    print("| " + " | ".join(keys) + " | GPU util % | best loss |")
    print("|" + "---|" * (len(keys) + 2))
    for r in results:
        cells = [str(r[k]) for k in keys] + [str(r["gpu_util_mean"]), str(r["best_loss"])]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
