"""hpo.run and the Client with trial functions in threads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hpo
from hpo.model import TrialState as S


def test_run_with_a_function_finds_the_minimum_region(tmp_path: Path) -> None:
    c = hpo.Client(f"sqlite:///{tmp_path / 'db'}")
    s = c.create_study("quad", {"x": hpo.Float(-3, 3)}, "loss", budget={"max_trials": 30})
    summary = c.run(
        s,
        lambda t: (t.config["x"] - 1.0) ** 2,
        n_workers=3,
        progress=False,
        runs_dir=str(tmp_path / "runs"),
    )
    assert summary.counts == {"completed": 30}
    best = c.best_trial(s)
    assert abs(best.trial.config["x"] - 1.0) < 0.5
    assert best.values["loss"] == pytest.approx((best.trial.config["x"] - 1.0) ** 2)


def test_asha_pauses_and_resumes_a_function_trial_from_its_checkpoint(tmp_path: Path) -> None:
    c = hpo.Client(f"sqlite:///{tmp_path / 'db'}")
    s = c.create_study(
        "asha",
        {"x": hpo.Float(0, 1)},
        "loss",
        fidelity={"name": "epoch", "min": 1, "max": 9},
        scheduler="asha",
        budget={"max_trials": 12},
    )
    starts: dict[int, list[int]] = {}

    def train(t: hpo.trial.TrialContext) -> None:
        ck = t.checkpoint_dir / "ck.json"
        epoch = json.loads(ck.read_text())["epoch"] if t.resume and ck.exists() else 0
        starts.setdefault(t.number, []).append(epoch)
        while True:
            epoch += 1
            ck.write_text(json.dumps({"epoch": epoch}))
            if t.report(epoch, loss=t.config["x"] + 1 / epoch) is not hpo.Decision.CONTINUE:
                return

    # one worker: the order of reports, so which trials pause and which are promoted in place,
    # is the same on every run (with two, a loaded machine once promoted every trial in place)
    c.run(s, train, n_workers=1, progress=False, runs_dir=str(tmp_path / "runs"))
    h = c.history(s)
    assert all(t.state in (S.COMPLETED, S.STOPPED) for t in h.trials())
    resumed = [t for t in h.trials() if t.resumes]
    assert resumed
    for t in resumed:  # every resumed run started from the checkpoint of its pause
        assert starts[t.number][0] == 0 and all(x > 0 for x in starts[t.number][1:])
    assert max(t.last_step for t in h.trials()) == 9


def test_a_raising_function_fails_its_trial_with_the_traceback(tmp_path: Path) -> None:
    c = hpo.Client(f"sqlite:///{tmp_path / 'db'}")
    s = c.create_study("boom", {"x": hpo.Float(0, 1)}, "loss", budget={"max_trials": 4})

    def f(t: hpo.trial.TrialContext) -> float:
        if t.number == 1:
            raise ValueError("bad batch")
        return t.config["x"]

    summary = c.run(s, f, progress=False, runs_dir=str(tmp_path / "runs"))
    assert summary.counts == {"completed": 3, "failed": 1}
    (failed,) = c.trials(s, ["failed"])
    assert "ValueError: bad batch" in failed.error


def test_multi_objective_pareto_front_keeps_only_non_dominated_trials(tmp_path: Path) -> None:
    c = hpo.Client(f"sqlite:///{tmp_path / 'db'}")
    s = c.create_study(
        "mo",
        {"x": hpo.Float(0, 1)},
        [{"name": "loss", "mode": "min"}, {"name": "acc", "mode": "max"}],
        budget={"max_trials": 4},
    )
    points = [(1.0, 0.5), (0.5, 0.5), (0.5, 0.9), (0.2, 0.1)]
    for loss, acc in points:
        a = c.ask(s)
        c.tell(s, a.trial_id, {"loss": loss, "acc": acc})
    front = sorted((r.values["loss"], r.values["acc"]) for r in c.pareto_front(s))
    assert front == [(0.2, 0.1), (0.5, 0.9)]


def test_a_new_study_stores_the_defaults_that_may_change(tmp_path: Path, monkeypatch) -> None:
    """mobster's random_fraction and output_warping defaults are written into the stored params,
    so a study keeps searching as it was created after a release changes those defaults."""
    pytest.importorskip("botorch")
    from hpo.schedulers.bo import MOBSTER

    from hpo.coordinator import Coordinator
    from hpo.sweepfile import load_sweep

    url = f"sqlite:///{tmp_path / 'db'}"
    c = hpo.Client(url)
    fid = {"name": "epoch", "min": 1, "max": 9}
    s = c.create_study("m", {"x": hpo.Float(0, 1)}, "loss", fidelity=fid, scheduler="mobster")
    pinned = {
        "random_fraction": "auto",
        "output_warping": True,
        "brackets": 1,
        "lengthscale_prior": "gamma",
        "initial_design": "sobol",
        "noise_prior": "lognormal",
        "acquisition_fidelity": "max",
    }
    assert s.scheduler.params == pinned
    mine = c.create_study(
        "m2",
        {"x": hpo.Float(0, 1)},
        "loss",
        fidelity=fid,
        scheduler="mobster",
        scheduler_params={"output_warping": False},
    )
    assert mine.scheduler.params == {**pinned, "output_warping": False}
    asha = c.create_study("a", {"x": hpo.Float(0, 1)}, "loss", fidelity=fid, scheduler="asha")
    assert asha.scheduler.params == {}
    # a later release turns the default off: the stored study still warps, a new one does not
    monkeypatch.setitem(MOBSTER.__init__.__kwdefaults__, "output_warping", False)
    stored = hpo.Client(url).storage.get_study("m")
    assert Coordinator(hpo.Client(url).storage, stored).scheduler.searcher.output_warping is True
    later = c.create_study("m3", {"x": hpo.Float(0, 1)}, "loss", fidelity=fid, scheduler="mobster")
    assert later.scheduler.params["output_warping"] is False
    # the same for the noise prior, a default being measured for a change
    monkeypatch.setitem(MOBSTER.__init__.__kwdefaults__, "noise_prior", "none")
    assert Coordinator(hpo.Client(url).storage, stored).scheduler.searcher.noise_prior == (
        "lognormal"
    )
    newer = c.create_study("m4", {"x": hpo.Float(0, 1)}, "loss", fidelity=fid, scheduler="mobster")
    assert newer.scheduler.params["noise_prior"] == "none"
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        "name: s\ncommand: python train.py {x}\nspace:\n  x: {type: float, low: 0, high: 1}\n"
        "objective: {name: loss, mode: min}\nfidelity: {name: epoch, min: 1, max: 9}\n"
        "scheduler: {name: mobster, random_fraction: 0.2}\nbudget: {max_trials: 5}\n"
    )
    _, spec = load_sweep(sweep)
    assert spec.scheduler.params == {
        "random_fraction": 0.2,
        "output_warping": False,
        "brackets": 1,
        "lengthscale_prior": "gamma",
        "initial_design": "sobol",
        "noise_prior": "none",  # both patched defaults above
        "acquisition_fidelity": "max",
    }
