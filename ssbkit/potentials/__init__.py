"""ML interatomic potentials behind one registry, with batched evaluation.

``load(name)`` returns an ASE calculator for a registered model (``chgnet``, ``sevennet-0``,
``mace-mp-0-medium``, ...), a local MACE file (``mace:PATH``) or passes an ASE calculator through.
``predict(structures, calculator)`` evaluates many structures through the backend's own graph
batching. Everything atomistic in ssbkit receives a calculator from here as an argument.

Precision: ``dtype=None`` picks by ``task`` (``DEFAULT_DTYPE``): float64 for ``"relax"`` and ``"neb"``,
float32 for ``"md"``. Backends that only run in float32 (CHGNet, SevenNet) use float32 whatever the
task; asking them explicitly for float64 is an error.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.data import chemical_symbols

from ssbkit.errors import CalculationError, InputError, ModelError
from ssbkit.potentials._compat import configure_e3nn
from ssbkit.potentials.backends import (
    Backend,
    backend_for,
    cpu_batch_edges,
    edge_batches,
    elements_of,
)
from ssbkit.potentials.registry import (
    CARDS,
    DEFAULT_DTYPE,
    DEFAULT_MODEL,
    ModelCard,
    card,
    local_mace_card,
    resolve_mace_weights,
)
from ssbkit.results import Result

#: Edges (bonds, plus angles for CHGNet) per batch on CUDA, where large batches fill the device. On
#: CPU each backend's measured ``Backend.cpu_batch_edges`` applies (see backends.py).
CUDA_BATCH_EDGES = 300_000
DTYPES = ("float32", "float64")


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelError(f"device {device!r} requested but CUDA is not available on this machine; "
                             "use device='cpu' or 'auto'")
        return device
    if device != "cpu":
        raise InputError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda[:N]'")
    return device


def _resolve_dtype(model_card: ModelCard, dtype: str | None, task: str) -> str:
    if task not in DEFAULT_DTYPE:
        raise InputError(f"unknown task {task!r}; choose from {sorted(DEFAULT_DTYPE)}")
    if dtype is None:
        wanted = DEFAULT_DTYPE[task]
        return wanted if wanted in model_card.dtypes else model_card.dtypes[0]
    if dtype not in DTYPES:
        raise InputError(f"unknown dtype {dtype!r}; choose from {DTYPES}")
    if dtype not in model_card.dtypes:
        raise ModelError(f"{model_card.name} runs only in {', '.join(model_card.dtypes)}, not {dtype}")
    return dtype


def load(name: str | Calculator = DEFAULT_MODEL, device: str = "auto", dtype: str | None = None,
         *, task: str = "relax") -> Calculator:
    """Return an ASE calculator for a registered model name, ``mace:PATH``, or an ASE calculator.

    ``device``: "auto" (CUDA when present), "cpu" or "cuda[:N]". ``dtype``: "float32", "float64" or
    None for the task's default (``DEFAULT_DTYPE``; ``task`` is "relax", "neb" or "md").
    The calculator carries its ``ssbkit_card`` (ModelCard) and ``ssbkit_dtype``.
    """
    if isinstance(name, Calculator):
        return name
    if not isinstance(name, str):
        raise InputError(f"model must be a name or an ASE calculator, not {type(name).__name__}")
    if name.startswith("mace:"):
        path = Path(name.removeprefix("mace:")).expanduser()
        if not path.is_file():
            raise ModelError(f"MACE model file not found: {path}")
        model_card = local_mace_card(path)
    else:
        model_card = card(name)
        path = resolve_mace_weights(model_card) if model_card.backend == "mace" else None
    device = _resolve_device(device)
    precision = _resolve_dtype(model_card, dtype, task)
    if model_card.backend != "chgnet":
        configure_e3nn()
    from ssbkit.potentials import backends

    try:
        if model_card.backend == "chgnet":
            calculator = backends.chgnet_calculator(device)
        elif model_card.backend == "sevennet":
            calculator = backends.sevennet_calculator(model_card.checkpoint, device)
        else:
            calculator = backends.mace_calculator(str(path), device, precision)
    except (RuntimeError, ValueError, KeyError, AttributeError, EOFError, OSError,
            pickle.UnpicklingError) as exc:
        raise ModelError(f"cannot load {model_card.name} from {model_card.weights}: {exc}") from exc
    calculator.ssbkit_card = model_card
    calculator.ssbkit_dtype = precision
    return calculator


def model_name(calculator: Calculator) -> str:
    """The registry name of a calculator made by ``load``, else its class name."""
    model_card = getattr(calculator, "ssbkit_card", None)
    return model_card.name if model_card else type(calculator).__name__


def _as_atoms(structure: object) -> Atoms:
    if isinstance(structure, Atoms):
        return structure
    from pymatgen.core import Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    if isinstance(structure, Structure):
        return AseAtomsAdaptor.get_atoms(structure)
    raise InputError(f"expected ase.Atoms or pymatgen Structure, got {type(structure).__name__}")


def check_coverage(structures: Sequence[Atoms] | Atoms, calculator: Calculator) -> None:
    """Raise ModelError naming every element of ``structures`` the calculator's model lacks."""
    covered = elements_of(calculator)
    if covered is None:
        return
    structures = [structures] if isinstance(structures, Atoms) else structures
    present = set().union(*(set(_as_atoms(s).numbers.tolist()) for s in structures))
    missing = sorted(present - covered)
    if missing:
        names = ", ".join(chemical_symbols[z] for z in missing)
        raise ModelError(f"{model_name(calculator)} does not cover element(s) {names}")


@dataclass
class Prediction(Result):
    """Energy (eV), forces (eV/Å) and stress (eV/Å³, Voigt order, None without a periodic cell)."""

    energy: float
    forces: np.ndarray
    stress: np.ndarray | None


def _device_type(calculator: Calculator) -> str:
    device = getattr(calculator, "device", "cpu")
    return "cuda" if str(device).startswith("cuda") else "cpu"


def _batch_edges(backend: Backend, calculator: Calculator) -> int:
    import torch

    if _device_type(calculator) == "cuda":
        return CUDA_BATCH_EDGES
    return cpu_batch_edges(backend, torch.get_num_threads())


def _one_by_one(atoms: Atoms, calculator: Calculator) -> tuple[float, np.ndarray, np.ndarray | None]:
    atoms = atoms.copy()
    atoms.calc = calculator
    stress = atoms.get_stress() if atoms.pbc.all() else None
    return float(atoms.get_potential_energy()), atoms.get_forces(), stress


def predict(structures: Sequence[Atoms], calculator: Calculator, *,
            max_batch_edges: int | None = None) -> list[Prediction]:
    """Evaluate energies, forces and stresses of several structures with one calculator.

    CHGNet, SevenNet and MACE calculators evaluate graph batches of up to ``max_batch_edges`` edges
    (default: ``CUDA_BATCH_EDGES`` on CUDA; on CPU the backend's measured budget for the current
    torch thread count, see ``backends.cpu_batch_edges``);
    other ASE calculators are called one by one.
    Raises ModelError for elements the model does not cover, CalculationError for NaN/inf results.
    """
    atoms_list = [_as_atoms(s) for s in structures]
    if not atoms_list:
        return []
    check_coverage(atoms_list, calculator)
    backend = backend_for(calculator)
    if backend is not None and backend.name == "chgnet" and not all(a.pbc.all() for a in atoms_list):
        backend = None  # CHGNet graphs need a periodic cell
    if backend is None:
        raw = [_one_by_one(atoms, calculator) for atoms in atoms_list]
    else:
        budget = max_batch_edges or _batch_edges(backend, calculator)
        graphs = [backend.graph(calculator, atoms) for atoms in atoms_list]
        raw = []
        for batch in edge_batches([backend.edges(g) for g in graphs], budget):
            raw.extend(backend.evaluate(calculator, graphs[batch]))
    predictions = []
    for atoms, (energy, forces, stress) in zip(atoms_list, raw, strict=True):
        if not (np.isfinite(energy) and np.isfinite(forces).all()
                and (stress is None or np.isfinite(stress).all())):
            raise CalculationError(f"{model_name(calculator)} returned non-finite energy, forces or "
                                   f"stress for {atoms.get_chemical_formula()}")
        predictions.append(Prediction(energy=float(energy), forces=np.asarray(forces),
                                      stress=stress if atoms.pbc.all() else None))
    return predictions


__all__ = [
    "CARDS",
    "CUDA_BATCH_EDGES",
    "DEFAULT_DTYPE",
    "DEFAULT_MODEL",
    "ModelCard",
    "Prediction",
    "card",
    "check_coverage",
    "load",
    "model_name",
    "predict",
]
