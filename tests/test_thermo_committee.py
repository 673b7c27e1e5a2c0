"""Windows and reactions from the ML entries of several models: each member equals a direct single-model call."""

from __future__ import annotations

import json

import pytest
from ase.build import bulk
from ase.io import write

import ssbkit.workflows  # noqa: F401  (registers the mlip: source)
from ssbkit.errors import InputError
from ssbkit.interfaces.entries import parse_source
from ssbkit.interfaces.stability import stability_window
from ssbkit.workflows.thermo_committee import source_for_model, window_committee


def test_source_for_model_rewrites_only_the_mlip_parts():
    assert source_for_model("mp,mlip:x.cif", "sevennet-0") == "mp,mlip:sevennet-0:x.cif"
    assert source_for_model("mlip:chgnet:dir", "sevennet-0") == "mlip:sevennet-0:dir"
    with pytest.raises(InputError, match="needs ML-potential entries"):
        source_for_model("experimental", "chgnet")


@pytest.fixture(scope="module")
def li2o(tmp_path_factory):
    path = tmp_path_factory.mktemp("li2o") / "Li2O.extxyz"
    write(path, bulk("OLi2", "fluorite", a=4.61))  # antifluorite Li2O, experimental a = 4.61 Å
    return path


def test_window_committee_members_equal_direct_windows(li2o, monkeypatch, tmp_path):
    # Reference: each model's window computed directly from its own mlip:MODEL:PATH source.
    monkeypatch.setenv("SSBKIT_CACHE_DIR", str(tmp_path))
    models = ["chgnet", "sevennet-0"]
    report = window_committee("Li2O", f"mlip:{li2o}", models)
    assert not report.failures
    for model in models:
        direct = stability_window("Li2O", parse_source(f"mlip:{model}:{li2o}"))
        assert report.windows[model].oxidation_limit_V == pytest.approx(direct.oxidation_limit_V)
        assert report.oxidation_limit_V.values[model] == pytest.approx(direct.oxidation_limit_V)
    values = report.oxidation_limit_V.values
    assert report.oxidation_limit_V.spread == pytest.approx(abs(values["chgnet"] - values["sevennet-0"]))
    # Li2O is oxidised to Li2O2/O2 around 2.9-3.3 V vs Li/Li+ in DFT-based diagrams; both models land nearby.
    assert all(2.0 < v < 4.5 for v in values.values())

    from typer.testing import CliRunner

    from ssbkit.cli import app

    outcome = CliRunner().invoke(app, ["window", "Li2O", "--source", f"mlip:{li2o}", "-m", "chgnet",
                                       "-m", "sevennet-0", "--json"], env={"SSBKIT_CACHE_DIR": str(tmp_path)})
    assert outcome.exit_code == 0, outcome.output
    document = json.loads(outcome.stdout)
    assert document["oxidation_limit_V"]["values"] == pytest.approx(values)
