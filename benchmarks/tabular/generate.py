"""Generates tabular learning-curve benchmarks by real training (CPU, torch, many processes).

For each data set bundled with scikit-learn (no download) it trains an MLP for every
configuration of a fixed, seeded sample of a 6-dimensional space and records, after every epoch,
the validation loss and accuracy and the elapsed seconds. The table is what the simulated
backend replays (benchmarks/tabular/__init__.py).

Space: lr (log 1e-4..1e-1, Adam), width (log 16..512), depth (1..4), weight decay (log
1e-6..1e-1, AdamW), batch size (log 8..256) and dropout (0..0.5). Data: a fixed stratified
75/25 train/validation split (seed 0) of standardized features. Each configuration is trained
with ``torch.manual_seed(config_seed)`` in its own process with one thread, so that results do
not depend on the number of processes, and its seconds are that process's own.

    python -m benchmarks.tabular.generate --dataset digits --n 2000 --epochs 30 --procs 16 \
        --out benchmarks/tabular/data/digits-mlp.json.gz
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
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "width": {"type": "int", "low": 16, "high": 512, "log": True},
    "depth": {"type": "int", "low": 1, "high": 4},
    "weight_decay": {"type": "float", "low": 1e-6, "high": 1e-1, "log": True},
    "batch_size": {"type": "int", "low": 8, "high": 256, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
}


def sample_configs(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        c: dict[str, Any] = {}
        for k, p in SPACE.items():
            lo, hi = p["low"], p["high"]
            u = rng.random()
            v = (
                math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
                if p.get("log")
                else (lo + u * (hi - lo))
            )
            c[k] = int(round(v)) if p["type"] == "int" else v
            if p["type"] == "int":
                c[k] = min(max(c[k], lo), hi)
        out.append(c)
    return out


def _data(name: str):
    import numpy as np
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    loader = {
        "digits": datasets.load_digits,
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
    }[name]
    x, y = loader(return_X_y=True)
    xtr, xva, ytr, yva = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    sc = StandardScaler().fit(xtr)
    return (
        sc.transform(xtr).astype(np.float32),
        ytr,
        sc.transform(xva).astype(np.float32),
        yva,
        int(len(set(y))),
    )


_DATA: dict[str, Any] = {}


def train_one(job: tuple[str, int, dict[str, Any], int]) -> dict[str, Any]:
    import torch

    name, index, cfg, epochs = job
    torch.set_num_threads(1)
    if name not in _DATA:
        _DATA[name] = _data(name)
    xtr, ytr, xva, yva, n_cls = _DATA[name]
    xtr_t, ytr_t = torch.from_numpy(xtr), torch.from_numpy(ytr).long()
    xva_t, yva_t = torch.from_numpy(xva), torch.from_numpy(yva).long()
    torch.manual_seed(1000 + index)
    layers: list[torch.nn.Module] = []
    d = xtr.shape[1]
    for _ in range(cfg["depth"]):
        layers += [
            torch.nn.Linear(d, cfg["width"]),
            torch.nn.ReLU(),
            torch.nn.Dropout(cfg["dropout"]),
        ]
        d = cfg["width"]
    layers.append(torch.nn.Linear(d, n_cls))
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    g = torch.Generator().manual_seed(2000 + index)
    curve = []
    t0 = time.process_time()
    for _epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(ytr_t), generator=g)
        for i in range(0, len(perm), cfg["batch_size"]):
            idx = perm[i : i + cfg["batch_size"]]
            loss = torch.nn.functional.cross_entropy(model(xtr_t[idx]), ytr_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            out = model(xva_t)
            vl = torch.nn.functional.cross_entropy(out, yva_t).item()
            acc = (out.argmax(1) == yva_t).float().mean().item()
        if not math.isfinite(vl):
            vl = 1e3
        curve.append([round(vl, 6), round(acc, 6), round(time.process_time() - t0, 4)])
    return {"index": index, "config": cfg, "curve": curve}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.tabular.generate")
    ap.add_argument("--dataset", default="digits", choices=["digits", "breast_cancer", "wine"])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0, help="seed of the configuration sample")
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    configs = sample_configs(args.n, args.seed)
    jobs = [(args.dataset, i, c, args.epochs) for i, c in enumerate(configs)]
    t0 = time.time()
    with get_context("spawn").Pool(args.procs) as pool:
        rows = []
        for k, r in enumerate(pool.imap_unordered(train_one, jobs, chunksize=4)):
            rows.append(r)
            if (k + 1) % 200 == 0:
                print(
                    f"{k + 1}/{len(jobs)} in {time.time() - t0:.0f}s", file=sys.stderr, flush=True
                )
    rows.sort(key=lambda r: r["index"])
    import sklearn
    import torch

    doc = {
        "name": f"{args.dataset}-mlp",
        "dataset": args.dataset,
        "space": SPACE,
        "epochs": args.epochs,
        "columns": ["val_loss", "val_acc", "cpu_seconds"],
        "generated": {
            "command": "python -m benchmarks.tabular.generate " + " ".join(argv or sys.argv[1:]),
            "config_seed": args.seed,
            "torch_seed": "1000 + index (init), 2000 + index (batches)",
            "split": "stratified 75/25, random_state=0, standardized on train",
            "optimizer": "AdamW",
            "machine": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "sklearn": sklearn.__version__,
            "wall_seconds": round(time.time() - t0, 1),
            "processes": args.procs,
        },
        "rows": [{"config": r["config"], "curve": r["curve"]} for r in rows],
    }
    with gzip.open(args.out, "wt") as f:
        json.dump(doc, f, separators=(",", ":"))
    print(f"wrote {len(rows)} configurations to {args.out} in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
