"""Per-trial overhead of the hpo coordinator, side by side with Optuna doing the same work.

Every method runs the same trials: a 5-d sphere objective over ``x_i`` in [-5, 5] (it costs
nothing, so what is measured is the bookkeeping around it), on a fresh database per run.

* ``hpo-random``    ``coord.ask`` -> one ``coord.report`` at the maximum fidelity -> ``coord.end``.
* ``hpo-asha``      ASHA (promotion variant, eta=3, fidelity epoch 1..27, rungs 1, 3, 9, 27): a
                    worker loop reports at steps 1, 2, ... and stops on PAUSE/STOP, then calls
                    ``coord.end``; ``ask`` hands out new trials and promoted (paused) ones until
                    ``max_trials`` trials exist and nothing is left to promote.
* ``optuna-random`` ``study.ask()`` -> 5 x ``suggest_float`` -> ``study.tell`` (RandomSampler).
* ``optuna-tpe``    the same with TPESampler.

hpo and Optuna use the same backend: a fresh SQLite file in one temp dir, or a fresh PostgreSQL
schema (``CREATE SCHEMA bench_...``, reached through ``options=-csearch_path=...``) dropped
afterwards. Each (backend, size, method) runs in its own Python process; only the trial loop is
timed (creating the study and the schema is not).

Reported per run:

* ms/trial mean: loop time / trials done.
* ms/trial last 10%: time from the start of trial ``0.9 n`` to the end of the run, divided by the
  ``0.1 n`` trials in it: the cost per trial at that study size. (For hpo-asha, the trials'
  promotions are counted in that window, so it includes every report, ask and end that happen
  after the trial was created, including the final promotions.)
* ratio: optuna-random's ms/trial / this method's ms/trial, same backend and size (> 1: faster
  than Optuna RandomSampler).
* report p50/p99: latency of ``coord.report`` calls in the last 10% (hpo-asha: the scheduler's
  decisions, ``scheduler.on_report``, run inside these calls; the rung reports, where ASHA's
  promotion search runs, are also listed separately in the breakdown table).

Run from the repository root::

    python -m benchmarks.overhead --sizes 100,1000 --backends sqlite,postgres
    python -m benchmarks.overhead --sizes 100,1000,10000 --tpe-max 1000 --json out.json
    python -m benchmarks.overhead --sizes 1000 --backends sqlite --methods hpo-random \\
        --profile /tmp/hpo.prof
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

METHODS = ("hpo-random", "hpo-asha", "optuna-random", "optuna-tpe")
BACKENDS = ("sqlite", "postgres")
DIM = 5
LOW, HIGH = -5.0, 5.0
ASHA_ETA = 3
ASHA_MIN, ASHA_MAX = 1, 27
PG_CONNINFO = "host=127.0.0.1 port=5432 user=postgres dbname=test"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REPO = Path(__file__).resolve().parent.parent
RESULT_TAG = "@@overhead-result@@ "
WORKER = "bench-worker"


# ---- timing helpers ---------------------------------------------------------------------------
def _pct(xs: list[float], q: float) -> float | None:
    """The q-th percentile (nearest rank) of xs, in the units of xs; None if empty."""
    if not xs:
        return None
    s = sorted(xs)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


def _ms(x: float | None) -> float | None:
    return None if x is None else x * 1000.0


def _summary(durations: list[float]) -> dict[str, Any]:
    """count, mean, p50, p99, max in ms."""
    if not durations:
        return {"count": 0}
    return {
        "count": len(durations),
        "mean_ms": _ms(statistics.fmean(durations)),
        "p50_ms": _ms(_pct(durations, 50)),
        "p99_ms": _ms(_pct(durations, 99)),
        "max_ms": _ms(max(durations)),
    }


class Recorder:
    """Start times of trials and (trial index, duration) of every timed call."""

    def __init__(self) -> None:
        self.t0 = 0.0
        self.t_end = 0.0
        self.trial_starts: list[float] = []  # time at which trial i began (its ask), from t0
        self.calls: dict[str, list[tuple[int, float]]] = {}
        self.prof: Any = None  # a cProfile.Profile to run around the timed loop only

    def start(self) -> None:
        if self.prof is not None:
            self.prof.enable()
        self.t0 = time.perf_counter()

    def stop(self) -> None:
        self.t_end = time.perf_counter()
        if self.prof is not None:
            self.prof.disable()

    def add(self, kind: str, index: int, duration: float) -> None:
        self.calls.setdefault(kind, []).append((index, duration))

    def result(self, n: int, capped: bool) -> dict[str, Any]:
        done = len(self.trial_starts)
        total = self.t_end - self.t0
        out: dict[str, Any] = {"done": done, "total_s": total, "capped": capped}
        if done == 0:
            return out
        tail_n = max(1, done // 10)
        k = done - tail_n  # first trial index of the last 10%
        out["ms_mean"] = total / done * 1000.0
        out["ms_last10"] = (total - self.trial_starts[k]) / tail_n * 1000.0
        out["tail_from"] = k
        calls: dict[str, Any] = {}
        for kind, rows in self.calls.items():
            tail = [d for i, d in rows if i >= k]
            calls[kind] = {
                "all": _summary([d for _, d in rows]),
                "last10": _summary(tail),
                "per_trial_last10": len(tail) / tail_n,
            }
        out["calls"] = calls
        return out


def _sphere(xs: list[float]) -> float:
    return float(sum(x * x for x in xs))


def _space() -> dict[str, Any]:
    return {f"x{i}": {"type": "float", "low": LOW, "high": HIGH} for i in range(DIM)}


# ---- the methods (run in a child process) ----------------------------------------------------
def _hpo_random(url: str, n: int, max_s: float, rec: Recorder) -> tuple[bool, dict[str, Any]]:
    from hpo.client import Client

    c = Client(url)
    study = c.create_study(
        f"bench-{uuid.uuid4().hex[:8]}",
        _space(),
        "loss",
        scheduler="random",
        budget={"max_trials": n},
    )
    coord = c.coordinator(study)
    names = [f"x{i}" for i in range(DIM)]
    pc = time.perf_counter
    capped = False
    rec.start()
    for i in range(n):
        s0 = pc()
        a = coord.ask(WORKER)
        s1 = pc()
        if a is None:
            break
        rec.trial_starts.append(s0 - rec.t0)
        y = _sphere([a.config[k] for k in names])
        coord.report(a.trial_id, a.until, {"loss": y})
        s2 = pc()
        coord.end(a.trial_id, exit_ok=True)
        s3 = pc()
        rec.add("ask", i, s1 - s0)
        rec.add("report", i, s2 - s1)
        rec.add("end", i, s3 - s2)
        if s3 - rec.t0 > max_s and i + 1 < n:
            capped = True
            break
    rec.stop()
    counts = c.storage.study_counts(study.id)
    c.storage.close()
    return capped, {"states": counts}


def _hpo_asha(url: str, n: int, max_s: float, rec: Recorder) -> tuple[bool, dict[str, Any]]:
    from hpo.client import Client
    from hpo.model import Decision

    c = Client(url)
    study = c.create_study(
        f"bench-{uuid.uuid4().hex[:8]}",
        _space(),
        "loss",
        fidelity={"name": "epoch", "min": ASHA_MIN, "max": ASHA_MAX},
        scheduler="asha",
        scheduler_params={"eta": ASHA_ETA},
        budget={"max_trials": n},
    )
    coord = c.coordinator(study)
    sched = coord.scheduler
    rungs = set(sched.rungs[0][:-1])  # rung levels below the maximum: where ASHA decides
    pc = time.perf_counter
    created = 0  # trials created so far; calls are attributed to index created - 1

    def timed(kind: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            s = pc()
            try:
                return fn(*args, **kwargs)
            finally:
                rec.add(kind, created - 1, pc() - s)

        return wrapper

    # time the scheduler alone too (its decision without the storage around it)
    on_report = sched.on_report

    def timed_on_report(history: Any, trial: Any, report: Any) -> Any:
        s = pc()
        try:
            return on_report(history, trial, report)
        finally:
            d = pc() - s
            rec.add("sched.on_report", created - 1, d)
            if report.step in rungs:
                rec.add("sched.on_report@rung", created - 1, d)

    sched.on_report = timed_on_report
    sched.suggest = timed("sched.suggest", sched.suggest)
    names = [f"x{i}" for i in range(DIM)]
    stop = (Decision.PAUSE, Decision.STOP)
    capped = False
    n_reports = 0
    rec.start()
    while True:
        s0 = pc()
        a = coord.ask(WORKER)
        s1 = pc()
        if a is None:  # the study is over; this ask also stopped the trials left paused
            rec.add("ask.final", created - 1, s1 - s0)
            break
        if not a.resume:
            created += 1
            rec.trial_starts.append(s0 - rec.t0)
        rec.add("ask", created - 1, s1 - s0)
        base = _sphere([a.config[k] for k in names])
        step = int(a.checkpoint_step or 0) + 1
        while True:
            r0 = pc()
            d = coord.report(a.trial_id, float(step), {"loss": base + 1.0 / step})
            r1 = pc()
            n_reports += 1
            rec.add("report", created - 1, r1 - r0)
            if step in rungs:
                rec.add("report@rung", created - 1, r1 - r0)
            if d in stop:
                break
            step += 1
        e0 = pc()
        coord.end(a.trial_id, exit_ok=True)
        e1 = pc()
        rec.add("end", created - 1, e1 - e0)
        if e1 - rec.t0 > max_s and created < n:
            capped = True
            break
    rec.stop()
    counts = c.storage.study_counts(study.id)
    c.storage.close()
    return capped, {"states": counts, "reports": n_reports}


def _optuna(
    url: str, n: int, max_s: float, rec: Recorder, sampler_name: str, seed: int
) -> tuple[bool, dict[str, Any]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (
        optuna.samplers.RandomSampler(seed=seed)
        if sampler_name == "random"
        else optuna.samplers.TPESampler(seed=seed)
    )
    storage = optuna.storages.RDBStorage(url)
    study = optuna.create_study(
        storage=storage,
        sampler=sampler,
        study_name=f"bench-{uuid.uuid4().hex[:8]}",
        direction="minimize",
    )
    names = [f"x{i}" for i in range(DIM)]
    pc = time.perf_counter
    capped = False
    rec.start()
    for i in range(n):
        s0 = pc()
        t = study.ask()
        xs = [t.suggest_float(k, LOW, HIGH) for k in names]
        s1 = pc()
        study.tell(t, _sphere(xs))
        s2 = pc()
        rec.trial_starts.append(s0 - rec.t0)
        rec.add("ask+suggest", i, s1 - s0)
        rec.add("tell", i, s2 - s1)
        if s2 - rec.t0 > max_s and i + 1 < n:
            capped = True
            break
    rec.stop()
    states: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
    storage.engine.dispose()
    return capped, {"states": states}


def run_one(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs one (method, url, n) in this process; returns the measurements."""
    method, url, n = spec["method"], spec["url"], int(spec["n"])
    max_s, seed = float(spec["max_seconds"]), int(spec.get("seed", 0))
    rec = Recorder()
    if spec.get("profile"):
        import cProfile

        rec.prof = cProfile.Profile()
    try:
        if method == "hpo-random":
            capped, extra = _hpo_random(url, n, max_s, rec)
        elif method == "hpo-asha":
            capped, extra = _hpo_asha(url, n, max_s, rec)
        elif method == "optuna-random":
            capped, extra = _optuna(url, n, max_s, rec, "random", seed)
        elif method == "optuna-tpe":
            capped, extra = _optuna(url, n, max_s, rec, "tpe", seed)
        else:
            raise ValueError(f"unknown method {method!r}")
    finally:
        if rec.prof is not None:
            rec.prof.disable()
            rec.prof.dump_stats(spec["profile"])
    out = rec.result(n, capped)
    out.update(extra)
    return out


# ---- the parent: backends, runs, table ---------------------------------------------------------
def _pg_connect() -> Any:
    import psycopg

    return psycopg.connect(PG_CONNINFO, autocommit=True, connect_timeout=3)


def _pg_check() -> tuple[bool, str]:
    try:
        with _pg_connect() as conn:
            v = conn.execute("SHOW server_version").fetchone()[0]
        return True, f"PostgreSQL {v}"
    except Exception as e:  # noqa: BLE001 - any failure means: skip PostgreSQL
        return False, f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e) else ''}"


@contextlib.contextmanager
def _database(backend: str, tmp: Path, tag: str, keep: bool) -> Any:
    """A fresh database for one run: a SQLite file in ``tmp``, or a new PostgreSQL schema."""
    if backend == "sqlite":
        path = tmp / f"{tag}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            if not keep:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(f"{path}{suffix}")
        return
    schema = f"bench_{tag.replace('-', '_')}_{uuid.uuid4().hex[:8]}".lower()
    with _pg_connect() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        if not keep:
            with _pg_connect() as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _run_child(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.overhead", "--one", json.dumps(spec)]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    try:
        p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"killed after {timeout:.0f}s"}
    for line in p.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG) :])
    tail = (p.stderr or p.stdout).strip().splitlines()[-5:]
    return {"error": f"exit {p.returncode}: " + " | ".join(tail)}


def _versions(
    packages: tuple[str, ...] = ("hpo", "optuna", "sqlalchemy", "psycopg", "numpy"),
) -> dict[str, str]:
    """Python, SQLite and package versions and the git commit, for a benchmark's header."""
    import sqlite3
    from importlib import metadata

    v = {"python": platform.python_version()}
    for pkg in packages:
        try:
            v[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            v[pkg] = "not installed"
    v["sqlite"] = sqlite3.sqlite_version
    try:
        v["git"] = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
            ).stdout.strip()
            or "?"
        )
    except OSError:
        v["git"] = "?"
    return v


def _fmt(x: float | None, nd: int = 2) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def _report_pcts(r: dict[str, Any]) -> str:
    rep = r.get("calls", {}).get("report", {}).get("last10", {})
    if not rep.get("count"):
        return "-"
    return f"{rep['p50_ms']:.2f} / {rep['p99_ms']:.2f}"


def render(results: list[dict[str, Any]]) -> str:
    """The main table and the per-call breakdown, as Markdown."""
    ref: dict[tuple[str, int], dict[str, Any]] = {
        (r["backend"], r["n"]): r
        for r in results
        if r["method"] == "optuna-random" and r.get("done")
    }
    lines = [
        "| backend | n | method | trials done | total s | ms/trial mean | ms/trial last 10% "
        "| ratio mean | ratio last 10% | report p50 / p99 ms (last 10%) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes: list[str] = []
    for r in results:
        key = (r["backend"], r["n"])
        head = f"| {r['backend']} | {r['n']:,} | {r['method']} "
        if r.get("skipped"):
            lines.append(head + f"| skipped ({r['skipped']}) | | | | | | |")
            continue
        if r.get("error"):
            lines.append(head + f"| error: {r['error'][:80]} | | | | | | |")
            continue
        done = f"{r['done']:,}" + (" *" if r.get("capped") else "")
        if r.get("capped"):
            notes.append(
                f"* {r['backend']}/{r['n']:,}/{r['method']}: stopped by --max-seconds after "
                f"{r['done']:,} trials."
            )
        ratio_m = ratio_l = None
        o = ref.get(key)
        if o is not None and r.get("ms_mean"):
            ratio_m = o["ms_mean"] / r["ms_mean"]
            ratio_l = o["ms_last10"] / r["ms_last10"]
        rm = "-" if ratio_m is None else f"{ratio_m:.2f}x"
        rl = "-" if ratio_l is None else f"{ratio_l:.2f}x"
        if o is not None and (o.get("capped") or r.get("capped")) and o is not r:
            rm += " *"
            rl += " *"
        lines.append(
            head + f"| {done} | {_fmt(r['total_s'], 1)} | {_fmt(r.get('ms_mean'))} "
            f"| {_fmt(r.get('ms_last10'))} | {rm} | {rl} | {_report_pcts(r)} |"
        )
    out = "\n".join(lines)
    if notes:
        out += "\n\n" + "\n".join(notes) + "\n(* ratios against or of capped runs compare "
        out += "different numbers of trials.)"

    # breakdown: mean ms of each call in the last 10%, and the ASHA decision latencies
    b = [
        "",
        "Per-call breakdown, last 10% of trials (mean ms per call; calls per trial in brackets):",
        "",
        "| backend | n | method | ask | report | end / tell | rung report p50 / p99 "
        "| scheduler on_report at rungs p50 / p99 | scheduler suggest p50 / p99 | final ask ms |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if not r.get("calls"):
            continue
        c = r["calls"]

        def mean(kind: str, c: dict[str, Any] = c) -> str:
            x = c.get(kind)
            if not x or not x["last10"].get("count"):
                return "-"
            return f"{x['last10']['mean_ms']:.2f} ({x['per_trial_last10']:.2f})"

        def pp(kind: str, c: dict[str, Any] = c) -> str:
            x = c.get(kind, {}).get("last10", {})
            if not x.get("count"):
                return "-"
            return f"{x['p50_ms']:.3f} / {x['p99_ms']:.3f}"

        ask = mean("ask") if "ask" in c else mean("ask+suggest")
        end = mean("end") if "end" in c else mean("tell")
        fa = c.get("ask.final", {}).get("all", {})
        final = f"{fa['max_ms']:.1f}" if fa.get("count") else "-"
        b.append(
            f"| {r['backend']} | {r['n']:,} | {r['method']} | {ask} | {mean('report')} | {end} "
            f"| {pp('report@rung')} | {pp('sched.on_report@rung')} | {pp('sched.suggest')} "
            f"| {final} |"
        )
    if len(b) > 5:
        out += "\n" + "\n".join(b)
    return out


def _parse_list(s: str, allowed: tuple[str, ...] | None, what: str) -> list[str]:
    items = [x.strip() for x in s.split(",") if x.strip()]
    if allowed is not None:
        bad = [x for x in items if x not in allowed]
        if bad:
            raise SystemExit(f"unknown {what} {bad}; choose from {', '.join(allowed)}")
    return items


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.overhead",
        description="Per-trial overhead of the hpo coordinator vs Optuna (same work, same run).",
    )
    ap.add_argument(
        "--sizes", default="100,1000,10000", help="numbers of trials (default: %(default)s)"
    )
    ap.add_argument(
        "--backends", default="sqlite,postgres", help="sqlite,postgres (default: %(default)s)"
    )
    ap.add_argument("--methods", default=",".join(METHODS), help="default: %(default)s")
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=600.0,
        help="per-run cap on the timed loop; a capped run reports the trials it reached "
        "(default: %(default)s)",
    )
    ap.add_argument(
        "--tpe-max",
        type=int,
        default=None,
        help="skip optuna-tpe at sizes above this (TPE's cost grows with the number of trials)",
    )
    ap.add_argument("--seed", type=int, default=0, help="Optuna samplers' seed (default: 0)")
    ap.add_argument(
        "--tmpdir", default=None, help="where the SQLite files go (default: system temp)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the databases (files, schemas)")
    ap.add_argument("--json", default=None, help="also write the raw results to this file")
    ap.add_argument(
        "--profile",
        default=None,
        help="cProfile the timed loop of the (single) run into this file and print the top entries",
    )
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: child process
    args = ap.parse_args(argv)

    if args.one is not None:
        res = run_one(json.loads(args.one))
        print(RESULT_TAG + json.dumps(res), flush=True)
        return 0

    sizes = [int(x) for x in _parse_list(args.sizes, None, "size")]
    backends = _parse_list(args.backends, BACKENDS, "backend")
    methods = _parse_list(args.methods, METHODS, "method")
    if args.profile and len(sizes) * len(backends) * len(methods) != 1:
        raise SystemExit("--profile needs exactly one size, one backend and one method")

    versions = _versions()
    started = datetime.now().astimezone()
    print(f"# hpo coordinator overhead vs Optuna — {started:%Y-%m-%d %H:%M %Z}")
    print(
        "versions: "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + f"; machine: {os.cpu_count()} cores ({platform.machine()}, {platform.system()}); "
        f"load average at start {os.getloadavg()[0]:.2f}"
    )
    print(
        "command: python -m benchmarks.overhead " + " ".join(sys.argv[1:] if argv is None else argv)
    )
    if "postgres" in backends:
        ok, why = _pg_check()
        if ok:
            print(f"postgres: {why} at 127.0.0.1:5432/test (fresh schema per run)")
        else:
            print(f"NOTE: PostgreSQL at 127.0.0.1:5432 is unreachable ({why}); skipping it.")
            backends = [b for b in backends if b != "postgres"]
    sys.stdout.flush()

    tmp = Path(tempfile.mkdtemp(prefix="hpo-overhead-", dir=args.tmpdir))
    results: list[dict[str, Any]] = []
    try:
        for backend in backends:
            for n in sizes:
                for method in methods:
                    row: dict[str, Any] = {"backend": backend, "n": n, "method": method}
                    if method == "optuna-tpe" and args.tpe_max is not None and n > args.tpe_max:
                        row["skipped"] = f"--tpe-max {args.tpe_max}"
                        results.append(row)
                        print(
                            f"  {backend:8s} {n:>6,} {method:14s} skipped (--tpe-max)", flush=True
                        )
                        continue
                    tag = f"{method}-{n}"
                    spec = {
                        "method": method,
                        "n": n,
                        "max_seconds": args.max_seconds,
                        "seed": args.seed,
                        "profile": args.profile,
                    }
                    try:
                        with _database(backend, tmp, tag, args.keep) as url:
                            spec["url"] = url
                            row.update(_run_child(spec, timeout=args.max_seconds + 600))
                    except Exception as e:  # noqa: BLE001 - report and go on
                        row["error"] = f"{type(e).__name__}: {e}"
                    row["load_after"] = os.getloadavg()[0]
                    results.append(row)
                    if row.get("error"):
                        msg = "ERROR " + row["error"]
                    else:
                        msg = (
                            f"{row['done']:>6,} trials in {row['total_s']:7.1f}s  "
                            f"{_fmt(row.get('ms_mean'))} ms/trial (last 10%: "
                            f"{_fmt(row.get('ms_last10'))})" + ("  CAPPED" if row["capped"] else "")
                        )
                    print(f"  {backend:8s} {n:>6,} {method:14s} {msg}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(render(results))
    print()
    print(
        f"finished {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
        f"load average at end {os.getloadavg()[0]:.2f}"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "started": started.isoformat(),
                    "versions": versions,
                    "cores": os.cpu_count(),
                    "argv": sys.argv[1:] if argv is None else argv,
                    "results": results,
                },
                indent=1,
            )
        )
        print(f"raw results: {args.json}")
    if args.profile:
        import pstats

        print(f"\ncProfile of the timed loop ({args.profile}), top 25 by cumulative time:")
        pstats.Stats(args.profile).sort_stats("cumulative").print_stats(25)
    return 0 if all(not r.get("error") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
