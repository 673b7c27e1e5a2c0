"""Reference labels computed elsewhere: read them from files (extxyz, VASP vasprun.xml/OUTCAR), and write
the configurations to label as VASP inputs.

Every labelled frame read has an energy (eV) and forces (eV/Å) in a SinglePointCalculator (stress when the
file has one); a frame without them, with a non-finite energy or force, or with overlapping atoms is refused
with the file and frame named.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from ssbkit.errors import InputError
from ssbkit.results import Result
from ssbkit.workflows.reference import check_configuration

VASP_INPUT_SETS = ("MPStaticSet", "MPRelaxSet", "MPScanStaticSet", "MatPESStaticSet")


def read_labels(paths: Sequence[str | Path]) -> list[Atoms]:
    """Every labelled frame of ``paths`` (extxyz with energy/forces[/stress], ``vasprun.xml``, ``OUTCAR``; any
    ASE-readable format with results), in order. Each frame carries its energy, forces and (if present)
    stress in a SinglePointCalculator and ``info['source']`` = ``path@index``. InputError for a missing file,
    a frame without energy or forces, non-finite values or overlapping atoms."""
    from ssbkit.io import read_structures

    if not paths:
        raise InputError("no label files given")
    frames: list[Atoms] = []
    for path in map(Path, paths):
        for index, (_, atoms) in enumerate(read_structures(path)):
            _check_label(atoms, f"{path} frame {index}")
            atoms.info["source"] = f"{path}@{index}"
            frames.append(atoms)
    if not frames:
        raise InputError(f"no labelled frames in {', '.join(map(str, paths))}")
    return frames


def _check_label(atoms: Atoms, where: str) -> None:
    """InputError unless ``atoms`` has a finite energy and forces and no overlapping atoms."""
    results = getattr(atoms.calc, "results", {}) if atoms.calc is not None else {}
    if "energy" not in results and "free_energy" not in results:
        raise InputError(f"{where} has no energy; labels need energies and forces")
    if "forces" not in results:
        raise InputError(f"{where} has no forces; labels need energies and forces")
    energy = results.get("energy", results.get("free_energy"))
    if energy is None or not math.isfinite(float(energy)):
        raise InputError(f"{where} has a non-finite energy ({energy})")
    if not np.all(np.isfinite(results["forces"])):
        raise InputError(f"{where} has non-finite forces")
    if "stress" in results and not np.all(np.isfinite(results["stress"])):
        raise InputError(f"{where} has a non-finite stress")
    check_configuration(atoms, where)


@dataclass
class VaspInputs(Result):
    """VASP input folders written for labelling: one per configuration, in order. ``potcar_written`` is False
    when pymatgen has no POTCAR directory configured (PMG_VASP_PSP_DIR): then each folder has a
    ``POTCAR.spec`` naming the POTCARs to concatenate instead."""

    directories: list[Path]
    input_set: str
    potcar_written: bool


def write_vasp_inputs(frames: Sequence[Atoms], directory: str | Path, input_set: str = "MPStaticSet",
                      incar_settings: Mapping[str, Any] | None = None) -> VaspInputs:
    """Write each configuration of ``frames`` as VASP inputs (INCAR, KPOINTS, POSCAR, POTCAR or POTCAR.spec)
    from the pymatgen input set ``input_set`` into ``directory/config_NNNN`` (created). ``incar_settings``
    override INCAR tags. InputError for an unknown input set, an empty list, or overlapping atoms."""
    from pymatgen.io.vasp import sets

    from ssbkit.io import to_structure

    if input_set not in VASP_INPUT_SETS:
        raise InputError(f"unknown VASP input set {input_set!r}; choose from {', '.join(VASP_INPUT_SETS)}")
    if not frames:
        raise InputError("no configurations to write as VASP inputs")
    for index, atoms in enumerate(frames):
        check_configuration(atoms, f"configuration {index}")
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{directory} is a file; give a directory for the VASP inputs")
    potcar_written = _potcars_configured()
    cls = getattr(sets, input_set)
    directories = []
    for index, atoms in enumerate(frames):
        target = directory / f"config_{index:04d}"
        vasp_set = cls(to_structure(atoms), user_incar_settings=dict(incar_settings or {}))
        vasp_set.write_input(target, make_dir_if_not_present=True, potcar_spec=not potcar_written)
        directories.append(target)
    return VaspInputs(directories, input_set, potcar_written)


def _potcars_configured() -> bool:
    from pymatgen.core import SETTINGS

    psp_dir = SETTINGS.get("PMG_VASP_PSP_DIR")
    return bool(psp_dir) and Path(psp_dir).is_dir()
