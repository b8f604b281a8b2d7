"""Critical batch size of a character-level GPT: fixed-batch sweep, noise scale, adaptive run.

Tests McCandlish, Kaplan, Amodei et al. 2018, "An Empirical Model of Large-Batch Training"
(arXiv 1812.06162) with ``hpo.batch_size`` on a small GPT-style byte-level language model trained
on an offline corpus: the Python standard library's own ``.py`` files (tests excluded).

1. Fixed-batch sweep: each batch size B (in sequences of ``--ctx`` bytes) trains from the same
   initialization until the validation loss reaches ``--target-loss``. Steps S and examples
   E = B*S to the target are interpolated linearly between the two evaluations that straddle it.
   The learning rate is ``--base-lr`` at ``--base-batch`` carried by the square-root rule, times
   each of ``--lr-multipliers`` (the run that needs the fewest steps is kept; all are recorded).
   Every step is split into ``--gns-micro`` micro-batches so that
   :class:`~hpo.batch_size.AdaptiveBatchTrainer`'s monitor measures the gradient noise scale
   B_simple = tr(Sigma)/|G|^2 during training (McCandlish App. A.1), at no extra backward pass.
2. Fit: ``S = S_min (1 + B_crit/B)`` and ``E = E_min (1 + B/B_crit)`` (eq. 2.11) by
   :func:`~hpo.batch_size.fit_critical_batch`, compared with the B_simple measured in the last
   30% of the steps before each run reached the target (McCandlish: B_crit ~ B_noise, expected
   here within a factor of 2).
3. Adaptive run: a :class:`~hpo.batch_size.NoiseScaleController` starts at the smallest batch
   and grows the batch to ``--fraction`` x the measured noise scale (square-root LR rule, capped
   at the largest batch); its (S, E) to the same target is compared with the fitted frontier
   ``(S/S_min - 1)(E/E_min - 1) = 1`` and with the measured fixed-batch points.
4. Overhead: mean step time at each of ``--overhead-batch`` with the noise measurement on (every
   step, and every n-th step for n in ``--overhead-intervals``) and off, with the same
   micro-batch split, in alternating blocks with ``torch.cuda.synchronize`` around each block;
   also without the split (one micro-batch), the cost of the split itself.

Batch sizes and noise scales are in sequences of ``--ctx`` tokens (bytes) unless a key or a
column says ``tokens`` (= sequences x ctx). Losses are mean cross-entropy in nats per byte.
Everything goes to ``OUT/results.json`` (written after every run, so a partial run leaves its
results) and a summary table is printed. Imports only the standard library, torch and
``hpo.batch_size``; ``benchmarks/batch_size/figure.py`` plots the results (plotly).

Run from the repository root::

    python -m benchmarks.batch_size.charlm --out /tmp/charlm            # GPU defaults
    python -m benchmarks.batch_size.charlm --smoke --out /tmp/charlm    # < 1 min on a CPU
    python -m benchmarks.batch_size.figure /tmp/charlm/results.json

Without an installed ``hpo`` (``pip install -e .`` maps ``hpo.batch_size`` to ``batch_size/``),
put a directory holding ``hpo/__init__.py`` and ``hpo/batch_size/`` (a copy of ``batch_size/``)
on PYTHONPATH and start Python with ``-P``, so that the checkout's own ``hpo/`` (which has no
``batch_size``) does not shadow it::

    PYTHONPATH=/tmp/pkg:$PWD python -P -m benchmarks.batch_size.charlm --out /tmp/charlm \
        --overhead-batch 128,2048 --overhead-intervals 1,10 --overhead-steps 400 \
        --overhead-blocks 8

Under DistributedDataParallel (one process per GPU, NCCL; gloo on CPUs) start it with torchrun:
every fixed and adaptive run is then data-parallel, the monitor measures in mode "ddp" (the
ranks' batches are the small batches, so ``--gns-micro 1`` is enough), the overhead table adds
the per-parameter "exact" mode, and ``--agreement-batches N`` first compares B_simple from the
GPUs with one GPU's at the same trained state (same data and independent data)::

    python -m torch.distributed.run --standalone --nproc_per_node 2 \
        -m benchmarks.batch_size.charlm --out /tmp/ddp --gns-micro 1 --agreement-batches 64

On one H100 (torch 2.11, bf16) that command took 340 s: sweep 178 s, adaptive run 35 s,
overhead 115 s. Steps are launch-bound at ~22 ms for every batch size up to 512 sequences here.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import statistics
import sys
import sysconfig
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from hpo.batch_size import (
    AdaptiveBatchTrainer,
    NoiseScaleController,
    Schedule,
    critical_batch_from_noise_scale,
    fit_critical_batch,
    scale_lr,
)
from torch import nn

VOCAB = 256  # bytes
SKIP_DIRS = frozenset({"test", "tests", "idlelib", "site-packages", "dist-packages", "__pycache__"})
NEAR_TARGET = 0.3  # B_noise "near the target": the last 30% of the steps before reaching it
EVAL_WINDOWS = 64  # windows per evaluation batch

# --smoke: a tiny model and corpus that finish in well under a minute on a CPU.
SMOKE = {
    "corpus_mb": 1.0,
    "layers": 2,
    "d_model": 64,
    "heads": 2,
    "ctx": 32,
    "batch_sizes": "8,16,32",
    "base_batch": 8,
    "base_lr": 3e-3,
    "target_loss": 2.6,
    "warmup_steps": 10,
    "eval_every": 10,
    "eval_batches": 4,
    "max_steps": 400,
    "max_seconds_per_run": 10.0,
    "min_observations": 5,
    "overhead_batch": "16",
    "overhead_steps": 20,
    "overhead_warmup": 5,
    "overhead_blocks": 2,
}


# ---- corpus and data -----------------------------------------------------------------------------
def load_corpus(max_bytes: int) -> tuple[bytes, dict[str, Any]]:
    """The standard library's .py files (sorted paths, test dirs skipped), capped at max_bytes."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(
        (p for p in root.rglob("*.py") if not SKIP_DIRS & set(p.relative_to(root).parts[:-1])),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    buf = bytearray()
    used = 0
    for p in files:
        if len(buf) >= max_bytes:
            break
        buf += p.read_bytes()
        used += 1
    data = bytes(buf[:max_bytes])
    if len(data) < 10_000:
        raise SystemExit(f"the corpus under {root} has only {len(data)} bytes")
    info = {
        "stdlib": str(root),
        "python": platform.python_version(),
        "files_available": len(files),
        "files_used": used,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    return data, info


class Windows:
    """Random-offset windows of ``ctx + 1`` tokens of a token tensor (on the training device).

    Item i is the window starting at token i: ``x = tokens[i : i+ctx]``, ``y`` shifted by one.
    ``get_batch`` gathers a batch on the tokens' device with one indexing operation.
    """

    def __init__(self, tokens: torch.Tensor, ctx: int) -> None:
        if tokens.numel() < ctx + 2:
            raise ValueError(f"{tokens.numel()} tokens cannot hold a window of {ctx + 1}")
        self.tokens, self.ctx = tokens, ctx
        self.offsets = torch.arange(ctx + 1, device=tokens.device)

    def __len__(self) -> int:
        return self.tokens.numel() - self.ctx

    def get_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        idx = idx.to(self.tokens.device, non_blocking=True)
        w = self.tokens[idx.unsqueeze(1) + self.offsets].long()
        return w[:, :-1], w[:, 1:]


class Evaluator:
    """Mean validation loss over a fixed set of ``batches`` x 64 windows (seeded offsets)."""

    def __init__(self, tokens: torch.Tensor, ctx: int, batches: int, seed: int) -> None:
        self.windows = Windows(tokens, ctx)
        g = torch.Generator().manual_seed(seed)
        starts = torch.randint(0, len(self.windows), (batches, EVAL_WINDOWS), generator=g)
        self.batches = [self.windows.get_batch(b) for b in starts]

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> float:
        was_training = model.training
        model.eval()
        total = torch.zeros((), device=self.windows.tokens.device)
        for x, y in self.batches:
            total += cross_entropy(model, x, y)
        model.train(was_training)
        return float(total) / len(self.batches)


# ---- model ---------------------------------------------------------------------------------------
class SelfAttention(nn.Module):
    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model {d_model} is not a multiple of heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        qkv = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, heads)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, 4 * d_model, bias=False)
        self.out = nn.Linear(4 * d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    """A small GPT: byte embedding + learned positions, pre-LN blocks, final LN, linear head."""

    def __init__(self, ctx: int, layers: int, d_model: int, heads: int, tie: bool) -> None:
        super().__init__()
        self.ctx = ctx
        self.tok = nn.Embedding(VOCAB, d_model)
        self.pos = nn.Embedding(ctx, d_model)
        self.blocks = nn.ModuleList(Block(d_model, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, VOCAB, bias=False)
        for m in self.modules():
            if isinstance(m, nn.Linear | nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)
        for blk in self.blocks:  # GPT-2: residual projections scaled by 1/sqrt(2 * layers)
            for w in (blk.attn.proj.weight, blk.out.weight):
                nn.init.normal_(w, std=0.02 / math.sqrt(2 * layers))
        if tie:
            self.head.weight = self.tok.weight

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.tok(idx) + self.pos.weight[: idx.shape[1]]
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln_f(x))


def cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean next-byte cross-entropy (nats); bf16 autocast on CUDA, fp32 elsewhere."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=x.device.type == "cuda"):
        logits = model(x)
    return F.cross_entropy(logits.float().reshape(-1, VOCAB), y.reshape(-1))


def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return cross_entropy(model, *batch)


# ---- experiment plumbing -------------------------------------------------------------------------
@dataclass
class Env:
    args: argparse.Namespace
    device: torch.device
    train: Windows
    evaluator: Evaluator
    results: dict[str, Any]
    out: Path
    world: int = 1  # DistributedDataParallel ranks (torchrun); 1: one process
    rank: int = 0

    def bare_model(self) -> nn.Module:
        """A fresh model, always from the same initialization (seed ``--seed``)."""
        a = self.args
        torch.manual_seed(a.seed)
        return GPT(a.ctx, a.layers, a.d_model, a.heads, a.tie).to(self.device)

    def model(self) -> nn.Module:
        """``bare_model()``, wrapped in DistributedDataParallel when there are several ranks."""
        return self.wrap(self.bare_model())

    def wrap(self, m: nn.Module) -> nn.Module:
        if self.world == 1:
            return m
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(m, device_ids=ids)

    def evaluate(self, model: nn.Module) -> float:
        """Validation loss; under DDP the ranks' (equal) values averaged, so all ranks agree."""
        loss = self.evaluator(getattr(model, "module", model))
        if self.world == 1:
            return loss
        t = torch.tensor([loss], device=self.device, dtype=torch.float64)
        torch.distributed.all_reduce(t)
        return float(t) / self.world

    def agree(self, flag: bool) -> bool:
        """True on every rank if it is true on any (time limits differ between ranks)."""
        if self.world == 1:
            return flag
        t = torch.tensor([int(flag)], device=self.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item())

    def optimizer(self, model: nn.Module, lr: float) -> torch.optim.Optimizer:
        """AdamW (0.9, 0.95), weight decay on matrices (and embeddings) only."""
        params = [p for p in model.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": self.args.wd},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        fused = {"fused": True} if self.device.type == "cuda" else {}
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), **fused)

    def trainer(self, model: nn.Module, lr: float, **kw: Any) -> AdaptiveBatchTrainer:
        a = self.args
        return AdaptiveBatchTrainer(
            model,
            self.optimizer(model, lr),
            self.train,
            loss_fn,
            beta=a.beta,
            seed=a.seed + 1,
            clip_grad_norm=a.clip or None,
            **kw,
        )

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def save(self) -> None:
        if self.rank != 0:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / "results.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(_finite(self.results), indent=1) + "\n")
        tmp.replace(path)


def _finite(x: Any) -> Any:
    """JSON-safe copy: NaN and infinities become null."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def train_to_target(env: Env, trainer: AdaptiveBatchTrainer, label: str) -> dict[str, Any]:
    """Trains until the validation loss reaches the target (or a step/time limit).

    Returns the evaluation curve (with the noise scale measured so far at each evaluation), the
    reason training stopped and, if the target was reached, the interpolated steps, examples and
    training seconds to it.
    """
    a = env.args
    model = trainer.model
    curve: list[dict[str, Any]] = []
    train_seconds = 0.0
    t0 = time.perf_counter()

    def evaluate(loss: float | None) -> dict[str, Any]:
        s = trainer.schedule.at(max(trainer.step_count - 1, 0))
        point = {
            "step": trainer.step_count,
            "examples": trainer.examples,
            "seconds": train_seconds,
            "wall": time.perf_counter() - t0,
            "val_loss": env.evaluate(model),
            "train_loss": loss,
            "batch_size": s.batch_size,
            "lr": s.lr,
        }
        if trainer.monitor is not None:
            gns = trainer.monitor.gns
            point.update(
                b_noise=gns.b_simple,
                b_noise_std=gns.b_simple_std,
                grad_sq=gns.grad_sq,
                trace_cov=gns.trace_cov,
                observations=gns.count,
            )
        curve.append(point)
        return point

    evaluate(None)
    stop = "max_steps"
    loss = math.nan
    while trainer.step_count < a.max_steps:
        r = trainer.step()
        train_seconds += r.seconds
        loss = r.loss
        if not math.isfinite(loss):
            stop = "diverged"
            break
        due = trainer.step_count % a.eval_every == 0
        if due and evaluate(loss)["val_loss"] <= a.target_loss:
            stop = "target"
            break
        if env.agree(time.perf_counter() - t0 > a.max_seconds_per_run):
            stop = "max_seconds"
            break
    if curve[-1]["step"] != trainer.step_count:
        evaluate(loss)
    out: dict[str, Any] = {
        "stop": stop,
        "steps_run": trainer.step_count,
        "examples_run": trainer.examples,
        "train_seconds": train_seconds,
        "wall_seconds": time.perf_counter() - t0,
        "final_val_loss": curve[-1]["val_loss"],
        "reached": False,
        "curve": curve,
    }
    for i, p in enumerate(curve):
        if i and p["val_loss"] <= a.target_loss:
            q = curve[i - 1]
            f = (q["val_loss"] - a.target_loss) / (q["val_loss"] - p["val_loss"])
            out.update(
                reached=True,
                steps=q["step"] + f * (p["step"] - q["step"]),
                examples=q["examples"] + f * (p["examples"] - q["examples"]),
                seconds=q["seconds"] + f * (p["seconds"] - q["seconds"]),
                crossing_index=i,
            )
            break
    out["noise_scale"] = noise_summary(out, a.ctx)
    where = (
        f"target at step {out['steps']:.0f} ({out['seconds']:.1f} s)"
        if out["reached"]
        else f"stopped ({stop}) at step {trainer.step_count}, val {out['final_val_loss']:.3f}"
    )
    print(f"  {label}: {where}", flush=True)
    return out


def noise_summary(run: dict[str, Any], ctx: int) -> dict[str, Any] | None:
    """B_simple over the run (median, half-IQR, first 10% skipped) and near the target.

    "Near the target": evaluations in the last 30% of the steps before the target was reached,
    the one that crossed it included (or, if it was not reached, the last 30% of the run).
    """
    curve = run["curve"]
    if not curve or "b_noise" not in curve[0]:
        return None
    out: dict[str, Any] = {"units": f"sequences of {ctx} tokens; *_tokens = x {ctx}"}
    series = [p["b_noise"] for p in curve[1:]]
    try:
        med, half = critical_batch_from_noise_scale(series, skip_fraction=0.1)
        out.update(median=med, half_iqr=half)
    except ValueError:
        out.update(median=math.nan, half_iqr=math.nan)
    end = run.get("crossing_index", len(curve) - 1)
    horizon = run["steps"] if run["reached"] else curve[end]["step"]
    near = [
        p["b_noise"]
        for p in curve[1 : end + 1]
        if p["step"] >= (1.0 - NEAR_TARGET) * horizon and math.isfinite(p["b_noise"])
    ]
    out["near_target_values"] = near
    if near:
        med, half = critical_batch_from_noise_scale(near, skip_fraction=0.0)
        out.update(near_target=med, near_target_half_iqr=half)
    else:
        out.update(near_target=math.nan, near_target_half_iqr=math.nan)
    for k in ("median", "half_iqr", "near_target", "near_target_half_iqr"):
        out[f"{k}_tokens"] = out[k] * ctx
    return out


# ---- 1. fixed-batch sweep ------------------------------------------------------------------------
def fixed_run(env: Env, batch: int, multiplier: float) -> dict[str, Any]:
    a = env.args
    lr = scale_lr(a.base_lr, a.base_batch, batch, "sqrt") * multiplier
    sched = Schedule.constant(
        batch,
        lr,
        world_size=env.world,
        max_micro_batch=batch // (env.world * a.gns_micro),
        warmup_steps=a.warmup_steps,
    )
    model = env.model()
    trainer = env.trainer(model, lr, schedule=sched)
    phase = sched.phases[0]
    out = {
        "batch_size": batch,
        "batch_tokens": batch * a.ctx,
        "lr": lr,
        "lr_multiplier": multiplier,
        "micro_batch_size": phase.micro_batch_size,
        "accumulation_steps": phase.accumulation_steps,
        "seeds": {"init": a.seed, "data": a.seed + 1, "eval": a.seed + 2},
    }
    out.update(train_to_target(env, trainer, f"B={batch:<5d} lr={lr:.3g}"))
    trainer.monitor.remove()
    return out


def sweep(env: Env) -> list[dict[str, Any]]:
    """Every (batch size, LR multiplier) run; marks the kept run per batch size."""
    a = env.args
    runs: list[dict[str, Any]] = env.results.setdefault("runs", [])
    for b in a.batch_list:
        tried = []
        for m in a.multiplier_list:
            run = fixed_run(env, b, m)
            runs.append(run)
            tried.append(run)
            env.save()
        reached = [r for r in tried if r["reached"]]
        best = (
            min(reached, key=lambda r: r["steps"])
            if reached
            else min(tried, key=lambda r: r["final_val_loss"])
        )
        best["selected"] = True
    return [r for r in runs if r.get("selected")]


# ---- 2. fit and noise-scale comparison -----------------------------------------------------------
def fit_sweep(env: Env, selected: list[dict[str, Any]]) -> dict[str, Any]:
    ctx = env.args.ctx
    ok = [r for r in selected if r["reached"]]
    out: dict[str, Any] = {
        "batch_sizes": [r["batch_size"] for r in ok],
        "not_reached": [r["batch_size"] for r in selected if not r["reached"]],
    }
    try:
        fit = fit_critical_batch(
            [r["batch_size"] for r in ok], [r["steps"] for r in ok], [r["examples"] for r in ok]
        )
    except ValueError as e:
        out["error"] = str(e)
        return out
    out.update(fit.as_dict())
    out.update(
        units="B_crit and E_min in sequences; *_tokens = x ctx",
        b_crit_tokens=fit.b_crit * ctx,
        b_crit_se_tokens=fit.b_crit_se * ctx,
        e_min_tokens=fit.e_min * ctx,
        b_star_reference=min(r["batch_size"] for r in ok),
        b_star=fit.b_star(min(r["batch_size"] for r in ok)),
    )
    # The noise scale measured during the fixed-batch runs, near the target.
    pooled = [v for r in ok for v in (r["noise_scale"] or {}).get("near_target_values", [])]
    per_run = [
        r["noise_scale"]["near_target"]
        for r in ok
        if r["noise_scale"] and math.isfinite(r["noise_scale"]["near_target"])
    ]
    if pooled:
        # Pooled over the runs' near-target evaluations (so the small batches, which take more
        # steps, weigh more) and, as a check, the median of the per-run medians.
        med, half = critical_batch_from_noise_scale(pooled, skip_fraction=0.0)
        ratio = fit.b_crit / med if med > 0 else math.inf
        per_run_med = statistics.median(per_run) if per_run else math.nan
        out["noise_scale"] = {
            "b_noise": med,
            "b_noise_half_iqr": half,
            "b_noise_tokens": med * ctx,
            "b_noise_half_iqr_tokens": half * ctx,
            "values": len(pooled),
            "per_run_median": per_run_med,
            "per_run_median_tokens": per_run_med * ctx,
            "b_crit_over_b_noise": ratio,
            "within_factor_2": 0.5 <= ratio <= 2.0,
            "b_crit_over_per_run_median": fit.b_crit / per_run_med,
        }
    return out


# ---- 3. adaptive run -----------------------------------------------------------------------------
def adaptive_run(
    env: Env, selected: list[dict[str, Any]], fit: dict[str, Any], fraction: float
) -> dict[str, Any]:
    a = env.args
    smallest, largest = min(a.batch_list), max(a.batch_list)
    base = next((r for r in selected if r["batch_size"] == smallest), None)
    base_lr = base["lr"] if base else scale_lr(a.base_lr, a.base_batch, smallest, "sqrt")
    per = env.world * a.gns_micro
    unit = next(
        (m for m in (4 * per, 2 * per) if smallest % m == 0 and largest % m == 0),
        per,
    )
    # Every batch split into exactly gns_micro micro-batches per rank (as in the fixed runs), so
    # that a single GPU keeps measuring the noise scale at every batch size (under DDP the ranks'
    # batches are the small batches, and gns_micro may be 1).
    ctrl = NoiseScaleController(
        base_batch=smallest,
        base_lr=base_lr,
        max_batch=largest,
        world_size=env.world,
        fraction=fraction,
        lr_rule="sqrt",
        batch_multiple=unit // per,
        min_accumulation_steps=a.gns_micro,
        hysteresis=a.hysteresis,
        min_observations=a.min_observations,
        warmup_steps=a.warmup_steps,
    )
    model = env.model()
    trainer = env.trainer(model, base_lr, controller=ctrl)
    out: dict[str, Any] = {
        "controller": {
            "base_batch": smallest,
            "base_lr": base_lr,
            "max_batch": largest,
            "fraction": fraction,
            "lr_rule": "sqrt",
            "batch_multiple": unit,
            "hysteresis": a.hysteresis,
            "min_observations": a.min_observations,
            "micro_batches": a.gns_micro,
            "beta": a.beta,
        },
        "seeds": {"init": a.seed, "data": a.seed + 1, "eval": a.seed + 2},
    }
    out.update(train_to_target(env, trainer, f"adaptive f={fraction:g} B={smallest}..{largest}"))
    trainer.monitor.remove()
    out["phases"] = [asdict(p) for p in ctrl.schedule.phases]
    if out["reached"]:
        out["frontier"] = frontier(fit, out["steps"], out["examples"], selected, a.frontier_tol)
    return out


def frontier(
    fit: dict[str, Any], steps: float, examples: float, selected: list[dict[str, Any]], tol: float
) -> dict[str, Any]:
    """Where (steps, examples) lies relative to the fitted and the measured frontier.

    With B_eff = E/S, the ray from the origin through the point meets the fitted hyperbola
    (S/S_min - 1)(E/E_min - 1) = 1 at S_fit(B_eff) = S_min + E_min/B_eff; ``ratio`` = S/S_fit =
    E/E_fit is <= 1 for a point on or inside the frontier (equivalently product <= 1 when
    S > S_min and E > E_min), ``verdict`` is "inside" (ratio <= 1), "on" (<= 1 + tol) or
    "outside". Measured: the fixed-batch runs that are at least as good in both steps and
    examples ("dominated_by"), and the steps at B_eff interpolated log-log between the two
    fixed batch sizes around it.
    """
    b_eff = examples / steps
    out: dict[str, Any] = {"b_eff": b_eff, "steps": steps, "examples": examples}
    if "s_min" in fit:
        s_min, e_min = fit["s_min"], fit["e_min"]
        s_fit = s_min + e_min / b_eff
        ratio = steps / s_fit
        out.update(
            product=(steps / s_min - 1.0) * (examples / e_min - 1.0),
            fit_steps_at_b_eff=s_fit,
            fit_examples_at_b_eff=s_fit * b_eff,
            ratio=ratio,
            verdict="inside" if ratio <= 1.0 else ("on" if ratio <= 1.0 + tol else "outside"),
        )
    pts = sorted((r for r in selected if r["reached"]), key=lambda r: r["batch_size"])
    out["dominated_by"] = [
        r["batch_size"] for r in pts if r["steps"] <= steps and r["examples"] <= examples
    ]
    out["nearest_fixed"] = [
        {"batch_size": r["batch_size"], "steps": r["steps"], "examples": r["examples"]}
        for r in sorted(pts, key=lambda r: abs(math.log(r["batch_size"] / b_eff)))[:2]
    ]
    for lo, hi in zip(pts, pts[1:], strict=False):
        if lo["batch_size"] <= b_eff <= hi["batch_size"]:
            t = math.log(b_eff / lo["batch_size"]) / math.log(hi["batch_size"] / lo["batch_size"])
            s_meas = math.exp((1 - t) * math.log(lo["steps"]) + t * math.log(hi["steps"]))
            out.update(measured_steps_at_b_eff=s_meas, measured_ratio=steps / s_meas)
            break
    return out


# ---- 3b. DDP: the noise scale from 2 GPUs and from 1 ---------------------------------------------
def _b_simple(rows: list[tuple[float, float]]) -> float:
    g = statistics.fmean(r[0] for r in rows)
    s = statistics.fmean(r[1] for r in rows)
    return s / g if g > 0 else math.inf


def _bootstrap_se(rows: list[tuple[float, float]], seed: int, n: int = 2000) -> float:
    """Standard error of B_simple = mean(tr Sigma) / mean(|G|^2) by resampling the batches."""
    g = torch.Generator().manual_seed(seed)
    t = torch.tensor(rows, dtype=torch.float64)
    idx = torch.randint(0, len(rows), (n, len(rows)), generator=g)
    means = t[idx].mean(dim=1)
    return float((means[:, 1] / means[:, 0]).std())


def noise_agreement(env: Env) -> dict[str, Any]:
    """Under DDP: B_simple at one trained state from W GPUs (comm hook) and from one GPU.

    The model trains ``--agreement-pretrain`` steps at global batch ``--agreement-batch`` (DDP, no
    measurement). With the weights then frozen, ``--agreement-batches`` global batches give
    per-batch estimates of |G|^2 and tr(Sigma) (McCandlish et al. 2018, eqs. A.2-A.3) three ways:

    * ``ddp``: every rank's slice is a small batch and the all-reduced gradient the big one
      (``GradientNoiseMonitor`` mode "ddp": the norms DDP has anyway, one norm per bucket);
    * ``single_same_data``: rank 0 alone, the same batches as W micro-batches of the same slices
      (mode "exact"): the same estimator on the same data, equal to ``ddp`` up to rounding;
    * ``single_other_data``: rank 0 alone on other batches: an independent estimate, which should
      agree with ``ddp`` within their uncertainty (``z`` = difference / combined bootstrap SE).
    """
    from hpo.batch_size import GradientNoiseMonitor
    from hpo.batch_size.training import IndexStream

    a = env.args
    w, b = env.world, a.agreement_batch
    lr = scale_lr(a.base_lr, a.base_batch, b, "sqrt")
    sched = Schedule.constant(
        b, lr, world_size=w, max_micro_batch=b // w, warmup_steps=a.warmup_steps
    )
    trainer = env.trainer(env.model(), lr, schedule=sched, measure_noise=False)
    trainer.run(a.agreement_pretrain)
    val = env.evaluate(trainer.model)
    state = {k: v.detach().clone() for k, v in trainer.model.module.state_dict().items()}
    del trainer

    def fresh() -> nn.Module:
        m = env.bare_model()
        m.load_state_dict(state)
        return m

    def batches(seed: int) -> list[torch.Tensor]:
        stream = IndexStream(len(env.train), seed)
        return [stream.take(b) for _ in range(a.agreement_batches)]

    def slices(idx: torch.Tensor) -> list[torch.Tensor]:
        return list(idx.chunk(w))

    # rank 0 alone: a group of one, so that its monitor all-reduces with nobody
    solo = torch.distributed.new_group([0])

    def measure(
        model: nn.Module, mode: str, parts_of: Any, idx_list: list[torch.Tensor], group: Any = None
    ) -> tuple[list[tuple[float, float]], float]:
        mon = GradientNoiseMonitor(model, b // w, beta=1.0, mode=mode, process_group=group)
        rows, seconds = [], 0.0
        for idx in idx_list:
            parts = parts_of(idx)
            env.sync()
            t0 = time.perf_counter()
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                sync = getattr(model, "no_sync", None)
                ctx = sync() if (sync is not None and not last) else contextlib.nullcontext()
                with ctx:
                    (loss_fn(model, env.train.get_batch(part)) / len(parts)).backward()
            obs = mon.observe()
            env.sync()
            seconds += time.perf_counter() - t0
            rows.append((obs["grad_sq"], obs["trace_cov"]))
            model.zero_grad(set_to_none=True)
        mon.remove()
        return rows, seconds

    same = batches(a.seed + 10)
    ddp_model = env.wrap(fresh())
    ddp_rows, ddp_s = measure(ddp_model, "ddp", lambda i: [slices(i)[env.rank]], same)
    out: dict[str, Any] = {
        "world_size": w,
        "global_batch": b,
        "small_batch": b // w,
        "pretrain_steps": a.agreement_pretrain,
        "val_loss_at_state": val,
        "batches": a.agreement_batches,
    }
    if env.rank == 0:
        single = fresh()
        same_rows, same_s = measure(single, "exact", slices, same, solo)
        other_rows, other_s = measure(single, "exact", slices, batches(a.seed + 20), solo)
        est = {}
        for name, rows, secs in (
            ("ddp", ddp_rows, ddp_s),
            ("single_same_data", same_rows, same_s),
            ("single_other_data", other_rows, other_s),
        ):
            est[name] = {
                "b_simple": _b_simple(rows),
                "b_simple_se": _bootstrap_se(rows, a.seed),
                "grad_sq": statistics.fmean(r[0] for r in rows),
                "trace_cov": statistics.fmean(r[1] for r in rows),
                "seconds_per_batch": secs / len(rows),
            }
        d, o, sm = est["ddp"], est["single_other_data"], est["single_same_data"]
        out.update(
            estimates=est,
            same_data_rel_diff=abs(d["b_simple"] / sm["b_simple"] - 1.0),
            per_batch_max_rel_diff=max(
                abs(x[1] / y[1] - 1.0) for x, y in zip(ddp_rows, same_rows, strict=True)
            ),
            other_data_z=(d["b_simple"] - o["b_simple"])
            / math.hypot(d["b_simple_se"], o["b_simple_se"]),
        )
        print(
            f"  B_simple at val {val:.3f}: DDP {d['b_simple']:.1f} ± {d['b_simple_se']:.1f}, "
            f"1 GPU same data {sm['b_simple']:.1f} (rel diff {out['same_data_rel_diff']:.1e}), "
            f"1 GPU other data {o['b_simple']:.1f} ± {o['b_simple_se']:.1f} "
            f"(z = {out['other_data_z']:+.2f})",
            flush=True,
        )
    torch.distributed.barrier()
    return out


# ---- 4. overhead ---------------------------------------------------------------------------------
def measure_overhead(env: Env, b: int) -> dict[str, Any]:
    """Mean step time at batch ``b`` with the noise measurement on and off, alternating blocks.

    ``overhead_pct``: measurement every step vs none, both with ``--gns-micro`` micro-batches.
    """
    a = env.args
    k = a.gns_micro
    lr = scale_lr(a.base_lr, a.base_batch, b, "sqrt")
    # (name, measure, micro-batches per rank, interval, monitor mode)
    variants: list[tuple[str, bool, int, int, str]] = [("measure_off", False, k, 1, "auto")]
    variants += [(f"measure_every_{i}", True, k, i, "auto") for i in a.interval_list]
    if env.world > 1:  # the per-parameter hooks, and measured steps all-reduced by the monitor
        variants.append(("measure_exact_every_1", True, k, 1, "exact"))
        variants += [
            (f"measure_allreduce_every_{i}", True, k, i, "allreduce") for i in a.interval_list
        ]
    if k > 1:
        variants.append(("measure_off_no_accumulation", False, 1, 1, "auto"))
    trainers = {}
    for name, measure, micro_batches, interval, mode in variants:
        sched = Schedule.constant(
            b, lr, world_size=env.world, max_micro_batch=b // (env.world * micro_batches)
        )
        trainers[name] = env.trainer(
            env.model(),
            lr,
            schedule=sched,
            measure_noise=measure,
            measure_interval=interval,
            measure_mode=mode,
        )
    for t in trainers.values():
        t.run(a.overhead_warmup)
    per_block = max(1, a.overhead_steps // a.overhead_blocks)
    times: dict[str, list[float]] = {name: [] for name in trainers}
    names = list(trainers)
    for block in range(a.overhead_blocks):
        shift = block % len(names)
        for name in names[shift:] + names[:shift]:  # rotate the order between blocks
            env.sync()
            t0 = time.perf_counter()
            trainers[name].run(per_block)
            env.sync()
            times[name].append((time.perf_counter() - t0) / per_block)
    out: dict[str, Any] = {
        "batch_size": b,
        "world_size": env.world,
        "monitor_mode": next(
            (t.monitor.mode for n, t in trainers.items() if n == "measure_every_1"), None
        ),
        "micro_batches": k,
        "steps_per_block": per_block,
        "blocks": a.overhead_blocks,
        "warmup_steps": a.overhead_warmup,
        "variants": {},
    }
    base = times["measure_off"]
    for name, ts in times.items():
        v: dict[str, Any] = {
            "mean_ms": 1e3 * statistics.fmean(ts),
            "block_ms": [1e3 * t for t in ts],
        }
        if name != "measure_off":
            pct = [100.0 * (t / t_off - 1.0) for t, t_off in zip(ts, base, strict=True)]
            v["overhead_pct"] = 100.0 * (statistics.fmean(ts) / statistics.fmean(base) - 1.0)
            v["overhead_pct_blocks"] = pct
            v["overhead_pct_se"] = (
                statistics.stdev(pct) / math.sqrt(len(pct)) if len(pct) > 1 else math.nan
            )
        out["variants"][name] = v
    for t in trainers.values():
        if t.monitor is not None:
            t.monitor.remove()
    headline = out["variants"].get("measure_every_1")
    if headline is not None:
        out["overhead_pct"] = headline["overhead_pct"]
        out["under_2_pct"] = headline["overhead_pct"] < 2.0
    return out


# ---- summary -------------------------------------------------------------------------------------
def _f(x: Any, spec: str = ".4g") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return format(x, spec)


def print_summary(res: dict[str, Any]) -> None:
    cfg = res["config"]
    ctx = cfg["ctx"]
    print()
    print(f"device: {res['environment']['device_name']}  torch {res['environment']['torch']}")
    print(
        f"corpus: {res['corpus']['bytes']} bytes, sha256 {res['corpus']['sha256'][:16]}...  "
        f"model: {res['model']['parameters']} parameters  target val loss {cfg['target_loss']}"
    )
    print(f"B in sequences of {ctx} tokens; B_noise 'near' = last 30% of steps before target")
    head = (
        f"{'B':>5} {'tokens':>7} {'lr':>8} {'reached':>7} {'steps':>8} {'examples':>10} "
        f"{'sec':>7} {'B_noise':>8} {'near':>8} {'near tok':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in res.get("runs", []):
        ns = r.get("noise_scale") or {}
        mark = "*" if r.get("selected") else " "
        print(
            f"{r['batch_size']:>5} {r['batch_tokens']:>7} {r['lr']:>8.2e} "
            f"{str(r['reached']):>6}{mark} {_f(r.get('steps'), '.0f'):>8} "
            f"{_f(r.get('examples'), '.0f'):>10} {_f(r.get('seconds'), '.1f'):>7} "
            f"{_f(ns.get('median'), '.1f'):>8} {_f(ns.get('near_target'), '.1f'):>8} "
            f"{_f(ns.get('near_target_tokens'), '.0f'):>9}"
        )
    print("(* = kept for the fit: the LR multiplier that reached the target in fewest steps)")
    fit = res.get("fit") or {}
    if "b_crit" in fit:
        print(
            f"fit: S_min {fit['s_min']:.1f} ± {_f(fit['s_min_se'], '.1f')}  "
            f"E_min {fit['e_min']:.0f} ± {_f(fit['e_min_se'], '.0f')} seq  "
            f"B_crit {fit['b_crit']:.1f} ± {_f(fit['b_crit_se'], '.1f')} seq "
            f"({fit['b_crit_tokens']:.0f} tokens)  R^2 steps {_f(fit['r2_steps'], '.3f')} "
            f"examples {_f(fit['r2_examples'], '.3f')}"
        )
        ns = fit.get("noise_scale")
        if ns:
            print(
                f"GNS near target: B_noise {ns['b_noise']:.1f} ± {ns['b_noise_half_iqr']:.1f} "
                f"seq ({ns['b_noise_tokens']:.0f} tokens, {ns['values']} values)  "
                f"B_crit/B_noise = {ns['b_crit_over_b_noise']:.2f}  "
                f"within 2x: {ns['within_factor_2']}  (median of per-run medians "
                f"{_f(ns['per_run_median'], '.1f')}: ratio "
                f"{_f(ns['b_crit_over_per_run_median'], '.2f')})"
            )
    elif fit:
        print(f"fit: not possible ({fit.get('error')})")
    ag = res.get("agreement") or {}
    if "estimates" in ag:
        d, sm, o = (ag["estimates"][k] for k in ("ddp", "single_same_data", "single_other_data"))
        print(
            f"B_simple from {ag['world_size']} GPUs (DDP comm hook, small batch "
            f"{ag['small_batch']}) at one state: {d['b_simple']:.1f} ± {d['b_simple_se']:.1f}; "
            f"1 GPU same data {sm['b_simple']:.1f} (rel diff {ag['same_data_rel_diff']:.1e}); "
            f"1 GPU other data {o['b_simple']:.1f} ± {o['b_simple_se']:.1f} "
            f"(z = {ag['other_data_z']:+.2f})"
        )
    for extra in (res.get("adaptive_runs") or [])[1:]:
        c = extra["controller"]
        where = (
            f"steps {extra['steps']:.0f}  {extra['seconds']:.1f} s"
            if extra["reached"]
            else (f"not reached ({extra['stop']})")
        )
        print(f"adaptive f={c['fraction']:g}: {where}")
    ad = res.get("adaptive")
    if ad:
        traj = " -> ".join(f"{p['batch_size']}@{p['start_step']}" for p in ad["phases"])
        print(f"adaptive: batch {traj}")
        if ad["reached"]:
            fr = ad.get("frontier", {})
            print(
                f"adaptive f={ad['controller']['fraction']:g}: steps {ad['steps']:.0f}  "
                f"{ad['seconds']:.1f} s  examples {ad['examples']:.0f}  "
                f"B_eff {fr.get('b_eff', math.nan):.1f}  S/S_fit(B_eff) {_f(fr.get('ratio'))}  "
                f"product {_f(fr.get('product'))}  -> {fr.get('verdict', '-')}  "
                f"measured S/S(B_eff) {_f(fr.get('measured_ratio'))}  "
                f"dominated by fixed B {fr.get('dominated_by')}"
            )
        else:
            print(f"adaptive: did not reach the target ({ad['stop']})")
    for ov in res.get("overhead") or []:
        parts = []
        for name, v in ov["variants"].items():
            extra = (
                f" ({v['overhead_pct']:+.2f}% ± {_f(v['overhead_pct_se'], '.2f')})"
                if "overhead_pct" in v
                else ""
            )
            parts.append(f"{name} {v['mean_ms']:.2f} ms{extra}")
        print(
            f"overhead at B={ov['batch_size']} ({ov['micro_batches']} micro): " + "; ".join(parts)
        )
    print(f"total {res.get('total_seconds', math.nan):.0f} s")


# ---- main ----------------------------------------------------------------------------------------
def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.batch_size.charlm",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--out", required=True, help="output directory (results.json)")
    ap.add_argument("--smoke", action="store_true", help="tiny settings, < 1 min on a CPU")
    ap.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    ap.add_argument("--seed", type=int, default=0)
    g = ap.add_argument_group("data and model")
    g.add_argument("--corpus-mb", type=float, default=16.0, help="corpus cap, MB (1e6 bytes)")
    g.add_argument("--val-fraction", type=float, default=0.05, help="last part for validation")
    g.add_argument("--layers", type=int, default=4)
    g.add_argument("--d-model", type=int, default=256)
    g.add_argument("--heads", type=int, default=4)
    g.add_argument("--ctx", type=int, default=128, help="sequence length in bytes (tokens)")
    g.add_argument("--tie", action="store_true", help="tie the head to the token embedding")
    g = ap.add_argument_group("training")
    g.add_argument("--batch-sizes", default="16,32,64,128,256,512", help="sequences")
    g.add_argument("--base-batch", type=int, default=64, help="batch at which --base-lr holds")
    g.add_argument("--base-lr", type=float, default=2e-3)
    g.add_argument("--lr-multipliers", default="1", help="e.g. 0.5,1,2: keep the fastest")
    g.add_argument("--wd", type=float, default=0.1, help="AdamW weight decay on matrices")
    g.add_argument("--warmup-steps", type=int, default=50, help="linear LR warmup")
    g.add_argument("--clip", type=float, default=0.0, help="gradient-norm clipping (0: off)")
    g.add_argument("--target-loss", type=float, default=1.3, help="validation nats per byte")
    g.add_argument("--eval-every", type=int, default=25, help="steps between evaluations")
    g.add_argument("--eval-batches", type=int, default=8, help="x 64 fixed validation windows")
    g.add_argument("--max-steps", type=int, default=20000)
    g.add_argument("--max-seconds-per-run", type=float, default=120.0)
    g = ap.add_argument_group("noise scale and adaptive run")
    g.add_argument("--gns-micro", type=int, default=2, help="micro-batches per step (>= 2)")
    g.add_argument("--beta", type=float, default=0.99, help="EMA decay of the noise scale")
    g.add_argument("--fraction", default="1", help="adaptive batch = f x B_noise; a list runs each")
    g.add_argument(
        "--agreement-batches",
        type=int,
        default=0,
        help="under DDP: B_noise from this many batches at one trained state, by 2 GPUs and 1",
    )
    g.add_argument("--agreement-batch", type=int, default=256, help="global batch, sequences")
    g.add_argument("--agreement-pretrain", type=int, default=300, help="steps before measuring")
    g.add_argument("--hysteresis", type=float, default=1.25)
    g.add_argument("--min-observations", type=int, default=10)
    g.add_argument("--frontier-tol", type=float, default=0.1, help="'on' the frontier within")
    g.add_argument("--skip-adaptive", action="store_true")
    g = ap.add_argument_group("overhead")
    g.add_argument("--overhead-batch", default="128", help="batch size(s), comma-separated")
    g.add_argument("--overhead-steps", type=int, default=200, help="timed steps per variant")
    g.add_argument("--overhead-blocks", type=int, default=4, help="alternating blocks")
    g.add_argument("--overhead-warmup", type=int, default=20)
    g.add_argument("--overhead-intervals", default="1", help="measure_interval values to time")
    g.add_argument("--skip-overhead", action="store_true")
    g.add_argument("--skip-sweep", action="store_true", help="only the overhead (and agreement)")
    first, _ = ap.parse_known_args(argv)
    if first.smoke:
        ap.set_defaults(**SMOKE)
    args = ap.parse_args(argv)
    args.batch_list = sorted(set(_ints(args.batch_sizes)))
    args.multiplier_list = _floats(args.lr_multipliers)
    args.interval_list = _ints(args.overhead_intervals)
    args.overhead_list = _ints(args.overhead_batch)
    args.fraction_list = _floats(args.fraction)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if args.gns_micro < 1 or (world == 1 and args.gns_micro < 2):
        ap.error(
            "--gns-micro must be >= 2 in one process (the noise scale needs two micro-batches "
            "per step); under DDP (torchrun) 1 is enough: the ranks' batches are the small ones"
        )
    per = world * args.gns_micro
    for b in [*args.batch_list, *args.overhead_list]:
        if b % per:
            ap.error(f"batch size {b} is not a multiple of ranks x --gns-micro = {per}")
    if len(args.batch_list) < 2:
        ap.error("give at least two batch sizes")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    if world > 1:  # started by torchrun: one process per GPU, NCCL (gloo on CPUs)
        local = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = args.device != "cpu" and torch.cuda.is_available()
        device = torch.device(f"cuda:{local}" if use_cuda else "cpu")
        if use_cuda:
            torch.cuda.set_device(device)
        torch.distributed.init_process_group("nccl" if use_cuda else "gloo")
        if rank != 0:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - rank 0 prints
    else:
        device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    data, corpus = load_corpus(int(args.corpus_mb * 1e6))
    tokens = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(device)
    n_val = max(int(len(data) * args.val_fraction), args.ctx + 2)
    train_tokens, val_tokens = tokens[:-n_val], tokens[-n_val:]
    corpus.update(train_bytes=train_tokens.numel(), val_bytes=val_tokens.numel())
    config = {
        k: v
        for k, v in vars(args).items()
        if k
        not in ("batch_list", "multiplier_list", "interval_list", "overhead_list", "fraction_list")
    }
    config.update(
        batch_sizes=args.batch_list,
        lr_multipliers=args.multiplier_list,
        overhead_batch=args.overhead_list,
        overhead_intervals=args.interval_list,
    )
    env = Env(
        args=args,
        device=device,
        train=Windows(train_tokens, args.ctx),
        evaluator=Evaluator(val_tokens, args.ctx, args.eval_batches, args.seed + 2),
        results={},
        out=Path(args.out),
        world=world,
        rank=rank,
    )
    n_params = sum(p.numel() for p in env.model().parameters())
    env.results.update(
        paper="McCandlish et al. 2018, An Empirical Model of Large-Batch Training, "
        "arXiv 1812.06162",
        config=config,
        environment={
            "device": str(device),
            "device_name": (
                torch.cuda.get_device_name(device)
                if device.type == "cuda"
                else platform.processor() or platform.machine()
            ),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "precision": "bf16 autocast" if device.type == "cuda" else "fp32",
            "world_size": world,
            "backend": torch.distributed.get_backend() if world > 1 else None,
        },
        corpus=corpus,
        model={
            "parameters": n_params,
            "layers": args.layers,
            "d_model": args.d_model,
            "heads": args.heads,
            "ctx": args.ctx,
            "vocab": VOCAB,
            "tied_head": args.tie,
        },
        units={
            "batch_size": f"sequences of ctx={args.ctx} tokens (bytes); *_tokens = x ctx",
            "loss": "mean cross-entropy, nats per byte",
            "seconds": "training step time (evaluations excluded); wall includes them",
        },
    )
    print(
        f"{device} | corpus {corpus['bytes']} bytes from {corpus['files_used']} files | "
        f"{n_params} parameters | target {args.target_loss}",
        flush=True,
    )
    if world > 1 and args.agreement_batches > 0:
        print("noise scale from 2 GPUs and 1 ...", flush=True)
        env.results["agreement"] = noise_agreement(env)
        env.save()
    if not args.skip_overhead:
        print("overhead ...", flush=True)
        env.results["overhead"] = []
        for b in args.overhead_list:
            env.results["overhead"].append(measure_overhead(env, b))
            env.save()
    if not args.skip_sweep:
        print("fixed-batch sweep ...", flush=True)
        selected = sweep(env)
        env.results["fit"] = fit_sweep(env, selected)
        env.save()
        if not args.skip_adaptive:
            print("adaptive run ...", flush=True)
            runs = []
            for f in args.fraction_list:
                runs.append(adaptive_run(env, selected, env.results["fit"], f))
                env.results["adaptive_runs"] = runs
                env.results["adaptive"] = runs[0]
                env.save()
    env.results["total_seconds"] = time.perf_counter() - t_start
    env.save()
    if rank == 0:
        print_summary(_finite(env.results))
        print(f"wrote {env.out / 'results.json'}")
    if world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
