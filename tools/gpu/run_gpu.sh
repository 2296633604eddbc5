#!/bin/sh
# The GPU run of issue 7, as one command on the GPU machine (tools/gpu/README.md):
#
#   sh tools/gpu/run_gpu.sh            carried: gpu-pack (tools/gpu/pack_corpus.sh)
#
# Trains the proposed model (train_torch.py's GPU_SHAPE) on the token pack until
# BUDGET_S seconds after this script started, exports it, and leaves in $OUT:
#   train.log              everything printed (progress, tokens/s, held-out loss)
#   model.json             step, tokens, losses, config, the GGUF's size and sha256, parts
#   model.gguf.partNN      the BF16 GGUF in parts of 15 MiB (the machine returns files
#                          of at most 16 MiB, 64 MiB in all); rewritten at every checkpoint
#   verify.logp.f32        log p of 64 held-out tokens (tokens in model.json), for
#                          check_torch_vs_c.sh --returned
#
# Environment:
#   OUT       output folder (the device tool sets it)
#   PACK      token pack (default gpu-pack)
#   BUDGET_S  seconds from start to the end of the final export (default 480; the
#             command limit is 600)
#   PY        python with torch (default python3)
#   EXTRA     more train_torch.py options, e.g. "--lr 1.5e-3 --batch 256"
#   RUN_GPU_TEST=1  the CPU test of this script (check_torch_vs_c.sh): tiny model,
#                   CPU, BUDGET_S default 60
set -u
start=$(date +%s)
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:?OUT must name the output folder}
pack=${PACK:-gpu-pack}
py=${PY:-python3}
mkdir -p "$out"
if [ -n "${RUN_GPU_TEST:-}" ]; then
    budget=${BUDGET_S:-60}
    mode="--device cpu --tiny --threads 1 --batch 8 --warmup 10 --lr 3e-3 --calib-end 15 --checkpoint-every 10 --split-mib 1"
else
    budget=${BUDGET_S:-480}
    # batch 128 x 1024 tokens per step, two micro-batches of 64 (fits 80 GB with room)
    mode="--device cuda --batch 128 --micro-batch 64 --warmup 100 --lr 2e-3 --split-mib 15"
fi
export PYTHONUNBUFFERED=1

describe_machine() {
    echo "== run_gpu.sh, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), budget ${budget}s, pack $pack"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    "$py" -c 'import sys, torch, numpy; print("python", sys.version.split()[0], "torch", torch.__version__, "numpy", numpy.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())'
    echo "cpus $(nproc); pack $(du -sh "$pack" | cut -f1)"
}

status=$(mktemp)
# shellcheck disable=SC2086  # $mode and $EXTRA are option lists
{
    describe_machine
    "$py" "$here/train_torch.py" --pack "$pack" --out "$out" --deadline $((start + budget)) \
        --export-dtype bf16 --scratch "${TMPDIR:-/tmp}/lmz-gpu-scratch" --verify-tokens 64 \
        --name "lmz-gpu-$(date -u +%Y%m%d)" $mode ${EXTRA:-}
    rc=$?
    echo "$rc" > "$status"
    echo "== train_torch.py exit status $rc, $(($(date +%s) - start)) s"
    ls -l "$out"
} 2>&1 | tee "$out/train.log"
rc=$(cat "$status")
rm -f "$status"
exit "$rc"
