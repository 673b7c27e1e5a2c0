"""Cell stacks (``ssbkit.interfaces.stacks``, ``ssbkit stack``): every interface at the potential it sees.

Expected answers come from (a) hand-built entry sets where the products follow by construction from the
energies, (b) pymatgen's bundled experimental formation enthalpies (298 K), recomputed here by hand from those
entries, and (c) the band gaps shipped in ``ssbkit/data/interphase_properties.json`` with their literature sources.
"""

from __future__ import annotations

import json

import pytest
from pymatgen.analysis.phase_diagram import PDEntry
from pymatgen.core import Composition

from cli_helpers import fails_cleanly, runner
from ssbkit.cli import app
from ssbkit.errors import InputError
from ssbkit.interfaces.entries import parse_source
from ssbkit.interfaces.phases import PhaseDiagrams
from ssbkit.interfaces.stacks import (
    LI_OPEN,
    MIXED_CONDUCTING,
    PASSIVATING,
    UNKNOWN,
    interphase_character,
    load_interphase_properties,
    product_character,
    stack_report,
)


def entry(formula: str, energy_per_formula_unit: float) -> PDEntry:
    return PDEntry(Composition(formula), energy_per_formula_unit)


@pytest.fixture(scope="module")
def li_cu_s():
    """Li-Cu-S with only CuS and Li2S: Li + CuS can only give Li2S + Cu (2 Li + CuS -> Li2S + Cu, -3 eV)."""
    return [entry("Li", 0.0), entry("Cu", 0.0), entry("S", 0.0), entry("CuS", -1.0), entry("Li2S", -4.0)]


@pytest.fixture(scope="module")
def li_f_cl():
    """Li-F-Cl with ClF, LiF and LiCl: 2 Li + ClF -> LiF + LiCl (-10 + 0.5 = -9.5 eV over 4 atoms)."""
    return [entry("Li", 0.0), entry("F2", 0.0), entry("Cl2", 0.0), entry("ClF", -0.5), entry("LiF", -6.0),
            entry("LiCl", -4.0)]


@pytest.fixture(scope="module")
def experimental():
    return PhaseDiagrams(parse_source("experimental"))


def test_hand_built_products_and_passivating_interphase(li_f_cl):
    report = stack_report(["Li", "ClF"], li_f_cl)
    (interface,) = report.interfaces
    assert interface.closed.energy_eV_per_atom == pytest.approx(-9.5 / 4)
    assert interface.closed.mixing_ratio == pytest.approx(0.5)  # 2 Li atoms per 2 ClF atoms
    assert [p.formula for p in interface.closed.products] == ["LiCl", "LiF"]
    # shipped gaps: LiF 14.2 eV, LiCl 9.4 eV (both >= 1 eV), so the interphase stops growing
    assert [p.electronic for p in interface.closed.products] == ["insulating", "insulating"]
    assert interface.closed.interphase == PASSIVATING
    assert interface.li_open is None and interface.implied == "closed"  # pure Li is the reservoir itself
    assert report.layer_checks[0].covers is None


def test_user_table_turns_metal_plus_li_conductor_mixed_conducting(li_cu_s, tmp_path):
    own = tmp_path / "props.json"
    own.write_text(json.dumps({"products": {"Li2S": {"band_gap_eV": 3.0, "band_gap_source": "test value",
                                                     "li_conduction": "conducts",
                                                     "li_conduction_source": "test value"}}}))
    report = stack_report(["Li", "CuS"], li_cu_s, properties=own)
    closed = report.interfaces[0].closed
    assert closed.energy_eV_per_atom == pytest.approx(-3.0 / 4)
    assert [(p.formula, p.electronic, p.li_conduction) for p in closed.products] == [
        ("Cu", "metallic", "unknown"), ("Li2S", "insulating", "conducts")]
    assert closed.interphase == MIXED_CONDUCTING  # electrons through Cu, Li+ through Li2S: growth goes on
    shipped = stack_report(["Li", "CuS"], li_cu_s)
    assert shipped.interfaces[0].closed.interphase == UNKNOWN  # Li2S has no checked gap in the shipped table


def test_character_rules():
    assert product_character("Cu3Sn", {}).electronic == "metallic"  # all-metal alloy
    assert product_character("Li2O", {"Li2O": {"band_gap_eV": 0.5}}).electronic == "semiconducting"
    assert product_character("Li2O", {}).electronic == "unknown"
    insulating = product_character("MgO", {"MgO": {"band_gap_eV": 7.0, "li_conduction": "blocks"}})
    assert interphase_character([insulating]) == PASSIVATING
    assert interphase_character([insulating, product_character("Nb", {})]) == UNKNOWN
    assert interphase_character([]) == "none"


def test_every_shipped_value_has_a_source():
    for formula, row in load_interphase_properties().items():
        assert (row["band_gap_eV"] is None) == (row["band_gap_source"] is None), formula
        assert (row["li_conduction"] == "unknown") == (row["li_conduction_source"] is None), formula


def test_triple_phase_boundary_with_carbon(li_cu_s):
    """Li2S between Cu and CuS: the Cu side is metallic (Li-open at the anode potential); the CuS side is
    Li-open only with carbon in the cathode layer."""
    bare = stack_report(["Cu", "Li2S", "CuS"], li_cu_s, cathode_potential_V=2.5)
    with_carbon = stack_report(["Cu", "Li2S", "CuS"], li_cu_s, cathode_potential_V=2.5, additives={2: ["C"]})
    assert [i.potential_V for i in bare.interfaces] == [0.0, 2.5]
    assert bare.interfaces[0].implied == LI_OPEN and not bare.interfaces[0].triple_phase_boundary
    assert bare.interfaces[1].implied == "closed"
    assert with_carbon.interfaces[1].implied == LI_OPEN and with_carbon.interfaces[1].triple_phase_boundary
    assert with_carbon.interfaces[1].li_open.voltage_V == 2.5  # both reactions are reported either way
    assert bare.interfaces[1].li_open is not None


def test_layer_potentials_and_operating_window(li_cu_s):
    report = stack_report(["Cu", "Li2S", "S", "CuS"], li_cu_s, layer_potentials_V={2: 3.0},
                          operating_window_V=(2.0, 4.0))
    assert report.cathode_potential_V == 4.0  # the window's high end
    assert [c.potential_V for c in report.layer_checks] == [0.0, 0.0, 3.0, 4.0]
    assert [i.potential_V for i in report.interfaces] == [0.0, 3.0, 4.0]
    li2s = report.layer_checks[1]
    assert (li2s.seen_min_V, li2s.seen_max_V) == (0.0, 3.0)
    # Li2S releases Li at 4/2 = 2 V (2 Li + S -> Li2S, -4 eV): it cannot cover 0-3 V
    assert li2s.oxidation_limit_V == pytest.approx(2.0) and li2s.covers is False
    assert (report.layer_checks[2].seen_min_V, report.layer_checks[2].seen_max_V) == (2.0, 4.0)


def test_experimental_li_linbo3(experimental):
    """Li | LiNbO3 from pymatgen's experimental enthalpies: LiNbO3 + 5 Li -> 3 Li2O + Nb over 10 atoms."""
    report = stack_report(["Li", "LiNbO3", "Nb2O5"], experimental, cathode_potential_V=3.0)
    source = parse_source("experimental").get_entries(["Li", "Nb", "O"])
    enthalpy = {e.composition.reduced_formula: min(x.energy for x in source if x.composition.reduced_formula
                                                    == e.composition.reduced_formula) for e in source}
    by_hand = (3 * enthalpy["Li2O"] - enthalpy["LiNbO3"]) / 10
    closed = report.interfaces[0].closed
    assert closed.energy_eV_per_atom == pytest.approx(by_hand, abs=1e-6)
    assert [(p.formula, p.electronic) for p in closed.products] == [("Li2O", "unknown"), ("Nb", "metallic")]
    assert closed.interphase == UNKNOWN  # Li2O has no checked band gap
    linbo3 = report.layer_checks[1]
    assert (linbo3.seen_min_V, linbo3.seen_max_V) == (0.0, 3.0) and linbo3.covers is False  # reduced above 0 V


def test_experimental_cu2s_reduced_at_anode(experimental):
    """Cu | Cu2S: no Cu-S reaction with Cu, but Cu2S itself takes up Li at 0 V (-> Li2S + Cu)."""
    report = stack_report(["Cu", "Cu2S"], experimental)
    assert report.interfaces[0].closed.energy_eV_per_atom == 0.0
    assert report.interfaces[0].closed.interphase == "none"
    cu2s = report.layer_checks[1]
    assert cu2s.reduction_limit_V > 0.0 and cu2s.covers is False


@pytest.mark.parametrize(("layers", "options", "message"), [
    (["Li"], {}, "at least 2 layers"),
    (["Li", "Xe"], {}, "layer 1 (Xe)"),
    (["Li", "Li3NbO4"], {}, "layer 1 (Li3NbO4) has no entry"),
    (["Li", "LiNbO3"], {"cathode_potential_V": 12.0}, "above 10 V"),
    (["Li", "LiNbO3"], {"anode_potential_V": -0.5}, "below Li plating"),
    (["Li", "LiNbO3"], {"anode_potential_V": 3.0, "cathode_potential_V": 2.0}, "above the cathode potential"),
    (["Li", "LiNbO3"], {"cathode_potential_V": float("nan")}, "not a finite number"),
    (["Li", "Li2O", "LiNbO3"], {"layer_potentials_V": {0: 1.0}}, "between the electrodes"),
    (["Li", "LiNbO3"], {"operating_window_V": (4.0, 3.0)}, "low end is above"),
    (["Li", "LiNbO3"], {"operating_window_V": 3.0}, "needs two voltages LO,HI"),  # a YAML scalar
])
def test_bad_input(experimental, layers, options, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        stack_report(layers, experimental, **options)


def test_cli_table_json_csv_plot_and_file(tmp_path):
    args = ["stack", "Li", "LiNbO3", "AlF3", "-s", "experimental", "--cathode-potential", "4", "--carbon-at", "2"]
    result = runner.invoke(app, [*args, "--json", "--csv", str(tmp_path / "s.csv"), "--plot", str(tmp_path / "s.png")])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [i["implied"] for i in document["interfaces"]] == ["closed", "Li-open"]
    assert document["interfaces"][1]["triple_phase_boundary"] is True
    assert (tmp_path / "s.png").stat().st_size > 0
    assert (tmp_path / "s.csv").read_text().splitlines()[1].startswith("0,Li,LiNbO3,0.0,closed")
    human = runner.invoke(app, args)
    assert human.exit_code == 0 and "Interface 1: LiNbO3 | AlF3" in human.stdout
    stack_file = tmp_path / "stack.yaml"
    stack_file.write_text("layers: [Li, LiNbO3, AlF3]\ncathode_potential_V: 4\nadditives: {2: [C]}\n"
                          "source: experimental\n")
    from_file = runner.invoke(app, ["stack", "--file", str(stack_file), "--json"])
    assert from_file.exit_code == 0, from_file.stderr
    assert json.loads(from_file.stdout)["interfaces"] == document["interfaces"]


@pytest.mark.parametrize(("args", "message"), [
    (["stack", "Li", "-s", "experimental"], "at least 2 layers"),
    (["stack", "Li", "Xe", "-s", "experimental"], "layer 1 (Xe)"),
    (["stack", "Li", "LiNbO3", "--cathode-potential", "11", "-s", "experimental"], "above 10 V"),
    (["stack", "Li", "Li2O", "LiNbO3", "--layer-potential", "1:2", "-s", "experimental"], "I=VALUE"),
])
def test_cli_bad_input_exits_2_with_one_line(args, message):
    fails_cleanly(args, message)


@pytest.mark.slow
def test_li_argyrodite_with_chgnet_entries():
    """Li | Li6PS5Cl with CHGNet formation energies of the library Li6PS5Cl, Li3PS4 and Li3P pooled with the
    experimental set (Li2S, LiCl, P, S...): Li reduces the argyrodite to Li2S + Li3P + LiCl (Richards et al.,
    Chem. Mater. 28, 266 (2016); Wenzel et al., Solid State Ionics 318, 102 (2018))."""
    from ssbkit.interfaces.structures.references import load_reference_structure
    from ssbkit.potentials import load
    from ssbkit.workflows.ml_entries import entries_from_structures

    names = ["Li6PS5Cl", "Li3PS4", "Li3P"]
    computed = entries_from_structures([load_reference_structure(n) for n in names], load("chgnet", device="cpu"),
                                       names=names)
    formation = [entry(e.composition.formula, e.data["formation_energy_per_atom"] * e.composition.num_atoms)
                 for e in computed]
    shipped = [e for e in parse_source("experimental").get_entries(["Li", "P", "S", "Cl"])
               if e.composition.reduced_formula not in names]
    report = stack_report(["Li", "Li6PS5Cl"], formation + shipped)
    closed = report.interfaces[0].closed
    assert closed.energy_eV_per_atom < 0
    assert [p.formula for p in closed.products] == ["Li2S", "Li3P", "LiCl"]
