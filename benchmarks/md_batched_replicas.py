"""Replica MD speed: all replicas advanced together (one batched ``predict`` per step) against the same
replicas run one after another (one ``predict`` per replica per step), in the same run.

    python benchmarks/md_batched_replicas.py --device cuda --replicas 8 --steps 50

Prints replica-steps per second for both and their ratio. The system is Li in Mg (one Mg of a
4x4x3 hcp supercell replaced by Li, 96 atoms) unless ``--structure`` names a file.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from ase.build import bulk
from ase.io import read

from ssbkit.potentials import load
from ssbkit.workflows.md import run_replicas


def li_in_mg():
    cell = bulk("Mg", "hcp", a=3.21, c=5.21).repeat((4, 4, 3))
    cell[0].symbol = "Li"
    return cell


def replica_steps_per_second(replicas, temperatures, calculator, steps: int, batched: bool) -> float:
    with tempfile.TemporaryDirectory() as directory:
        start = time.perf_counter()
        if batched:
            run_replicas(replicas, temperatures, calculator, directory, equilibration_steps=0,
                         production_steps=steps, save_every=steps, progress=False)
        else:
            for index, (atoms, temperature) in enumerate(zip(replicas, temperatures)):
                run_replicas([atoms], [temperature], calculator, f"{directory}/{index}",
                             equilibration_steps=0, production_steps=steps, save_every=steps, progress=False)
        elapsed = time.perf_counter() - start
    return len(replicas) * steps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="chgnet")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--structure", help="structure file (default: Li in Mg, 96 atoms)")
    args = parser.parse_args()

    calculator = load(args.model, device=args.device, task="md")
    atoms = read(args.structure) if args.structure else li_in_mg()
    temperatures = list(np.linspace(600, 1200, args.replicas))
    replicas = [atoms] * args.replicas
    replica_steps_per_second(replicas[:1], temperatures[:1], calculator, 2, batched=True)  # warm-up
    batched = replica_steps_per_second(replicas, temperatures, calculator, args.steps, batched=True)
    sequential = replica_steps_per_second(replicas, temperatures, calculator, args.steps, batched=False)
    print(f"{args.model} on {args.device}: {args.replicas} replicas x {len(atoms)} atoms, {args.steps} steps")
    print(f"one after another: {sequential:8.2f} replica-steps/s")
    print(f"batched:           {batched:8.2f} replica-steps/s")
    print(f"speed-up batched / one after another: {batched / sequential:.2f}x")


if __name__ == "__main__":
    main()
