"""Local-region NEB: atoms far from the hop held fixed, and the barrier against the radius.

Reference: the whole-cell NEB of the same hop (a vacancy hop in fcc Cu with ASE's EMT). With a radius that
takes in every atom the local NEB is the whole-cell NEB; with a radius past the first two neighbour shells
of the hop its barrier agrees with the whole cell's within the 0.02 eV convergence tolerance.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms

from ssbkit.errors import InputError
from ssbkit.workflows.neb import NEBSettings, barrier_convergence, local_region_mask, neb, radius_convergence

SETTINGS = NEBSettings(n_images=3, fmax=0.03)


def vacancy_hop(repeat: int = 2) -> tuple[Atoms, Atoms]:
    """Cu vacancy hop: atom 1 of a cubic fcc supercell jumps into the vacant site of atom 0 (2.55 Å)."""
    host = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat)
    initial = host.copy()
    del initial[0]
    final = host.copy()
    final.positions[1] = host.positions[0]
    del final[0]
    return initial, final


def test_mask_fixes_exactly_the_atoms_beyond_the_radius_from_the_hop_midpoint():
    initial, final = vacancy_hop(3)
    fixed = local_region_mask(initial, final, 0, 4.0)
    midpoint = (initial.positions[0] + final.positions[0]) / 2  # the hop does not cross the cell boundary
    probe = initial + Atoms("H", positions=[midpoint])
    distances = probe.get_distances(len(initial), range(len(initial)), mic=True)
    assert np.array_equal(fixed, distances > 4.0)
    assert 0 < (~fixed).sum() < len(initial) and not fixed[0]
    assert not local_region_mask(initial, final, 0, 1.0)[0]  # the moving atom is never fixed
    with pytest.raises(InputError):
        local_region_mask(initial, final, 0, 0.0)


@pytest.fixture(scope="module")
def convergence():
    initial, final = vacancy_hop(2)
    return radius_convergence(initial, final, EMT(), [3.0, 5.0, None], SETTINGS)


def test_barrier_converges_with_radius_to_the_whole_cell_value(convergence):
    assert convergence.values == [3.0, 5.0, None]
    whole = convergence.barriers_eV[-1]
    assert 0.5 < whole < 1.0  # EMT Cu vacancy migration ~0.7-0.8 eV
    assert convergence.n_free_atoms[:2] == [9, 29] and convergence.n_free_atoms[2] is None
    assert convergence.converged and convergence.converged_value == 5.0
    assert abs(convergence.barriers_eV[1] - whole) < 0.02
    assert convergence.barriers_eV[0] - whole > 0.02  # nearest neighbours only: too stiff
    # every radius relaxed the endpoints into the same minima: inner atoms within a few hundredths of an Å
    assert max(convergence.endpoint_shifts_A) < 0.1 and convergence.endpoint_shifts_A[-1] == 0.0
    assert not convergence.warnings


def test_radius_spanning_the_cell_is_the_whole_cell_neb(convergence):
    initial, final = vacancy_hop(2)
    result = neb(initial, final, EMT(), SETTINGS, relax_radius_A=50.0)
    assert result.n_free_atoms == len(initial)
    assert result.barrier == pytest.approx(convergence.barriers_eV[-1], abs=1e-6)
    assert result.settings["relax_radius_A"] == 50.0


def test_images_carry_the_fixed_atoms():
    initial, final = vacancy_hop(2)
    result = neb(initial, final, EMT(), SETTINGS, relax_radius_A=3.0)
    expected = np.flatnonzero(local_region_mask(initial, final, 0, 3.0))
    for image in result.images:
        held = [c for c in image.constraints if isinstance(c, FixAtoms)]
        assert len(held) == 1 and np.array_equal(np.sort(held[0].index), expected)
    moved = np.linalg.norm(result.images[2].positions - initial.positions, axis=1)
    assert moved[expected].max() < 1e-9  # fixed atoms stay at their input positions


def test_radius_check_refuses_a_run_whose_endpoints_are_other_minima():
    """A smaller-radius run whose endpoints relaxed into other minima than the reference's is no check of it,
    even with the same barrier. Reference: the Cu vacancy hop run backwards joins the same two sites the other
    way round, so by symmetry its barrier equals the forward one, while in each endpoint the moving atom sits
    one hop (2.55 Å) from its place in the forward run."""
    initial, final = vacancy_hop(2)
    whole = neb(initial, final, EMT(), SETTINGS)
    forward = {5.0: neb(initial, final, EMT(), SETTINGS, relax_radius_A=5.0), None: whole}
    backward = {5.0: neb(final, initial, EMT(), SETTINGS, relax_radius_A=5.0), None: whole}
    same = barrier_convergence("relax_radius_A", [5.0, None], forward.get, compare_endpoints=True)
    assert same.converged and same.endpoint_shifts_A[0] < 0.1 and not same.warnings
    other = barrier_convergence("relax_radius_A", [5.0, None], backward.get, compare_endpoints=True)
    assert abs(other.differences_eV[0]) < 0.02  # the barrier alone would pass
    assert other.endpoint_shifts_A[0] == pytest.approx(3.61 / np.sqrt(2), abs=0.1)
    assert not other.converged and other.converged_value is None
    assert len(other.warnings) == 1 and "another minimum" in other.warnings[0]


def test_convergence_needs_two_values():
    with pytest.raises(InputError, match="at least two values"):
        barrier_convergence("relax_radius_A", [5.0], lambda radius: None)


def test_gb_barriers_cli_refuses_bad_check_values():
    from cli_helpers import fails_cleanly

    fails_cleanly(["neb", "gb-barriers", "--check-thickness", "one,two"], "--check-thickness")
    fails_cleanly(["neb", "gb-barriers", "--check-radius", "6,big"], "--check-radius")
    fails_cleanly(["neb", "gb-barriers", "--anneal-temperature", "-300"], "temperature")
    fails_cleanly(["neb", "gb-barriers", "--anneal-temperature", "600", "--anneal-steps", "0"], "steps")
    fails_cleanly(["neb", "gb-barriers", "--hops-per-kind", "0"], "hops_per_kind")
    fails_cleanly(["neb", "gb-barriers", "--hops", "gb-across-0"], "gb-across-0")
    fails_cleanly(["neb", "gb-barriers", "--bicrystal-steps", "-5"], "steps")


def test_gb_barriers_refuses_unknown_hops_and_foreign_bicrystals(tmp_path):
    """Input checks come before any model is loaded: an unknown hop name, a bicrystal without its grain array,
    one whose size is no whole number of sigma-5 CSL periods of the bulk cell (10 bulk cells per period), a
    bicrystal that no requested hop would use, and a thickness check on a bicrystal not built from the cell."""
    from cli_helpers import fails_cleanly

    from ssbkit.workflows.gb_barriers import bicrystal_periods, gb_barriers, write_bicrystal

    def never(model: str):
        raise AssertionError(f"{model} loaded before the input was checked")

    cell = bulk("Cu", "fcc", a=3.61, cubic=True)
    with pytest.raises(InputError, match="unknown hop"):
        gb_barriers(cell, ["emt"], never, hops=["bulk", "gb-diagonal"])
    with pytest.raises(InputError, match="no 'grain' array"):
        gb_barriers(cell, ["emt"], never, bicrystal=cell.repeat((10, 1, 1)))
    two_periods = cell.repeat((20, 1, 1))
    two_periods.set_array("grain", np.repeat([0, 1], len(two_periods) // 2))
    assert bicrystal_periods(two_periods, cell) == 2
    with pytest.raises(InputError, match="not a sigma-5 bicrystal"):
        gb_barriers(cell, ["emt"], never, bicrystal=two_periods[:-3])
    written = write_bicrystal(two_periods, tmp_path / "bicrystal.extxyz")
    fails_cleanly(["neb", "gb-barriers", "--bicrystal", str(written), "--hops", "bulk,gb-diagonal"], "gb-diagonal")
    fails_cleanly(["neb", "gb-barriers", "--bicrystal", str(tmp_path / "missing.extxyz")], "missing.extxyz")
    with pytest.raises(InputError, match="only the bulk hop"):
        gb_barriers(cell, ["emt"], never, bicrystal=two_periods, hops=["bulk"])
    with pytest.raises(InputError, match="not the one built from it"):  # a thickness check needs the built atoms
        gb_barriers(cell, ["emt"], never, bicrystal=two_periods, thickness_check=[2, 3])
    fails_cleanly(["neb", "gb-barriers", "--bicrystal", str(written), "--hops", "bulk"], "only the bulk hop")


def test_barrier_table_sets_the_reaction_energy_beside_each_barrier(tmp_path):
    """The bulk-vs-boundary table: each model's barrier with its reaction energy, then the committee mean.
    Reference: the Cu vacancy hop joins two equivalent fcc sites, so its reaction energy is 0 by symmetry and
    the barrier is a real saddle above it (a boundary hop whose barrier equals its reaction energy leaves a trap)."""
    import csv

    from ssbkit.workflows.gb_barriers import GrainBoundaryBarriers, HopBarrier, barrier_table, plot_barriers
    from ssbkit.workflows.neb_committee import neb_committee

    initial, final = vacancy_hop()
    committee = neb_committee(initial, final, ["emt", "emt-again"], lambda model: EMT(),
                              {"n_images": 3, "fmax": 0.03})
    hop = HopBarrier(hop="bulk", description="Cu vacancy hop", n_atoms=len(initial), n_free_atoms=None,
                     barrier_eV=committee.barrier.mean, barrier_std_eV=committee.barrier.std, committee=committee)
    result = GrainBoundaryBarriers(configuration=None, expand_times=1, relax_radius_A=None,
                                   models=["emt", "emt-again"], hops=[hop])
    rows = list(csv.DictReader(barrier_table(result).splitlines()))
    assert [row["model"] for row in rows] == ["emt", "emt-again", "committee"]
    for row in rows[:2]:
        neb_result = committee.results[row["model"]]
        assert float(row["barrier_eV"]) == pytest.approx(neb_result.barrier, abs=1e-4)
        assert float(row["reaction_energy_eV"]) == pytest.approx(neb_result.reaction_energy, abs=1e-4)
        assert abs(neb_result.reaction_energy) < 1e-3 < 0.1 < neb_result.barrier
    assert float(rows[2]["std_eV"]) == pytest.approx(0.0, abs=1e-4)  # two copies of one model
    assert float(rows[2]["reaction_energy_std_eV"]) == pytest.approx(0.0, abs=1e-4)
    assert plot_barriers(result, tmp_path / "barriers.png").stat().st_size > 0


def test_unrelaxed_regions_names_hops_whose_region_is_off_its_minimum():
    """A local-region hop must start from a cell at its minimum within the radius. Reference: perfect fcc Cu
    is at its minimum by symmetry (EMT forces zero); one atom pushed 0.2 Å off its site puts forces above
    0.1 eV/Å on it, which the warning must find where the region reaches it, and only there."""
    from ssbkit.interfaces.structures.hop_studies import HopStudy
    from ssbkit.workflows.gb_barriers import unrelaxed_regions
    from ssbkit.workflows.neb import distances_from_hop

    host = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
    initial, final = vacancy_hop(3)
    study = HopStudy("cu-vacancy", "Cu vacancy hop", initial, final, 0)
    regions = {"near": (study, 4.0), "whole": (study, None)}
    assert unrelaxed_regions(host, EMT(), regions, 0.1) == []
    distances = distances_from_hop(initial, final, 0, host)
    far = int(np.argmax(distances))
    host.positions[far] += [0.2, 0.0, 0.0]
    warnings = unrelaxed_regions(host, EMT(), regions, 0.1)
    assert len(warnings) == 1 and warnings[0].startswith("whole: the bicrystal is not at its minimum within the cell")
    assert f"{distances_from_hop(initial, final, 0, host)[far]:.1f} Å from the hop" in warnings[0]
    host.calc = EMT()
    largest = np.linalg.norm(host.get_forces(), axis=1).max()
    assert unrelaxed_regions(host, EMT(), regions, 0.1, bicrystal_fmax=0.1)[0].startswith(
        f"the bicrystal is not relaxed (largest force {largest:.2f} eV/Å")
    assert len(unrelaxed_regions(host, EMT(), regions, 0.1, bicrystal_fmax=2 * largest)) == 1


def test_gb_barriers_gives_each_kind_as_a_distribution_over_its_shortest_hops(tmp_path):
    """``hops_per_kind``: the k shortest distinct hops of each kind, each computed, then min/median/max per kind.
    Reference: symmetry. A perfect fcc crystal of Lennard-Jones "Li" (nearest neighbours at the pair minimum,
    2.5 Å) with a grain label on its upper half is a stand-in bicrystal whose boundary is a label only: every
    nearest-neighbour vacancy hop in it is the same hop, so the two along hops agree, as do the two across
    hops (each kind keeps one orientation to the plane, so one local region shape)."""
    import json

    from ase.calculators.lj import LennardJones

    from ssbkit.workflows.gb_barriers import gb_barriers, ranked_hop_barrier

    neighbour = 2.5
    cell = bulk("Li", "fcc", a=neighbour * np.sqrt(2), cubic=True)
    bicrystal = cell.repeat((2, 2, 5))  # two sigma-5-sized periods of the 4-atom cell, as bicrystal_periods asks
    bicrystal.set_array("grain", (bicrystal.positions[:, 2] > 2.4 * neighbour * np.sqrt(2)).astype(int))

    def lennard_jones(model: str) -> LennardJones:
        return LennardJones(sigma=neighbour / 2 ** (1 / 6), epsilon=0.1, rc=2.2 * neighbour, smooth=True)

    with pytest.raises(InputError, match="1 symmetry-distinct"):  # fcc has one nearest-neighbour hop
        gb_barriers(cell, ["lj"], lennard_jones, bicrystal=bicrystal, hops_per_kind=2)
    result = gb_barriers(cell, ["lj"], lennard_jones, NEBSettings(n_images=3, fmax=0.05, relax_radius_A=4.0),
                         bicrystal=bicrystal, hops=["gb-along", "gb-across"], hops_per_kind=2,
                         output_dir=tmp_path / "runs" / "gb")  # a folder that does not exist yet
    assert [hop.hop for hop in result.hops] == ["gb-along", "gb-along-2", "gb-across", "gb-across-2"]
    pairs = [re.search(r"Li (\d+) into the site of Li (\d+), 2\.50 Å", hop.description).groups()
             for hop in result.hops]
    assert len({frozenset(pair) for pair in pairs}) == 4  # four different pairs of sites
    assert [d.kind for d in result.distributions] == ["gb-along", "gb-across"]
    for distribution in result.distributions:
        assert distribution.hops == [distribution.kind, f"{distribution.kind}-2"]
        assert distribution.max_eV - distribution.min_eV < 1e-4
        assert 0.1 < distribution.min_eV <= distribution.median_eV <= distribution.max_eV
    assert json.loads(json.dumps(result.to_dict(), default=str))["distributions"][1]["kind"] == "gb-across"
    out = tmp_path / "runs" / "gb"
    assert (out / "gb-along-2").is_dir() and "gb-across-2," in (out / "gb_barriers.csv").read_text()
    # one hop by its rank, as a separate job would run it: the same hop, the same barrier
    alone = gb_barriers(cell, ["lj"], lennard_jones, NEBSettings(n_images=3, fmax=0.05, relax_radius_A=4.0),
                        bicrystal=bicrystal, hops=["gb-across-2"])
    assert [hop.hop for hop in alone.hops] == ["gb-across-2"]
    assert alone.hops[0].description == result.hops[3].description
    assert alone.hops[0].barrier_eV == pytest.approx(result.hops[3].barrier_eV, abs=1e-6)
    single = ranked_hop_barrier("gb-across-2", lennard_jones("lj"), NEBSettings(n_images=3, fmax=0.05,
                                relax_radius_A=4.0), bicrystal=bicrystal)  # the llzo-hop runner kind's call
    assert single.description == result.hops[3].description and single.excluded is None
    assert single.barrier_eV == pytest.approx(result.hops[3].barrier_eV, abs=1e-6)
    with pytest.raises(InputError, match="need the relaxed bicrystal"):
        ranked_hop_barrier("gb-along", lennard_jones("lj"))


def test_requested_hops_expands_kinds_and_keeps_ranked_hops():
    """A kind stands for its k shortest hops, a ranked name for one hop; HOPS order, shortest first, once each."""
    from ssbkit.workflows.gb_barriers import requested_hops

    assert requested_hops(["gb-across", "bulk"], 2) == ["bulk", "bulk-2", "gb-across", "gb-across-2"]
    assert requested_hops(["gb-across-5", "gb-along-1", "gb-across-2", "gb-across"], 2) == [
        "gb-along", "gb-across", "gb-across-2", "gb-across-5"]
    for bad in (["gb-across-0"], ["gb-diagonal-2"], ["gb"], []):
        with pytest.raises(InputError, match="unknown hop"):
            requested_hops(bad, 1)


def test_thickness_check_follows_one_hop_into_the_thicker_bicrystal():
    """The thickness check compares one hop: the across hop of the one-period LiF sigma-5 twist bicrystal is
    found again, the same two sites relative to the boundary, in the two-period bicrystal (which relaxes into
    its own minimum, where the shortest across hop can be another pair). Reference: geometry of the CSL
    construction (both bicrystals as built: a force limit of 100 eV/Å stops the relaxation at once)."""
    from ase.calculators.lj import LennardJones

    from ssbkit.interfaces.structures.grain_boundaries import boundary_plane_z, sigma5_twist_bicrystal
    from ssbkit.interfaces.structures.hop_studies import boundary_hop_pairs, llzo_gb_across
    from ssbkit.workflows.gb_barriers import thicker_bicrystal_hop
    from ssbkit.workflows.relax import RelaxSettings

    lif = bulk("LiF", "rocksalt", a=4.03, cubic=True)
    thin = sigma5_twist_bicrystal(lif, 1)
    pair = boundary_hop_pairs(thin, True)[0][:2]
    hop = llzo_gb_across(bicrystal=thin, pair=pair)
    followed, note = thicker_bicrystal_hop(thin, pair, lif, 2, LennardJones(), RelaxSettings(fmax=100.0))
    assert note.startswith("bicrystal relaxed: 0 ")
    thick = sigma5_twist_bicrystal(lif, 2)
    assert len(followed.initial) == len(thick) - 1 == 2 * len(thin) - 1
    for atoms, other in ((hop.initial, followed.initial), (hop.final, followed.final)):
        place = atoms.positions[hop.moving_index] - [0, 0, boundary_plane_z(thin)]
        other_place = other.positions[followed.moving_index] - [0, 0, boundary_plane_z(thick)]
        assert np.allclose(place, other_place, atol=1e-6)


def test_distribution_leaves_out_hops_that_give_no_barrier_between_their_sites():
    """A barrier counts only between the sites it was placed on, from a converged band. Reference: fcc geometry
    with EMT Cu. The vacancy hop's final state with the atom placed 70 % of the way to the vacancy is no site:
    relaxation carries it the remaining 0.77 Å (30 % of the 2.55 Å hop) into the vacancy, beyond the 0.5 Å site
    tolerance. The same hop as the first with the band stopped after 2 steps has not converged."""
    from ssbkit.workflows.gb_barriers import HopBarrier, hop_distributions
    from ssbkit.workflows.neb_committee import neb_committee

    initial, final = vacancy_hop()
    partway = final.copy()
    partway.positions[0] = initial.positions[0] + 0.7 * (final.positions[0] - initial.positions[0])
    hops = []
    for name, end, steps in (("bulk", final, 200), ("bulk-2", partway, 200), ("bulk-3", final, 2)):
        committee = neb_committee(initial, end, ["emt"], lambda model: EMT(),
                                  {"n_images": 3, "fmax": 0.05, "steps": steps})
        hops.append(HopBarrier(hop=name, description=name, n_atoms=len(initial), n_free_atoms=None,
                               barrier_eV=committee.barrier.mean, barrier_std_eV=None, committee=committee))
    (distribution,) = hop_distributions(hops)
    assert distribution.hops == ["bulk"] and distribution.min_eV == distribution.max_eV == hops[0].barrier_eV
    assert list(distribution.excluded) == ["bulk-2", "bulk-3"]
    shift = float(re.search(r"final Li left its site by ([0-9.]+) Å", distribution.excluded["bulk-2"]).group(1))
    assert shift == pytest.approx(0.3 * 3.61 / np.sqrt(2), abs=0.05)
    assert distribution.excluded["bulk-3"] == "emt: its band did not converge in 2 steps"
