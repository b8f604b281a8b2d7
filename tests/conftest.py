"""Shared fixtures: storage URLs for SQLite files and for the PostgreSQL server (own schema)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

# One math-library thread per process (it was a fixture of test_bo.py and test_gp.py only), set
# before anything imports torch or numpy so that it also reaches the processes tests start (CLI
# sweeps, trial scripts, DDP ranks). The GPs' small matrices gain nothing from threads, and on
# 2 cores a second OpenMP thread spins whenever another process holds a core:
# test_bo_constraints.py took 44 s with two threads and 8 s with one beside another job.
# Set these variables yourself to override.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

PG_BASE = os.environ.get("HPO_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_available() -> str | None:
    """None if PostgreSQL answers, else the reason to skip."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'hpo[postgres]')"
    try:
        with psycopg.connect(
            PG_BASE.replace("postgresql+psycopg", "postgresql"), connect_timeout=3
        ):
            return None
    except Exception as e:  # noqa: BLE001 - any failure means: skip with the reason
        return f"PostgreSQL at {PG_BASE} is not reachable: {str(e).strip().splitlines()[0]}"


_PG_SKIP = _pg_available()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL on the test PostgreSQL database, in a fresh schema dropped afterwards."""
    if _PG_SKIP:
        pytest.skip(_PG_SKIP)
    import psycopg

    schema = f"hpo_test_{uuid.uuid4().hex[:12]}"
    plain = PG_BASE.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(plain, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as c:
            c.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest, tmp_path) -> str:  # noqa: ANN001
    """The same test runs on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hpo.db'}"
    return request.getfixturevalue("pg_url")
