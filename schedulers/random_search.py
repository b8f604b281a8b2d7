"""Random search (Bergstra & Bengio 2012): every trial runs to the maximum fidelity."""

from __future__ import annotations

from hpo.schedulers.base import Scheduler, Suggestion

from hpo.history import History
from hpo.model import Decision, Report, Trial


class RandomSearch(Scheduler):
    name = "random"

    def suggest(self, history: History) -> Suggestion | None:
        return self._new(history, self.max_fidelity)

    def on_report(self, history: History, trial: Trial, report: Report) -> Decision:
        return Decision.CONTINUE
