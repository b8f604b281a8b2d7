"""Throughput and latency of the REST service under concurrent clients, side by side with
Optuna's RDB storage doing the same ask/report/tell work on the same database, in one run.

For each storage (a SQLite file, a PostgreSQL schema) and each number of clients C, two cells run
one after the other, each on a fresh database:

* ``hpo``     a real ``hpo serve`` process (uvicorn) on a free localhost port over a fresh SQLite
              file or PostgreSQL schema, and a study with the random scheduler (so that no
              scheduling decision is measured) and a fidelity of K steps. C threads, each with
              its own ``hpo.remote.RemoteClient`` (its own httpx connection) and worker id, loop:
              ``ask`` (timed), K x ``report`` (each timed), ``finish`` (timed).
* ``optuna``  Optuna's ``RDBStorage`` on another fresh SQLite file or PostgreSQL schema of the
              same server. C threads, each with its own ``RDBStorage`` and ``Study`` object
              (like C worker processes sharing a database), loop: ``study.ask()`` and
              ``suggest_float`` for each parameter (timed together as the ask, since hpo's ask
              returns the sampled configuration), K x ``trial.report(value, step)`` (each
              timed), ``study.tell(trial, value)`` (timed). RandomSampler, no pruner.

Optuna has no server: it is a library in the workers' process that talks straight to the
database. hpo's workers go through HTTP, JSON and a server process, which then talks to the
database. That is the comparison a user faces when choosing a shared-storage setup for many
workers; it is not a comparison of the two storage layers alone (benchmarks/overhead.py is).

Both systems use the same 5-d space of floats and report ``loss = sphere(x) + 1/step``.

Every cell: each thread first runs one untimed warm-up trial (connections, caches, the server's
coordinator), then all threads start together and start new trials until ``--seconds`` have
passed (or ``--trials`` trials were started); a trial that has started is finished. The elapsed
time runs from the common start to the end of the last thread's last trial.

Columns:

* reports/s, asks/s: successful calls in the timed window / elapsed time, all clients together.
* ask, report, tell p50 / p99: latency of each call as the client sees it (nearest rank), ms.
* errors: calls that raised (after the SDK's own retries, for hpo). A ``+N retried`` note counts
  attempts that the hpo SDK retried (5xx, 429, connection errors) before succeeding.
* hpo/optuna: hpo's reports/s divided by Optuna's, same storage and clients.

A second table checks and explains the first:

* reports stored / counted: the reports in the database after the cell (warm-up included)
  against those the clients saw succeed; MISMATCH when they differ (e.g. a call that raised after
  its row was committed).
* report p50 first -> last 10%: the report latency at the start and at the end of the window.
  It grows when a report's cost grows with the size of the study.
* CPU milliseconds per report in the timed window: of the server process, of this (client)
  process, and of the whole machine (all processes, the database included, from /proc/stat, so
  other load on the machine shows up there).

Run from the repository root::

    python -m benchmarks.service
    python -m benchmarks.service --clients 1,8,32 --storages sqlite,postgres --reports 10 \\
        --seconds 20
    python -m benchmarks.service --clients 8 --storages sqlite --systems hpo --seconds 10
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

SYSTEMS = ("hpo", "optuna")
STORAGES = ("sqlite", "postgres")
DIM = 5
LOW, HIGH = -5.0, 5.0
PG_CONNINFO = "host=127.0.0.1 port=5432 user=postgres dbname=test"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REPO = Path(__file__).resolve().parent.parent
NAMES = tuple(f"x{i}" for i in range(DIM))


# ---- measurements ----------------------------------------------------------------------------
def percentile(xs: list[float], q: float) -> float | None:
    """The q-th percentile of xs by nearest rank; None if xs is empty."""
    if not xs:
        return None
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))]


@dataclass
class ClientLog:
    """What one client thread saw in the timed window (latencies in seconds)."""

    ask: list[float] = field(default_factory=list)
    report: list[float] = field(default_factory=list)
    report_at: list[float] = field(default_factory=list)  # perf_counter at each report's start
    tell: list[float] = field(default_factory=list)
    trials: int = 0  # trials finished (tell returned)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    warmup_reports: int = 0
    warmup_trials: int = 0
    end: float = 0.0  # perf_counter at which the thread's last trial ended

    def error(self, e: BaseException) -> None:
        self.errors += 1
        if len(self.error_samples) < 3:
            msg = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}" if str(e) else repr(e)
            cause = e.__cause__ or e.__context__
            if cause is not None:
                first = str(cause).splitlines()[0][:160] if str(cause) else ""
                msg += f" (from {type(cause).__name__}: {first})"
            self.error_samples.append(msg)


@dataclass
class CellResult:
    """One (system, storage, clients) cell."""

    system: str
    storage: str
    clients: int
    reports_per_trial: int
    elapsed_s: float
    trials: int  # trials finished in the timed window
    asks: int
    reports: int
    tells: int
    errors: int
    retried: int  # hpo only: attempts the SDK retried before a call succeeded
    ask_ms: dict[str, float | None]
    report_ms: dict[str, float | None]
    report_p50_first_ms: float | None  # reports that started in the first 10% of the window
    report_p50_last_ms: float | None  # ... and in the last 10% (it grows if cost grows with size)
    tell_ms: dict[str, float | None]
    warmup_trials: int
    warmup_reports: int
    stored_reports: int  # reports read back from the storage after the run (warm-up included)
    stored_finished: int  # finished trials read back from the storage (warm-up included)
    cpu_server_s: float | None
    cpu_client_s: float
    cpu_machine_s: float | None
    error_samples: list[str] = field(default_factory=list)

    @property
    def reports_per_s(self) -> float:
        return self.reports / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def asks_per_s(self) -> float:
        return self.asks / self.elapsed_s if self.elapsed_s > 0 else 0.0


def _latency(xs: list[float]) -> dict[str, float | None]:
    p50, p99 = percentile(xs, 50), percentile(xs, 99)
    return {
        "p50": None if p50 is None else p50 * 1000.0,
        "p99": None if p99 is None else p99 * 1000.0,
        "max": max(xs) * 1000.0 if xs else None,
    }


def _proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _machine_busy_s() -> float | None:
    """CPU seconds spent busy by all cores so far (Linux /proc/stat), or None."""
    try:
        cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in cpu[:8])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _sphere(config: dict[str, Any]) -> float:
    return float(sum(config[k] ** 2 for k in NAMES))


# ---- the clients ------------------------------------------------------------------------------
class _Window:
    """The timed window shared by the client threads: a common start, a deadline, a trial cap."""

    def __init__(self, clients: int, seconds: float, max_trials: int | None) -> None:
        self.seconds, self.max_trials = seconds, max_trials
        self.started = 0
        self.t0 = 0.0
        self._lock = threading.Lock()
        self.ready = threading.Barrier(clients + 1)  # every client is warm, and the main thread
        self.start = threading.Event()  # set once t0 and the CPU counters are read

    def claim(self) -> bool:
        """Whether a client may start another trial."""
        with self._lock:
            if time.perf_counter() - self.t0 >= self.seconds:
                return False
            if self.max_trials is not None and self.started >= self.max_trials:
                return False
            self.started += 1
            return True


def _drive(
    clients: int,
    seconds: float,
    max_trials: int | None,
    make_client: Callable[[int], Any],
    one_trial: Callable[[Any, int, ClientLog | None], int],
    server_pid: int | None,
) -> tuple[list[ClientLog], float, float, dict[str, float | None]]:
    """Runs ``clients`` threads: each makes its client, runs one warm-up trial, waits for the
    common start, then runs trials while the window allows. ``one_trial(client, i, log)`` runs
    one trial, timing its calls into ``log`` (None in the warm-up), and returns the number of
    reports that succeeded. Returns the logs, the window's start (perf_counter), its length
    and the CPU seconds used."""
    window = _Window(clients, seconds, max_trials)
    logs = [ClientLog() for _ in range(clients)]
    setup_errors: list[BaseException] = []

    def run(i: int) -> None:
        log = logs[i]
        try:
            client = make_client(i)
        except BaseException as e:  # noqa: BLE001 - reported below, after the others stop
            setup_errors.append(e)
            window.ready.abort()
            return
        try:
            try:
                log.warmup_reports += one_trial(client, i, None)
                log.warmup_trials += 1
            except Exception as e:  # noqa: BLE001 - counted as an error of the cell
                log.error(e)
            window.ready.wait()
            window.start.wait()
            while window.claim():
                try:
                    one_trial(client, i, log)
                except Exception as e:  # noqa: BLE001 - counted; the client goes on
                    log.error(e)
            log.end = time.perf_counter()
        except threading.BrokenBarrierError:
            pass
        finally:
            close = getattr(client, "close", None)
            if close is not None:
                close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    try:
        window.ready.wait(timeout=300)  # every client has run its warm-up trial
    except threading.BrokenBarrierError:
        window.start.set()
        for t in threads:
            t.join()
        raise RuntimeError(f"a client could not start: {setup_errors[:1]}") from None
    server0 = _proc_cpu_s(server_pid) if server_pid else None
    client0 = time.process_time()
    machine0 = _machine_busy_s()
    window.t0 = time.perf_counter()
    window.start.set()
    for t in threads:
        t.join()
    t_end = max((lg.end for lg in logs if lg.end), default=window.t0)
    used = {
        "server": _diff(server0, _proc_cpu_s(server_pid) if server_pid else None),
        "client": time.process_time() - client0,
        "machine": _diff(machine0, _machine_busy_s()),
    }
    return logs, window.t0, max(0.0, t_end - window.t0), used


def _cell(
    system: str,
    storage: str,
    clients: int,
    reports_per_trial: int,
    logs: list[ClientLog],
    t0: float,
    elapsed: float,
    cpu: dict[str, float | None],
    stored_reports: int,
    stored_finished: int,
    retried: int = 0,
) -> CellResult:
    ask = [x for lg in logs for x in lg.ask]
    report = [x for lg in logs for x in lg.report]
    tell = [x for lg in logs for x in lg.tell]
    timed = [(at - t0, d) for lg in logs for at, d in zip(lg.report_at, lg.report, strict=True)]
    first = [d for at, d in timed if at < 0.1 * elapsed]
    last = [d for at, d in timed if at >= 0.9 * elapsed]
    return CellResult(
        system=system,
        storage=storage,
        clients=clients,
        reports_per_trial=reports_per_trial,
        elapsed_s=elapsed,
        trials=sum(lg.trials for lg in logs),
        asks=len(ask),
        reports=len(report),
        tells=len(tell),
        errors=sum(lg.errors for lg in logs),
        retried=retried,
        ask_ms=_latency(ask),
        report_ms=_latency(report),
        report_p50_first_ms=_latency(first)["p50"],
        report_p50_last_ms=_latency(last)["p50"],
        tell_ms=_latency(tell),
        warmup_trials=sum(lg.warmup_trials for lg in logs),
        warmup_reports=sum(lg.warmup_reports for lg in logs),
        stored_reports=stored_reports,
        stored_finished=stored_finished,
        cpu_server_s=cpu["server"],
        cpu_client_s=cpu["client"] or 0.0,
        cpu_machine_s=cpu["machine"],
        error_samples=[s for lg in logs for s in lg.error_samples][:3],
    )


# ---- hpo: a real server process ---------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def hpo_server(storage_url: str, log_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """``hpo serve`` over ``storage_url`` on a free localhost port; yields (url, process) once
    /healthz answers, and stops the server afterwards."""
    import httpx

    port = free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    cmd = [sys.executable, "-m", "hpo.cli", "serve", "--storage", storage_url]
    cmd += ["--port", str(port), "--log-level", "warning"]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"hpo serve exited: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("hpo serve did not come up in 60 s")
            time.sleep(0.05)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class _CountingHTTP:
    """Wraps an httpx.Client's ``request`` to count the attempts that the SDK will retry."""

    def __init__(self, request: Callable[..., Any], counter: list[int]) -> None:
        self._request, self._counter = request, counter

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from hpo.remote import RETRY_STATUS

        try:
            r = self._request(*args, **kwargs)
        except Exception:
            self._counter[0] += 1
            raise
        if r.status_code in RETRY_STATUS:
            self._counter[0] += 1
        return r


def run_hpo(
    storage_url: str,
    storage: str,
    clients: int,
    *,
    seconds: float,
    reports_per_trial: int,
    max_trials: int | None = None,
    log_dir: Path,
) -> CellResult:
    """One hpo cell: a fresh server over ``storage_url`` (an empty database), C clients."""
    from hpo.remote import RemoteClient
    from hpo.storage import SQLStorage

    retried = [0]
    name = f"bench-{uuid.uuid4().hex[:8]}"
    with hpo_server(storage_url, log_dir / f"server-{storage}-{clients}.log") as (url, proc):
        with RemoteClient(url) as admin:
            study = admin.create_study(
                name,
                {k: {"type": "float", "low": LOW, "high": HIGH} for k in NAMES},
                "loss",
                fidelity={"name": "step", "min": 1, "max": reports_per_trial},
                scheduler="random",
                scheduler_params={"seed": 0},
            )

        def make_client(i: int) -> RemoteClient:
            c = RemoteClient(url)
            c._http.request = _CountingHTTP(c._http.request, retried)  # type: ignore[method-assign]
            return c

        def one_trial(c: RemoteClient, i: int, log: ClientLog | None) -> int:
            worker = f"bench-{i}"
            pc = time.perf_counter
            t0 = pc()
            a = c.ask(study, worker=worker)
            t1 = pc()
            if a is None:
                raise RuntimeError("ask returned no trial (the study should never finish)")
            if log is not None:
                log.ask.append(t1 - t0)
            base = _sphere(a.config)
            done = 0
            for step in range(1, reports_per_trial + 1):
                r0 = pc()
                c.report(
                    study, a.trial_id, step, number=a.number, worker=worker, loss=base + 1 / step
                )
                r1 = pc()
                done += 1
                if log is not None:
                    log.report.append(r1 - r0)
                    log.report_at.append(r0)
            f0 = pc()
            c.tell(study, a.trial_id, number=a.number, worker=worker)
            f1 = pc()
            if log is not None:
                log.tell.append(f1 - f0)
                log.trials += 1
            return done

        logs, t0, elapsed, cpu = _drive(
            clients, seconds, max_trials, make_client, one_trial, server_pid=proc.pid
        )
    # read back what the server stored, straight from the database
    st = SQLStorage(storage_url)
    try:
        sid = st.get_study(name).id
        h = st.history(sid)
        stored_reports = sum(len(h.reports(t.id)) for t in h.trials())
        counts = st.study_counts(sid)
    finally:
        st.close()
    return _cell(
        "hpo",
        storage,
        clients,
        reports_per_trial,
        logs,
        t0,
        elapsed,
        cpu,
        stored_reports,
        counts.get("completed", 0) + counts.get("stopped", 0),
        retried[0],
    )


# ---- Optuna: the library on the same database ------------------------------------------------
def run_optuna(
    storage_url: str,
    storage: str,
    clients: int,
    *,
    seconds: float,
    reports_per_trial: int,
    max_trials: int | None = None,
) -> CellResult:
    """One Optuna cell on ``storage_url`` (an empty database), C threads with their own
    RDBStorage and Study objects."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    admin = optuna.storages.RDBStorage(storage_url)
    optuna.create_study(storage=admin, study_name=name, direction="minimize")

    engines: list[Any] = []

    def make_client(i: int) -> Any:
        rdb = optuna.storages.RDBStorage(storage_url)
        engines.append(rdb.engine)
        return optuna.load_study(
            study_name=name, storage=rdb, sampler=optuna.samplers.RandomSampler(seed=i)
        )

    def one_trial(study: Any, i: int, log: ClientLog | None) -> int:
        pc = time.perf_counter
        t0 = pc()
        trial = study.ask()
        config = {k: trial.suggest_float(k, LOW, HIGH) for k in NAMES}
        t1 = pc()
        if log is not None:
            log.ask.append(t1 - t0)
        base = _sphere(config)
        done = 0
        for step in range(1, reports_per_trial + 1):
            r0 = pc()
            trial.report(base + 1 / step, step)
            r1 = pc()
            done += 1
            if log is not None:
                log.report.append(r1 - r0)
                log.report_at.append(r0)
        f0 = pc()
        study.tell(trial, base + 1 / reports_per_trial)
        f1 = pc()
        if log is not None:
            log.tell.append(f1 - f0)
            log.trials += 1
        return done

    logs, t0, elapsed, cpu = _drive(clients, seconds, max_trials, make_client, one_trial, None)
    study = optuna.load_study(study_name=name, storage=admin)
    trials = study.get_trials(deepcopy=False)
    stored_reports = sum(len(t.intermediate_values) for t in trials)
    finished = sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    for engine in [admin.engine, *engines]:
        engine.dispose()
    return _cell(
        "optuna",
        storage,
        clients,
        reports_per_trial,
        logs,
        t0,
        elapsed,
        cpu,
        stored_reports,
        finished,
    )


# ---- databases --------------------------------------------------------------------------------
def _pg_connect() -> Any:
    import psycopg

    return psycopg.connect(PG_CONNINFO, autocommit=True, connect_timeout=3)


def pg_version() -> str | None:
    """The PostgreSQL server's version, or None when it does not answer."""
    try:
        with _pg_connect() as conn:
            return conn.execute("SHOW server_version").fetchone()[0]
    except Exception:  # noqa: BLE001 - any failure means: skip PostgreSQL
        return None


@contextlib.contextmanager
def fresh_database(storage: str, tmp: Path, tag: str, keep: bool = False) -> Iterator[str]:
    """A URL on an empty database: a new SQLite file in ``tmp``, or a new PostgreSQL schema
    (reached through ``options=-csearch_path=...``); removed afterwards unless ``keep``."""
    from benchmarks.overhead import _database

    with _database(storage, tmp, f"svc-{tag}-{uuid.uuid4().hex[:6]}", keep) as url:
        yield url


def run_cell(
    system: str,
    storage: str,
    clients: int,
    *,
    seconds: float,
    reports_per_trial: int,
    max_trials: int | None = None,
    tmp: Path,
    keep: bool = False,
) -> CellResult:
    """One (system, storage, clients) cell on a fresh database."""
    with fresh_database(storage, tmp, f"{system}-{clients}", keep) as url:
        if system == "hpo":
            return run_hpo(
                url,
                storage,
                clients,
                seconds=seconds,
                reports_per_trial=reports_per_trial,
                max_trials=max_trials,
                log_dir=tmp,
            )
        if system == "optuna":
            return run_optuna(
                url,
                storage,
                clients,
                seconds=seconds,
                reports_per_trial=reports_per_trial,
                max_trials=max_trials,
            )
        raise ValueError(f"unknown system {system!r}; choose from {', '.join(SYSTEMS)}")


# ---- output -------------------------------------------------------------------------------------
def _f(x: float | None, nd: int = 2) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def _pp(d: dict[str, float | None]) -> str:
    return "-" if d.get("p50") is None else f"{d['p50']:.2f} / {d['p99']:.2f}"


def render(results: list[CellResult]) -> str:
    """The throughput and latency table and the CPU table, as Markdown."""
    optuna = {(r.storage, r.clients): r for r in results if r.system == "optuna"}
    lines = [
        "| storage | clients | system | trials | reports/s | asks/s | ask p50 / p99 ms "
        "| report p50 / p99 ms | finish/tell p50 / p99 ms | errors | hpo/optuna reports/s |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        o = optuna.get((r.storage, r.clients))
        ratio = "-"
        if r.system == "hpo" and o is not None and o.reports_per_s > 0:
            ratio = f"{r.reports_per_s / o.reports_per_s:.2f}x"
        errors = f"{r.errors}" + (f" (+{r.retried} retried)" if r.retried else "")
        lines.append(
            f"| {r.storage} | {r.clients} | {r.system} | {r.trials:,} | {r.reports_per_s:,.0f} "
            f"| {r.asks_per_s:,.1f} | {_pp(r.ask_ms)} | {_pp(r.report_ms)} | {_pp(r.tell_ms)} "
            f"| {errors} | {ratio} |"
        )
    cpu = [
        "",
        "Reports stored in the database at the end (warm-up included) against those the clients "
        "counted; report p50 over the first and the last 10% of the timed window; CPU "
        "milliseconds per report in the window (machine: all cores and processes, the database "
        "and any other load included):",
        "",
        "| storage | clients | system | reports stored / counted | report p50 ms, first → last "
        "10% | CPU ms/report: server | client process | whole machine | machine busy |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        n = max(1, r.reports)
        per = {
            k: None if v is None else v / n * 1000.0
            for k, v in (
                ("server", r.cpu_server_s),
                ("client", r.cpu_client_s),
                ("machine", r.cpu_machine_s),
            )
        }
        busy = "-"
        if r.cpu_machine_s is not None and r.elapsed_s > 0:
            busy = f"{r.cpu_machine_s / r.elapsed_s:.2f} of {os.cpu_count()} cores"
        counted = r.reports + r.warmup_reports
        check = "" if r.stored_reports == counted else " MISMATCH"
        cpu.append(
            f"| {r.storage} | {r.clients} | {r.system} | {r.stored_reports:,} / {counted:,}{check} "
            f"| {_f(r.report_p50_first_ms)} → {_f(r.report_p50_last_ms)} | {_f(per['server'])} "
            f"| {_f(per['client'])} | {_f(per['machine'])} | {busy} |"
        )
    out = "\n".join(lines + cpu)
    samples = [(r, s) for r in results for s in r.error_samples]
    if samples:
        out += "\n\nErrors (first of each cell):\n" + "\n".join(
            f"- {r.system}/{r.storage}/{r.clients}: {s}" for r, s in samples
        )
    return out


def _versions() -> dict[str, str]:
    from benchmarks.overhead import _versions as versions

    return versions(("hpo", "optuna", "sqlalchemy", "fastapi", "uvicorn", "httpx", "psycopg"))


def _parse_list(s: str, allowed: tuple[str, ...] | None, what: str) -> list[str]:
    items = [x.strip() for x in s.split(",") if x.strip()]
    bad = [x for x in items if allowed is not None and x not in allowed]
    if bad or not items:
        raise SystemExit(f"bad {what} {bad or s!r}; choose from {', '.join(allowed or ())}")
    return items


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.service",
        description="REST service throughput and latency under concurrent clients, "
        "side by side with Optuna's RDB storage (same work, same database, same run).",
    )
    ap.add_argument("--clients", default="1,8,32", help="client counts (default: %(default)s)")
    ap.add_argument("--storages", default="sqlite,postgres", help="default: %(default)s")
    ap.add_argument("--systems", default="hpo,optuna", help="default: %(default)s")
    ap.add_argument(
        "--trials", type=int, default=None, help="cap on trials started per cell (default: none)"
    )
    ap.add_argument(
        "--reports", type=int, default=10, help="reports per trial, K (default: %(default)s)"
    )
    ap.add_argument(
        "--seconds", type=float, default=20.0, help="timed window per cell (default: %(default)s)"
    )
    ap.add_argument("--tmpdir", default=None, help="where SQLite files and server logs go")
    ap.add_argument("--keep", action="store_true", help="keep the databases and server logs")
    ap.add_argument("--json", default=None, help="also write the raw results to this file")
    args = ap.parse_args(argv)
    if args.reports < 1 or args.seconds <= 0 or (args.trials is not None and args.trials < 1):
        raise SystemExit("--reports and --trials must be >= 1 and --seconds > 0")

    clients = [int(x) for x in _parse_list(args.clients, None, "clients")]
    storages = _parse_list(args.storages, STORAGES, "storage")
    systems = _parse_list(args.systems, SYSTEMS, "system")
    versions = _versions()
    started = datetime.now().astimezone()
    shown = " ".join(sys.argv[1:] if argv is None else argv)
    print(
        "# hpo REST service vs Optuna RDB storage, concurrent clients — "
        f"{started:%Y-%m-%d %H:%M %Z}"
    )
    print()
    print(f"command: `{f'python -m benchmarks.service {shown}'.rstrip()}`")
    print(
        f"machine: {os.cpu_count()} CPUs ({platform.machine()}, {platform.system()} "
        f"{platform.release()}), load average at start {os.getloadavg()[0]:.2f}"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if "postgres" in storages:
        v = pg_version()
        if v is None:
            print("NOTE: PostgreSQL at 127.0.0.1:5432 does not answer; skipping it.")
            storages = [s for s in storages if s != "postgres"]
        else:
            print(f"postgres: PostgreSQL {v} at 127.0.0.1:5432/test, a fresh schema per cell")
    print(
        f"work: K={args.reports} reports per trial, {args.seconds:g} s per cell"
        + (f", at most {args.trials} trials per cell" if args.trials else "")
        + ", one warm-up trial per client first (untimed); hpo: random scheduler, "
        "one `hpo serve` process (uvicorn, one worker) per cell; Optuna: RandomSampler, "
        "no pruner, in-process (no server: each client thread talks straight to the database)"
    )
    print()
    sys.stdout.flush()

    tmp = Path(tempfile.mkdtemp(prefix="hpo-service-bench-", dir=args.tmpdir))
    results: list[CellResult] = []
    failed = False
    try:
        for storage in storages:
            for c in clients:
                for system in systems:
                    t0 = time.perf_counter()
                    print(
                        f"  {storage:8s} {c:>3d} clients  {system:6s} ...",
                        file=sys.stderr,
                        flush=True,
                    )
                    try:
                        r = run_cell(
                            system,
                            storage,
                            c,
                            seconds=args.seconds,
                            reports_per_trial=args.reports,
                            max_trials=args.trials,
                            tmp=tmp,
                            keep=args.keep,
                        )
                    except Exception as e:  # noqa: BLE001 - report and go on with the others
                        failed = True
                        print(f"    ERROR {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                        continue
                    results.append(r)
                    print(
                        f"    {r.trials:,} trials, {r.reports_per_s:,.0f} reports/s, ask p50 "
                        f"{_f(r.ask_ms['p50'])} ms, report p50 {_f(r.report_ms['p50'])} ms, "
                        f"{r.errors} errors ({time.perf_counter() - t0:.0f} s with setup)",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept: {tmp}", file=sys.stderr)

    print(render(results))
    print()
    print(
        f"finished {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, load average at end "
        f"{os.getloadavg()[0]:.2f}"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "started": started.isoformat(),
                    "argv": sys.argv[1:] if argv is None else argv,
                    "cpus": os.cpu_count(),
                    "versions": versions,
                    "results": [asdict(r) for r in results],
                },
                indent=1,
            )
        )
        print(f"raw results: {args.json}")
    return 1 if failed else 0  # errors inside a cell are results, shown in the table


if __name__ == "__main__":
    sys.exit(main())
