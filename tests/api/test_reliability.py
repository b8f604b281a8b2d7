"""Many workers and two service replicas on one PostgreSQL study: nothing claimed twice or lost."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest

import hpo
from tests.api.conftest import start_server

pytestmark = pytest.mark.postgres

N_TRIALS = 192
N_WORKERS = 64
STEPS = 3


@pytest.fixture
def replicas(pg_url):
    servers = [start_server(pg_url), start_server(pg_url)]
    try:
        yield servers
    finally:
        for s in servers:
            s.stop()


def test_64_workers_over_two_replicas_claim_each_trial_once_and_lose_nothing(replicas):
    c0 = hpo.Client(replicas[0].url)
    s = c0.create_study(
        "swarm",
        {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "loss",
        fidelity={"name": "step", "min": 1, "max": STEPS},
        budget={"max_trials": N_TRIALS},
    )
    claims: list[tuple[str, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        name = f"w{i}"
        c = hpo.Client(replicas[i % 2].url, retries=8)  # half the workers on each replica
        try:
            while (a := c.ask(s, worker=name)) is not None:
                with lock:
                    claims.append((name, a.trial_id))
                for step in range(1, STEPS + 1):
                    d = c.report(
                        s,
                        a.trial_id,
                        step,
                        number=a.number,
                        worker=name,
                        loss=a.config["x"] + 1 / step,
                    )
                    if d is not hpo.Decision.CONTINUE:
                        break
                c.tell(s, a.trial_id, number=a.number, worker=name)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(N_WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors[:3]
    ids = Counter(tid for _, tid in claims)
    assert len(ids) == N_TRIALS and max(ids.values()) == 1  # every trial claimed exactly once
    assert len({w for w, _ in claims}) > N_WORKERS // 2  # the work really was spread
    trials = c0.trials(s)
    assert len(trials) == N_TRIALS and {t.state.value for t in trials} == {"completed"}
    for replica in replicas:  # both replicas serve the same, complete history
        page = httpx.get(
            f"{replica.url}/v1/studies/swarm/trials", params={"state": "completed", "limit": 1000}
        ).json()
        assert page["total"] == N_TRIALS
    for t in trials[:: N_TRIALS // 12]:
        reps = httpx.get(f"{replicas[1].url}/v1/studies/swarm/trials/{t.number}").json()
        assert [r["step"] for r in reps["reports"]] == [1.0, 2.0, 3.0]  # none lost, none doubled
