"""Caveats on stability windows, reactions and pooled entry sources, on entry sets built so that the right
caveat is known by construction, and on pymatgen's experimental enthalpies."""

from __future__ import annotations

import json

import pytest
from pymatgen.analysis.phase_diagram import PDEntry
from pymatgen.core import Composition

from ssbkit.errors import InputError
from ssbkit.interfaces.entries import CombinedSource, ExperimentalSource, FileSource, parse_source, save_entries
from ssbkit.interfaces.phases import PhaseDiagrams
from ssbkit.interfaces.reactions import reaction_profile
from ssbkit.interfaces.screening import NO_REACTION, screen_candidates
from ssbkit.interfaces.stability import stability_window
from ssbkit.interfaces.validity import (DUPLICATE_COMPOSITION, ELEMENTAL_PRODUCT, INCOMPLETE_PHASE_SET,
                                        elemental_product_caveats, phase_set_caveats)
from ssbkit.results import Caveat


def entries(elements: dict[str, float] | None = None, **energies: float) -> list[PDEntry]:
    """PDEntries from formula=energy (eV per formula unit as written); elements at the energy per atom in
    ``elements``, else at zero (formation energies)."""
    made = [PDEntry(Composition(formula), energy, name=formula) for formula, energy in energies.items()]
    symbols = sorted({str(el) for e in made for el in e.composition.elements})
    return [PDEntry(Composition(el), (elements or {}).get(el, 0.0), name=el) for el in symbols] + made


def codes(caveats: list[Caveat], code: str) -> list[str]:
    return [c.message for c in caveats if c.code == code]


@pytest.fixture(scope="module")
def experimental() -> PhaseDiagrams:
    return PhaseDiagrams(ExperimentalSource())


# --- a missing binary: Li-Nb-O without Nb oxides ---------------------------------------------------------

# Formation enthalpies near the experimental ones (eV per formula unit); which subsystems hold a compound is
# all that matters: Li-O (Li2O) and Li-Nb-O (LiNbO3), never Li-Nb; Nb-O only where NbO2 is added.
LI_NB_O = dict(Li2O=-6.2, LiNbO3=-13.7)


def test_missing_nb_oxides_make_the_window_a_bound():
    window = stability_window("LiNbO3", entries(**LI_NB_O))
    missing = codes(window.caveats, INCOMPLETE_PHASE_SET)
    # Li-Nb is all-metal (no compound in any database) and is not checked by rule.
    assert missing == ["no Nb-O compounds in the entries: limits and products involving them are bounds"]
    # Without Nb oxides, oxidation leaves bare Nb and O2: O is flagged; Nb, a metal, is a normal conversion product.
    assert codes(window.caveats, ELEMENTAL_PRODUCT) == [
        "decomposes to bare O: the entry set may lack the phases that form instead"]
    assert window.to_dict()["caveats"][0] == {"code": INCOMPLETE_PHASE_SET, "message": missing[0]}


def test_an_nb_oxide_closes_the_gap():
    window = stability_window("LiNbO3", entries(**LI_NB_O, NbO2=-8.2))
    assert not any("Nb-O compounds" in message for message in codes(window.caveats, INCOMPLETE_PHASE_SET))
    # Li-Nb has no compound in any database; all-metal subsystems are not checked, so nothing is left.
    assert phase_set_caveats(["LiNbO3", "Li"], entries(**LI_NB_O, NbO2=-8.2)) == []


def test_a_reactant_absent_from_the_entries_leaves_its_own_system_uncovered():
    # Li3PS4 is not in this set: no Li-P-S compound at all; Li2S covers Li-S; P-S and Li-P are empty.
    found = phase_set_caveats("Li3PS4", entries(Li2S=-4.5))
    assert [c.message.split()[1] for c in found] == ["Li-P", "P-S", "Li-P-S"]
    assert phase_set_caveats("Li3PS4", entries(Li2S=-4.5, Li3P=-2.0, P2S5=-2.0, Li3PS4=-9.0)) == []


# --- bare-element products ---------------------------------------------------------------------------------

def test_bare_elements_other_than_li_and_the_reactants_are_flagged():
    assert elemental_product_caveats(["Li2S", "S", "P"], ["Li3PS4"]) == [
        Caveat(ELEMENTAL_PRODUCT, "decomposes to bare P and S: the entry set may lack the phases that form instead")]
    # Li is the reservoir; I is a reactant itself.
    assert elemental_product_caveats(["Li", "I", "LiI"], ["I", "LiCl"]) == []


def test_window_without_p_or_s_binaries_decomposes_to_bare_p_and_s():
    # The set has no Li-P and no P-S compound, so whatever Li3PS4 turns into holds bare P and S:
    # Li3PS4 + 5 Li -> 4 Li2S + P below the window, Li3PS4 -> 3 Li + P + 4 S above it.
    window = stability_window("Li3PS4", entries(Li2S=-4.5, Li3PS4=-8.0))
    assert (window.reduction_products, window.oxidation_products) == (["Li2S", "P"], ["P", "S"])
    assert codes(window.caveats, ELEMENTAL_PRODUCT) == [
        "decomposes to bare P and S: the entry set may lack the phases that form instead"]


# --- reactions ---------------------------------------------------------------------------------------------

def test_zero_reaction_energy_with_a_missing_subsystem_says_so(experimental):
    # The experimental set has no Nb-S compound, so Li2S | LiNbO3 cannot form niobium sulfides and reads 0.
    profile = reaction_profile("Li2S", "LiNbO3", experimental)
    assert profile.min_reaction_energy_eV_per_atom == 0.0
    assert "no Nb-S compounds in the entries: limits and products involving them are bounds" in codes(
        profile.caveats, INCOMPLETE_PHASE_SET)
    open_profile = reaction_profile("Li2S", "LiNbO3", experimental, voltage=2.0)
    assert any("Nb-S compounds" in message for message in codes(open_profile.caveats, INCOMPLETE_PHASE_SET))


def test_shipped_experimental_set_has_nb_oxides(experimental):
    # Checked first: pymatgen's exp_compounds.json.gz holds NbO, NbO2 and Nb2O5, so Nb-O is covered.
    formulas = {e.composition.reduced_formula for e in experimental.entries(["Nb", "O"])}
    assert {"NbO", "NbO2", "Nb2O5"} <= formulas
    window = stability_window("LiNbO3", experimental)
    assert not any("Nb-O compounds" in message for message in codes(window.caveats, INCOMPLETE_PHASE_SET))


# --- pooled sources ----------------------------------------------------------------------------------------

def write(path, entry_list) -> str:
    save_entries(entry_list, path)
    return str(path)


def test_duplicate_composition_keeps_the_first_listed_source(tmp_path):
    # Li2S at -4.5 eV/f.u. in a.json and -4.0 in b.json; Li2S -> 2 Li + S then oxidises at 4.5/2 = 2.25 V
    # (a kept) or 4.0/2 = 2.0 V (b kept). The elements, identical in both, are dropped without a caveat.
    a = write(tmp_path / "a.json", entries(Li2S=-4.5))
    b = write(tmp_path / "b.json", entries(Li2S=-4.0))
    source = parse_source(f"file:{a},file:{b}")
    assert isinstance(source, CombinedSource)
    pooled = source.get_entries(["Li", "S"])
    assert sorted(e.energy for e in pooled if e.composition.reduced_formula == "Li2S") == [-4.5]
    assert len(pooled) == 3
    expected = Caveat(DUPLICATE_COMPOSITION, f"Li2S from file:{a} and file:{b}: kept file:{a} (first listed)")
    assert source.caveats == [expected]

    window = stability_window("Li2S", source)
    assert window.oxidation_limit_V == pytest.approx(2.25)
    assert codes(window.caveats, DUPLICATE_COMPOSITION) == [expected.message]

    swapped = CombinedSource([FileSource(b), FileSource(a)])
    assert stability_window("Li2S", swapped).oxidation_limit_V == pytest.approx(2.0)
    assert swapped.caveats_within(["Li", "S"])[0].message.endswith(f"kept file:{b} (first listed)")
    assert swapped.caveats_within(["S"]) == []


def test_formation_and_total_energies_do_not_pool(tmp_path):
    # formation.json has its elements at 0 eV/atom; total.json at MP-like total energies (Li -1.9, S -4.1).
    formation = write(tmp_path / "formation.json", entries(Li2S=-4.5))
    total = write(tmp_path / "total.json", entries({"Li": -1.9, "S": -4.1}, Li2S=-12.4))
    source = parse_source(f"file:{formation},file:{total}")
    with pytest.raises(InputError, match=f"sources file:{formation} and file:{total} use different energy "
                                         r"references \(formation vs total energies\)"):
        stability_window("Li2S", source)


def test_sources_without_overlap_pool_silently(tmp_path):
    lithium = write(tmp_path / "li.json", entries(Li2O=-6.2))
    sulfur = write(tmp_path / "s.json", [PDEntry(Composition("S"), 0.0), PDEntry(Composition("Li2S"), -4.5)])
    source = parse_source(f"file:{lithium},file:{sulfur}")
    assert len(source.get_entries(["Li", "O", "S"])) == 5 and source.caveats == []


# --- screening ---------------------------------------------------------------------------------------------

def test_worst_reaction_is_the_candidates_own():
    # Li2ICl is not in the set: its hull energy is that of LiI + LiCl, and the end x = 0 of every profile
    # against it reads "Li2ICl -> LiI + LiCl" at 0 eV/atom. LiCl reacts with neither Li2ICl (it is one of
    # its products) nor Li (no Li-richer chloride); I reacts with Li to LiI, -2.8/2 = -1.4 eV/atom at x = 1/2.
    result = screen_candidates(["LiCl", "I"], "Li2ICl", "Li", entries(LiI=-2.8, LiCl=-4.2))
    rows = {row.candidate: row for row in result.candidates}
    assert rows["LiCl"].worst_reaction_energy_eV_per_atom == 0.0
    assert rows["LiCl"].worst_reaction == NO_REACTION
    assert rows["I"].worst_reaction_energy_eV_per_atom == pytest.approx(-1.4)
    assert rows["I"].worst_reaction.startswith("with electrode, closed:") and "LiI" in rows["I"].worst_reaction
    # The candidates' caveats carry those of their reactions: no Cl-I binary and no Cl-I-Li ternary.
    assert {"Cl-I", "Cl-I-Li"} <= {c.message.split()[1] for c in rows["I"].caveats
                                   if c.code == INCOMPLETE_PHASE_SET}
    assert json.dumps(result.to_dict())  # caveats are plain JSON
