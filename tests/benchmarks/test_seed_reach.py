"""benchmarks.seed_reach on hand-made runs: per-seed times to the target and the mean curve's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.compare import make_benchmark, regret_scale
from benchmarks.seed_reach import main


def _store(folder: Path, method: str, runs: list[list[tuple[float, float]]]) -> None:
    """Runs as ``benchmarks.compare`` stores them, from (time, normalized regret) pairs."""
    bb = make_benchmark("branin-mf")
    scale = regret_scale(bb)
    for seed, run in enumerate(runs):
        traj = [(t, bb.optimum + r * scale) for t, r in run]
        run_file = folder / f"{method}-seed{seed}.json"
        run_file.write_text(json.dumps({"trajectory": traj, "seconds": 1.0}))


def test_seed_reach_times_against_the_best_peers_final(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "branin-mf-w4-h1-n0"
    folder.mkdir()
    # a peer whose mean curve is 0.02 from 2700 s on (seed 0 at 0.03, seed 1 at 0.01), and a
    # worse one (0.5): the target is the first peer's final, 0.02, reached by it at 2700 s
    _store(folder, "optuna-gp", [[(1800, 0.03)], [(2700, 0.01)]])
    _store(folder, "optuna-tpe-hyperband", [[(900, 0.5)], [(900, 0.5)]])
    # seed 0 reaches 0.02 at 1800 s, seed 1 at 450 s; their mean (0.01 + 0.015) / 2 at 1800 s
    _store(folder, "hpo-mobster", [[(900, 0.5), (1800, 0.01)], [(450, 0.015)]])
    args = ["--benchmark", "branin-mf", "--hours", "1", "--method", "hpo-mobster"]
    assert main([*args, "--seeds", "2", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "target optuna-gp's final 0.0200" in out
    rows = [
        line for line in out.splitlines() if line.startswith("| 0 |") or line.startswith("| 1 |")
    ]
    assert rows[0].endswith("| 0.50 |") and rows[1].endswith("| 0.12 |")
    # at 1/8 of the hour (450 s) seed 0 has no result yet (inf), seed 1 is at 0.015
    assert rows[0].split(" | ")[1] == "inf" and rows[1].split(" | ")[1] == "0.0150"
    # half the peer's 0.75 h is 0.375 h: only seed 1 is at the target by then
    assert "mean curve at the target: 0.50 h" in out
    assert "the peer's own time 0.75 h, half of it 0.38 h, by which 1 of 2 seeds" in out

    # a fixed target: seed 0 never gets to 0.005, so neither does the mean curve
    assert main([*args, "--seeds", "2", "--runs-dir", str(tmp_path), "--target", "0.005"]) == 0
    out = capsys.readouterr().out
    assert "| never |" in out and "mean curve at the target: never" in out

    with pytest.raises(SystemExit):  # seed 2 is not stored
        main([*args, "--seeds", "3", "--runs-dir", str(tmp_path)])
