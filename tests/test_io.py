"""ssbkit.io: the one structure reader, the one atomic writer and the Atoms <-> Structure conversions."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write
from pymatgen.core import Lattice, Structure

from ssbkit.errors import InputError
from ssbkit.io import atomic_write, read_structure, read_structures, read_yaml, to_atoms, to_structure


def test_read_structure_formats_frames_and_errors(tmp_path):
    li = bulk("Li", "bcc", a=3.44, cubic=True)
    write(tmp_path / "Li.cif", li)
    assert read_structure(tmp_path / "Li.cif").get_chemical_formula() == "Li2"
    frames = [li, li.repeat((2, 1, 1)), li.repeat((3, 1, 1))]
    write(tmp_path / "path.extxyz", frames)
    assert len(read_structure(tmp_path / "path.extxyz")) == 6  # last frame by default
    assert len(read_structure(f"{tmp_path / 'path.extxyz'}@0")) == 2
    assert len(read_structure(tmp_path / "path.extxyz", index=1)) == 4
    assert len(read_structure(tmp_path / "path.extxyz", index="1:2")) == 4
    Structure(Lattice.cubic(4.1), ["Li", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(filename=str(tmp_path / "LiCl.json"))
    assert read_structure(tmp_path / "LiCl.json").get_chemical_formula() == "ClLi"
    for path, index, message in [
        (tmp_path / "absent.cif", None, "absent.cif not found"),
        (tmp_path / "path.extxyz", ":", "selects 3 frames"),
        (f"{tmp_path / 'path.extxyz'}@5", None, "has no frame"),
        (f"{tmp_path / 'path.extxyz'}@0", 1, "not both"),
    ]:
        with pytest.raises(InputError, match=message):
            read_structure(path, index)
    (tmp_path / "junk.cif").write_text("not a crystal\n")
    with pytest.raises(InputError, match="cannot read a structure from .*junk.cif"):
        read_structure(tmp_path / "junk.cif")
    (tmp_path / "no_sites.cif").write_text("data_x\n_cell_length_a 5\n")  # a CIF block without atoms
    with pytest.raises(InputError, match="no structure could be read from .*no_sites.cif"):
        read_structure(tmp_path / "no_sites.cif")
    (tmp_path / "notes.xyz").write_text("\n")  # an extxyz file without frames
    with pytest.raises(InputError, match="no structure could be read from .*notes.xyz"):
        read_structures(tmp_path / "notes.xyz")


def test_read_yaml_says_where_a_file_is_wrong_in_one_line(tmp_path):
    """Specs, stack files and reference settings share this reader; PyYAML's messages span several lines."""
    (tmp_path / "ok.yaml").write_text("layers: [Li, LiF]\n")
    assert read_yaml(tmp_path / "ok.yaml", "stack file") == {"layers": ["Li", "LiF"]}
    (tmp_path / "empty.yaml").write_text("")
    assert read_yaml(tmp_path / "empty.yaml", "spec") is None
    (tmp_path / "bad.yaml").write_text("tasks:\n  - kind: relax\n   model: emt\n")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00layers")
    for path, message in [
        (tmp_path / "absent.yaml", "spec .*absent.yaml not found$"),
        (tmp_path / "bad.yaml", r"spec .*bad.yaml is not valid YAML: line 3, column 4: expected <block end>, but "
                                r"found '<block mapping start>' \(while parsing a block collection\)$"),
        (tmp_path / "binary.yaml", "cannot read spec .*binary.yaml: .*can't decode"),
        (tmp_path, "cannot read spec .*: Is a directory$"),
    ]:
        with pytest.raises(InputError, match=message) as raised:
            read_yaml(path, "spec")
        assert "\n" not in str(raised.value)


def test_partially_occupied_cif_is_refused(tmp_path):
    """ASE reads a mixed Li/Na site as Li alone; ssbkit refuses it rather than guess."""
    disordered = Structure(Lattice.cubic(4), [{"Li": 0.5, "Na": 0.5}, "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    disordered.to(filename=str(tmp_path / "mixed.cif"))
    with pytest.raises(InputError, match="partially occupied"):
        read_structure(tmp_path / "mixed.cif")
    with pytest.raises(InputError, match="partially occupied"):
        to_atoms(disordered)


def test_read_structures_names_files_and_frames(tmp_path):
    li = bulk("Li", "bcc", a=3.44, cubic=True)
    write(tmp_path / "b.extxyz", [li, li])
    write(tmp_path / "a.cif", li)
    write(tmp_path / "POSCAR", li, format="vasp")
    (tmp_path / "notes.txt").write_text("ignored")
    assert [name for name, _ in read_structures(tmp_path)] == ["POSCAR", "a", "b-0", "b-1"]
    assert [name for name, _ in read_structures(tmp_path / "a.cif")] == ["a"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no structure files"):
        read_structures(empty)


def test_atomic_write_text_bytes_writer_permissions_and_failure(tmp_path):
    umask = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "a.txt", "héllo")
        assert path.read_text(encoding="utf-8") == "héllo"
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # as open() with this umask, not mkstemp's 0600
        atomic_write(path, b"bytes")
        assert path.read_bytes() == b"bytes"
        atomic_write(tmp_path / "li.extxyz", lambda temporary: write(temporary, bulk("Li")))  # format from suffix
        assert len(read_structure(tmp_path / "li.extxyz")) == 1

        def failing(temporary):
            temporary.write_text("half")
            raise RuntimeError("disk full")

        with pytest.raises(RuntimeError, match="disk full"):
            atomic_write(path, failing)
        assert path.read_bytes() == b"bytes"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "li.extxyz"]  # nothing left behind
        with pytest.raises(InputError, match="directory .*missing does not exist"):
            atomic_write(tmp_path / "missing" / "a.txt", "x")
    finally:
        os.umask(umask)


def test_conversions_round_trip_and_refuse_other_types():
    li = bulk("Li", "bcc", a=3.44, cubic=True)
    structure = to_structure(li)
    assert isinstance(structure, Structure) and structure.composition.reduced_formula == "Li"
    back = to_atoms(structure)
    assert np.allclose(back.cell, li.cell) and back is not li
    assert to_atoms(li) is not li and to_structure(structure) is not structure
    oxidised = Structure(Lattice.cubic(4.1), ["Li+", "Cl-"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert to_atoms(oxidised).get_chemical_symbols() == ["Li", "Cl"]
    assert oxidised.composition.elements[0].oxi_state == 1  # the input is left as it was
    with pytest.raises(InputError, match="expected ase.Atoms or pymatgen Structure"):
        to_atoms("Li")
    with pytest.raises(InputError, match="expected ase.Atoms or pymatgen Structure"):
        to_structure(3)
    with pytest.raises(InputError, match="no 3D cell"):
        to_structure(li.__class__("Li2", positions=[[0, 0, 0], [3, 0, 0]]))
