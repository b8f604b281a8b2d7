"""Schedules (JSON round trip, warmup, micro-batching) and the noise-scale controller."""

from __future__ import annotations

import json
import math

import pytest
from hpo.batch_size import NoiseScaleController, Phase, Schedule, plan_micro_batches, scale_lr


def test_plan_micro_batches_fits_memory_and_divides_exactly():
    assert plan_micro_batches(256, 1, None) == (256, 1)
    assert plan_micro_batches(256, 1, 64) == (64, 4)
    assert plan_micro_batches(256, 2, 48) == (32, 4)  # per rank 128: 3 steps do not divide
    assert plan_micro_batches(96, 2, 1000) == (48, 1)
    with pytest.raises(ValueError, match="multiple of world_size"):
        plan_micro_batches(15, 2, None)


def test_schedule_json_round_trip_is_exact():
    s = Schedule(
        [Phase(0, 64, 32, 2, 1e-3, 0.99, 0.1), Phase(100, 256, 64, 4, 2e-3, 0.96, 0.4)],
        warmup_steps=10,
        warmup_start_factor=0.1,
    )
    text = s.to_json()
    json.loads(text)
    assert Schedule.from_json(text) == s
    assert Schedule.from_json(json.loads(text)) == s


def test_schedule_at_applies_phases_and_warmup():
    s = Schedule([Phase(0, 64, 64, 1, 1.0), Phase(50, 128, 64, 2, 2.0)], warmup_steps=10)
    assert s.at(0).lr == 0.0 and s.at(5).lr == pytest.approx(0.5) and s.at(10).lr == 1.0
    assert s.at(49).batch_size == 64 and s.at(50).batch_size == 128
    assert s.at(50).accumulation_steps == 2 and s.at(1000).lr == 2.0
    assert s.examples_until(0) == 0
    assert s.examples_until(50) == 50 * 64
    assert s.examples_until(60) == 50 * 64 + 10 * 128


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"phases": []}, "at least one phase"),
        (
            {
                "phases": [
                    {
                        "start_step": 5,
                        "batch_size": 8,
                        "micro_batch_size": 8,
                        "accumulation_steps": 1,
                        "lr": 0.1,
                    }
                ]
            },
            "step 0",
        ),
        (
            {
                "phases": [
                    {
                        "start_step": 0,
                        "batch_size": 8,
                        "micro_batch_size": 3,
                        "accumulation_steps": 2,
                        "lr": 0.1,
                    }
                ]
            },
            "batch_size 8 !=",
        ),
        (
            {
                "phases": [
                    {
                        "start_step": 0,
                        "batch_size": 8,
                        "micro_batch_size": 8,
                        "accumulation_steps": 1,
                        "lr": -1,
                    }
                ]
            },
            "lr",
        ),
        ({"phases": [{"start_step": 0, "batch_size": 8}]}, "invalid schedule phase"),
        ({"phases": [], "cadence": 3}, "unknown schedule keys"),
    ],
)
def test_bad_schedules_raise_value_error(data, match):
    with pytest.raises(ValueError, match=match):
        Schedule.from_json(json.dumps(data))


def test_controller_grows_batch_with_noise_scale_and_rescales_lr():
    c = NoiseScaleController(
        base_batch=32,
        base_lr=1e-3,
        max_batch=1024,
        lr_rule="sqrt",
        batch_multiple=32,
        max_micro_batch=128,
        base_beta2=0.99,
        base_weight_decay=0.1,
        min_observations=5,
    )
    assert c.update(3, 500.0, observations=4) is None  # too few observations
    assert c.update(9, 40.0, observations=10) is None  # target 32: no change
    p = c.update(10, 300.0, observations=11)
    assert (
        p is not None and p.start_step == 11 and p.batch_size == 256
    )  # whole micro-batches of 128
    assert p.micro_batch_size * p.accumulation_steps == 256 and p.micro_batch_size <= 128
    assert p.lr == pytest.approx(scale_lr(1e-3, 32, 256, "sqrt"))
    assert p.beta2 == pytest.approx(0.99 ** (256 / 32))
    # AdamW timescale B/(lr wd) fixed
    assert 256 / (p.lr * p.weight_decay) == pytest.approx(32 / (1e-3 * 0.1))
    assert c.update(20, 320.0, observations=20) is None  # within hysteresis
    assert c.update(21, 100.0, observations=20) is None  # never shrinks by default
    assert c.update(22, math.inf, observations=20) is None  # |G|^2 <= 0: not trusted
    assert c.update(23, 1e6, observations=20).batch_size == 1024  # capped
    assert [ph.batch_size for ph in c.schedule.phases] == [32, 256, 1024]
    again = Schedule.from_json(c.schedule.to_json())
    assert again == c.schedule


def test_controller_fraction_world_size_and_adascale():
    c = NoiseScaleController(
        base_batch=8,
        base_lr=0.1,
        max_batch=512,
        fraction=0.5,
        world_size=2,
        lr_rule="adascale",
        min_observations=0,
    )
    p = c.update(0, 101.0, grad_sq=2.0, trace_cov=40.0)
    assert p.batch_size == 50  # 0.5 * 101 rounded down to a multiple of 2
    assert p.micro_batch_size * p.accumulation_steps * 2 == 50
    # AdaScale gain at scale 50/8 with sigma^2 = 40/8 = 5, mu^2 = 2
    s = 50 / 8
    assert p.lr == pytest.approx(0.1 * (5 + 2) / (5 / s + 2))


def test_controller_rejects_inconsistent_bounds():
    with pytest.raises(ValueError, match="min_batch <= base_batch"):
        NoiseScaleController(base_batch=64, base_lr=0.1, max_batch=32)
    with pytest.raises(ValueError, match="multiple of world_size"):
        NoiseScaleController(base_batch=63, base_lr=0.1, max_batch=128, world_size=2)
    with pytest.raises(ValueError, match="lr_rule"):
        NoiseScaleController(base_batch=64, base_lr=0.1, max_batch=128, lr_rule="cubic")


def test_min_accumulation_keeps_two_micro_batches_at_every_batch():
    assert plan_micro_batches(64, 1, None, min_accumulation_steps=2) == (32, 2)
    assert plan_micro_batches(256, 1, 64, min_accumulation_steps=2) == (64, 4)
    with pytest.raises(ValueError, match="min_accumulation_steps"):
        plan_micro_batches(1, 1, None, min_accumulation_steps=2)
    c = NoiseScaleController(
        base_batch=16, base_lr=1e-3, max_batch=512, min_accumulation_steps=2, min_observations=0
    )
    assert c.schedule.phases[0].accumulation_steps == 2
    p = c.update(0, 101.0)
    assert p.batch_size == 100 and (p.micro_batch_size, p.accumulation_steps) == (50, 2)
