"""benchmarks.proposal_probe: the chosen variants' rows, real proposals, and bad variant names."""

from __future__ import annotations

import pytest

from benchmarks.proposal_probe import VARIANTS, main


def test_only_the_chosen_variants_are_probed(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--benchmark", "branin-mf", "--histories", "1", "--trials", "12"]
    assert main([*argv, "--variants", "warped,warped+gamma"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [r for r in out if r.startswith("| ") and not r.startswith("| variant")]
    names = [r.strip("|").split("|")[0].strip() for r in rows]
    assert names == ["warped", "warped+gamma"]
    for r in rows:
        mean_regret, _, _, cost = (float(c) for c in r.strip("|").split("|")[1:])
        # branin's regret is >= 0 at any point of the box; the cost is branin-mf's, positive
        assert mean_regret >= 0 and cost > 0


def test_unknown_variants_are_named_in_the_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert "warped+gamma" in VARIANTS
    with pytest.raises(SystemExit):
        main(["--variants", "warped,gamma"])
    err = capsys.readouterr().err
    assert "unknown variant(s) ['gamma']" in err and "warped+gamma" in err
    with pytest.raises(SystemExit):
        main(["--variants", " , "])
