"""Figure for ``benchmarks.batch_size.charlm``: steps vs examples to target, and the noise scale.

Reads the ``results.json`` that ``python -m benchmarks.batch_size.charlm`` wrote and writes an
HTML file (plotly, loaded from its CDN) with two panels:

* Steps against examples to the target validation loss, log-log (McCandlish et al. 2018,
  "An Empirical Model of Large-Batch Training", arXiv 1812.06162, Fig. 1 and eq. 2.11): the
  fixed-batch runs that reached the target (labelled with their batch size), the fitted frontier
  ``(S/S_min - 1)(E/E_min - 1) = 1`` with its asymptotes S_min and E_min, and the adaptive run.
* The adaptive run: the measured noise scale B_simple (with its standard error) and the batch
  size the controller chose, against the examples consumed, with the fitted B_crit for reference.

Batch sizes and examples are in sequences of ``ctx`` tokens, as in the results. Needs plotly
(imported here only; the experiment itself does not).

Run from the repository root::

    python -m benchmarks.batch_size.figure /tmp/charlm/results.json [--out figure.html]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any


def _ok(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def _geom(lo: float, hi: float, n: int) -> list[float]:
    return [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]


def build(results: dict[str, Any]) -> Any:
    """The plotly Figure for ``results`` (a decoded results.json)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    cfg = results.get("config", {})
    ctx = cfg.get("ctx", "?")
    target = cfg.get("target_loss", "?")
    fig = make_subplots(
        rows=1,
        cols=2,
        specs=[[{}, {"secondary_y": True}]],
        subplot_titles=(
            f"Steps vs examples to val loss {target} (B in sequences of {ctx} tokens)",
            "Adaptive run: measured noise scale and batch size",
        ),
        horizontal_spacing=0.1,
    )

    # ---- panel 1: the frontier ---------------------------------------------------------------
    runs = [r for r in results.get("runs", []) if r.get("reached")]
    kept = [r for r in runs if r.get("selected")]
    others = [r for r in runs if not r.get("selected")]
    if kept:
        fig.add_trace(
            go.Scatter(
                x=[r["examples"] for r in kept],
                y=[r["steps"] for r in kept],
                mode="markers+text",
                text=[f"B={r['batch_size']}" for r in kept],
                textposition="top right",
                marker={"size": 10, "color": "#1f77b4"},
                name="fixed batch",
                customdata=[[r["batch_size"], r["lr"]] for r in kept],
                hovertemplate="B=%{customdata[0]} lr=%{customdata[1]:.3g}<br>"
                "examples %{x:.4s}<br>steps %{y:.0f}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    if others:
        fig.add_trace(
            go.Scatter(
                x=[r["examples"] for r in others],
                y=[r["steps"] for r in others],
                mode="markers",
                marker={"size": 7, "color": "#aec7e8", "symbol": "circle-open"},
                name="fixed batch, other LR",
                customdata=[[r["batch_size"], r["lr"]] for r in others],
                hovertemplate="B=%{customdata[0]} lr=%{customdata[1]:.3g}<br>"
                "examples %{x:.4s}<br>steps %{y:.0f}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    fit = results.get("fit") or {}
    if _ok(fit.get("s_min")) and _ok(fit.get("e_min")):
        s_min, e_min, b_crit = fit["s_min"], fit["e_min"], fit["b_crit"]
        bs = [r["batch_size"] for r in kept] or [b_crit]
        grid = _geom(min(min(bs), b_crit) / 4, max(max(bs), b_crit) * 4, 200)
        fig.add_trace(
            go.Scatter(
                x=[e_min + s_min * b for b in grid],
                y=[s_min + e_min / b for b in grid],
                mode="lines",
                line={"color": "#7f7f7f", "dash": "dash"},
                name=f"fit: S_min={s_min:.0f}, E_min={e_min:.3g}, B_crit={b_crit:.1f}",
                hoverinfo="skip",
            ),
            row=1,
            col=1,
        )
        # The point of the frontier at B = B_crit: (2 E_min, 2 S_min).
        fig.add_trace(
            go.Scatter(
                x=[2 * e_min],
                y=[2 * s_min],
                mode="markers",
                marker={"symbol": "x", "size": 9, "color": "#7f7f7f"},
                name="B = B_crit (2 E_min, 2 S_min)",
            ),
            row=1,
            col=1,
        )
    ad = results.get("adaptive") or {}
    if ad.get("reached"):
        fr = ad.get("frontier") or {}
        verdict = fr.get("verdict", "")
        fig.add_trace(
            go.Scatter(
                x=[ad["examples"]],
                y=[ad["steps"]],
                mode="markers+text",
                text=[f"adaptive ({verdict})" if verdict else "adaptive"],
                textposition="bottom left",
                marker={"symbol": "star", "size": 16, "color": "#d62728"},
                name="adaptive (noise-scale controller)",
            ),
            row=1,
            col=1,
        )
    fig.update_xaxes(type="log", title_text="examples to target (sequences)", row=1, col=1)
    fig.update_yaxes(type="log", title_text="optimizer steps to target", row=1, col=1)

    # ---- panel 2: the adaptive run's noise scale and batch size -------------------------------
    curve = [p for p in ad.get("curve", []) if p.get("step")]
    pts = [p for p in curve if _ok(p.get("b_noise"))]
    if pts:
        fig.add_trace(
            go.Scatter(
                x=[p["examples"] for p in pts],
                y=[p["b_noise"] for p in pts],
                error_y={
                    "type": "data",
                    "array": [p["b_noise_std"] if _ok(p.get("b_noise_std")) else 0 for p in pts],
                    "visible": True,
                    "thickness": 1,
                },
                mode="lines+markers",
                marker={"size": 4},
                line={"color": "#2ca02c"},
                name="B_simple (EMA), sequences",
            ),
            row=1,
            col=2,
            secondary_y=False,
        )
    if curve:
        fig.add_trace(
            go.Scatter(
                x=[p["examples"] for p in curve],
                y=[p["batch_size"] for p in curve],
                mode="lines",
                line={"color": "#ff7f0e", "shape": "hv"},
                name="batch size (adaptive)",
            ),
            row=1,
            col=2,
            secondary_y=False,
        )
        fig.add_trace(
            go.Scatter(
                x=[p["examples"] for p in curve],
                y=[p["val_loss"] for p in curve],
                mode="lines",
                line={"color": "#9467bd", "dash": "dot"},
                name="validation loss (right axis)",
            ),
            row=1,
            col=2,
            secondary_y=True,
        )
        if _ok(fit.get("b_crit")):
            fig.add_hline(
                y=fit["b_crit"],
                line={"color": "#7f7f7f", "dash": "dash"},
                annotation_text=f"fitted B_crit {fit['b_crit']:.1f}",
                row=1,
                col=2,
                secondary_y=False,
            )
    fig.update_xaxes(type="log", title_text="examples consumed (sequences)", row=1, col=2)
    fig.update_yaxes(type="log", title_text="sequences per batch", row=1, col=2, secondary_y=False)
    fig.update_yaxes(title_text="val loss (nats/byte)", row=1, col=2, secondary_y=True)

    env = results.get("environment", {})
    fig.update_layout(
        title=f"Critical batch size, char-level GPT on the Python stdlib "
        f"({env.get('device_name', '?')}, torch {env.get('torch', '?')})",
        height=560,
        width=1400,
        legend={"orientation": "h", "y": -0.2},
        template="plotly_white",
    )
    return fig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.batch_size.figure", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("results", help="results.json written by benchmarks.batch_size.charlm")
    ap.add_argument("--out", default=None, help="HTML file (default: figure.html beside it)")
    args = ap.parse_args(argv)
    path = Path(args.results)
    results = json.loads(path.read_text())
    out = Path(args.out) if args.out else path.with_name("figure.html")
    build(results).write_html(out, include_plotlyjs="cdn")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
