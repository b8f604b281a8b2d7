"""LARS and LAMB: layer-wise adaptive optimizers for large batches, as the papers state them.

* :class:`LARS`, You, Gitman, Ginsburg 2017, "Large Batch Training of Convolutional Networks"
  (arXiv 1708.03888), Algorithm 1. Per parameter tensor ("layer") w with gradient g:
  local LR lambda = eta * |w| / (|g| + beta |w|) (eta: trust coefficient, beta: weight decay),
  v <- m v + gamma_t lambda (g + beta w), w <- w - v.
* :class:`LAMB`, You et al. 2019, "Large Batch Optimization for Deep Learning: Training BERT in
  76 minutes" (arXiv 1904.00962), Algorithm 2. Adam moments with bias correction,
  r = m_hat / (sqrt(v_hat) + eps), u = r + lambda x, x <- x - eta_t phi(|x|) / |u| * u with
  phi(z) = min(max(z, gamma_l), gamma_u) (identity by default).

Both follow the papers: no gradient pre-normalization or clipping inside the optimizer (NVLAMB /
apex FusedLAMB and timm's ``Lamb`` divide gradients by the global norm first), the bias
correction inside r before the trust ratio, no clamp on |w| unless asked, and trust ratio 1 when
|w| or the update's norm is 0. Parameter groups with ``layer_adaptation=False`` (biases and
normalization layers, see :func:`layerwise_param_groups`) skip both the trust ratio and the
weight decay, as in the SimCLR/BERT practice. We write them here rather than depend on timm
(it imports torchvision, which does not load beside the CPU torch wheel we use) or on another
optimizer collection, whose defaults we would have to pin against the papers release by
release; each is a few dozen lines, tested against the equations computed by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer

_NORM_TYPES: tuple[type[torch.nn.Module], ...] = (
    torch.nn.modules.batchnorm._NormBase,
    torch.nn.LayerNorm,
    torch.nn.GroupNorm,
    torch.nn.LocalResponseNorm,
)
if hasattr(torch.nn, "RMSNorm"):
    _NORM_TYPES = (*_NORM_TYPES, torch.nn.RMSNorm)


def layerwise_param_groups(
    model: torch.nn.Module, weight_decay: float, **group_options: Any
) -> list[dict[str, Any]]:
    """Two parameter groups: adapted weights (with decay) and excluded ones (without).

    Excluded: biases, every parameter of a normalization layer (BatchNorm, LayerNorm, GroupNorm,
    RMSNorm) and any other parameter with fewer than 2 dimensions. Extra keyword arguments go
    into both groups (for instance ``lr``).
    """
    excluded_ids: set[int] = set()
    for module in model.modules():
        if isinstance(module, _NORM_TYPES):
            excluded_ids.update(id(p) for p in module.parameters(recurse=False))
    adapted, excluded = [], []
    seen: set[int] = set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        if id(p) in excluded_ids or p.ndim < 2 or name.endswith("bias"):
            excluded.append(p)
        else:
            adapted.append(p)
    groups = []
    if adapted:
        groups.append(
            {
                "params": adapted,
                "weight_decay": weight_decay,
                "layer_adaptation": True,
                **group_options,
            }
        )
    if excluded:
        groups.append(
            {"params": excluded, "weight_decay": 0.0, "layer_adaptation": False, **group_options}
        )
    return groups


def _check(name: str, value: float, low: float, high: float | None = None) -> None:
    if not (value >= low and (high is None or value < high)):
        bound = f"[{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")


class _LayerwiseOptimizer(Optimizer):
    """Shared ``step``: the closure protocol of torch optimizers, then ``_update`` per group."""

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._update(group)
        return loss

    def _update(self, group: dict[str, Any]) -> None:
        raise NotImplementedError


class LARS(_LayerwiseOptimizer):
    """LARS (You et al. 2017, Alg. 1). ``lr`` is the global gamma_t; ``trust_coefficient`` eta.

    ``momentum`` m (heavy ball as in the paper; ``nesterov`` optional), ``weight_decay`` beta.
    Groups with ``layer_adaptation=False`` are plain momentum SGD without weight decay.
    ``trust_clip=True`` clips the local LR at 1 (LARC, NVIDIA apex).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        trust_coefficient: float = 0.001,
        nesterov: bool = False,
        trust_clip: bool = False,
        layer_adaptation: bool = True,
    ) -> None:
        _check("lr", lr, 0.0)
        _check("momentum", momentum, 0.0, 1.0)
        _check("weight_decay", weight_decay, 0.0)
        _check("trust_coefficient", trust_coefficient, 0.0)
        if nesterov and momentum == 0:
            raise ValueError("nesterov needs momentum > 0")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            trust_coefficient=trust_coefficient,
            nesterov=nesterov,
            trust_clip=trust_clip,
            layer_adaptation=layer_adaptation,
        )
        super().__init__(params, defaults)

    def _update(self, group: dict[str, Any]) -> None:
        adapt = group["layer_adaptation"]
        wd = group["weight_decay"] if adapt else 0.0
        for p in group["params"]:
            if p.grad is None:
                continue
            g = p.grad
            local_lr: float | torch.Tensor = 1.0
            if adapt:
                w_norm = torch.linalg.vector_norm(p)
                g_norm = torch.linalg.vector_norm(g)
                ratio = group["trust_coefficient"] * w_norm / (g_norm + wd * w_norm)
                ok = (w_norm > 0) & (g_norm > 0)
                local_lr = torch.where(ok, ratio, torch.ones_like(ratio))
                if group["trust_clip"]:
                    local_lr = torch.clamp(local_lr, max=1.0)
                if wd:
                    g = g.add(p, alpha=wd)
            update = g * local_lr
            if group["momentum"]:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = torch.clone(update).detach()
                else:
                    buf.mul_(group["momentum"]).add_(update)
                update = update.add(buf, alpha=group["momentum"]) if group["nesterov"] else buf
            p.add_(update, alpha=-group["lr"])


class LAMB(_LayerwiseOptimizer):
    """LAMB (You et al. 2019, Alg. 2) with bias-corrected Adam moments and phi(z) = clamp(z).

    ``weight_decay`` is lambda (decoupled, added to the Adam ratio before the trust ratio).
    ``clamp_value`` = (gamma_l, gamma_u) bounds |x| in phi; None means phi(z) = z.
    Groups with ``layer_adaptation=False`` take plain Adam steps without weight decay.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        clamp_value: tuple[float, float] | None = None,
        layer_adaptation: bool = True,
    ) -> None:
        _check("lr", lr, 0.0)
        _check("beta1", betas[0], 0.0, 1.0)
        _check("beta2", betas[1], 0.0, 1.0)
        _check("eps", eps, 0.0)
        _check("weight_decay", weight_decay, 0.0)
        if clamp_value is not None and not 0 <= clamp_value[0] <= clamp_value[1]:
            raise ValueError(
                f"clamp_value must be (low, high) with 0 <= low <= high: {clamp_value}"
            )
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            clamp_value=clamp_value,
            layer_adaptation=layer_adaptation,
        )
        super().__init__(params, defaults)

    def _update(self, group: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        adapt = group["layer_adaptation"]
        wd = group["weight_decay"] if adapt else 0.0
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("LAMB does not support sparse gradients")
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["step"] += 1
            t = state["step"]
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            m_hat = m / (1 - beta1**t)
            v_hat = v / (1 - beta2**t)
            update = m_hat / (v_hat.sqrt() + group["eps"])
            if wd:
                update.add_(p, alpha=wd)
            ratio: float | torch.Tensor = 1.0
            if adapt:
                w_norm = torch.linalg.vector_norm(p)
                if group["clamp_value"] is not None:
                    w_norm = w_norm.clamp(*group["clamp_value"])
                u_norm = torch.linalg.vector_norm(update)
                ok = (w_norm > 0) & (u_norm > 0)
                ratio = torch.where(ok, w_norm / u_norm, torch.ones_like(w_norm))
            p.add_(update * ratio, alpha=-group["lr"])
