"""Schemathesis against our OpenAPI document, on a real server: no 5xx, no schema violations."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="fuzzing needs schemathesis (hpo[dev])")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import positive_data_acceptance  # noqa: E402

from tests.api.conftest import start_server  # noqa: E402


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    """A real server in its secured configuration (a token exists) and a valid token."""
    import httpx

    from hpo.storage import SQLStorage

    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'hpo.db'}"
    _, token = SQLStorage(url).create_token("fuzz")
    server = start_server(url)
    auth = {"Authorization": f"Bearer {token}"}
    try:
        # a study to aim at, so that the fuzzer reaches past the 404s
        study = {
            "name": "fuzz",
            "space": {"x": {"type": "float", "low": 0, "high": 1}},
            "objectives": [{"name": "loss"}],
            "fidelity": {"name": "step", "min": 1, "max": 9},
        }
        httpx.post(f"{server.url}/v1/studies", headers=auth, json=study)
        httpx.post(f"{server.url}/v1/studies/fuzz/ask", headers=auth, json={"worker": "w"})
        yield schemathesis.openapi.from_url(f"{server.url}/openapi.json"), auth
    finally:
        server.stop()


def test_api_conforms_to_its_openapi_document(api_schema):
    api_schema, auth = api_schema
    """Every operation, 40 generated requests each (valid and invalid): every answer must be a
    documented status with a body that matches its schema, and never a 5xx."""
    from hypothesis import given

    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        op = result.ok()
        operations += 1

        @given(case=op.as_strategy())
        @settings(
            max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def run(case):
            # Rules across fields (low < high, a scheduler's own parameters, the objective
            # among the metrics) are not expressible in JSON Schema: a schema-valid request
            # may rightly get a 422, so the positive-acceptance check is left out.
            case.call_and_validate(headers=auth, excluded_checks=[positive_data_acceptance])

        try:
            run()
        except Exception as e:  # noqa: BLE001 - collect every operation's failure
            failures.append(f"{op.method.upper()} {op.path}: {str(e).strip()[:2000]}")
    assert operations >= 12
    assert not failures, "\n\n".join(failures)
