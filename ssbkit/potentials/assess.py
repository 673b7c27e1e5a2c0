"""Judge potentials on a structure: can a model handle it (``check_model``), and how much do several
models disagree on it (``compare_models``, the uncertainty signal used when screening)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.data import chemical_symbols

from ssbkit.errors import InputError
from ssbkit.potentials import load, model_name, predict
from ssbkit.potentials.backends import elements_of
from ssbkit.results import Result


@dataclass
class CheckResult(Result):
    """Whether a model covers a structure's elements, and what one evaluation costs and gives."""

    model: str
    formula: str
    n_atoms: int
    covered: bool
    missing_elements: list[str]
    load_seconds: float
    first_evaluation_seconds: float | None  # includes one-off setup (graph code, caches)
    seconds_per_evaluation: float | None  # median of repeated calls after the first
    energy_per_atom: float | None  # eV/atom
    max_force: float | None  # eV/Å


def check_model(atoms: Atoms, model: str | Calculator = "chgnet", device: str = "auto",
                repeats: int = 3) -> CheckResult:
    """Load ``model``, check element coverage of ``atoms`` and time energy+forces+stress evaluations."""
    if len(atoms) == 0:
        raise InputError("cannot check an empty structure")
    start = time.perf_counter()
    calculator = load(model, device=device)
    load_seconds = time.perf_counter() - start
    covered = elements_of(calculator)
    missing = sorted(set(atoms.numbers.tolist()) - covered) if covered is not None else []
    result = CheckResult(
        model=model_name(calculator), formula=atoms.get_chemical_formula(), n_atoms=len(atoms),
        covered=not missing, missing_elements=[chemical_symbols[z] for z in missing],
        load_seconds=load_seconds, first_evaluation_seconds=None, seconds_per_evaluation=None,
        energy_per_atom=None, max_force=None,
    )
    if missing:
        return result
    times = []
    for _ in range(1 + max(1, repeats)):
        start = time.perf_counter()
        prediction = predict([atoms], calculator)[0]
        times.append(time.perf_counter() - start)
    result.first_evaluation_seconds = times[0]
    result.seconds_per_evaluation = statistics.median(times[1:])
    result.energy_per_atom = prediction.energy / len(atoms)
    result.max_force = float(np.linalg.norm(prediction.forces, axis=1).max())
    return result


@dataclass
class ModelOutcome(Result):
    """One model's view of a structure: as given, and after relaxing it with that model."""

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
    """Each model's outcome and the spread (max - min over models) of every compared quantity."""

    formula: str
    outcomes: list[ModelOutcome]
    spread: dict[str, float]


def compare_models(atoms: Atoms, models: Sequence[str | Calculator], *, fmax: float = 0.05,
                   steps: int = 300, relax_cell: bool = True, device: str = "auto",
                   progress: bool = False) -> ComparisonResult:
    """Evaluate and relax ``atoms`` with each model; report per-model results and their spread."""
    from tqdm import tqdm

    from ssbkit.workflows.relax import relax

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
