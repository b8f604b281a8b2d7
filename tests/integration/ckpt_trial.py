"""A trial that keeps its state in checkpoint_dir/state.json and reports with checkpoints.

With HANG_AT=<step> set, the first run (not a resume) hangs after reporting that step, so that a
test can kill it there, as if its machine had vanished.
"""

import json
import os
import time

import hpo.trial

ctx = hpo.trial.current()
state_file = ctx.checkpoint_dir / "state.json"
step = 0
if ctx.resume and state_file.exists():
    step = json.loads(state_file.read_text())["step"]
hang_at = int(os.environ.get("HANG_AT", "0"))
while step < ctx.until:
    step += 1
    (ctx.checkpoint_dir / "weights").mkdir(exist_ok=True)
    (ctx.checkpoint_dir / "weights" / "w.bin").write_bytes(bytes([step]) * 1000)
    state_file.write_text(json.dumps({"step": step, "resumed": ctx.resume}))
    d = ctx.report(step, loss=1.0 / step, checkpoint=True)
    if d.value != "continue":
        break
    if step == hang_at and not ctx.resume:
        time.sleep(120)
