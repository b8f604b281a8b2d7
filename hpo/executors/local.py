"""Local processes: N parallel slots, one trial process per slot.

Each trial runs a command (``{param}`` placeholders filled from its config) with its assignment
in ``HPO_*`` environment variables, a checkpoint directory of its own
(``<runs_dir>/<study>/trial-<number>/``, where its stdout.log and stderr.log go too), and, with
GPUs, ``CUDA_VISIBLE_DEVICES`` set to its slot's GPU. Trials report either through the SDK (a pipe
to this executor, answered with the decision) or by printing ``{"hpo": {...}}`` JSON lines.

PAUSE and STOP: an SDK trial gets the decision as the reply to its report and should exit by
itself; a stdout-only trial gets SIGTERM at once (it should checkpoint on SIGTERM). A trial still
alive ``grace_s`` later gets SIGTERM, and SIGKILL after another ``grace_s``. Trial processes die
with the executor's process (PR_SET_PDEATHSIG), so a killed coordinator leaves no orphans.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpo.coordinator import Assignment, Coordinator
from hpo.errors import HpoError, InvalidStudy
from hpo.executors.base import Ended, new_instance, release_dead_local_workers, worker_id
from hpo.executors.checkpoints import CheckpointError, CheckpointStore, TrialCheckpoints
from hpo.model import Decision

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def detect_gpus() -> list[str]:
    """GPU ids from CUDA_VISIBLE_DEVICES, else from ``nvidia-smi -L``; empty without GPUs."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g for g in env.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def render_command(
    template: str | Sequence[str], config: Mapping[str, Any], extra: Mapping[str, Any]
) -> list[str]:
    """Splits the template into arguments, then fills ``{name}`` in each from config and extra.

    A leading ``python``/``python3`` becomes this interpreter, so trials run in the same
    environment as hpo.
    """
    try:
        args = shlex.split(template) if isinstance(template, str) else list(template)
    except ValueError as e:  # an unbalanced quote or a trailing backslash
        raise InvalidStudy(f"cannot split the command {template!r} into arguments: {e}") from None
    values = {**extra, **config}
    out = []
    for a in args:
        try:
            out.append(a.format_map(values))
        except KeyError as e:
            raise InvalidStudy(
                f"command placeholder {{{e.args[0]}}} is not a parameter of the space "
                f"({', '.join(config)}) nor one of {', '.join(extra)}"
            ) from None
        except (ValueError, IndexError) as e:
            raise InvalidStudy(f"bad placeholder in command argument {a!r}: {e}") from None
    if out and out[0] in ("python", "python3"):
        out[0] = sys.executable
    return out


COMMAND_EXTRAS = ("trial_id", "number", "checkpoint_dir", "until", "study")


@dataclass
class _Run:
    a: Assignment
    proc: subprocess.Popen[bytes]
    slot: int
    readers: list[threading.Thread] = field(default_factory=list)
    stderr_tail: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=40)
    )
    decision: Decision | None = None
    ckpt: TrialCheckpoints | None = None  # copies to and from the checkpoint URL
    term_at: float | None = None
    kill_at: float | None = None
    signalled: bool = False
    notes: list[str] = field(default_factory=list)
    accepted: int = 0  # reports the coordinator took
    rejected: list[str] = field(default_factory=list)  # why each rejected report was rejected


class LocalExecutor:
    """Runs trials as local processes. See the module docstring.

    Args:
        command: a template string (shell-like splitting) or an argument list.
        n_slots: parallel trials; default one per GPU, or one per CPU without GPUs.
        runs_dir: root of the per-trial directories.
        grace_s: seconds a trial gets to exit after PAUSE/STOP before SIGTERM, then SIGKILL.
        gpus: GPU ids to spread slots over; default: detected.
        env: extra environment variables for every trial.
        checkpoint_url: a shared path or object-store URL (fsspec) that checkpoints are copied
            to and resumed from, so that a trial may resume on another machine
            (hpo/executors/checkpoints.py); without it they stay in ``runs_dir``.
    """

    def __init__(
        self,
        command: str | Sequence[str],
        *,
        n_slots: int | None = None,
        runs_dir: str | os.PathLike[str] = "hpo-runs",
        grace_s: float = 10.0,
        gpus: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        checkpoint_url: str | None = None,
    ):
        self.command = command
        self.store = CheckpointStore(checkpoint_url) if checkpoint_url else None
        self.gpus = list(detect_gpus() if gpus is None else gpus)
        if n_slots is None:
            n_slots = len(self.gpus) or os.cpu_count() or 1
        if n_slots < 1:
            raise InvalidStudy(f"parallelism must be at least 1, got {n_slots}")
        self.n_slots = n_slots
        self.runs_dir = Path(runs_dir)
        self.grace_s = float(grace_s)
        self.env = dict(env or {})
        self.cwd = cwd
        instance = new_instance()
        self.workers = [worker_id("local", i, instance) for i in range(n_slots)]
        self._runs: dict[str, _Run] = {}
        self._not_started: dict[str, Ended] = {}  # runs that failed to start, until poll()
        self._lock = threading.Lock()
        self.coordinator: Coordinator | None = None

    def bind(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        release_dead_local_workers(coordinator)

    def free_workers(self) -> list[str]:
        with self._lock:
            return [w for w in self.workers if w not in self._runs and w not in self._not_started]

    def busy_workers(self) -> list[str]:
        with self._lock:
            return [*self._runs, *self._not_started]

    def trial_dir(self, a: Assignment) -> Path:
        return self.runs_dir / a.study / f"trial-{a.number}"

    # ---- start --------------------------------------------------------------------------------
    def start(self, a: Assignment) -> None:
        assert self.coordinator is not None, "bind() the executor to a coordinator first"
        slot = self.workers.index(a.worker)
        tdir = self.trial_dir(a)
        tdir.mkdir(parents=True, exist_ok=True)
        notes: list[str] = []
        ckpt = None
        if self.store is not None:
            ckpt = TrialCheckpoints(self.store, tdir, a.study, a.number, errors=notes)
            if a.resume and a.checkpoint_step is not None:
                try:
                    ckpt.fetch(a.checkpoint_step)
                except CheckpointError as e:
                    self._start_failed(a, str(e))
                    return
        extra = {
            "trial_id": a.trial_id,
            "number": a.number,
            "checkpoint_dir": str(tdir.resolve()),
            "until": _fmt(a.until),
            "study": a.study,
        }
        argv = render_command(self.command, a.config, extra)
        r_report, w_report = os.pipe()
        r_decision, w_decision = os.pipe()
        env = {
            **os.environ,
            **self.env,
            "HPO_TRIAL_ID": str(a.trial_id),
            "HPO_TRIAL_NUMBER": str(a.number),
            "HPO_STUDY": a.study,
            "HPO_CONFIG": json.dumps(a.config),
            "HPO_UNTIL": _fmt(a.until),
            "HPO_RESUME": "1" if a.resume else "0",
            "HPO_CHECKPOINT_DIR": str(tdir.resolve()),
            "HPO_CHECKPOINT_STEP": "" if a.checkpoint_step is None else _fmt(a.checkpoint_step),
            "HPO_REPORT_FD": str(w_report),
            "HPO_DECISION_FD": str(r_decision),
            "PYTHONUNBUFFERED": "1",
        }
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
        stdout_log = open(tdir / "stdout.log", "ab")  # noqa: SIM115 - closed by the reader
        stderr_log = open(tdir / "stderr.log", "ab")  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=self.cwd,
                pass_fds=(w_report, r_decision),
                preexec_fn=_die_with_parent,
            )
        except OSError as e:
            for fd in (r_report, w_report, r_decision, w_decision):
                os.close(fd)
            stdout_log.close()
            stderr_log.close()
            self._start_failed(a, f"cannot start {argv[0]!r}: {e}")
            return
        os.close(w_report)
        os.close(r_decision)
        run = _Run(a, proc, slot, notes=notes, ckpt=ckpt)
        run.readers = [
            threading.Thread(target=self._read_stdout, args=(run, stdout_log), daemon=True),
            threading.Thread(target=self._read_stderr, args=(run, stderr_log), daemon=True),
            threading.Thread(
                target=self._serve_reports, args=(run, r_report, w_decision), daemon=True
            ),
        ]
        with self._lock:
            self._runs[a.worker] = run
        for t in run.readers:
            t.start()

    def _start_failed(self, a: Assignment, error: str) -> None:
        """The run ended before it began: the next poll() hands it to the driver, which fails
        the trial as any other failed run (so fail-fast and the failure summary count it)."""
        with self._lock:
            self._not_started[a.worker] = Ended(a.trial_id, a.worker, False, error)

    # ---- reporting channels -----------------------------------------------------------------
    def _report(self, run: _Run, msg: Mapping[str, Any], via_stdout: bool) -> Decision:
        assert self.coordinator is not None
        metrics = msg.get("metrics")
        if metrics is None:  # stdout form: {"hpo": {"step": 3, "loss": 0.2}}
            metrics = {k: v for k, v in msg.items() if k not in ("step", "checkpoint", "cost_s")}
        step = msg.get("step")
        checkpoint = bool(msg.get("checkpoint", False))
        if run.ckpt is not None:
            checkpoint = run.ckpt.before_report(step, checkpoint)
        decision = self.coordinator.report(
            run.a.trial_id,
            step,  # type: ignore[arg-type]
            metrics,
            cost_s=msg.get("cost_s"),
            worker=run.a.worker,
            checkpoint=checkpoint,
        )
        run.accepted += 1
        if run.ckpt is not None:
            run.ckpt.after_report(step, checkpoint)
        if decision is not Decision.CONTINUE and run.decision is None:
            run.decision = decision
            now = time.monotonic()
            final = step is not None and step >= self.coordinator.study.max_fidelity
            if via_stdout and not final:
                self._signal(run, signal.SIGTERM)
                run.kill_at = now + self.grace_s
            else:
                run.term_at = now + self.grace_s
                run.kill_at = now + 2 * self.grace_s
        return decision

    def _read_stdout(self, run: _Run, logf: Any) -> None:
        assert run.proc.stdout is not None
        with logf:
            for raw in run.proc.stdout:
                logf.write(raw)
                logf.flush()
                line = raw.strip()
                if not line.startswith(b"{") or b'"hpo"' not in line:
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(obj, dict) or not isinstance(obj.get("hpo"), dict):
                    continue
                try:
                    self._report(run, obj["hpo"], via_stdout=True)
                except HpoError as e:
                    run.rejected.append(str(e))
                    run.notes.append(f"rejected report {line.decode(errors='replace')}: {e}")
                    log.warning("trial %d: rejected report: %s", run.a.number, e)

    def _read_stderr(self, run: _Run, logf: Any) -> None:
        assert run.proc.stderr is not None
        with logf:
            for raw in run.proc.stderr:
                logf.write(raw)
                logf.flush()
                run.stderr_tail.append(raw.decode(errors="replace").rstrip("\n"))

    def _serve_reports(self, run: _Run, r_fd: int, w_fd: int) -> None:
        with os.fdopen(r_fd, "rb") as inp, os.fdopen(w_fd, "wb", buffering=0) as out:
            for line in inp:
                try:
                    msg = json.loads(line)
                    if not isinstance(msg, dict):
                        raise ValueError("a report must be a JSON object")
                    reply: dict[str, Any] = {
                        "decision": self._report(run, msg, via_stdout=False).value
                    }
                except (HpoError, ValueError, TypeError) as e:
                    run.rejected.append(str(e))
                    reply = {"error": str(e)}
                except Exception as e:  # storage down etc.: tell the trial, keep serving
                    log.exception("trial %d: report failed", run.a.number)
                    reply = {"error": f"report failed: {e}"}
                try:
                    out.write((json.dumps(reply) + "\n").encode())
                except BrokenPipeError:
                    return

    # ---- lifecycle ----------------------------------------------------------------------------
    def _signal(self, run: _Run, sig: int) -> None:
        run.signalled = True
        with contextlib.suppress(ProcessLookupError):
            run.proc.send_signal(sig)

    def poll(self) -> list[Ended]:
        """Collects runs that ended and enforces PAUSE/STOP grace periods."""
        now = time.monotonic()
        with self._lock:
            ended = list(self._not_started.values())
            self._not_started.clear()
            runs = list(self._runs.items())
        for w, run in runs:
            rc = run.proc.poll()
            if rc is None:
                if run.term_at is not None and now >= run.term_at:
                    self._signal(run, signal.SIGTERM)
                    run.term_at = None
                if run.kill_at is not None and now >= run.kill_at:
                    self._signal(run, signal.SIGKILL)
                    run.kill_at = None
                continue
            for t in run.readers:
                t.join(timeout=10)
            ended.append(self._ended(run, rc))
            with self._lock:
                del self._runs[w]
        return ended

    def _ended(self, run: _Run, rc: int) -> Ended:
        if rc == 0 and run.decision is Decision.PAUSE and run.ckpt and not run.ckpt.at_exit():
            # it checkpointed on PAUSE, and that checkpoint could not be copied out
            return Ended(run.a.trial_id, run.a.worker, False, "\n".join(run.notes))
        if rc == 0 and run.rejected and not run.accepted:
            # it reported, but nothing it reported could be stored (say, the objective was
            # missing from every report): a clean exit without a result is a failed run
            why = f"no report was accepted ({len(run.rejected)} rejected): {run.rejected[0]}"
            tail = "\n".join(run.stderr_tail)
            return Ended(
                run.a.trial_id, run.a.worker, False, "\n".join(x for x in (why, tail) if x)
            )
        if rc == 0:
            return Ended(run.a.trial_id, run.a.worker, True)
        why = f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}"
        if run.decision is not None and run.signalled:
            why += f" after {run.decision.value}"
        tail = "\n".join(run.stderr_tail)
        notes = "\n".join(run.notes)
        return Ended(
            run.a.trial_id, run.a.worker, False, "\n".join(x for x in (why, notes, tail) if x)
        )

    def heartbeat(self) -> None:
        assert self.coordinator is not None
        for w in self.busy_workers():
            self.coordinator.heartbeat(w)

    def shutdown(self, grace_s: float | None = None) -> None:
        """Interrupts every running trial (SIGTERM, SIGKILL after the grace period) and hands
        them back to the study as interrupted, so that the next sweep or resume continues them."""
        grace = self.grace_s if grace_s is None else grace_s
        with self._lock:
            runs = list(self._runs.items())
            not_started = list(self._not_started.values())
            self._not_started.clear()
        if self.coordinator is not None:
            for e in not_started:
                self.coordinator.end(e.trial_id, exit_ok=False, error=e.error, worker=e.worker)
        for _w, run in runs:
            self._signal(run, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(r.proc.poll() is None for _w, r in runs):
            time.sleep(0.05)
        for w, run in runs:
            if run.proc.poll() is None:
                self._signal(run, signal.SIGKILL)
                run.proc.wait()
            for t in run.readers:
                t.join(timeout=10)
            with self._lock:
                self._runs.pop(w, None)
            if self.coordinator is not None:
                self.coordinator.release_worker(w, "the sweep was interrupted")


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))
