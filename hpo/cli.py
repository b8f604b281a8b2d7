"""The ``hpo`` command line (typer + rich).

Every error hpo raises on purpose is printed as one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from hpo.errors import HpoError, StorageError, SweepFailed

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="hpo: asynchronous multi-fidelity hyperparameter search.",
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

StorageOpt = typer.Option(
    None, "--storage", "-s", help="Database URL (default: $HPO_STORAGE or sqlite:///hpo.db)."
)
ProjectOpt = typer.Option("default", "--project", help="Project the study belongs to.")


def _storage(url: str | None, *, keeps_results: bool = False) -> Any:
    """Opens the storage; ``keeps_results``: the command stores results that must outlive it
    (trials run or are served), which an in-memory SQLite database cannot."""
    from hpo.storage import SQLStorage, resolve_url

    if keeps_results and _in_memory(resolve_url(url)):
        raise StorageError(
            f"storage {resolve_url(url)!r} is an in-memory SQLite database, which every "
            "connection sees empty and which is gone when hpo exits: every result would be "
            "lost; give a file (--storage hpo.db) or a database server URL"
        )
    return SQLStorage(url)


def _in_memory(url: str) -> bool:
    """Whether ``url`` names an in-memory SQLite database (``sqlite://``, ``:memory:``)."""
    import sqlalchemy as sa

    try:
        u = sa.make_url(url)
    except sa.exc.ArgumentError:
        return False  # SQLStorage says what is wrong with it
    if u.get_backend_name() != "sqlite":
        return False
    db = u.database or ""
    return (
        db in ("", ":memory:") or db.startswith("file::memory:") or u.query.get("mode") == "memory"
    )


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _sweep_executor(
    sweep: dict[str, Any],
    parallelism: int | None,
    executor: str = "local",
    ray_address: str | None = None,
) -> Any:
    """The executor a sweep file describes (command, slots, runs dir, grace, env)."""
    # --- Ray executor (issue 8): `--executor ray`, the sweep file's optional `ray:` section ---
    if executor == "ray":
        from hpo.executors.ray import RayExecutor

        options = dict(sweep.get("ray") or {})
        if sweep.get("checkpoint_url"):  # the sweep's own setting, unless ray: names another
            options.setdefault("checkpoint_url", sweep["checkpoint_url"])
        return RayExecutor(
            sweep["command"],
            options,
            address=ray_address,
            n_slots=parallelism or sweep.get("parallelism"),
            runs_dir=sweep.get("runs_dir", "hpo-runs"),
            grace_s=sweep.get("grace_s", 10.0),
            env=sweep.get("env") or {},
        )
    if executor != "local":
        raise HpoError(f"--executor must be local or ray, got {executor!r}")
    # --- end Ray executor ---
    from hpo.executors.local import LocalExecutor

    return LocalExecutor(
        sweep["command"],
        n_slots=parallelism or sweep.get("parallelism"),
        runs_dir=sweep.get("runs_dir", "hpo-runs"),
        grace_s=sweep.get("grace_s", 10.0),
        env=sweep.get("env") or {},
        checkpoint_url=sweep.get("checkpoint_url"),
    )


def _drive(storage: Any, study: Any, sweep: dict[str, Any], ex: Any) -> int:
    """Runs the study's trials on executor ``ex``; 0 if the sweep produced a result.

    The sweep fails (SweepFailed, exit 1) when the study has no result and this run's trials
    failed and none ended otherwise (completed, or paused or stopped by the scheduler), naming the
    first error, or when no trial of the study reported its objective. Failures beside a result
    (of this run or, on resume, an earlier one) are a warning.
    """
    from hpo.coordinator import Coordinator
    from hpo.progress import SweepProgress
    from hpo.results import best_trial
    from hpo.runner import Driver

    coord = Coordinator(storage, study, lease_s=sweep.get("lease_s", 60.0))
    try:
        with SweepProgress(coord, console=err) as p:
            summary = Driver(coord, ex, on_progress=p.update).run()
    except KeyboardInterrupt:
        err.print(f"interrupted; continue with: hpo resume {study.name}")
        return 130
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.counts.items()))
    out.print(f"study [bold]{study.name}[/]: {counts} in {summary.elapsed_s:.1f}s")
    _print_best(storage, study)
    out.print(f"results: {storage.url} (hpo status {study.name} --storage {storage.url})")
    out.print(f"trial logs and checkpoints: {Path(ex.runs_dir).resolve() / study.name}")
    h = storage.history(study.id)
    # this run's result or, on resume, an earlier one's
    _check_outcome(summary, study, best_trial(h) is not None, h.n_trials)
    return 0


def _check_outcome(summary: Any, study: Any, has_result: bool, n_trials: int) -> None:
    """The rule of ``_drive`` (``hpo sweep``, ``hpo resume``) and ``hpo worker``: raises
    SweepFailed (exit 1) when the study has no result and this run's trials failed with none
    ending otherwise, or when the study has trials and none reported the objective; prints a
    warning for failures beside a result."""
    from hpo.runner import error_line

    failed = summary.failed_errors
    if failed and not summary.succeeded and not has_result:
        raise SweepFailed(
            f"{len(failed)} trial(s) failed and none completed; first: {error_line(failed[0])}"
        )
    if failed:
        err.print(
            f"warning: {len(failed)} trial(s) failed; first: {error_line(failed[0])}",
            markup=False,
            highlight=False,
        )
    if n_trials and not has_result:
        names = ", ".join(repr(o.name) for o in study.objectives)
        raise SweepFailed(
            f"no trial reported the objective {names}: a trial prints lines like "
            f'{{"hpo": {{"step": 1, "{study.objective.name}": 0.5}}}} or reports with hpo.trial'
        )


def _print_best(storage: Any, study: Any) -> None:
    from hpo.results import best_trial

    b = best_trial(storage.history(study.id))
    if b is None:
        out.print("no trial reported a result")
        return
    obj = study.objective
    cfg = ", ".join(f"{k}={_fmt(v)}" for k, v in b.trial.config.items())
    out.print(
        f"best: trial {b.trial.number} {obj.name}={_fmt(b.values[obj.name])} "
        f"at {study.fidelity.name if study.fidelity else 'step'} {_fmt(b.step)}: {cfg}"
    )


SWEEP_LOG_LEVELS = ("debug", "info", "warning", "error")
LogLevelOpt = typer.Option(
    "warning",
    "--log-level",
    help="What hpo logs on stderr: debug, info (e.g. results a scheduler leaves out of a rung),"
    " warning or error.",
)


def _check_log_level(level: str, choices: Collection[str]) -> None:
    """Fails with one line naming ``choices`` unless ``--log-level`` is one of them (any case):
    the check of ``sweep``/``resume`` (hpo's loggers) and of ``serve`` (uvicorn's levels)."""
    if level.lower() not in choices:
        raise HpoError(f"--log-level must be one of {', '.join(choices)}, got {level!r}")


def _set_log_level(level: str) -> None:
    """Sets the level of hpo's loggers (``hpo.*``; the handler is ``main``'s) from
    ``--log-level``, or fails with one line naming the choices."""
    _check_log_level(level, SWEEP_LOG_LEVELS)
    logging.getLogger("hpo").setLevel(level.upper())


@app.command()
def sweep(
    file: Path = typer.Argument(..., help="sweep.yaml"),
    storage: str | None = StorageOpt,
    parallelism: int | None = typer.Option(None, "--parallelism", "-j", min=1, max=1024),
    name: str | None = typer.Option(None, "--name", help="Override the study name."),
    executor: str = typer.Option(
        "local", "--executor", help="Where trials run: local (processes) or ray (docs/ray.md)."
    ),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Ray cluster for --executor ray: auto, host:port, ray://..."
    ),
    log_level: str = LogLevelOpt,
) -> None:
    """Create a study from a sweep file and run it to the end of its budget."""
    from dataclasses import replace

    from hpo.sweepfile import load_sweep

    _set_log_level(log_level)

    # Everything is checked (file, options, executor, storage) before the study is created,
    # so that a mistake leaves nothing behind and the same command works once it is fixed.
    sw, spec = load_sweep(file)
    if name is not None:
        if not name.strip() or len(name) > 200:
            raise HpoError(f"--name must be 1 to 200 characters, got {name!r}")
        spec = replace(spec, name=name)
    if ray_address and executor != "ray":
        raise HpoError("--ray-address needs --executor ray")
    ex = _sweep_executor(spec.metadata["sweep"], parallelism, executor, ray_address)
    st = _storage(storage or sw.storage, keeps_results=True)
    study = st.create_study(spec)
    raise typer.Exit(_drive(st, study, spec.metadata["sweep"], ex))


@app.command()
def resume(
    study: str = typer.Argument(...),
    storage: str | None = StorageOpt,
    project: str = ProjectOpt,
    parallelism: int | None = typer.Option(None, "--parallelism", "-j", min=1, max=1024),
    log_level: str = LogLevelOpt,
) -> None:
    """Continue a stopped, interrupted or crashed sweep where it left off."""
    _set_log_level(log_level)
    st = _storage(storage, keeps_results=True)
    s = st.get_study(study, project)
    sweep_meta = s.metadata.get("sweep")
    if not sweep_meta:
        raise HpoError(f"study {study!r} was not created by 'hpo sweep'; drive it with the SDK")
    ex = _sweep_executor(sweep_meta, parallelism)
    if s.finished:
        st.set_study_finished(s.id, False)
        s = st.get_study(s.id)
    raise typer.Exit(_drive(st, s, sweep_meta, ex))


@app.command()
def studies(storage: str | None = StorageOpt, project: str | None = typer.Option(None)) -> None:
    """List studies with their trial counts and best value."""
    from hpo.results import best_trial

    st = _storage(storage)
    t = Table("study", "project", "scheduler", "trials", "states", "best", "finished")
    for s in st.list_studies(project):
        counts = st.study_counts(s.id)
        b = best_trial(st.history(s.id))
        t.add_row(
            s.name,
            s.project,
            s.scheduler.name,
            str(sum(counts.values())),
            " ".join(f"{k}:{v}" for k, v in sorted(counts.items())),
            f"{s.objective.name}={_fmt(b.values[s.objective.name])}" if b else "-",
            "yes" if s.finished else "no",
        )
    out.print(t)


@app.command()
def status(
    study: str = typer.Argument(...),
    storage: str | None = StorageOpt,
    project: str = ProjectOpt,
    limit: int = typer.Option(50, min=0, help="Show at most this many trials (best first)."),
) -> None:
    """Table of a study's trials, best first, and the best so far."""
    from hpo.results import latest_results

    st = _storage(storage)
    s = st.get_study(study, project)
    h = st.history(s.id)
    obj = s.objective
    rows = latest_results(h, include_failed=True)
    rows.sort(key=lambda r: (-r.step, obj.sign() * r.values.get(obj.name, float("inf"))))
    no_result = [t for t in h.trials() if h.last_report(t.id) is None]
    t = Table("trial", "state", "step", *[o.name for o in s.objectives], *s.space.names)
    for r in rows[:limit]:
        t.add_row(
            str(r.trial.number),
            r.trial.state.value,
            _fmt(r.step),
            *[_fmt(r.values.get(o.name, "-")) for o in s.objectives],
            *[_fmt(r.trial.config[n]) for n in s.space.names],
        )
    for tr in no_result[: max(0, limit - len(rows))]:
        t.add_row(
            str(tr.number),
            tr.state.value,
            "-",
            *["-"] * len(s.objectives),
            *[_fmt(tr.config[n]) for n in s.space.names],
        )
    out.print(t)
    counts = st.study_counts(s.id)
    out.print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no trials yet")
    _print_best(st, s)


@app.command()
def best(
    study: str = typer.Argument(...),
    storage: str | None = StorageOpt,
    project: str = ProjectOpt,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The best trial: its config and values."""
    from hpo.results import best_trial

    st = _storage(storage)
    s = st.get_study(study, project)
    b = best_trial(st.history(s.id))
    if b is None:
        raise HpoError(f"study {study!r} has no trial with a result yet")
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "trial": b.trial.number,
                    "state": b.trial.state.value,
                    "step": b.step,
                    "values": b.values,
                    "config": b.trial.config,
                }
            )
        )
    else:
        _print_best(st, s)


@app.command()
def export(
    study: str = typer.Argument(...),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv or json"),
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default: stdout)."),
    storage: str | None = StorageOpt,
    project: str = ProjectOpt,
) -> None:
    """Export trials (config, state, latest values) and, in JSON, every report."""
    if fmt not in ("csv", "json"):
        raise HpoError(f"--format must be csv or json, got {fmt!r}")
    if output is not None and output.is_dir():
        raise HpoError(f"--output {output} is a directory; name a file in it")
    from hpo.results import export_csv, export_json

    st = _storage(storage)
    s = st.get_study(study, project)
    h = st.history(s.id)
    text = json.dumps(export_json(h), indent=1) if fmt == "json" else export_csv(h)
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        try:
            output.write_text(text)
        except OSError as e:
            raise HpoError(f"cannot write {output}: {e.strerror}") from None
        err.print(f"wrote {len(h.trials())} trials to {output}")


@app.command()
def delete(
    study: str = typer.Argument(...),
    storage: str | None = StorageOpt,
    project: str = ProjectOpt,
    yes: bool = typer.Option(False, "--yes", help="Do not ask."),
) -> None:
    """Delete a study and all its trials and reports."""
    st = _storage(storage)
    s = st.get_study(study, project)
    if not yes and not typer.confirm(f"delete study {study!r} and all its results?"):
        raise typer.Exit(1)
    st.delete_study(s.id)
    out.print(f"deleted {study}")


@app.command()
def serve(
    storage: str | None = StorageOpt,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    port: int = typer.Option(8000, "--port", "-p", help="Port to listen on."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Run the REST service (FastAPI under uvicorn) over a storage URL.

    With API tokens in the storage (hpo token create) every call needs one and sees only its
    project's studies; without any, the server binds to localhost only.
    """
    import ipaddress

    if not 0 < port < 65536:
        raise HpoError(f"--port must be in 1..65535, got {port}")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    try:
        import uvicorn

        from hpo.api import create_app
    except ImportError as e:
        raise HpoError(f"hpo serve needs the api extra: pip install 'hpo[api]' ({e})") from e
    from uvicorn.config import LOG_LEVELS

    _check_log_level(log_level, LOG_LEVELS)
    from hpo.storage import resolve_url

    url = resolve_url(storage)
    has_tokens = _storage(url, keeps_results=True).has_tokens()
    if not loopback and not has_tokens:
        raise HpoError(
            f"refusing to bind {host} without API tokens: create one with "
            "'hpo token create --project NAME', or serve on localhost (--host 127.0.0.1)"
        )
    application = create_app(url, require_auth=not loopback)
    if has_tokens or not loopback:
        err.print(f"hpo service on http://{host}:{port} over {url}: API tokens required")
    else:
        err.print(
            f"hpo service on http://{host}:{port} over {url}: no API tokens configured, so "
            "localhost only and every caller is in project 'default'"
        )
    uvicorn.run(application, host=host, port=port, log_level=log_level.lower())


@app.command()
def worker(
    server: str = typer.Option(..., "--server", help="URL of the hpo service (hpo serve)."),
    study: str = typer.Option(..., "--study", help="Study to work on."),
    token: str | None = typer.Option(
        None, "--token", envvar="HPO_TOKEN", help="API token (default: $HPO_TOKEN)."
    ),
    command: str | None = typer.Option(
        None, "--command", help="Command template (default: the one in the study's sweep)."
    ),
    parallelism: int | None = typer.Option(None, "-j", "--parallelism", help="Trial slots."),
    runs_dir: str = typer.Option(
        "hpo-runs",
        "--runs-dir",
        help="Checkpoint and log root; a shared path lets any worker resume any trial.",
    ),
    checkpoint_url: str | None = typer.Option(
        None,
        "--checkpoint-url",
        help="Copy checkpoints to this shared path or object-store URL (fsspec: s3://, gs://, "
        "file://), so that any worker resumes any trial (default: the study's sweep setting).",
    ),
    lease_s: float = typer.Option(60.0, "--lease-s", help="Lease per claim, in seconds."),
) -> None:
    """Run trials of a study from the REST service on this machine until the study is over."""
    from hpo.remote import RemoteClient, RemoteCoordinator
    from hpo.runner import Driver

    coord = RemoteCoordinator(RemoteClient(server, token=token), study, lease_s=lease_s)
    sweep = dict(coord.study.metadata.get("sweep") or {})
    cmd = command or sweep.get("command")
    if not cmd:
        raise HpoError(
            f"study {study!r} has no command (it was not made by hpo sweep): pass --command"
        )
    settings = {**sweep, "command": cmd, "runs_dir": runs_dir}
    if checkpoint_url:
        settings["checkpoint_url"] = checkpoint_url
    ex = _sweep_executor(settings, parallelism)
    err.print(f"worker on {coord.study.name} at {server}: {ex.n_slots} slot(s), runs in {runs_dir}")
    try:
        summary = Driver(coord, ex, poll_s=0.25).run()
    except KeyboardInterrupt:
        err.print("interrupted; this worker's trials were handed back to the study")
        raise typer.Exit(130) from None
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.counts.items()))
    out.print(f"study {coord.study.name} is over: {counts}")
    # the sweep's rule: a worker whose trials all failed, on a study without a result, exits 1
    has_result = coord.client.best_trial(coord.study) is not None
    _check_outcome(summary, coord.study, has_result, sum(summary.counts.values()))


trial_app = typer.Typer(no_args_is_help=True, help="Hold and resume single trials.")
app.add_typer(trial_app, name="trial")
ServerOpt = typer.Option(
    None, "--server", help="URL of an hpo service (instead of --storage).", envvar="HPO_SERVER"
)
TokenOpt = typer.Option(None, "--token", envvar="HPO_TOKEN", help="API token for --server.")


def _trial_client(storage: str | None, server: str | None, token: str | None) -> Any:
    if server:
        from hpo.remote import RemoteClient

        return RemoteClient(server, token=token)
    from hpo.client import Client

    return Client(storage)


@trial_app.command("pause")
def trial_pause(
    study: str,
    number: int,
    storage: str | None = StorageOpt,
    server: str | None = ServerOpt,
    token: str | None = TokenOpt,
) -> None:
    """Hold a trial: it pauses at its next report and waits until 'hpo trial resume'."""
    t = _trial_client(storage, server, token).pause_trial(study, number)
    out.print(f"trial {t.number} of {study}: {t.state.value}{' (held)' if t.held else ''}")


@trial_app.command("resume")
def trial_resume(
    study: str,
    number: int,
    storage: str | None = StorageOpt,
    server: str | None = ServerOpt,
    token: str | None = TokenOpt,
) -> None:
    """Resume a held trial (from its checkpoint, before anything new starts)."""
    t = _trial_client(storage, server, token).resume_trial(study, number)
    out.print(f"trial {t.number} of {study}: {t.state.value}")


token_app = typer.Typer(no_args_is_help=True, help="API tokens for the REST service.")
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(
    project: str = typer.Option(..., "--project", help="The project the token acts in."),
    name: str = typer.Option("", "--name", help="A label for the token (who or what uses it)."),
    storage: str | None = StorageOpt,
) -> None:
    """Create a token; it is printed once and only its hash is stored."""
    tid, token = _storage(storage).create_token(project, name)
    err.print(f"token {tid} for project {project!r} (shown once; store it now):")
    out.print(token, markup=False, highlight=False)


@token_app.command("list")
def token_list(storage: str | None = StorageOpt) -> None:
    """List tokens (ids, projects, names; never the tokens themselves)."""
    t = Table("id", "project", "name", "created", "revoked")
    import datetime as dt

    for row in _storage(storage).list_tokens():
        created = dt.datetime.fromtimestamp(row["created_at"]).isoformat(timespec="seconds")
        t.add_row(str(row["id"]), row["project"], row["name"], created, str(row["revoked"]))
    out.print(t)


@token_app.command("revoke")
def token_revoke(token_id: int = typer.Argument(...), storage: str | None = StorageOpt) -> None:
    """Revoke a token by id (servers notice within a few seconds)."""
    _storage(storage).revoke_token(token_id)
    out.print(f"revoked token {token_id}")


batch_size_app = typer.Typer(
    no_args_is_help=True, help="Measure the gradient noise scale and recommend a batch size."
)
app.add_typer(batch_size_app, name="batch-size")


@batch_size_app.command("measure")
def batch_size_measure(
    script: Path = typer.Argument(
        ..., help="Python file defining setup() -> model, data, loss_fn."
    ),
    factory: str = typer.Option("setup", "--factory", help="Function in SCRIPT to call."),
    batch: int = typer.Option(64, "--batch", "-b", help="Global batch size to measure at."),
    micro_batches: int = typer.Option(4, "--micro-batches", "-k", help="Micro-batches per step."),
    steps: int = typer.Option(100, "--steps", "-n", help="Optimizer steps to measure over."),
    lr: float | None = typer.Option(None, "--lr", help="LR at --batch (default: setup's lr)."),
    rule: str = typer.Option("sqrt", "--rule", help="LR scaling rule: linear, sqrt, none."),
    fraction: float = typer.Option(1.0, "--fraction", help="Target batch = fraction x B_noise."),
    max_batch: int | None = typer.Option(None, "--max-batch", help="Upper bound (default 64x)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the schedule JSON."),
) -> None:
    """Train a few steps of SCRIPT's model, print B_noise with its error and a schedule."""
    from hpo.errors import InvalidConfig

    try:
        import torch  # noqa: F401
    except ImportError as e:
        raise InvalidConfig("hpo batch-size needs torch: pip install 'hpo[torch]'") from e
    from rich.progress import Progress

    from hpo.batch_size.measure import load_setup, measure
    from hpo.progress import logs_above_the_bar

    try:
        setup = load_setup(script, factory)
        with Progress(console=err, transient=True, disable=as_json) as prog, logs_above_the_bar():
            task = prog.add_task("measuring", total=steps)
            res = measure(
                setup,
                batch_size=batch,
                micro_batches=micro_batches,
                steps=steps,
                lr=lr,
                lr_rule=rule,
                max_batch=max_batch,
                fraction=fraction,
                on_step=lambda i: prog.update(task, completed=i + 1),
            )
    except ValueError as e:
        raise InvalidConfig(str(e)) from e
    if output is not None:
        output.write_text(res.schedule.to_json() + "\n")
    if as_json:
        out.print_json(json.dumps(res.as_dict()))
        return
    t = Table(title=f"gradient noise scale of {script.name}", show_header=False)
    t.add_row(
        "measured at",
        f"batch {res.batch_size} = {micro_batches} x {res.micro_batch_size}, "
        f"{res.steps} steps ({res.seconds_per_step * 1e3:.1f} ms/step)",
    )
    t.add_row("loss", f"{res.first_loss:.4g} -> {res.last_loss:.4g}")
    t.add_row("B_noise (B_simple)", f"{res.b_noise:.4g} ± {res.b_noise_std:.2g}")
    t.add_row("|G|^2, tr(Sigma)", f"{res.grad_sq:.4g}, {res.trace_cov:.4g}")
    t.add_row("recommended batch", f"{res.recommended_batch} (lr {res.recommended_lr:.4g}, {rule})")
    out.print(t)
    out.print(
        "B_noise grows as the loss falls: grow the batch during training with "
        "hpo.batch_size.NoiseScaleController."
    )
    if output is not None:
        out.print(f"schedule written to {output}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app, turning expected errors into one line and an exit code."""
    from typer.exceptions import Abort, Exit, TyperException

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cmd = typer.main.get_command(app)
    try:
        cmd.main(args=argv, prog_name="hpo", standalone_mode=False)
    except HpoError as e:
        err.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
        return e.exit_code
    except Exit as e:
        return e.exit_code
    except Abort:
        err.print("aborted")
        return 1
    except TyperException as e:
        if not e.format_message():
            return e.exit_code
        err.print(f"error: {e.format_message()}", markup=False, highlight=False, soft_wrap=True)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())


def entry() -> None:
    sys.exit(main())
