"""Generates the char-LM tabular benchmark on a GPU: a small byte-level GPT, a few hundred configs.

Each configuration of a fixed, seeded sample of a 5-dimensional space trains the GPT of
``benchmarks/batch_size/charlm.py`` (pre-LN blocks, bf16 autocast, fused AdamW (0.9, 0.95), 50
warm-up steps then a constant learning rate, so that a curve can be continued: the
multi-fidelity setting) on the Python standard library's own source (the offline corpus of
that module, last 5% held out) and records, every ``--eval-every`` steps, the validation loss
(nats per byte, 8 x 64 fixed windows), the next-byte validation accuracy, the training seconds
and the training FLOPs so far. The table is served by ``benchmarks.tabular.TabularBenchmark``
(``--benchmark charlm-gpt`` in benchmarks/compare.py), one "epoch" being one evaluation
interval.

Space: lr (log 3e-4..3e-2), width (d_model, log 64..512, rounded to a multiple of 32; heads =
width / 32), layers (1..6), batch_size (sequences of 128 bytes, log 8..256), weight_decay
(log 1e-3..0.3). Seeds: the configuration sample is drawn with ``random.Random(--seed)``; each
configuration's initialization is ``torch.manual_seed(1000 + index)`` and its batches
``2000 + index``; the validation windows are fixed (seed 7).

FLOPs per training token (Kaplan et al. 2020, "Scaling Laws for Neural Language Models", Table
1): forward 2 N + 2 n_layer n_ctx d_model with N the non-embedding parameters
(12 n_layer d_model^2 here), training 3 x forward; evaluations are not counted. Seconds are the
wall-clock seconds of the training steps (evaluations excluded), measured with
``torch.cuda.synchronize`` at every evaluation, while ``--procs`` processes share the GPU (each
a CUDA context of its own, time-sliced by the driver): they are the cost a trial had on that
shared GPU, and the generation metadata records the number of processes. A run whose loss
becomes non-finite keeps its last finite values for the rest of the curve, at the mean step
time seen so far (a diverged run "costs" what it would have).

Results stream to ``--out`` as JSON lines (one per configuration, written as it ends), so a run
cut by a time limit keeps what it finished; ``--pack`` merges such files into the gzipped table:

    python -m benchmarks.tabular.charlm --start 0 --n 200 --procs 14 --out /tmp/a.jsonl
    python -m benchmarks.tabular.charlm --pack /tmp/a.jsonl /tmp/b.jsonl \
        --table benchmarks/tabular/data/charlm-gpt.json.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import random
import sys
import time
from multiprocessing import get_context
from typing import Any

SPACE = {
    "lr": {"type": "float", "low": 3e-4, "high": 3e-2, "log": True},
    "width": {"type": "int", "low": 64, "high": 512, "log": True},
    "layers": {"type": "int", "low": 1, "high": 6},
    "batch_size": {"type": "int", "low": 8, "high": 256, "log": True},
    "weight_decay": {"type": "float", "low": 1e-3, "high": 0.3, "log": True},
}
CTX = 128
WARMUP = 50
EVAL_BATCHES = 8
CORPUS_BYTES = 10_000_000
VAL_FRACTION = 0.05


def sample_configs(n: int, seed: int) -> list[dict[str, Any]]:
    """n configurations drawn uniformly (log-uniformly where marked) from SPACE."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        c: dict[str, Any] = {}
        for k, p in SPACE.items():
            lo, hi, u = p["low"], p["high"], rng.random()
            v = lo * math.exp(u * math.log(hi / lo)) if p.get("log") else lo + u * (hi - lo)
            c[k] = min(max(int(round(v)), lo), hi) if p["type"] == "int" else v
        c["width"] = max(32, int(round(c["width"] / 32)) * 32)
        out.append(c)
    return out


def train_flops_per_token(width: int, layers: int, ctx: int = CTX) -> float:
    """Training FLOPs per token: 3 x (2 N + 2 n_layer n_ctx d_model), N = 12 n_layer d^2."""
    n = 12 * layers * width * width
    return 3.0 * (2.0 * n + 2.0 * layers * ctx * width)


def adamw(model: Any, cfg: dict[str, Any], fused: bool = False) -> Any:
    """AdamW (0.9, 0.95) at cfg's lr, with cfg's weight decay on matrices and embeddings only."""
    import torch

    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg["weight_decay"]}, {"params": rest}],
        lr=cfg["lr"],
        betas=(0.9, 0.95),
        weight_decay=0.0,
        **({"fused": True} if fused else {}),
    )


_ENV: dict[str, Any] = {}


def lm_steps(
    model: Any, opt: Any, cfg: dict[str, Any], windows: Any, g: Any, step: int, n: int, batch: int
) -> int:
    """``n`` optimizer steps of the byte-level LM on random windows (the table's linear LR
    warmup over WARMUP steps, bf16 autocast on CUDA); returns the step count after them."""
    import torch
    import torch.nn.functional as F

    from benchmarks.batch_size.charlm import VOCAB

    dev = windows.tokens.device
    amp = {"device_type": dev.type, "dtype": torch.bfloat16, "enabled": dev.type == "cuda"}
    for _ in range(n):
        for group in opt.param_groups:
            group["lr"] = cfg["lr"] * min(1.0, (step + 1) / WARMUP)
        idx = torch.randint(0, len(windows), (batch,), device=dev, generator=g)
        x, y = windows.get_batch(idx)
        with torch.autocast(**amp):
            logits = model(x)
        loss = F.cross_entropy(logits.float().reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
    return step


def _env() -> dict[str, Any]:
    """Per process: the corpus on the GPU, the training windows and the validation batches."""
    if not _ENV:
        import torch

        from benchmarks.batch_size.charlm import Windows, load_corpus

        torch.backends.cuda.matmul.allow_tf32 = True
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        data, corpus = load_corpus(CORPUS_BYTES)
        tokens = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(dev)
        n_val = int(len(data) * VAL_FRACTION)
        val = Windows(tokens[-n_val:], CTX)
        g = torch.Generator().manual_seed(7)
        starts = torch.randint(0, len(val), (EVAL_BATCHES, 64), generator=g)
        _ENV.update(
            device=dev,
            train=Windows(tokens[:-n_val], CTX),
            val=[val.get_batch(s) for s in starts],
            corpus=corpus,
        )
    return _ENV


def train_one(job: tuple[int, dict[str, Any], int, int]) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    from benchmarks.batch_size.charlm import GPT, VOCAB

    index, cfg, evals, every = job
    env = _env()
    dev = env["device"]
    torch.manual_seed(1000 + index)
    model = GPT(CTX, cfg["layers"], cfg["width"], cfg["width"] // 32, tie=True).to(dev)
    opt = adamw(model, cfg, fused=dev.type == "cuda")
    g = torch.Generator(device=dev).manual_seed(2000 + index)
    per_token = train_flops_per_token(cfg["width"], cfg["layers"])
    amp = {"device_type": dev.type, "dtype": torch.bfloat16, "enabled": dev.type == "cuda"}

    def evaluate() -> tuple[float, float]:
        model.eval()
        loss = torch.zeros((), device=dev)
        hits = torch.zeros((), device=dev)
        with torch.no_grad(), torch.autocast(**amp):
            for x, y in env["val"]:
                logits = model(x).float()
                loss += F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
                hits += (logits.argmax(-1) == y).float().mean()
        model.train()
        return float(loss) / len(env["val"]), float(hits) / len(env["val"])

    curve: list[list[float]] = []
    seconds = flops = 0.0
    step = 0
    last = (math.log(VOCAB), 1.0 / VOCAB)
    diverged_at = None
    for _ in range(evals):
        if diverged_at is None:
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t0 = time.perf_counter()
            step = lm_steps(model, opt, cfg, env["train"], g, step, every, cfg["batch_size"])
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            seconds += time.perf_counter() - t0
            flops += per_token * cfg["batch_size"] * CTX * every
            vl, acc = evaluate()
            if math.isfinite(vl):
                last = (vl, acc)
            else:
                diverged_at = step
        else:  # diverged: the last finite values, at the mean step time so far
            seconds += seconds / max(len(curve), 1)
            flops += per_token * cfg["batch_size"] * CTX * every
        curve.append([round(last[0], 6), round(last[1], 6), round(seconds, 4), flops])
    return {"index": index, "config": cfg, "curve": curve, "diverged_at": diverged_at}


def generate(args: argparse.Namespace) -> int:
    configs = sample_configs(args.start + args.n, args.seed)[args.start :]
    jobs = [(args.start + i, c, args.evals, args.eval_every) for i, c in enumerate(configs)]
    t0 = time.time()
    done = 0
    with open(args.out + ".meta.json", "w") as f:  # rewritten at the end with the wall time
        json.dump(_metadata(args, None), f, indent=1)
    with open(args.out, "a") as out, get_context("spawn").Pool(args.procs) as pool:
        for r in pool.imap_unordered(train_one, jobs):
            r["wall_since_start"] = round(time.time() - t0, 1)
            out.write(json.dumps(r) + "\n")
            out.flush()
            done += 1
            if done % 10 == 0:
                print(f"{done}/{len(jobs)} in {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    meta = _metadata(args, time.time() - t0)
    with open(args.out + ".meta.json", "w") as f:
        json.dump(meta, f, indent=1)
    print(f"{done} configurations in {time.time() - t0:.0f}s -> {args.out}")
    return 0


def _metadata(args: argparse.Namespace, wall: float | None) -> dict[str, Any]:
    import torch

    env = _env()
    return {
        "command": "python -m benchmarks.tabular.charlm " + " ".join(sys.argv[1:]),
        "config_seed": args.seed,
        "torch_seed": "1000 + index (init), 2000 + index (batches); validation windows seed 7",
        "model": "benchmarks/batch_size/charlm.py GPT, tied head, ctx 128, heads = width/32",
        "optimizer": f"AdamW (0.9, 0.95), {WARMUP} warm-up steps, then constant lr",
        "eval_every_steps": args.eval_every,
        "evals": args.evals,
        "corpus": env["corpus"],
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "processes_sharing_the_device": args.procs,
        "machine": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "wall_seconds": None if wall is None else round(wall, 1),
    }


def pack(parts: list[str], table: str) -> int:
    rows: dict[int, dict[str, Any]] = {}
    metas = []
    for p in parts:
        with open(p) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    rows[r["index"]] = r
        if os.path.exists(p + ".meta.json"):
            with open(p + ".meta.json") as f:
                metas.append(json.load(f))
    if not rows:
        raise SystemExit("no rows in " + ", ".join(parts))
    ordered = [rows[i] for i in sorted(rows)]
    evals = {len(r["curve"]) for r in ordered}
    if len(evals) != 1:
        raise SystemExit(f"curves of different lengths: {sorted(evals)}")
    doc = {
        "name": "charlm-gpt",
        "dataset": "python-stdlib-bytes",
        "space": SPACE,
        "epochs": evals.pop(),
        "columns": ["val_loss", "val_acc", "seconds", "flops"],
        "generated": {
            "parts": metas,
            "diverged": sum(r["diverged_at"] is not None for r in ordered),
        },
        "rows": [{k: r[k] for k in ("index", "config", "curve")} for r in ordered],
    }
    with gzip.open(table, "wt") as f:
        json.dump(doc, f, separators=(",", ":"))
    print(f"packed {len(ordered)} configurations into {table}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.tabular.charlm", description=__doc__)
    ap.add_argument("--start", type=int, default=0, help="first configuration index")
    ap.add_argument("--n", type=int, default=200, help="number of configurations")
    ap.add_argument("--seed", type=int, default=0, help="seed of the configuration sample")
    ap.add_argument("--evals", type=int, default=20, help="evaluations (fidelity levels)")
    ap.add_argument("--eval-every", type=int, default=75, help="training steps per evaluation")
    ap.add_argument("--procs", type=int, default=12, help="processes sharing the GPU")
    ap.add_argument("--out", help="JSON lines written as configurations end")
    ap.add_argument("--pack", nargs="+", help="merge these JSON-lines files into --table")
    ap.add_argument("--table", help="gzipped table written by --pack")
    args = ap.parse_args(argv)
    if args.pack:
        if not args.table:
            ap.error("--pack needs --table")
        return pack(args.pack, args.table)
    if not args.out:
        ap.error("--out is required to generate")
    return generate(args)


if __name__ == "__main__":
    sys.exit(main())
