#!/usr/bin/env bash
# Set-up, then a demo sweep: ASHA over an MLP on scikit-learn's digits, SQLite + local processes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
name="digits-asha-$(date +%Y%m%d-%H%M%S)"
.venv/bin/hpo sweep examples/digits/sweep.yaml --name "$name" --storage sqlite:///hpo.db
echo "inspect it with: .venv/bin/hpo status $name   (or: hpo best / hpo export $name --format csv)"
