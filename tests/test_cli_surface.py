"""What people read: tables fit an 80-column terminal without cutting text; stderr stays quiet when nothing is
wrong; plot labels subscript formulas."""

from __future__ import annotations

import os

from typer.testing import CliRunner

from ssbkit.cli import app
from ssbkit.plotting import formula_label

NARROW = {"COLUMNS": "80"}


def _fits(text: str) -> None:
    assert "…" not in text
    assert all(len(line) <= 80 for line in text.splitlines()), max(text.splitlines(), key=len)


def test_model_names_are_never_cut():
    result = CliRunner().invoke(app, ["potentials", "list"], env=NARROW)
    assert result.exit_code == 0, result.output
    _fits(result.stdout)
    for name in ("chgnet-r2scan", "sevennet-0-22may2024", "mace-matpes-r2scan-0"):
        assert name in result.stdout


def test_wide_table_turns_vertical_at_80_columns():
    result = CliRunner().invoke(app, ["screen", "--electrolyte", "Li2S", "--electrode", "Li", "--candidates",
                                      "LiF,LiNbO3", "--voltage-range", "0,2.5", "--source", "experimental"],
                                env=NARROW)
    assert result.exit_code == 0, result.output
    _fits(result.stdout)
    assert "LiNbO3" in result.stdout and "elemental-product" in result.stdout


def test_reference_structure_writes_nothing_on_stderr(tmp_path):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(app, ["build", "reference", "Li6PS5Cl", "-o", "x.cif"])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_usage_error_is_one_line():
    result = CliRunner().invoke(app, ["react", "Li2O", "SiO2", "--voltage", "abc"])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "react --help" in result.stderr


def test_formula_label_subscripts_counts():
    assert formula_label("Li6PS5Cl") == "Li$_6$PS$_5$Cl"
    assert formula_label("Li10GeP2S12") == "Li$_{10}$GeP$_2$S$_{12}$"
    assert formula_label("0.5 Li2S + Nb2O5") == "0.5 Li$_2$S + Nb$_2$O$_5$"
    assert formula_label("Ca(OH)2") == "Ca(OH)$_2$"
