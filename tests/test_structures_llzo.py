"""Garnet LLZO cells: composition, symmetry, charge, distances and the Ewald ordering of cubic LLZO."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import spglib
from pymatgen.analysis.bond_valence import calculate_bv_sum
from pymatgen.analysis.ewald import EwaldSummation

from ssbkit.interfaces.structures.checks import formal_charges, min_distance
from ssbkit.io import to_structure
from ssbkit.interfaces.structures.llzo import cubic_llzo, tetragonal_llzo


@pytest.fixture(scope="module")
def cubic():
    return cubic_llzo()


def _ewald(atoms) -> float:
    structure = to_structure(atoms)
    structure.add_oxidation_state_by_element({"Li": 1, "La": 3, "Zr": 4, "O": -2})
    return EwaldSummation(structure).total_energy


def test_tetragonal_llzo_matches_awaka_cell():
    """Awaka et al. (2009): I4_1/acd (No. 142), a = 13.134 Å, c = 12.663 Å, Z = 8, Li on 8a/16f/32g."""
    atoms = tetragonal_llzo()
    assert atoms.symbols.formula.count() == {"La": 24, "Li": 56, "O": 96, "Zr": 16}
    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    assert spglib.get_symmetry_dataset(cell, symprec=1e-3).number == 142
    np.testing.assert_allclose(atoms.cell.lengths(), [13.134, 13.134, 12.663])
    wyckoff = atoms.get_array("wyckoff")[atoms.symbols == "Li"]
    assert sorted(np.unique(wyckoff, return_counts=True)[1]) == [8, 16, 32]
    assert formal_charges(atoms).sum() == 0
    # No two atoms closer than a short Li-O bond (1.7 Å); garnet Li-O bonds are 1.8-2.4 Å.
    assert min_distance(atoms) > 1.7


def test_tetragonal_llzo_bond_valence_sums_near_formal_charges():
    """Bond-valence sums (Brown's parameters, pymatgen) of the framework cations are near their formal
    charges Zr4+ and La3+; a wrong transcription of a Wyckoff position moves them by more than 1."""
    structure = to_structure(tetragonal_llzo())
    seen = {}
    for site in structure:
        if site.specie.symbol in ("Zr", "La"):
            seen.setdefault(site.specie.symbol, []).append(calculate_bv_sum(site, structure.get_neighbors(site, 3.5)))
    assert 3.4 < np.mean(seen["Zr"]) < 4.4
    assert 2.2 < np.mean(seen["La"]) < 3.4
    zr_o = [n.nn_distance for n in structure.get_neighbors(structure[np.flatnonzero(
        [s.specie.symbol == "Zr" for s in structure])[0]], 2.5)]
    np.testing.assert_allclose(zr_o, 2.10, atol=0.05)  # ZrO6 octahedra, Zr-O 2.10 Å (Awaka et al.)


def test_cubic_llzo_stoichiometric_neutral_and_contact_free(cubic):
    assert cubic.symbols.formula.count() == {"La": 24, "Li": 56, "O": 96, "Zr": 16}
    np.testing.assert_allclose(cubic.cell.lengths(), 12.9682)
    assert formal_charges(cubic).sum() == 0
    li = cubic[cubic.symbols == "Li"]
    assert min_distance(li) >= 2.0  # the exclusion rule
    assert min_distance(cubic) > 1.75
    wyckoff = cubic.get_array("wyckoff")[cubic.symbols == "Li"]
    assert (wyckoff == "24d").sum() == 13  # Xie et al. 24d occupancy 0.564 capped by the exclusion rule


def test_cubic_llzo_reports_its_true_ewald_energy_and_beats_random_orderings(cubic):
    """The energy bookkeeping of the annealing (pair matrix) equals a full Ewald sum of the final cell, and
    the chosen ordering is lower than the other contact-free starts the search began from."""
    np.testing.assert_allclose(cubic.info["ewald_energy_eV"], _ewald(cubic), atol=1e-6)
    unannealed = cubic_llzo(n_starts=1, sweeps=0, seed=3)
    assert cubic.info["ewald_energy_eV"] < _ewald(unannealed) - 1.0


def test_cubic_llzo_ordering_does_not_depend_on_the_thread_count():
    # The Ewald sums round differently with 1 and 2 BLAS threads; symmetry-equivalent Li swaps then had
    # energy changes of either sign near zero, which shifted the random stream and gave another (equally
    # low) ordering, so the "bulk hop" of a CPU and a GPU machine differed (0.06 against 0.30 eV, SevenNet-0).
    import subprocess
    import sys

    script = ("from ssbkit.interfaces.structures.llzo import cubic_llzo; import numpy as np; "
              "a = cubic_llzo(); print(np.round(a.positions[a.numbers == 3], 4).tobytes().hex())")
    outputs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                              env={**os.environ, "OMP_NUM_THREADS": str(n), "OPENBLAS_NUM_THREADS": str(n)}
                              ).stdout for n in (1, 2)}
    assert len(outputs) == 1 and len(outputs.pop()) > 100  # one ordering, and it was printed


SHIPPED_BICRYSTAL = Path(__file__).parents[1] / "examples" / "data" / "llzo_sigma5_bicrystal_chgnet.extxyz.gz"


def test_shipped_bicrystal_is_the_relaxed_form_of_the_one_gb_barriers_builds(cubic):
    """examples/data holds the CHGNet-relaxed sigma-5 (100) twist bicrystal of the Ewald-ordered cell, so that
    boundary barriers need not repeat its 764-step relaxation: same atoms in the same order, same grains and
    cell as ``gb_barriers`` builds, one CSL period per grain, no two atoms closer than 1.5 Å."""
    from ssbkit.interfaces.structures.grain_boundaries import sigma5_twist_bicrystal
    from ssbkit.io import read_structure
    from ssbkit.workflows.gb_barriers import bicrystal_periods

    shipped = read_structure(SHIPPED_BICRYSTAL)
    built = sigma5_twist_bicrystal(cubic, expand_times=1)
    assert shipped.get_chemical_symbols() == built.get_chemical_symbols()
    assert np.array_equal(shipped.arrays["grain"], built.arrays["grain"])
    assert np.allclose(shipped.cell, built.cell)
    assert bicrystal_periods(shipped, cubic) == 1
    assert min_distance(shipped) > 1.5


@pytest.mark.slow
def test_shipped_bicrystal_is_relaxed_with_chgnet():
    """The file's claim: CHGNet (0.3.0 weights) forces below 0.05 eV/Å on every atom, energy -14202.03 eV."""
    from ssbkit.io import read_structure
    from ssbkit.potentials import load, predict

    (prediction,) = predict([read_structure(SHIPPED_BICRYSTAL)], load("chgnet", device="cpu", task="relax"))
    assert np.linalg.norm(prediction.forces, axis=1).max() < 0.05
    assert prediction.energy == pytest.approx(-14202.03, abs=0.05)
