"""API tokens: hashed at rest, one project each, and no way to see another project's studies."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
import sqlalchemy as sa

import hpo
from hpo.errors import StudyNotFound, Unauthorized
from hpo.storage import SQLStorage
from tests.api.conftest import start_server

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}
BODY = {"name": "same-name", "space": SPACE, "objectives": [{"name": "loss"}]}


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('auth') / 'hpo.db'}"
    st = SQLStorage(url)
    _, token_a = st.create_token("team-a", "ci")
    _, token_b = st.create_token("team-b")
    server = start_server(url)
    try:
        yield server, token_a, token_b, st
    finally:
        server.stop()


def _h(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_calls_without_a_valid_token_get_401(secured):
    server, *_ = secured
    for headers in ({}, _h("hpo_not-a-token"), {"authorization": "Basic abc"}):
        r = httpx.get(f"{server.url}/v1/studies", headers=headers)
        assert r.status_code == 401, r.text
        assert r.json()["type"] == "Unauthorized"
    r = httpx.get(f"{server.url}/v1/studies", headers=_h("hpo_not-a-token"))
    assert r.status_code == 401 and r.json()["error"] == "unknown or revoked API token"


def test_a_token_sees_and_changes_only_its_projects_studies(secured):
    server, token_a, token_b, _ = secured
    a = httpx.post(f"{server.url}/v1/studies", json=BODY, headers=_h(token_a))
    assert a.status_code == 201 and a.json()["project"] == "team-a"
    assert (
        httpx.post(
            f"{server.url}/v1/studies/same-name/ask", json={"worker": "w"}, headers=_h(token_a)
        ).status_code
        == 200
    )
    # team-b gets 404 (not 403) for everything of team-a's
    for method, path, body in [
        ("get", "/v1/studies/same-name", None),
        ("get", "/v1/studies/same-name/trials", None),
        ("get", "/v1/studies/same-name/trials/0", None),
        ("post", "/v1/studies/same-name/ask", {"worker": "intruder"}),
        ("post", "/v1/studies/same-name/trials/0/reports", {"step": 1, "metrics": {"loss": 0}}),
        ("post", "/v1/studies/same-name/trials/0/fail", {"error": "x"}),
        ("delete", "/v1/studies/same-name", None),
    ]:
        r = httpx.request(method, f"{server.url}{path}", json=body, headers=_h(token_b))
        assert r.status_code == 404, (method, path, r.text)
    assert httpx.get(f"{server.url}/v1/studies", headers=_h(token_b)).json() == []
    # team-a's study is untouched, and team-b may use the same name in its own project
    trial = httpx.get(f"{server.url}/v1/studies/same-name/trials/0", headers=_h(token_a)).json()
    assert trial["state"] == "running" and trial["reports"] == []
    b = httpx.post(f"{server.url}/v1/studies", json=BODY, headers=_h(token_b))
    assert b.status_code == 201 and b.json()["project"] == "team-b"
    assert b.json()["id"] != a.json()["id"]


def test_the_remote_client_sends_its_token(secured):
    server, token_a, _, _ = secured
    c = hpo.Client(server.url, token=token_a)
    s = c.create_study("sdk", SPACE, "loss", budget={"max_trials": 2})
    assert s.project == "team-a"
    with pytest.raises(Unauthorized):
        hpo.Client(server.url, token="hpo_wrong").list_studies()
    with pytest.raises(StudyNotFound):
        hpo.Client(server.url, token=secured[2]).get_study("sdk")


def test_tokens_are_stored_only_as_hashes_and_can_be_revoked(secured):
    _, token_a, _, st = secured
    with st.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM hpo_tokens")).fetchall()
    assert rows and all(token_a not in str(tuple(r)) for r in rows)
    tid, extra = st.create_token("team-c")
    assert st.project_for_token(extra) == "team-c"
    st.revoke_token(tid)
    assert st.project_for_token(extra) is None


def test_serve_refuses_a_public_address_without_tokens(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "hpo.cli",
            "serve",
            "--storage",
            f"sqlite:///{tmp_path / 'x.db'}",
            "--host",
            "0.0.0.0",
            "--port",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "refusing to bind 0.0.0.0 without API tokens" in out.stderr
    assert "Traceback" not in out.stderr


def test_token_cli_creates_lists_and_revokes(tmp_path):
    url = f"sqlite:///{tmp_path / 't.db'}"

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "hpo.cli", "token", *args, "--storage", url],
            capture_output=True,
            text=True,
            timeout=60,
        )

    made = cli("create", "--project", "ml", "--name", "laptop")
    assert made.returncode == 0
    token = made.stdout.strip()
    assert token.startswith("hpo_") and SQLStorage(url).project_for_token(token) == "ml"
    listed = cli("list")
    assert "ml" in listed.stdout and "laptop" in listed.stdout and token not in listed.stdout
    assert cli("revoke", "1").returncode == 0
    assert SQLStorage(url).project_for_token(token) is None
    missing = cli("revoke", "99")
    assert missing.returncode == 2 and "no token with id 99" in missing.stderr
