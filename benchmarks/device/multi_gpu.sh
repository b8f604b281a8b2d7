#!/usr/bin/env bash
# The runs of docs/benchmarks.md's "Several GPUs" section, on a machine with 2 GPUs and no
# package registry (the wheels travel in .devwheels/ and .whl/: see docs/benchmarks.md).
#   bash benchmarks/device/multi_gpu.sh ddp OUT   # noise scale and adaptive batch under DDP
#   bash benchmarks/device/multi_gpu.sh overhead OUT  # the monitor's cost per DDP step
#   bash benchmarks/device/multi_gpu.sh ray OUT   # a Ray sweep over 1-GPU and 2-GPU trials
#   bash benchmarks/device/multi_gpu.sh compare OUT  # (background) GP methods on CPU cores 7-31
# GPU work is pinned to CPU cores 0-6 so that CPU-bound benchmark jobs beside it (cores 7 and
# up) do not steal its launch threads.
set -uo pipefail
what=$1
out=$2
mkdir -p "$out"
export PYTHONSAFEPATH=1  # the checkout's hpo/ (no schedulers, no batch_size) must not shadow
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH RAY_AUTH_MODE=disabled
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONUNBUFFERED=1
case $what in
ddp)
  taskset -c 0-6 python3 -m torch.distributed.run --standalone --nproc_per_node 2 \
    -m benchmarks.batch_size.charlm --out "$out" --gns-micro 1 \
    --batch-sizes 32,64,128,256,512,1024 --fraction 1,4 \
    --agreement-batches 64 --agreement-batch 256 --agreement-pretrain 400 \
    --overhead-batch 128,1024 --overhead-steps 240 --overhead-blocks 6 \
    --max-seconds-per-run 60 2>&1 | grep -v "^W1\|^\*\*\*" | tee "$out/ddp.log"
  ;;
overhead)
  # finer alternation than the ddp run (48 blocks of 20 steps per variant) for a tighter error
  python3 -m torch.distributed.run --standalone --nproc_per_node 2 \
    -m benchmarks.batch_size.charlm --out "$out" --gns-micro 1 --batch-sizes 32,64 \
    --skip-sweep --overhead-batch 128,1024 --overhead-steps ${OVH_STEPS:-960} --overhead-blocks ${OVH_BLOCKS:-48} \
    --overhead-intervals 1,10 2>&1 | grep -v "^W1\|^\*\*\*" | tee "$out/overhead.log"
  ;;
ray)
  # from /tmp: Ray puts the driver's working directory on its workers' sys.path, and the
  # checkout's hpo/ folder would shadow the installed package there
  repo=$PWD
  (cd /tmp && PYTHONPATH=/tmp/site:$repo python3 -m benchmarks.ray_gpu --systems hpo \
    --gpus-choice 1,2 --asha promotion --trials 16 --max-intervals 9 --steps 100 \
    --out "$out/ray_multi_gpu.json" 2>&1 | grep -v "^\[\|^(raylet" | tee "$out/ray.log")
  ;;
compare)
  methods=hpo-asha,hpo-mobster,hpo-bo,optuna-tpe-hyperband,optuna-gp,synetune-bohb,synetune-hyperband
  export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
  core=7
  for spec in "branin-mf 8 0" "hartmann6-mf 8 0.05" "digits-mlp 0.03 0" \
      "breast_cancer-mlp 0.01 0" "charlm-gpt 0.5 0"; do
    set -- $spec
    taskset -c $core-$((core + 4)) python3 -m benchmarks.compare --benchmark "$1" --seeds 5 \
      --workers 4 --hours "$2" --noise "$3" --jobs 5 --methods "$methods" \
      --json "$out/$1.json" --html "$out/$1.html" > "$out/$1.log" 2>&1 &
    core=$((core + 5))
  done
  wait
  ;;
esac
