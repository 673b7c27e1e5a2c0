#!/usr/bin/env bash
# All device checks of one lent GPU in one run (about 9 minutes on one H200); results come back as at most
# eight files under $OUT: session.log (every step's output, with its wall time), results.tgz (the small result
# files: JSON, CSV, PNG, executed notebook), llzto_trajectories.tgz and nvidia-smi.txt.
#
#   1. gpu_smoke: every package imports, SevenNet-0 and CHGNet give the CPU's energies on the GPU (stops here if not)
#   2. timing checks, one at a time so nothing else shares the GPU:
#      gpu_md_llzo (1920-atom LLZO bicrystal: graph vs model, ssbkit MD and torch-sim MD steps/s),
#      neb_batched_vs_ase (SevenNet-0, 7 images, equal evaluations), md_batched_replicas (8 replicas)
#   3. physics, the two runs side by side (each is latency-bound and leaves most of the GPU idle):
#      notebook 3 (LLZO grain boundary, quick settings) and the LLZTO ensemble MD sized to the time left
#
# From the repository root:  OUT=/some/dir DEADLINE_S=540 bash benchmarks/gpu_session.sh
set -u
OUT=${OUT:-gpu_out}
WORK=${WORK:-/tmp/ssbkit_gpu}
DEADLINE_S=${DEADLINE_S:-540}   # seconds from now by which results must be packed
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT" "$WORK"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
LOG="$OUT/session.log"
BEGAN=$SECONDS
left() { echo $((DEADLINE_S - (SECONDS - BEGAN))); }

step() {  # step LIMIT_S NAME COMMAND...: run with a time limit, log its output and wall time; returns its exit code
  local limit=$1 name=$2 began=$SECONDS code
  shift 2
  echo "=== $name (limit ${limit} s, $(left) s left)" >> "$LOG"
  timeout "$limit" "$@" > "$WORK/$name.txt" 2>&1
  code=$?
  cat "$WORK/$name.txt" >> "$LOG"
  echo "=== $name: exit code $code in $((SECONDS - began)) s (124: ran past its limit)" >> "$LOG"
  return $code
}

pack() {  # small result files in results.tgz; the LLZTO production trajectories, for analysis later, apart
  (cd "$WORK" && find . -type f \( -name '*.json' -o -name '*.csv' -o -name '*.png' -o -name '*.ipynb' \
     -o -name '*.txt' -o -name '*.extxyz' \) ! -name 'replica*' -size -4M -print0 \
     | tar czf "$OUT/results.tgz" --null -T -)
  (cd "$WORK" && find llzto -path '*llzto_md*' -name 'replica*.extxyz' -print0 2>/dev/null \
     | tar czf "$OUT/llzto_trajectories.tgz" --null -T -)
  echo "=== packed in $((SECONDS - BEGAN)) s" >> "$LOG"
}

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
step 60 smoke python3 -m benchmarks.gpu_smoke --device "$DEVICE" || { pack; exit 1; }
step 70 md_llzo python3 -m benchmarks.gpu_md_llzo --device "$DEVICE" --steps 40 --repeat 3
step 80 neb_sevennet python3 -m benchmarks.neb_batched_vs_ase --model sevennet-0 --device "$DEVICE" --images 7 \
  --steps 20 --repeat 2
step 40 md_replicas python3 -m benchmarks.md_batched_replicas --model sevennet-0 --device "$DEVICE" --replicas 8 --steps 30

# Both physics runs end 25 s before the deadline; the ensemble MD keeps 70 s of that for setup and analysis.
window=$(( $(left) - 25 ))
if [ "$window" -lt 120 ]; then echo "=== no time left for the physics runs ($window s)" >> "$LOG"; pack; exit 0; fi
export OMP_NUM_THREADS=6
step "$window" notebook3 python3 benchmarks/gpu_llzto_ensemble.py --out "$WORK" --notebook-only \
  --notebook-timeout-s $((window - 15)) &
step "$window" llzto python3 benchmarks/gpu_llzto_ensemble.py --out "$WORK/llzto" --skip-notebook --device "$DEVICE" \
  --md-budget-s $((window - 70)) --equilibration-steps 300 --min-production-steps 1100 &
wait
pack
