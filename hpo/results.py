"""Reading results out of a history: each trial's latest values, the best trial, the Pareto front.

The best trial is chosen among trials that did not fail, preferring those that reached the
highest fidelity (a value at 27 epochs outranks a better-looking one at 1 epoch), then the best
first objective. With several objectives, ``pareto_front`` gives the non-dominated trials at
the highest fidelity reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpo.history import History
from hpo.model import Trial, TrialState


@dataclass(frozen=True)
class TrialResult:
    trial: Trial
    step: float
    values: dict[str, float]  # metrics of the trial's last report


def latest_results(h: History, include_failed: bool = False) -> list[TrialResult]:
    out = []
    for t in h.trials():
        if t.state is TrialState.FAILED and not include_failed:
            continue
        r = h.last_report(t.id)
        if r is not None:
            out.append(TrialResult(t, r.step, dict(r.metrics)))
    return out


def _ranked(h: History) -> list[TrialResult]:
    names = [o.name for o in h.study.objectives]
    return [r for r in latest_results(h) if all(n in r.values for n in names)]


def best_trial(h: History) -> TrialResult | None:
    obj = h.study.objective
    results = _ranked(h)
    if not results:
        return None
    return min(results, key=lambda r: (-r.step, obj.sign() * r.values[obj.name], r.trial.number))


def pareto_front(h: History) -> list[TrialResult]:
    """Non-dominated trials among those at the highest fidelity any trial reached."""
    results = _ranked(h)
    if not results:
        return []
    top = max(r.step for r in results)
    results = [r for r in results if r.step == top]
    objs = h.study.objectives
    vecs = [[o.sign() * r.values[o.name] for o in objs] for r in results]

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x <= y for x, y in zip(a, b, strict=True)) and any(
            x < y for x, y in zip(a, b, strict=True)
        )

    return [
        r
        for i, r in enumerate(results)
        if not any(dominates(vecs[j], vecs[i]) for j in range(len(results)) if j != i)
    ]


def export_json(h: History) -> dict[str, Any]:
    """The whole study as a JSON-able document: its spec, and every trial with its reports."""
    return {
        "study": h.study.to_dict(),
        "trials": [
            {
                "number": t.number,
                "state": t.state.value,
                "config": dict(t.config),
                "bracket": t.bracket,
                "error": t.error,
                "reports": [
                    {
                        "step": r.step,
                        "metrics": dict(r.metrics),
                        "cost_s": r.cost_s,
                        "time": r.time,
                        "decision": r.decision.value if r.decision else None,
                    }
                    for r in h.reports(t.id)
                ],
            }
            for t in h.trials()
        ],
    }


def export_csv(h: History) -> str:
    """One row per trial: number, state, the step of its latest report, config, its metrics."""
    import csv
    import io

    s = h.study
    trials = h.trials()
    metric_names = sorted({k for t in trials for r in h.reports(t.id) for k in r.metrics})
    buf = io.StringIO()
    wr = csv.writer(buf)
    wr.writerow(["number", "state", "step", *s.space.names, *metric_names])
    for t in trials:
        r = h.last_report(t.id)
        wr.writerow(
            [
                t.number,
                t.state.value,
                "" if r is None else r.step,
                *[t.config[n] for n in s.space.names],
                *["" if r is None else r.metrics.get(m, "") for m in metric_names],
            ]
        )
    return buf.getvalue()
