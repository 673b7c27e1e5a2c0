"""ML interatomic potentials behind one registry (issue 4 extends this).

``load(name)`` returns an ASE calculator; ``predict(structures, calculator)`` evaluates a list of
structures. Everything atomistic in ssbkit receives a calculator from here as an argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from ssbkit.errors import CalculationError, ModelError
from ssbkit.potentials._compat import allow_e3nn_constants
from ssbkit.results import Result


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} requested but CUDA is not available on this machine")
    return device


def load(name: str | Calculator = "chgnet", device: str = "auto", dtype: str | None = None) -> Calculator:
    """Return an ASE calculator for a model name, ``mace:PATH``, or pass an ASE calculator through."""
    if isinstance(name, Calculator):
        return name
    device = _resolve_device(device)
    allow_e3nn_constants()
    if name == "chgnet":
        from chgnet.model import CHGNet, CHGNetCalculator

        return CHGNetCalculator(CHGNet.load(verbose=False), use_device=device)
    if name == "sevennet-0":
        from sevenn.calculator import SevenNetCalculator

        return SevenNetCalculator("7net-0", device=device)
    if name.startswith("mace:"):
        from mace.calculators import MACECalculator

        return MACECalculator(model_paths=name.removeprefix("mace:"), device=device,
                              default_dtype=dtype or "float64")
    raise ModelError(f"unknown model {name!r}; known: chgnet, sevennet-0, mace:PATH")


@dataclass
class Prediction(Result):
    """Energy (eV), forces (eV/Å) and stress (eV/Å³, Voigt order, None without a periodic cell)."""

    energy: float
    forces: np.ndarray
    stress: np.ndarray | None


def predict(structures: Sequence[Atoms], calculator: Calculator) -> list[Prediction]:
    """Evaluate energies, forces and stresses of several structures with one calculator."""
    results = []
    for atoms in structures:
        atoms = atoms.copy()
        atoms.calc = calculator
        energy = float(atoms.get_potential_energy())
        forces = atoms.get_forces()
        stress = atoms.get_stress() if atoms.pbc.all() else None
        if not np.isfinite(energy) or not np.isfinite(forces).all():
            raise CalculationError(f"non-finite energy or forces for {atoms.get_chemical_formula()}")
        results.append(Prediction(energy=energy, forces=forces, stress=stress))
    return results


__all__ = ["Prediction", "load", "predict"]
