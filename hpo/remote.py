"""The SDK over HTTP: ``hpo.Client("http://host:port")`` speaks to ``hpo serve``.

Same methods and return types as the in-process client (Study, Assignment, Decision, Trial,
TrialResult), over httpx. Connection errors, timeouts, 429 and 5xx answers are retried with
exponential backoff and jitter; 4xx answers raise the matching hpo error (StudyNotFound,
InvalidStudy, ...) with the server's one-line message. Retrying is safe because the service is
idempotent where it matters: a report for a (trial, step) is stored once and its first decision
returned again, finishing a trial that no longer runs returns it unchanged, and ``ask`` hands a
worker the trial it already holds.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from hpo import errors as E
from hpo.coordinator import Assignment
from hpo.model import (
    Budget,
    Decision,
    Fidelity,
    Objective,
    SchedulerSpec,
    Study,
    Trial,
    TrialState,
)
from hpo.results import TrialResult
from hpo.space import SearchSpace

RETRY_STATUS = {429, 500, 502, 503, 504}


def _error(status: int, body: Any) -> E.HpoError:
    message = body.get("error") if isinstance(body, dict) else None
    kind = body.get("type") if isinstance(body, dict) else None
    cls = getattr(E, kind, None) if isinstance(kind, str) else None
    if not (isinstance(cls, type) and issubclass(cls, E.HpoError)):
        cls = E.InvalidStudy if status == 422 else E.HpoError
    return cls(message or f"HTTP {status}")


def _study(d: Mapping[str, Any]) -> Study:
    return Study(
        name=d["name"],
        space=SearchSpace.from_dict(d["space"]),
        objectives=tuple(Objective(o["name"], o["mode"]) for o in d["objectives"]),
        fidelity=Fidelity(**d["fidelity"]) if d.get("fidelity") else None,
        scheduler=SchedulerSpec(d["scheduler"]["name"], dict(d["scheduler"]["params"])),
        budget=Budget.from_dict(d["budget"]),
        project=d["project"],
        metadata=dict(d.get("metadata") or {}),
        id=d["id"],
        created_at=d["created_at"],
        finished=d["finished"],
        paused=d.get("paused", False),
    )


def _trial(d: Mapping[str, Any]) -> Trial:
    return Trial(
        id=d["id"],
        study_id=d["study_id"],
        number=d["number"],
        config=dict(d["config"]),
        state=TrialState(d["state"]),
        until=d.get("until"),
        bracket=d.get("bracket"),
        worker=d.get("worker"),
        checkpoint_step=d.get("checkpoint_step"),
        last_step=d.get("last_step"),
        error=d.get("error"),
        created_at=d.get("created_at", 0.0),
        updated_at=d.get("updated_at", 0.0),
        resumes=d.get("resumes", 0),
        interrupted=d.get("interrupted", False),
        held=d.get("held", False),
    )


def _result(d: Mapping[str, Any]) -> TrialResult:
    return TrialResult(trial=_trial(d["trial"]), step=d["step"], values=dict(d["values"]))


def _name(study: str | int | Study) -> str:
    return study.name if isinstance(study, Study) else str(study)


class RemoteClient:
    """The hpo SDK over HTTP. ``retries`` attempts beyond the first, ``backoff_s`` the first
    wait (doubled each time, with jitter, capped at ``max_backoff_s``)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout_s: float = 30.0,
        retries: int = 6,
        backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
    ) -> None:
        import httpx

        self.url = url.rstrip("/")
        scheme = httpx.URL(self.url).scheme if "://" in self.url else ""
        if scheme not in ("http", "https"):  # checked here, not by seven failed retries
            raise E.HpoError(
                f"server URL {url!r} must start with http:// or https:// (e.g. http://host:8000)"
            )
        headers = {"user-agent": "hpo-sdk"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)
        self.retries, self.backoff_s, self.max_backoff_s = retries, backoff_s, max_backoff_s
        self.worker = f"sdk:{socket.gethostname()}:{os.getpid()}"
        self._numbers: dict[tuple[str, int], int] = {}  # (study, trial id) -> trial number

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- transport ---------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                wait = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
                time.sleep(wait * (0.5 + random.random() / 2))
            try:
                r = self._http.request(method, path, **kwargs)
            except (httpx.TransportError, httpx.TimeoutException) as e:
                last = e
                continue
            if r.status_code in RETRY_STATUS:
                last = E.HpoError(f"{method} {path}: HTTP {r.status_code}")
                continue
            if r.status_code >= 400:
                try:
                    body = r.json()
                except ValueError:
                    body = None
                raise _error(r.status_code, body)
            return None if r.status_code == 204 else r.json()
        raise E.StorageError(
            f"the hpo service at {self.url} did not answer {method} {path} after "
            f"{self.retries + 1} attempts: {last}"
        )

    # ---- studies -----------------------------------------------------------------------------
    def create_study(
        self,
        name: str,
        space: SearchSpace | Mapping[str, Any],
        objective: Any = "loss",
        *,
        mode: str = "min",
        fidelity: Any = None,
        scheduler: str | Mapping[str, Any] = "random",
        scheduler_params: Mapping[str, Any] | None = None,
        budget: Budget | Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        exist_ok: bool = False,
    ) -> Study:
        from hpo.client import study_spec

        # validated here too (a bad space fails before the request); the server checks the
        # scheduler's parameters against its own schedulers
        spec = study_spec(
            name,
            space,
            objective,
            mode=mode,
            fidelity=fidelity,
            scheduler=scheduler,
            scheduler_params=scheduler_params,
            budget=budget,
            metadata=metadata,
            check_scheduler=False,
        )
        body = {**spec.to_dict(), "exist_ok": exist_ok}
        body.pop("project")  # a remote caller's project comes from its token
        return _study(self._call("POST", "/v1/studies", json=body))

    def get_study(self, name: str | int) -> Study:
        return _study(self._call("GET", f"/v1/studies/{name}"))

    def list_studies(self) -> list[Study]:
        return [_study(d) for d in self._call("GET", "/v1/studies")]

    def delete_study(self, name: str | int) -> None:
        self._call("DELETE", f"/v1/studies/{name}")

    def pause_study(self, study: str | int | Study) -> Study:
        return _study(self._call("POST", f"/v1/studies/{_name(study)}/pause"))

    def resume_study(self, study: str | int | Study) -> Study:
        return _study(self._call("POST", f"/v1/studies/{_name(study)}/resume"))

    def pause_trial(self, study: str | int | Study, number: int) -> Trial:
        return _trial(self._call("POST", f"/v1/studies/{_name(study)}/trials/{number}/pause"))

    def resume_trial(self, study: str | int | Study, number: int) -> Trial:
        return _trial(self._call("POST", f"/v1/studies/{_name(study)}/trials/{number}/resume"))

    # ---- trials ------------------------------------------------------------------------------
    def ask(self, study: str | int | Study, worker: str | None = None) -> Assignment | None:
        return self._ask(study, worker)[0]

    def _ask(
        self, study: str | int | Study, worker: str | None = None, lease_s: float | None = None
    ) -> tuple[Assignment | None, dict[str, Any]]:
        """(the assignment or None, the whole answer: it also says finished and paused)."""
        body: dict[str, Any] = {"worker": worker or self.worker}
        if lease_s is not None:
            body["lease_s"] = lease_s
        out = self._call("POST", f"/v1/studies/{_name(study)}/ask", json=body)
        a = out["assignment"]
        if a is None:
            return None, out
        self._numbers[(_name(study), a["trial_id"])] = a["number"]
        return Assignment(**a), out

    def _number(self, study: str | int | Study, trial_id: int) -> int:
        """Trial numbers address trials over HTTP; the SDK's calls take ids, as in-process."""
        known = self._numbers.get((_name(study), trial_id))
        if known is not None:
            return known
        for t in self._trial_rows(study):
            self._numbers[(_name(study), t["id"])] = t["number"]
            if t["id"] == trial_id:
                return t["number"]
        raise E.TrialNotFound(f"no trial with id {trial_id} in study {_name(study)!r}")

    def _trial_rows(
        self, study: str | int | Study, states: Iterable[TrialState | str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """The study's trials as JSON rows, a page of 1,000 at a time."""
        params: dict[str, Any] = {"offset": 0, "limit": 1000}
        if states is not None:
            params["state"] = [TrialState(s).value for s in states]
        while True:
            page = self._call("GET", f"/v1/studies/{_name(study)}/trials", params=params)
            yield from page["items"]
            params["offset"] += page["limit"]
            if params["offset"] >= page["total"]:
                return

    def report(
        self,
        study: str | int | Study,
        trial_id: int,
        step: float,
        *,
        number: int | None = None,
        checkpoint: bool = False,
        cost_s: float | None = None,
        worker: str | None = None,
        **metrics: float,
    ) -> Decision:
        n = self._number(study, trial_id) if number is None else number
        body: dict[str, Any] = {"step": step, "metrics": metrics, "checkpoint": checkpoint}
        if cost_s is not None:
            body["cost_s"] = cost_s
        if worker is not None:
            body["worker"] = worker
        out = self._call("POST", f"/v1/studies/{_name(study)}/trials/{n}/reports", json=body)
        return Decision(out["decision"])

    def tell(
        self,
        study: str | int | Study,
        trial_id: int,
        value: float | Mapping[str, float] | None = None,
        *,
        step: float | None = None,
        number: int | None = None,
        worker: str | None = None,
    ) -> Trial:
        n = self._number(study, trial_id) if number is None else number
        metrics: Mapping[str, float] | None
        if value is None or isinstance(value, Mapping):
            metrics = value
        else:
            s = study if isinstance(study, Study) else self.get_study(study)
            metrics = {s.objective.name: value}
        body = {
            "metrics": None if metrics is None else dict(metrics),
            "step": step,
            "worker": worker,
        }
        return _trial(
            self._call("POST", f"/v1/studies/{_name(study)}/trials/{n}/finish", json=body)
        )

    def fail(
        self,
        study: str | int | Study,
        trial_id: int,
        error: str = "failed",
        *,
        number: int | None = None,
        worker: str | None = None,
    ) -> Trial:
        n = self._number(study, trial_id) if number is None else number
        return _trial(
            self._call(
                "POST",
                f"/v1/studies/{_name(study)}/trials/{n}/fail",
                json={"error": error, "worker": worker},
            )
        )

    def heartbeat(self, study: str | int | Study, worker: str | None = None) -> int:
        out = self._call(
            "POST", f"/v1/studies/{_name(study)}/heartbeat", json={"worker": worker or self.worker}
        )
        return int(out["trials"])

    def trials(
        self, study: str | int | Study, states: Iterable[TrialState | str] | None = None
    ) -> list[Trial]:
        return [_trial(t) for t in self._trial_rows(study, states)]

    def best_trial(self, study: str | int | Study) -> TrialResult | None:
        try:
            return _result(self._call("GET", f"/v1/studies/{_name(study)}/best"))
        except E.TrialNotFound:
            return None

    def run(
        self,
        study: str | int | Study,
        objective: Any,
        *,
        n_workers: int | None = None,
        runs_dir: str = "hpo-runs",
        lease_s: float = 60.0,
        fail_fast: int = 3,
        progress: bool = False,
    ) -> Any:
        """Drives the study from this machine: ``objective`` is a function ``fn(trial)`` (run
        in ``n_workers`` threads) or a command (local processes), exactly as ``hpo.run``; the
        trials are claimed and reported over HTTP, so several machines may run one study."""
        from hpo.runner import drive

        if progress:
            raise E.HpoError("a progress bar over HTTP is not available; use progress=False")
        coord = RemoteCoordinator(self, _name(study), lease_s=lease_s)
        return drive(
            coord,
            objective,
            n_workers=n_workers,
            runs_dir=runs_dir,
            progress=False,
            fail_fast=fail_fast,
            poll_s=0.25,
        )

    def pareto_front(self, study: str | int | Study) -> list[TrialResult]:
        return [_result(d) for d in self._call("GET", f"/v1/studies/{_name(study)}/pareto")]


class RemoteCoordinator:
    """The Coordinator interface that Driver and the executors use, over the REST service.

    ``hpo worker`` runs the same Driver loop and LocalExecutor as ``hpo sweep``, with this in
    place of an in-process Coordinator: trials are claimed, reported, heartbeated, ended and
    released over HTTP.
    """

    def __init__(self, client: RemoteClient, study: str, *, lease_s: float = 60.0) -> None:
        self.client = client
        self.study = client.get_study(study)
        self.lease_s = lease_s
        self.finished = False

    def ask(self, worker: str, lease_s: float | None = None) -> Assignment | None:
        a, out = self.client._ask(self.study, worker, lease_s or self.lease_s)
        self.finished = bool(out["finished"]) and not out.get("paused", False)
        return a

    def report(
        self,
        trial_id: int,
        step: float,
        metrics: Mapping[str, Any],
        *,
        cost_s: float | None = None,
        worker: str | None = None,
        checkpoint: bool = False,
        lease_s: float | None = None,
    ) -> Decision:
        return self.client.report(
            self.study,
            trial_id,
            step,
            checkpoint=checkpoint,
            cost_s=cost_s,
            worker=worker,
            **dict(metrics),
        )

    def end(
        self,
        trial_id: int,
        *,
        exit_ok: bool = True,
        error: str | None = None,
        worker: str | None = None,
    ) -> Trial:
        if exit_ok:
            return self.client.tell(self.study, trial_id, worker=worker)
        return self.client.fail(self.study, trial_id, (error or "failed")[-20000:], worker=worker)

    def fail(self, trial_id: int, error: str, worker: str | None = None) -> Trial:
        return self.end(trial_id, exit_ok=False, error=error, worker=worker)

    def heartbeat(self, worker: str, lease_s: float | None = None) -> int:
        return self.client.heartbeat(self.study, worker=worker)

    def release_worker(self, worker: str, why: str = "its worker stopped") -> int:
        out = self.client._call(
            "POST", f"/v1/studies/{self.study.name}/release", json={"worker": worker, "why": why}
        )
        return int(out["trials"])

    def running_trials(self) -> list[Trial]:
        return self.client.trials(self.study, [TrialState.RUNNING])

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.client.trials(self.study):
            out[t.state.value] = out.get(t.state.value, 0) + 1
        return out
