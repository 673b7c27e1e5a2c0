"""Wall time of ssbkit's batched NEB against ase.mep.NEB (image by image), same model, same path.

Both start from the same relaxed endpoints and IDPP path, use the improved-tangent climbing-image NEB
with FIRE, and run the same fixed number of steps (fmax set unreachably low), so they do identical
work except for how the images reach the model: ASE asks the calculator once per image, ssbkit sends
all images to ``ssbkit.potentials.predict`` in one call per iteration.

    python benchmarks/neb_batched_vs_ase.py --model chgnet --device cpu --images 7 --steps 20
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from ase.mep import NEB
from ase.optimize import FIRE

from ssbkit.interfaces.structures.hop_studies import STUDIES, build_study
from ssbkit.potentials import load
from ssbkit.workflows.neb import run_band
from ssbkit.workflows.relax import relax


def ase_band(start, end, calculator, n_images: int, steps: int) -> tuple[float, float]:
    """ASE's NEB, every image evaluated on its own; returns (barrier eV, wall s)."""
    images = [start.copy()] + [start.copy() for _ in range(n_images)] + [end.copy()]
    for image in images:
        image.calc = calculator
    band = NEB(images, climb=True, method="improvedtangent", allow_shared_calculator=True)
    band.interpolate(method="idpp", mic=True, apply_constraint=True)
    began = time.perf_counter()
    FIRE(band, logfile=None).run(fmax=1e-6, steps=steps)
    wall = time.perf_counter() - began
    energies = np.array([image.get_potential_energy() for image in images])
    return float(energies.max() - energies[0]), wall


def batched_band(start, end, calculator, n_images: int, steps: int) -> tuple[float, float]:
    """ssbkit's NEB, all images per iteration in one predict call; returns (barrier eV, wall s)."""
    began = time.perf_counter()
    images, *_ = run_band(start, end, calculator, n_images=n_images, fmax=1e-6, steps=steps)
    wall = time.perf_counter() - began
    energies = np.array([image.get_potential_energy() for image in images])
    return float(energies.max() - energies[0]), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="chgnet")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--study", default="w-bulk-tt", choices=sorted(STUDIES))
    parser.add_argument("--full", action="store_true", help="production-size cell")
    parser.add_argument("--images", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    calculator = load(args.model, device=args.device, task="neb")
    study = build_study(args.study, full=args.full)
    start = relax(study.initial, calculator, fmax=0.02).atoms
    end = relax(study.final, calculator, fmax=0.02).atoms
    batched_band(start, end, calculator, args.images, 1)  # warm-up: model compilation, caches
    ase_barrier, ase_wall = ase_band(start, end, calculator, args.images, args.steps)
    our_barrier, our_wall = batched_band(start, end, calculator, args.images, args.steps)
    print(f"{args.study} ({len(start)} atoms, {args.images} images, {args.steps} steps), "
          f"model {args.model}, device {args.device}")
    print(f"ase.mep.NEB (image by image): {ase_wall:8.2f} s   barrier {ase_barrier:.4f} eV")
    print(f"ssbkit batched NEB:           {our_wall:8.2f} s   barrier {our_barrier:.4f} eV")
    print(f"speed-up (ase / ssbkit): {ase_wall / our_wall:.2f}x   "
          f"barrier difference {abs(ase_barrier - our_barrier) * 1000:.2f} meV")


if __name__ == "__main__":
    main()
