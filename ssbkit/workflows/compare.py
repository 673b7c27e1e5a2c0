"""How much several potentials disagree on a structure (``compare_models``): energies and forces as
given, and the cells each relaxes to; the spread over models is the uncertainty signal used when screening.

Each compared quantity is also summarised as a committee value (mean ± sample std, spread, and whether
the spread exceeds its threshold, see :mod:`ssbkit.workflows.committee`); a model that fails is recorded
with its reason and the others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from ssbkit.errors import InputError
from ssbkit.potentials import predict
from ssbkit.results import Caveat, Result
from ssbkit.workflows.committee import (
    CommitteeResult,
    CommitteeValue,
    ModelFailure,
    committee_value,
    run_committee,
    spread_caveats,
)
from ssbkit.workflows.relax import relax

LATTICE = ("a", "b", "c", "alpha", "beta", "gamma")
#: Quantities summarised as committee values: (key, description, unit).
COMMITTEE_QUANTITIES = (
    ("energy_per_atom", "energy per atom (input structure)", "eV/atom"),
    ("relaxed_energy_per_atom", "relaxed energy per atom", "eV/atom"),
    ("a", "a", "Å"),
    ("b", "b", "Å"),
    ("c", "c", "Å"),
    ("volume_per_atom", "relaxed volume per atom", "Å^3/atom"),
)


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

    def quantity(self, key: str) -> float:
        """A compared quantity by key (a field, or one of a, b, c, alpha, beta, gamma)."""
        return self.lattice[LATTICE.index(key)] if key in LATTICE else float(getattr(self, key))


@dataclass
class ComparisonResult(CommitteeResult):
    """Each finished model's outcome; the spread (max - min over finished models, None when none finished)
    of every compared quantity in its unit (see ``ModelOutcome``); committee values (keyed like ``spread``)
    for energies, a, b, c and volume; failed models; caveats."""

    formula: str
    outcomes: list[ModelOutcome]
    spread: dict[str, float | None]
    committee: dict[str, CommitteeValue] = field(default_factory=dict)
    failures: list[ModelFailure] = field(default_factory=list)
    caveats: list[Caveat] = field(default_factory=list)


def compare_models(atoms: Atoms, models: Sequence[str], load_calculator: Callable[[str], Calculator], *,
                   fmax: float = 0.05, steps: int = 300, relax_cell: bool = True,
                   progress: bool = False) -> ComparisonResult:
    """Evaluate and relax ``atoms`` (fmax in eV/Å) with each model (``load_calculator(model)`` gives its
    calculator); report per-model results, their spread and committee values. A model that raises an
    SsbkitError is recorded in ``failures`` and the others go on."""
    from tqdm import tqdm

    if len(models) < 2:
        raise InputError("compare needs at least two models")
    if relax_cell and not atoms.pbc.all():
        raise InputError("relax_cell needs a periodic structure")

    def outcome(model: str) -> ModelOutcome:
        calculator = load_calculator(model)
        initial = predict([atoms], calculator)[0]
        relaxed = relax(atoms, calculator, fmax=fmax, steps=steps, relax_cell=relax_cell)
        return ModelOutcome(
            model=model,
            energy_per_atom=initial.energy / len(atoms),
            max_force=float(np.linalg.norm(initial.forces, axis=1).max()),
            relaxed_energy_per_atom=relaxed.energy_per_atom,
            lattice=[float(x) for x in relaxed.atoms.cell.cellpar()],
            volume_per_atom=relaxed.atoms.get_volume() / len(atoms),
            converged=relaxed.converged, steps=relaxed.steps,
        )

    run = run_committee(tqdm(models, desc="models", disable=not progress), outcome)
    outcomes = list(run.results.values())
    keys = ("energy_per_atom", "max_force", "relaxed_energy_per_atom", "volume_per_atom", *LATTICE)
    spread = {key: float(max(values) - min(values)) if (values := [o.quantity(key) for o in outcomes]) else None
              for key in keys}
    committee = {key: committee_value(description, unit, {o.model: o.quantity(key) for o in outcomes})
                 for key, description, unit in COMMITTEE_QUANTITIES}
    return ComparisonResult(formula=atoms.get_chemical_formula(), outcomes=outcomes, spread=spread,
                            committee=committee, failures=run.failures,
                            caveats=run.failure_caveats() + spread_caveats(list(committee.values())))
