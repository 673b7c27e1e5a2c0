"""Climbing-image NEB with batched image evaluation (issue 10).

References: an Al adatom hop on Al(100) with ASE's EMT. The hop hollow -> hollow is mirror-symmetric,
so its saddle sits exactly on the bridge site; relaxing the slab with the adatom held at the bridge
(x, y fixed, z free) gives the saddle energy directly, independent of any NEB. ASE's own ``ase.mep.NEB``
with the same calculator, interpolation, optimizer and settings is the cross-code reference.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from ase import Atoms
from ase.build import add_adsorbate, fcc100
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms, FixCartesian
from ase.io import read
from ase.mep import NEB
from ase.optimize import FIRE

from ssbkit.errors import CalculationError, InputError
from ssbkit.workflows.neb import intermediate_minima, neb
from ssbkit.workflows.relax import relax

SPACING = 4.05 / np.sqrt(2)  # Å, nearest-neighbour distance on Al(100) at ASE's a = 4.05 Å
FMAX = 0.01  # eV/Å: tight enough that the climbing image sits within ~0.1 meV of the saddle


def adatom_slab(size: tuple[int, int, int] = (3, 3, 3)) -> Atoms:
    """Al(100) slab (layers below the top one fixed) with an Al adatom in a hollow site."""
    slab = fcc100("Al", size=size, vacuum=6.0)
    add_adsorbate(slab, "Al", 1.7, "hollow")
    slab.set_constraint(FixAtoms(mask=[atom.tag > 1 for atom in slab]))
    slab.info.clear()
    return slab


def shifted(slab: Atoms, hollows: float) -> Atoms:
    """The slab with its adatom moved along x by ``hollows`` surface lattice spacings."""
    moved = slab.copy()
    moved.positions[-1, 0] += hollows * SPACING
    return moved


@pytest.fixture(scope="module")
def hop() -> tuple[Atoms, Atoms]:
    slab = adatom_slab()
    return slab, shifted(slab, 1.0)


@pytest.fixture(scope="module")
def hop_result(hop, tmp_path_factory):
    initial, final = hop
    return neb(initial, final, EMT(), n_images=5, fmax=FMAX, endpoint_fmax=0.005,
               output_dir=tmp_path_factory.mktemp("neb"))


def test_symmetric_hop_barrier_equals_constrained_bridge_energy(hop, hop_result):
    """Saddle of a mirror-symmetric hop = slab relaxed with the adatom pinned in-plane at the bridge.
    Both are converged to forces of 0.005-0.01 eV/Å, so they agree to well under 2 meV."""
    initial, _ = hop
    bridge = shifted(initial, 0.5)
    bridge.set_constraint([FixAtoms(mask=[atom.tag > 1 for atom in bridge]),
                           FixCartesian(len(bridge) - 1, mask=(True, True, False))])
    saddle = relax(bridge, EMT(), fmax=0.005).energy - relax(initial, EMT(), fmax=0.005).energy
    assert 0.1 < saddle < 0.5
    assert hop_result.converged
    assert hop_result.barrier_forward == pytest.approx(saddle, abs=0.002)
    assert hop_result.barrier_backward == pytest.approx(saddle, abs=0.002)
    assert hop_result.reaction_energy == pytest.approx(0.0, abs=1e-4)
    assert hop_result.endpoints_equivalent and not hop_result.intermediate_minima
    assert hop_result.warnings == []
    # the saddle of the moving atom is the bridge site, halfway between the hollows
    assert hop_result.hop.index == len(initial) - 1
    assert hop_result.hop.saddle_position[:2] == pytest.approx(bridge.positions[-1, :2], abs=0.01)
    assert hop_result.hop.hop_distance == pytest.approx(SPACING, abs=1e-3)


def test_batched_neb_matches_ase_neb_and_batches_every_iteration(hop, hop_result):
    """Same endpoints, IDPP path, improved-tangent CI-NEB, FIRE and fmax through ase.mep.NEB image by
    image: the barrier agrees within 1 meV (the issue's requirement; in practice to 1e-9 eV)."""
    start, end = hop_result.images[0].copy(), hop_result.images[-1].copy()
    images = [start] + [start.copy() for _ in range(5)] + [end]
    for image in images:
        image.calc = EMT()
    band = NEB(images, climb=True, method="improvedtangent")
    band.interpolate(method="idpp", mic=True, apply_constraint=True)
    optimizer = FIRE(band, logfile=None)
    assert optimizer.run(fmax=FMAX, steps=500)
    energies = np.array([image.get_potential_energy() for image in images])
    assert hop_result.barrier_forward == pytest.approx(energies.max() - energies[0], abs=1e-3)
    assert hop_result.steps == optimizer.get_number_of_steps()
    # one model call per band evaluation (ASE's FIRE evaluates once per step, plus the first)
    assert hop_result.n_model_calls == hop_result.steps + 1


def test_outputs_path_and_plot(hop_result):
    frames = read(hop_result.path_file, index=":")
    assert len(frames) == 7
    energies = [frame.get_potential_energy() for frame in frames]
    assert energies == pytest.approx(hop_result.energies, abs=1e-6)
    assert hop_result.plot_file.read_bytes()[:4] == b"\x89PNG"
    document = hop_result.to_dict()
    assert document["hop"]["symbol"] == "Al" and document["settings"]["interpolation"] == "idpp"
    assert document["model"] == "EMT"


def test_intermediate_minimum_is_reported_and_resolved():
    """Two hollows away, the straight path crosses the middle hollow: a minimum inside the band.
    The two re-run segments are translation-equivalent hollow -> hollow hops, so their barriers agree
    (to 1 meV at fmax 0.02 eV/Å) and match the coarse path's segments."""
    slab = adatom_slab((5, 2, 2))  # 5 wide: two hollows along x are not one hollow back
    result = neb(slab, shifted(slab, 2.0), EMT(), n_images=5, fmax=0.02, resolve_minima=True)
    assert result.intermediate_minima == [3]
    assert any("intermediate minima" in w for w in result.warnings)
    assert len(result.segments) == 2 and len(result.segment_results) == 2
    first, second = result.segment_results
    for segment in result.segment_results:
        assert segment.converged and not segment.intermediate_minima
        assert segment.barrier_forward == pytest.approx(segment.barrier_backward, abs=0.001)
    assert first.barrier_forward == pytest.approx(second.barrier_forward, abs=0.001)
    assert result.segments[0].barrier_forward == pytest.approx(first.barrier_forward, abs=0.02)
    assert result.energy_span == pytest.approx(first.barrier_forward, abs=0.02)


def test_endpoint_that_leaves_its_site_is_reported():
    """Placed just past the bridge (0.6 of a hop), the adatom relaxes into the next hollow, 0.4 hop
    lengths (1.15 Å) away: the result says so instead of silently reporting that hop."""
    slab = adatom_slab()
    result = neb(slab, shifted(slab, 0.6), EMT(), n_images=3, fmax=0.05)
    assert result.hop.final_site_displacement == pytest.approx(0.4 * SPACING, abs=0.05)
    assert any("final endpoint left its site" in w for w in result.warnings)
    assert any("symmetry-equivalent" in w for w in result.warnings)


def test_endpoints_relaxing_into_the_same_site_raise():
    slab = adatom_slab()
    with pytest.raises(CalculationError, match="same structure"):
        neb(slab, shifted(slab, 0.15), EMT(), n_images=3)


def test_non_convergence_returns_path_with_flag():
    slab = adatom_slab()
    result = neb(slab, shifted(slab, 1.0), EMT(), n_images=3, fmax=1e-4, steps=3)
    assert not result.converged and result.steps == 3
    assert len(result.images) == 5 and np.isfinite(result.energies).all()
    assert any("not converged" in w for w in result.warnings)


def test_intermediate_minima_on_profiles():
    assert intermediate_minima([0.0, 0.2, 0.05, 0.2, 0.0]) == [2]
    assert intermediate_minima([0.0, 0.2, 0.195, 0.2, 0.0]) == []  # 5 meV dip: noise, not a site
    assert intermediate_minima([0.0, -0.05, -0.1, -0.05, 0.0]) == [2]  # path dips below both ends


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a, b: (a, b[:-1]), "same atoms"),
        (lambda a, b: (a, Atoms("Cu" * len(b), positions=b.positions, cell=b.cell, pbc=b.pbc)),
         "different elements"),
        (lambda a, b: (a, a.copy()), "identical"),
    ],
)
def test_bad_endpoints_raise_input_error(change, message):
    slab = adatom_slab()
    initial, final = change(slab, shifted(slab, 1.0))
    with pytest.raises(InputError, match=message):
        neb(initial, final, EMT())


def test_bad_settings_raise_input_error():
    slab = adatom_slab()
    with pytest.raises(InputError, match="optimizer"):
        neb(slab, shifted(slab, 1.0), EMT(), optimizer="LBFGS-typo")
    with pytest.raises(InputError, match="moving_index"):
        neb(slab, shifted(slab, 1.0), EMT(), moving_index=99)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match="n_images"):
            neb(slab, shifted(slab, 1.0), EMT(), n_images=0)
