"""The Ray Tune adapter (benchmarks/peers/raytune.py): the replay's clock, values and epochs.

The searches run Ray Tune for real, on a private Ray instance with 2 CPUs, at a small time
scale: branin-mf with 9 epochs of 60 simulated seconds, 4 simulated hours in 12 real seconds.
"""

from __future__ import annotations

import math
from collections import defaultdict

import pytest

pytest.importorskip(
    "ray.tune", exc_type=ImportError, reason="Ray Tune is not installed (pip install 'hpo[ray]')"
)
pytest.importorskip("hpbandster", reason="TuneBOHB needs hpbandster (pip install hpbandster)")

from benchmarks.peers import raytune  # noqa: E402
from benchmarks.peers.raytune import ReplayRun, Report, our_config, replay, tune_space  # noqa: E402
from benchmarks.synthetic import mf_branin  # noqa: E402

LIMIT_S = 4 * 3600.0
SCALE = 12.0 / LIMIT_S  # 4 simulated hours in 12 real seconds: 0.05 s per epoch
TOLERANCE = 0.1  # Tune stops trials when its budget, which starts a little later, runs out
WORKERS = 2


@pytest.fixture(scope="module")
def bb():
    return mf_branin(max_epochs=9)


@pytest.fixture(scope="module")
def asha(bb) -> ReplayRun:
    return replay(bb, "asha", 0, WORKERS, LIMIT_S, SCALE)


@pytest.fixture(scope="module")
def hyperband(bb) -> ReplayRun:
    return replay(bb, "hyperband", 0, WORKERS, LIMIT_S, SCALE)


@pytest.fixture(scope="module")
def bohb(bb) -> ReplayRun:
    return replay(bb, "bohb", 0, WORKERS, LIMIT_S, SCALE)


def _by_trial(run: ReplayRun) -> dict[str, list[Report]]:
    out: dict[str, list[Report]] = defaultdict(list)
    for r in sorted(run.reports, key=lambda r: r.time):
        out[r.trial_id].append(r)
    return out


# Without Ray: the time scale, the space conversion, the overhead arithmetic.


def test_time_scale_is_eight_simulated_hours_in_a_minute_unless_the_env_says_otherwise(
    monkeypatch,
):
    monkeypatch.delenv(raytune.TIME_SCALE_ENV, raising=False)
    assert raytune.time_scale() == pytest.approx(60.0 / (8 * 3600))
    monkeypatch.setenv(raytune.TIME_SCALE_ENV, "0.01")
    assert raytune.time_scale() == 0.01


@pytest.mark.parametrize("raw", ["0", "-1", "nan", "fast"])
def test_time_scale_rejects_a_value_that_is_not_a_positive_number(monkeypatch, raw):
    monkeypatch.setenv(raytune.TIME_SCALE_ENV, raw)
    with pytest.raises(ValueError, match=raytune.TIME_SCALE_ENV):
        raytune.time_scale()


def test_a_budget_too_short_for_rays_start_up_is_refused_with_the_scale_to_set(monkeypatch, bb):
    """36 simulated seconds (the breast_cancer tables' budget) at the default scale is 0.075
    real seconds: nothing would report, and the comparison would store a search that found
    nothing. The run is refused before Ray starts, and the comparison lists why."""
    from benchmarks.compare import _run_one

    monkeypatch.delenv(raytune.TIME_SCALE_ENV, raising=False)
    with pytest.raises(
        raytune.MethodUnavailable, match=f"set {raytune.TIME_SCALE_ENV} to about 1.7"
    ):
        raytune.run(bb, "bohb", 0, WORKERS, 36.0)
    why = _run_one("branin-mf", 0.0, WORKERS, 36.0, "raytune-bohb", 0, bb=bb)
    assert isinstance(why, str) and raytune.TIME_SCALE_ENV in why


def test_tune_space_keeps_integer_bounds_inclusive_and_configs_come_back_in_our_types():
    import numpy as np

    space = {
        "lr": {"type": "float", "low": 1e-4, "high": 0.3, "log": True},
        "hidden": {"type": "int", "low": 16, "high": 256, "log": True},
        "depth": {"type": "int", "low": 1, "high": 4},
    }
    domains = tune_space(space)
    assert (domains["depth"].lower, domains["depth"].upper) == (1, 5)  # Tune excludes upper
    assert (domains["hidden"].lower, domains["hidden"].upper) == (16, 257)
    assert (domains["lr"].lower, domains["lr"].upper) == (1e-4, 0.3)
    cfg = our_config(space, {"lr": np.float64(0.01), "hidden": np.int64(64), "depth": 3.0})
    assert cfg == {"lr": 0.01, "hidden": 64, "depth": 3}
    assert [type(v) for v in cfg.values()] == [float, int, int]


def test_unknown_method_is_rejected_before_ray_starts(bb):
    with pytest.raises(ValueError, match="unknown Ray Tune method 'tpe'"):
        replay(bb, "tpe", 0, WORKERS, LIMIT_S, SCALE)


def test_overhead_is_the_worker_time_that_replayed_no_epoch():
    def rep(trial, epoch, t, start, first=1):
        return Report(trial, {}, epoch, 0.0, 60.0, t, start, first)

    # worker 1: a starts at 100, reports at 160 and 230 (10 s beyond the epoch), stops;
    # b starts at 300 and reports at 360. worker 2: c starts at 120, reports at 180.
    reports = [
        rep("a", 1, 160.0, 100.0),
        rep("a", 2, 230.0, 100.0),
        rep("c", 1, 180.0, 120.0),
        rep("b", 1, 360.0, 300.0),
        rep("b", 2, 9999.0, 300.0),  # after the limit: not counted
    ]
    run = ReplayRun("asha", 2, 600.0, 0.01, 6.0, reports)
    assert len(run.events) == 4 and run.trials == 3 and run.segments == 3
    assert run.idle_fraction == pytest.approx(1 - 4 * 60.0 / 1200.0)
    assert run.startup_s == pytest.approx(110.0)  # the first two starts: 100 and 120
    assert run.overhead_per_report_s == pytest.approx((10.0 + 9999.0 - 360.0 - 60.0) / 2)
    # 2 workers x (600 - 110) s, less 4 epochs and the 10 s gap inside the limit, over 1 start
    assert run.overhead_per_start_s == pytest.approx(2 * 490.0 - 240.0 - 10.0)


# With Ray: ASHA, HyperBand and BOHB searches.


@pytest.mark.slow
def test_every_report_falls_within_the_time_limit(asha):
    assert asha.events, "no epoch was reported within the limit"
    assert all(0 < r.time <= LIMIT_S * (1 + TOLERANCE) for r in asha.reports)
    assert all(0 < t <= LIMIT_S for t, _, _ in asha.events)
    assert len(asha.events) == sum(r.time <= LIMIT_S for r in asha.reports)


@pytest.mark.slow
def test_reported_values_are_the_benchmark_values_of_configs_in_the_space(bb, asha, bohb):
    for run in (asha, bohb):
        assert run.reports
        for r in run.reports:
            assert r.value == bb.value(r.config, r.epoch)
            assert set(r.config) == set(bb.space)
            for name, p in bb.space.items():
                assert isinstance(r.config[name], float)
                assert p["low"] <= r.config[name] <= p["high"]


@pytest.mark.slow
def test_each_trial_reports_its_epochs_in_order_from_the_first(asha, hyperband, bohb):
    for run in (asha, hyperband, bohb):
        for trial, reports in _by_trial(run).items():
            assert [r.epoch for r in reports] == list(range(1, len(reports) + 1)), trial


@pytest.mark.slow
def test_asha_stops_some_trials_before_the_last_epoch(bb, asha):
    end = max(r.time for r in asha.reports)
    stopped = [
        reports
        for reports in _by_trial(asha).values()
        if reports[-1].epoch < bb.max_epochs and reports[-1].time < end - 3 * bb.epoch_seconds
    ]
    assert len(stopped) >= 3  # not just the trials the time limit cut off
    assert {reports[-1].epoch for reports in stopped} <= {1, 3}  # ASHA's rungs for eta = 3


@pytest.mark.slow
@pytest.mark.parametrize("method", ["hyperband", "bohb"])
def test_paused_trials_resume_after_their_checkpointed_epoch(method, request):
    run: ReplayRun = request.getfixturevalue(method)
    resumed = 0
    for trial, reports in _by_trial(run).items():
        previous = 0
        for r in reports:
            if r.first_epoch > 1 and r.epoch == r.first_epoch:  # the first report after a resume
                assert previous == r.first_epoch - 1, trial
                assert r.segment_start >= reports[0].time  # a new run of the trainable
                resumed += 1
            previous = r.epoch
    assert resumed >= 1, f"{method} resumed no paused trial"


@pytest.mark.slow
def test_ray_overheads_are_measured_and_positive(asha):
    assert asha.startup_s > 0
    assert asha.overhead_per_report_s > 0
    assert math.isfinite(asha.overhead_per_start_s)
    assert 0 < asha.idle_fraction < 1
