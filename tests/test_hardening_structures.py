"""Bad structure-building input ends in one clear stderr line and exit code 2, never a traceback or a hang,
and the Python builders refuse it too: overlapping atoms, huge slabs and interfaces (refused from an atom
estimate, fast), sigmas that do not exist about an axis, output files in missing directories."""

from __future__ import annotations

import time

import pytest
from ase import Atoms

from ssbkit.cli import app
from ssbkit.errors import InputError
from ssbkit.interfaces.structures.bulk import load_bulk
from ssbkit.interfaces.structures.checks import conventional_cell
from ssbkit.interfaces.structures.grain_boundaries import build_grain_boundary, sigma_angles
from ssbkit.interfaces.structures.heterointerfaces import find_matches
from ssbkit.interfaces.structures.slabs import slab_size, slab_terminations

from cli_helpers import fails_cleanly, runner


@pytest.fixture
def overlapping_cif(tmp_path):
    """A cubic Li cell whose atoms 0 and 1 are 0.1 Å apart."""
    path = tmp_path / "overlap.cif"
    path.write_text("data_overlap\n_cell_length_a 5\n_cell_length_b 5\n_cell_length_c 5\n"
                    "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
                    "_symmetry_space_group_name_H-M 'P 1'\nloop_\n_atom_site_label\n_atom_site_type_symbol\n"
                    "_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
                    "Li1 Li 0.0 0.0 0.0\nLi2 Li 0.02 0.0 0.0\nLi3 Li 0.5 0.5 0.5\n")
    return path


def test_overlapping_atoms_are_named(overlapping_cif):
    fails_cleanly(["build", "slab", str(overlapping_cif), "--miller", "100"], "atoms 0 (Li) and 1 (Li)", "0.10 A")
    fails_cleanly(["build", "interface", str(overlapping_cif), "W", "--film-miller", "100",
                   "--substrate-miller", "100"], "overlap", "0.10 A")
    atoms = Atoms("Li3", scaled_positions=[[0, 0, 0], [0.02, 0, 0], [0.5, 0.5, 0.5]], cell=[5, 5, 5], pbc=True)
    with pytest.raises(InputError, match="overlap, 0.10 A apart"):
        slab_terminations(atoms, "100")


@pytest.mark.parametrize("args", [
    ["build", "slab", "W", "--miller", "99,97,89"],
    ["build", "slab", "W", "--miller", "110", "--thickness", "1e7"],
    ["build", "slab", "W", "--miller", "110", "--layers", "100000"],
    ["build", "slab", "W", "--miller", "110", "--max-atoms", "3"],
    ["build", "interface", "W", "W", "--film-miller", "100", "--substrate-miller", "100", "--max-area", "1e5"],
])
def test_huge_requests_are_refused_fast(args):
    start = time.perf_counter()
    fails_cleanly(args, "max_atoms", "--max-atoms")
    assert time.perf_counter() - start < 1.0


def test_atom_estimate_bounds_the_built_slab():
    w = load_bulk("W")
    estimate, area = slab_size(conventional_cell(w), "110", layers=4)
    built = slab_terminations(w, "110")[0]
    assert built.n_atoms <= estimate  # the estimate counts atoms before pymatgen's primitive reduction
    assert area / built.area_A2 == pytest.approx(round(area / built.area_A2)) and area >= built.area_A2 - 1e-6
    with pytest.raises(InputError, match="max_atoms = 100"):
        slab_terminations(w, "110", layers=1000, max_atoms=100)
    with pytest.raises(InputError, match="max_atoms"):
        find_matches(w, w, "100", "100", max_area=1e5)


def test_sigma_that_does_not_exist_about_the_axis_is_refused():
    fails_cleanly(["build", "gb", "W", "--sigma", "7", "--axis", "001"],
                  "sigma 7 does not exist", "(0, 0, 1)", "5, 13, 17, 25")
    w = load_bulk("W", cubic=True)
    with pytest.raises(InputError, match="sigmas up to 100: 5, 13"):
        build_grain_boundary(w, 7, (0, 0, 1))
    with pytest.raises(InputError, match="outside 1-100"):
        sigma_angles(w, 1000, (0, 0, 1))
    assert sigma_angles(w, 7, (1, 1, 1))[0] == pytest.approx(38.2132, abs=1e-3)


@pytest.mark.parametrize("args", [
    ["build", "slab", "W", "--miller", "110"],
    ["build", "gb", "W", "--sigma", "5", "--axis", "001"],
    ["build", "sites", "W"],
    ["build", "reference", "Li2S"],
])
def test_output_in_missing_directory_is_refused(tmp_path, args):
    missing = tmp_path / "missing"
    fails_cleanly([*args, "-o", str(missing / "out.cif")], f"directory {missing} does not exist")
    assert not missing.exists()


def test_build_help_lists_the_reference_commands():
    result = runner.invoke(app, ["build", "--help"], env={"COLUMNS": "200"})
    assert "reference " in result.stdout and "references" in result.stdout
