"""Validity checks of the MD diffusion workflow: cell size before MD, hops seen, kinetic temperature, and the
refusal to extrapolate D(T) from too little.

Reference for the hop check: a lattice random walk of n hops of length l has MSD = n*l² (the hops are
uncorrelated, so the cross terms average to zero). Li hopping between the sites of a simple cubic lattice
of spacing l with probability p per frame make on average p*k hops in k frames, so their MSD at a lag of
k frames is p*k*l²; the analysis reads the MSD up to half the production, so hops_seen ~ p*(frames/2).
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write

from ssbkit.errors import InputError
from ssbkit.potentials.backends import model_cutoff
from ssbkit.workflows.diffusion import (analyze_trajectory, diffusion, diffusion_from_trajectories, fit_arrhenius,
                                        site_jumps)

SPACING = 2.0  # Å, the lattice spacing = shortest Li-Li distance = hop length
N_FRAMES = 501
TIMESTEP, SAVE_EVERY = 2.0, 5  # fs, steps: 10 fs per frame, 5 ps in all
DIRECTIONS = np.concatenate([np.eye(3), -np.eye(3)]) * SPACING


GRID = np.stack(np.meshgrid(*[np.arange(4)] * 3, indexing="ij"), axis=-1).reshape(-1, 3) * SPACING


def lattice_walk(hop_probability: float, seed: int, temperature: float = 800.0, framework: bool = True,
                 drift_A: float = 0.0) -> list[Atoms]:
    """64 Li starting on every site of a 4x4x4 simple cubic lattice (8 Å cell), each hopping to a random one of
    its 6 neighbours with ``hop_probability`` per frame, and 8 La that stay put (the framework; none with
    ``framework=False``). ``drift_A``: every atom also moves by a random walk of this step (Å) per frame, as
    a thermostat's random forces move the whole cell."""
    rng = np.random.default_rng(seed)
    fixed = rng.uniform(0, 8.0, (8 if framework else 0, 3))
    hopped = rng.random((N_FRAMES - 1, 64)) < hop_probability
    hops = hopped[..., None] * DIRECTIONS[rng.integers(0, 6, (N_FRAMES - 1, 64))]
    li = GRID + np.concatenate([np.zeros((1, 64, 3)), np.cumsum(hops, axis=0)])
    drift = np.cumsum(np.vstack([np.zeros(3), rng.normal(scale=drift_A, size=(N_FRAMES - 1, 3))]), axis=0)
    frames = []
    for index, positions in enumerate(li):
        frame = Atoms(["Li"] * 64 + ["La"] * len(fixed), positions=np.vstack([positions, fixed]) + drift[index],
                      cell=[8.0] * 3, pbc=True)
        frame.info.update(step=index * SAVE_EVERY, time_fs=index * SAVE_EVERY * TIMESTEP, phase="production",
                          target_temperature_K=temperature)
        frames.append(frame)
    return frames


def with_kinetic_temperature(frames: list[Atoms], temperature: float, seed: int = 0) -> list[Atoms]:
    """The frames with random momenta scaled so that 2*KE/(3N kB) is exactly ``temperature`` (K) in each."""
    rng = np.random.default_rng(seed)
    for frame in frames:
        momenta = rng.standard_normal((len(frame), 3)) * np.sqrt(frame.get_masses())[:, None]
        kinetic = 0.5 * np.sum(momenta**2 / frame.get_masses()[:, None])
        momenta *= np.sqrt(1.5 * len(frame) * units.kB * temperature / kinetic)
        frame.set_momenta(momenta)
    return frames


def test_hops_seen_follow_the_random_walk_and_too_few_are_flagged():
    # p = 0.004 per frame: ~1 hop by half of the 500 frames; p = 0.04: ~10 hops. 64 walkers over about two
    # independent half-length windows give the MSD to roughly 10 %; 30 % is a wide margin.
    few = analyze_trajectory(lattice_walk(0.004, seed=1), 800, TIMESTEP, SAVE_EVERY)
    enough = analyze_trajectory(lattice_walk(0.04, seed=2), 800, TIMESTEP, SAVE_EVERY)
    assert few.hops_seen == pytest.approx(0.004 * 250, rel=0.3)
    assert enough.hops_seen == pytest.approx(0.04 * 250, rel=0.3)
    assert [c.code for c in few.caveats] == ["too-few-hops"]
    assert "2.00 Å" in few.caveats[0].message  # the shortest Li-Li distance is the lattice spacing
    assert enough.caveats == []
    assert few.mean_temperature_K is None  # no momenta, no temperature check


def test_one_element_cell_is_referenced_to_its_centre_of_mass():
    # Self-diffusion (a cell of Li only): with no framework the drift is the centre of mass. A drift of the
    # whole cell (0.1 Å per frame, ~2 Å by the end) must not change D, and D is the random walk's
    # p l² / (6 dt) (here 2.7e-4 cm²/s) less the 1/64 of it the centre of mass carries; 64 walkers give it to
    # ~10 %, so 25 %.
    still = analyze_trajectory(lattice_walk(0.04, seed=5, framework=False), 800, TIMESTEP, SAVE_EVERY)
    drifting = analyze_trajectory(lattice_walk(0.04, seed=5, framework=False, drift_A=0.1), 800, TIMESTEP,
                                  SAVE_EVERY)
    walk = 0.04 * SPACING**2 / (6 * TIMESTEP * SAVE_EVERY) * 0.1  # Å²/fs -> cm²/s
    for result in (still, drifting):
        assert result.diffusivity == pytest.approx(walk * (1 - 1 / 64), rel=0.25)
        assert result.transport.tracer_diffusivity_cm2_s == pytest.approx(walk * (1 - 1 / 64), rel=0.25)
    assert drifting.diffusivity == pytest.approx(still.diffusivity, rel=1e-6)
    assert drifting.transport.tracer_diffusivity_cm2_s == pytest.approx(
        still.transport.tracer_diffusivity_cm2_s, rel=1e-6)


def test_site_jumps_count_settled_hops_and_not_recrossings():
    # Every hop of the lattice walk moves a Li to a neighbouring site, so the jump count of each Li is its
    # number of hops, whatever the cell's drift (0.1 Å per frame, removed through the framework). A Li that
    # goes 60 % of the way to a neighbouring site and comes back jumps only if the capture radius reaches it.
    frames = lattice_walk(0.04, seed=6, drift_A=0.1)
    positions = np.array([frame.positions[:64] - frame.positions[64:].mean(axis=0) for frame in frames])
    hops = (np.linalg.norm(np.diff(positions, axis=0), axis=2) > 1e-9).sum(axis=0)
    jumps = site_jumps(frames, GRID, "Li", capture_radius=0.6)
    assert jumps.sum() > 500 and np.array_equal(jumps, hops)
    start = lattice_walk(0.0, seed=6)[0]
    excursion = start.copy()
    excursion.positions[0] += [0.6 * SPACING, 0, 0]  # 0.8 Å from the next site, 1.2 Å from its own
    assert site_jumps([start, excursion, start], GRID, "Li", capture_radius=0.6)[0] == 0
    assert site_jumps([start, excursion, start], GRID, "Li", capture_radius=0.9)[0] == 2  # there and back


def test_mean_kinetic_temperature_is_checked_against_the_target():
    off = analyze_trajectory(with_kinetic_temperature(lattice_walk(0.04, seed=2, temperature=700), 652.0),
                             700, TIMESTEP, SAVE_EVERY)
    assert off.mean_temperature_K == pytest.approx(652.0, rel=1e-9)
    assert [c.code for c in off.caveats] == ["temperature-off-target"] and "652 K" in off.caveats[0].message
    near = analyze_trajectory(with_kinetic_temperature(lattice_walk(0.04, seed=2, temperature=700), 680.0),
                              700, TIMESTEP, SAVE_EVERY)  # -2.9 %, inside the 5 % tolerance
    assert near.caveats == []
    # ssbkit's MD records the kinetic temperature with the thermostat's degrees of freedom; that wins.
    frames = with_kinetic_temperature(lattice_walk(0.04, seed=2, temperature=700), 652.0)
    for frame in frames:
        frame.info["kinetic_temperature_K"] = 701.0
    assert analyze_trajectory(frames, 700, TIMESTEP, SAVE_EVERY).mean_temperature_K == pytest.approx(701.0)


def write_trajectories(directory, probabilities: dict[float, float]) -> list:
    directory.mkdir()
    paths = []
    for seed, (temperature, probability) in enumerate(probabilities.items()):
        path = directory / f"replica{seed:02d}_{temperature:g}K.extxyz"
        write(path, lattice_walk(probability, seed=seed, temperature=temperature), format="extxyz")
        paths.append(path)
    return paths


def test_extrapolation_needs_three_temperatures_that_all_saw_enough_hops(tmp_path):
    two = diffusion_from_trajectories(write_trajectories(tmp_path / "two", {800.0: 0.03, 1000.0: 0.05}))
    assert two.arrhenius is None
    assert [(c.code, c.message) for c in two.caveats] == [
        ("no-extrapolation", "2 temperatures: an Arrhenius fit needs at least 3")]
    assert all(entry.diffusivity > 0 for entry in two.per_temperature)  # D at the simulated T is still there

    cold = diffusion_from_trajectories(write_trajectories(tmp_path / "cold", {600.0: 0.004, 800.0: 0.03,
                                                                              1000.0: 0.05}))
    assert cold.arrhenius is None
    assert [c.code for c in cold.caveats] == ["too-few-hops", "no-extrapolation"]
    assert cold.caveats[1].message.startswith("MSD at 600 K is ") and "hops" in cold.caveats[1].message

    good = diffusion_from_trajectories(write_trajectories(tmp_path / "good", {600.0: 0.02, 800.0: 0.03,
                                                                              1000.0: 0.05}))
    assert good.caveats == [] and good.arrhenius is not None
    assert good.arrhenius.activation_energy > 0 and good.to_dict()["caveats"] == []
    with pytest.raises(InputError, match="2 temperatures: an Arrhenius fit needs at least 3"):
        fit_arrhenius([800.0, 1000.0], [1e-5, 2e-5], lattice_walk(0.0, seed=0)[0])


def test_model_cutoffs_of_the_installed_models():
    from ssbkit.potentials import load

    assert model_cutoff(load("chgnet", device="cpu")) == 6.0  # CHGNet 0.3.0 atom graph
    assert model_cutoff(EMT()) is None


def test_library_li6ps5cl_cell_is_refused_before_any_md_step(tmp_path):
    from ssbkit.interfaces.structures.references import load_reference_structure
    from ssbkit.potentials import load

    cell = load_reference_structure("Li6PS5Cl")  # 13 atoms, 6 Li, 5.69 Å between opposite faces
    with pytest.raises(InputError, match=r"6 Li atoms, fewer than 8.*5\.69 Å, under 2 x the model's 6 Å "
                                         r"cutoff.*3x3x3 supercell of it would pass \(351 atoms"):
        diffusion(cell, load("chgnet", device="cpu"), [700, 900, 1100], tmp_path / "md")
    assert not (tmp_path / "md").exists()  # nothing ran


def test_without_a_model_cutoff_only_the_species_count_is_checked(tmp_path):
    copper = bulk("Cu", cubic=True)  # 4 atoms, 3.6 Å wide: EMT has no graph cutoff to compare with
    copper.symbols[0] = "Ag"
    with pytest.raises(InputError, match="3 Cu atoms, fewer than 8; a 2x2x1 supercell"):
        diffusion(copper, EMT(), [1200], tmp_path, species="Cu")
    with pytest.raises(InputError, match="periodic in all three directions"):
        diffusion(Atoms("LiCu", positions=[[0, 0, 0], [2, 0, 0]], cell=[10] * 3, pbc=[1, 1, 0]), EMT(), [600],
                  tmp_path, min_species_count=1)
    assert not any(tmp_path.iterdir())


def test_cli_prints_caveats_on_stderr_and_says_why_it_did_not_extrapolate(tmp_path):
    import json

    from typer.testing import CliRunner

    from ssbkit.cli import app

    write_trajectories(tmp_path / "md", {600.0: 0.004, 800.0: 0.03, 1000.0: 0.05})
    result = CliRunner().invoke(app, ["diffusion", "analyze", str(tmp_path / "md")])
    assert result.exit_code == 0, result.output
    assert "σ(300 K): not extrapolated: MSD at 600 K is " in result.stdout
    assert "warning [too-few-hops]: MSD at 600 K reaches" in result.stderr
    assert "warning [no-extrapolation]: MSD at 600 K is " in result.stderr
    document = json.loads(CliRunner().invoke(app, ["diffusion", "analyze", str(tmp_path / "md"), "--json"]).stdout)
    assert document["arrhenius"] is None
    assert [c["code"] for c in document["caveats"]] == ["too-few-hops", "no-extrapolation"]
    assert document["per_temperature"][0]["hops_seen"] < 3 and document["target_temperature"] == 300.0
