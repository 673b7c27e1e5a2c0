"""Stability windows, reaction energies and screening against hand-derived answers and published numbers."""

from __future__ import annotations

import pytest
from pymatgen.analysis.phase_diagram import PDEntry
from pymatgen.core import Composition

from ssbkit.errors import DataError, InputError
from ssbkit.interfaces.entries import ExperimentalSource
from ssbkit.interfaces.phases import PhaseDiagrams
from ssbkit.interfaces.reactions import reaction_profile
from ssbkit.interfaces.screening import screen_candidates
from ssbkit.interfaces.stability import stability_window


def entries(**energies: float) -> list[PDEntry]:
    """PDEntries from formula=energy (eV per formula unit as written); elements at zero unless given."""
    made = [PDEntry(Composition(formula), energy, name=formula) for formula, energy in energies.items()]
    elements = {str(el) for e in made for el in e.composition.elements}
    return [PDEntry(Composition(el), 0.0, name=el) for el in sorted(elements) if el not in energies] + made


@pytest.fixture(scope="module")
def experimental() -> PhaseDiagrams:
    return PhaseDiagrams(ExperimentalSource())


# --- a binary with one compound: Li-I with LiI at -2 eV/f.u. -------------------------------------------

def test_binary_window_and_reaction_by_hand():
    # LiI -> Li + 1/2 I2 costs 2 eV per Li, so LiI releases Li above exactly 2 V and is stable down to
    # Li metal (no Li-richer phase). Li + I -> LiI releases 2 eV per 2 atoms: -1 eV/atom at x = 1/2.
    binary = entries(LiI=-2.0)
    window = stability_window("LiI", binary)
    assert (window.reduction_limit_V, window.oxidation_limit_V) == (0.0, pytest.approx(2.0, abs=1e-12))
    assert window.reduction_products == [] and window.oxidation_products == ["I"]
    assert [s.li_uptake_per_formula_unit for s in window.profile] == pytest.approx([0.0, -1.0])
    assert window.energy_above_hull_eV_per_atom == pytest.approx(0.0) and window.above_hull is False

    reaction = reaction_profile("Li", "I", binary)
    assert [k.x for k in reaction.profile] == pytest.approx([0.0, 0.5, 1.0])
    assert [k.energy_eV_per_atom for k in reaction.profile] == pytest.approx([0.0, -1.0, 0.0])
    assert reaction.min_reaction_energy_eV_per_atom == pytest.approx(-1.0)
    assert reaction.mixing_ratio == pytest.approx(0.5) and reaction.products == ["LiI"]


# --- a ternary with known kinks: the Li2O-SiO2 join -------------------------------------------------

SILICATES = dict(Li2O=-6.0, SiO2=-9.0, Li2SiO3=-16.3, Li4SiO4=-23.0)


def test_ternary_kinks_by_hand():
    # x = atomic fraction of Li2O. Li2SiO3 (6 atoms, 3 from Li2O) sits at x = 1/2 with
    # (-16.3 + 6 + 9)/6 = -0.21667 eV/atom; Li4SiO4 (9 atoms, 6 from Li2O) at x = 2/3 with (-23 + 12 + 9)/9
    # = -0.22222 eV/atom. Both lie below the lines joining their neighbours, so both are kinks.
    reaction = reaction_profile("Li2O", "SiO2", entries(**SILICATES))
    assert [k.x for k in reaction.profile] == pytest.approx([0.0, 0.5, 2 / 3, 1.0])
    assert [k.energy_eV_per_atom for k in reaction.profile] == pytest.approx([0.0, -1.3 / 6, -2 / 9, 0.0])
    assert reaction.min_reaction_energy_eV_per_atom == pytest.approx(-2 / 9)
    assert reaction.mixing_ratio == pytest.approx(2 / 3) and reaction.products == ["Li4SiO4"]
    assert reaction.voltage_V is None and reaction.reactants == ["Li2O", "SiO2"]


def test_above_hull_phase_is_flagged_with_decomposition_energy():
    # Li2Si2O5 at -25 eV/f.u. has formation energy -1/9 eV/atom at x = 1/3 on the join; the hull there is
    # 2/3 of Li2SiO3's -0.21667 = -0.14444 eV/atom, so it lies 0.03333 eV/atom above, decomposing to
    # SiO2 + Li2SiO3.
    window = stability_window("Li2Si2O5", entries(**SILICATES, Li2Si2O5=-25.0))
    assert window.above_hull is True
    assert window.energy_above_hull_eV_per_atom == pytest.approx(0.3 / 9)
    assert window.hull_decomposition == ["Li2SiO3", "SiO2"]


def test_above_hull_reactant_is_not_counted_as_reactivity():
    # Li2Si2O5 (0.0333 eV/atom above hull, decomposing to Li2SiO3 + SiO2) and SiO2 lie on the same hull
    # facet, so mixing them releases nothing: the mutual reaction energy is 0 at every x. The reactant's own
    # instability is the window's energy_above_hull, not reactivity with every partner (with the ground-state
    # entry energy instead, every mixture would read -0.0333 x and an inert partner would look reactive).
    reaction = reaction_profile("Li2Si2O5", "SiO2", entries(**SILICATES, Li2Si2O5=-25.0))
    assert reaction.min_reaction_energy_eV_per_atom == pytest.approx(0.0, abs=1e-9)
    assert all(k.energy_eV_per_atom == pytest.approx(0.0, abs=1e-9) for k in reaction.profile)


# --- Li-open reactions: Si + S with SiS (-1 eV/f.u.) and LiSi (-2 eV/f.u.) ------------------------------

SILICON_SULFUR = dict(SiS=-1.0, LiSi=-2.0)


def test_li_open_reaction_by_hand():
    # Closed: Si + S -> SiS, -0.5 eV/atom at x = 1/2.
    diagrams = PhaseDiagrams(entries(**SILICON_SULFUR))
    closed = reaction_profile("Si", "S", diagrams)
    assert closed.min_reaction_energy_eV_per_atom == pytest.approx(-0.5) and closed.products == ["SiS"]
    # Open to Li at 1.5 V (mu_Li = -1.5 eV): LiSi's grand energy per Si is -2 + 1.5 = -0.5, so Si is at
    # -0.5 on the Li-open hull (as LiSi) and S at 0. SiS (-0.5 eV/atom at x = 1/2) is below the line
    # between them (-0.25), so LiSi + S -> SiS + Li releases -0.5 - (-0.25) = -0.25 eV per non-Li atom.
    at_1_5 = reaction_profile("Si", "S", diagrams, voltage=1.5)
    assert [k.x for k in at_1_5.profile] == pytest.approx([0.0, 0.5, 1.0])
    assert at_1_5.min_reaction_energy_eV_per_atom == pytest.approx(-0.25)
    assert at_1_5.products == ["SiS"] and at_1_5.voltage_V == 1.5
    assert at_1_5.profile[-1].reaction == "Si + Li -> LiSi"  # Si alone is lithiated at 1.5 V
    # At 0.5 V LiSi is at -1.5 per Si; the line to S passes -0.75 at x = 1/2, below SiS: no reaction.
    at_0_5 = reaction_profile("Si", "S", diagrams, voltage=0.5)
    assert at_0_5.min_reaction_energy_eV_per_atom == pytest.approx(0.0, abs=1e-9)
    # LiSi releases its Li (LiSi -> Li + Si) above exactly 2 V.
    window = stability_window("LiSi", diagrams)
    assert (window.reduction_limit_V, window.oxidation_limit_V) == (0.0, pytest.approx(2.0))
    # Built once each: Si-S, Li-S-Si (shared by both voltages), two Li-open diagrams, Li-Si for the window.
    assert diagrams.builds == 5
    reaction_profile("S", "Si", diagrams, voltage=1.5)
    assert diagrams.builds == 5


# --- published numbers: Richards et al., Chem. Mater. 28, 266 (2016), Fig. 1c ---------------------------

@pytest.mark.parametrize("formula, by_hand, published", [
    # LiI -> Li + 1/2 I2: V = -dHf(LiI) = 2.79915 eV / 1 Li (pymatgen's exp_compounds.json.gz).
    ("LiI", 2.79915, 2.80),
    # LiH -> Li + 1/2 H2: V = -dHf(LiH) = 0.94004 V.
    ("LiH", 0.94004, 0.93),
])
def test_richards_oxidation_limits(experimental, formula, by_hand, published):
    # Tolerance vs the hand derivation: 1e-5 V (rounding of the quoted enthalpy). Vs the published values:
    # 0.015 V, since Fig. 1c reads to 0.01 V and its enthalpy tabulation may differ in the last digit
    # (LiH: 0.94 here vs 0.93 there).
    window = stability_window(formula, experimental)
    assert window.oxidation_limit_V == pytest.approx(by_hand, abs=1e-5)
    assert window.oxidation_limit_V == pytest.approx(published, abs=0.015)
    assert window.reduction_limit_V == 0.0


@pytest.mark.parametrize("formula, by_hand, products", [
    # 2 Li2O -> Li2O2 + 2 Li: V = (dHf(Li2O2) - 2 dHf(Li2O))/2 = (-6.55665 + 12.39359)/2.
    ("Li2O", (-6.556655 + 2 * 6.196797) / 2, ["Li2O2"]),
    # LiAlO2 -> 1/2 Al2O3 + 1/4 O2 + Li: V = dHf(Al2O3)/2 - dHf(LiAlO2) = -8.6445 + 12.3200.
    ("LiAlO2", -17.289 / 2 + 12.320007, ["Al2O3", "O2"]),
    # LiNbO3 -> 1/2 Nb2O5 + 1/4 O2 + Li: V = dHf(Nb2O5)/2 - dHf(LiNbO3) = -9.84347 + 14.14930.
    ("LiNbO3", -19.686930 / 2 + 14.149301, ["Nb2O5", "O2"]),
])
def test_oxidation_limits_from_experimental_enthalpies(experimental, formula, by_hand, products):
    window = stability_window(formula, experimental)
    assert window.oxidation_limit_V == pytest.approx(by_hand, abs=1e-5)
    assert window.oxidation_products == products


# --- screening -----------------------------------------------------------------------------------------

def test_screening_reuses_diagrams_and_ranks_by_the_documented_rule(experimental):
    diagrams = PhaseDiagrams(ExperimentalSource())
    result = screen_candidates(["Al2O3", "LiAlO2", "LiNbO3"], "Li2S", "Li", diagrams, voltage_range=(0.0, 2.5))
    # Al2O3 and LiAlO2 share Li-Al-O (windows, and reactions with Li metal) and Al-Li-O-S (closed, plus one
    # Li-open diagram per voltage): 4 builds for both; LiNbO3 needs its own 4. A per-pair loop builds 10.
    assert result.phase_diagrams_built == 8
    rows = {row.candidate: row for row in result.candidates}
    for row in result.candidates:
        computed = [v for v in (row.electrolyte_closed_eV_per_atom, row.electrode_closed_eV_per_atom,
                                row.electrolyte_open_low_eV_per_atom, row.electrolyte_open_high_eV_per_atom)
                    if v is not None]
        assert row.worst_reaction_energy_eV_per_atom == pytest.approx(min(computed))
        assert row.electrode_open_low_eV_per_atom is None  # Li metal is the Li reservoir itself
    # Each number equals the stand-alone calculation.
    alone = reaction_profile("LiAlO2", "Li", experimental)
    assert rows["LiAlO2"].electrode_closed_eV_per_atom == pytest.approx(alone.min_reaction_energy_eV_per_atom)
    window = stability_window("LiNbO3", experimental)
    assert rows["LiNbO3"].reduction_limit_V == pytest.approx(window.reduction_limit_V)
    # None of them is stable down to 0 V, so the order is by worst reaction energy, least negative first.
    assert [row.covers_voltage_range for row in result.candidates] == [False] * 3
    worst = [row.worst_reaction_energy_eV_per_atom for row in result.candidates]
    assert worst == sorted(worst, reverse=True)
    assert [row.rank for row in result.candidates] == [1, 2, 3]


def test_window_covering_range_ranks_first(experimental):
    # LiF is stable from 0 V to 6.39 V (-dHf(LiF)); Li3N oxidises at 1.708/3 = 0.569 V: for 0-3 V, LiF
    # covers the range and must rank first whatever the reaction energies.
    result = screen_candidates(["Li3N", "LiF"], "Li2S", "Li", experimental, voltage_range=(0.0, 3.0))
    assert [(r.candidate, r.covers_voltage_range) for r in result.candidates] == [("LiF", True), ("Li3N", False)]


# --- bad input -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, message", [
    (lambda d: stability_window("Li2Q", d), InputError, "invalid formula 'Li2Q'"),
    (lambda d: stability_window("Li(O", d), InputError, "invalid formula"),
    (lambda d: stability_window("LiBr", d), DataError, "no entry for element.*Br"),
    (lambda d: stability_window("Li", d), InputError, "Li metal is the reference"),
    (lambda d: reaction_profile("LiI", "Li2I2", d), InputError, "identical reactants"),
    (lambda d: reaction_profile("LiI", "Li", d, voltage=1.0), InputError, "pure Li"),
    (lambda d: reaction_profile("LiI", "I", d, voltage=-1.0), InputError, "below Li plating"),
    (lambda d: screen_candidates([], "LiI", "Li", d), InputError, "no candidates"),
    (lambda d: screen_candidates(["LiI"], "LiI", "Li", d), InputError, "is the electrolyte itself"),
    (lambda d: screen_candidates(["I"], "LiI", "Li", d, (3.0, 1.0)), InputError, "0 <= LO <= HI"),
])
def test_bad_input_is_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call(PhaseDiagrams(entries(LiI=-2.0)))


def test_empty_entry_list():
    with pytest.raises(DataError, match="empty"):
        stability_window("LiI", [])
