"""Structure relaxation with any ASE calculator (positions, optionally the cell)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from ssbkit.errors import CalculationError, InputError
from ssbkit.results import Result
from ssbkit.settings import apply_overrides, setting, validate

OPTIMIZERS = ("FIRE", "BFGS", "LBFGS")  # class names in ase.optimize


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


@dataclass(frozen=True, kw_only=True)
class RelaxSettings:
    """How :func:`relax` relaxes a structure."""

    fmax: float = setting(0.05, help="Convergence: largest force on any atom (eV/Å).", unit="eV/Å",
                          minimum=0, exclusive_minimum=True)
    steps: int = setting(500, help="Most optimizer steps.", minimum=1)
    relax_cell: bool = setting(False, help="Relax the cell too (Frechet cell filter), not only positions.")
    optimizer: str = setting("FIRE", help="ASE optimizer.", choices=OPTIMIZERS)

    def __post_init__(self) -> None:
        validate(self)


def relax(
    atoms: Atoms,
    calculator: Calculator,
    settings: RelaxSettings | None = None,
    *,
    trajectory: str | Path | None = None,
    **overrides: Any,
) -> RelaxResult:
    """Relax positions (and the cell if ``settings.relax_cell``) until the max force is below
    ``settings.fmax`` (eV/Å). Keyword arguments named like fields of :class:`RelaxSettings` override them.

    The input ``atoms`` is not modified; constraints on it are respected.
    """
    import ase.optimize
    from ase.filters import FrechetCellFilter

    settings = apply_overrides(RelaxSettings, settings, overrides)
    if len(atoms) == 0:
        raise InputError("cannot relax an empty structure")
    work = atoms.copy()
    work.calc = calculator
    check_finite(work)
    target = FrechetCellFilter(work) if settings.relax_cell else work
    optimizer = getattr(ase.optimize, settings.optimizer)
    opt = optimizer(target, logfile=None, trajectory=str(trajectory) if trajectory else None)
    opt.attach(check_finite, interval=1, atoms=work)
    converged = bool(opt.run(fmax=settings.fmax, steps=settings.steps))
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
