"""The SDK: ``hpo.Client`` creates studies and drives them with ask/report/tell.

``Client()`` works in-process on the embedded default storage (``$HPO_STORAGE`` or
``./hpo.db``); ``Client("postgresql://...")`` on any SQLAlchemy URL.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from hpo.coordinator import Assignment, Coordinator
from hpo.errors import InvalidStudy
from hpo.history import History
from hpo.model import (
    Budget,
    Decision,
    Fidelity,
    Objective,
    SchedulerSpec,
    Study,
    StudySpec,
    Trial,
    TrialState,
)
from hpo.results import TrialResult, best_trial, pareto_front
from hpo.space import SearchSpace


def _space(space: SearchSpace | Mapping[str, Any]) -> SearchSpace:
    if isinstance(space, SearchSpace):
        return space
    if isinstance(space, Mapping) and all(isinstance(v, Mapping) for v in space.values()):
        return SearchSpace.from_dict(space)
    return SearchSpace(space)  # type: ignore[arg-type]


def _objectives(objective: Any, mode: str) -> tuple[Objective, ...]:
    if isinstance(objective, str):
        return (Objective(objective, mode),)
    if isinstance(objective, Objective):
        return (objective,)
    if isinstance(objective, Mapping):
        return (Objective(objective.get("name", ""), objective.get("mode", mode)),)
    if isinstance(objective, Iterable):
        return tuple(o2 for o in objective for o2 in _objectives(o, mode))
    raise InvalidStudy(f"objective must be a metric name, Objective or list, got {objective!r}")


def _fidelity(f: Any) -> Fidelity | None:
    if f is None or isinstance(f, Fidelity):
        return f
    if isinstance(f, Mapping):
        unknown = set(f) - {"name", "min", "max"}
        if unknown:
            raise InvalidStudy(f"fidelity has unknown keys {sorted(unknown)}; use name, min, max")
        try:
            return Fidelity(f["name"], f["min"], f["max"])
        except KeyError as e:
            raise InvalidStudy(f"fidelity needs {e.args[0]!r}") from None
    if isinstance(f, Sequence) and len(f) == 3:
        return Fidelity(*f)
    raise InvalidStudy(f"fidelity must be Fidelity(name, min, max) or a mapping, got {f!r}")


def _metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """``metadata`` as stored: JSON (a NaN or an infinity would come back as null, a tuple as a
    list, an object not at all), so anything JSON cannot keep as given is refused."""
    out = dict(metadata or {})
    try:
        text = json.dumps(out, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidStudy(
            f"metadata must be plain JSON (finite numbers, strings...): {e}"
        ) from None
    if json.loads(text) != out:
        raise InvalidStudy("metadata must be plain JSON: tuples, sets and non-string keys change")
    return out


def study_spec(
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
    project: str = "default",
    check_scheduler: bool = True,
) -> StudySpec:
    """A validated StudySpec from the SDK's arguments (space, objectives, fidelity, scheduler
    and, with ``check_scheduler``, the scheduler's params, budget). Shared by the in-process and
    the remote client and by the REST service."""
    if isinstance(scheduler, Mapping):
        sched = SchedulerSpec(scheduler.get("name", "random"), dict(scheduler.get("params", {})))
    else:
        sched = SchedulerSpec(scheduler, dict(scheduler_params or {}))
    spec = StudySpec(
        name=name,
        space=_space(space),
        objectives=_objectives(objective, mode),
        fidelity=_fidelity(fidelity),
        scheduler=sched,
        budget=budget if isinstance(budget, Budget) else Budget.from_dict(budget),
        project=project,
        metadata=_metadata(metadata),
    )
    if check_scheduler:
        from hpo.schedulers import check_new_study

        check_new_study(Study(**{**spec.__dict__}))  # validates the scheduler's params
    return spec


class Client:
    """In-process client over one storage URL (``None``: ``$HPO_STORAGE`` or ``./hpo.db``).

    With an ``http(s)://`` URL it returns a :class:`hpo.remote.RemoteClient` instead, which
    speaks to ``hpo serve`` with the same methods (``Client(url, token=...)``).
    """

    def __new__(cls, storage: str | None = None, **kwargs: Any) -> Any:
        if isinstance(storage, str) and storage.startswith(("http://", "https://")):
            from hpo.remote import RemoteClient

            kwargs.pop("project", None)  # a remote caller's project comes from its token
            return RemoteClient(storage, **kwargs)
        return super().__new__(cls)

    def __init__(self, storage: str | None = None, *, project: str = "default"):
        from hpo.storage import SQLStorage

        self.storage = SQLStorage(storage)
        self.project = project
        self._coordinators: dict[int, Coordinator] = {}
        self.worker = f"sdk:{socket.gethostname()}:{os.getpid()}"

    # ---- studies ----------------------------------------------------------------------------
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
        """Creates a study, validating everything (space, scheduler and its params, budget)."""
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
            project=self.project,
        )
        return self.storage.create_study(spec, exist_ok=exist_ok)

    def get_study(self, name: str | int) -> Study:
        return self.storage.get_study(name, self.project)

    def list_studies(self) -> list[Study]:
        return self.storage.list_studies(self.project)

    def delete_study(self, name: str | int) -> None:
        study = self.get_study(name)
        self._coordinators.pop(study.id, None)
        self.storage.delete_study(study.id)

    def coordinator(self, study: str | int | Study) -> Coordinator:
        s = study if isinstance(study, Study) else self.get_study(study)
        c = self._coordinators.get(s.id)
        if c is None:
            c = self._coordinators[s.id] = Coordinator(self.storage, s)
        return c

    # ---- trials -----------------------------------------------------------------------------
    def ask(self, study: str | int | Study, worker: str | None = None) -> Assignment | None:
        """The next trial to run (``None``: nothing to run now, or the study is over)."""
        return self.coordinator(study).ask(worker or self.worker)

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
        """Stores metrics at fidelity ``step``; returns CONTINUE, PAUSE or STOP.

        ``number`` (the trial's number) is accepted for parity with the remote client, which
        addresses trials by number; in-process the id suffices.
        """
        return self.coordinator(study).report(
            trial_id, step, metrics, checkpoint=checkpoint, cost_s=cost_s, worker=worker
        )

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
        """Ends a trial with its final result (a number for the first objective, or a dict)."""
        return self.coordinator(study).tell(trial_id, value, step=step, worker=worker)

    def fail(
        self,
        study: str | int | Study,
        trial_id: int,
        error: str = "failed",
        *,
        number: int | None = None,
        worker: str | None = None,
    ) -> Trial:
        return self.coordinator(study).fail(trial_id, error, worker=worker)

    def pause_study(self, study: str | int | Study) -> Study:
        """Nothing new starts; running trials are told PAUSE at their next report."""
        return self.coordinator(study).pause()

    def resume_study(self, study: str | int | Study) -> Study:
        """Undoes ``pause_study``: the trials it paused are resumed first."""
        return self.coordinator(study).resume()

    def pause_trial(self, study: str | int | Study, number: int) -> Trial:
        """Holds trial ``number`` until ``resume_trial`` (see Coordinator.pause_trial)."""
        return self.coordinator(study).pause_trial(number)

    def resume_trial(self, study: str | int | Study, number: int) -> Trial:
        """Undoes ``pause_trial``: a trial stopped mid-run by the hold resumes first."""
        return self.coordinator(study).resume_trial(number)

    def heartbeat(self, study: str | int | Study, worker: str | None = None) -> int:
        """Extends the leases of the trials ``worker`` (default: this client) runs."""
        return self.coordinator(study).heartbeat(worker or self.worker)

    def history(self, study: str | int | Study) -> History:
        s = study if isinstance(study, Study) else self.get_study(study)
        return self.storage.history(s.id)

    def trials(
        self, study: str | int | Study, states: Iterable[TrialState | str] | None = None
    ) -> list[Trial]:
        states_ = None if states is None else [TrialState(s) for s in states]
        return self.history(study).trials(states_)

    def best_trial(self, study: str | int | Study) -> TrialResult | None:
        return best_trial(self.history(study))

    def pareto_front(self, study: str | int | Study) -> list[TrialResult]:
        return pareto_front(self.history(study))

    def run(
        self,
        study: str | int | Study,
        objective: Callable[..., Any] | str | Sequence[str],
        *,
        executor: str = "local",
        ray: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """``hpo.run`` on this client's storage.

        ``executor="ray"`` runs each trial as a Ray actor (docs/ray.md); ``ray`` holds its
        options (``address``, ``num_cpus``, ``num_gpus``, ``resources``, ``checkpoint_url``...).
        """
        from hpo.runner import run

        s = study if isinstance(study, Study) else self.get_study(study)
        # --- Ray executor (issue 8) ---
        if executor == "ray":
            return self._run_on_ray(s, objective, ray or {}, **kwargs)
        if executor != "local" or ray is not None:
            raise InvalidStudy(
                f"executor must be 'local' or 'ray' (with ray=...), got {executor!r}"
            )
        # --- end Ray executor ---
        return run(s, objective, storage=self.storage, **kwargs)

    def _run_on_ray(
        self,
        study: Study,
        objective: Callable[..., Any] | str | Sequence[str],
        options: Mapping[str, Any],
        *,
        n_workers: int | None = None,
        runs_dir: str = "hpo-runs",
        progress: bool = True,
        lease_s: float = 60.0,
        fail_fast: int = 3,
    ) -> Any:
        """``run(..., executor="ray")``: the Driver over a RayExecutor."""
        from hpo.executors.ray import RayExecutor
        from hpo.runner import Driver

        coord = Coordinator(self.storage, study, lease_s=lease_s)
        ex = RayExecutor(objective, options, n_slots=n_workers, runs_dir=runs_dir)
        if not progress:
            return Driver(coord, ex, fail_fast=fail_fast).run()
        from hpo.progress import SweepProgress

        with SweepProgress(coord) as p:
            return Driver(coord, ex, fail_fast=fail_fast, on_progress=p.update).run()
