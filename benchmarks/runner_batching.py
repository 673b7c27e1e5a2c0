"""Batched model calls in the runner: many small same-kind tasks, one model call per step.

Measures, in one run on one device, N single points and N short relaxations done one task at a time
(the baseline) and through ``run_lockstep`` (what the runner does for batchable kinds with
``batch_size > 1``), and prints the speed-up ratios with the model calls each made (the same evaluations: one
per relaxation step and task). A lockstep call holds every task's cell, and ``ssbkit.potentials.predict``
evaluates them as one batched graph where that wins: every model on CUDA, SevenNet on a CPU; CHGNet and MACE
on a CPU get one graph per cell inside the call, so there lockstep only adds thread hand-offs (CHGNet, idle
2-core CPU, 4 relaxations of 32-atom Cu: 0.83x). That is why the runner's default batch size on a CPU is 1.
"""

from __future__ import annotations

import argparse
import time

from ase.build import bulk

from ssbkit.potentials.batching import predict, run_lockstep
from ssbkit.workflows.kinds import load_model
from ssbkit.workflows.relax import relax


def structures(count: int, repeat: int) -> list:
    """Rattled fcc Cu supercells (covered by EMT and every universal potential)."""
    cells = []
    for seed in range(count):
        atoms = bulk("Cu", cubic=True)
        atoms = atoms.repeat(repeat)
        atoms.rattle(stdev=0.05, seed=seed)
        cells.append(atoms)
    return cells


def timed(function) -> tuple[object, float]:
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="chgnet")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--tasks", type=int, default=16, help="number of small tasks")
    parser.add_argument("--repeat", type=int, default=2, help="supercell repeat of the 4-atom cubic cell")
    parser.add_argument("--steps", type=int, default=10, help="relaxation steps per task")
    args = parser.parse_args()
    calculator = load_model(args.model, device=args.device)
    cells = structures(args.tasks, args.repeat)
    predict(cells[:1], calculator)  # warm-up: weights on the device, kernels compiled

    _, one_by_one = timed(lambda: [predict([a], calculator) for a in cells])
    _, batched = timed(lambda: predict(cells, calculator))
    _, lockstep_sp = timed(lambda: run_lockstep([lambda c, a=a: predict([a], c) for a in cells], calculator))
    print(f"{args.tasks} single points of {len(cells[0])} atoms, {args.model} on {args.device}:")
    print(f"  one predict per task {one_by_one:.3f} s | one predict for all {batched:.3f} s "
          f"(x{one_by_one / batched:.2f}) | runner lockstep {lockstep_sp:.3f} s (x{one_by_one / lockstep_sp:.2f})")

    def sequential():
        return [relax(a, calculator, fmax=1e-6, steps=args.steps) for a in cells]

    def lockstep():
        return run_lockstep([lambda c, a=a: relax(a, c, fmax=1e-6, steps=args.steps) for a in cells], calculator)

    reference, sequential_s = timed(sequential)
    (batched_results, calls), lockstep_s = timed(lockstep)
    drift = max(abs(r.energy - b.energy) for r, b in zip(reference, batched_results))
    evaluations = sum(r.steps + 1 for r in reference)  # FIRE evaluates the start and after every step
    print(f"{args.tasks} relaxations x {args.steps} FIRE steps: sequential {sequential_s:.3f} s "
          f"({evaluations} model calls of one cell) | lockstep {lockstep_s:.3f} s in {calls} calls of "
          f"{args.tasks} cells (x{sequential_s / lockstep_s:.2f}); max energy difference {drift:.2e} eV")


if __name__ == "__main__":
    main()
