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
