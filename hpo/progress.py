"""A rich progress bar for sweeps: trials finished against the budget, best value so far; and
``logs_above_the_bar``, which keeps log lines from running into a live bar on a terminal."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from hpo.model import TrialState
from hpo.results import best_trial


@contextmanager
def logs_above_the_bar() -> Iterator[None]:
    """Inside a running rich Live display (a progress bar), points the logging StreamHandlers that
    write to the terminal's stdout or stderr at rich's proxies of them, and back on leaving.

    On a terminal rich replaces ``sys.stdout`` and ``sys.stderr`` by proxies that print each line
    above the bar. A handler made before (``logging.basicConfig()``, hpo's CLI) still holds the
    real stream: its lines land in the bar's own line and every redraw leaves a stale bar behind.
    The handlers of every logger are looked at (a user's as well as hpo's), as tqdm's
    ``logging_redirect_tqdm`` does for its bars. Off a terminal rich installs no proxy and this
    changes nothing.
    """
    moved: list[tuple[logging.StreamHandler[Any], Any]] = []
    proxies = {}
    for proxy in (sys.stdout, sys.stderr):
        real = getattr(proxy, "rich_proxied_file", None)
        if real is not None:
            proxies[id(real)] = proxy
    if proxies:
        loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        seen: set[int] = set()
        for lg in loggers:
            for h in getattr(lg, "handlers", ()):
                if id(h) in seen or isinstance(h, logging.FileHandler):
                    continue
                seen.add(id(h))
                if isinstance(h, logging.StreamHandler) and id(h.stream) in proxies:
                    moved.append((h, h.setStream(proxies[id(h.stream)])))
    try:
        yield
    finally:
        for h, real in moved:
            h.setStream(real)


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
        self._logs = logs_above_the_bar()
        self._logs.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.update(self.coord, force=True)
        self._logs.__exit__(None, None, None)
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
