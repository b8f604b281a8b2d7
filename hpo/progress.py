"""A rich progress bar for sweeps: trials finished against the budget, best value so far."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from hpo.model import TrialState
from hpo.results import best_trial


class SweepProgress:
    def __init__(self, coordinator: Any, console: Console | None = None):
        self.coord = coordinator
        b = coordinator.study.budget
        self.total = b.max_trials
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn(
                "{task.completed}/{task.total} trials" if self.total else "{task.completed} trials"
            ),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self.task = self.progress.add_task(coordinator.study.name, total=self.total, info="")
        self._last = 0.0

    def __enter__(self) -> SweepProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.update(self.coord, force=True)
        self.progress.__exit__(*exc)

    def update(self, coord: Any, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.5:
            return
        self._last = now
        h = coord.history()
        done = sum(h.count(s) for s in TrialState if s.is_final)
        running = h.count(TrialState.RUNNING)
        best = best_trial(h)
        info = f"running {running}"
        if best is not None:
            obj = coord.study.objective
            info += f"  best {obj.name}={best.values[obj.name]:.4g} (trial {best.trial.number})"
        self.progress.update(self.task, completed=done, info=info)
