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


def _asha_study(tmp_path: Path, max_trials: int) -> tuple[hpo.Client, hpo.Study]:
    """An ASHA study over x in [0, 1], epochs 1 to 9 (rungs 1, 3, 9 at eta 3)."""
    c = hpo.Client(f"sqlite:///{tmp_path / 'db'}")
    s = c.create_study(
        "asha",
        {"x": hpo.Float(0, 1)},
        "loss",
        fidelity={"name": "epoch", "min": 1, "max": 9},
        scheduler="asha",
        budget={"max_trials": max_trials},
    )
    return c, s


def test_asha_pauses_and_resumes_a_function_trial_from_its_checkpoint(tmp_path: Path) -> None:
    c, s = _asha_study(tmp_path, 12)
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


def test_asha_pauses_and_resumes_with_two_workers_while_the_other_runs(tmp_path: Path) -> None:
    """Two workers, first reports forced into trial order (each waits for the previous one's,
    and trial 2's for trial 3 to start), so the first rung goes as in the paper's Algorithm 2
    whatever the machine's load: trials 0, 1 and 2 pause at epoch 1, and when trial 2 pauses,
    trial 0 (the best of three) is promoted and resumed from its checkpoint on the freed worker
    while trial 3 holds the other one."""
    import threading

    c, s = _asha_study(tmp_path, 9)
    base = [0.1, 0.5, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6]
    first_report = [threading.Event() for _ in base]
    three_started, zero_resumed = threading.Event(), threading.Event()
    lock = threading.Lock()
    running: set[int] = set()
    # per run of a trial: (trial, first epoch, last epoch, the trials running when it started)
    runs: list[tuple[int, int, int, frozenset[int]]] = []

    def wait(event: threading.Event) -> None:
        assert event.wait(60), "the forced order of reports did not happen"

    def train(t: hpo.trial.TrialContext) -> None:
        ck = t.checkpoint_dir / "ck.json"
        epoch = start = json.loads(ck.read_text())["epoch"] if t.resume and ck.exists() else 0
        with lock:
            assert t.number not in running, "a trial ran on two workers at once"
            others = frozenset(running)
            running.add(t.number)
        try:
            if t.resume and t.number == 0:
                zero_resumed.set()
            if t.number == 3:
                three_started.set()
            while True:
                epoch += 1
                ck.write_text(json.dumps({"epoch": epoch}))
                first = epoch == 1
                if first and t.number > 0:
                    wait(first_report[t.number - 1])
                if first and t.number == 2:
                    wait(three_started)  # so the worker trial 2 frees is the one to resume 0
                if first and t.number == 3:
                    wait(zero_resumed)  # trial 3 holds its worker while trial 0 resumes
                d = t.report(epoch, loss=base[t.number] + 1 / epoch)
                if first:
                    first_report[t.number].set()
                if d is not hpo.Decision.CONTINUE:
                    return
        finally:
            with lock:
                running.discard(t.number)
                runs.append((t.number, start, epoch, others))

    c.run(s, train, n_workers=2, progress=False, runs_dir=str(tmp_path / "runs"))
    h = c.history(s)
    assert len(h.trials()) == 9
    assert all(t.state in (S.COMPLETED, S.STOPPED) for t in h.trials())
    per_trial = {n: [r for r in runs if r[0] == n] for n in range(9)}
    for n in (0, 1, 2):  # paused at the first rung: n results there, floor(n / 3) = 0 promoted
        assert per_trial[n][0][1:3] == (0, 1)
    resumed = per_trial[0][1]
    assert resumed[1] == 1  # from its checkpoint at the rung where it paused
    assert 3 in resumed[3], runs  # while trial 3 held the other worker
    for n, rs in per_trial.items():  # every later run starts where the one before stopped
        assert all(b[1] == a[2] for a, b in zip(rs, rs[1:], strict=False)), (n, rs)
    # 9 at epoch 1, floor(9 / 3) = 3 at epoch 3, floor(3 / 3) = 1 to the end: trial 0 (lowest)
    assert [t.number for t in h.trials() if t.last_step == 9] == [0]


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
        "acquisition_fidelity": "bohb",
        "promote_by": "auto",
        "auto_min": 5,
        "auto_z": 1.0,
        "skip_repeats": "auto",
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

    # a study created while an older default held stored it, and keeps it under the new one:
    # acquisition_fidelity "max" (before "bohb") and promote_by "score" (before "auto")
    def reopened_scheduler(name, **old):
        c.create_study(
            name,
            {"x": hpo.Float(0, 1)},
            "loss",
            fidelity=fid,
            scheduler="mobster",
            scheduler_params={**pinned, **old},
        )
        storage = hpo.Client(url).storage
        return Coordinator(storage, storage.get_study(name)).scheduler

    older = reopened_scheduler("m-max", acquisition_fidelity="max")
    assert older.searcher.acquisition_fidelity == "max"
    assert reopened_scheduler("m-score", promote_by="score").promote_by == "score"
    assert reopened_scheduler("m-min8", auto_min=8).model.auto_min == 8
    assert reopened_scheduler("m-z0", auto_z=0).model.auto_z == 0
    assert reopened_scheduler("m-rep", skip_repeats=False).skip_repeats is False
    now = Coordinator(c.storage, s).scheduler
    assert (now.searcher.acquisition_fidelity, now.promote_by) == ("bohb", "auto")
    assert (now.model.auto_min, now.model.auto_z, now.skip_repeats) == (5, 1.0, True)
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
    assert spec.scheduler.params == {"random_fraction": 0.2}  # the storage pins the rest
    assert c.storage.create_study(spec).scheduler.params == {
        "random_fraction": 0.2,
        "output_warping": False,
        "brackets": 1,
        "lengthscale_prior": "gamma",
        "initial_design": "sobol",
        "noise_prior": "none",  # both patched defaults above
        "acquisition_fidelity": "bohb",
        "promote_by": "auto",
        "auto_min": 5,
        "auto_z": 1.0,
        "skip_repeats": "auto",
    }


def test_a_study_stored_before_a_param_was_pinned_keeps_its_search(tmp_path: Path) -> None:
    """A stored study without a pinned param (an older release stored it) searches on with that
    param's value from before it was pinned, not with today's default: a mobster study from
    before auto_z (session 32) ranks its rungs with auto_z 0 after a restart, not 1.0."""
    pytest.importorskip("botorch")
    import sqlalchemy as sa
    from hpo.schedulers import SCHEDULERS

    from hpo.coordinator import Coordinator
    from hpo.storage.schema import studies

    for cls in set(SCHEDULERS.values()):
        assert set(cls.legacy) == set(cls.pinned), cls.name
    url = f"sqlite:///{tmp_path / 'db'}"
    c = hpo.Client(url)
    fid = {"name": "epoch", "min": 1, "max": 9}
    space = {"x": hpo.Float(0, 1), "y": hpo.Float(0, 1)}
    c.create_study("m", space, "loss", fidelity=fid, scheduler="mobster")
    c.create_study("b", space, "loss", scheduler="bo", scheduler_params={"n_initial": 4})

    def store_as_older_release(name: str, *dropped: str) -> None:
        with c.storage.engine.begin() as conn:
            row = conn.execute(sa.select(studies).where(studies.c.name == name)).one()
            spec = json.loads(json.dumps(row.spec))
            for p in dropped:
                spec["scheduler"]["params"].pop(p, None)
            conn.execute(sa.update(studies).where(studies.c.id == row.id).values(spec=spec))

    # session 32's mobster stored everything up to auto_min; bo before 31975f0 had no design
    store_as_older_release("m", "auto_z")
    store_as_older_release("b", "initial_design")
    restarted = hpo.Client(url).storage
    m = restarted.get_study("m")
    assert m.scheduler.params["auto_z"] == 0.0
    assert Coordinator(restarted, m).scheduler.model.auto_z == 0.0
    b = restarted.get_study("b")
    assert b.scheduler.params == {
        "n_initial": 4,
        "random_fraction": 0.0,
        "output_warping": False,
        "lengthscale_prior": "dim_scaled",
        "initial_design": "random",
        "noise_prior": "lognormal",
    }
    assert Coordinator(restarted, b).scheduler.searcher.initial_design == "random"
    # a study stored before any pinning (no pinned key at all) gets every one's older value
    store_as_older_release("m", *SCHEDULERS["mobster"].pinned)
    old = Coordinator(restarted, restarted.get_study("m")).scheduler
    assert (old.promote_by, old.searcher.acquisition_fidelity) == ("score", "max")
    assert (old.searcher.initial_design, old.searcher.lengthscale_prior) == ("random", "dim_scaled")
    assert old.skip_repeats is False  # repeated curves kept, as before "auto" (session 43)
    # a study stored now keeps today's values, whichever path stored it
    spec = hpo.client.study_spec("n", space, "loss", fidelity=fid, scheduler="mobster")
    assert spec.scheduler.params == {}
    now = restarted.create_study(spec)
    assert (now.scheduler.params["auto_z"], now.scheduler.params["promote_by"]) == (1.0, "auto")


def test_a_study_stored_with_a_float_seed_runs_on_with_the_seed_it_had(tmp_path: Path) -> None:
    """A float seed, or one above 2**32 - 1, is refused at creation now; older releases stored
    them (and truncated a float), so a stored one still loads, asks and proposes as it did (seed
    1.7 ran as seed 1)."""
    import sqlalchemy as sa

    from hpo.coordinator import Coordinator
    from hpo.errors import InvalidStudy
    from hpo.storage.schema import studies

    url = f"sqlite:///{tmp_path / 'db'}"
    c = hpo.Client(url)
    space = {"x": hpo.Float(0, 1)}
    with pytest.raises(InvalidStudy, match="seed"):
        c.create_study("bad", space, "loss", scheduler="random", scheduler_params={"seed": 1.7})
    for name, seed in (("old", 1), ("one", 1)):
        c.create_study(name, space, "loss", scheduler="random", scheduler_params={"seed": seed})
    with c.storage.engine.begin() as conn:  # what an older release stored for seed 1.7
        row = conn.execute(sa.select(studies).where(studies.c.name == "old")).one()
        spec = json.loads(json.dumps(row.spec))
        spec["scheduler"]["params"]["seed"] = 1.7
        conn.execute(sa.update(studies).where(studies.c.id == row.id).values(spec=spec))
    restarted = hpo.Client(url).storage
    old = restarted.get_study("old")
    assert old.scheduler.params["seed"] == 1
    got = [Coordinator(restarted, restarted.get_study(n)).ask("w").config for n in ("old", "one")]
    assert got[0] == got[1]
    # a seed above today's range (a millisecond timestamp) that a stored study ran with: it runs on
    with pytest.raises(InvalidStudy, match="seed"):
        c.create_study("ts", space, "loss", scheduler="random", scheduler_params={"seed": 2**40})
    c.create_study("ts", space, "loss", scheduler="random", scheduler_params={"seed": 1})
    with c.storage.engine.begin() as conn:
        row = conn.execute(sa.select(studies).where(studies.c.name == "ts")).one()
        spec = json.loads(json.dumps(row.spec))
        spec["scheduler"]["params"]["seed"] = 1_700_000_000_000
        conn.execute(sa.update(studies).where(studies.c.id == row.id).values(spec=spec))
    ts = restarted.get_study("ts")
    assert Coordinator(restarted, ts).ask("w") is not None


@pytest.mark.parametrize(
    "metadata", [{"a": float("nan")}, {"a": float("inf")}, {"a": (1, 2)}, {1: "x"}, {"a": {1, 2}}]
)
def test_metadata_that_json_would_change_is_refused(tmp_path: Path, metadata) -> None:
    """It is stored as JSON: a NaN would come back as null, a tuple as a list, 1 as "1"."""
    from hpo.errors import InvalidStudy

    c = hpo.Client(f"sqlite:///{tmp_path / 'db'}")
    with pytest.raises(InvalidStudy, match="metadata must be plain JSON"):
        c.create_study("m", {"x": hpo.Float(0, 1)}, "loss", metadata=metadata)
    kept = {"note": "ok", "xs": [1, 2.5, {"k": None}]}
    assert c.create_study("m", {"x": hpo.Float(0, 1)}, "loss", metadata=kept).metadata == kept
