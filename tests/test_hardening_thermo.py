"""Bad thermodynamic input ends in one clear stderr line and exit code 2, never a traceback, and the Python
functions refuse it too: non-finite or absurd voltages, formulas without an entry or with absurd amounts,
corrupt entry energies, output files in missing directories."""

from __future__ import annotations

import json
import math

import pytest
from pymatgen.analysis.phase_diagram import PDEntry
from pymatgen.core import Composition

from ssbkit.cli import app
from ssbkit.errors import DataError, InputError
from ssbkit.interfaces.entries import ExperimentalSource, load_entries
from ssbkit.interfaces.phases import PhaseDiagrams, parse_formula
from ssbkit.interfaces.reactions import reaction_profile
from ssbkit.interfaces.screening import screen_candidates
from ssbkit.interfaces.stability import stability_window

from cli_helpers import fails_cleanly, runner


@pytest.fixture(scope="module")
def experimental():
    return PhaseDiagrams(ExperimentalSource())


@pytest.mark.parametrize("voltage", ["nan", "inf", "-inf", "11", "-0.5"])
def test_react_refuses_bad_voltages(voltage):
    fails_cleanly(["react", "Li2O", "SiO2", "--voltage", voltage, "--source", "experimental"], "V")


@pytest.mark.parametrize("voltage_range", ["0,inf", "nan,4", "1,20", "4,2"])
def test_screen_refuses_bad_voltage_ranges(voltage_range):
    fails_cleanly(["screen", "--electrolyte", "Li3PS4", "--electrode", "LiCoO2", "--candidates", "LiNbO3",
                   "--voltage-range", voltage_range, "--source", "experimental"], "voltage")


def test_python_functions_refuse_bad_voltages(experimental):
    for voltage in (math.nan, math.inf, 10.5, -1.0):
        with pytest.raises(InputError, match="V|finite"):
            reaction_profile("Li2O", "SiO2", experimental, voltage=voltage)
        with pytest.raises(InputError):
            experimental.li_open({"O"}, voltage)
    with pytest.raises(InputError, match="finite"):
        screen_candidates(["LiNbO3"], "Li3PS4", "LiCoO2", experimental, (0.0, math.inf))


def test_window_refuses_a_formula_without_entry(experimental):
    line = fails_cleanly(["window", "PuO2", "--source", "experimental"], "PuO2 has no entry in experimental",
                         "--hypothetical")
    assert "traceback" not in line.lower()
    result = runner.invoke(app, ["window", "PuO2", "--source", "experimental", "--hypothetical", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["above_hull"] is None
    with pytest.raises(InputError, match="no entry"):
        stability_window("PuO2", experimental)
    assert stability_window("PuO2", experimental, hypothetical=True).energy_above_hull_eV_per_atom is None


@pytest.mark.parametrize("formula", ["Li999999999999O", "Li2O1001", "Li5000O5001"])
def test_absurd_formulas_are_refused(formula):
    fails_cleanly(["window", formula, "--source", "experimental"], "not a plausible compound")
    with pytest.raises(InputError, match="plausible"):
        parse_formula(formula)
    assert parse_formula("Li7La3Zr2O12").num_atoms == 24


@pytest.mark.parametrize("energy", [-1e30, math.nan, math.inf])
def test_entry_files_with_corrupt_energies_are_refused(tmp_path, energy):
    entries = [PDEntry(Composition(el), 0.0) for el in ("Li", "O")] + [PDEntry(Composition("Li2O"), energy)]
    path = tmp_path / "entries.json"
    path.write_text(json.dumps([e.as_dict() for e in entries]).replace("Infinity", "1e999"))
    with pytest.raises(DataError, match=r"entry 2 \(Li2O\)"):
        load_entries(path)
    with pytest.raises(DataError, match="Li2O"):
        PhaseDiagrams(entries)
    fails_cleanly(["window", "Li2O", "--source", f"file:{path}"], "entry 2 (Li2O)", "eV/atom")


def test_outputs_in_missing_directories_are_refused_before_computing(tmp_path):
    missing = tmp_path / "missing"
    fails_cleanly(["window", "LiI", "--source", "experimental", "--plot", str(missing / "w.png")],
                  f"directory {missing} does not exist")
    fails_cleanly(["react", "Li2O", "SiO2", "--source", "experimental", "--plot", str(missing / "r.png")],
                  f"directory {missing} does not exist")
    fails_cleanly(["screen", "--electrolyte", "Li3PS4", "--electrode", "LiCoO2", "--candidates", "LiNbO3",
                   "--source", "experimental", "--csv", str(missing / "s.csv")], f"directory {missing} does not exist")
    assert not missing.exists()


def test_window_help_names_the_mp_key():
    result = runner.invoke(app, ["window", "--help"], env={"COLUMNS": "200"})
    assert "MP_API_KEY" in result.stdout and "--hypothetical" in result.stdout
