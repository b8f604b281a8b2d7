"""Trials on a Ray cluster: one Ray actor per run of a trial, with the resources the trial asks for.

How it fits together (docs/ray.md has the user's view):

* The executor lives in the coordinator's process. It talks to Ray through a *bridge*: a child
  process (``python -m hpo.executors.ray``) that calls ``ray.init(address=...)``, creates the
  actors and tells the executor when their runs end, over a pipe of JSON lines. Ray terminates a
  driver whose cluster has been gone for a while; with the bridge in between, that ends the
  bridge, not the coordinator, which hands the bridge's trials back to the study for resumption
  from their last checkpoints and connects again with backoff.
* Each run of a trial is a fresh actor (``num_cpus``, ``num_gpus`` (fractions allowed),
  ``memory`` and custom ``resources``), killed when the run ends, so a PAUSE or STOP frees its
  resources at once and a resumed trial may land on any node.
* Inside the actor the trial runs exactly as it does locally: a command through the local
  executor's machinery (``HPO_*`` environment, SDK pipe or ``{"hpo": ...}`` stdout lines), a
  function through the thread executor's (``hpo.trial.current()``). Reports go to a Coordinator
  that the actor opens on the study's storage URL, so every node must reach the database
  (PostgreSQL on a cluster; a SQLite file only when every actor runs on the coordinator's host).
* Checkpoints go to ``runs_dir/<study>/trial-<n>/``, which must be a path every node sees, or,
  with ``checkpoint_url`` (any fsspec URL), to a local directory whose checkpoint is copied to
  ``<url>/<study>/trial-<n>/step-<s>/`` before every report that declares one (and when a run
  exits after PAUSE), and fetched back before a resumed run (hpo/executors/checkpoints.py).
* An actor that dies (its process killed, its node lost, the cluster gone) releases its trial
  through the coordinator's lease machinery: the trial becomes interrupted, paused at its last
  checkpoint (or pending without one), and is resumed before anything new. A trial whose actor
  dies ``max_actor_deaths`` times in a row is failed instead, so a trial that kills its node
  every time cannot loop forever.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpo.coordinator import Assignment, Coordinator
from hpo.errors import HpoError, InvalidStudy
from hpo.executors.base import Ended, _pid_alive, new_instance, worker_id

log = logging.getLogger(__name__)

RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory", "resources")


class RayUnavailable(HpoError):
    """The Ray cluster cannot be reached (or Ray is not installed)."""


@dataclass(frozen=True)
class RayOptions:
    """The ``ray:`` section of a sweep file, or the SDK's ``ray=`` argument.

    Attributes:
        address: ``ray.init`` address: ``"auto"``, ``"host:6379"``, ``"ray://..."``; None
            starts a private local Ray instance for the sweep.
        num_cpus, num_gpus: per trial; fractions allowed (``num_gpus: 0.25`` packs 4 trials on
            a GPU).
        memory: bytes of Ray's ``memory`` resource per trial.
        resources: custom resources per trial, e.g. ``{"accelerator_type:H100": 0.01}``.
        checkpoint_url: an fsspec URL (``s3://bucket/hpo``, ``gs://...``, ``file:///shared``)
            under which trial directories are kept; None: ``runs_dir`` must be shared.
        runtime_env: passed to ``ray.init`` (e.g. ``working_dir``, ``pip``, ``env_vars``).
        max_actor_deaths: consecutive actor deaths after which a trial fails, not resumes.
        gpus_param: a parameter of the search space (a number or a choice of numbers, e.g.
            ``gpus: {type: choice, values: [1, 2]}``) that sets each trial's GPUs: a trial gets
            ``config[gpus_param]`` GPUs and ``num_cpus`` CPUs per GPU, so a 2-GPU data-parallel
            trial and 1-GPU trials share one sweep (Ray places each where its GPUs are free).
            ``num_gpus`` then only sizes the default number of slots.
    """

    address: str | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory: float | None = None
    resources: Mapping[str, float] = field(default_factory=dict)
    checkpoint_url: str | None = None
    runtime_env: Mapping[str, Any] | None = None
    max_actor_deaths: int = 3
    gpus_param: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> RayOptions:
        """Validates a ``ray:`` mapping; raises InvalidStudy naming the bad key."""
        d = dict(d or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise InvalidStudy(f"ray: unknown key(s) {unknown}; known: {', '.join(sorted(known))}")
        for k in ("num_cpus", "num_gpus", "memory"):
            v = d.get(k)
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0
            ):
                raise InvalidStudy(f"ray.{k} must be a non-negative number, got {v!r}")
        res = d.get("resources") or {}
        if not isinstance(res, Mapping) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and v >= 0 for k, v in res.items()
        ):
            raise InvalidStudy(f"ray.resources must map names to non-negative numbers: {res!r}")
        if "max_actor_deaths" in d and (
            not isinstance(d["max_actor_deaths"], int) or d["max_actor_deaths"] < 1
        ):
            raise InvalidStudy("ray.max_actor_deaths must be an integer >= 1")
        if d.get("runtime_env") is not None and not isinstance(d["runtime_env"], Mapping):
            raise InvalidStudy("ray.runtime_env must be a mapping")
        if d.get("gpus_param") is not None and (
            not isinstance(d["gpus_param"], str) or not d["gpus_param"]
        ):
            raise InvalidStudy("ray.gpus_param must be the name of a search-space parameter")
        d["resources"] = dict(res)
        return cls(**d)

    def actor_options(self, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Ray actor options for one trial (``config`` matters only with ``gpus_param``)."""
        opts: dict[str, Any] = {"num_cpus": float(self.num_cpus), "num_gpus": float(self.num_gpus)}
        if self.gpus_param is not None and config is not None:
            gpus = config.get(self.gpus_param)
            if not is_gpu_count(gpus):
                raise InvalidStudy(
                    f"ray.gpus_param: the trial's {self.gpus_param!r} is {gpus!r}, not a "
                    "positive number of GPUs"
                )
            opts["num_gpus"] = float(gpus)
            opts["num_cpus"] = float(self.num_cpus) * max(float(gpus), 1.0)
        if self.memory:
            opts["memory"] = int(self.memory)
        if self.resources:
            opts["resources"] = {k: float(v) for k, v in self.resources.items()}
        return opts

    def slots_on(self, totals: Mapping[str, float]) -> int:
        """How many trials fit at once in a cluster with these resource totals."""
        need = {"CPU": self.num_cpus, "GPU": self.num_gpus, **dict(self.resources)}
        if self.memory:
            need["memory"] = self.memory
        fits = [math.floor(totals.get(k, 0.0) / v + 1e-9) for k, v in need.items() if v and v > 0]
        return min(fits) if fits else max(int(totals.get("CPU", 1)), 1)


def is_gpu_count(v: Any) -> bool:
    """A positive number (not a bool): what a trial's ``gpus_param`` value must be."""
    return not isinstance(v, bool) and isinstance(v, (int, float)) and v > 0


def check_gpus_domain(name: str, domain: Any) -> None:
    """Every value ``gpus_param`` can take must be a positive number of GPUs, checked at bind
    so that a bad domain fails the sweep before any trial starts (not at the first bad draw)."""
    from hpo.space import Categorical, Float, Int

    if isinstance(domain, Categorical):
        bad = [c for c in domain.choices if not is_gpu_count(c)]
        if bad:
            raise InvalidStudy(
                f"ray.gpus_param {name!r}: every choice must be a positive number of GPUs, "
                f"got {bad!r}"
            )
    elif isinstance(domain, (Int, Float)) and not domain.low > 0:
        raise InvalidStudy(
            f"ray.gpus_param {name!r}: its range must be positive numbers of GPUs, "
            f"it starts at {domain.low!r}"
        )


def portable_storage_url(url: str) -> str:
    """The storage URL as a Ray worker must see it: a relative SQLite path made absolute.

    Raises InvalidStudy for an in-memory SQLite database, which no other process can reach.
    """
    import sqlalchemy as sa

    u = sa.make_url(url)
    if u.get_backend_name() != "sqlite":
        return url
    db = u.database or ""
    if db in ("", ":memory:") or db.startswith("file::memory:"):
        raise InvalidStudy(
            "the Ray executor needs storage that its workers can open: an in-memory SQLite "
            "database is private to this process (use a SQLite file or PostgreSQL)"
        )
    return u.set(database=str(Path(db).resolve())).render_as_string(hide_password=False)


# ---- checkpoints at an fsspec URL ---------------------------------------------------------------
class _SyncingCoordinator:
    """The actor's Coordinator, copying the checkpoint a report declares to the checkpoint URL
    before the report is stored (hpo/executors/checkpoints.py's TrialCheckpoints), so that
    ``checkpoint_step`` never names a checkpoint that is not at the URL yet."""

    def __init__(self, inner: Coordinator, ckpt: Any):
        self._inner = inner
        self.ckpt = ckpt

    def report(self, trial_id: int, step: float, metrics: Any, **kw: Any) -> Any:
        kw["checkpoint"] = self.ckpt.before_report(step, bool(kw.get("checkpoint")))
        decision = self._inner.report(trial_id, step, metrics, **kw)
        self.ckpt.after_report(step, kw["checkpoint"])
        return decision

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


# ---- inside the Ray actor -----------------------------------------------------------------------
class TrialActor:
    """One run of one trial (wrapped with ``ray.remote`` in the bridge)."""

    def info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "host": socket.gethostname(), "node": _node_id()}

    def run(self, spec: dict[str, Any], fn_bytes: bytes | None) -> dict[str, Any]:
        try:
            return self._run(spec, fn_bytes)
        except BaseException:  # noqa: BLE001 - reported to the coordinator as the run's failure
            return {"ok": False, "error": f"on {socket.gethostname()}: {traceback.format_exc()}"}

    def _run(self, spec: dict[str, Any], fn_bytes: bytes | None) -> dict[str, Any]:
        from hpo.executors.local import LocalExecutor
        from hpo.executors.thread import ThreadExecutor
        from hpo.storage import SQLStorage

        a = Assignment(**spec["assignment"])
        try:
            storage = SQLStorage(spec["storage_url"])
            coord = Coordinator(storage, spec["study_id"], lease_s=spec["lease_s"])
        except Exception as e:  # noqa: BLE001
            raise HpoError(
                f"node {socket.gethostname()} cannot open the study's storage "
                f"{spec['storage_url']!r}: {e} (every Ray node must reach it)"
            ) from e
        channel: Any = coord
        if spec.get("checkpoint_url"):
            from hpo.executors.checkpoints import CheckpointStore, TrialCheckpoints

            runs_dir = Path(tempfile.mkdtemp(prefix=f"hpo-trial-{a.number}-"))
            tdir = runs_dir / a.study / f"trial-{a.number}"
            tdir.mkdir(parents=True, exist_ok=True)
            store = CheckpointStore(spec["checkpoint_url"])
            ckpt = TrialCheckpoints(store, tdir, a.study, a.number)
            if a.resume and a.checkpoint_step is not None:
                ckpt.fetch(a.checkpoint_step)
            channel = _SyncingCoordinator(coord, ckpt)
        else:
            runs_dir = Path(spec["runs_dir"])
        inner: Any
        if fn_bytes is not None:
            from ray import cloudpickle

            inner = ThreadExecutor(cloudpickle.loads(fn_bytes), n_slots=1, runs_dir=str(runs_dir))
        else:
            cwd = spec.get("cwd")
            inner = LocalExecutor(
                spec["command"],
                n_slots=1,
                runs_dir=runs_dir,
                grace_s=spec["grace_s"],
                gpus=[],  # Ray sets CUDA_VISIBLE_DEVICES for the actor; the trial inherits it
                env=spec.get("env") or {},
                cwd=cwd if cwd and os.path.isdir(cwd) else None,
            )
        inner.workers = [a.worker]
        inner.bind(channel)
        inner.start(a)
        while True:
            ended = inner.poll()
            if ended:
                break
            time.sleep(0.05)
        e = ended[0]
        # a clean exit after PAUSE means "the last step's checkpoint is saved": copy it out
        # before the step is recorded
        if isinstance(channel, _SyncingCoordinator) and e.exit_ok and not channel.ckpt.at_exit():
            return {"ok": False, "error": "could not copy the checkpoint at exit"}
        return {"ok": e.exit_ok, "error": e.error}


def _node_id() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001
        return ""


# ---- the bridge process -------------------------------------------------------------------------
def _bridge_main() -> int:  # pragma: no cover - runs in a child process; tested end to end
    """Connects to Ray, runs actors on request, and writes events to fd ``HPO_RAY_EVENTS_FD``."""
    events = os.fdopen(int(os.environ["HPO_RAY_EVENTS_FD"]), "w", buffering=1)
    lock = threading.Lock()

    def emit(**msg: Any) -> None:
        with lock:
            events.write(json.dumps(msg) + "\n")
            events.flush()

    init = json.loads(sys.stdin.readline())
    try:
        import ray
        import ray.exceptions

        ray.init(
            address=init["address"],
            runtime_env=init.get("runtime_env") or None,
            log_to_driver=False,
            logging_level=logging.WARNING,
            configure_logging=True,
        )
        totals = ray.cluster_resources()
    except Exception as e:  # noqa: BLE001
        emit(op="error", message=f"{type(e).__name__}: {e}".strip()[-2000:])
        return 1
    emit(op="ready", resources=totals, address=init["address"])
    fn_ref = None
    if init.get("function"):
        fn_ref = ray.put(base64.b64decode(init["function"]))
    from hpo.executors.ray import TrialActor as actor_def  # by reference, not from __main__

    actor_cls = ray.remote(max_restarts=0, max_task_retries=0)(actor_def)
    inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            with contextlib.suppress(ValueError):
                inbox.put(json.loads(line))
        inbox.put(None)  # the coordinator is gone

    threading.Thread(target=read_stdin, daemon=True).start()
    actors: dict[str, Any] = {}
    pending: dict[Any, tuple[str, str, int]] = {}  # ref -> (kind, worker, trial_id)

    def kill(worker: str) -> None:
        actor = actors.pop(worker, None)
        if actor is not None:
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)

    while True:
        try:
            while True:
                msg = inbox.get_nowait()
                if msg is None or msg.get("op") == "stop":
                    for w in list(actors):
                        kill(w)
                    return 0
                if msg.get("op") == "start":
                    w, spec = msg["worker"], msg["spec"]
                    tid = int(spec["assignment"]["trial_id"])
                    opts = spec.get("actor_options") or init["actor_options"]
                    actor = actor_cls.options(**opts).remote()
                    actors[w] = actor
                    pending[actor.info.remote()] = ("info", w, tid)
                    pending[actor.run.remote(spec, fn_ref)] = ("run", w, tid)
        except queue.Empty:
            pass
        if not pending:
            time.sleep(0.05)
            continue
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.1)
        for ref in ready:
            kind, w, tid = pending.pop(ref)
            try:
                value = ray.get(ref)
            except ray.exceptions.RayTaskError as e:  # the actor's code raised: a failure
                if kind == "run":
                    emit(op="ended", worker=w, trial_id=tid, ok=False, lost=False, error=str(e))
                    kill(w)
                continue
            except Exception as e:  # noqa: BLE001 - actor, worker or node gone
                why = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e) else ''}"
                if kind == "run":
                    emit(op="ended", worker=w, trial_id=tid, ok=False, lost=True, error=why)
                    kill(w)
                    for r, (_k, w2, _t) in list(pending.items()):
                        if w2 == w:
                            del pending[r]
                continue
            if kind == "info":
                emit(op="started", worker=w, trial_id=tid, **value)
            else:
                emit(op="ended", worker=w, trial_id=tid, lost=False, **value)
                kill(w)


# ---- the executor (coordinator side) ------------------------------------------------------------
@dataclass
class _Slot:
    trial_id: int
    number: int
    actor: dict[str, Any] | None = None


class RayExecutor:
    """Runs trials as Ray actors. See the module docstring and docs/ray.md.

    Args:
        objective: a command template (string or argument list, as for ``hpo sweep``) or a
            function ``fn(trial)`` (as for ``hpo.run``), which must be picklable by cloudpickle.
        options: RayOptions or a mapping of its fields (the sweep file's ``ray:`` section);
            ``address`` overrides ``options.address``.
        n_slots: trials at once; default: as many as the cluster's resources fit.
        runs_dir: trial directories (must be shared by all nodes unless ``checkpoint_url``).
        storage_url: the URL trials report to; default: the coordinator's storage URL.
        gcs_timeout_s: how long the bridge waits for a vanished cluster before giving up
            (Ray's ``gcs_rpc_server_reconnect_timeout_s``); then the coordinator reconnects.
    """

    def __init__(
        self,
        objective: str | Sequence[str] | Callable[..., Any],
        options: RayOptions | Mapping[str, Any] | None = None,
        *,
        address: str | None = None,
        n_slots: int | None = None,
        runs_dir: str | os.PathLike[str] = "hpo-runs",
        grace_s: float = 10.0,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        storage_url: str | None = None,
        connect_timeout_s: float = 120.0,
        gcs_timeout_s: float = 20.0,
        max_reconnect_s: float = 30.0,
    ):
        opts = options if isinstance(options, RayOptions) else RayOptions.from_dict(options)
        if address is not None:
            opts = RayOptions(**{**opts.__dict__, "address": address})
        self.options = opts
        self.objective = objective
        if n_slots is not None and n_slots < 1:
            raise InvalidStudy(f"parallelism must be at least 1, got {n_slots}")
        self.n_slots = n_slots
        self.runs_dir = Path(runs_dir).resolve()
        self.grace_s = float(grace_s)
        self.env = dict(env or {})
        self.cwd = str(Path(cwd).resolve()) if cwd else os.getcwd()
        self.storage_url = storage_url
        self.connect_timeout_s = connect_timeout_s
        self.gcs_timeout_s = gcs_timeout_s
        self.max_reconnect_s = max_reconnect_s
        self._instance = new_instance()
        self.workers: list[str] = []
        self._busy: dict[str, _Slot] = {}
        self._deaths: dict[int, int] = {}
        self._lock = threading.Lock()
        self._events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._bridge: subprocess.Popen[bytes] | None = None
        self._connected = False
        self._retry_at = 0.0
        self._backoff = 1.0
        self._log_path: Path | None = None
        self.coordinator: Any = None
        self.cluster_resources: dict[str, float] = {}
        self.reconnects = 0
        if callable(objective):
            from ray import cloudpickle

            self._function = base64.b64encode(cloudpickle.dumps(objective)).decode()
        else:
            self._function = None

    # ---- bridge ---------------------------------------------------------------------------------
    def _spawn(self) -> None:
        from hpo.executors.local import _die_with_parent

        r_ev, w_ev = os.pipe()
        study = self.coordinator.study.name if self.coordinator is not None else "ray"
        self._log_path = self.runs_dir / study / "ray-bridge.log"
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        logf = open(self._log_path, "ab")  # noqa: SIM115 - handed to the child
        env = {
            **os.environ,
            "HPO_RAY_EVENTS_FD": str(w_ev),
            "RAY_gcs_rpc_server_reconnect_timeout_s": str(int(self.gcs_timeout_s)),
            "PYTHONUNBUFFERED": "1",
        }
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "hpo.executors.ray"],
                stdin=subprocess.PIPE,
                stdout=logf,
                stderr=logf,
                env=env,
                pass_fds=(w_ev,),
                preexec_fn=_die_with_parent,
            )
        finally:
            os.close(w_ev)
            logf.close()
        events: queue.Queue[dict[str, Any] | None] = queue.Queue()

        def read() -> None:
            with os.fdopen(r_ev, "rb") as f:
                for line in f:
                    with contextlib.suppress(ValueError):
                        events.put(json.loads(line))
            events.put(None)

        threading.Thread(target=read, daemon=True, name="hpo-ray-events").start()
        self._bridge, self._events, self._connected = proc, events, False
        init = {
            "address": self.options.address,
            "runtime_env": dict(self.options.runtime_env or {}),
            "actor_options": self.options.actor_options(),
            "function": self._function,
        }
        self._send(init)

    def _send(self, msg: dict[str, Any]) -> bool:
        p = self._bridge
        if p is None or p.stdin is None:
            return False
        try:
            p.stdin.write((json.dumps(msg) + "\n").encode())
            p.stdin.flush()
            return True
        except (BrokenPipeError, ValueError, OSError):
            return False

    def _log_tail(self, n: int = 6) -> str:
        try:
            lines = (self._log_path or Path("/nonexistent")).read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(x.strip() for x in lines.strip().splitlines()[-n:] if x.strip())

    def _connect(self, timeout_s: float) -> None:
        """Starts a bridge and waits until it is connected; raises RayUnavailable if not."""
        self._spawn()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                msg = self._events.get(timeout=0.2)
            except queue.Empty:
                continue
            if msg is None or msg.get("op") == "error":
                why = (msg or {}).get("message") or self._log_tail() or "the bridge exited"
                self._stop_bridge()
                raise RayUnavailable(f"cannot connect to Ray at {self._where()}: {why}")
            if msg.get("op") == "ready":
                self._on_ready(msg)
                return
        self._stop_bridge()
        raise RayUnavailable(f"Ray at {self._where()} did not answer within {timeout_s:g}s")

    def _where(self) -> str:
        return self.options.address or "a new local Ray instance"

    def _on_ready(self, msg: dict[str, Any]) -> None:
        self.cluster_resources = {k: float(v) for k, v in msg.get("resources", {}).items()}
        fit = self.options.slots_on(self.cluster_resources)
        if self.n_slots is None:
            if fit < 1:
                self._stop_bridge()
                raise RayUnavailable(
                    f"no trial fits in the Ray cluster at {self._where()}: each asks for "
                    f"{self.options.actor_options()}, the cluster has {self.cluster_resources} "
                    "(set parallelism to wait for an autoscaler)"
                )
            self.n_slots = fit
        elif fit < 1:
            log.warning(
                "the Ray cluster has %s, less than one trial's %s: trials wait for resources",
                self.cluster_resources,
                self.options.actor_options(),
            )
        if not self.workers:
            self.workers = [worker_id("ray", i, self._instance) for i in range(self.n_slots)]
        self._connected = True
        self._backoff = 1.0

    def _stop_bridge(self) -> None:
        p = self._bridge
        self._bridge = None
        self._connected = False
        if p is None:
            return
        self._send_to(p, {"op": "stop"})
        with contextlib.suppress(OSError):
            p.stdin.close()  # type: ignore[union-attr]
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    @staticmethod
    def _send_to(p: subprocess.Popen[bytes], msg: dict[str, Any]) -> None:
        with contextlib.suppress(BrokenPipeError, ValueError, OSError):
            p.stdin.write((json.dumps(msg) + "\n").encode())  # type: ignore[union-attr]
            p.stdin.flush()  # type: ignore[union-attr]

    def _lost_bridge(self, why: str) -> None:
        """The bridge died (cluster gone, or killed): hand its trials back, reconnect later."""
        p = self._bridge
        self._bridge = None
        self._connected = False
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()
        with self._lock:
            busy = list(self._busy.items())
            self._busy.clear()
        n = 0
        for w, _slot in busy:
            n += self.coordinator.release_worker(w, f"the Ray cluster connection was lost ({why})")
        log.error(
            "lost the Ray cluster at %s (%s); %d running trial(s) will resume from their last "
            "checkpoints; reconnecting in %.0fs",
            self._where(),
            why,
            n,
            self._backoff,
        )
        self._retry_at = time.monotonic() + self._backoff

    def _maybe_reconnect(self) -> None:
        if self._bridge is not None or time.monotonic() < self._retry_at:
            return
        try:
            self._connect(self.connect_timeout_s)
        except RayUnavailable as e:
            self._backoff = min(self._backoff * 2, self.max_reconnect_s)
            self._retry_at = time.monotonic() + self._backoff
            log.warning("%s; retrying in %.0fs", e, self._backoff)
            return
        self.reconnects += 1
        log.warning("reconnected to the Ray cluster at %s", self._where())

    # ---- Executor protocol ----------------------------------------------------------------------
    def bind(self, coordinator: Any) -> None:
        if not hasattr(coordinator, "storage"):
            raise InvalidStudy(
                "the Ray executor needs an in-process Coordinator on a storage URL that Ray "
                "workers can open (not the REST service)"
            )
        gp = self.options.gpus_param
        if gp is not None and gp not in coordinator.study.space.names:
            raise InvalidStudy(
                f"ray.gpus_param {gp!r} is not a parameter of the search space "
                f"({', '.join(coordinator.study.space.names)})"
            )
        if gp is not None:
            check_gpus_domain(gp, coordinator.study.space.params[gp])
        self.coordinator = coordinator
        self.storage_url = portable_storage_url(self.storage_url or coordinator.storage.url)
        release_dead_ray_workers(coordinator)
        if self._bridge is None:
            self._connect(self.connect_timeout_s)

    def free_workers(self) -> list[str]:
        if not self._connected:
            return []
        with self._lock:
            return [w for w in self.workers if w not in self._busy]

    def busy_workers(self) -> list[str]:
        with self._lock:
            return list(self._busy)

    def start(self, a: Assignment) -> None:
        assert self.coordinator is not None, "bind() the executor to a coordinator first"
        tdir = self.runs_dir / a.study / f"trial-{a.number}"
        if not self.options.checkpoint_url:
            tdir.mkdir(parents=True, exist_ok=True)
        spec = {
            "assignment": a.to_dict(),
            "storage_url": self.storage_url,
            "study_id": self.coordinator.study.id,
            "lease_s": self.coordinator.lease_s,
            "runs_dir": str(self.runs_dir),
            "checkpoint_url": self.options.checkpoint_url,
            "command": None if callable(self.objective) else self.objective,
            "grace_s": self.grace_s,
            "env": self.env,
            "cwd": self.cwd,
            "actor_options": self.options.actor_options(a.config),
        }
        with self._lock:
            self._busy[a.worker] = _Slot(a.trial_id, a.number)
        if not self._send({"op": "start", "worker": a.worker, "spec": spec}):
            self._lost_bridge("the bridge process is gone")

    def poll(self) -> list[Ended]:
        """Ended runs; actor deaths are handed back to the study for resumption."""
        ended: list[Ended] = []
        while True:
            try:
                msg = self._events.get_nowait()
            except queue.Empty:
                break
            if msg is None:
                if self._bridge is not None:
                    rc = self._bridge.wait()
                    tail = self._log_tail(3)
                    self._lost_bridge(f"bridge exited with {rc}" + (f": {tail}" if tail else ""))
                break
            e = self._on_event(msg)
            if e is not None:
                ended.append(e)
        if self._bridge is None:
            self._maybe_reconnect()
        return ended

    def _on_event(self, msg: dict[str, Any]) -> Ended | None:
        op, w = msg.get("op"), msg.get("worker", "")
        with self._lock:
            slot = self._busy.get(w)
        if slot is None or slot.trial_id != msg.get("trial_id"):
            return None
        if op == "started":
            slot.actor = {k: msg.get(k) for k in ("pid", "host", "node")}
            return None
        if op != "ended":
            return None
        with self._lock:
            self._busy.pop(w, None)
        if not msg.get("lost"):
            self._deaths.pop(slot.trial_id, None)
            return Ended(slot.trial_id, w, bool(msg.get("ok")), msg.get("error"))
        deaths = self._deaths[slot.trial_id] = self._deaths.get(slot.trial_id, 0) + 1
        where = f" (pid {slot.actor['pid']} on {slot.actor['host']})" if slot.actor else ""
        why = f"its Ray actor died{where}: {msg.get('error')}"
        if deaths >= self.options.max_actor_deaths:
            return Ended(slot.trial_id, w, False, f"{why}; {deaths} times in a row, giving up")
        self.coordinator.release_worker(w, why)
        return Ended(slot.trial_id, w, False, why)  # end() leaves the released trial as it is

    def actors(self) -> dict[int, dict[str, Any]]:
        """Trial number -> the running actor's pid, host and node id (once it has started)."""
        with self._lock:
            return {s.number: dict(s.actor) for s in self._busy.values() if s.actor}

    def heartbeat(self) -> None:
        assert self.coordinator is not None
        for w in self.busy_workers():
            self.coordinator.heartbeat(w)

    def shutdown(self) -> None:
        """Kills the actors and hands their trials back as interrupted (resumed next time)."""
        self._stop_bridge()
        with self._lock:
            busy = list(self._busy)
            self._busy.clear()
        if self.coordinator is not None:
            for w in busy:
                self.coordinator.release_worker(w, "the sweep was interrupted")


def release_dead_ray_workers(coordinator: Any) -> int:
    """Releases trials held by Ray executors of this host whose coordinator process is gone
    (their actors died with it), without waiting for the leases to expire."""
    host = socket.gethostname()
    dead: set[str] = set()
    for t in coordinator.running_trials():
        parts = (t.worker or "").split(":")
        if len(parts) == 4 and parts[0] == "ray" and parts[1] == host and parts[2].isdigit():
            pid = int(parts[2])
            if pid != os.getpid() and not _pid_alive(pid):
                dead.add(t.worker or "")
    return sum(coordinator.release_worker(w, "its coordinator process died") for w in dead)


if __name__ == "__main__":
    sys.exit(_bridge_main())
