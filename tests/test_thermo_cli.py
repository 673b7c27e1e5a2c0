"""CLI of the thermodynamics area: JSON documents, tables, plots, CSV and exit code 2 on bad input.
Runs on the experimental source (no key, no network), as the README's first example does."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from ssbkit.cli import app

runner = CliRunner()


def run_json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--source", "experimental", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # exactly one JSON document on stdout


def test_window_json_and_plot(tmp_path):
    plot = tmp_path / "window.png"
    document = run_json("window", "LiI", "--plot", str(plot))
    assert {"formula", "reduction_limit_V", "oxidation_limit_V", "reduction_products", "oxidation_products",
            "profile", "energy_above_hull_eV_per_atom", "above_hull"} <= set(document)
    # -dHf(LiI) = 2.79915 eV per Li in pymatgen's experimental data (Richards et al. 2016: 2.80 V).
    assert document["oxidation_limit_V"] == pytest.approx(2.79915, abs=1e-5)
    assert document["profile"][-1]["voltage_max_V"] is None  # open-ended top step: JSON null
    assert plot.stat().st_size > 10_000


def test_react_json_li_open(tmp_path):
    document = run_json("react", "Li2O", "SiO2", "--voltage", "1.0", "--plot", str(tmp_path / "r.png"))
    assert {"reactants", "min_reaction_energy_eV_per_atom", "mixing_ratio", "products", "profile"} <= set(document)
    assert document["voltage_V"] == 1.0 and document["reactants"] == ["Li2O", "SiO2"]
    assert all({"x", "energy_eV_per_atom", "reaction"} <= set(kink) for kink in document["profile"])
    assert document["min_reaction_energy_eV_per_atom"] == min(k["energy_eV_per_atom"] for k in document["profile"])
    assert (tmp_path / "r.png").exists()


def test_screen_table_json_csv_plot(tmp_path):
    candidates = tmp_path / "candidates.txt"
    candidates.write_text("# coatings\nLiNbO3\nLiAlO2, Al2O3\n")
    csv_path, plot = tmp_path / "rank.csv", tmp_path / "rank.png"
    args = ["screen", "--electrolyte", "Li2S", "--electrode", "Li", "--candidates", "LiF",
            "--candidates-file", str(candidates), "--voltage-range", "0,2.5"]
    document = run_json(*args, "--csv", str(csv_path), "--plot", str(plot))
    assert [row["rank"] for row in document["candidates"]] == [1, 2, 3, 4]
    assert document["candidates"][0]["candidate"] == "LiF"  # the only one whose window covers 0-2.5 V
    with open(csv_path, newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [row["candidate"] for row in table] == [row["candidate"] for row in document["candidates"]]
    assert plot.exists()
    human = runner.invoke(app, [*args, "--source", "experimental"])
    assert human.exit_code == 0 and "LiNbO3" in human.stdout and "Ranking:" in human.stdout


@pytest.mark.parametrize("args, message", [
    (["window", "Li2Qq", "-s", "experimental"], "invalid formula"),
    (["window", "LiI", "-s", ""], "empty entry source"),
    (["window", "LiI", "-s", "nist"], "unknown entry source"),
    (["window", "LiI"], "MP_API_KEY"),
    (["react", "LiI", "LiI", "-s", "experimental"], "identical reactants"),
    (["screen", "--electrolyte", "Li2S", "--electrode", "Li", "-s", "experimental"], "give candidates"),
    (["screen", "--electrolyte", "Li2S", "--electrode", "Li", "--candidates", "LiF", "--voltage-range", "4",
      "-s", "experimental"], "LO,HI"),
])
def test_bad_input_exits_2_with_one_line(args, message):
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""  # nothing on stdout, the error goes to stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
