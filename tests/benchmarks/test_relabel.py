"""benchmarks.relabel: stored runs move to the method whose settings they were made with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.compare import SavedRuns, StaleRun, run_settings
from benchmarks.relabel import main, relabel


def _store(d: Path, method: str, seed: int, settings: dict | None, value: float) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    data = {"trajectory": [[1.0, value]], "seconds": 2.0, "from": "here, code of abc"}
    if settings is not None:
        data["settings"] = settings
    path = d / f"{method}-seed{seed}.json"
    path.write_text(json.dumps(data))
    return path


def test_the_old_defaults_runs_move_and_the_new_defaults_runs_are_copied(tmp_path, capsys):
    """The forty-third session's switch: hpo-mobster's stored runs (skip_repeats false) become
    hpo-mobster-rep's and hpo-mobster-norep's (true) are copied to hpo-mobster, where they load
    as its runs; what matches neither is left in place, and nothing is overwritten."""
    d = tmp_path / "branin-mf-w4-h1-n0"
    rep, norep = run_settings("hpo-mobster-rep"), run_settings("hpo-mobster-norep")
    _store(d, "hpo-mobster", 0, rep, 0.5)
    _store(d, "hpo-mobster", 1, {**rep, "eta": 4}, 0.6)  # another setting: not rep's
    _store(d, "hpo-mobster", 2, None, 0.7)  # before settings were recorded
    _store(d, "hpo-mobster-norep", 0, norep, 0.25)
    _store(d, "hpo-mobster-norep", 1, norep, 0.3)
    _store(d, "hpo-mobster-norep-x", 0, norep, 0.9)  # another method's name
    runs = SavedRuns(str(tmp_path), "branin-mf", 4, 1.0, 0.0, read_only=True)
    with pytest.raises(StaleRun, match="skip_repeats=False, but hpo-mobster now runs"):
        runs.load("hpo-mobster", 0)

    with pytest.raises(SystemExit):
        main(["--runs-dir", str(tmp_path), "--source", "hpo-mobster", "--target", "x"])
    assert "not one of hpo's methods" in capsys.readouterr().err
    args = ["--runs-dir", str(tmp_path), "--source", "hpo-mobster", "--target", "hpo-mobster-rep"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "hpo-mobster-seed0.json: moved to hpo-mobster-rep-seed0.json" in out
    assert "hpo-mobster-seed1.json: left: " in out and "eta=4" in out
    assert "hpo-mobster-seed2.json: left: made before" in out
    assert not (d / "hpo-mobster-seed0.json").exists()
    moved = json.loads((d / "hpo-mobster-rep-seed0.json").read_text())
    assert moved["trajectory"] == [[1.0, 0.5]] and moved["settings"] == rep
    assert moved["from"] == "here, code of abc"
    assert moved["relabelled"].startswith("stored as hpo-mobster until ")
    assert runs.load("hpo-mobster-rep", 0) == ([(1.0, 0.5)], 2.0)

    (d / "hpo-mobster-seed1.json").unlink()
    (d / "hpo-mobster-seed2.json").unlink()
    args = ["--runs-dir", str(tmp_path), "--source", "hpo-mobster-norep"]
    assert main([*args, "--target", "hpo-mobster", "--copy"]) == 0
    capsys.readouterr()
    for seed, value in ((0, 0.25), (1, 0.3)):
        assert runs.load("hpo-mobster", seed) == ([(1.0, value)], 2.0)  # true is what auto is
        assert runs.load("hpo-mobster-norep", seed) == ([(1.0, value)], 2.0)  # kept
    assert "(copied)" in json.loads((d / "hpo-mobster-seed0.json").read_text())["relabelled"]
    # again: every target exists, nothing is overwritten, and nothing moved is an error
    assert main([*args, "--target", "hpo-mobster", "--copy"]) == 1
    assert "left: hpo-mobster-seed0.json exists" in capsys.readouterr().out
    assert [p.name for p in d.glob("hpo-mobster-norep-x-*")] == ["hpo-mobster-norep-x-seed0.json"]
    assert relabel(tmp_path, "hpo-mobster-rep", "hpo-mobster") == [
        (d / "hpo-mobster-rep-seed0.json", "left: hpo-mobster-seed0.json exists", False)
    ]
