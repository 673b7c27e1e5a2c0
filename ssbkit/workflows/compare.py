"""How much several potentials disagree on a structure (``compare_models``): energies and forces as
given, and the cells each relaxes to; the spread over models is the uncertainty signal used when screening."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from ssbkit.errors import InputError
from ssbkit.potentials import load, model_name, predict
from ssbkit.results import Result
from ssbkit.workflows.relax import relax


@dataclass
class ModelOutcome(Result):
    """One model's view of a structure: energy (eV/atom) and largest force (eV/Å) as given, and after relaxing
    it with that model the energy (eV/atom), lattice (a, b, c in Å; angles in degrees) and volume (Å³/atom)."""

    model: str
    energy_per_atom: float  # eV/atom, input structure
    max_force: float  # eV/Å, input structure
    relaxed_energy_per_atom: float  # eV/atom
    lattice: list[float]  # relaxed a, b, c (Å), alpha, beta, gamma (degrees)
    volume_per_atom: float  # Å^3, relaxed
    converged: bool
    steps: int


@dataclass
class ComparisonResult(Result):
    """Each model's outcome and the spread (max - min over models) of every compared quantity, in that
    quantity's unit (see ``ModelOutcome``)."""

    formula: str
    outcomes: list[ModelOutcome]
    spread: dict[str, float]


def compare_models(atoms: Atoms, models: Sequence[str | Calculator], *, fmax: float = 0.05,
                   steps: int = 300, relax_cell: bool = True, device: str = "auto",
                   progress: bool = False) -> ComparisonResult:
    """Evaluate and relax ``atoms`` with each model; report per-model results and their spread."""
    from tqdm import tqdm

    if len(models) < 2:
        raise InputError("compare needs at least two models")
    if relax_cell and not atoms.pbc.all():
        raise InputError("relax_cell needs a periodic structure")
    outcomes = []
    for model in tqdm(models, desc="models", disable=not progress):
        calculator = load(model, device=device, task="relax")
        initial = predict([atoms], calculator)[0]
        relaxed = relax(atoms, calculator, fmax=fmax, steps=steps, relax_cell=relax_cell)
        outcomes.append(ModelOutcome(
            model=model_name(calculator),
            energy_per_atom=initial.energy / len(atoms),
            max_force=float(np.linalg.norm(initial.forces, axis=1).max()),
            relaxed_energy_per_atom=relaxed.energy_per_atom,
            lattice=[float(x) for x in relaxed.atoms.cell.cellpar()],
            volume_per_atom=relaxed.atoms.get_volume() / len(atoms),
            converged=relaxed.converged, steps=relaxed.steps,
        ))
    columns = {
        "energy_per_atom": [o.energy_per_atom for o in outcomes],
        "max_force": [o.max_force for o in outcomes],
        "relaxed_energy_per_atom": [o.relaxed_energy_per_atom for o in outcomes],
        "volume_per_atom": [o.volume_per_atom for o in outcomes],
        **{name: [o.lattice[i] for o in outcomes]
           for i, name in enumerate(["a", "b", "c", "alpha", "beta", "gamma"])},
    }
    spread = {name: float(max(values) - min(values)) for name, values in columns.items()}
    return ComparisonResult(formula=atoms.get_chemical_formula(), outcomes=outcomes, spread=spread)
