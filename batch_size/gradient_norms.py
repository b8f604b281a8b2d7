"""Where the two batch sizes of the noise-scale estimator come from, inside a PyTorch step.

* :class:`GradientNoiseMonitor` uses the gradients training computes anyway. In its "exact"
  mode a hook on every parameter sees each backward pass's *incoming* gradient before it is
  accumulated into ``.grad`` (and, under DistributedDataParallel, before the all-reduce, which
  acts on ``.grad``): those are the small batches, one per micro-batch of gradient accumulation
  and per rank. After the last backward, ``.grad`` holds the mean over all of them: the big
  batch. One scalar all-reduce per optimizer step shares the small norms between ranks. This is
  the construction of AdaptDL's and nanoGNS's DDP estimators (McCandlish et al. 2018, App. A.1),
  written for hooks on leaf tensors so that a parameter used several times (tied weights) is
  counted once. Its "fused" mode (one process) reads ``.grad`` after the first micro-batch and
  after the last with one multi-tensor norm each: a few kernels per step instead of several per
  parameter per micro-batch, which is what keeps the overhead low on a launch-bound GPU.
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

import contextlib
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from hpo.batch_size.noise_scale import GradientNoiseScale


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    """Accumulate half, bfloat16 and float32 gradients in float32, float64 in float64."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of all of ``tensors`` together (float32 or wider), by fused kernels."""
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for t in tensors:
        by_dtype.setdefault(t.dtype, []).append(t.detach())
    if not by_dtype:
        return torch.zeros((), dtype=torch.float64)
    parts = [
        torch.linalg.vector_norm(torch.stack(torch._foreach_norm(g, 2, dtype=_acc_dtype(d))))
        for d, g in by_dtype.items()
    ]
    if len(parts) == 1:
        return parts[0]
    return torch.linalg.vector_norm(torch.stack([x.to(torch.float64) for x in parts]))


class GradientNoiseMonitor:
    """Measures the gradient noise scale of ``model`` during training at no extra backward pass.

    ``micro_batch_size`` is the number of examples in one backward pass on one rank (in the unit
    you schedule in: sequences or tokens). ``process_group``: the DDP group (default: the world
    group when torch.distributed is initialized). ``interval``: measure every n-th optimizer step
    (nothing is computed in between). Per optimizer step::

        for micro in micro_batches:            # k >= 1 micro-batches per rank
            (loss_fn(model(micro)) / k).backward()
        monitor.observe()                      # before clipping and optimizer.step()
        optimizer.step(); optimizer.zero_grad()

    Three modes:

    * ``"fused"`` (default in a single process; not under DDP): the small batch is the *first*
      micro-batch of each step, read from ``.grad`` when its backward pass ends (a callback
      queued on the autograd engine), the big batch is ``.grad`` at ``observe``; each is one fused
      multi-tensor norm, so the cost is a few kernels per step whatever the number of
      parameters. Needs k >= 2 micro-batches, ``.grad`` zeroed (or None) between steps, and
      the first or the last parameter used in every backward pass (it watches those two).
    * ``"ddp"`` (default when ``model`` is a ``DistributedDataParallel`` and W >= 2 ranks): a
      DDP communication hook takes, per gradient bucket, the squared norm of this rank's own
      gradient just before the all-reduce, and the big batch is the all-reduced ``.grad`` at
      ``observe``. The small batch is one rank's whole batch (k micro-batches), the big one
      all W ranks': the two-batch estimate "for free" from the norms data parallelism already
      has (McCandlish et al. 2018, App. A.1), at one norm kernel per bucket and one scalar
      all-reduce per step; works with k = 1. It registers the model's comm hook (DDP allows
      one), so it cannot be combined with another comm hook such as gradient compression.
    * ``"allreduce"`` (DDP): the same two batches without a comm hook, so that steps that are
      not measured run DDP's own C++ all-reduce untouched. A measured step runs its backward
      passes under ``model.no_sync()`` (``monitor.sync_context(model)`` says when; the trainer
      does this), and ``observe`` takes this rank's squared gradient norm, then all-reduces the
      gradients itself (one flat buffer per dtype) and divides by W, leaving ``.grad`` as DDP
      would. The measured step's all-reduce does not overlap the backward pass; every other
      step costs nothing. Every parameter must get a gradient on every rank.
    * ``"exact"`` (default under torch.distributed without a DDP wrapper): a hook on every
      parameter takes the squared norm of every micro-batch's incoming gradient on every rank
      (the mean of all W*k small batches enters the estimate); it works with k = 1 under DDP,
      at one small reduction per parameter per backward pass.

    With ``defer=True`` ``observe`` leaves the numbers on the device and they are read (one
    host sync) at the next access to ``gns`` or ``flush()``, e.g. together with the loss after
    the optimizer step, so the measurement never stalls the GPU queue. ``monitor.gns`` holds the
    running :class:`GradientNoiseScale`.
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
        mode: str = "auto",
        watch_backward: bool = True,
        parameters: Iterable[torch.nn.Parameter] | None = None,
    ) -> None:
        if micro_batch_losses not in ("mean", "sum"):
            raise ValueError(
                f"micro_batch_losses must be 'mean' or 'sum', got {micro_batch_losses!r}"
            )
        if interval < 1:
            raise ValueError(f"interval must be >= 1, got {interval}")
        if mode not in ("auto", "fused", "exact", "ddp", "allreduce"):
            raise ValueError(
                f"mode must be 'auto', 'fused', 'exact', 'ddp' or 'allreduce', got {mode!r}"
            )
        self.micro_batch_size = _positive_int(micro_batch_size, "micro_batch_size")
        self.micro_batch_losses = micro_batch_losses
        self.interval = int(interval)
        self._gns = GradientNoiseScale(beta)
        self.process_group = process_group
        is_ddp = isinstance(model, torch.nn.parallel.DistributedDataParallel)
        if mode == "auto":
            mode = ("ddp" if is_ddp else "exact") if self._world() > 1 else "fused"
        if mode == "fused" and self._world() > 1:
            raise ValueError(
                "mode='fused' is for a single process; under DDP use mode='ddp' or 'exact'"
            )
        if mode in ("ddp", "allreduce") and not is_ddp:
            raise ValueError(f"mode={mode!r} needs the DistributedDataParallel-wrapped model")
        self.mode = mode
        params = list(parameters if parameters is not None else model.parameters())
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("the model has no parameters that require gradients")
        self._small: torch.Tensor | None = None  # squared norm(s) of the small batch(es)
        self._passes = [0] * len(self.params)  # exact mode: backward passes seen per parameter
        self._backwards = 0  # fused mode: backward passes this step
        self._queued = False
        self._steps = 0
        # per measured step: values on the device, n small (local), k, W*k, c, B_small
        self._pending: list[tuple[torch.Tensor, int, int, int, float, float]] = []
        self.last: dict[str, float] | None = None
        if mode == "exact":
            self._handles = [
                p.register_hook(self._make_exact_hook(i)) for i, p in enumerate(self.params)
            ]
            return
        if mode == "ddp":
            # The comm hook stays for the model's life (DDP allows one and cannot remove it).
            model.register_comm_hook(self, GradientNoiseMonitor._ddp_comm_hook)
        if not watch_backward:
            self._handles = []  # the training loop calls after_backward() itself
        else:
            # Only to notice that a backward pass runs: a hook on the first and the last
            # parameter (usually the embedding and the head, used by every pass). Python hooks
            # cost a GIL hand-off from the autograd thread each, so not one per parameter.
            watched = {id(p): p for p in (self.params[0], self.params[-1])}.values()
            self._handles = [p.register_hook(self._fused_hook) for p in watched]

    # ---- hooks -------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Whether the current optimizer step is measured (every ``interval``-th step)."""
        return self._steps % self.interval == 0

    def _make_exact_hook(self, i: int) -> Callable[[torch.Tensor], None]:
        def hook(grad: torch.Tensor) -> None:
            if not self.active:
                return
            g = grad.detach()
            sq = torch.linalg.vector_norm(g, dtype=_acc_dtype(g.dtype)).square().double()
            self._small = sq if self._small is None else self._small + sq
            self._passes[i] += 1

        return hook

    def _fused_hook(self, grad: torch.Tensor) -> None:
        if self._queued or not self.active:
            return
        self._queued = True
        torch.autograd.Variable._execution_engine.queue_callback(self._end_of_backward)

    @staticmethod
    def _ddp_comm_hook(state, bucket):  # noqa: ANN001, ANN205 - DDP rejects other annotations
        """DDP communication hook: this rank's squared bucket norm, then the usual all-reduce.

        With a comm hook registered, DDP hands over the bucket *before* dividing by the world
        size, so ``bucket.buffer()`` holds this rank's own (accumulated) gradient: the small
        batch. One norm kernel per bucket (DDP's ~25 MB buckets), nothing per parameter.
        """
        if state.active:
            buf = bucket.buffer()
            sq = torch.linalg.vector_norm(buf, dtype=_acc_dtype(buf.dtype)).square()
            state._small = sq if state._small is None else state._small + sq
        from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

        return default_hooks.allreduce_hook(state.process_group, bucket)

    def after_backward(self) -> None:
        """Fused or ddp mode with ``watch_backward=False``: call after each micro-batch's backward.

        Saves the Python hooks' hand-off from the autograd thread (what the trainer does).
        """
        if self.mode == "exact":
            raise ValueError("after_backward() is for mode='fused' or 'ddp'; exact uses hooks")
        if self.active:
            self._end_of_backward()

    def _end_of_backward(self) -> None:
        self._queued = False
        self._backwards += 1
        if self._backwards == 1 and self.mode == "fused":
            self._small = _norm([p.grad for p in self.params if p.grad is not None]).square()

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
        self, loss_scale: float | None = None, scaler: Any = None, *, defer: bool = False
    ) -> dict[str, float] | None:
        """Ends one optimizer step's measurement.

        Returns ``{"small_sq_norm", "small_batch", "big_sq_norm", "big_batch", "grad_sq",
        "trace_cov"}`` for this step, or None when the step was not measured (``interval``), had
        a single small batch, had non-finite gradients (an AMP overflow step), or ``defer`` is
        set. Under DDP every rank must call it (it all-reduces two scalars).
        """
        measured = self.active
        self._steps += 1
        small = self._small
        k = max(self._passes) if self.mode == "exact" else self._backwards
        self._small, self._passes, self._backwards = None, [0] * len(self.params), 0
        if measured and self.mode == "allreduce" and k > 0:
            small = self._allreduce_grads()
        if not measured or small is None or k == 0:
            return None
        world = self._world()
        if scaler is not None and loss_scale is None:
            loss_scale = float(scaler.get_scale())
        big = _norm([p.grad for p in self.params if p.grad is not None])
        # Small batches: exact mode sums all k per rank; fused mode keeps the first one; ddp
        # mode has one per rank, this rank's whole accumulated batch of k micro-batches, whose
        # gradient is k times the scale c of one micro-batch's.
        n_local = k if self.mode == "exact" else 1
        b_small = float(self.micro_batch_size)
        acc = k
        if self.mode in ("ddp", "allreduce"):
            b_small, acc = b_small * k, 1
        if world > 1:
            stats = torch.stack(
                [
                    small.to(torch.float64),
                    torch.full((), float(n_local), device=small.device, dtype=torch.float64),
                ]
            )
            torch.distributed.all_reduce(stats, group=self.process_group)
            values = torch.cat([stats, big.to(torch.float64).reshape(1)])
        else:
            values = torch.stack([small.to(big.dtype), big])  # n_small is n_local
        n_big = acc * world
        c = (1.0 / k if self.micro_batch_losses == "mean" else 1.0) * (loss_scale or 1.0)
        if self.mode in ("ddp", "allreduce"):
            c *= k  # this rank's buffer sums k micro-batch gradients of scale c each
        self._pending.append((values, n_local, acc, n_big, c, b_small))
        if defer:
            return None
        return self._flush()

    def sync_context(self, model: torch.nn.Module) -> Any:
        """Mode "allreduce": ``model.no_sync()`` on a measured step, else a null context.

        Wrap *every* backward pass of the step in it (the last one too)::

            with monitor.sync_context(ddp_model):
                for micro in micro_batches: (loss(micro) / k).backward()
            monitor.observe()
        """
        if self.mode == "allreduce" and self.active:
            return model.no_sync()
        return contextlib.nullcontext()

    def _allreduce_grads(self) -> torch.Tensor:
        """This rank's squared gradient norm; then ``.grad`` all-reduced to the ranks' mean."""
        grads = [p.grad for p in self.params]
        if any(g is None for g in grads):
            raise RuntimeError(
                "mode='allreduce' needs a gradient for every parameter on every rank; "
                "use mode='ddp' with unused parameters"
            )
        small = _norm(grads).square()
        world = self._world()
        by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
        for g in grads:
            by_dtype.setdefault(g.dtype, []).append(g)
        for gs in by_dtype.values():
            flat = torch.cat([g.reshape(-1) for g in gs])
            torch.distributed.all_reduce(flat, group=self.process_group)
            flat.div_(world)
            parts = flat.split([g.numel() for g in gs])
            torch._foreach_copy_(gs, [v.view_as(g) for v, g in zip(parts, gs, strict=True)])
        return small

    def _flush(self) -> dict[str, float] | None:
        out = None
        pending, self._pending = self._pending, []
        if not pending:
            return None
        # one host sync for all: [small sum of squares, (n small,) big norm] per step
        values = torch.cat([x[0].to(torch.float64) for x in pending]).tolist()
        pos = 0
        for tensor, n_local, k, n_big, c, b_small in pending:
            row = values[pos : pos + tensor.numel()]
            pos += tensor.numel()
            small_sum, n_small = (row[0], row[1]) if len(row) == 3 else (row[0], n_local)
            big_raw = row[-1] ** 2
            out = self._update(small_sum, n_small, big_raw, k, n_big, c, b_small)
        return out

    def flush(self) -> None:
        """Reads deferred measurements back and adds them to ``gns``."""
        self._flush()

    def _update(
        self,
        small_sum: float,
        n_small: float,
        big_raw: float,
        k: int,
        n_big: int,
        c: float,
        b_small: float,
    ) -> dict[str, float] | None:
        if not (math.isfinite(small_sum) and math.isfinite(big_raw)):
            return None  # AMP overflow: the optimizer skips this step too
        if n_big < 2 or n_small < 1:
            return None  # one small batch only: no second batch size
        small_sq = small_sum / n_small / (c * c)
        big_sq = big_raw / (c * k) ** 2
        b_big = b_small * n_big
        g, s = self._gns.update(small_sq, b_small, big_sq, b_big)
        self.last = {
            "small_sq_norm": small_sq,
            "small_batch": b_small,
            "big_sq_norm": big_sq,
            "big_batch": b_big,
            "grad_sq": g,
            "trace_cov": s,
        }
        return self.last

    @property
    def gns(self) -> GradientNoiseScale:
        """The running estimate (reads any deferred measurement back first)."""
        if self._pending:
            self._flush()
        return self._gns

    def state_dict(self) -> dict[str, Any]:
        return {"gns": self.gns.state_dict(), "steps": self._steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._gns.load_state_dict(state["gns"])
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
