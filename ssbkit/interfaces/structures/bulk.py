"""Bulk structures from a file (CIF, POSCAR, extxyz), an element symbol, or an ase/pymatgen object."""

from __future__ import annotations

import re
from pathlib import Path

from ase import Atoms
from ase.build import bulk as ase_bulk
from ase.data import atomic_numbers, reference_states
from pymatgen.core import Structure

from ssbkit.errors import InputError
from ssbkit.interfaces.structures.checks import check_overlaps
from ssbkit.io import atomic_write, read_structure, to_atoms

MP_ID = re.compile(r"^(mp|mvc)-\d+$")
BUILTIN = ("llzo-cubic", "llzo-tetragonal")


def load_bulk(source: str | Path | Atoms | Structure, cubic: bool = False) -> Atoms:
    """A bulk crystal as ase.Atoms.

    ``source``: ase.Atoms or pymatgen Structure (copied); a path to a structure file (last frame, or
    ``PATH@i`` for frame i; see :func:`ssbkit.io.read_structure`);
    an element symbol such as ``"W"`` (ASE's reference crystal structure and lattice constant;
    ``cubic=True`` gives the conventional cubic cell where there is one); ``"llzo-cubic"`` or
    ``"llzo-tetragonal"`` (ssbkit.interfaces.structures.llzo); a Materials Project id such as ``"mp-91"``
    (from the structures in the MP entry cache of ssbkit.interfaces.entries, else from the MP API with
    ``MP_API_KEY``; never online when ``SSBKIT_OFFLINE=1``).
    """
    if isinstance(source, (Atoms, Structure)):
        return to_atoms(source)
    text = str(source)
    if Path(text).exists() or Path(text.rpartition("@")[0]).is_file():
        return _read_file(text)
    if text in atomic_numbers and text != "X":
        return _element(text, cubic)
    if text.lower() in BUILTIN:
        from ssbkit.interfaces.structures.llzo import cubic_llzo, tetragonal_llzo

        return cubic_llzo() if text.lower() == "llzo-cubic" else tetragonal_llzo()
    if MP_ID.match(text):
        return _from_materials_project(text)
    raise InputError(f"{text!r} is neither an existing structure file, an element symbol nor one of "
                     f"{', '.join(BUILTIN)}")


def _from_materials_project(material_id: str) -> Atoms:
    """Structure of an MP material: first from the entry cache, then from the MP API."""
    from ssbkit.interfaces.entries import MPSource

    return to_atoms(MPSource().get_structure(material_id))


def _element(symbol: str, cubic: bool) -> Atoms:
    state = reference_states[atomic_numbers[symbol]]
    if not state or state.get("symmetry") not in ("bcc", "fcc", "hcp", "diamond", "sc"):
        raise InputError(f"ASE has no simple reference crystal for {symbol}; give a structure file")
    cubic = cubic and state["symmetry"] != "hcp"
    return ase_bulk(symbol, cubic=cubic)


def _read_file(path: str) -> Atoms:
    atoms = read_structure(path)
    if not atoms.pbc.all() or atoms.cell.rank < 3:
        raise InputError(f"{path} is not a periodic bulk crystal (needs a 3D cell)")
    check_overlaps(atoms, path)
    return atoms


def write_structures(path: str | Path, frames: Atoms | list[Atoms]) -> Path:
    """Write one structure or several frames to extxyz (``.xyz``/``.extxyz``) or CIF, atomically; the parent
    folder must exist (:func:`ssbkit.io.check_output_path`)."""
    from ase.io import write

    path = Path(path)
    frames = [frames] if isinstance(frames, Atoms) else list(frames)
    suffix = path.suffix.lower()
    if suffix not in (".xyz", ".extxyz", ".cif"):
        raise InputError(f"cannot write {path.name}: use a .extxyz, .xyz or .cif file name")
    if suffix == ".cif" and len(frames) > 1:
        raise InputError("several structures (hop endpoints) need an .extxyz file, not CIF")
    file_format = "cif" if suffix == ".cif" else "extxyz"
    return atomic_write(path, lambda temporary: write(temporary, frames, format=file_format))
