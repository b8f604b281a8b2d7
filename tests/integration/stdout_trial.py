"""A trial that knows nothing of hpo: it prints JSON lines on stdout."""

import json
import sys

x = float(sys.argv[1])
for step in range(1, 4):
    print(json.dumps({"hpo": {"step": step, "loss": (x - 1) ** 2 + 1 / step}}), flush=True)
