"""benchmarks.boundary: parameters on the box's bounds, counted by hand, and a real run."""

from __future__ import annotations

import pytest

from benchmarks.boundary import at_bounds, main, summary

SPACE = {
    "a": {"low": 0.0, "high": 2.0},
    "b": {"low": -1.0, "high": 1.0},
    "c": {"type": "categorical", "choices": ["x", "y"]},  # no range: never on a bound
}


def test_at_bounds_and_the_summary_by_hand() -> None:
    assert at_bounds({"a": 2.0, "b": 0.3, "c": "x"}, SPACE) == ["a"]
    assert at_bounds({"a": 0.0, "b": -1.0, "c": "y"}, SPACE) == ["a", "b"]
    assert at_bounds({"a": 1.0, "b": 1.0 - 1e-9}, SPACE) == ["b"]  # within 1e-6 of the range
    assert at_bounds({"a": 1.0, "b": 0.999}, SPACE) == []
    s = summary(
        [{"a": 2.0, "b": 0.3}, {"a": 0.0, "b": -1.0}, {"a": 1.0, "b": 0.0}, {"a": 2.0, "b": 1.0}],
        SPACE,
    )
    assert (s["n"], s["any"], s["corner"]) == (4, 3, 2)
    assert s["by_param"] == {"a": 3, "b": 2}


def test_random_search_puts_nothing_on_the_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    import logging
    import warnings

    argv = ["--benchmark", "branin-mf", "--hours", "2", "--methods", "hpo-random"]
    disabled, filters = logging.root.manager.disable, list(warnings.filters)
    assert main([*argv, "--seeds", "0", "--skip", "0"]) == 0
    # it silenced logging and warnings while it ran, and not for what runs after it in-process
    assert logging.root.manager.disable == disabled and warnings.filters == filters
    row = next(r for r in capsys.readouterr().out.splitlines() if r.startswith("| hpo-random"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    trials = int(cells[3])
    assert trials > 10 and cells[4] == f"0 of {trials}" and cells[5] == "0"
    assert 0 < float(cells[2]) < 1  # true normalized regret of the incumbent


def test_cli_rejects_peers_and_negative_skip(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--methods", "optuna-gp"])
    assert "not hpo methods" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--skip", "-1"])
    assert "--skip" in capsys.readouterr().err
