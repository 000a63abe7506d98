#!/usr/bin/env bash
# The CUDA path measured on every visible GPU (issue 16); results go to BENCHMARKS.md under the device's name.
#   bench/gpu_check.sh                       # PY=.venv/bin/python STEPS=500 PER_GPU_BATCH=64 WORK=/tmp/gpu_check.XXXX
# (1) trains STEPS steps at 64×64 and 128×128 on synthetic data with DDP (torchrun, NCCL, bf16 autocast where
#     supported); (2) reports images/s, step time, peak memory and achieved FLOP/s against the device's peak
#     (FLOPs of one step from FlopCounterMode); (3) trains 64×64 straight and as STEPS/2 + resume, deterministic
#     kernels, and checks the two checkpoints match bit for bit; (4) loads the result on the CPU (no GPU visible) and
#     generates a grid; (5) runs `python -m gan evaluate` on the GPU; then the CUDA-only tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
TORCHRUN=${TORCHRUN:-$(dirname "$PY")/torchrun}
STEPS=${STEPS:-500}
PER_GPU_BATCH=${PER_GPU_BATCH:-64}

NGPU=$("$PY" -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)")
if [ "$NGPU" -lt 1 ]; then
  echo "gpu_check: no CUDA GPU visible (torch.cuda.is_available() is False with torch $("$PY" -c 'import torch; print(torch.__version__, torch.version.cuda)')); nothing measured, BENCHMARKS.md unchanged" >&2
  exit 2
fi
WORK=${WORK:-$(mktemp -d /tmp/gpu_check.XXXX)}
BATCH=$((PER_GPU_BATCH * NGPU))
RUN=("$TORCHRUN" --standalone --nproc_per_node="$NGPU")
echo "gpu_check: $NGPU GPU(s) ($("$PY" -c 'import torch; print(torch.cuda.get_device_name(0))')), global batch $BATCH, work in $WORK"
: > "$WORK/checks.txt"

# (1) + (2) Timed DDP runs and FLOPs of one step (per-GPU batch on one GPU; the report multiplies by the GPUs).
for SIZE in 64 128; do
  "${RUN[@]}" -m bench.gpu_check train --size "$SIZE" --steps "$STEPS" --batch "$BATCH" --out "$WORK/run$SIZE"
  "$PY" -m bench.gpu_check flops --size "$SIZE" --batch "$PER_GPU_BATCH" --out "$WORK/flops$SIZE.json"
done

# (3) Resume: STEPS straight vs STEPS/2 then --resume to STEPS, deterministic kernels, same DDP world.
COMMON=(--data synthetic:4096 --size 64 --batch "$BATCH" --device cuda --deterministic --metrics-every 0
        --ckpt-every "$STEPS" --sample-every "$STEPS" --no-progress)
"${RUN[@]}" -m gan train "${COMMON[@]}" --steps "$STEPS" --out "$WORK/straight"
"${RUN[@]}" -m gan train "${COMMON[@]}" --steps $((STEPS / 2)) --out "$WORK/split"
"${RUN[@]}" -m gan train "${COMMON[@]}" --steps "$STEPS" --resume --out "$WORK/split"
if "$PY" -m bench.gpu_check compare "$WORK/straight/checkpoint.pt" "$WORK/split/checkpoint.pt"; then
  echo "resume: $((STEPS / 2)) + $((STEPS / 2)) steps on $NGPU GPU(s) (deterministic) matches $STEPS straight bit for bit" >> "$WORK/checks.txt"
else
  echo "resume: MISMATCH between $((STEPS / 2)) + resume and $STEPS straight (see the compare output)" >> "$WORK/checks.txt"
fi

# (4) The GPU-trained checkpoint on a machine without one: load on the CPU and draw a grid.
CUDA_VISIBLE_DEVICES="" "$PY" -m gan generate --ckpt "$WORK/run64/checkpoint.pt" --device cpu --n 16 --nrow 4 \
  --out "$WORK/grid_cpu.png"
echo "CPU load + 16-face grid of the 64×64 GPU run: $WORK/grid_cpu.png" >> "$WORK/checks.txt"

# (5) evaluate on the GPU (conditioning, proxy, FID with Inception on the same device as the images).
START=$(date +%s)
if "$PY" -m gan evaluate --ckpt "$WORK/run64/checkpoint.pt" --device cuda --n 2000 --fid --no-record --json \
     > "$WORK/evaluate.txt" 2>&1; then
  echo "evaluate --device cuda --n 2000 --fid on the 64×64 run: $(( $(date +%s) - START )) s, $(tail -1 "$WORK/evaluate.txt" | "$PY" -c "import json,sys; r=json.loads(sys.stdin.read()); print('FID', round(r.get('fid', float('nan')), 1), 'on', r.get('fid_n'), 'images')")" >> "$WORK/checks.txt"
else
  echo "evaluate --device cuda FAILED: $(tail -1 "$WORK/evaluate.txt")" >> "$WORK/checks.txt"
fi

# The CUDA-only tests (skipped on CPU machines).
("$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py || true) | tail -1 | sed 's/^/CUDA tests: /' >> "$WORK/checks.txt"

"$PY" -m bench.gpu_check report --work "$WORK" --steps "$STEPS"
cat "$WORK/checks.txt"
