"""A test trial: reports ``loss = (x - 0.3)**2 + 1/step`` each step, checkpoints each step,
sleeps ``--sleep`` seconds per step, and logs where each run started to ``starts.log``."""

import argparse
import json
import time

import hpo.trial
from hpo import Decision

ap = argparse.ArgumentParser()
ap.add_argument("--x", type=float, required=True)
ap.add_argument("--steps", type=int, default=9)
ap.add_argument("--sleep", type=float, default=0.0)
ap.add_argument("--crash-at", type=int, default=0)
args = ap.parse_args()

t = hpo.trial.current()
# resume from the checkpoint hpo knows was reported (a later one may exist whose report was lost)
start = int(t.checkpoint_step) if (t.resume and t.checkpoint_step) else 0
if start:
    assert json.loads((t.checkpoint_dir / f"state-{start}.json").read_text())["step"] == start
with open(t.checkpoint_dir / "starts.log", "a") as f:
    f.write(f"{start}\n")
for step in range(start + 1, args.steps + 1):
    time.sleep(args.sleep)
    if step == args.crash_at:
        raise SystemExit(f"crashing on purpose at step {step}")
    (t.checkpoint_dir / f"state-{step}.json").write_text(json.dumps({"step": step}))
    d = t.report(step, checkpoint=True, loss=(args.x - 0.3) ** 2 + 1.0 / step)
    if d is not Decision.CONTINUE:
        break
