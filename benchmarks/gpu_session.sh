#!/usr/bin/env bash
# The device checks of one lent GPU (15 minutes of device time, at most 10 minutes a call), in two parts, each
# one call; results come back as at most eight files under $OUT (session.log, results.tgz, ...).
#
#   notebook  (first call, about 9.5 minutes): gpu_smoke, then notebook 3 with its quick settings, alone on the
#             GPU (its 1920-atom bicrystal MD of 3 temperatures x 1250 steps needs the whole call: ~0.14 s
#             per step of one bicrystal replica on an H200, 2026-11-30).
#   barriers  (second call, on the still-warm machine, the device time left): the LLZO bulk and boundary
#             vacancy barriers with SevenNet-0 (examples/llzo_gb_barriers_cpu.py --device cuda), every hop's
#             files kept as it finishes, then the along hop's radius check (8 Å, 12 Å, whole cell: on the
#             CPU its endpoints found another minimum from 14 Å, docs/neb.md); 2026-11-30 got the bicrystal,
#             the bulk and the along hop at 6 Å in 215 s (whole call ~7 minutes). It starts from the
#             CHGNet-relaxed bicrystal in examples/data, relaxes it with SevenNet-0, anneals it (600 K, 600
#             steps of 1 fs, ~80 s at the 7.35 steps/s measured) and quenches it before the hops: relaxation
#             alone leaves the boundary between shallow minima (docs/neb.md).
#   thickness the grain-thickness check of the across hop with CHGNet (the model the shipped bicrystal was relaxed
#             with): the 2-period bicrystal (3840 atoms) relaxed from as built, and the same across hop in it
#             (docs/neb.md); on the CPU its relaxation alone would take hours.
#   timings   the speed checks (measured 2026-11-30, docs/performance.md): the 1920-atom bicrystal MD against
#             torch-sim, batched NEB against ASE, MD replicas.
#   llzto     the LLZTO ensemble MD (4 configurations x 3 temperatures); its trajectories come back apart.
#             2.2 ps (what 6 minutes gave) is < 0.35 hops per Li: a production run needs ~10x longer.
#
# From the repository root:  OUT=/some/dir DEADLINE_S=540 bash benchmarks/gpu_session.sh PART
set -u
PART=${1:-notebook}
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
export OMP_NUM_THREADS=8
case "$PART" in
  notebook)
    step 60 smoke python3 -m benchmarks.gpu_smoke --device "$DEVICE" || { pack; exit 1; }
    window=$(( $(left) - 15 ))
    step "$window" notebook3 python3 benchmarks/gpu_llzto_ensemble.py --out "$WORK" --notebook-only \
      --notebook-timeout-s $((window - 10)) ;;
  barriers)
    step $(( $(left) - 15 )) gb_barriers python3 examples/llzo_gb_barriers_cpu.py --model sevennet-0 \
      --device "$DEVICE" --out "$WORK/gb" --radius 12 --images 3 --fmax 0.1 --steps 150 \
      --check-radii 8 12 whole --bulk-radii --anneal-temperature 600 --anneal-steps 600 \
      --bicrystal examples/data/llzo_sigma5_bicrystal_chgnet.extxyz.gz ;;
  thickness)
    step $(( $(left) - 15 )) thickness python3 -c "from ssbkit.cli import main; main()" neb gb-barriers -m chgnet \
      --device "$DEVICE" --bicrystal examples/data/llzo_sigma5_bicrystal_chgnet.extxyz.gz --hops gb-across \
      --relax-radius 8 --check-thickness 1,2 --bicrystal-steps 1000 --images 3 --fmax 0.1 --steps 150 \
      --endpoint-fmax 0.1 --endpoint-steps 150 -o "$WORK/thickness" ;;
  timings)
    step 70 md_llzo python3 -m benchmarks.gpu_md_llzo --device "$DEVICE" --steps 40 --repeat 3
    step 80 neb_sevennet python3 -m benchmarks.neb_batched_vs_ase --model sevennet-0 --device "$DEVICE" \
      --images 7 --steps 20 --repeat 2
    step 40 md_replicas python3 -m benchmarks.md_batched_replicas --model sevennet-0 --device "$DEVICE" \
      --replicas 8 --steps 30 ;;
  llzto)
    window=$(( $(left) - 25 ))
    step "$window" llzto python3 benchmarks/gpu_llzto_ensemble.py --out "$WORK/llzto" --skip-notebook \
      --device "$DEVICE" --md-budget-s $((window - 90)) --equilibration-steps 300 --min-production-steps 1100 ;;
  *) echo "unknown part $PART: notebook, barriers, thickness, timings or llzto" >&2; exit 2 ;;
esac
pack
