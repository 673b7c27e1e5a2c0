"""Committees beyond NEB: surface energy and work of adhesion, model comparison, ML formation energies.

A cheap committee of two real calculators: ASE's EMT and EMT(asap_cutoff=True), the same potential with
ASAP's cutoff (a second parameterisation that gives slightly different energies). Unless said otherwise,
the reference for every committee value is the direct single-model call it summarises.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from ssbkit.errors import ModelError
from ssbkit.interfaces.structures.slabs import build_slab
from ssbkit.potentials import CARDS
from ssbkit.workflows.adhesion import (
    AdhesionSettings,
    ReferenceSurfaceEnergy,
    adhesion,
    adhesion_committee,
    published_surface_energy,
    surface_energy,
    surface_energy_committee,
)
from ssbkit.workflows.committee import (
    CODE_LOWER_BOUND,
    CODE_MODEL_FAILED,
    CODE_MODELS_DISAGREE,
    CODE_MPTRJ_SOFTENING,
    CODE_REFERENCE,
)
from ssbkit.workflows.compare import compare_models

UNRELAXED = AdhesionSettings(relax_positions=False, relax_bulk=False)
CALCULATORS = {"emt": EMT, "emt-asap": lambda: EMT(asap_cutoff=True)}


def load_calculator(name: str):
    """The two EMT parameterisations by name; ModelError for anything else (as ssbkit.potentials.load)."""
    if name not in CALCULATORS:
        raise ModelError(f"unknown model {name!r}")
    return CALCULATORS[name]()


@pytest.fixture(scope="module")
def cu_bulk():
    return bulk("Cu", "fcc", a=3.6)


@pytest.fixture(scope="module")
def cu100(cu_bulk):
    return build_slab(cu_bulk, "100", layers=4, vacuum_A=10.0)


def _split(slab):
    """A slab cut in two halves along z, marked as substrate (0) and film (1)."""
    slab = slab.copy()
    slab.set_array("interface_part", (slab.positions[:, 2] > slab.positions[:, 2].mean()).astype(int))
    return slab


def test_surface_energy_committee_equals_direct_calls(cu_bulk, cu100):
    """Reference: surface_energy() called with each calculator directly."""
    direct = {name: surface_energy(cu100, cu_bulk, load_calculator(name), UNRELAXED).surface_energy_J_m2
              for name in CALCULATORS}
    assert direct["emt"] != pytest.approx(direct["emt-asap"], abs=1e-6)  # really two parameterisations
    result = surface_energy_committee(cu100, cu_bulk, list(CALCULATORS), load_calculator, UNRELAXED)
    value = result.surface_energy
    assert result.complete and value.n_models == 2 and value.unit == "J/m^2"
    assert value.values == pytest.approx(direct, abs=1e-12)
    assert value.mean == pytest.approx(np.mean(list(direct.values())), abs=1e-12)
    assert value.std == pytest.approx(np.std(list(direct.values()), ddof=1), abs=1e-12)
    assert value.spread == pytest.approx(abs(direct["emt"] - direct["emt-asap"]), abs=1e-12)
    codes = {c.code for c in result.caveats}
    assert CODE_LOWER_BOUND in codes and CODE_MPTRJ_SOFTENING not in codes  # EMT has no MPtrj card


def test_adhesion_committee_records_a_failing_member_and_goes_on(cu_bulk):
    """Reference: adhesion() with each working calculator directly; 'no-such-model' fails to load."""
    interface = _split(build_slab(cu_bulk, "100", layers=6, vacuum_A=10.0))
    result = adhesion_committee(interface, ["emt", "no-such-model", "emt-asap"], load_calculator,
                                cu_bulk, cu_bulk, UNRELAXED)
    assert not result.complete
    assert [f.model for f in result.failures] == ["no-such-model"]
    assert "unknown model" in result.failures[0].reason
    assert list(result.results) == ["emt", "emt-asap"]
    for name in ("emt", "emt-asap"):
        direct = adhesion(interface, load_calculator(name), cu_bulk, cu_bulk, UNRELAXED)
        assert result.work_of_adhesion.values[name] == pytest.approx(direct.work_of_adhesion_J_m2, abs=1e-12)
        assert result.film_surface_energy.values[name] == pytest.approx(direct.film_surface_energy_J_m2,
                                                                        abs=1e-12)
        assert result.interface_energy.values[name] == pytest.approx(direct.interface_energy_J_m2, abs=1e-12)
    assert result.work_of_adhesion.n_models == 2
    assert CODE_MODEL_FAILED in {c.code for c in result.caveats}


def test_mptrj_model_gets_the_softening_caveat_and_reference_difference(cu_bulk, cu100):
    """An EMT calculator carrying CHGNet's model card stands in for CHGNet (its card says MPtrj): the caveat
    comes from the card, also for a single model. The reference-difference caveat is checked against a
    made-up range (1.0-1.2 J/m²) with the committee mean minus its midpoint computed here."""
    def as_chgnet(name: str):
        calculator = load_calculator(name)
        calculator.ssbkit_card = CARDS["chgnet"]
        return calculator

    single = surface_energy(cu100, cu_bulk, as_chgnet("emt"), UNRELAXED)
    assert [c.code for c in single.caveats] == [CODE_MPTRJ_SOFTENING]
    reference = ReferenceSurfaceEnergy("Cu", (1, 0, 0), 1.0, 1.2, "test range")
    result = surface_energy_committee(cu100, cu_bulk, ["emt"], as_chgnet, UNRELAXED, reference=reference)
    difference = result.surface_energy.mean - 1.1
    messages = {c.code: c.message for c in result.caveats}
    assert CODE_MPTRJ_SOFTENING in messages and "emt" in messages[CODE_MPTRJ_SOFTENING]
    assert f"{difference:+.2f} J/m²" in messages[CODE_REFERENCE]
    assert CODE_LOWER_BOUND not in messages  # one model: no spread to talk about


def test_published_surface_energies_table():
    """The table holds PBE values of Tran et al. (2016) for W(110) and Li(110); other facets have none."""
    w110 = published_surface_energy(bulk("W", "bcc", a=3.17), "110")
    assert w110 is not None and (w110.low_J_m2, w110.high_J_m2) == (3.2, 3.3) and "Tran" in w110.source
    assert published_surface_energy(bulk("Li", "bcc", a=3.44), "1,1,0").label == "Li(110)"
    assert published_surface_energy(bulk("Cu", "fcc", a=3.6), "100") is None


def test_compare_models_records_a_broken_model(cu_bulk):
    """Reference: the emt outcome itself (one finished model: zero spread, a one-model committee)."""
    result = compare_models(cu_bulk, ["emt", "broken"], load_calculator, fmax=0.01)
    assert [o.model for o in result.outcomes] == ["emt"]
    assert [f.model for f in result.failures] == ["broken"]
    assert result.spread["a"] == 0.0
    emt = result.outcomes[0]
    assert result.committee["a"].values == {"emt": pytest.approx(emt.lattice[0])}
    assert result.committee["volume_per_atom"].mean == pytest.approx(emt.volume_per_atom)
    document = result.to_dict()
    assert {"spread", "committee", "caveats", "failures", "outcomes"} <= set(document)
    assert document["caveats"][0]["code"] == CODE_MODEL_FAILED


def test_compare_models_committee_matches_outcomes(cu_bulk):
    """Reference: max - min and sample std of the per-model outcomes."""
    result = compare_models(cu_bulk, list(CALCULATORS), load_calculator, fmax=0.01)
    volumes = [o.volume_per_atom for o in result.outcomes]
    value = result.committee["volume_per_atom"]
    assert value.spread == pytest.approx(result.spread["volume_per_atom"], abs=1e-12)
    assert value.std == pytest.approx(np.std(volumes, ddof=1), abs=1e-12)
    assert result.committee["relaxed_energy_per_atom"].unit == "eV/atom"
    assert result.complete


def test_formation_energy_committee_chgnet_sevennet_li2o():
    """CHGNet and SevenNet-0 on antifluorite Li2O (``bulk("OLi2", "fluorite")``: O on the fcc sites;
    ``bulk("Li2O", "fluorite")`` would put Li there and O in a tetrahedral site). References:
    entries_from_structures with each model directly (the per-model values) and the experimental formation
    enthalpy, -6.20 eV per Li2O = -2.07 eV/atom (pymatgen's exp_compounds.json.gz), which both models reach
    within 0.15 eV/atom."""
    import torch

    from ssbkit.potentials import load
    from ssbkit.workflows.ml_entries import entries_from_structures, formation_energy_committee

    torch.set_num_threads(1)
    loaded = {name: load(name, device="cpu") for name in ("chgnet", "sevennet-0")}  # loaded once for both calls

    def committee_member(name: str):
        return loaded[name] if name in loaded else load_calculator(name)

    li2o = bulk("OLi2", "fluorite", a=4.61)
    result = formation_energy_committee([li2o], ["chgnet", "sevennet-0", "no-such-model"], committee_member,
                                        names=["Li2O"])
    assert [f.model for f in result.failures] == ["no-such-model"]
    assert result.entries_model == "chgnet" and len(result.entries) == 1
    row = result.rows[0]
    for name in ("chgnet", "sevennet-0"):  # relaxations are cached: these direct calls are cheap
        direct = entries_from_structures([li2o], loaded[name], names=["Li2O"])[0]
        assert row.formation_energy.values[name] == pytest.approx(direct.data["formation_energy_per_atom"],
                                                                  abs=1e-9)
        assert row.formation_energy.values[name] == pytest.approx(-6.20 / 3, abs=0.15)
    assert result.entries[0].data["committee_formation_energy_per_atom"] == row.formation_energy.values
    disagree = row.formation_energy.spread > 0.025
    assert (CODE_MODELS_DISAGREE in {c.code for c in result.caveats}) == disagree
