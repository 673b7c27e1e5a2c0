"""The structure-building CLI: files written, one JSON document, exit code 2 on bad input."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from ase.io import read
from ase.neighborlist import neighbor_list
from typer.testing import CliRunner

from ssbkit.cli import app


def test_build_slab_writes_extxyz_with_fixed_layers(tmp_path):
    out = tmp_path / "w110.extxyz"
    result = CliRunner().invoke(app, ["build", "slab", "W", "--miller", "110", "--fix-bottom", "1", "-o", str(out),
                                      "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["terminations"][0]["n_atoms"] == len(read(out))
    assert read(out).constraints  # FixAtoms survives the extxyz round trip


def test_build_sites_writes_hop_endpoints(tmp_path):
    out = tmp_path / "hops.extxyz"
    result = CliRunner().invoke(app, ["build", "sites", "W", "--mechanism", "interstitial", "--max-hop", "1.5",
                                      "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    frames = read(out, index=":")
    assert len(frames) == 2 * len(document["hops"]) == 2
    assert frames[0].info["role"] == "start" and frames[1].info["role"] == "end"


def grain_bonds(atoms, grain: int, cutoff: float) -> np.ndarray:
    """Vectors (Å) between atoms of one grain closer than ``cutoff``, not through the other grain."""
    first, second, vectors, shifts = neighbor_list("ijDS", atoms, cutoff)
    labels = atoms.arrays["grain"]
    return vectors[(labels[first] == grain) & (labels[second] == grain) & (shifts[:, 2] == 0)]


def cube_axes(atoms, grain: int) -> np.ndarray:
    """Unit vectors along one bcc grain's <100>: its second-neighbour bonds, of length a, where the nearest
    neighbours sit at a*sqrt(3)/2."""
    bonds = grain_bonds(atoms, grain, 3.5)
    lengths = np.linalg.norm(bonds, axis=1)
    a = 2 / np.sqrt(3) * lengths.min()
    return np.unique(np.round(bonds[np.abs(lengths - a) < 1e-3] / a, 8), axis=0)


def disorientation(axes_a: np.ndarray, axes_b: np.ndarray) -> tuple[float, np.ndarray]:
    """Smallest rotation (deg) and its unit axis taking one cube triad onto the other (24 cubic equivalents)."""
    a = np.array([axes_a[0], next(v for v in axes_a if abs(v @ axes_a[0]) < 1e-6)])
    b = np.array([axes_b[0], next(v for v in axes_b if abs(v @ axes_b[0]) < 1e-6)])
    a, b = np.vstack([a, np.cross(*a)]), np.vstack([b, np.cross(*b)])
    best = (np.inf, None)
    for order in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            rotation = (np.array(signs)[:, None] * b[list(order)]).T @ a
            if np.linalg.det(rotation) > 0:
                angle = np.degrees(np.arccos(np.clip((np.trace(rotation) - 1) / 2, -1, 1)))
                if angle < best[0]:
                    axis = np.array([rotation[2, 1] - rotation[1, 2], rotation[0, 2] - rotation[2, 0],
                                     rotation[1, 0] - rotation[0, 1]])
                    best = (angle, axis / np.linalg.norm(axis))
    return best


def test_build_gb_rotates_the_grains_by_the_sigma5_angle(tmp_path):
    """Reference (analytic): the sigma-5 [001] CSL misorientation is 2*atan(1/3) = 36.87 deg. Checked on the
    JSON and on the written structure itself: the cube axes of the two grains (their a-long bonds in bcc W)
    are related by that rotation about a cube axis shared by both grains."""
    out = tmp_path / "gb.extxyz"
    result = CliRunner().invoke(app, ["build", "gb", "W", "--sigma", "5", "--axis", "001", "--plane", "310",
                                      "--expand", "1", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    sigma5 = np.degrees(2 * np.arctan(1 / 3))
    document = json.loads(result.stdout)
    assert document["rotation_angle_deg"] == pytest.approx(sigma5, abs=1e-6)
    assert (document["sigma"], document["gb_type"]) == (5, "tilt")

    atoms = read(out)
    assert set(atoms.arrays["grain"]) == {0, 1}
    lower, upper = cube_axes(atoms, 0), cube_axes(atoms, 1)
    assert len(lower) == len(upper) == 6  # +-x, +-y, +-z of each grain's cube
    angle, axis = disorientation(lower, upper)
    assert angle == pytest.approx(sigma5, abs=1e-3)
    assert np.abs(lower @ axis).max() == pytest.approx(1, abs=1e-6)  # about a cube axis of both grains
    assert np.abs(upper @ axis).max() == pytest.approx(1, abs=1e-6)


def test_build_interface_table():
    result = CliRunner().invoke(app, ["build", "interface", "Li", "W", "--film-miller", "110",
                                      "--substrate-miller", "110", "--max-area", "40", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["matches"][0]["n_atoms"] > 0


def test_bad_input_exits_2():
    runner = CliRunner()
    result = runner.invoke(app, ["build", "slab", "W", "--miller", "000"])
    assert result.exit_code == 2 and "impossible Miller index" in result.output
    result = runner.invoke(app, ["build", "gb", "W", "--sigma", "5", "--axis", "001", "--angle", "30"])
    assert result.exit_code == 2 and "not a sigma 5 angle" in result.output
    result = runner.invoke(app, ["adhesion", "/nonexistent/interface.extxyz"])
    assert result.exit_code == 2
