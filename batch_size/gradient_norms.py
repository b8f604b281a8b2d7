"""Where the two batch sizes of the noise-scale estimator come from, inside a PyTorch step.

* :class:`GradientNoiseMonitor` uses the gradients training computes anyway. A hook on every
  parameter sees each backward pass's *incoming* gradient before it is accumulated into
  ``.grad`` (and, under DistributedDataParallel, before the all-reduce, which acts on ``.grad``):
  those are the small batches, one per micro-batch of gradient accumulation and per rank. After
  the last backward, ``.grad`` holds the mean over all of them: the big batch. One scalar
  all-reduce per optimizer step shares the small norms between ranks. This is the construction
  of AdaptDL's and nanoGNS's DDP estimators (McCandlish et al. 2018, App. A.1), written for hooks
  on leaf tensors so that a parameter used several times (tied weights) is counted once.
* :func:`per_example_sq_norms` gives B_small = 1 on any model that ``torch.func`` can
  differentiate per example (vmap over grad), for a single process without accumulation.

Gradient scale: the hook sees ``c * g_i`` for micro-batch mean gradient ``g_i``. With the usual
``(loss / accumulation_steps).backward()``, ``c = 1 / k`` (``micro_batch_losses="mean"``); with
``loss.backward()`` per micro-batch, ``c = 1`` (``"sum"``). An AMP ``GradScaler`` multiplies both
norms by ``scale^2``: pass ``loss_scale`` (or ``scaler``) to ``observe``. Norms must be read
*before* gradient clipping, so call ``observe()`` between the last backward and ``clip_grad_*``.
Tensor hooks also fire inside ``torch.autograd.grad``: a loop that takes extra gradients of the
parameters (a gradient penalty) must do so with the monitor's ``interval`` skipping that step or
after ``remove()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from hpo.batch_size.noise_scale import GradientNoiseScale


class GradientNoiseMonitor:
    """Measures the gradient noise scale of ``model`` during training at no extra backward pass.

    ``micro_batch_size`` is the number of examples in one backward pass on one rank (in the unit
    you schedule in: sequences or tokens). ``process_group``: the DDP group (default: the world
    group when torch.distributed is initialized). ``interval``: measure every n-th optimizer step
    (the hooks do nothing in between). Per optimizer step::

        for micro in micro_batches:            # k >= 1 micro-batches per rank
            (loss_fn(model(micro)) / k).backward()
        monitor.observe()                      # before clipping and optimizer.step()
        optimizer.step(); optimizer.zero_grad()

    At least two small batches are needed per step (k >= 2 or 2+ ranks); with one, ``observe``
    returns None. ``monitor.gns`` holds the running :class:`GradientNoiseScale`.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        micro_batch_size: int,
        *,
        beta: float = 0.99,
        micro_batch_losses: str = "mean",
        process_group: Any = None,
        interval: int = 1,
        parameters: Iterable[torch.nn.Parameter] | None = None,
    ) -> None:
        if micro_batch_losses not in ("mean", "sum"):
            raise ValueError(
                f"micro_batch_losses must be 'mean' or 'sum', got {micro_batch_losses!r}"
            )
        if interval < 1:
            raise ValueError(f"interval must be >= 1, got {interval}")
        self.micro_batch_size = _positive_int(micro_batch_size, "micro_batch_size")
        self.micro_batch_losses = micro_batch_losses
        self.interval = int(interval)
        self.gns = GradientNoiseScale(beta)
        self.process_group = process_group
        params = list(parameters if parameters is not None else model.parameters())
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("the model has no parameters that require gradients")
        self._small: torch.Tensor | None = None  # sum over backward passes of squared norms
        self._passes = [0] * len(self.params)
        self._steps = 0
        self.last: dict[str, float] | None = None
        self._handles = [p.register_hook(self._make_hook(i)) for i, p in enumerate(self.params)]

    # ---- hooks -------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Whether the current optimizer step is measured (every ``interval``-th step)."""
        return self._steps % self.interval == 0

    def _make_hook(self, i: int) -> Callable[[torch.Tensor], None]:
        def hook(grad: torch.Tensor) -> None:
            if not self.active:
                return
            sq = grad.detach().float().pow(2).sum()
            self._small = sq if self._small is None else self._small + sq
            self._passes[i] += 1

        return hook

    def remove(self) -> None:
        """Removes the hooks."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def set_micro_batch_size(self, micro_batch_size: int) -> None:
        """Call when the schedule changes the per-rank micro-batch size."""
        self.micro_batch_size = _positive_int(micro_batch_size, "micro_batch_size")

    # ---- one optimizer step ------------------------------------------------------------------
    def _world(self) -> int:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_world_size(self.process_group)
        return 1

    def observe(
        self, loss_scale: float | None = None, scaler: Any = None
    ) -> dict[str, float] | None:
        """Ends one optimizer step's measurement and updates ``gns``.

        Returns ``{"small_sq_norm", "small_batch", "big_sq_norm", "big_batch", "grad_sq",
        "trace_cov"}`` for this step, or None when the step was not measured (``interval``), had
        a single small batch, or had non-finite gradients (an AMP overflow step). Under DDP every
        rank must call it (it all-reduces two scalars).
        """
        measured = self.active
        self._steps += 1
        small, passes = self._small, max(self._passes)
        self._small, self._passes = None, [0] * len(self.params)
        if not measured:
            return None
        if scaler is not None and loss_scale is None:
            loss_scale = float(scaler.get_scale())
        device = self.params[0].device
        big = torch.zeros((), dtype=torch.float32, device=device)
        for p in self.params:
            if p.grad is not None:
                big = big + p.grad.detach().float().pow(2).sum()
        if small is None:
            small = torch.zeros((), dtype=torch.float32, device=device)
        world = self._world()
        stats = torch.stack(
            [
                small.to(torch.float64),
                torch.tensor(float(passes), device=device, dtype=torch.float64),
            ]
        )
        if world > 1:
            torch.distributed.all_reduce(stats, group=self.process_group)
        small_sum, n_small = (float(x) for x in stats.tolist())
        big_raw = float(big)
        if n_small < 2 or passes == 0:
            return None
        if not (math.isfinite(small_sum) and math.isfinite(big_raw)):
            return None  # AMP overflow: the optimizer skips this step too
        k = passes  # micro-batches per rank (every rank runs the same number)
        c = (1.0 / k if self.micro_batch_losses == "mean" else 1.0) * (loss_scale or 1.0)
        small_sq = small_sum / n_small / (c * c)
        big_sq = big_raw / (c * k) ** 2
        b_small = float(self.micro_batch_size)
        b_big = b_small * n_small
        g, s = self.gns.update(small_sq, b_small, big_sq, b_big)
        self.last = {
            "small_sq_norm": small_sq,
            "small_batch": b_small,
            "big_sq_norm": big_sq,
            "big_batch": b_big,
            "grad_sq": g,
            "trace_cov": s,
        }
        return self.last

    def state_dict(self) -> dict[str, Any]:
        return {"gns": self.gns.state_dict(), "steps": self._steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gns.load_state_dict(state["gns"])
        self._steps = int(state["steps"])


def per_example_sq_norms(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    targets: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example squared gradient norms and the squared norm of the batch-mean gradient.

    ``loss_fn(output, target)`` is applied to one example at a time (shapes with a batch
    dimension of 1) and must return a scalar. Uses ``torch.func.vmap(grad(...))``; models with
    batch-coupled layers (BatchNorm in training mode) have no per-example gradients and raise.
    Returns ``(per_example, big)`` of shapes ``[B]`` and ``[]``: feed
    ``gns.update(per_example.mean(), 1, big, B)``.
    """
    from torch.func import functional_call, grad, vmap

    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def one(p: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, (p, buffers), (x.unsqueeze(0),))
        return loss_fn(out, y.unsqueeze(0))

    grads = vmap(grad(one), in_dims=(None, 0, 0))(params, inputs, targets)
    per_example = torch.zeros(inputs.shape[0], dtype=torch.float64, device=inputs.device)
    big = torch.zeros((), dtype=torch.float64, device=inputs.device)
    for g in grads.values():
        flat = g.reshape(g.shape[0], -1).to(torch.float64)
        per_example = per_example + flat.pow(2).sum(dim=1)
        big = big + flat.mean(dim=0).pow(2).sum()
    return per_example, big


def _positive_int(x: Any, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int | float) or x <= 0 or int(x) != x:
        raise ValueError(f"{name} must be a positive integer, got {x!r}")
    return int(x)
