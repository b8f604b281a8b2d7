"""``hpo batch-size measure``: a real measurement through the CLI, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hpo.batch_size import Schedule

from hpo.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "batch_size" / "measure_digits.py"


def test_measure_prints_noise_scale_and_writes_a_schedule(tmp_path, capsys):
    sched = tmp_path / "schedule.json"
    rc = main(
        [
            "batch-size",
            "measure",
            str(EXAMPLE),
            "--batch",
            "32",
            "--micro-batches",
            "4",
            "--steps",
            "60",
            "--json",
            "-o",
            str(sched),
        ]
    )
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["b_noise"] > 0 and res["b_noise_std"] > 0
    assert res["micro_batch_size"] == 8 and res["last_loss"] < res["first_loss"]
    s = Schedule.from_json(sched.read_text())
    assert s.phases[0].batch_size == res["recommended_batch"]
    assert s.phases[0].micro_batch_size * s.phases[0].accumulation_steps == res["recommended_batch"]
    # The recommendation is B_noise rounded down to whole micro-batches of 8.
    assert res["recommended_batch"] <= max(res["b_noise"], 8)
    assert res["recommended_batch"] > res["b_noise"] - 8 or res["recommended_batch"] == 8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.py"], "measurement script not found"),
        ([str(EXAMPLE), "--micro-batches", "1"], "two batch sizes"),
        ([str(EXAMPLE), "--batch", "30", "--micro-batches", "4"], "multiple of micro_batches"),
        ([str(EXAMPLE), "--factory", "nothing"], "defines no function 'nothing'"),
    ],
)
def test_bad_measure_input_gives_one_line_and_exit_2(args, message, capsys):
    rc = main(["batch-size", "measure", *args, "--steps", "5"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("error:") and message in err and "Traceback" not in err
