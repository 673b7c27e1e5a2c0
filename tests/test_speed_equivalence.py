"""The fast paths give the same results as the plain ways: screening vs plain pymatgen, models loaded once,
pymatgen's experimental data found without importing its compatibility package. No timing assertions here:
the speed ratios are printed by benchmarks/cli_latency.py, screening_scale.py and the batching benchmarks."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pymatgen.core import Composition

from benchmarks.screening_scale import differences, naive_table, pick_candidates
from ssbkit.interfaces.entries import ExperimentalSource
from ssbkit.interfaces.phases import PhaseDiagrams
from ssbkit.interfaces.reactions import reaction_minimum, reaction_profile
from ssbkit.interfaces.screening import screen_candidates
from ssbkit.interfaces.stability import stability_window, window_limits
from ssbkit.workflows.runner import load_spec, run_spec, spec_results
from ssbkit.workflows.runner.executors import MODELS, ModelCache

from runner_helpers import relaxation_spec


def test_screening_table_equals_plain_pymatgen_per_candidate():
    """Reference: pymatgen itself, one PhaseDiagram / InterfacialReactivity / GrandPotentialPhaseDiagram per
    calculation (benchmarks/screening_scale.py's naive loop), on eight oxides spread over the experimental set."""
    source = ExperimentalSource()
    entries = source.get_entries(sorted({str(el) for e in source.get_entries(["Li", "O", "S", "Fe", "B", "Al", "Nb",
                                                                              "Ti", "Zr", "P", "La", "Si"])
                                         for el in e.composition.elements}))
    partners = {"electrolyte": Composition("Li2S"), "electrode": Composition("LiFeO2")}
    candidates = pick_candidates(entries, 8, {"Li2S", "LiFeO2"})
    table = naive_table(candidates, partners, entries, (2.0, 3.0))
    result = screen_candidates(candidates, "Li2S", "LiFeO2", source, (2.0, 3.0))
    assert differences(result, table) == []
    assert any(row.worst_reaction_energy_eV_per_atom < 0 for row in result.candidates)  # reactions were compared


@pytest.fixture(scope="module")
def both_paths():
    """Two analyses of the experimental set: one for the numpy hulls, one for pymatgen's diagrams."""
    source = ExperimentalSource()
    return PhaseDiagrams(source), PhaseDiagrams(source)


@pytest.mark.parametrize("candidate, partner, voltage", [
    ("AgBrO3", "Li6PS5Cl", None),  # coefficients 0.46875 at a 4-digit rounding tie: pymatgen's own balancing
    ("MgTiO3", "Li6PS5Cl", None),
    ("Co(NO3)2", "Li6PS5Cl", 0.5),  # Li-open, Li taken up from the reservoir
    ("ZnWO4", "Li2S", 3.0),  # Li-open, Li released
    ("Cr(CO)6", "LiCoO2", None),
    ("TiO", "Li3PS4", 2.0),
    ("Al2O3", "Li", None),  # Li metal partner
    ("LiNbO3", "LiCoO2", 4.3),  # no reaction: the minimum is a mixing end
])
def test_fast_reaction_minimum_equals_pymatgen_interfacial_reactivity(both_paths, candidate, partner, voltage):
    """Reference: reaction_profile, i.e. pymatgen's InterfacialReactivity / GrandPotentialInterfacialReactivity
    on PhaseDiagram / GrandPotentialPhaseDiagram objects built from the same entries."""
    fast, reference = both_paths
    expected = reaction_profile(candidate, partner, reference, voltage=voltage)
    found = reaction_minimum(candidate, partner, fast, voltage=voltage)
    assert found.min_reaction_energy_eV_per_atom == pytest.approx(expected.min_reaction_energy_eV_per_atom,
                                                                  abs=1e-9)
    assert found.reaction == expected.reaction
    assert found.caveats == expected.caveats
    assert set(found.products) == set(expected.products) - {"Li"}  # the reservoir is not a phase formed


@pytest.mark.parametrize("formula", ["LiNbO3", "LiAlO2", "Li2O", "LiI", "Li2TiO3", "Li3PS4", "Fe2O3", "AgBrO3"])
def test_fast_window_limits_equal_pymatgen_element_profile(both_paths, formula):
    """Reference: stability_window, i.e. pymatgen's PhaseDiagram.get_element_profile(Li, ...) and
    get_e_above_hull (Li3PS4 has no experimental entry: hypothetical, E_hull unknown)."""
    fast, reference = both_paths
    expected = stability_window(formula, reference, hypothetical=True)
    found = window_limits(formula, fast)
    assert found.reduction_limit_V == pytest.approx(expected.reduction_limit_V, abs=1e-9)
    assert found.oxidation_limit_V == pytest.approx(expected.oxidation_limit_V, abs=1e-9)
    assert (found.energy_above_hull_eV_per_atom is None) == (expected.energy_above_hull_eV_per_atom is None)
    if expected.energy_above_hull_eV_per_atom is not None:
        assert found.energy_above_hull_eV_per_atom == pytest.approx(expected.energy_above_hull_eV_per_atom,
                                                                    abs=1e-9)
    assert found.caveats == expected.caveats


def test_experimental_data_is_found_without_importing_the_compatibility_package():
    code = ("import sys; from ssbkit.interfaces.entries import ExperimentalSource; "
            "assert ExperimentalSource().get_entries(['Li', 'O']); "
            "print(sorted(m for m in sys.modules if 'compatibility' in m))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_model_cache_loads_each_model_once_and_stays_bounded():
    cache = ModelCache(size=1)
    first = cache.get("emt", "cpu", "relax", False)
    assert cache.get("emt", "cpu", "relax", False) is first and cache.loads == 1
    cache.get("emt", "cpu", "md", False)  # another precision is another model: evicts the first (size 1)
    assert cache.loads == 2 and cache.get("emt", "cpu", "relax", False) is not first and cache.loads == 3


def test_runner_worker_keeps_its_model_between_tasks(tmp_path):
    """Three EMT relaxations run one task per group in this process: the model is loaded at most once."""
    loads = MODELS.loads
    spec = load_spec(relaxation_spec(tmp_path, 3))
    run_spec(spec, executor="local")
    assert [record.state for record in spec_results(spec)] == ["done"] * 3
    assert MODELS.loads - loads <= 1


@pytest.mark.parametrize("model", ["chgnet"])
def test_cached_mlip_entries_do_not_load_the_model(tmp_path, monkeypatch, model):
    """Once every structure's relaxation is cached, the mlip: source builds the same entries without the model."""
    import ssbkit.potentials
    from ssbkit.interfaces.structures.references import load_reference_structure
    from ssbkit.workflows.ml_entries import MLIPSource

    folder = tmp_path / "phases"
    folder.mkdir()
    load_reference_structure("LiCl").get_primitive_structure().to(filename=str(folder / "LiCl.cif"))
    first = MLIPSource(f"{model}:{folder}", device="cpu").entries()

    def no_model(*args, **kwargs):
        raise AssertionError("loaded a model although every relaxation was cached")

    monkeypatch.setattr(ssbkit.potentials, "load", no_model)
    again = MLIPSource(f"{model}:{folder}", device="cpu").entries()
    assert [e.energy for e in again] == [e.energy for e in first]
    assert [e.data for e in again] == [e.data for e in first]
