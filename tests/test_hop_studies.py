"""Built-in Li hop studies and the ``ssbkit neb`` command.

Site geometry is checked against textbook coordination: in bcc (lattice a) the tetrahedral site has 4
host neighbours at a*sqrt(5)/4 and the octahedral site 2 at a/2 and 4 at a/sqrt(2); the hcp octahedral
site has 6 equidistant neighbours; the bcc(110) threefold hollow has 3 surface neighbours, two of them
equidistant. Model runs (CHGNet/SevenNet-0) are production physics and marked slow.
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import write
from ase.neighborlist import neighbor_list
from ase.mep import NEB
from ase.optimize import FIRE
from typer.testing import CliRunner

from ssbkit.cli import app
from ssbkit.errors import InputError
from ssbkit.workflows.neb import neb
from ssbkit.interfaces.structures.hop_studies import LI_A, MG_A, MG_C, STUDIES, W_A, build_study

runner = CliRunner()


def li_neighbour_distances(atoms, index: int) -> np.ndarray:
    others = [i for i in range(len(atoms)) if i != index]
    return np.sort(atoms.get_distances(index, others, mic=True))


def test_w_tetrahedral_and_octahedral_sites():
    study = build_study("w-bulk-tt")
    li = study.moving_index
    assert study.initial[li].symbol == "Li" and len(study.initial) == 55
    for atoms in (study.initial, study.final):
        distances = li_neighbour_distances(atoms, li)
        assert distances[:5] == pytest.approx([W_A * 5**0.5 / 4] * 4 + [W_A * 13**0.5 / 4], abs=1e-6)
    hop = np.linalg.norm(study.final.positions[li] - study.initial.positions[li])
    assert hop == pytest.approx(W_A * 2**0.5 / 4)
    through_o = build_study("w-bulk-tot")
    midpoint = through_o.initial.copy()
    midpoint.positions[li] = (through_o.initial.positions[li] + through_o.final.positions[li]) / 2
    assert li_neighbour_distances(midpoint, li)[:6] == pytest.approx([W_A / 2] * 2 + [W_A / 2**0.5] * 4)
    assert len(build_study("w-bulk-tt", full=True).initial) == 251


def test_w110_hollow_sites():
    """Reference (analytic): the W(110) top layer is a centred (a x a*sqrt2) rectangle, so its threefold hollow
    is the circumcentre of an isosceles triangle with sides a, a*sqrt3/2, a*sqrt3/2: three top atoms at
    3*sqrt2*a/8 in the plane, the next at 5*sqrt2*a/8. Hollow to mirrored hollow over the long bridge is
    a*sqrt2/4; to the hollow over the short bridge, a*sqrt(3/8)."""
    for name, hop_length in (("w110-long-bridge", W_A * 2**0.5 / 4), ("w110-short-bridge", W_A * (3 / 8) ** 0.5)):
        study = build_study(name)
        li = study.moving_index
        for atoms in (study.initial, study.final):
            top_layer = atoms[[i for i in range(len(atoms)) if atoms.get_tags()[i] == 1 or i == li]]
            top_layer.positions[:, 2] = 0.0  # in-plane distances, every periodic image counted
            centres, distances = neighbor_list("id", top_layer, W_A)
            in_plane = np.sort(distances[centres == len(top_layer) - 1])
            assert in_plane == pytest.approx([3 * 2**0.5 / 8 * W_A] * 3 + [5 * 2**0.5 / 8 * W_A], abs=1e-6)
            assert atoms.positions[li, 2] > atoms.positions[:-1, 2].max() + 2.0  # an adatom above the surface
        step = study.final.positions[li] - study.initial.positions[li]
        assert np.linalg.norm(step) == pytest.approx(hop_length, abs=1e-6) and abs(step[2]) < 1e-9


def test_w110_long_bridge_hop_does_not_exist_for_chgnet():
    """CHGNet's Li minimum on W(110) is the long-bridge site, not the threefold hollow (measured here: Li
    started at the hollow slides to 0.05 Å from the long bridge, 0.7 meV above Li placed on it, while the
    short bridge is 0.19 eV higher). The two hollows of the long-bridge study then relax into that one site,
    a flat 0.1 Å apart: the NEB must say the hop does not exist for this model instead of reporting a
    barrier of ~0 over a 0.1 Å path."""
    from ssbkit.errors import CalculationError
    from ssbkit.potentials import load

    study = build_study("w110-long-bridge")
    with pytest.raises(CalculationError, match="relaxed into the same site"):
        neb(study.initial, study.final, load("chgnet", device="cpu", task="neb"), n_images=3,
            moving_index=study.moving_index)


def test_mg_and_li_hops():
    c_hop = build_study("mg-interstitial-c")
    li = c_hop.moving_index
    assert np.ptp(li_neighbour_distances(c_hop.initial, li)[:6]) < 0.05  # octahedral: 6 equidistant
    step = c_hop.final.positions[li] - c_hop.initial.positions[li]
    assert step == pytest.approx([0, 0, MG_C / 2], abs=1e-6) or step == pytest.approx([0, 0, -MG_C / 2], abs=1e-6)
    basal = build_study("mg-interstitial-basal")
    li = basal.moving_index
    assert np.ptp(li_neighbour_distances(basal.final, li)[:6]) < 0.05
    assert np.linalg.norm(basal.final.positions[li] - basal.initial.positions[li]) == pytest.approx(MG_A)
    for name, length in (("mg-vacancy-basal", MG_A), ("li-vacancy", LI_A * 3**0.5 / 2)):
        study = build_study(name)
        moving = study.moving_index
        assert study.initial[moving].symbol == "Li"
        step = np.linalg.norm(study.final.positions[moving] - study.initial.positions[moving])
        assert step == pytest.approx(length, abs=1e-6)
    assert build_study("mg-vacancy-basal").initial.get_chemical_symbols().count("Li") == 1
    out_of_plane = build_study("mg-vacancy-c")
    moving = out_of_plane.moving_index
    assert abs(out_of_plane.final.positions[moving, 2] - out_of_plane.initial.positions[moving, 2]) > 1.0
    assert set(STUDIES) >= {"w-bulk-tt", "w110-long-bridge", "mg-vacancy-c", "li-vacancy", "llzo-bulk"}


def test_llzo_bulk_hop():
    """The shortest vacancy hop of the Ewald-ordered cubic LLZO cell is tetrahedral 24d -> octahedral 96h.
    Reference: the Wyckoff sites of Geiger et al., Inorg. Chem. 50, 1089 (2011) (a = 12.9682 Å, 24d at
    (3/8, 0, 1/4), 96h at (0.0927, 0.6857, 0.5775)) expanded with pymatgen's Ia-3d tables, not the ASE
    spacegroup code that built the cell: the 24d-96h distances are 1.59 Å (one cage, never both occupied)
    and next 2.41 Å, the hop; and no two Li of the start structure are closer than that."""
    from pymatgen.symmetry.groups import SpaceGroup

    a = 12.9682
    group = SpaceGroup("Ia-3d")
    tetrahedral = np.array(group.get_orbit([0.375, 0.0, 0.25]))
    octahedral = np.array(group.get_orbit([0.0927, 0.6857, 0.5775]))
    assert (len(tetrahedral), len(octahedral)) == (24, 96)

    def offsets(fractional, orbit):  # Å to every site of the orbit, nearest periodic image
        delta = orbit - fractional
        return np.linalg.norm((delta - np.round(delta)) * a, axis=1)

    tet_oct = np.unique(np.round(offsets(tetrahedral[0], octahedral), 4))
    assert tet_oct[:2] == pytest.approx([1.5874, 2.4064], abs=1e-3)

    study = build_study("llzo-bulk")
    moving = study.moving_index
    assert len(study.initial) == 191 and study.initial[moving].symbol == "Li"
    start = study.initial.get_scaled_positions()[moving]
    end = study.final.get_scaled_positions()[moving]
    assert offsets(start, tetrahedral).min() < 1e-6 and offsets(end, octahedral).min() < 1e-6
    step = np.linalg.norm(study.final.positions[moving] - study.initial.positions[moving])
    assert step == pytest.approx(tet_oct[1], abs=1e-3)
    li = [i for i, symbol in enumerate(study.initial.get_chemical_symbols()) if symbol == "Li"]
    li_li = study.initial.get_all_distances(mic=True)[np.ix_(li, li)]
    assert li_li[~np.eye(len(li), dtype=bool)].min() == pytest.approx(step, abs=1e-6)


def test_cli_errors_exit_2(tmp_path):
    result = runner.invoke(app, ["neb", "run", str(tmp_path / "missing.xyz"), str(tmp_path / "b.xyz")])
    assert result.exit_code == 2 and "not found" in result.output
    garbage = tmp_path / "garbage.xyz"
    garbage.write_text("not a structure\n")
    result = runner.invoke(app, ["neb", "run", str(garbage), str(garbage)])
    assert result.exit_code == 2 and "cannot read" in result.output
    result = runner.invoke(app, ["neb", "study", "w-bulk-xx"])
    assert result.exit_code == 2 and "unknown NEB study" in result.output


def small_li_vacancy_hop() -> tuple[Atoms, Atoms]:
    """bcc Li 2x2x2 (15 atoms): the atom at (a/2, a/2, a/2) hops into the vacancy at the origin."""
    host = bulk("Li", "bcc", a=LI_A, cubic=True).repeat(2)
    initial = host[1:]
    final = initial.copy()
    final.positions[0] = host.positions[0]
    return initial, final


@pytest.mark.slow
def test_cli_run_chgnet_li_vacancy(tmp_path):
    """End to end with CHGNet: bcc Li vacancy hop in a 2x2x2 cell through `ssbkit neb run --json`."""
    small = small_li_vacancy_hop()
    write(tmp_path / "a.extxyz", small[0])
    write(tmp_path / "b.extxyz", small[1])
    result = runner.invoke(app, ["neb", "run", str(tmp_path / "a.extxyz"), str(tmp_path / "b.extxyz"),
                                 "--images", "3", "--json", "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert 0.0 < document["barrier_forward"] < 0.5 and document["model"] == "chgnet"
    assert (tmp_path / "out" / "neb_profile.png").exists()


@pytest.mark.slow
def test_batched_matches_ase_with_chgnet():
    """Li vacancy hop in 2x2x2 bcc Li with CHGNet: ssbkit's batched NEB (graph-batched float32 model
    calls) and ase.mep.NEB (the calculator image by image) agree within 1 meV."""
    from ssbkit.potentials import load

    calculator = load("chgnet", device="cpu", task="neb")
    initial, final = small_li_vacancy_hop()
    ours = neb(initial, final, calculator, n_images=3, fmax=0.05, steps=100)
    images = [ours.images[0].copy()] + [ours.images[0].copy() for _ in range(3)] + [ours.images[-1].copy()]
    for image in images:
        image.calc = calculator
    band = NEB(images, climb=True, method="improvedtangent", allow_shared_calculator=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        band.interpolate(method="idpp", mic=True, apply_constraint=True)
    FIRE(band, logfile=None).run(fmax=0.05, steps=100)
    energies = np.array([image.get_potential_energy() for image in images])
    assert ours.barrier_forward == pytest.approx(energies.max() - energies[0], abs=1e-3)


def layered_bicrystal() -> Atoms:
    """A stand-in bicrystal: Li on a 2.5 Å simple cubic lattice, 4 x 4 x 8, grain 0 below z = 9 Å, an O
    replacing one Li far from the plane; the shortest hops are 2.5 Å, along and across the z = 8.75 Å plane."""
    atoms = Atoms("Li", cell=[2.5] * 3, pbc=True).repeat((4, 4, 8))
    atoms.set_array("grain", (atoms.positions[:, 2] > 9.0).astype(int))
    atoms.symbols[0] = "O"
    return atoms


def test_llzo_boundary_hop_pair_names_and_reproduces_the_hop():
    """The boundary hop names its Li pair (bicrystal indices), and ``pair=`` takes exactly that hop again, so
    the same hop can be computed on another state of the bicrystal. Reference: lattice geometry (2.5 Å)."""
    from ssbkit.interfaces.structures.hop_studies import llzo_gb_across, llzo_gb_along

    bicrystal = layered_bicrystal()
    for builder, across in ((llzo_gb_along, False), (llzo_gb_across, True)):
        study = builder(bicrystal=bicrystal)
        mover, vacancy = (int(i) for i in re.search(r"Li (\d+) into the site of Li (\d+), 2\.50 Å",
                                                     study.description).groups())
        again = builder(bicrystal=bicrystal, pair=(mover, vacancy))
        assert again.moving_index == study.moving_index
        assert np.allclose(again.final.positions, study.final.positions)
        assert (bicrystal.arrays["grain"][mover] != bicrystal.arrays["grain"][vacancy]) == across
    with pytest.raises(InputError, match="two different Li"):
        llzo_gb_along(bicrystal=bicrystal, pair=(0, 1))  # atom 0 is O
    with pytest.raises(InputError, match="two different Li"):
        llzo_gb_along(bicrystal=bicrystal, pair=(5, 5))
    def at(x: float, y: float, z: float) -> int:
        return int(np.argmin(np.linalg.norm(bicrystal.positions - [x, y, z], axis=1)))

    below, above, beside = at(5, 5, 7.5), at(5, 5, 10), at(7.5, 5, 7.5)  # layers 3 and 4 meet at the plane
    with pytest.raises(InputError, match="not a hop along"):
        llzo_gb_along(bicrystal=bicrystal, pair=(below, above))
    with pytest.raises(InputError, match="not a hop across"):
        llzo_gb_across(bicrystal=bicrystal, pair=(below, beside))


def test_boundary_hop_pairs_are_distinct_sorted_and_bounded():
    """The k shortest boundary hops: each pair of sites once (a hop and its reverse are one), shortest first,
    each allowed for its kind. Reference: lattice geometry of the stand-in (2.5 Å nearest neighbours, then
    2.5·√2 Å)."""
    from ssbkit.interfaces.structures.hop_studies import boundary_hop_pairs

    bicrystal = layered_bicrystal()
    grain = bicrystal.arrays["grain"]
    for across in (False, True):
        pairs = boundary_hop_pairs(bicrystal, across, 20)
        lengths = [length for _, _, length in pairs]
        assert lengths == sorted(lengths) and lengths[0] == pytest.approx(2.5)
        assert len({frozenset(pair[:2]) for pair in pairs}) == 20
        assert all((grain[mover] != grain[vacancy]) == across for mover, vacancy, _ in pairs)
        assert set(np.round(lengths, 3)) <= {2.5, round(2.5 * np.sqrt(2), 3), round(2.5 * np.sqrt(3), 3), 5.0}
    with pytest.raises(InputError, match="at least 1"):
        boundary_hop_pairs(bicrystal, False, 0)
    with pytest.raises(InputError, match="no 'grain' array"):
        boundary_hop_pairs(Atoms("Li2", positions=[[0, 0, 0], [2.5, 0, 0]], cell=[5, 5, 5], pbc=True), True)
    with pytest.raises(InputError, match=r"10000 hops along the boundary asked for; the 12 Li nearest the plane "
                                         r"have \d+ distinct ones"):
        boundary_hop_pairs(bicrystal, False, 10000)


@pytest.mark.slow
def test_llzo_grain_boundary_hops():
    """Sigma-5 (100) twist boundary of cubic LLZO (~1900 atoms): the hop along stays in its grain and
    (mostly) parallel to the plane, the hop across ends in the other grain; both are Li-Li site distances."""
    for name, across in (("llzo-gb-along", False), ("llzo-gb-across", True)):
        study = build_study(name)
        moving = study.moving_index
        start, end = study.initial.positions[moving], study.final.positions[moving]
        assert 1.5 < np.linalg.norm(end - start) < 4.5
        grain, z = study.initial.arrays["grain"], study.initial.positions[:, 2]
        plane = (z[grain == 0].max() + z[grain == 1].min()) / 2
        crosses = (start[2] - plane) * (end[2] - plane) < 0
        assert crosses == across
        if not across:
            assert abs(end[2] - start[2]) < 0.5 * np.linalg.norm(end - start)
