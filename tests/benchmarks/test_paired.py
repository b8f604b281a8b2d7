from __future__ import annotations

import json

import pytest

from benchmarks.compare import make_benchmark, regret_scale
from benchmarks.paired import bootstrap_mean, host_of, main

A = "host A (2 CPU cores), code of abc1234, 2026-12-05 (torch 2.13.0, numpy 2.4.6; Xeon)"


def test_host_of_keeps_the_machine_and_stack_not_the_code_or_date() -> None:
    assert host_of(A) == "host A (2 CPU cores) (torch 2.13.0, numpy 2.4.6; Xeon)"
    assert host_of(A.replace("abc1234, 2026-12-05", "def5678, 2026-12-06")) == host_of(A)
    # an origin recorded before the stack was, and a run resumed on another host
    assert host_of("dev (2 CPU cores), code of abc, 2026-12-04") == "dev (2 CPU cores)"
    # a code with a parenthesis of its own is not a stack
    unknown = "dev (2 CPU cores), code of an unknown commit (no git here; set HPO_RUNS_CODE)"
    assert host_of(f"{unknown}, 2026-12-04") == "dev (2 CPU cores)"
    assert (
        host_of(f"{unknown}, 2026-12-04 (numpy 2.4.6; Xeon)")
        == "dev (2 CPU cores) (numpy 2.4.6; Xeon)"
    )
    # a Syne Tune legacy search: the stack of the interpreter that ran it belongs to the host
    legacy = f"{A}; run by Python 3.12.1 with numpy 2.5.2, syne-tune 0.13.0"
    assert (
        host_of(legacy) == f"{host_of(A)}; run by Python 3.12.1 with numpy 2.5.2, syne-tune 0.13.0"
    )
    assert host_of(f"{legacy}; then {A}") == f"{host_of(legacy)}; then {host_of(A)}"
    both = "X (16 CPU cores), code of a, 2026-12-04; then Y (2 CPU cores), code of a, 2026-12-05"
    assert host_of(both) == "X (16 CPU cores); then Y (2 CPU cores)"


def test_bootstrap_mean_brackets_the_mean() -> None:
    assert bootstrap_mean([0.25] * 5) == (0.25, 0.25)
    lo, hi = bootstrap_mean([0.0, 1.0, 2.0, 3.0, 10.0])
    assert lo < 3.2 < hi
    # 0, 0, 4, 4: a resample's mean is the count of 4s drawn (binomial(4, 1/2): 0 to 4 with
    # weights 1/16, 4/16, 6/16, 4/16, 1/16), so the 10th percentile is 1 and the 90th is 3
    assert bootstrap_mean([0.0, 0.0, 4.0, 4.0], n=4000) == pytest.approx((1.0, 3.0))


def test_paired_table_by_hand(tmp_path, capsys) -> None:
    bb = make_benchmark("branin-mf")
    scale = regret_scale(bb)

    def traj(*regrets: float) -> list[list[float]]:  # one incumbent a minute
        return [[60.0 * (i + 1), bb.optimum + r * scale] for i, r in enumerate(regrets)]

    d = tmp_path / "branin-mf-w4-h1-n0"
    d.mkdir()
    runs = {  # seed 0 identical on one host; seed 1 differs, on two hosts; seed 2 only "a"
        ("a", 0): (traj(0.5, 0.1), A),
        ("b", 0): (traj(0.5, 0.1), A),
        ("a", 1): (traj(0.4, 0.2), A),
        ("b", 1): (traj(0.3, 0.05), A.replace("host A", "host B")),
        ("a", 2): (traj(0.3), A),
    }
    for (m, seed), (t, origin) in runs.items():
        (d / f"{m}-seed{seed}.json").write_text(
            json.dumps({"trajectory": t, "seconds": 1.0, "from": origin})
        )
    args = ["--benchmark", "branin-mf", "--hours", "1", "--seeds", "3", "--methods", "a,b"]
    assert main([*args, "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| 0 | yes | 0.1 | 0.1 | +0 | yes |" in out
    assert "| 1 | no | 0.2 | 0.05 | -0.15 | no: host A" in out
    assert "2 pairs, 1 identical, 1 not on one host" in out
    assert "mean difference -0.075" in out
    assert "b lower in 1, equal in 1, higher in 0" in out
    assert "| runs |" not in out
    # a second directory (another machine): its pairs are rows of their own, pooled in the summary
    d2 = tmp_path / "other" / d.name
    d2.mkdir(parents=True)
    for m, t in [("a", traj(0.2)), ("b", traj(0.4))]:
        (d2 / f"{m}-seed0.json").write_text(json.dumps({"trajectory": t, "from": A}))
    assert main([*args, "--runs-dir", str(tmp_path), "--runs-dir", str(tmp_path / "other")]) == 0
    out = capsys.readouterr().out
    assert f"| {tmp_path / 'other'} | 0 | no | 0.2 | 0.4 | +0.2 | yes |" in out
    assert f"| {tmp_path} | 1 | no | 0.2 | 0.05 | -0.15 |" in out
    assert "3 pairs, 1 identical" in out
    assert "b lower in 1, equal in 1, higher in 1" in out
    for bad, why in [
        (["--methods", "a,a"], "two different methods"),
        (["--seeds", "0"], "must be positive"),
        (["--runs-dir", str(tmp_path / "none")], "no stored runs"),  # the second of two
        (["--methods", "a,c"], "no seed below 3"),
    ]:
        argv = [*args, "--runs-dir", str(tmp_path), *bad]
        with pytest.raises(SystemExit):
            main(argv)
        assert why in capsys.readouterr().err
