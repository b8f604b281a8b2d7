"""benchmarks.gate_log: the gate's answers summarized per level and window, by hand."""

import math

import pytest

pytest.importorskip("torch")

from hpo.schedulers.bo import tau_difference_sd  # noqa: E402

from benchmarks.gate_log import main, spread_z, summarize  # noqa: E402


def test_spread_z_is_the_difference_in_spreads_and_an_all_tied_rung_counts_as_zero():
    assert spread_z(0.6, 0.0, 5) == pytest.approx(0.6 / math.sqrt(1 / 3))
    assert spread_z(0.2, None, 9) == pytest.approx(0.2 / tau_difference_sd(9))
    assert spread_z(0.1, 0.5, 16) < 0


def test_summarize_counts_answers_per_level_and_window_with_the_shares_of_each_rule():
    sd5, sd9 = tau_difference_sd(5), tau_difference_sd(9)
    answers = [
        (10.0, 1.0, 0.4, 0.2, 5),  # z = 0.2 / sd5 = 0.35: the model under auto_z 0, not 1
        (20.0, 1.0, 1.0, -0.2, 5),  # z = 2.08: under both
        (40.0, 1.0, 0.0, 0.5, 9),  # z < 0: under neither
        (45.0, 1.0, -0.1, None, 9),  # an all-tied rung: the model's under 0 only
        (99.0, 3.0, 0.8, 0.0, 9),  # second window
        (120.0, 3.0, 0.8, 0.0, 9),  # past the budget: counted in the last window
    ]
    rows = summarize(answers, limit_s=100.0, n_windows=2)
    assert [(r["level"], r["answers"]) for r in rows] == [(1.0, 4), (3.0, 2)]
    first = rows[0]
    assert first["window"] == (0.0, 50 / 3600)
    z = sorted([0.2 / sd5, 1.2 / sd5, -0.5 / sd9, -0.1 / sd9])
    assert first["median z"] == pytest.approx((z[1] + z[2]) / 2)
    assert first["share z > 0"] == pytest.approx(3 / 4)
    assert first["share z > 1"] == pytest.approx(1 / 4)
    assert rows[1]["window"] == (50 / 3600, 100 / 3600)
    assert rows[1]["median z"] == pytest.approx(0.8 / sd9)
    assert rows[1]["share z > 1"] == 1.0


def test_main_refuses_a_method_that_is_not_mobster(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--benchmark", "branin-mf", "--hours", "1", "--method", "hpo-asha"])
    assert e.value.code == 2
    assert "MOBSTER" in capsys.readouterr().err


def test_record_keeps_each_levels_new_answers_timed_by_the_reports_made_by_then(monkeypatch):
    """``record`` wraps the searcher's ``held_out_agreement``: asked about two levels in turn
    (as the scheduler asks about every rung at each decision), it keeps an answer only where it
    differs from that level's last one, and times it by the simulated time of the
    ``report_revision``-th report of the run's trace."""
    from hpo.schedulers.bo import GPSearcher

    import benchmarks.compare as compare
    from benchmarks.gate_log import record

    script = {1.0: [(0.5, 0.1, 5), (0.5, 0.1, 5), (0.6, 0.1, 6)], 3.0: [(0.2, 0.3, 5)] * 3}

    def fake_agreement(self, history, level):
        return script[level][history.report_revision - 1]

    class FakeHistory:
        report_revision = 0

    def fake_run(bench, scheduler, seed, workers, limit_s, trials_out=None, trace_out=None):
        hist = FakeHistory()
        for k in range(3):
            hist.report_revision = k + 1
            for level in (1.0, 3.0):
                GPSearcher.held_out_agreement(None, hist, level)
        trace_out.extend([(30.0, 0, 1, 0.5), (10.0, 1, 1, 0.4), (20.0, 2, 1, 0.3)])

    monkeypatch.setattr(GPSearcher, "held_out_agreement", fake_agreement)
    monkeypatch.setattr(compare, "run_hpo", fake_run)
    got = record(None, "hpo-mobster", 0, 100.0)
    assert got == [
        (10.0, 1.0, 0.5, 0.1, 5),
        (10.0, 3.0, 0.2, 0.3, 5),
        (30.0, 1.0, 0.6, 0.1, 6),
    ]
    assert GPSearcher.held_out_agreement is fake_agreement  # unwrapped afterwards
