"""Linear regression with Gaussian inputs: the noise scale in closed form (ground truth).

y = x.w* + xi, x ~ N(0, I_d), xi ~ N(0, sigma^2), per-example loss (x.w - y)^2 / 2. With
r = w - w*, the per-example gradient is x (x.r - xi), so G = r and (Gaussian fourth moments)
Sigma = |r|^2 I + r r^T + sigma^2 I: tr(Sigma) = (d + 1)|r|^2 + d sigma^2 and
B_simple = (d + 1) + d sigma^2 / |r|^2.
"""

from __future__ import annotations

import torch

D, SIGMA = 20, 0.5


def problem(seed: int = 0, d: int = D) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w_star = torch.randn(d, generator=g, dtype=torch.float64)
    w = w_star + 0.5 * torch.randn(d, generator=g, dtype=torch.float64)
    return w_star, w


def closed_form(w_star: torch.Tensor, w: torch.Tensor, sigma: float = SIGMA):
    d = w.numel()
    r2 = float((w - w_star).pow(2).sum())
    trace = (d + 1) * r2 + d * sigma**2
    return r2, trace, trace / r2


def sample(n: int, w_star: torch.Tensor, gen: torch.Generator, sigma: float = SIGMA):
    x = torch.randn(n, w_star.numel(), generator=gen, dtype=torch.float64)
    y = x @ w_star + sigma * torch.randn(n, generator=gen, dtype=torch.float64)
    return x, y


def batch_grad(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Mean gradient of (x.w - y)^2 / 2 over the rows of x."""
    return x.T @ (x @ w - y) / x.shape[0]
