"""Simulated workers that drive schedulers through the real Coordinator on a SQLite file.

Tests get the helpers through fixtures (``--import-mode=importlib`` makes sibling modules
unimportable): ``make_sim(scheduler, params, ...)`` creates a study and returns a ``Sim``;
``sim.worker(name)`` is a deterministic worker that reports the loss the test chose for each
(trial number, step), obeys decisions and ends its run with ``coord.end(exit_ok=True)`` on
PAUSE or STOP (or after its last step). Every call is recorded in ``sim.events``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hpo.client import Client
from hpo.coordinator import Assignment, Coordinator
from hpo.history import History
from hpo.model import Decision, Report, Study, Trial, TrialState

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}

Loss = Mapping[int, float] | Callable[[int, float], float]


@dataclass
class SimWorker:
    """One worker: ask, report step by step, end. Steps come from ``sim.steps``."""

    sim: Sim
    name: str
    held: Assignment | None = None
    finished_run: bool = False  # it got PAUSE/STOP or reached the last step; end() is due
    reported: int = 0  # reports made in the current run
    _todo: list[float] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        return self.held is not None

    def ask(self) -> Assignment | None:
        assert self.held is None, f"{self.name} asks while holding trial {self.held.number}"
        a = self.sim.coord.ask(self.name)
        if a is None:
            self.sim.events.append(("none", self.name))
            return None
        self.held = a
        self.finished_run = False
        self.reported = 0
        start_after = a.checkpoint_step if a.resume and a.checkpoint_step is not None else None
        self._todo = [s for s in self.sim.steps if start_after is None or s > start_after]
        if a.resume:
            self.sim.events.append(("resume", a.number, a.until, a.checkpoint_step))
        else:
            self.sim.events.append(("new", a.number, a.until))
        return a

    def report(self) -> Decision:
        a = self.held
        assert a is not None and not self.finished_run and self._todo
        step = self._todo.pop(0)
        value = self.sim.value(a.number, step)
        d = self.sim.coord.report(a.trial_id, step, {self.sim.objective: value}, worker=self.name)
        self.sim.events.append(("report", a.number, step, d))
        self.reported += 1
        if d is not Decision.CONTINUE or not self._todo:
            self.finished_run = True
        return d

    def end(self, exit_ok: bool = True) -> Trial:
        a = self.held
        assert a is not None
        t = self.sim.coord.end(a.trial_id, exit_ok=exit_ok, worker=self.name)
        self.sim.events.append(("end", a.number, t.state))
        self.held = None
        self.finished_run = False
        return t

    def run(self) -> list[tuple[float, Decision]]:
        """Reports until told to pause/stop or out of steps, then ends the run."""
        out = []
        while not self.finished_run:
            out.append((self._todo[0], self.report()))
        self.end()
        return out


@dataclass
class Sim:
    client: Client
    study: Study
    coord: Coordinator
    loss: Loss
    objective: str
    steps: list[float]
    db_path: Path
    events: list[tuple] = field(default_factory=list)

    def value(self, number: int, step: float) -> float:
        if callable(self.loss):
            return float(self.loss(number, step))
        return float(self.loss[number])

    def worker(self, name: str = "w0") -> SimWorker:
        return SimWorker(self, name)

    def history(self) -> History:
        return self.client.storage.history(self.study.id)

    def trial(self, number: int) -> Trial:
        t = self.history().by_number(number)
        assert t is not None, f"no trial number {number}"
        return t

    def state(self, number: int) -> TrialState:
        return self.trial(number).state

    def run_one_worker(self, n_asks: int) -> list[tuple]:
        """One worker: ask, run the assignment to its end, ``n_asks`` times; the new events."""
        w = self.worker("solo")
        first = len(self.events)
        for _ in range(n_asks):
            if w.ask() is None:
                break
            w.run()
        return self.events[first:]

    def rung_reports(self, levels: Sequence[float]) -> list[tuple[int, float, Decision]]:
        """(number, step, decision) of every report made at one of ``levels``."""
        return [(e[1], e[2], e[3]) for e in self.events if e[0] == "report" and e[2] in levels]


# ---- an audit log of every row written, to rebuild the history as it was at any moment ------

_TRIAL_COLS = [
    "id",
    "study_id",
    "number",
    "config",
    "state",
    "until",
    "bracket",
    "worker",
    "lease_expires",
    "checkpoint_step",
    "last_step",
    "error",
    "interrupted",
    "resumes",
    "created_at",
    "updated_at",
    "version",
]
_REPORT_COLS = ["trial_id", "step", "metrics", "cost_s", "decision", "created_at", "version"]


def _q(c: str) -> str:
    return f'"{c}"'


def install_audit_log(db_path: Path) -> None:
    """Triggers copying every insert/update of trials and every report into ``test_audit``.

    Storage keeps only each trial's latest row; the audit table keeps them all, in the order
    they were written (one AUTOINCREMENT sequence for trials and reports alike).
    """
    cols = [*_TRIAL_COLS, *(c for c in _REPORT_COLS if c not in _TRIAL_COLS)]
    con = sqlite3.connect(db_path)
    with con:
        con.execute(
            "CREATE TABLE test_audit (aid INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, "
            + ", ".join(_q(c) for c in cols)
            + ")"
        )
        tcols = ", ".join(_q(c) for c in _TRIAL_COLS)
        tvals = ", ".join(f"NEW.{_q(c)}" for c in _TRIAL_COLS)
        for ev in ("INSERT", "UPDATE"):
            con.execute(
                f"CREATE TRIGGER test_audit_trial_{ev.lower()} AFTER {ev} ON hpo_trials BEGIN "
                f"INSERT INTO test_audit (kind, {tcols}) VALUES ('trial', {tvals}); END"
            )
        rcols = ", ".join(_q(c) for c in _REPORT_COLS)
        rvals = ", ".join(f"NEW.{_q(c)}" for c in _REPORT_COLS)
        con.execute(
            "CREATE TRIGGER test_audit_report AFTER INSERT ON hpo_reports BEGIN "
            f"INSERT INTO test_audit (kind, {rcols}) VALUES ('report', {rvals}); END"
        )
    con.close()


def read_audit_log(db_path: Path) -> list[tuple[str, int, Trial | Report]]:
    """(kind, version, Trial or Report) for every row written, in writing order."""
    import json

    con = sqlite3.connect(db_path)
    con.row_factory = sqlite3.Row
    out: list[tuple[str, int, Trial | Report]] = []
    for r in con.execute("SELECT * FROM test_audit ORDER BY aid"):
        if r["kind"] == "trial":
            t = Trial(
                id=r["id"],
                study_id=r["study_id"],
                number=r["number"],
                config=json.loads(r["config"]),
                state=TrialState(r["state"]),
                until=r["until"],
                bracket=r["bracket"],
                worker=r["worker"],
                lease_expires=r["lease_expires"],
                checkpoint_step=r["checkpoint_step"],
                last_step=r["last_step"],
                error=r["error"],
                created_at=r["created_at"],
                updated_at=r["updated_at"],
                resumes=r["resumes"],
                interrupted=bool(r["interrupted"]),
            )
            out.append(("trial", r["version"], t))
        else:
            rep = Report(
                trial_id=r["trial_id"],
                step=r["step"],
                metrics=json.loads(r["metrics"]),
                cost_s=r["cost_s"],
                time=r["created_at"],
                decision=Decision(r["decision"]) if r["decision"] else None,
            )
            out.append(("report", r["version"], rep))
    con.close()
    return out


def make_sim_in(
    directory: Path,
    scheduler: str,
    params: Mapping[str, Any] | None = None,
    *,
    loss: Loss | None = None,
    fidelity: tuple[float, float] | None = (1, 9),
    steps: Sequence[float] | None = None,
    mode: str = "min",
    objective: str = "loss",
    space: Mapping[str, Any] = SPACE,
    budget: Mapping[str, Any] | None = None,
    audit: bool = False,
    name: str = "s",
) -> Sim:
    db = directory / "db.sqlite"
    client = Client(f"sqlite:///{db}")
    if audit:
        install_audit_log(db)
    fid = None if fidelity is None else {"name": "epoch", "min": fidelity[0], "max": fidelity[1]}
    study = client.create_study(
        name,
        space,
        objective,
        mode=mode,
        fidelity=fid,
        scheduler=scheduler,
        scheduler_params=dict(params or {}),
        budget=budget,
    )
    if steps is None:
        lo, hi = fidelity or (1, 1)
        steps = [float(s) for s in range(int(lo), int(hi) + 1)]
    return Sim(
        client=client,
        study=study,
        coord=client.coordinator(study),
        loss=loss if loss is not None else (lambda n, s: 1.0 + n / 100),
        objective=objective,
        steps=[float(s) for s in steps],
        db_path=db,
    )


@pytest.fixture
def make_sim(tmp_path: Path) -> Callable[..., Sim]:
    """``make_sim(scheduler, params, loss=..., fidelity=(1, 9), ...)``: a study and its Sim."""
    return lambda *a, **kw: make_sim_in(tmp_path, *a, **kw)


@pytest.fixture(scope="session")
def sim_factory() -> Callable[..., Sim]:
    """``make_sim_in(directory, scheduler, params, ...)``, for fixtures wider than a test."""
    return make_sim_in


@pytest.fixture(scope="session")
def audit_log() -> Callable[[Path], list[tuple[str, int, Trial | Report]]]:
    """``audit_log(db_path)``: every row written to a study made with ``audit=True``."""
    return read_audit_log
