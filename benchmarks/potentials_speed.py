"""Speed of ssbkit.potentials: time per evaluation, batched vs one-by-one, wrapper overhead, threads.

Every ratio is against a baseline measured in the same run:
  1. seconds per energy+forces+stress evaluation of 64/128/256/512-atom LiF cells, per model;
  2. predict() of 8 structures in graph batches vs the same 8 one at a time (ratio > 1: batching wins);
  3. predict([atoms]) vs the calculator called directly through ASE (overhead, target < 5%), and
     ssbkit's CHGNet calculator vs chgnet's stock CHGNetCalculator;
  4. one torch thread vs the default thread count.

    python benchmarks/potentials_speed.py --quick               # a few minutes on 2 CPU cores
    python benchmarks/potentials_speed.py --device cuda --models chgnet,sevennet-0,mace-mp-0-medium
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk

from ssbkit.potentials import load, predict

SIZES = {8: (1, 1, 1), 64: (2, 2, 2), 128: (4, 2, 2), 256: (4, 4, 2), 512: (4, 4, 4)}  # LiF conventional: 8 atoms


def lif_cell(n_atoms: int, seed: int = 0) -> Atoms:
    atoms = bulk("LiF", "rocksalt", a=4.03, cubic=True).repeat(SIZES[n_atoms])
    atoms.rattle(0.05, seed=seed)
    return atoms


def timed(function: Callable[[], object], repeats: int, device: str) -> float:
    """Median wall time (s) of ``repeats`` calls after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def direct(calculator, atoms_list: list[Atoms]) -> Callable[[], None]:
    """Evaluate each structure through the calculator's own ASE interface (the raw baseline)."""
    copies = [a.copy() for a in atoms_list]

    def run() -> None:
        for atoms in copies:
            atoms.positions[0, 0] += 1e-6  # force a fresh calculation
            atoms.calc = calculator
            atoms.get_potential_energy()
            atoms.get_forces()
            atoms.get_stress()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", default="chgnet,sevennet-0")
    parser.add_argument("--quick", action="store_true",
                        help="64/128-atom cells, 8-atom batches, one repeat")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [64, 128] if args.quick else [64, 128, 256, 512]
    repeats = 1 if args.quick else 5
    default_threads = torch.get_num_threads()
    print(f"device={args.device} torch threads={default_threads} torch={torch.__version__}")

    for name in args.models.split(","):
        calculator = load(name, device=args.device)
        print(f"\n== {name} ({calculator.ssbkit_dtype})")
        print("1. seconds per evaluation (energy, forces, stress)")
        for n in sizes:
            atoms = lif_cell(n)
            seconds = timed(lambda a=atoms: predict([a], calculator), repeats, args.device)
            print(f"   {n:4d} atoms: {seconds:.4f} s  ({seconds / n * 1e3:.3f} ms/atom)")

        print("2. 8 structures: graph batches vs one at a time")
        for n in ([8] if args.quick else [8, 64, 256]):
            cells = [lif_cell(n, seed=i) for i in range(8)]
            one = timed(lambda c=cells: [predict([a], calculator) for a in c], repeats, args.device)
            batched = timed(lambda c=cells: predict(c, calculator), repeats, args.device)
            forced = timed(lambda c=cells: predict(c, calculator, max_batch_edges=10**9), repeats,
                           args.device)
            print(f"   {len(cells[0]):4d}-atom cells: one-by-one {one:.3f} s, predict {batched:.3f} s "
                  f"(speed-up {one / batched:.2f}x), all in one batch {forced:.3f} s "
                  f"({one / forced:.2f}x)")

        print("3. wrapper overhead: predict([atoms]) vs the calculator through ASE")
        atoms = lif_cell(64)
        raw = timed(direct(calculator, [atoms]), repeats * 2, args.device)
        ours = timed(lambda: predict([atoms], calculator), repeats * 2, args.device)
        print(f"   64 atoms: calculator {raw:.4f} s, predict {ours:.4f} s, "
              f"overhead {100 * (ours / raw - 1):+.1f}%")
        if name == "chgnet":
            from chgnet.model import CHGNetCalculator

            stock = CHGNetCalculator(model=calculator.model, use_device=calculator.device)
            base = timed(direct(stock, [atoms]), repeats * 2, args.device)
            print(f"   chgnet's own CHGNetCalculator {base:.4f} s vs ssbkit's {raw:.4f} s: "
                  f"{base / raw:.2f}x faster")

        if args.device == "cpu" and default_threads > 1:
            print(f"4. torch threads: 1 vs {default_threads}")
            atoms = lif_cell(64)
            many = timed(lambda: predict([atoms], calculator), repeats, args.device)
            torch.set_num_threads(1)
            one = timed(lambda: predict([atoms], calculator), repeats, args.device)
            torch.set_num_threads(default_threads)
            print(f"   64 atoms: {default_threads} threads {many:.4f} s, 1 thread {one:.4f} s "
                  f"(1 thread is {many / one:.2f}x the speed)")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
