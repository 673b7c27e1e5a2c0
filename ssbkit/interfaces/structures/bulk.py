"""Bulk structures from a file (CIF, POSCAR, extxyz), an element symbol, or an ase/pymatgen object."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ase import Atoms
from ase.build import bulk as ase_bulk
from ase.data import atomic_numbers, reference_states
from pymatgen.core import Structure

from ssbkit.errors import DataError, InputError
from ssbkit.interfaces.structures.checks import as_atoms

MP_ID = re.compile(r"^(mp|mvc)-\d+$")
BUILTIN = ("llzo-cubic", "llzo-tetragonal")


def load_bulk(source: str | Path | Atoms | Structure, cubic: bool = False) -> Atoms:
    """A bulk crystal as ase.Atoms.

    ``source``: ase.Atoms or pymatgen Structure (copied); a path to a CIF/POSCAR/extxyz file (last frame);
    an element symbol such as ``"W"`` (ASE's reference crystal structure and lattice constant;
    ``cubic=True`` gives the conventional cubic cell where there is one); ``"llzo-cubic"`` or
    ``"llzo-tetragonal"`` (ssbkit.interfaces.structures.llzo); a Materials Project id such as ``"mp-91"``
    (from the structures in the MP entry cache of ssbkit.interfaces.entries, else from the MP API with
    ``MP_API_KEY``; never online when ``SSBKIT_OFFLINE=1``).
    """
    if isinstance(source, (Atoms, Structure)):
        return as_atoms(source)
    text = str(source)
    path = Path(text)
    if path.exists():
        return _read_file(path)
    if text in atomic_numbers and text != "X":
        return _element(text, cubic)
    if text.lower() in BUILTIN:
        from ssbkit.interfaces.structures.llzo import cubic_llzo, tetragonal_llzo

        return cubic_llzo() if text.lower() == "llzo-cubic" else tetragonal_llzo()
    if MP_ID.match(text):
        return _from_materials_project(text)
    raise InputError(f"{text!r} is neither an existing structure file, an element symbol nor one of "
                     f"{', '.join(BUILTIN)}")


def _material_id(entry) -> str | None:
    material_id = (getattr(entry, "data", None) or {}).get("material_id") or str(entry.entry_id or "")
    match = re.match(r"^(mp|mvc)-\d+", str(material_id))
    return match.group(0) if match else None


def _from_materials_project(material_id: str) -> Atoms:
    """Structure of an MP material: first from the entry cache, then from the MP API."""
    from ssbkit.interfaces.entries import DEFAULT_MP_ENDPOINT, MPSource, load_entries

    source = MPSource()
    if source.cache_root.is_dir():
        for path in sorted(source.cache_root.glob("*.json.gz")):
            for entry in load_entries(path):
                if _material_id(entry) == material_id and getattr(entry, "structure", None) is not None:
                    return as_atoms(entry.structure)
    if source.offline:
        raise DataError(f"{material_id} is not in the MP entry cache {source.cache_root} and the mp source is "
                        "offline; prefetch its chemical system or pass a CIF/POSCAR")
    api_key = os.environ.get("MP_API_KEY")
    if not api_key:
        raise DataError(f"{material_id} is not in the MP entry cache and no MP_API_KEY is set; set it or pass a "
                        "CIF/POSCAR")
    endpoint = os.environ.get("MP_API_ENDPOINT") or DEFAULT_MP_ENDPOINT
    try:
        from mp_api.client import MPRester

        with MPRester(api_key, endpoint=endpoint, mute_progress_bars=True) as rester:
            structure = rester.get_structure_by_material_id(material_id, conventional_unit_cell=True)
    except Exception as exc:  # network, HTTP and decoding errors of mp-api all end here
        raise DataError(f"Materials Project request for {material_id} failed: {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
    return as_atoms(structure)


def _element(symbol: str, cubic: bool) -> Atoms:
    state = reference_states[atomic_numbers[symbol]]
    if not state or state.get("symmetry") not in ("bcc", "fcc", "hcp", "diamond", "sc"):
        raise InputError(f"ASE has no simple reference crystal for {symbol}; give a structure file")
    cubic = cubic and state["symmetry"] != "hcp"
    return ase_bulk(symbol, cubic=cubic)


def _read_file(path: Path) -> Atoms:
    from ase.io import read

    try:
        atoms = read(str(path), index=-1)
    except Exception as exc:  # ase raises many types for unreadable files
        raise InputError(f"cannot read a structure from {path}: {exc}") from exc
    if not isinstance(atoms, Atoms) or len(atoms) == 0:
        raise InputError(f"{path} holds no atoms")
    if not atoms.pbc.all() or atoms.cell.rank < 3:
        raise InputError(f"{path} is not a periodic bulk crystal (needs a 3D cell)")
    return atoms


def write_structures(path: str | Path, frames: Atoms | list[Atoms]) -> Path:
    """Write one structure or several frames to extxyz (``.xyz``/``.extxyz``) or CIF, atomically."""
    import tempfile

    from ase.io import write

    path = Path(path)
    frames = [frames] if isinstance(frames, Atoms) else list(frames)
    suffix = path.suffix.lower()
    if suffix not in (".xyz", ".extxyz", ".cif"):
        raise InputError(f"cannot write {path.name}: use a .extxyz, .xyz or .cif file name")
    if suffix == ".cif" and len(frames) > 1:
        raise InputError("several structures (hop endpoints) need an .extxyz file, not CIF")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(handle)
    try:
        write(temporary, frames, format="cif" if suffix == ".cif" else "extxyz")
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path
