"""The ``ssbkit potentials`` commands: list, check, compare (real CHGNet and SevenNet-0 models)."""

from __future__ import annotations

import json

import pytest
from ase.build import bulk
from ase.io import write
from typer.testing import CliRunner

from ssbkit.cli import app


def invoke(*args):
    return CliRunner().invoke(app, ["potentials", *map(str, args)])


def test_list_json_is_one_document_with_every_card():
    result = invoke("list", "--json")
    assert result.exit_code == 0
    names = [card["name"] for card in json.loads(result.stdout)]
    assert {"chgnet", "sevennet-0", "mace-mp-0-small", "mace-mpa-0-medium"} <= set(names)


def test_check_reports_coverage_and_timing(tmp_path):
    path = tmp_path / "Li.cif"
    write(path, bulk("Li", "bcc", a=3.44, cubic=True))
    result = invoke("check", path, "--model", "chgnet", "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["covered"] and report["missing_elements"] == []
    assert report["seconds_per_evaluation"] > 0
    # A perfect bcc cell is a symmetric configuration: forces vanish by symmetry.
    assert report["max_force"] < 1e-3
    # Reference: CHGNet 0.3.0 predicts Li bcc within ~0.05 eV/atom of MP's PBE -1.909 eV/atom (mp-135).
    assert report["energy_per_atom"] == pytest.approx(-1.91, abs=0.1)


def test_check_names_uncovered_elements_and_exits_1(tmp_path):
    path = tmp_path / "Am.cif"
    write(path, bulk("Am", "fcc", a=4.9))  # CHGNet embeds Z = 1..94; americium is 95
    result = invoke("check", path, "--model", "chgnet", "--device", "cpu")
    assert result.exit_code == 1
    assert "does not cover: Am" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["check", "absent.cif"], "structure file absent.cif not found"),
    (["check", "{cif}", "--model", "gpt-4"], "unknown model 'gpt-4'"),
    (["compare", "{cif}", "--models", "chgnet"], "at least two models"),
    (["fit", "absent.extxyz"], "training data file not found"),
])
def test_user_errors_exit_2_with_one_line(tmp_path, args, message):
    cif = tmp_path / "Li.cif"
    write(cif, bulk("Li", "bcc", a=3.44, cubic=True))
    result = invoke(*[a.format(cif=cif) for a in args])
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_compare_relaxes_with_each_model_and_reports_spread(tmp_path):
    # Reference: bcc Li has a = 3.44 Å in PBE (Materials Project mp-135); both universal potentials
    # were trained on MPtrj PBE data, so each should land within 2% of it. The spread is max - min.
    path = tmp_path / "Li.cif"
    atoms = bulk("Li", "bcc", a=3.30, cubic=True)
    write(path, atoms)
    result = invoke("compare", path, "--models", "chgnet,sevennet-0", "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    outcomes = {o["model"]: o for o in report["outcomes"]}
    assert set(outcomes) == {"chgnet", "sevennet-0"}
    for outcome in outcomes.values():
        assert outcome["converged"]
        assert outcome["lattice"][0] == pytest.approx(3.44, rel=0.02)
        assert outcome["max_force"] < 1e-3  # bcc: forces vanish by symmetry even when compressed
    a_values = [o["lattice"][0] for o in outcomes.values()]
    assert report["spread"]["a"] == pytest.approx(max(a_values) - min(a_values))
    assert report["spread"]["relaxed_energy_per_atom"] < 0.1
