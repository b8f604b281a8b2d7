"""The REST service as a real uvicorn process, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

import hpo
from hpo.errors import InvalidReport, InvalidSpace, StudyExists, StudyNotFound
from hpo.model import Decision, TrialState
from hpo.remote import RemoteClient

SPACE = {
    "x": {"type": "float", "low": -2.0, "high": 2.0},
    "k": {"type": "int", "low": 1, "high": 8},
}
STUDY = {
    "name": "quad",
    "space": SPACE,
    "objectives": [{"name": "loss", "mode": "min"}],
    "fidelity": {"name": "epoch", "min": 1, "max": 9},
    "scheduler": {"name": "asha", "params": {"eta": 3}},
    "budget": {"max_trials": 12},
}


def test_remote_sdk_runs_an_asha_study_to_the_end(server):
    c = hpo.Client(server.url)
    assert isinstance(c, RemoteClient)
    s = c.create_study(
        "quad",
        SPACE,
        "loss",
        fidelity={"name": "epoch", "min": 1, "max": 9},
        scheduler="asha",
        budget={"max_trials": 12},
    )
    assert s.fidelity.max == 9 and s.scheduler.name == "asha"
    decisions = []
    while True:
        a = c.ask(s, worker="w1")
        if a is None:
            break
        step = int(a.checkpoint_step or 0)
        while True:
            step += 1
            d = c.report(s, a.trial_id, step, loss=(a.config["x"] - 0.5) ** 2 + 1 / step)
            decisions.append(d)
            if d is not Decision.CONTINUE:
                break
        c.tell(s, a.trial_id)
    trials = c.trials(s)
    assert len(trials) == 12
    assert all(t.state in (TrialState.COMPLETED, TrialState.STOPPED) for t in trials)
    assert Decision.PAUSE in decisions  # ASHA paused trials at rungs, then resumed some
    assert any(t.resumes > 0 for t in trials)
    best = c.best_trial(s)
    assert best is not None and best.step == 9
    # The same study seen in-process through the same database agrees.
    local = hpo.Client(server.storage)
    assert local.best_trial("quad").trial.number == best.trial.number


def test_reports_and_finish_are_idempotent_under_retries(server):
    c = hpo.Client(server.url)
    s = c.create_study("idem", SPACE, "loss", fidelity={"name": "epoch", "min": 1, "max": 9})
    a = c.ask(s, worker="w")
    assert c.ask(s, worker="w").trial_id == a.trial_id  # the same worker gets its trial back
    first = c.report(s, a.trial_id, 3, loss=1.0)
    again = c.report(s, a.trial_id, 3, loss=1.0)
    assert first == again
    t1 = c.tell(s, a.trial_id, 0.5)
    t2 = c.tell(s, a.trial_id, 0.5)
    assert t1.state is t2.state is TrialState.COMPLETED
    reports = httpx.get(f"{server.url}/v1/studies/idem/trials/{a.number}").json()["reports"]
    assert [r["step"] for r in reports] == [3.0, 9.0]


def test_concurrent_workers_never_share_a_trial(server):
    c0 = hpo.Client(server.url)
    s = c0.create_study("conc", SPACE, "loss", budget={"max_trials": 40})
    got: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            c = hpo.Client(server.url)
            mine = got.setdefault(name, [])
            while (a := c.ask(s, worker=name)) is not None:
                mine.append(a.trial_id)
                c.tell(s, a.trial_id, a.config["x"] ** 2, number=a.number, worker=name)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    ids = [i for v in got.values() for i in v]
    assert len(ids) == 40 and len(set(ids)) == 40
    assert {t.state for t in c0.trials(s)} == {TrialState.COMPLETED}


def test_errors_map_to_4xx_with_one_line_messages(server):
    c = hpo.Client(server.url)
    with pytest.raises(StudyNotFound, match="nope"):
        c.get_study("nope")
    c.create_study("dup", SPACE, "loss")
    with pytest.raises(StudyExists):
        c.create_study("dup", SPACE, "loss")
    with pytest.raises(InvalidSpace, match="empty range"):  # the SDK checks before sending
        c.create_study("bad", {"x": {"type": "float", "low": 1, "high": 0}}, "loss")
    bad = {**STUDY, "name": "bad", "space": {"x": {"type": "float", "low": 1, "high": 0}}}
    r = httpx.post(f"{server.url}/v1/studies", json=bad)  # and the server checks again
    assert r.status_code == 422
    assert r.json()["type"] == "InvalidSpace" and "empty range" in r.json()["error"]
    with pytest.raises(StudyNotFound):
        c.get_study("bad")  # nothing was written


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "needle"),
    [
        ("post", "/v1/studies", {**STUDY, "surprise": 1}, 422, "surprise: Extra inputs"),
        ("post", "/v1/studies", {**STUDY, "name": ""}, 422, "name"),
        ("post", "/v1/studies", {**STUDY, "objectives": []}, 422, "objectives"),
        ("post", "/v1/studies", {**STUDY, "budget": {"max_trials": "ten"}}, 422, "max_trials"),
        ("post", "/v1/studies", {**STUDY, "scheduler": {"name": "nope"}}, 422, "nope"),
        (
            "post",
            "/v1/studies",
            {**STUDY, "scheduler": {"name": "asha", "params": {"eta": 1}}},
            422,
            "eta",
        ),
        (
            "post",
            "/v1/studies",
            {
                **STUDY,
                "scheduler": {"name": "asha", "params": {"points_to_evaluate": [{"x": 5.0}]}},
            },
            422,
            "points_to_evaluate[0]: parameter 'x': 5.0 is outside",
        ),
        ("post", "/v1/studies/missing/ask", {"worker": "w"}, 404, "missing"),
        ("post", "/v1/studies/s/ask", {}, 422, "worker"),
        (
            "post",
            "/v1/studies/s/trials/0/reports",
            {"step": 1, "metrics": {"loss": "x"}},
            422,
            "metrics.loss",
        ),
        (
            "post",
            "/v1/studies/s/trials/0/reports",
            {"step": -1, "metrics": {"loss": 1}},
            422,
            "step",
        ),
        ("post", "/v1/studies/s/trials/0/reports", {"step": 1, "metrics": {}}, 422, "metrics"),
        ("post", "/v1/studies/s/trials/0/reports", {"step": 1, "metrics": {"acc": 1}}, 422, "loss"),
        ("post", "/v1/studies/s/trials/99/reports", {"step": 1, "metrics": {"loss": 1}}, 404, "99"),
        ("get", "/v1/studies/s/trials?limit=0", None, 422, "limit"),
        ("get", "/v1/studies/s/trials?state=sleeping", None, 422, "state"),
        ("get", "/v1/studies/s/best", None, 404, "no results"),
        *[
            (
                "post",
                "/v1/studies",
                {**STUDY, "name": "seed", "scheduler": {"name": n, "params": {"seed": seed}}},
                422,
                f"seed must be an integer from 0 to 4294967295, got {shown}",
            )
            for n, seed, shown in [
                ("random", -1, "-1"),
                ("asha", "abc", "'abc'"),
                ("random", 1.7, "1.7"),
                ("asha", True, "True"),
            ]
        ],
        (
            "post",
            "/v1/studies",
            {**STUDY, "name": "wide", "fidelity": {"name": "e", "min": 1e-308, "max": 1e308}},
            422,
            "rungs, more than 100",
        ),
        *[
            (method, f"/v1/studies/s/trials/{n}{tail}", body, 404, f"no trial {n}")
            for n in (2**31, 2**63, 2**64)
            for method, tail, body in [
                ("post", "/reports", {"step": 1, "metrics": {"loss": 1}}),
                ("post", "/finish", {}),
                ("post", "/fail", {}),
                ("post", "/pause", None),
                ("post", "/resume", None),
                ("get", "", None),
            ]
        ],
        (
            "post",
            "/v1/studies/s/trials/0/reports",
            {"step": 1e308, "metrics": {"loss": 0.4}},
            422,
            "step 1e+308 is above the study's maximum fidelity (epoch = 9)",
        ),
        (
            "post",
            "/v1/studies/s/trials/0/finish",
            {"step": 10, "metrics": {"loss": 0.4}},
            422,
            "maximum fidelity",
        ),
    ],
)
def test_bad_input_gets_a_clear_4xx(server, method, path, body, status, needle):
    base = {**STUDY, "name": "s", "exist_ok": True}
    assert httpx.post(f"{server.url}/v1/studies", json=base).status_code == 201
    assert httpx.post(f"{server.url}/v1/studies/s/ask", json={"worker": "w"}).status_code == 200
    r = httpx.request(method, f"{server.url}{path}", json=body)
    assert r.status_code == status, r.text
    err = r.json()
    assert needle in err["error"] and "\n" not in err["error"] and err["type"]


def test_eta_infinity_is_refused_at_creation(server):
    body = {**STUDY, "name": "eta-inf", "scheduler": {"name": "asha", "params": {"eta": 1}}}
    r = httpx.post(
        f"{server.url}/v1/studies",
        content=json.dumps(body).replace('"eta": 1', '"eta": Infinity'),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422 and "eta must be a finite number" in r.json()["error"], r.text
    assert httpx.get(f"{server.url}/v1/studies/eta-inf").status_code == 404


def test_a_report_above_the_maximum_fidelity_is_refused_and_not_stored(server):
    httpx.post(f"{server.url}/v1/studies", json={**STUDY, "name": "over"})
    n = httpx.post(f"{server.url}/v1/studies/over/ask", json={"worker": "w"}).json()
    num = n["assignment"]["number"]
    r = httpx.post(
        f"{server.url}/v1/studies/over/trials/{num}/reports",
        json={"step": 1e308, "metrics": {"loss": 0.4}},
    )
    assert r.status_code == 422 and r.json()["type"] == "InvalidReport", r.text
    trial = httpx.get(f"{server.url}/v1/studies/over/trials/{num}").json()
    assert trial["reports"] == [] and trial["state"] == "running"
    assert httpx.get(f"{server.url}/v1/studies/over/best").status_code == 404
    with pytest.raises(InvalidReport, match="above the study's maximum fidelity"):
        hpo.Client(server.url).report("over", n["assignment"]["trial_id"], 10, number=num, loss=1)


def test_exist_ok_returns_the_study_with_the_same_spec_and_409_for_another(server):
    base = {**STUDY, "name": "again", "exist_ok": True}
    first = httpx.post(f"{server.url}/v1/studies", json=base)
    same = httpx.post(f"{server.url}/v1/studies", json={**base, "metadata": {"run": 2}})
    assert first.status_code == same.status_code == 201
    assert same.json()["id"] == first.json()["id"]
    other = {"y": {"type": "int", "low": 0, "high": 3}}
    for change in ({"space": other}, {"objectives": [{"name": "loss", "mode": "max"}]}):
        r = httpx.post(f"{server.url}/v1/studies", json={**base, **change})
        assert r.status_code == 409, r.text
        assert r.json()["type"] == "StudyExists"
        assert "the stored study's spec differs" in r.json()["error"]
    with pytest.raises(StudyExists, match="with another space"):  # the remote SDK
        hpo.Client(server.url).create_study("again", other, "loss", exist_ok=True)
    assert httpx.get(f"{server.url}/v1/studies/again").json()["space"]["x"]["high"] == 2.0


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_metrics_are_refused(server, token):
    httpx.post(f"{server.url}/v1/studies", json={**STUDY, "name": "nan", "exist_ok": True})
    n = httpx.post(f"{server.url}/v1/studies/nan/ask", json={"worker": "w"}).json()
    num = n["assignment"]["number"]
    r = httpx.post(
        f"{server.url}/v1/studies/nan/trials/{num}/reports",
        content=f'{{"step": 1, "metrics": {{"loss": {token}}}}}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422 and "finite" in r.json()["error"]
    trial = httpx.get(f"{server.url}/v1/studies/nan/trials/{num}").json()
    assert trial["reports"] == []  # nothing stored


def test_a_boolean_metric_is_refused_not_stored_as_one(server):
    httpx.post(f"{server.url}/v1/studies", json={**STUDY, "name": "flag", "exist_ok": True})
    n = httpx.post(f"{server.url}/v1/studies/flag/ask", json={"worker": "w"}).json()
    num = n["assignment"]["number"]
    url = f"{server.url}/v1/studies/flag/trials/{num}"
    r = httpx.post(f"{url}/reports", json={"step": 1, "metrics": {"loss": 0.5, "ok": True}})
    assert r.status_code == 422 and "not a boolean" in r.json()["error"], r.text
    r = httpx.post(f"{url}/finish", json={"metrics": {"loss": False}, "worker": "w"})
    assert r.status_code == 422 and "not a boolean" in r.json()["error"], r.text
    assert httpx.get(url).json()["reports"] == []


def test_oversized_body_is_413_and_the_study_is_untouched(server):
    httpx.post(f"{server.url}/v1/studies", json={**STUDY, "name": "big"})
    r = httpx.post(
        f"{server.url}/v1/studies/big/ask",
        content=b'{"worker": "' + b"w" * (2 << 20) + b'"}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413 and "larger than" in r.json()["error"]
    assert httpx.get(f"{server.url}/v1/studies/big/trials").json()["total"] == 0


def test_trials_pagination_and_filters(server):
    c = hpo.Client(server.url)
    s = c.create_study("pages", SPACE, "loss", budget={"max_trials": 7})
    for _ in range(7):
        a = c.ask(s, worker="w")
        if a.number % 2:
            c.fail(s, a.trial_id, "boom", number=a.number)
        else:
            c.tell(s, a.trial_id, 1.0, number=a.number)
    page = httpx.get(f"{server.url}/v1/studies/pages/trials", params={"limit": 3, "offset": 3})
    body = page.json()
    assert body["total"] == 7 and [t["number"] for t in body["items"]] == [3, 4, 5]
    failed = httpx.get(f"{server.url}/v1/studies/pages/trials", params={"state": "failed"})
    assert [t["number"] for t in failed.json()["items"]] == [1, 3, 5]
    assert all(t["error"] == "boom" for t in failed.json()["items"])
    both = httpx.get(
        f"{server.url}/v1/studies/pages/trials",
        params=[("state", "failed"), ("state", "completed")],
    )
    assert both.json()["total"] == 7


def test_openapi_models_every_error_response(server):
    doc = httpx.get(f"{server.url}/openapi.json").json()
    for path, ops in doc["paths"].items():
        if path == "/healthz":
            continue
        for op in ops.values():
            assert "422" in op["responses"] and "404" in op["responses"], (path, op["summary"])
    assert "Error" in doc["components"]["schemas"]


def test_delete_study_then_404(server):
    c = hpo.Client(server.url)
    c.create_study("gone", SPACE, "loss")
    c.delete_study("gone")
    with pytest.raises(StudyNotFound):
        c.get_study("gone")
    assert all(s.name != "gone" for s in c.list_studies())


def test_killed_server_restarts_and_clients_retry_without_losing_or_doubling(server):
    """kill -9 the server while 8 clients stream reports, start it again on the same port:
    every client carries on through its retries, and every report is stored exactly once."""
    import os
    import signal
    import time

    from tests.api.conftest import start_server

    s = hpo.Client(server.url).create_study(
        "restart",
        SPACE,
        "loss",
        fidelity={"name": "epoch", "min": 1, "max": 40},
        budget={"max_trials": 8},
    )
    port = int(server.url.rsplit(":", 1)[1])
    numbers: list[int] = []
    errors: list[BaseException] = []

    def client(i: int) -> None:
        c = hpo.Client(server.url, retries=15, backoff_s=0.1, max_backoff_s=1.0)
        try:
            a = c.ask(s, worker=f"w{i}")
            numbers.append(a.number)
            for step in range(1, 40):
                d = c.report(s, a.trial_id, step, number=a.number, worker=f"w{i}", loss=1.0 / step)
                assert d is Decision.CONTINUE
                time.sleep(0.01)
            c.tell(s, a.trial_id, 0.01, number=a.number, worker=f"w{i}")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.4)
    os.kill(server.proc.pid, signal.SIGKILL)  # under load
    server.proc.wait()
    time.sleep(0.5)
    server.proc = start_server(server.storage, port=port).proc
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    assert sorted(numbers) == list(range(8))
    for n in numbers:
        trial = httpx.get(f"{server.url}/v1/studies/restart/trials/{n}").json()
        assert [r["step"] for r in trial["reports"]] == [float(x) for x in range(1, 41)]
        assert trial["state"] == "completed"


def test_the_same_code_drives_the_in_process_and_the_remote_client(server, tmp_path):
    def drive(c, name):
        s = c.create_study(name, SPACE, "loss", budget={"max_trials": 5})
        while (a := c.ask(s, worker="w1")) is not None:
            assert c.report(s, a.trial_id, 1, number=a.number, worker="w1", loss=2.0) in (
                Decision.CONTINUE,
                Decision.STOP,
            )
            assert c.heartbeat(s, worker="w1") == 1
            c.tell(s, a.trial_id, (a.config["x"] - 1) ** 2, number=a.number, worker="w1")
        return sorted(t.state.value for t in c.trials(s))

    local = drive(hpo.Client(f"sqlite:///{tmp_path / 'local.db'}"), "same")
    remote = drive(hpo.Client(server.url), "same")
    assert local == remote == ["completed"] * 5


def test_export_json_and_csv_match_the_cli(server, tmp_path):
    import csv
    import io
    import json
    import subprocess
    import sys

    c = hpo.Client(server.url)
    s = c.create_study(
        "exported",
        SPACE,
        "loss",
        fidelity={"name": "epoch", "min": 1, "max": 3},
        budget={"max_trials": 3},
    )
    while (a := c.ask(s, worker="w")) is not None:
        for step in (1, 2, 3):
            c.report(s, a.trial_id, step, number=a.number, loss=a.config["x"] ** 2 + 1 / step)
        c.tell(s, a.trial_id, number=a.number)
    doc = httpx.get(f"{server.url}/v1/studies/exported/export").json()
    assert doc["study"]["name"] == "exported" and len(doc["trials"]) == 3
    assert all([r["step"] for r in t["reports"]] == [1, 2, 3] for t in doc["trials"])
    text = httpx.get(f"{server.url}/v1/studies/exported/export", params={"format": "csv"})
    assert text.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text.text)))
    assert [r["number"] for r in rows] == ["0", "1", "2"] and all(r["step"] == "3.0" for r in rows)
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "hpo.cli",
            "export",
            "exported",
            "--format",
            "json",
            "--storage",
            server.storage,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(cli.stdout) == doc
    bad = httpx.get(f"{server.url}/v1/studies/exported/export", params={"format": "xml"})
    assert bad.status_code == 422 and "format" in bad.json()["error"]


def test_pause_frees_workers_and_resume_continues_the_paused_trials_first(server):
    c = hpo.Client(server.url)
    s = c.create_study(
        "pausable",
        SPACE,
        "loss",
        fidelity={"name": "epoch", "min": 1, "max": 9},
        budget={"max_trials": 3},
    )
    a = c.ask(s, worker="w1")
    assert c.report(s, a.trial_id, 1, number=a.number, worker="w1", loss=1.0) is Decision.CONTINUE
    paused = c.pause_study(s)
    assert paused.paused and not paused.finished
    assert c.pause_study(s).paused  # idempotent
    # the running trial is told to pause at its next report, and nothing new starts
    assert c.report(s, a.trial_id, 2, number=a.number, worker="w1", loss=0.9) is Decision.PAUSE
    c.tell(s, a.trial_id, number=a.number, worker="w1")
    body = httpx.post(f"{server.url}/v1/studies/pausable/ask", json={"worker": "w2"}).json()
    assert body == {"assignment": None, "finished": False, "paused": True}
    t = httpx.get(f"{server.url}/v1/studies/pausable/trials/{a.number}").json()
    assert t["state"] == "paused" and t["checkpoint_step"] == 2
    resumed = c.resume_study(s)
    assert not resumed.paused
    again = c.ask(s, worker="w2")
    assert again.trial_id == a.trial_id and again.resume and again.checkpoint_step == 2
    for step in range(3, 10):  # the study then runs to its end as usual
        d = c.report(s, again.trial_id, step, number=again.number, worker="w2", loss=1 / step)
    assert d is Decision.STOP
    c.tell(s, again.trial_id, number=again.number, worker="w2")
    while (b := c.ask(s, worker="w2")) is not None:
        c.tell(s, b.trial_id, 0.5, number=b.number, worker="w2")
    states = sorted(t.state.value for t in c.trials(s))
    assert states == ["completed"] * 3
    assert c.get_study(s.name).finished


def test_one_trial_is_held_and_resumed_over_http_while_the_others_run(server):
    c = hpo.Client(server.url)
    s = c.create_study(
        "holdable",
        SPACE,
        "loss",
        fidelity={"name": "epoch", "min": 1, "max": 9},
        budget={"max_trials": 2},
    )
    a = c.ask(s, worker="w1")
    held = c.pause_trial(s, a.number)
    assert held.state is TrialState.RUNNING and held.held
    assert c.report(s, a.trial_id, 1, number=a.number, worker="w1", loss=1.0) is Decision.PAUSE
    c.tell(s, a.trial_id, number=a.number, worker="w1")
    only = c.trials(s, states=["held"])
    assert [t.number for t in only] == [a.number] and only[0].checkpoint_step == 1
    b = c.ask(s, worker="w2")  # the study goes on without it
    assert b is not None and b.trial_id != a.trial_id
    c.tell(s, b.trial_id, 0.5, number=b.number, worker="w2")
    body = httpx.post(f"{server.url}/v1/studies/holdable/ask", json={"worker": "w2"}).json()
    assert body["assignment"] is None and body["finished"] is False  # waits for the held one
    r = httpx.post(f"{server.url}/v1/studies/holdable/trials/{b.number}/pause")
    assert r.status_code == 409 and "ended" in r.json()["error"]
    assert httpx.post(f"{server.url}/v1/studies/holdable/trials/77/pause").status_code == 404
    assert c.resume_trial(s, a.number).state is TrialState.PAUSED
    again = c.ask(s, worker="w3")
    assert again.trial_id == a.trial_id and again.resume and again.checkpoint_step == 1
    c.tell(s, again.trial_id, 0.1, number=again.number, worker="w3")
    assert c.ask(s, worker="w3") is None and c.get_study(s.name).finished


def test_starlettes_own_errors_come_in_the_same_body_as_ours(server):
    """No such route, a method the route lacks, malformed JSON: {"error", "type"}, one line."""
    r = httpx.get(f"{server.url}/v1/no-such-thing")
    assert r.status_code == 404
    assert r.json() == {"error": "no such endpoint: GET /v1/no-such-thing", "type": "NotFound"}
    r = httpx.delete(f"{server.url}/v1/studies")
    assert r.status_code == 405 and r.headers.get("allow")
    assert r.json()["type"] == "MethodNotAllowed"
    assert r.json()["error"] == "method DELETE is not allowed on /v1/studies"
    r = httpx.post(
        f"{server.url}/v1/studies",
        content=b'{"name": "s",',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["error"].startswith("malformed JSON at character 13"), r.text


def test_a_study_created_with_points_to_evaluate_hands_them_out_first(server):
    body = {
        **STUDY,
        "name": "points",
        "scheduler": {
            "name": "mobster",
            "params": {"points_to_evaluate": [{"x": 1.5, "k": 7}, {"x": -0.25}]},
        },
    }
    assert httpx.post(f"{server.url}/v1/studies", json=body).status_code in (200, 201)
    got = [
        httpx.post(f"{server.url}/v1/studies/points/ask", json={"worker": f"w{i}"}).json()[
            "assignment"
        ]
        for i in range(3)
    ]
    assert got[0]["config"] == {"x": 1.5, "k": 7}
    assert got[1]["config"] == {"x": -0.25, "k": 4}  # k completed at the middle of 1..8
    assert got[2]["config"] not in (got[0]["config"], got[1]["config"])
