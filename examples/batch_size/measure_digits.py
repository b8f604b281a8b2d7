"""An MLP on scikit-learn's digits for ``hpo batch-size measure``.

hpo batch-size measure examples/batch_size/measure_digits.py --batch 64 --steps 200
"""

from __future__ import annotations

import torch


class Digits:
    """The 1,797 8x8 digit images as tensors, served by index."""

    def __init__(self) -> None:
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        self.x = torch.tensor(x / 16.0, dtype=torch.float32)
        self.y = torch.tensor(y, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.y)

    def get_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[idx], self.y[idx]


def setup() -> dict:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))

    def loss_fn(m: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.cross_entropy(m(x), y)

    return {"model": model, "data": Digits(), "loss_fn": loss_fn, "lr": 0.05}
