#!/usr/bin/env bash
# Issue 7's comparison: hpo's GP schedulers against the peers on every benchmark, on the device
# host's CPUs (no GPU is used). Resumable: every (method, seed) run lands in RUNS as it finishes
# (compare.py --runs-dir), and hpo's and Syne Tune's runs in flight keep a checkpoint there every
# 30 real seconds (<method>-seed<n>.partial), so a call cut short by LIMIT seconds loses at most
# 30 s of each such run (Optuna's and Ray Tune's runs in flight start again) and the next call
# with the same RUNS goes on; carry RUNS to every call (or leave it on a warm host).
#   eval "$(bash .devwheels/install.sh)"
#   bash benchmarks/device/compare_gp.sh RUNS [LIMIT]           # the model-based and fast methods
#   RAY=1 bash benchmarks/device/compare_gp.sh RUNS [LIMIT]     # Ray Tune's BOHB (real-time replay)
# BENCHES="digits-mlp charlm-gpt" limits the benchmarks (the -best tables run only when named),
# JOBS the processes per benchmark, METHODS the methods, SEEDS the seeds (default 5; with more,
# the seeds already in RUNS are reused and only the missing ones run; FIRST_SEED=5 runs seeds 5
# and up only, to split the seeds between hosts), EXTRA more arguments for benchmarks.compare
# (EXTRA=--stop-settled stores each hpo run on a table once it has seen the table's best
# value). To give each benchmark its own JOBS, start one instance per benchmark in the
# background on the same RUNS (`nice -n 19` on the longest lets it take only idle cores);
# leave .legacywheels out of carry then unless synetune-mobster runs, since each instance
# installs it into the same /tmp/legacy-site.
# Each run's file records where it ran ("from"): pass the commit the tree was copied from, e.g.
#   HPO_RUNS_CODE=baf4a37 bash benchmarks/device/compare_gp.sh RUNS 530
# (the copy on the device host has no git history; the host defaults to "device host (N CPU
# cores)", or set HPO_RUNS_HOST).
# Bring the runs back with `bash benchmarks/device/pack_runs.sh RUNS "$OUT"` (split into parts: Syne
# Tune's MOBSTER keeps 1-3 MB checkpoints, and a call returns 8 files of 16 MiB at most); carry
# only the runs the call goes on from (a call carries 64 MiB in all, .devwheels 20 of them).
# Tables, from the runs (anywhere): python -m benchmarks.compare <same args> --runs-dir RUNS
#   --saved-only
set -uo pipefail
runs=$1
limit=${2:-540}
mkdir -p "$runs"
export PYTHONSAFEPATH=1 PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH RAY_AUTH_MODE=disabled
export HPO_RUNS_HOST=${HPO_RUNS_HOST:-device host ($(nproc) CPU cores)}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONUNBUFFERED=1
instance=$$-$(date +%s%N)
export HPO_COMPARE_GP_INSTANCE=$instance
# Syne Tune's MOBSTER is only in syne-tune<0.15: its pure-Python 0.13.0 wheel (and autograd's) in
# .legacywheels/, run by the same python with them ahead on the path (benchmarks.peers.synetune
# starts HPO_SYNETUNE_LEGACY_PYTHON for it)
if ls .legacywheels/syne_tune-0.13.0-*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-deps --no-index --target /tmp/legacy-site .legacywheels/*.whl
  printf '#!/usr/bin/env bash\nPYTHONPATH=/tmp/legacy-site:/tmp/site:$PYTHONPATH exec python3 "$@"\n' \
    > /tmp/legacy-python
  chmod +x /tmp/legacy-python
  export HPO_SYNETUNE_LEGACY_PYTHON=/tmp/legacy-python
fi
fast=hpo-hypertune,hpo-mobster,synetune-mobster,optuna-gp,hpo-bo,synetune-bohb,hpo-asha
fast=$fast,optuna-tpe-hyperband,synetune-hyperband
methods=${METHODS:-$fast}
jobs=${JOBS:-$(($(nproc) / 5))}
# benchmark, simulated hours, noise, Ray Tune's time scale (about a minute of real time per seed)
for spec in "branin-mf 8 0 0.0021" "hartmann6-mf 8 0.05 0.0021" "digits-mlp 0.03 0 0.5" \
    "breast_cancer-mlp 0.01 0 1.5" "charlm-gpt 0.5 0 0.033" "digits-mlp-best 0.03 0 0.5" \
    "breast_cancer-mlp-best 0.01 0 1.5"; do
  set -- $spec
  case " ${BENCHES:-branin-mf hartmann6-mf digits-mlp breast_cancer-mlp charlm-gpt} " in
    *" $1 "*) ;;
    *) continue ;;
  esac
  if [ "${RAY:-0}" = 1 ]; then
    # one Ray instance of 4 CPUs per benchmark at a time: the replay runs in real time
    HPO_RAYTUNE_TIME_SCALE=$4 timeout "$limit" python3 -m benchmarks.compare --benchmark "$1" \
      --seeds "${SEEDS:-5}" --workers 4 --hours "$2" --noise "$3" --jobs 1 --methods raytune-bohb \
      --runs-dir "$runs" > "$runs/$1-ray.log" 2>&1 &
  else
    timeout "$limit" python3 -m benchmarks.compare --benchmark "$1" --seeds "${SEEDS:-5}" \
      --first-seed "${FIRST_SEED:-0}" --workers 4 --hours "$2" --noise "$3" --jobs "$jobs" \
      --methods "$methods" --runs-dir "$runs" ${EXTRA:-} \
      > "$runs/$1.log" 2>&1 &
  fi
done
wait
# a Syne Tune run in the legacy interpreter is a grandchild that timeout's signal may not reach:
# stop it, so that it cannot write its checkpoint while the next call resumes from it; only this
# instance's (their environment carries its tag): another instance on the same host may still be
# running its own (killing those ended a whole call early once, when one benchmark finished first)
for pid in $(pgrep -f benchmarks.peers.synetune_legacy_runner); do
  if tr '\0' '\n' < "/proc/$pid/environ" 2> /dev/null | grep -qx "HPO_COMPARE_GP_INSTANCE=$instance"; then
    kill "$pid" 2> /dev/null
  fi
done
ls "$runs"/*/ | wc -l
