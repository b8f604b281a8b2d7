from __future__ import annotations

import pytest

from benchmarks.compare import run_hpo
from benchmarks.rung_reach import TOP_K, gate_at, main, top_agreement, windows
from benchmarks.synthetic import mf_branin


def test_windows_count_starts_reach_and_top_results_by_hand() -> None:
    # trial 0 starts at t=10 and reaches 9; trial 1 starts at t=20, stops at 1; trial 2 starts
    # in the second window (t=60) and reaches the top (9) at t=90; windows of 50 s
    trace = [
        (10.0, 0, 1, 5.0),
        (20.0, 1, 1, 7.0),
        (30.0, 0, 3, 4.0),
        (40.0, 0, 9, 3.0),
        (60.0, 2, 1, 6.0),
        (70.0, 2, 3, 2.0),
        (90.0, 2, 9, 1.0),
    ]
    configs = {0: {"x": 0.3}, 1: {"x": 0.7}, 2: {"x": 0.1}}
    rows = windows(trace, 100.0, 2, [1, 3, 9], lambda c: c["x"], configs)
    assert [r["started"] for r in rows] == [2, 1]
    assert rows[0]["reach"] == {1: 1.0, 3: 0.5, 9: 0.5}
    assert rows[1]["reach"] == {1: 1.0, 3: 1.0, 9: 1.0}
    assert [r["top_results"] for r in rows] == [1, 1]
    assert [r["best_top_regret"] for r in rows] == [0.3, 0.1]
    # a window where nothing starts and nothing finishes
    empty = windows(trace, 300.0, 3, [1, 3, 9])[2]
    assert empty["started"] == 0 and empty["reach"][9] is None and empty["top_results"] == 0


def test_top_agreement_is_kendalls_tau_over_the_best_at_the_top_by_hand() -> None:
    # 10 trials with values at 1 and 9; the best 8 at 9 are trials 0..7. Level 1 ranks trials
    # 0..3 as level 9 does and trials 4..7 in reverse order; trials 8, 9 (worst at 9) are left out
    top = {n: float(n) for n in range(10)}
    low = {0: 0.0, 1: 1.0, 2: 2.0, 3: 3.0, 4: 7.0, 5: 6.0, 6: 5.0, 7: 4.0, 8: -5.0, 9: -6.0}
    trace = [(1.0, n, 1, low[n]) for n in range(10)] + [(2.0, n, 9, top[n]) for n in range(10)]
    assert TOP_K == 8
    # pairs among 0..7: 28; discordant: the 6 pairs within 4..7; tau = (22 - 6) / 28
    assert top_agreement(trace, 2.0, [1, 9])[1] == pytest.approx(16 / 28)
    assert top_agreement(trace, 1.5, [1, 9])[1] is None  # no value at the top yet
    few = [e for e in trace if e[1] < 4]  # 4 pairs: too few
    assert top_agreement(few, 2.0, [1, 9])[1] is None


def test_a_real_runs_trace_matches_its_trials() -> None:
    bb = mf_branin()
    trials: list = []
    trace: list = []
    run_hpo(bb, "asha", 0, 2, 3600.0, trials_out=trials, trace_out=trace)
    last = {n: int(step) for n, _, step in trials}
    for n in last:  # a trial cut off by the time limit before its first epoch reported nothing
        assert max((e for _, t, e, _ in trace if t == n), default=0) == last[n]
    rows = windows(trace, 3600.0, 4, [1, 3, 9, 27])
    assert sum(r["started"] for r in rows) == sum(step > 0 for step in last.values()) > 20
    assert sum(r["top_results"] for r in rows) == sum(step == 27 for step in last.values())


def test_cli_rejects_unknown_methods_and_bad_seeds(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--methods", "optuna-gp"])
    assert "not hpo methods" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--seeds", "a,b"])
    assert "comma-separated integers" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--noise", "-0.1"])
    assert "--noise not negative" in capsys.readouterr().err


def test_gate_at_is_what_the_gated_searcher_sees_by_hand() -> None:
    # 12 trials of a 1-parameter space at epochs 1 and 3; level 3 ranks them in reverse (tau -1
    # over 12 trials pooled: 12 >= GATE_MIN, -1 < GATE_TAU), so gated leaves BOHB's level (3: the
    # highest with d + 1 = 2 results) for the maximum, 9
    low = [(1.0, n, 1, float(n)) for n in range(12)]
    rev = [(2.0, n, 3, float(-n)) for n in range(12)]
    same = [(2.0, n, 3, float(n)) for n in range(12)]
    assert gate_at(low + rev, 2.0, [1, 3, 9], 1) == pytest.approx((-1.0, 12, 3, 9))
    assert gate_at(low + same, 2.0, [1, 3, 9], 1) == pytest.approx((1.0, 12, 3, 3))
    # before level 3 has results: no pair of levels, BOHB's level is the lowest
    assert gate_at(low + rev, 1.5, [1, 3, 9], 1) == (None, 0, 1, 1)
    # 13 parameters: level 3's 12 results are fewer than d + 1, so BOHB's level is 1
    assert gate_at(low + same, 2.0, [1, 3, 9], 13)[2:] == (1, 1)
    assert windows(low + rev, 2.0, 2, [1, 3, 9], d=1)[1]["gate"] == pytest.approx((-1.0, 12, 3, 9))
