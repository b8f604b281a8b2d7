"""The service benchmark: a short run on SQLite whose counts agree with what the storage holds."""

from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip("fastapi", reason="the REST service needs hpo[api]")
pytest.importorskip("httpx", reason="the REST client needs hpo[api]")

from benchmarks.service import CellResult, percentile, render, run_cell  # noqa: E402

K = 3


def _check_consistent(r: CellResult, clients: int) -> None:
    assert r.errors == 0 and r.retried == 0, r.error_samples
    assert r.trials > 0 and r.elapsed_s > 0
    assert r.asks == r.trials == r.tells  # every trial the window started was finished
    assert r.reports == r.trials * K
    assert r.warmup_trials == clients and r.warmup_reports == clients * K
    assert r.stored_reports == r.reports + r.warmup_reports
    assert r.stored_finished == r.trials + r.warmup_trials
    for lat in (r.ask_ms, r.report_ms, r.tell_ms):
        assert lat["p50"] is not None and lat["p99"] is not None
        assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]


def test_hpo_cell_counts_every_report_the_server_stored(tmp_path):
    r = run_cell("hpo", "sqlite", 2, seconds=2.0, reports_per_trial=K, tmp=tmp_path)
    _check_consistent(r, 2)
    assert r.cpu_server_s is None or r.cpu_server_s > 0


def test_optuna_cell_counts_every_report_its_storage_holds(tmp_path):
    pytest.importorskip("optuna")
    r = run_cell("optuna", "sqlite", 2, seconds=1.0, reports_per_trial=K, tmp=tmp_path)
    _check_consistent(r, 2)
    assert r.cpu_server_s is None


def test_table_gives_hpo_over_optuna_reports_per_second():
    lat = {"p50": 1.0, "p99": 2.0, "max": 3.0}
    o = CellResult(
        **{
            "system": "optuna",
            "storage": "sqlite",
            "clients": 8,
            "reports_per_trial": K,
            "elapsed_s": 2.0,
            "trials": 100,
            "asks": 100,
            "reports": 300,
            "tells": 100,
            "errors": 0,
            "retried": 0,
            "ask_ms": lat,
            "report_ms": lat,
            "tell_ms": lat,
            "report_p50_first_ms": 1.0,
            "report_p50_last_ms": 1.0,
            "warmup_trials": 8,
            "warmup_reports": 24,
            "stored_reports": 324,
            "stored_finished": 108,
            "cpu_server_s": None,
            "cpu_client_s": 1.0,
            "cpu_machine_s": None,
        }
    )
    h = dataclasses.replace(o, system="hpo", reports=600, stored_reports=620, retried=2)
    table = render([h, o])
    assert "| sqlite | 8 | hpo | 100 | 300 | 50.0 |" in table
    assert "| 0 (+2 retried) | 2.00x |" in table  # 300 reports/s against 150
    assert "620 / 624 MISMATCH" in table and "324 / 324 |" in table


def test_percentile_is_the_nearest_rank():
    xs = [float(i) for i in range(1, 101)]
    assert percentile(xs, 50) == 50.0 and percentile(xs, 99) == 99.0
    assert percentile([3.0], 99) == 3.0 and percentile([], 50) is None
