"""The structure-building CLI: files written, one JSON document, exit code 2 on bad input."""

from __future__ import annotations

import json

from ase.io import read
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


def test_build_gb_and_interface_tables(tmp_path):
    result = CliRunner().invoke(app, ["build", "gb", "W", "--sigma", "5", "--axis", "001", "--plane", "310",
                                      "--expand", "1", "-o", str(tmp_path / "gb.cif")])
    assert result.exit_code == 0, result.output
    assert "36.87" in result.stdout
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
