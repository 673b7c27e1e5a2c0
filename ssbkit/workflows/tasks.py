"""Task kinds: the adapters between the workflow runner and ssbkit's physics functions.

A kind turns ``(inputs, parameters, calculator, context)`` into a ``Result``. The runner knows only
this registry; physics modules know nothing of the runner. Adding a kind is a short adapter::

    def _window(inputs, parameters, calculator, context):
        from ssbkit.thermo import stability_window          # heavy imports inside the adapter
        return stability_window(inputs["formula"], **parameters)

    register(TaskKind(
        name="window", function=_window,
        inputs=("formula",), structures=(),                  # inputs that are structures (ase.Atoms)
        parameters=("source", "temperature"),                # allowed parameter names (None: any)
        needs_model=False))                                  # no calculator is loaded

Kinds whose function uses the calculator only through ASE calls (``get_forces``...) may set
``batchable=True``: the runner then evaluates tasks of that kind in lockstep so that each model call
covers many structures (see ``ssbkit.workflows.runner.batching``). Bump ``version`` when a kind's
results change meaning, so that stored results are not reused for it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator

from ssbkit.errors import InputError, ModelError
from ssbkit.results import Result


@dataclass
class TaskContext:
    """Where a running task may write files: its log and a trajectory path (Å, eV in ASE's format)."""

    directory: Path
    log: logging.Logger
    trajectory: Path


KindFunction = Callable[[dict[str, Any], dict[str, Any], Calculator | None, TaskContext], Result]


@dataclass(frozen=True)
class TaskKind:
    """One kind of task the runner can execute."""

    name: str
    function: KindFunction
    inputs: tuple[str, ...] = ("atoms",)
    structures: tuple[str, ...] = ("atoms",)
    parameters: tuple[str, ...] | None = None
    needs_model: bool = True
    batchable: bool = False
    version: str = "1"


KINDS: dict[str, TaskKind] = {}


def register(kind: TaskKind) -> TaskKind:
    """Add a kind to the registry (replacing one of the same name)."""
    if not set(kind.structures) <= set(kind.inputs):
        raise ValueError(f"kind {kind.name}: structures {kind.structures} must be among inputs {kind.inputs}")
    KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> TaskKind:
    """The registered kind called ``name``; InputError naming the known kinds otherwise."""
    if name not in KINDS:
        raise InputError(f"unknown task kind {name!r}; known kinds: {', '.join(sorted(KINDS))}")
    return KINDS[name]


# --- models -------------------------------------------------------------------------------------


def load_model(name: str, device: str = "auto") -> Calculator:
    """The one place where the runner turns a model name into a calculator.

    ``emt`` is ASE's effective-medium theory (Al, Cu, Ag, Au, Ni, Pd, Pt, with H, C, N, O): cheap,
    CPU-only, for tests and demos. Every other name goes to ``ssbkit.potentials.load``.
    """
    if name == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    from ssbkit.potentials import load

    return load(name, device=device)


def _installed(package: str) -> str:
    try:
        return package_version(package)
    except PackageNotFoundError:
        return "absent"


@cache
def model_version(name: str) -> str:
    """A version string that changes when the model's weights or code change (enters task keys)."""
    if name.startswith("mace:"):
        path = Path(name.removeprefix("mace:")).expanduser()
        if not path.is_file():
            raise ModelError(f"MACE model file {path} not found")
        return "mace-torch " + _installed("mace-torch") + " sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    packages = {"chgnet": "chgnet", "sevennet-0": "sevenn", "emt": "ase"}
    package = packages.get(name.split(":")[0], name.split(":")[0])
    return f"{package} {_installed(package)}"


# --- kinds ----------------------------------------------------------------------------------------


def _relax(inputs: dict[str, Any], parameters: dict[str, Any], calculator: Calculator | None,
           context: TaskContext) -> Result:
    from ssbkit.workflows.relax import relax

    return relax(inputs["atoms"], calculator, trajectory=context.trajectory, **parameters)


@dataclass
class SinglePointResult(Result):
    """Energy (eV, eV/atom), forces (eV/Å), max force (eV/Å) and stress (eV/Å³, Voigt; None if not periodic)."""

    energy: float
    energy_per_atom: float
    forces: Any
    fmax: float
    stress: Any


def _singlepoint(inputs: dict[str, Any], parameters: dict[str, Any], calculator: Calculator | None,
                 context: TaskContext) -> Result:
    import numpy as np

    from ssbkit.potentials import predict

    atoms = inputs["atoms"]
    (prediction,) = predict([atoms], calculator)
    return SinglePointResult(
        energy=prediction.energy,
        energy_per_atom=prediction.energy / len(atoms),
        forces=prediction.forces,
        fmax=float(np.linalg.norm(prediction.forces, axis=1).max()),
        stress=prediction.stress,
    )


register(TaskKind("relax", _relax, parameters=("fmax", "steps", "relax_cell", "optimizer"), batchable=True))
register(TaskKind("singlepoint", _singlepoint, parameters=(), batchable=True))
