"""Ensembles of ordered configurations of disordered parents (doped garnets, anion-disordered argyrodite).

References: Ewald energies are checked against pymatgen's EwaldSummation of the written structure; symmetry
distinctness against pymatgen's StructureMatcher; the exclusion distances against the garnet geometry of
Geiger et al., Inorg. Chem. 50, 1089 (2011) (24d-96h 1.59 Å, 96h-96h 0.87 Å, next Li-Li 2.41 Å) and the
argyrodite geometry of Deiseroth et al. 2008 (48h-48h 1.81 Å, next 2.24 Å).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from pymatgen.analysis.ewald import EwaldSummation
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Composition, Lattice, Structure
from typer.testing import CliRunner

from ssbkit.errors import InputError
from ssbkit.interfaces.structures.ensembles import (
    EnsembleSettings,
    build_ensemble,
    ensemble_atoms,
    load_parent,
    write_ensemble,
)

from cli_helpers import fails_cleanly

FAST = EnsembleSettings(sweeps=4, ewald_runs=2)

# parent -> (formula of the conventional cell, species on partially occupied sites that must stay >= 2.0 Å apart)
PARENTS = {
    "LLZTO": ("Li52La24Zr12Ta4O96", ("Li",)),
    "Al-LLZO": ("Li50Al2La24Zr16O96", ("Li", "Al")),
    "Ga-LLZO": ("Li50Ga2La24Zr16O96", ("Li", "Ga")),
    "Li6PS5Cl-disordered": ("Li24P4S20Cl4", ("Li",)),
}


def _check_member(structure: Structure, formula: str, oxidation_states: dict, excluded: tuple[str, ...]) -> None:
    assert structure.is_ordered
    assert structure.composition == Composition(formula)
    assert sum(oxidation_states[el.symbol] * n for el, n in structure.composition.items()) == pytest.approx(0.0)
    sites = [i for i, site in enumerate(structure) if site.specie.symbol in excluded]
    distances = structure.distance_matrix[np.ix_(sites, sites)][np.triu_indices(len(sites), 1)]
    assert distances.min() >= 2.0  # the face-sharing / split-site pairs (0.87, 1.59, 1.81 Å) never both filled


@pytest.mark.parametrize("name", list(PARENTS))
def test_ensembles_of_doped_garnets_and_argyrodite_pass_their_checks(name):
    formula, excluded = PARENTS[name]
    result = build_ensemble(load_parent(name), (1, 1, 1), 2, FAST, name=name)
    assert [m.configuration for m in result.members] == [f"{name}-ewald-s0-{i:02d}" for i in range(2)]
    energies = [m.ewald_energy_eV for m in result.members]
    assert energies == sorted(energies) and result.ewald_spread_eV == pytest.approx(energies[-1] - energies[0])
    for member in result.members:
        _check_member(member.structure, formula, result.oxidation_states, excluded)
    matcher = StructureMatcher(primitive_cell=False, scale=False, attempt_supercell=False)
    structures = [m.structure for m in result.members]
    for i in range(len(structures)):
        for j in range(i):
            assert not matcher.fit(structures[i], structures[j]), "members must differ beyond symmetry"


def test_ewald_energies_match_pymatgen_ewald_summation():
    result = build_ensemble(load_parent("Al-LLZO"), 1, 2, FAST)
    for member in result.members:
        decorated = member.structure.copy()
        decorated.add_oxidation_state_by_element(result.oxidation_states)
        assert member.ewald_energy_eV == pytest.approx(EwaldSummation(decorated).total_energy, abs=1e-6)


def test_garnet_exclusion_rule_names_the_face_sharing_pair():
    result = build_ensemble(load_parent("LLZTO"), 1, 1, FAST)
    assert "0.87 A" in result.exclusion_rule and "144 excluded site pairs" in result.exclusion_rule
    counts = {s.label: s.counts for s in result.site_sets}
    assert counts["Li 24d"] == {"Li": 14, "X": 10} and counts["Li 96h"] == {"Li": 38, "X": 58}
    assert counts["TaZr 16a"] == {"Zr": 12, "Ta": 4}


def test_same_seed_same_members_other_seed_other_members():
    parent = load_parent("Li6PS5Cl-disordered")
    first, again = (build_ensemble(parent, 1, 2, FAST) for _ in range(2))
    other = build_ensemble(parent, 1, 2, EnsembleSettings(sweeps=4, ewald_runs=2, seed=7))
    assert [m.structure for m in first.members] == [m.structure for m in again.members]
    assert [m.configuration for m in first.members] == [m.configuration for m in again.members]
    assert other.members[0].configuration.endswith("-s7-00")
    assert [m.structure for m in first.members] != [m.structure for m in other.members]


def test_sqs_members_are_closer_to_the_random_alloy_than_their_starts():
    """The SQS objective (icet's cluster-vector distance to the ideal random alloy) drops during annealing."""
    from ssbkit.interfaces.structures.ensembles import _Lattice, _SqsSampler

    parent = load_parent("Li6PS5Cl-disordered")
    settings = EnsembleSettings(method="sqs", sweeps=4)
    result = build_ensemble(parent, 1, 2, settings)
    for member in result.members:
        _check_member(member.structure, "Li24P4S20Cl4", result.oxidation_states, ("Li",))
        assert member.sqs_score is not None
    lattice = _Lattice(parent, (1, 1, 1), result.oxidation_states, 2.0)
    sampler = _SqsSampler(lattice, settings)
    rng = np.random.default_rng(1)
    random_scores = [sampler.score(lattice.random_start(rng)) for _ in range(8)]
    assert max(m.sqs_score for m in result.members) < np.mean(random_scores)


def test_ensemble_atoms_and_files_carry_configuration_and_method(tmp_path):
    from ase.io import read

    result = build_ensemble(load_parent("Li6PS5Cl-disordered"), 1, 2, FAST, name="LPSCl")
    frames = ensemble_atoms(result)
    assert [a.info["configuration"] for a in frames] == ["LPSCl-ewald-s0-00", "LPSCl-ewald-s0-01"]
    files = write_ensemble(result, tmp_path / "out")
    assert sorted(p.name for p in files) == ["LPSCl-ewald-s0-00.extxyz", "LPSCl-ewald-s0-01.extxyz", "ensemble.json"]
    back = read(files[0])
    assert back.info["method"] == "ewald" and back.info["configuration"] == "LPSCl-ewald-s0-00"
    summary = json.loads((tmp_path / "out" / "ensemble.json").read_text())
    assert summary["seed"] == 0 and len(summary["members"]) == 2 and "structure" not in summary["members"][0]


def test_a_cif_with_partial_occupancies_is_a_parent(tmp_path):
    """The library's anion-disordered argyrodite written as CIF (no oxidation states in it) and read back gives
    the same site sets; oxidation states come from pymatgen's guess (Li+ P5+ S2- Cl-)."""
    from ssbkit.interfaces.structures.references import load_reference_structure, write_structure

    write_structure(load_reference_structure("Li6PS5Cl-disordered", ordered=False), tmp_path / "lpscl.cif")
    from_cif = build_ensemble(load_parent(str(tmp_path / "lpscl.cif")), 1, 1, FAST)
    from_library = build_ensemble(load_parent("Li6PS5Cl-disordered"), 1, 1, FAST)
    assert from_cif.oxidation_states == {"Li": 1, "P": 5, "S": -2, "Cl": -1}
    labels = sorted((s.label, s.n_sites, sorted(s.counts.items())) for s in from_cif.site_sets)
    assert labels == sorted((s.label, s.n_sites, sorted(s.counts.items())) for s in from_library.site_sets)
    _check_member(from_cif.members[0].structure, "Li24P4S20Cl4", from_cif.oxidation_states, ("Li",))


def _toy() -> Structure:
    """CsCl-type toy parent (a = 4 Å): cation site Li 1/2, Mg 1/4, vacancy 1/4 (Mg2+ compensated by a Li
    vacancy), F on the cube centre."""
    return Structure(Lattice.cubic(4.0), [{"Li": 0.5, "Mg": 0.25}, "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_bad_input_is_refused_with_what_to_change():
    states = {"Li": 1, "Mg": 2, "F": -1}
    with pytest.raises(InputError, match="multiple of 4"):
        build_ensemble(_toy(), (1, 1, 1), 1, FAST, oxidation_states=states)
    with pytest.raises(InputError, match="not charge neutral"):
        build_ensemble(_toy(), (2, 2, 1), 1, FAST, oxidation_states={**states, "F": -2})
    # 6 cations on the 8 sites of a 2x2x2 cell with nearest neighbours (4 Å) excluded: at most 4 fit
    with pytest.raises(InputError, match="keeps atoms on partially occupied sites at least 4.1 A apart"):
        build_ensemble(_toy(), (2, 2, 2), 1, EnsembleSettings(exclusion_distance_A=4.1), oxidation_states=states)
    # 2 Li, 1 Mg, 1 vacancy on a 2x2 square of sites: 12 decorations, few of them distinct under translations
    with pytest.raises(InputError, match=r"only \d distinct orderings"):
        build_ensemble(_toy(), (2, 2, 1), 5, EnsembleSettings(exclusion_distance_A=0.0), oxidation_states=states)
    with pytest.raises(InputError, match="no reference structure"):
        load_parent("Li7PS6-disordered")


def test_cli_builds_an_ensemble_and_refuses_bad_supercells(tmp_path):
    from ssbkit.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["build", "ensemble", "Li6PS5Cl-disordered", "-o", str(tmp_path / "e"), "-n", "2",
                                 "--sweeps", "4", "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["method"] == "ewald" and document["seed"] == 3 and len(document["files"]) == 3
    bad = runner.invoke(app, ["build", "ensemble", "LLZTO", "-o", str(tmp_path / "f"), "--supercell", "1,1"])
    assert bad.exit_code == 2 and "three positive integers" in bad.stderr
    # a CIF with a cell and no atom sites: pymatgen warns about each section before it raises; one line only
    (tmp_path / "no_sites.cif").write_text("data_x\n_cell_length_a 5\n")
    fails_cleanly(["build", "ensemble", str(tmp_path / "no_sites.cif"), "-o", str(tmp_path / "g")],
                  "no_sites.cif: not a readable CIF or pymatgen structure")
    assert not (tmp_path / "g").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["LLZTO", "Al-LLZO"])
def test_sqs_ensembles_of_doped_garnets_pass_their_checks(name):
    """Default SQS settings on 188- and 190-atom garnet cells (5-10 s per member on one core)."""
    formula, excluded = PARENTS[name]
    result = build_ensemble(load_parent(name), 1, 2, EnsembleSettings(method="sqs"), name=name)
    assert [m.configuration for m in result.members] == [f"{name}-sqs-s0-00", f"{name}-sqs-s0-01"]
    for member in result.members:
        _check_member(member.structure, formula, result.oxidation_states, excluded)
    assert not StructureMatcher(primitive_cell=False, scale=False, attempt_supercell=False).fit(
        result.members[0].structure, result.members[1].structure)
