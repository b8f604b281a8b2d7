"""The one Storage implementation: SQLAlchemy 2 Core over any URL (SQLite file, PostgreSQL).

Concurrency design. Every writing transaction on a study starts by bumping ``studies.version``
(``UPDATE ... RETURNING``). On PostgreSQL that takes the study's row lock until commit; on SQLite
the transaction is ``BEGIN IMMEDIATE``, which takes the database write lock. Writers of one study
are therefore serialized, and the scheduler decides inside that critical section from a history
that is exactly current: two workers can never be handed the same trial or the same promotion,
whichever process or machine they ask from. Claiming a trial also locks its row with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL. Transactions that write nothing roll back, so polling
workers do not bump the version.

Each process keeps one History per study and refreshes it with the rows whose version is above
the last one it saw (see schema.py), so decisions cost O(changes), not O(study).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError as SAArgumentError
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from hpo.errors import StorageError, StudyExists, StudyNotFound, TrialNotFound
from hpo.history import History
from hpo.model import (
    Budget,
    Decision,
    Fidelity,
    Objective,
    Report,
    SchedulerSpec,
    Study,
    StudySpec,
    Trial,
    TrialState,
)
from hpo.space import SearchSpace
from hpo.storage.schema import reports, studies, tokens, trials

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///hpo.db"
HEAD_REVISION = "0004"
# the range of an sa.Integer column on every backend (PostgreSQL's integer; SQLite's is wider):
# a key outside it matches no row, and binding one raises (OverflowError, DataError)
MAX_INTEGER = 2**31 - 1
_MIGRATIONS = Path(__file__).with_name("migrations")


def _token_hash(token: str) -> str:
    """sha256 of an API token: tokens are 256-bit random strings, so no salt or slow hash is
    needed to make the stored hashes useless to whoever reads the database."""
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()


def resolve_url(url: str | None = None) -> str:
    """``url``, else ``$HPO_STORAGE``, else ``sqlite:///hpo.db``; a bare path is a SQLite file."""
    url = url or os.environ.get("HPO_STORAGE") or DEFAULT_URL
    if "://" not in url:
        url = f"sqlite:///{url}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _study_from_row(row: Any) -> Study:
    from hpo.schedulers import with_stored_defaults

    spec = row.spec
    fid = spec.get("fidelity")
    sched = spec["scheduler"]
    return Study(
        name=row.name,
        project=row.project,
        space=SearchSpace.from_dict(spec["space"]),
        objectives=tuple(Objective(o["name"], o["mode"]) for o in spec["objectives"]),
        fidelity=Fidelity(fid["name"], fid["min"], fid["max"]) if fid else None,
        # a pinned param the row lacks: the value of the release that stored it (Scheduler.legacy)
        scheduler=SchedulerSpec(
            sched["name"], with_stored_defaults(sched["name"], sched.get("params", {}))
        ),
        budget=Budget.from_dict(spec.get("budget")),
        metadata=spec.get("metadata", {}),
        id=row.id,
        created_at=row.created_at,
        finished=bool(row.finished),
        paused=bool(getattr(row, "paused", False)),
    )


def _fits_integer(key: int) -> bool:
    """Whether ``key`` can be bound to an sa.Integer column (ids, trial numbers)."""
    return -MAX_INTEGER - 1 <= key <= MAX_INTEGER


def _spec_differences(stored: StudySpec, spec: StudySpec) -> list[str]:
    """The parts of ``spec`` (as given, before ``with_pinned_defaults``) that differ from the
    ``stored`` study's: space, objectives, fidelity, scheduler, budget (not metadata). A pinned
    scheduler parameter that ``spec`` leaves out is not compared: the stored study keeps the
    default of the release that created it."""
    from hpo.schedulers import SCHEDULERS, scheduler_defaults

    def as_stored(x: Any) -> Any:  # what a JSON column gives back (tuples become lists...)
        return json.loads(json.dumps(x))

    old, new = stored.to_dict(), spec.to_dict()
    cls = SCHEDULERS.get(new["scheduler"]["name"])
    for p in cls.pinned if cls is not None else ():
        if p not in new["scheduler"]["params"]:
            old["scheduler"]["params"].pop(p, None)
    for d in (old, new):  # one scheduler under two names ("sha"), a default given or left out
        c = SCHEDULERS.get(d["scheduler"]["name"])
        if c is not None:
            defaults = {k: v for k, v in scheduler_defaults(c).items() if k not in c.pinned}
            d["scheduler"] = {
                "name": c.__name__,
                "params": {**defaults, **d["scheduler"]["params"]},
            }
    parts = ("space", "objectives", "fidelity", "scheduler", "budget")
    return [k for k in parts if as_stored(old[k]) != as_stored(new[k])]


def _trial_from_row(row: Any) -> Trial:
    return Trial(
        id=row.id,
        study_id=row.study_id,
        number=row.number,
        config=row.config,
        state=TrialState(row.state),
        until=row.until,
        bracket=row.bracket,
        worker=row.worker,
        lease_expires=row.lease_expires,
        checkpoint_step=row.checkpoint_step,
        last_step=row.last_step,
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        resumes=row.resumes,
        interrupted=bool(row.interrupted),
        held=bool(row.held),
    )


def _report_from_row(row: Any) -> Report:
    return Report(
        trial_id=row.trial_id,
        step=row.step,
        metrics=row.metrics,
        cost_s=row.cost_s,
        time=row.created_at,
        decision=Decision(row.decision) if row.decision else None,
    )


_TRIAL_FIELDS = (
    "config",
    "state",
    "until",
    "bracket",
    "worker",
    "lease_expires",
    "checkpoint_step",
    "last_step",
    "error",
    "resumes",
    "interrupted",
    "held",
)


class StudyWriter:
    """What a writing transaction may do; obtained from ``SQLStorage.write(study_id)``.

    ``history`` is current as of this transaction and is updated by every call here.
    """

    def __init__(
        self, conn: Connection, history: History, version: int, dialect: str, paused: bool = False
    ):
        self.conn = conn
        self.history = history
        self.version = version
        self.dialect = dialect
        self.paused = paused  # read in this transaction: another replica may have changed it
        self.now = time.time()
        self.wrote = False

    @property
    def study(self) -> Study:
        return self.history.study

    def add_trial(
        self,
        config: Mapping[str, Any],
        *,
        state: TrialState,
        until: float | None,
        bracket: int | None = None,
        worker: str | None = None,
        lease_expires: float | None = None,
    ) -> Trial:
        number = self.history.n_trials
        values = dict(
            study_id=self.study.id,
            number=number,
            config=dict(config),
            state=state.value,
            until=until,
            bracket=bracket,
            worker=worker,
            lease_expires=lease_expires,
            created_at=self.now,
            updated_at=self.now,
            version=self.version,
            resumes=0,
            interrupted=False,
            held=False,
        )
        tid = self.conn.execute(
            sa.insert(trials).values(**values).returning(trials.c.id)
        ).scalar_one()
        trial = Trial(
            id=tid,
            study_id=self.study.id,
            number=number,
            config=dict(config),
            state=state,
            until=until,
            bracket=bracket,
            worker=worker,
            lease_expires=lease_expires,
            created_at=self.now,
            updated_at=self.now,
        )
        self.history.apply_trial(trial)
        self.wrote = True
        return trial

    def lock_trial(self, trial_id: int) -> None:
        """Row-locks a trial before claiming it (PostgreSQL: FOR UPDATE SKIP LOCKED)."""
        if self.dialect == "postgresql":
            self.conn.execute(
                sa.select(trials.c.id)
                .where(trials.c.id == trial_id)
                .with_for_update(skip_locked=True)
            )

    def update_trial(self, trial: Trial, **changes: Any) -> Trial:
        unknown = set(changes) - set(_TRIAL_FIELDS)
        if unknown:
            raise TypeError(f"unknown trial fields {unknown}")
        row = {k: (v.value if isinstance(v, TrialState) else v) for k, v in changes.items()}
        self.conn.execute(
            sa.update(trials)
            .where(trials.c.id == trial.id)
            .values(**row, updated_at=self.now, version=self.version)
        )
        if "state" in changes:
            changes["state"] = TrialState(changes["state"])
        new = _replace(trial, updated_at=self.now, **changes)
        self.history.apply_trial(new)
        self.wrote = True
        return new

    def add_report(self, report: Report) -> Report:
        self.conn.execute(
            sa.insert(reports).values(
                trial_id=report.trial_id,
                study_id=self.study.id,
                step=report.step,
                metrics=dict(report.metrics),
                cost_s=report.cost_s,
                decision=report.decision.value if report.decision else None,
                created_at=report.time or self.now,
                version=self.version,
            )
        )
        self.history.apply_report(report)
        self.wrote = True
        return report

    def set_paused(self, paused: bool) -> None:
        self.conn.execute(
            sa.update(studies).where(studies.c.id == self.study.id).values(paused=paused)
        )
        self.paused = paused
        self.wrote = True

    def set_finished(self, finished: bool = True) -> None:
        self.conn.execute(
            sa.update(studies).where(studies.c.id == self.study.id).values(finished=finished)
        )
        self.wrote = True


def _replace(trial: Trial, **changes: Any) -> Trial:
    from dataclasses import replace

    return replace(trial, **changes)


class SQLStorage:
    """Studies, trials and reports in a relational database.

    Args:
        url: SQLAlchemy URL, a SQLite file path, or None for ``$HPO_STORAGE`` / ``./hpo.db``.
        migrate: bring the schema to the newest Alembic revision on open (default).
    """

    def __init__(self, url: str | None = None, *, migrate: bool = True, pool_size: int = 5):
        self.url = resolve_url(url)
        try:
            sa_url = sa.make_url(self.url)
        except SAArgumentError:
            raise StorageError(f"cannot parse storage URL {self.url!r}") from None
        self.dialect = sa_url.get_backend_name()
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 60}
            if sa_url.database and sa_url.database != ":memory:":
                parent = Path(sa_url.database).expanduser().resolve().parent
                if not parent.is_dir():
                    raise StorageError(f"the directory of the SQLite file {parent} does not exist")
        elif self.dialect == "postgresql":
            kwargs.update(pool_size=pool_size, max_overflow=2 * pool_size, pool_pre_ping=True)
        try:
            self.engine: Engine = sa.create_engine(sa_url, **kwargs)
        except (SAArgumentError, ImportError, sa.exc.NoSuchModuleError) as e:
            raise StorageError(f"cannot open storage {self.url!r}: {e}") from None
        if self.dialect == "sqlite":
            _setup_sqlite(self.engine)
        self._locks: dict[int, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        self._histories: dict[int, History] = {}
        self._snapshots: dict[int, History] = {}  # readers' cached snapshots (history())
        self._snapshot_locks: dict[int, threading.Lock] = {}
        if migrate:
            self.migrate()

    # ---- schema -----------------------------------------------------------------------------
    def migrate(self) -> None:
        """Upgrades the schema to HEAD_REVISION with Alembic, once, under a database lock."""
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
                with conn.begin():
                    if self.dialect == "postgresql":
                        conn.execute(sa.text("SELECT pg_advisory_xact_lock(727274)"))
                    if _current_revision(conn) == HEAD_REVISION:
                        return
                    from alembic import command
                    from alembic.config import Config

                    cfg = Config()
                    cfg.set_main_option("script_location", str(_MIGRATIONS))
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
        except sa.exc.DatabaseError as e:  # OperationalError, or a file that is no database
            raise StorageError(f"cannot open storage {self.url!r}: {e.orig}") from None

    def close(self) -> None:
        self.engine.dispose()

    # ---- studies ----------------------------------------------------------------------------
    def create_study(self, spec: StudySpec, *, exist_ok: bool = False) -> Study:
        """Stores a new study (``exist_ok``: returns the one of that name instead of raising
        StudyExists, provided its spec is ``spec``'s; see ``_spec_differences``). Its scheduler's
        ``pinned`` params are stored with their current defaults where ``spec`` leaves them out,
        so that a later release changing a default does not change how this study searches once
        its coordinator restarts."""
        from hpo.schedulers import with_pinned_defaults

        given = spec
        sched = spec.scheduler
        spec = replace(
            spec,
            scheduler=SchedulerSpec(sched.name, with_pinned_defaults(sched.name, sched.params)),
        )
        d = spec.to_dict()
        existed = False
        with self.engine.begin() as conn:
            try:
                conn.execute(
                    sa.insert(studies).values(
                        project=spec.project,
                        name=spec.name,
                        spec={k: v for k, v in d.items() if k not in ("name", "project")},
                        version=0,
                        finished=False,
                        created_at=time.time(),
                    )
                )
            except IntegrityError:
                if not exist_ok:
                    raise StudyExists(
                        f"a study named {spec.name!r} already exists in project {spec.project!r}; "
                        "pick another name, or resume it"
                    ) from None
                existed = True
        study = self.get_study(spec.name, project=spec.project)
        differs = _spec_differences(study, given) if existed else []
        if differs:
            raise StudyExists(
                f"a study named {spec.name!r} already exists in project {spec.project!r} with "
                f"another {', '.join(differs)}: the stored study's spec differs from this one; "
                "pick another name, or give the stored spec"
            )
        return study

    def get_study(self, name_or_id: str | int, project: str | None = "default") -> Study:
        q = sa.select(studies)
        if isinstance(name_or_id, int):
            if not _fits_integer(name_or_id):
                raise StudyNotFound(f"no study {name_or_id!r}")
            q = q.where(studies.c.id == name_or_id)
        else:
            q = q.where(studies.c.name == name_or_id)
            if project is not None:
                q = q.where(studies.c.project == project)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise StudyNotFound(
                f"no study {name_or_id!r}"
                + (f" in project {project!r}" if project not in (None, "default") else "")
            )
        return _study_from_row(row)

    def list_studies(self, project: str | None = None) -> list[Study]:
        q = sa.select(studies).order_by(studies.c.id)
        if project is not None:
            q = q.where(studies.c.project == project)
        with self.engine.connect() as conn:
            return [_study_from_row(r) for r in conn.execute(q)]

    def study_counts(self, study_id: int) -> dict[str, int]:
        """Number of trials in each state."""
        q = (
            sa.select(trials.c.state, sa.func.count())
            .where(trials.c.study_id == study_id)
            .group_by(trials.c.state)
        )
        with self.engine.connect() as conn:
            return {s: n for s, n in conn.execute(q)}

    def delete_study(self, study_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(reports).where(reports.c.study_id == study_id))
            conn.execute(sa.delete(trials).where(trials.c.study_id == study_id))
            n = conn.execute(sa.delete(studies).where(studies.c.id == study_id)).rowcount
        self._histories.pop(study_id, None)
        self._snapshots.pop(study_id, None)
        if n == 0:
            raise StudyNotFound(f"no study with id {study_id}")

    # ---- API tokens ---------------------------------------------------------------------------
    def create_token(self, project: str, name: str = "") -> tuple[int, str]:
        """A new API token for ``project``: (id, token). Only its sha256 is stored."""
        import secrets

        if not isinstance(project, str) or not project or len(project) > 100:
            raise StorageError("a token needs a project name of 1 to 100 characters")
        token = "hpo_" + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            tid = conn.execute(
                sa.insert(tokens)
                .values(
                    project=project,
                    name=name[:200],
                    token_hash=_token_hash(token),
                    created_at=time.time(),
                )
                .returning(tokens.c.id)
            ).scalar_one()
        return int(tid), token

    def project_for_token(self, token: str) -> str | None:
        """The project of a valid (not revoked) token, else None."""
        if not token:
            return None
        q = sa.select(tokens.c.project).where(
            tokens.c.token_hash == _token_hash(token), tokens.c.revoked == sa.false()
        )
        with self.engine.connect() as conn:
            return conn.execute(q).scalar()

    def has_tokens(self) -> bool:
        q = sa.select(sa.func.count()).select_from(tokens).where(tokens.c.revoked == sa.false())
        with self.engine.connect() as conn:
            return bool(conn.execute(q).scalar())

    def list_tokens(self) -> list[dict[str, Any]]:
        q = sa.select(
            tokens.c.id, tokens.c.project, tokens.c.name, tokens.c.created_at, tokens.c.revoked
        ).order_by(tokens.c.id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def revoke_token(self, token_id: int) -> None:
        if not _fits_integer(token_id):  # no token has it, and binding it would raise
            raise StorageError(f"no token with id {token_id}")
        with self.engine.begin() as conn:
            n = conn.execute(
                sa.update(tokens).where(tokens.c.id == token_id).values(revoked=True)
            ).rowcount
        if n == 0:
            raise StorageError(f"no token with id {token_id}")

    def set_study_finished(self, study_id: int, finished: bool) -> None:
        with self.write(study_id) as w:
            w.set_finished(finished)

    # ---- reading ----------------------------------------------------------------------------
    def history(self, study_id: int) -> History:
        """A consistent snapshot of the whole study (a copy: not shared with anyone).

        Readers share one cached snapshot per study, brought up to the committed version with
        the rows written since (O(changes), not O(study)); each caller gets a copy of it."""
        conn_opts: dict[str, Any] = {}
        if self.dialect == "postgresql":
            conn_opts["isolation_level"] = "REPEATABLE READ"
        with self._locks_guard:
            lock = self._snapshot_locks.setdefault(study_id, threading.Lock())
        with lock, self.engine.connect() as conn:
            conn = conn.execution_options(**conn_opts)
            with conn.begin():
                row = conn.execute(sa.select(studies).where(studies.c.id == study_id)).first()
                if row is None:
                    self._snapshots.pop(study_id, None)
                    raise StudyNotFound(f"no study with id {study_id}")
                h = self._snapshots.get(study_id)
                if h is None or h.version > row.version:
                    h = History(_study_from_row(row))
                else:
                    h.study = _study_from_row(row)
                try:
                    self._refresh(conn, h, row.version)
                except BaseException:
                    self._snapshots.pop(study_id, None)
                    raise
                self._snapshots[study_id] = h
                return h.copy()

    def trial_id(self, study_id: int, number: int) -> int:
        """The id of trial ``number`` of the study (one indexed lookup)."""
        if not _fits_integer(number):
            raise TrialNotFound(f"no trial {number} in study {study_id}")
        with self.engine.connect() as conn:
            tid = conn.execute(
                sa.select(trials.c.id).where(
                    trials.c.study_id == study_id, trials.c.number == number
                )
            ).scalar()
        if tid is None:
            raise TrialNotFound(f"no trial {number} in study {study_id}")
        return int(tid)

    def get_trial(self, study_id: int, trial_id: int) -> Trial:
        if not _fits_integer(trial_id):
            raise TrialNotFound(f"no trial {trial_id} in study {study_id}")
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(trials).where(trials.c.id == trial_id, trials.c.study_id == study_id)
            ).first()
        if row is None:
            raise TrialNotFound(f"no trial {trial_id} in study {study_id}")
        return _trial_from_row(row)

    def get_reports(self, trial_id: int) -> list[Report]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(reports).where(reports.c.trial_id == trial_id).order_by(reports.c.step)
            )
            return [_report_from_row(r) for r in rows]

    def _refresh(self, conn: Connection, h: History, upto: int) -> None:
        since = h.version
        for row in conn.execute(
            sa.select(trials).where(
                trials.c.study_id == h.study.id, trials.c.version > since, trials.c.version <= upto
            )
        ):
            h.apply_trial(_trial_from_row(row))
        for row in conn.execute(
            sa.select(reports)
            .where(
                reports.c.study_id == h.study.id,
                reports.c.version > since,
                reports.c.version <= upto,
            )
            .order_by(reports.c.id)
        ):
            h.apply_report(_report_from_row(row))
        h.version = upto

    # ---- writing ----------------------------------------------------------------------------
    def _lock(self, study_id: int) -> threading.RLock:
        with self._locks_guard:
            lock = self._locks.get(study_id)
            if lock is None:
                lock = self._locks[study_id] = threading.RLock()
            return lock

    @contextmanager
    def write(self, study_id: int) -> Iterator[StudyWriter]:
        """A transaction holding the study's write lock, with its History brought up to date.

        Commits if the block wrote anything, rolls back otherwise (and on error).
        """
        with self._lock(study_id), self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            tx = conn.begin()
            try:
                version = conn.execute(
                    sa.update(studies)
                    .where(studies.c.id == study_id)
                    .values(version=studies.c.version + 1)
                    .returning(studies.c.version, studies.c.paused)
                ).first()
                if version is None:
                    raise StudyNotFound(f"no study with id {study_id}")
                v = version[0]
                h = self._histories.get(study_id)
                if h is None:
                    row = conn.execute(sa.select(studies).where(studies.c.id == study_id)).one()
                    h = History(_study_from_row(row))
                    self._histories[study_id] = h
                if h.version < v - 1:
                    self._refresh(conn, h, v - 1)
                writer = StudyWriter(conn, h, v, self.dialect, bool(version[1]))
                yield writer
                if writer.wrote:
                    tx.commit()
                    h.version = v
                else:
                    tx.rollback()
            except BaseException:
                self._histories.pop(study_id, None)  # may hold uncommitted rows: rebuild
                if tx.is_active:
                    tx.rollback()
                raise


def _current_revision(conn: Connection) -> str | None:
    try:
        with conn.begin_nested():
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):
        return None


def _setup_sqlite(engine: Engine) -> None:
    """WAL journal, NORMAL sync (durable across process crashes), long busy timeout, FKs on;
    and transactions that begin as the caller asks (IMMEDIATE for writers)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def open_storage(url: str | None = None) -> SQLStorage:
    return SQLStorage(url)


__all__: Sequence[str] = ["SQLStorage", "StudyWriter", "open_storage", "resolve_url", "DEFAULT_URL"]
