"""AdaptiveBatchTrainer: schedules applied, noise scale measured, reports reach a real study."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hpo.batch_size import AdaptiveBatchTrainer, NoiseScaleController, Schedule

import hpo
from tests.batch_size.ddp_common import TensorData
from tests.batch_size.linreg import closed_form, problem, sample


def _regression(n=4096, seed=0):
    w_star, w = problem(seed)
    x, y = sample(n, w_star, torch.Generator().manual_seed(seed + 1))
    return w_star, w, TensorData(x, y)


def _model(w):
    m = torch.nn.Linear(w.numel(), 1, bias=False).double()
    with torch.no_grad():
        m.weight.copy_(w.unsqueeze(0))
    return m


def _loss(model, batch):
    x, y = batch
    return 0.5 * (model(x).squeeze(-1) - y).pow(2).mean()


def test_schedule_sets_batch_accumulation_and_lr_per_step():
    _, w, data = _regression()
    model = _model(w)
    opt = torch.optim.SGD(model.parameters(), lr=123.0)
    sched = Schedule.constant(32, 0.01, max_micro_batch=8, warmup_steps=4)
    trainer = AdaptiveBatchTrainer(model, opt, data, _loss, schedule=sched)
    results = [trainer.step() for _ in range(6)]
    assert [r.lr for r in results] == pytest.approx([0.0, 0.0025, 0.005, 0.0075, 0.01, 0.01])
    assert all(
        (r.batch_size, r.micro_batch_size, r.accumulation_steps) == (32, 8, 4) for r in results
    )
    assert results[-1].examples == 6 * 32
    assert opt.param_groups[0]["lr"] == 0.01


def test_trainer_measures_the_closed_form_noise_scale_at_fixed_weights():
    w_star, w, data = _regression(n=20000)
    _, _, b_true = closed_form(w_star, w)
    model = _model(w)
    opt = torch.optim.SGD(model.parameters(), lr=1e-12)  # weights stay put
    sched = Schedule.constant(64, 1e-12, max_micro_batch=8)
    trainer = AdaptiveBatchTrainer(
        model, opt, data, _loss, schedule=sched, beta=1.0, measure_mode="exact"
    )
    for _ in range(1500):
        r = trainer.step()
    assert r.b_noise == pytest.approx(b_true, rel=0.05)
    assert r.b_noise_std < 0.05 * b_true


def test_controller_grows_the_batch_as_training_reduces_the_gradient():
    # As w approaches w*, |G|^2 = |r|^2 shrinks and B_simple = (d+1) + d sigma^2/|r|^2 grows.
    _, w, data = _regression(n=8192)
    model = _model(w)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    ctl = NoiseScaleController(
        base_batch=8,
        base_lr=0.05,
        max_batch=512,
        lr_rule="linear",
        max_micro_batch=4,
        min_observations=5,
    )
    ctl.base_lr = 0.05
    trainer = AdaptiveBatchTrainer(model, opt, data, _loss, controller=ctl, beta=0.9)
    results = [trainer.step() for _ in range(300)]
    sizes = [r.batch_size for r in results]
    assert sizes == sorted(sizes) and sizes[-1] > 8
    assert len(ctl.schedule.phases) >= 2
    assert results[-1].lr == pytest.approx(0.05 * sizes[-1] / 8)
    assert opt.param_groups[0]["lr"] == pytest.approx(results[-1].lr)
    # Never above the noise scale measured so far (fraction 1); full micro-batches of 4.
    assert sizes[-1] <= max(r.b_noise for r in results)
    assert all(r.micro_batch_size == 4 for r in results)


def test_trainer_state_dict_resumes_the_same_trajectory():
    def fresh():
        _, w, data = _regression(n=512)
        model = _model(w)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        ctl = NoiseScaleController(
            base_batch=8, base_lr=0.01, max_batch=64, max_micro_batch=4, min_observations=2
        )
        return model, opt, AdaptiveBatchTrainer(model, opt, data, _loss, controller=ctl)

    model_a, _, a = fresh()
    full = [a.step() for _ in range(40)]
    model_b, opt_b, b = fresh()
    for _ in range(20):
        b.step()
    state = b.state_dict()
    weights = model_b.state_dict()
    model_c, opt_c, c = fresh()
    model_c.load_state_dict(weights)
    c.load_state_dict(state)
    rest = [c.step() for _ in range(20)]
    for x, y in zip(full[20:], rest, strict=True):
        assert (x.batch_size, x.examples) == (y.batch_size, y.examples)
        assert x.loss == pytest.approx(y.loss, rel=1e-9)
        assert x.b_noise == pytest.approx(y.b_noise, rel=1e-9, nan_ok=True)


def test_trainer_rejects_ambiguous_or_mismatched_setups():
    _, w, data = _regression(n=64)
    model = _model(w)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="exactly one"):
        AdaptiveBatchTrainer(model, opt, data, _loss)
    with pytest.raises(ValueError, match="world_size 2"):
        AdaptiveBatchTrainer(
            model, opt, data, _loss, schedule=Schedule.constant(8, 0.1, world_size=2)
        )


def test_trainer_reports_noise_scale_batch_and_lr_to_a_real_study(tmp_path: Path):
    client = hpo.Client(f"sqlite:///{tmp_path / 'db'}")
    study = client.create_study(
        "gns",
        {"lr": hpo.Float(0.01, 0.1, log=True)},
        "loss",
        fidelity={"name": "step", "min": 10, "max": 40},
        budget={"max_trials": 2},
    )

    def train(t):
        _, w, data = _regression(n=1024)
        model = _model(w)
        opt = torch.optim.SGD(model.parameters(), lr=t.config["lr"])
        sched = Schedule.constant(16, t.config["lr"], max_micro_batch=4)
        AdaptiveBatchTrainer(model, opt, data, _loss, schedule=sched, report_every=10).run(1000)

    client.run(study, train, n_workers=1, progress=False, runs_dir=str(tmp_path / "runs"))
    h = client.history(study)
    trials = h.trials()
    assert len(trials) == 2 and all(t.state.value == "completed" for t in trials)
    for t in trials:
        reports = h.reports(t.id)
        assert [r.step for r in reports] == [10, 20, 30, 40]  # stopped at max fidelity
        last = reports[-1].metrics
        assert last["batch_size"] == 16 and last["lr"] == pytest.approx(t.config["lr"])
        assert last["b_noise"] > 0 and last["examples"] == 40 * 16
