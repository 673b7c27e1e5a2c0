"""Wall time of ssbkit's batched NEB against ase.mep.NEB (image by image), same model, same path.

Both start from the same relaxed endpoints and IDPP path, use the improved-tangent climbing-image NEB
with FIRE, and run the same fixed number of steps (fmax set unreachably low), so they do identical
work except for how the images reach the model: ASE asks a caching calculator per image (one model
evaluation per image and step, as ssbkit makes), ssbkit sends all images to ``ssbkit.potentials.predict``
in one call per iteration. Prints both times, the evaluations each made, and two ratios: per NEB (wall
time of the whole band) and per evaluation (wall time per image evaluation).

    python -m benchmarks.neb_batched_vs_ase --model chgnet --device cpu --images 7 --steps 20 [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.mep import NEB
from ase.optimize import FIRE

from ssbkit.interfaces.structures.hop_studies import STUDIES, build_study
from ssbkit.potentials import load
from ssbkit.workflows.neb import run_band
from ssbkit.workflows.relax import relax


class CachingCalculator(Calculator):
    """One image's calculator: evaluates energy, forces and stress of the shared model once per atoms state
    (ASE's cache) and counts its evaluations. A calculator shared by all images would be asked again for
    every image and property, making several model calls per image and step."""

    implemented_properties = ("energy", "free_energy", "forces")

    def __init__(self, model: Calculator) -> None:
        super().__init__()
        self.model = model
        self.evaluations = 0

    def calculate(self, atoms=None, properties=None, system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        copy = self.atoms.copy()
        copy.calc = self.model
        self.evaluations += 1
        energy = copy.get_potential_energy()
        self.results = {"energy": energy, "free_energy": energy, "forces": copy.get_forces()}


def ase_band(start, end, calculator, n_images: int, steps: int) -> tuple[float, float, int]:
    """ASE's NEB, every image evaluated on its own through a caching calculator; returns (barrier eV, wall s,
    model evaluations)."""
    images = [start.copy()] + [start.copy() for _ in range(n_images)] + [end.copy()]
    calculators = [CachingCalculator(calculator) for _ in images]
    for image, image_calculator in zip(images, calculators):
        image.calc = image_calculator
    band = NEB(images, climb=True, method="improvedtangent")
    band.interpolate(method="idpp", mic=True, apply_constraint=True)
    began = time.perf_counter()
    FIRE(band, logfile=None).run(fmax=1e-6, steps=steps)
    wall = time.perf_counter() - began
    evaluations = sum(c.evaluations for c in calculators[1:-1])
    energies = np.array([image.get_potential_energy() for image in images])
    return float(energies.max() - energies[0]), wall, evaluations


def batched_band(start, end, calculator, n_images: int, steps: int) -> tuple[float, float, int]:
    """ssbkit's NEB, all images per iteration in one predict call; returns (barrier eV, wall s, evaluations)."""
    began = time.perf_counter()
    images, band, *_ = run_band(start, end, calculator, n_images=n_images, fmax=1e-6, steps=steps)
    wall = time.perf_counter() - began
    energies = np.array([image.get_potential_energy() for image in images])
    return float(energies.max() - energies[0]), wall, band.n_evaluations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="chgnet")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--study", default="w-bulk-tt", choices=sorted(STUDIES))
    parser.add_argument("--full", action="store_true", help="production-size cell")
    parser.add_argument("--images", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each band; medians are reported")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    calculator = load(args.model, device=args.device, task="neb")
    study = build_study(args.study, full=args.full)
    start = relax(study.initial, calculator, fmax=0.02).atoms
    end = relax(study.final, calculator, fmax=0.02).atoms
    batched_band(start, end, calculator, args.images, 1)  # warm-up: model compilation, caches
    runs = [(ase_band(start, end, calculator, args.images, args.steps),
             batched_band(start, end, calculator, args.images, args.steps)) for _ in range(args.repeat)]
    (ase_barrier, _, ase_evals), (our_barrier, _, our_evals) = runs[-1]
    ase_wall = statistics.median(r[0][1] for r in runs)
    our_wall = statistics.median(r[1][1] for r in runs)
    print(f"{args.study} ({len(start)} atoms, {args.images} images, {args.steps} steps), "
          f"model {args.model}, device {args.device}, median of {args.repeat}")
    print(f"ase.mep.NEB (caching calculator per image): {ase_wall:8.2f} s  {ase_evals:5d} evaluations  "
          f"barrier {ase_barrier:.4f} eV")
    print(f"ssbkit batched NEB:                         {our_wall:8.2f} s  {our_evals:5d} evaluations  "
          f"barrier {our_barrier:.4f} eV")
    print(f"speed-up per NEB (ase / ssbkit wall): {ase_wall / our_wall:.2f}x; per evaluation: "
          f"{(ase_wall / ase_evals) / (our_wall / our_evals):.2f}x; "
          f"barrier difference {abs(ase_barrier - our_barrier) * 1000:.2f} meV")


if __name__ == "__main__":
    main()
