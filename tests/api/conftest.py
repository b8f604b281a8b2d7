"""A real ``hpo serve`` process (uvicorn) on a free localhost port, over SQLite or PostgreSQL."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

pytest.importorskip("fastapi", reason="the REST service needs hpo[api]")
httpx = pytest.importorskip("httpx", reason="the REST client needs hpo[api]")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    storage: str
    proc: subprocess.Popen

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(storage: str, port: int | None = None) -> Server:
    port = port or free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hpo.cli",
            "serve",
            "--storage",
            storage,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hpo serve exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return Server(url, storage, proc)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("hpo serve did not come up in 30 s")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Server]:  # noqa: ANN001
    """One server per backend for the module; tests use distinct study names."""
    import uuid

    from tests.conftest import _PG_SKIP, PG_BASE

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'hpo.db'}"
        schema = None
    else:
        if _PG_SKIP:
            pytest.skip(_PG_SKIP)
        import psycopg

        schema = f"hpo_api_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            PG_BASE.replace("postgresql+psycopg", "postgresql"), autocommit=True
        ) as c:
            c.execute(f"CREATE SCHEMA {schema}")
        url = f"{PG_BASE}?options=-csearch_path%3D{schema}"
    s = start_server(url)
    try:
        yield s
    finally:
        s.stop()
        if schema is not None:
            import psycopg

            with psycopg.connect(
                PG_BASE.replace("postgresql+psycopg", "postgresql"), autocommit=True
            ) as c:
                c.execute(f"DROP SCHEMA {schema} CASCADE")
