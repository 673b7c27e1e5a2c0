"""Structure relaxation with any ASE calculator (positions, optionally the cell)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS, FIRE

from ssbkit.errors import CalculationError, InputError
from ssbkit.results import Result

OPTIMIZERS = {"FIRE": FIRE, "BFGS": BFGS}


@dataclass
class RelaxResult(Result):
    """Relaxed structure, its energy (eV, eV/atom), remaining max force (eV/Å) and convergence."""

    atoms: Atoms
    energy: float
    energy_per_atom: float
    fmax: float
    steps: int
    converged: bool


def check_finite(atoms: Atoms) -> None:
    """Raise CalculationError if the calculator returned a non-finite energy or forces."""
    energy = atoms.get_potential_energy()
    if not np.isfinite(energy) or not np.isfinite(atoms.get_forces()).all():
        raise CalculationError(f"non-finite energy or forces for {atoms.get_chemical_formula()}")


def relax(
    atoms: Atoms,
    calculator: Calculator,
    fmax: float = 0.05,
    steps: int = 500,
    relax_cell: bool = False,
    optimizer: str = "FIRE",
    trajectory: str | Path | None = None,
) -> RelaxResult:
    """Relax positions (and the cell if ``relax_cell``) until the max force is below ``fmax`` (eV/Å).

    The input ``atoms`` is not modified; constraints on it are respected.
    """
    if optimizer not in OPTIMIZERS:
        raise InputError(f"unknown optimizer {optimizer!r}; choose from {sorted(OPTIMIZERS)}")
    if len(atoms) == 0:
        raise InputError("cannot relax an empty structure")
    work = atoms.copy()
    work.calc = calculator
    check_finite(work)
    target = FrechetCellFilter(work) if relax_cell else work
    opt = OPTIMIZERS[optimizer](target, logfile=None, trajectory=str(trajectory) if trajectory else None)
    opt.attach(check_finite, interval=1, atoms=work)
    converged = bool(opt.run(fmax=fmax, steps=steps))
    energy = float(work.get_potential_energy())
    forces = work.get_forces()
    final = work.copy()
    final.calc = None
    return RelaxResult(
        atoms=final,
        energy=energy,
        energy_per_atom=energy / len(work),
        fmax=float(np.linalg.norm(forces, axis=1).max()),
        steps=opt.get_number_of_steps(),
        converged=converged,
    )
