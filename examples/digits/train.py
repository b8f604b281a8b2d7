"""Train an MLP on scikit-learn's bundled digits data, one epoch per fidelity step.

Runs inside an hpo sweep (reports through ``hpo.trial.current()``, checkpoints every epoch so
paused or interrupted trials resume) and also standalone::

    python examples/digits/train.py --lr 0.01 --hidden 64 --epochs 10
"""

from __future__ import annotations

import argparse
import pickle
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

import hpo.trial
from hpo import Decision


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--alpha", type=float, default=1e-4)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=27, help="maximum epochs (the fidelity's max)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    trial = hpo.trial.current()
    X, y = load_digits(return_X_y=True)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_va = scaler.transform(X_tr), scaler.transform(X_va)
    classes = np.unique(y)

    ckpt = trial.checkpoint_dir / "model.pkl" if trial.checkpoint_dir else None
    start = 0
    if ckpt is not None and trial.resume and ckpt.exists():
        with open(ckpt, "rb") as f:
            model, start = pickle.load(f)
        if trial.checkpoint_step is not None and start != trial.checkpoint_step:
            start = 0  # saved after the last report hpo received: redo it so nothing is lost
    if start == 0:
        model = MLPClassifier(
            hidden_layer_sizes=(args.hidden,),
            learning_rate_init=args.lr,
            alpha=args.alpha,
            batch_size=args.batch_size,
            random_state=args.seed,
        )
    rng = np.random.default_rng(args.seed)
    for epoch in range(start + 1, args.epochs + 1):
        t0 = time.perf_counter()
        order = rng.permutation(len(X_tr)) if epoch > 1 else np.arange(len(X_tr))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(X_tr[order], y_tr[order], classes=classes)
        proba = np.clip(model.predict_proba(X_va), 1e-12, 1)
        val_loss = float(log_loss(y_va, proba, labels=classes))
        val_error = float(np.mean(proba.argmax(1) != y_va))
        if ckpt is not None:
            tmp = Path(str(ckpt) + ".tmp")
            with open(tmp, "wb") as f:
                pickle.dump((model, epoch), f)
            tmp.replace(ckpt)
        decision = trial.report(
            epoch,
            checkpoint=ckpt is not None,
            cost_s=time.perf_counter() - t0,
            val_loss=val_loss,
            val_error=val_error,
        )
        if trial.detached:
            print(f"epoch {epoch}: val_loss={val_loss:.4f} val_error={val_error:.4f}")
        if decision is not Decision.CONTINUE:
            return  # the checkpoint of this epoch is saved: pause or stop here


if __name__ == "__main__":
    main()
