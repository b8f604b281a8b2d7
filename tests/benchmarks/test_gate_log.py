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
        (99.0, 3.0, 0.8, 0.0, 9),  # second window
        (120.0, 3.0, 0.8, 0.0, 9),  # past the budget: counted in the last window
    ]
    rows = summarize(answers, limit_s=100.0, n_windows=2)
    assert [(r["level"], r["answers"]) for r in rows] == [(1.0, 3), (3.0, 2)]
    first = rows[0]
    assert first["window"] == (0.0, 50 / 3600)
    assert first["median z"] == pytest.approx(0.2 / sd5)
    assert first["share z > 0"] == pytest.approx(2 / 3)
    assert first["share z > 1"] == pytest.approx(1 / 3)
    assert rows[1]["window"] == (50 / 3600, 100 / 3600)
    assert rows[1]["median z"] == pytest.approx(0.8 / sd9)
    assert rows[1]["share z > 1"] == 1.0


def test_main_refuses_a_method_that_is_not_mobster(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--benchmark", "branin-mf", "--hours", "1", "--method", "hpo-asha"])
    assert e.value.code == 2
    assert "MOBSTER" in capsys.readouterr().err
