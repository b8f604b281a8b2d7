"""benchmarks.basin_probe: Hartmann6's local minimum, and a probe that changes no proposal."""

import numpy as np
import pytest

pytest.importorskip("botorch")

from benchmarks import basin_probe, compare  # noqa: E402
from benchmarks.synthetic import HARTMANN6_ARGMIN, hartmann6, mf_hartmann6  # noqa: E402


def test_the_local_minimum_is_hartmann6s_second_one():
    x = basin_probe.local_minimum()
    assert hartmann6(x) == pytest.approx(-3.20316, abs=1e-4)  # its tabulated value
    assert np.allclose(x, [0.4047, 0.8824, 0.8461, 0.5740, 0.1389, 0.0385], atol=2e-3)
    # a minimum of its own, far from the global one
    assert np.linalg.norm(x - np.asarray(HARTMANN6_ARGMIN)) > 1.0
    for i in range(6):
        for step in (-1e-3, 1e-3):
            y = x.copy()
            y[i] = min(max(y[i] + step, 0.0), 1.0)
            assert hartmann6(y) >= hartmann6(x) - 1e-9


def test_the_probe_looks_without_changing_a_proposal(capsys):
    from hpo.surrogates import gp

    original, hours = gp.propose_log_ei, 0.15
    assert basin_probe.main(["--seed", "3", "--hours", str(hours), "--every", "2"]) == 0
    out = capsys.readouterr().out
    assert gp.propose_log_ei is original  # put back for what runs next in the process
    looks = [line for line in out.splitlines() if line.startswith("proposal")]
    assert looks and all("from the local min" in line for line in looks)
    bb = mf_hartmann6(noise=0.05, seed=3)
    traj = compare.run_hpo(bb, compare.hpo_scheduler("hpo-mobster"), 3, 4, hours * 3600)
    final = compare.regret_at(traj, hours * 3600, bb, compare.regret_scale(bb))
    assert f"normalized regret at {hours:g} h: {final:.4f}" in out


def test_bad_arguments_are_refused(capsys):
    with pytest.raises(SystemExit) as e:
        basin_probe.main(["--seed", "0", "--hours", "0"])
    assert e.value.code == 2 and "--hours" in capsys.readouterr().err


def test_a_design_row_measures_against_both_minima():
    glob, loc = np.asarray(HARTMANN6_ARGMIN), basin_probe.local_minimum()
    corner = np.zeros(6)
    r = basin_probe.design_row(np.array([corner, loc, glob + 0.01]))
    # the best of the three is the point 0.01 off the global minimum in every coordinate
    assert r["best_value"] == pytest.approx(hartmann6(glob + 0.01))
    assert r["best_value"] < hartmann6(loc) < hartmann6(corner)
    assert r["nearest_global"] == pytest.approx(0.01 * np.sqrt(6))
    assert r["best_to_global"] == pytest.approx(0.01 * np.sqrt(6))
    assert r["best_to_local"] == pytest.approx(np.linalg.norm(glob + 0.01 - loc))
    # with the local minimum alone, the best point is it
    r = basin_probe.design_row(np.array([corner, loc]))
    assert r["best_to_local"] == pytest.approx(0.0, abs=1e-12)
    assert r["best_to_global"] == pytest.approx(np.linalg.norm(loc - glob))


def test_the_initial_design_is_what_mobster_proposes_first():
    from hpo.schedulers import make_scheduler

    design = basin_probe.initial_design(10)
    assert design.shape == (10, 6) and ((design >= 0) & (design <= 1)).all()
    assert not np.allclose(design, basin_probe.initial_design(11))
    # the default MOBSTER on a hartmann6-mf study proposes these, in order, for its first trials
    from hpo.history import History

    study = basin_probe.hartmann_study({"seed": 10})
    got = make_scheduler(study).searcher.propose(History(study), [], 10)
    assert np.allclose(design, [basin_probe.unit_row(c) for c in got])


def test_designs_prints_one_row_per_seed(capsys):
    assert basin_probe.main(["--designs", "2"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line[:4] in ("| 0 ", "| 1 ")]
    assert len(rows) == 2
    r = basin_probe.design_row(basin_probe.initial_design(1))
    assert rows[1] == (
        f"| 1 | {r['nearest_global']:.2f} | {r['best_value']:.2f} | "
        f"{r['best_to_global']:.2f} | {r['best_to_local']:.2f} |"
    )


def test_where_counts_the_proposals_and_changes_none(capsys):
    from hpo.schedulers import bo

    original, hours = bo.GPSearcher.propose, 0.3
    assert basin_probe.main(["--seed", "13", "--hours", str(hours), "--where"]) == 0
    out = capsys.readouterr().out
    assert bo.GPSearcher.propose is original
    bb = compare.make_benchmark("hartmann6-mf", 0.05)  # the comparison's, as the stored runs
    traj = compare.run_hpo(bb, compare.hpo_scheduler("hpo-mobster"), 13, 4, hours * 3600)
    final = compare.regret_at(traj, hours * 3600, bb, compare.regret_scale(bb))
    assert f"normalized regret at {hours:g} h {final:.4f}" in out
    # seed 13's design has a point 0.21 from the global minimum (--designs); with 4 workers two
    # more Sobol' points go out before 10 trials have results
    assert "initial design (12): least distance from the global min 0.21" in out
    windows = [line for line in out.splitlines() if line.startswith("model proposals 1-")]
    assert len(windows) == 1
