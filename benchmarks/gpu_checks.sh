#!/usr/bin/env bash
# The device checks in one run (about 8 minutes on one GPU), results written under $OUT:
#   neb_*.txt   batched NEB vs ASE at equal evaluations (7 images, the w-bulk-tt cell), per NEB and per evaluation
#   md_llzo.txt SevenNet-0 MD of the 1920-atom LLZO bicrystal: steps/s, graph building vs model, torch-sim if installed
#   batching.txt MD replicas and runner lockstep, batched vs one by one
# Run from the repository root: OUT=/some/dir bash benchmarks/gpu_checks.sh
set -u
OUT=${OUT:-gpu_results}
mkdir -p "$OUT"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
python -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))" > "$OUT/torch.txt" 2>&1
run() {  # run SECONDS FILE COMMAND...: one check with its own time limit; a failure does not stop the others
  local limit=$1 file=$2
  shift 2
  timeout "$limit" "$@" > "$OUT/$file" 2>&1 || echo "exit code $? (124: ran past ${limit} s)" >> "$OUT/$file"
}
run 150 neb_sevennet.txt python -m benchmarks.neb_batched_vs_ase --model sevennet-0 --device cuda --images 7 --steps 20 --repeat 3
run 110 neb_chgnet.txt python -m benchmarks.neb_batched_vs_ase --model chgnet --device cuda --images 7 --steps 20 --repeat 2
run 150 md_llzo.txt python -m benchmarks.gpu_md_llzo --device cuda --steps 50
run 60 md_replicas.txt python -m benchmarks.md_batched_replicas --device cuda --replicas 8 --steps 50
ls -l "$OUT"
