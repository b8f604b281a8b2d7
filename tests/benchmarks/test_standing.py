"""benchmarks.standing: issue 7's summary table from stored runs, checked on hand-made runs whose
finals, best peer and speed-up are known in advance."""

from __future__ import annotations

import pytest

from benchmarks import compare, standing
from benchmarks.compare import SavedRuns

BENCH, HOURS, NOISE = "branin-mf", 8.0, 0.0
H = 3600.0


@pytest.fixture(scope="module")
def bb():
    return compare.make_benchmark(BENCH, NOISE)


def write(tmp_path, bb, method: str, seed: int, points: list[tuple[float, float]]) -> None:
    """Stores a run whose normalized regret is r from t hours on, for each (t, r)."""
    scale = compare.regret_scale(bb)
    traj = [(t * H, bb.optimum + r * scale) for t, r in points]
    SavedRuns(str(tmp_path), BENCH, standing.WORKERS, HOURS, NOISE).save(method, seed, (traj, 1.0))


@pytest.fixture
def runs(tmp_path, bb):
    """Two seeds each: hpo-mobster at 0.1 from 2 h and 0.05 from 4 h; optuna-gp (the best
    peer) at 0.1 from 6 h; optuna-tpe at 0.2; hpo-asha (not a peer) at 0; synetune-mobster with
    one seed of two; raytune-bohb unavailable."""
    for seed in range(2):
        write(tmp_path, bb, "hpo-mobster", seed, [(1, 0.5), (2, 0.1), (4, 0.05)])
        write(tmp_path, bb, "optuna-gp", seed, [(1, 0.3), (6, 0.1)])
        write(tmp_path, bb, "optuna-tpe", seed, [(1, 0.4), (3, 0.2)])
        write(tmp_path, bb, "hpo-asha", seed, [(1, 0.0)])
    write(tmp_path, bb, "synetune-mobster", 0, [(1, 0.0)])
    # a peer whose library could not run here: its seeds are stored as "unavailable"
    saved = SavedRuns(str(tmp_path), BENCH, standing.WORKERS, HOURS, NOISE)
    for seed in range(2):
        saved.save("raytune-bohb", seed, "ray is not installed")
    return tmp_path


def test_the_row_is_what_the_runs_say(runs) -> None:
    s = standing.standing(str(runs), BENCH, HOURS, NOISE, "hpo-mobster", 2, 200)
    assert s is not None
    assert s.final == pytest.approx(0.05)
    # hpo-asha ends at 0 but is not a peer; synetune-mobster has 1 seed of 2: reported, not compared
    assert (s.peer, s.peer_final) == ("optuna-gp", pytest.approx(0.1))
    assert s.partial == {"synetune-mobster": "1 finished", "raytune-bohb": "unavailable"}
    assert s.lowest
    # the peer's mean reaches 0.1 at 6 h, ours at 2 h; the seeds are alike, so every resample
    # gives the same ratio
    assert s.speedup == pytest.approx(3.0)
    assert s.fast
    assert s.band == (pytest.approx(3.0), pytest.approx(3.0))


def test_a_method_behind_the_best_peer(runs) -> None:
    s = standing.standing(str(runs), BENCH, HOURS, NOISE, "optuna-tpe", 2, 0)
    assert s is not None
    assert s.peer == "optuna-gp"  # the method itself is not its own peer
    assert not s.lowest  # 0.2 against 0.1
    assert s.speedup is None and not s.fast  # never at 0.1
    assert s.band is None  # no resamples asked for
    assert "not reached" in standing.row(s)


def test_missing_seeds_of_the_method(runs) -> None:
    assert standing.standing(str(runs), BENCH, HOURS, NOISE, "hpo-mobster", 3, 0) is None


def test_main_prints_the_table_and_the_tallies(runs, capsys) -> None:
    code = standing.main(
        [
            "--runs-dir",
            str(runs),
            "--seeds",
            "2",
            "--bootstrap",
            "50",
            "--benchmarks",
            "branin-mf,hartmann6-mf",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "| branin-mf | 0.0500 | optuna-gp, 0.1000 | yes | **3.00x** (3.00x to 3.00x) |" in out
    assert "synetune-mobster (1 finished)" in out
    assert "| hartmann6-mf | not every seed of hpo-mobster stored |" in out
    assert "lowest final: 1 of 1 (branin-mf)" in out
    assert "at most half its time: 1 of 1 (branin-mf)" in out


@pytest.mark.parametrize(
    "args",
    [
        ["--benchmarks", "mnist"],
        ["--seeds", "0"],
        ["--bootstrap", "-1"],
        ["--finished-only", "--so-far"],
    ],
)
def test_bad_arguments_are_one_line_errors(tmp_path, args, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        standing.main(["--runs-dir", str(tmp_path), *args])
    assert e.value.code == 2
    assert "error:" in capsys.readouterr().err
