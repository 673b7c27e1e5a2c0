"""Speed of ssbkit.potentials: time per evaluation, batched vs one-by-one, wrapper overhead, threads.

Every ratio is against a baseline measured in the same run:
  1. seconds per energy+forces+stress evaluation of 64/128/256/512-atom LiF cells, per model;
  2. predict() of 8 structures in graph batches vs the same 8 one at a time (ratio > 1: batching wins);
  3. predict([atoms]) vs the calculator called directly through ASE (overhead, target < 5%), and
     ssbkit's CHGNet calculator vs chgnet's stock CHGNetCalculator;
  4. one torch thread vs the default thread count.

    python benchmarks/potentials_speed.py --quick               # a few minutes on 2 CPU cores
    python benchmarks/potentials_speed.py --device cuda --models chgnet,sevennet-0,mace-like-medium

No machine here can download MACE foundation weights, so ``mace-like-small``/``mace-like-medium`` build
a MACE with MACE-MP-0 small/medium hyperparameters (128 channels, L=0/1, r_max 6 Å, 89 elements) and
mace-torch's random initial weights, saved and loaded through ``mace:PATH``: same cost per evaluation,
meaningless energies. A cached foundation model name (``mace-mp-0-medium``) works too.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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


def mace_like(size: str, directory: Path) -> str:
    """``mace:PATH`` of a randomly initialised MACE with MACE-MP-0 ``size`` hyperparameters."""
    from ssbkit.potentials._compat import configure_e3nn

    configure_e3nn()
    from e3nn import o3
    from mace import modules

    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    elements = list(range(1, 90))
    model = modules.ScaleShiftMACE(
        r_max=6.0, num_bessel=10, num_polynomial_cutoff=5, max_ell=3, interaction_cls=block,
        interaction_cls_first=block, num_interactions=2, num_elements=len(elements),
        hidden_irreps=o3.Irreps("128x0e" if size == "small" else "128x0e+128x1o"),
        MLP_irreps=o3.Irreps("16x0e"), atomic_energies=np.zeros(len(elements)),
        avg_num_neighbors=61.96, atomic_numbers=elements, correlation=3,
        gate=torch.nn.functional.silu, radial_MLP=[64, 64, 64],
        atomic_inter_scale=1.0, atomic_inter_shift=0.0,
    )
    path = directory / f"mace-like-{size}.model"
    torch.save(model, path)
    return f"mace:{path}"


def timed(function: Callable[[], object], repeats: int, device: str, wall: bool = False) -> float:
    """Median time (s) of ``repeats`` calls after one warm-up call.

    On CPU this is the process's CPU time, which other users of a shared machine do not inflate
    (with one torch thread it equals the uncontended wall time); on CUDA, or with ``wall``, wall time.
    """
    clock = time.perf_counter if wall or device.startswith("cuda") else time.process_time
    function()
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = clock()
        function()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(clock() - start)
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
    clock = "wall" if args.device.startswith("cuda") else "process CPU"
    print(f"device={args.device} torch threads={torch.get_num_threads()} torch={torch.__version__}; "
          f"times are {clock} seconds")

    with tempfile.TemporaryDirectory(prefix="ssbkit-bench-") as scratch:
        for name in args.models.split(","):
            model = (mace_like(name.removeprefix("mace-like-"), Path(scratch))
                     if name.startswith("mace-like-") else name)
            calculator = load(model, device=args.device)
            print(f"\n== {name} ({calculator.ssbkit_dtype})")
            benchmark_model(name, calculator, sizes, repeats, args)


def benchmark_model(name: str, calculator, sizes: list[int], repeats: int,
                    args: argparse.Namespace) -> None:
    """Print sections 1-4 of the module docstring for one loaded model."""
    device = args.device
    print("1. seconds per evaluation (energy, forces, stress)")
    for n in sizes:
        atoms = lif_cell(n)
        seconds = timed(lambda a=atoms: predict([a], calculator), repeats, device)
        print(f"   {n:4d} atoms: {seconds:.4f} s  ({seconds / n * 1e3:.3f} ms/atom)")

    print("2. 8 structures: graph batches vs one at a time")
    for n in ([8] if args.quick else [8, 64, 256]):
        cells = [lif_cell(n, seed=i) for i in range(8)]
        one = timed(lambda c=cells: [predict([a], calculator) for a in c], repeats, device)
        batched = timed(lambda c=cells: predict(c, calculator), repeats, device)
        forced = timed(lambda c=cells: predict(c, calculator, max_batch_edges=10**9), repeats, device)
        print(f"   {n:4d}-atom cells: one-by-one {one:.3f} s, predict {batched:.3f} s "
              f"(speed-up {one / batched:.2f}x), all in one batch {forced:.3f} s ({one / forced:.2f}x)")

    print("3. wrapper overhead: predict([atoms]) vs the calculator through ASE")
    atoms = lif_cell(64)
    raw = timed(direct(calculator, [atoms]), repeats * 2, device)
    ours = timed(lambda: predict([atoms], calculator), repeats * 2, device)
    print(f"   64 atoms: calculator {raw:.4f} s, predict {ours:.4f} s, "
          f"overhead {100 * (ours / raw - 1):+.1f}%")
    if name == "chgnet":
        from chgnet.model import CHGNetCalculator

        stock = CHGNetCalculator(model=calculator.model, use_device=calculator.device)
        base = timed(direct(stock, [atoms]), repeats * 2, device)
        print(f"   chgnet's own CHGNetCalculator {base:.4f} s vs ssbkit's {raw:.4f} s: "
              f"{base / raw:.2f}x faster")

    threads = torch.get_num_threads()
    if device == "cpu" and threads > 1:
        print(f"4. torch threads: 1 vs {threads} (wall time)")
        many = timed(lambda: predict([atoms], calculator), repeats, device, wall=True)
        torch.set_num_threads(1)
        one = timed(lambda: predict([atoms], calculator), repeats, device, wall=True)
        torch.set_num_threads(threads)
        print(f"   64 atoms: {threads} threads {many:.4f} s, 1 thread {one:.4f} s "
              f"(1 thread is {many / one:.2f}x the speed)")


if __name__ == "__main__":
    main()
