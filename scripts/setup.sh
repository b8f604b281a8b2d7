#!/usr/bin/env bash
# Creates .venv (if needed) and installs hpo with its test and example dependencies.
# CPU-only machines get the CPU build of torch (torch==2.13.0), not the multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    .venv/bin/pip install -q torch
  else
    .venv/bin/pip install -q torch==2.13.0
  fi
fi
.venv/bin/pip install -q -e '.[dev]'
