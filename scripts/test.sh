#!/usr/bin/env bash
# Set-up, then the test suite (slow and GPU tests are kept out: run them with -m slow / -m gpu).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
set +e
.venv/bin/python -m pytest -q -m "not slow and not gpu" "$@"
rc=$?
[ $rc -eq 5 ] && { echo "no tests collected"; exit 1; }
exit $rc
