"""Judge a potential on a structure: can the model handle it, and what does one evaluation cost
(``check_model``). How much several models disagree on it is :mod:`ssbkit.workflows.compare`."""

from __future__ import annotations

import statistics
import time
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
    """Whether a model covers a structure's elements, and what one evaluation costs (wall-clock s) and gives:
    energy per atom (eV/atom) and largest force (eV/Å)."""

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
                repeats: int = 3, trust_model: bool = False) -> CheckResult:
    """Load ``model``, check element coverage of ``atoms`` and time energy+forces+stress evaluations."""
    if len(atoms) == 0:
        raise InputError("cannot check an empty structure")
    start = time.perf_counter()
    calculator = load(model, device=device, trust_model=trust_model)
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
