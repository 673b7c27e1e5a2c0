"""Structure files, YAML files and safe writes: the one reader of each, the one atomic writer, the Atoms <->
Structure conversions.

Every structure file ssbkit reads goes through :func:`read_structure` (one structure) or
:func:`read_structures` (every structure in a file or folder): any format ASE reads (CIF, POSCAR,
extxyz, ASE trajectory, ...) plus pymatgen ``Structure`` JSON. Every YAML file (batch specs, stacks,
reference settings) goes through :func:`read_yaml`. Every file ssbkit writes goes through
:func:`atomic_write`, so a crash or a full disk never leaves a half-written file behind.
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ase import Atoms

from ssbkit.errors import InputError

if TYPE_CHECKING:  # pymatgen is imported where a function needs it: importing ssbkit.io stays light
    from pymatgen.core import Structure

#: File names :func:`read_structures` picks up in a folder (besides POSCAR*/CONTCAR*).
STRUCTURE_SUFFIXES = (".cif", ".vasp", ".poscar", ".extxyz", ".xyz", ".json", ".traj")
_INDEX = re.compile(r"^-?\d*(:-?\d*){0,2}$")  # "3", "-1", "2:5", "::2"


def read_structure(path: str | Path, index: int | str | None = None) -> Atoms:
    """One structure from a file in any format ASE reads or pymatgen Structure JSON: the last frame, or
    frame ``index`` (also written ``path@index``, e.g. ``run.traj@0``). InputError for a missing or unreadable file, an empty structure, partially occupied
    sites, or an index that selects several frames."""
    path, index = _split_index(path, index)
    frames = _read(path, -1 if index is None else index)
    if isinstance(frames, list):
        if len(frames) != 1:
            raise InputError(f"{path}: index {index!r} selects {len(frames)} frames; give one index")
        frames = frames[0]
    return frames


def read_structures(path: str | Path) -> list[tuple[str, Atoms]]:
    """(name, structure) of every frame in a structure file, or of every structure file in a folder
    (``STRUCTURE_SUFFIXES``, POSCAR*, CONTCAR*; sorted by name).

    Names are file stems, with ``-<frame index>`` appended for files holding several frames.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and (
            p.suffix.lower() in STRUCTURE_SUFFIXES or p.name.startswith(("POSCAR", "CONTCAR"))))
        if not files:
            raise InputError(f"no structure files ({', '.join(STRUCTURE_SUFFIXES)}, POSCAR) in {path}")
        return [pair for file in files for pair in read_structures(file)]
    frames = _read(path, ":")
    if len(frames) == 1:
        return [(path.stem, frames[0])]
    return [(f"{path.stem}-{i}", atoms) for i, atoms in enumerate(frames)]


def read_yaml(path: str | Path, what: str) -> Any:
    """The document in a YAML file (None when empty). InputError naming ``what`` (``"spec"``, ``"stack file"``)
    and the path for a file that cannot be read, and for invalid YAML with the line and column at fault."""
    import yaml

    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{what} {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"cannot read {what} {path}: {reason}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{what} {path} is not valid YAML: {_yaml_problem(exc)}") from None


def _yaml_problem(error: Exception) -> str:
    """A YAML error in one line: where (1-based line and column) and what, instead of PyYAML's excerpt."""
    import yaml

    if not isinstance(error, yaml.MarkedYAMLError) or error.problem is None:
        return " ".join(str(error).split())
    mark = error.problem_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    context = f" ({error.context})" if error.context else ""
    return f"{where}{error.problem}{context}"


def _split_index(path: str | Path, index: int | str | None) -> tuple[Path, int | str | None]:
    """Separate ``file@index`` unless a file of that literal name exists."""
    text = str(path)
    name, at, suffix = text.rpartition("@")
    if not at or Path(text).exists() or not suffix or not _INDEX.match(suffix):
        return Path(text), index
    if index is not None:
        raise InputError(f"{text}: give the frame either as path@index or as index, not both")
    return Path(name), suffix


def _read(path: Path, index: int | str) -> Atoms | list[Atoms]:
    """Frame(s) ``index`` of ``path`` (ASE index semantics), checked: non-empty, fully occupied."""
    from ase.io import read
    from ase.io.formats import string2index

    if not path.is_file():
        raise InputError(f"structure file {path} not found")
    if isinstance(index, str):
        try:
            index = string2index(index)
        except ValueError:
            raise InputError(f"{path}: {index!r} is not a frame index (write 3, -1 or 2:5)") from None
    try:
        structures = _pymatgen_json(path)
        if structures is not None:
            frames = [to_atoms(s) for s in structures]
            selected = frames[index]
        else:
            selected = read(path, index=index)
    except InputError:
        raise
    except (IndexError, StopIteration):  # ASE's extxyz reader ends an out-of-range index with StopIteration
        if index == -1:  # the last frame of a file that has none
            raise InputError(f"no structure could be read from {path}") from None
        raise InputError(f"{path} has no frame {index!r}") from None
    except Exception as exc:  # ASE and pymatgen raise many types for unreadable files
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot read a structure from {path}: {message}") from exc
    for atoms in selected if isinstance(selected, list) else [selected]:
        _check_read(atoms, path)
    if isinstance(selected, list) and not selected:
        raise InputError(f"no structure could be read from {path}")
    return selected


def _pymatgen_json(path: Path) -> list[Structure] | None:
    """The Structure(s) in a pymatgen JSON file, or None when the file is not one (ASE reads it then)."""
    if not path.name.lower().endswith((".json", ".json.gz")):
        return None
    from monty.serialization import loadfn
    from pymatgen.core import Structure

    try:
        content = loadfn(path)
    except Exception:  # not pymatgen JSON: let ASE try (its JSON database format)
        return None
    if isinstance(content, Structure):
        return [content]
    if isinstance(content, list) and content and all(isinstance(s, Structure) for s in content):
        return content
    return None


def _check_read(atoms: Atoms, path: Path) -> None:
    if not isinstance(atoms, Atoms) or len(atoms) == 0:
        raise InputError(f"no atoms in {path}")
    occupancy = atoms.info.get("occupancy") or {}
    if any(len(site) > 1 or sum(site.values()) < 1 - 1e-3 for site in occupancy.values()):
        raise InputError(f"{path} has partially occupied sites; order it first "
                         "(ssbkit.interfaces.structures.references.order_by_ewald)")


def check_output_path(path: str | Path) -> Path:
    """``path`` as a Path once it can be written: the one rule for every output file a user names
    (-o, --plot, --csv, --output file). Its parent directory must exist (InputError "directory X does not
    exist" otherwise; nothing is created) and ``path`` must not be a directory. Commands that own a whole
    output folder (``neb --output DIR``, diffusion's output directory) create that folder instead."""
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(f"directory {path.parent} does not exist; create it first or write elsewhere")
    if path.is_dir():
        raise InputError(f"{path} is a directory; give a file name")
    return path


def atomic_write(path: str | Path, data: str | bytes | Callable[[Path], None]) -> Path:
    """Write ``path`` through a temporary file in the same directory, then rename it into place.

    ``data`` is text (written as UTF-8), bytes, or a writer called with the temporary path (for
    ``ase.io.write``, ``Figure.savefig`` ...: the temporary name ends in ``path``'s name, so format
    detection by suffix works). The file gets the permissions ``open()`` would give (0o666 less the
    umask). Either the complete new file is in place afterwards or nothing changed and no temporary
    file is left. Directory rule (:func:`check_output_path`): the parent directory must exist
    (InputError "directory X does not exist" otherwise); callers that own an output folder create it first.
    """
    path = check_output_path(path)
    directory = path.parent
    while True:
        temporary = directory / f".tmp-{secrets.token_hex(4)}-{path.name}"
        try:  # mode 0o666 through the umask, as open() does (mkstemp would give 0600)
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        if callable(data):
            os.close(handle)
            data(temporary)
        else:
            with os.fdopen(handle, "wb") as out:
                out.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """``columns`` as the header row, then ``rows``, as CSV text (write it with :func:`atomic_write`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def to_atoms(structure: Atoms | Structure) -> Atoms:
    """An ase.Atoms copy of an ase.Atoms or an ordered pymatgen Structure (oxidation states dropped,
    other site properties become arrays). InputError for partial occupancies or any other type."""
    from pymatgen.core import Structure

    if isinstance(structure, Atoms):
        return structure.copy()
    if isinstance(structure, Structure):
        from pymatgen.io.ase import AseAtomsAdaptor

        if not structure.is_ordered:
            raise InputError(f"{structure.composition.reduced_formula} has partially occupied sites; order it "
                             "first (ssbkit.interfaces.structures.references.order_by_ewald)")
        if any(getattr(species, "oxi_state", None) not in (None, 0) for species in structure.composition):
            structure = structure.copy()
            structure.remove_oxidation_states()
        return AseAtomsAdaptor.get_atoms(structure)
    raise InputError(f"expected ase.Atoms or pymatgen Structure, got {type(structure).__name__}")


def to_structure(atoms: Atoms | Structure) -> Structure:
    """A pymatgen Structure copy of a pymatgen Structure or an ase.Atoms with a 3D cell: lattice,
    species and positions, periodic in all three directions (constraints, calculator and per-atom
    arrays are dropped). InputError for atoms without a 3D cell or any other type."""
    from pymatgen.core import Structure

    if isinstance(atoms, Structure):
        return atoms.copy()
    if isinstance(atoms, Atoms):
        from pymatgen.io.ase import AseAtomsAdaptor

        if atoms.cell.rank < 3:
            raise InputError(f"{atoms.get_chemical_formula()} has no 3D cell; a pymatgen Structure needs one")
        plain = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
        return AseAtomsAdaptor.get_structure(plain)
    raise InputError(f"expected ase.Atoms or pymatgen Structure, got {type(atoms).__name__}")
