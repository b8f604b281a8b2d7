"""Model, data and loops shared by the DDP worker processes and the single-process reference."""

from __future__ import annotations

import torch
from hpo.batch_size import AdaptiveBatchTrainer, GradientNoiseMonitor, Schedule

MICRO = 4  # examples per micro-batch per rank
STEPS = 3


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)
    ).double()


def make_data(n: int = 16 * STEPS, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g, dtype=torch.float64)
    y = torch.sin(x.sum(dim=1, keepdim=True)) + 0.1 * torch.randn(
        n, 1, generator=g, dtype=torch.float64
    )
    return x, y


def _loss(model, x, y):
    return (model(x) - y).pow(2).mean()


def monitor_steps(model, x, y, micro: int, mode: str = "exact") -> list[dict[str, float]]:
    """STEPS optimizer steps over (x, y) in micro-batches; returns the monitor's observations.

    x holds this process's examples for all steps, step-major: step s uses rows
    [s*n/STEPS, (s+1)*n/STEPS), split into micro-batches of ``micro`` rows.
    """
    monitor = GradientNoiseMonitor(model, micro_batch_size=micro, beta=1.0, mode=mode)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    per_step = x.shape[0] // STEPS
    k = per_step // micro
    out = []
    for s in range(STEPS):
        xs, ys = x[s * per_step : (s + 1) * per_step], y[s * per_step : (s + 1) * per_step]
        for i in range(k):
            sync = getattr(model, "no_sync", None)
            last = i == k - 1
            ctx = sync() if (sync is not None and not last) else torch.enable_grad()
            if mode == "allreduce" and last:
                ctx = monitor.sync_context(model)  # a measured step all-reduces in observe()
            with ctx:
                (
                    _loss(model, xs[i * micro : (i + 1) * micro], ys[i * micro : (i + 1) * micro])
                    / k
                ).backward()
        out.append(monitor.observe())
        opt.step()
        opt.zero_grad()
    out.append({"b_simple": monitor.gns.b_simple})
    return out


class TensorData:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return self.x.shape[0]

    def get_batch(self, idx):
        return self.x[idx], self.y[idx]


def trainer_run(
    model, world_size: int, steps: int = 4, mode: str = "exact", micro: int = MICRO
) -> list[list[float]]:
    """AdaptiveBatchTrainer with a global batch of 16 (micro 4 per rank); the trajectory."""
    x, y = make_data(64, seed=2)
    sched = Schedule.constant(16, 0.05, world_size=world_size, max_micro_batch=micro)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    trainer = AdaptiveBatchTrainer(
        model,
        opt,
        TensorData(x, y),
        lambda m, b: _loss(m, *b),
        schedule=sched,
        beta=1.0,
        measure_mode=mode,
    )
    rows = []
    for _ in range(steps):
        r = trainer.step()
        rows.append([r.loss, r.b_noise, float(sum(p.detach().sum() for p in model.parameters()))])
    return rows
