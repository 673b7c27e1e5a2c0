"""Transport with kinisi: tracer and charge diffusivity, the Haven ratio, regions and ensembles.

References: analytic lattice random walks (D = p a² / (6 dt) for a hop of length a with probability p per
frame; independent walkers have Haven ratio 1; two ions that always hop together have a charge diffusivity
twice the tracer one, H = 1/2), kinisi's own Bayesian sampler (the closed-form generalised-least-squares fit
must match its posterior), the Einstein relation D = kT/(m gamma) of free Langevin particles, and
Arrhenius data generated from known activation energies.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from ssbkit.workflows.diffusion import (
    GrainBoundaryRegion,
    TemperatureDiffusivity,
    TransportEstimate,
    analyze_trajectory,
    diffusion,
    diffusion_from_trajectories,
    ensemble_arrhenius,
    ensemble_by_temperature,
    kinisi_transport,
)

FRAME_FS = 10.0  # timestep 2 fs x save_every 5
K_B = 8.617333262e-5  # eV/K


def lattice_walk(pairs: bool, n_ions: int = 64, n_frames: int = 1500, probability: float = 0.2, hop: float = 1.0,
                 seed: int = 0, box: float = 20.0, fast: np.ndarray | None = None) -> list[Atoms]:
    """Li walkers hopping ``hop`` Å along ±x/±y/±z with ``probability`` per frame (``fast`` ions: 4x as
    often), and 8 fixed O framework atoms; with ``pairs`` ion 2k+1 copies every hop of ion 2k."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(0, box, (n_ions, 3))
    directions = np.vstack([np.eye(3), -np.eye(3)])
    chance = np.full(n_ions, probability)
    if fast is not None:
        chance[fast] = min(1.0, 4 * probability)
    steps = np.zeros((n_frames, n_ions, 3))
    for t in range(1, n_frames):
        moved = rng.random(n_ions) < chance
        steps[t] = directions[rng.integers(0, 6, n_ions)] * (moved * hop)[:, None]
        if pairs:
            steps[t, 1::2] = steps[t, 0::2]
    positions = start + np.cumsum(steps, axis=0)
    framework = np.full((8, 3), 5.0) + np.arange(8)[:, None]
    return [Atoms(f"Li{n_ions}O8", positions=np.vstack([p, framework]), cell=[box] * 3, pbc=True)
            for p in positions]


def walk_diffusivity(probability: float = 0.2, hop: float = 1.0) -> float:
    """p a² / (6 dt) in cm²/s (Å²/fs x 0.1)."""
    return probability * hop**2 / (6 * FRAME_FS) * 0.1


@pytest.fixture(scope="module")
def independent():
    return kinisi_transport(lattice_walk(False), 300.0, 2.0, 5, start_lag_fs=100.0)["all"]


@pytest.fixture(scope="module")
def paired():
    return kinisi_transport(lattice_walk(True), 300.0, 2.0, 5, start_lag_fs=100.0)["all"]


def test_tracer_diffusivity_of_a_random_walk(independent, paired):
    for estimate in (independent, paired):
        assert estimate.tracer_diffusivity_cm2_s == pytest.approx(walk_diffusivity(), rel=0.06)
        assert 0 < estimate.tracer_diffusivity_std_cm2_s < 0.05 * estimate.tracer_diffusivity_cm2_s
        deviation = abs(estimate.tracer_diffusivity_cm2_s - walk_diffusivity())
        assert deviation < 3 * estimate.tracer_diffusivity_std_cm2_s


def test_haven_ratio_is_one_for_independent_walkers_and_one_half_for_pairs(independent, paired):
    assert abs(independent.haven_ratio - 1.0) < 3 * independent.haven_ratio_std
    assert abs(paired.haven_ratio - 0.5) < 3 * paired.haven_ratio_std
    assert paired.haven_ratio_std < 0.2
    ratio = paired.charge_diffusivity_cm2_s / paired.tracer_diffusivity_cm2_s
    assert ratio == pytest.approx(2.0, abs=3 * 2 * paired.haven_ratio_std / paired.haven_ratio)


def test_conductivity_is_nernst_einstein_with_the_charge_diffusivity(paired):
    # sigma = N e² D_sigma / (V k T): 64 ions in 8000 Å³ at 300 K
    expected = 64 * 1.602176634e-19**2 * paired.charge_diffusivity_cm2_s * 1e-4 / (
        8000e-30 * 1.380649e-23 * 300.0) * 10
    assert paired.conductivity_mS_cm == pytest.approx(expected, rel=1e-9)
    assert paired.conductivity_std_mS_cm / paired.conductivity_mS_cm == pytest.approx(
        paired.charge_diffusivity_std_cm2_s / paired.charge_diffusivity_cm2_s)


def test_least_squares_fit_matches_kinisi_bayesian_sampler(independent):
    import scipp as sc
    from kinisi.analyze import DiffusionAnalyzer

    frames = lattice_walk(False)
    # the lags kinisi_transport fits: 50 evenly spaced from the 100 fs start lag to half the production
    lags = sc.array(dims=["time interval"], values=np.unique(np.round(np.linspace(10, 749, 50)).astype(int))
                    * FRAME_FS, unit="fs")
    analyzer = DiffusionAnalyzer.from_ase(frames, specie="Li", time_step=sc.scalar(FRAME_FS, unit="fs"),
                                          step_skip=sc.scalar(1), dt=lags, progress=False)
    analyzer.diffusion(start_dt=sc.scalar(100.0, unit="fs"), progress=False, random_state=np.random.RandomState(1))
    assert independent.tracer_diffusivity_cm2_s == pytest.approx(sc.mean(analyzer.D).value, rel=0.02)
    assert independent.tracer_diffusivity_std_cm2_s == pytest.approx(sc.std(analyzer.D, ddof=1).value, rel=0.25)


def test_narrow_fit_window_gives_finite_estimates_of_the_analytic_d():
    # 212 frames of 10 fs: the fit runs from the 1 ps lag to half the production (1.05 ps), where the lag-time
    # covariance is near-singular. A plain inverse failed there ("Singular matrix") for 2 of these 12 walks.
    expected = walk_diffusivity(probability=0.05)
    for seed in range(12):
        walk = lattice_walk(True, n_ions=52, n_frames=212, probability=0.05, seed=seed)
        estimate = kinisi_transport(walk, 300.0, 2.0, 5)["all"]
        assert estimate.start_lag_fs == 1000.0 and estimate.max_lag_fs == 1050.0
        assert np.isfinite(estimate.charge_diffusivity_cm2_s) and estimate.charge_diffusivity_std_cm2_s > 0
        assert abs(estimate.tracer_diffusivity_cm2_s - expected) < 4 * estimate.tracer_diffusivity_std_cm2_s


def test_short_production_is_refused():
    from ssbkit.errors import InputError

    with pytest.raises(InputError, match="too short for the kinisi fit"):
        kinisi_transport(lattice_walk(False, n_frames=100), 300.0, 2.0, 5)


def test_grain_boundary_regions_get_their_own_transport_and_ratio():
    # walkers starting within 2 Å of z = 0 or z = 10 Å hop 4x as often: D ratio 4
    z = np.random.default_rng(4).uniform(0, 20.0, (96, 3))[:, 2]  # the walk's starting positions
    near = np.flatnonzero(np.minimum(np.abs(z - 0.0), np.minimum(np.abs(z - 10.0), np.abs(z - 20.0))) <= 2.0)
    frames = lattice_walk(False, n_ions=96, n_frames=1500, probability=0.1, seed=4, fast=near)
    region = GrainBoundaryRegion((0.0, 0.5), 2, 2.0)
    result = analyze_trajectory(frames, 1000, 2.0, 5, grain_boundary=region, start_lag_fs=100.0)
    regions = {r.region: r for r in result.regions}
    assert regions["grain_boundary"].volume_fraction == pytest.approx(0.4, abs=1e-3)  # 2 x 4 Å of 20 Å
    boundary, bulk = regions["grain_boundary"].transport, regions["bulk_like"].transport
    assert boundary.n_ions == len(near)
    assert boundary.tracer_diffusivity_cm2_s == pytest.approx(walk_diffusivity(0.4), rel=0.15)
    assert bulk.tracer_diffusivity_cm2_s == pytest.approx(walk_diffusivity(0.1), rel=0.15)
    ratio = result.boundary_to_bulk
    assert abs(ratio.tracer_diffusivity_ratio - 4.0) < 3 * ratio.tracer_diffusivity_ratio_std
    assert ratio.conductivity_ratio > 1 and ratio.conductivity_ratio_std > 0
    assert result.transport.n_ions == 96


def _entry(temperature: float, configuration: str, diffusivity: float) -> TemperatureDiffusivity:
    transport = TransportEstimate(
        n_ions=64, charge_e=1.0, carrier_volume_A3=8000.0, tracer_diffusivity_cm2_s=diffusivity,
        tracer_diffusivity_std_cm2_s=0.01 * diffusivity, charge_diffusivity_cm2_s=2 * diffusivity,
        charge_diffusivity_std_cm2_s=0.02 * diffusivity, haven_ratio=0.5, haven_ratio_std=0.02,
        conductivity_mS_cm=1.0, conductivity_std_mS_cm=0.1, start_lag_fs=1000.0, max_lag_fs=5000.0)
    return TemperatureDiffusivity(temperature=temperature, diffusivity=diffusivity, diffusivity_std=0.0,
                                  conductivity=0.0, duration_ps=10.0, n_ions=64, time=np.zeros(1),
                                  msd=np.zeros(1), configuration=configuration, transport=transport)


def test_ensemble_arrhenius_averages_configurations_and_reports_their_spread():
    temperatures = [800.0, 1000.0, 1200.0]
    barriers = {"a": 0.30, "b": 0.35}
    entries = [_entry(t, c, 1e-3 * np.exp(-ea / (K_B * t))) for c, ea in barriers.items() for t in temperatures]
    ensemble = ensemble_by_temperature(entries)
    assert [e.configurations for e in ensemble] == [["a", "b"]] * 3
    assert ensemble[0].haven_ratio == pytest.approx(0.5)
    spread = ensemble[0].tracer_diffusivity_spread_cm2_s
    assert ensemble[0].tracer_diffusivity_std_cm2_s == pytest.approx(spread / np.sqrt(2))
    llzo_like = Atoms("Li56La24Zr16O96", positions=np.random.default_rng(0).uniform(0, 13, (192, 3)),
                      cell=[13.0] * 3, pbc=True)
    fit = ensemble_arrhenius(entries, llzo_like, "Li", 300.0)
    assert 0.30 < fit.activation_energy_eV < 0.35
    assert fit.activation_energy_configuration_spread_eV == pytest.approx(np.std([0.30, 0.35], ddof=1), abs=1e-6)
    # resampling two configurations spans both barriers; 1 % errors alone would give ~0.003 eV
    assert 0.01 < fit.activation_energy_std_eV < 0.05
    assert fit.haven_ratio == pytest.approx(0.5) and fit.conductivity_mS_cm > 0
    from pymatgen.analysis.diffusion.analyzer import get_conversion_factor
    from pymatgen.io.ase import AseAtomsAdaptor

    factor = get_conversion_factor(AseAtomsAdaptor.get_structure(llzo_like), "Li", 300.0)
    assert fit.conductivity_mS_cm == pytest.approx(fit.tracer_diffusivity_cm2_s * factor / 0.5)
    refused = ensemble_arrhenius(entries, llzo_like, "Li", 300.0, extrapolate_conductivity=False)
    assert refused.conductivity_mS_cm is None and refused.activation_energy_eV == fit.activation_energy_eV


def test_ensemble_haven_ratio_is_the_ratio_of_the_mean_diffusivities():
    # One configuration's noisy D_sigma below zero (seen in 2.2 ps LLZTO runs) leaves its own Haven ratio
    # undefined; the ensemble's is still mean D* / mean D_sigma, with first-order propagated errors.
    entries = [_entry(1000.0, c, 1e-5) for c in "abc"]
    noisy = entries[2].transport
    noisy.charge_diffusivity_cm2_s, noisy.haven_ratio, noisy.haven_ratio_std = -1e-6, float("nan"), float("nan")
    (ensemble,) = ensemble_by_temperature(entries)
    charge = (2e-5 + 2e-5 - 1e-6) / 3
    assert ensemble.haven_ratio == pytest.approx(1e-5 / charge)
    relative = np.hypot(ensemble.tracer_diffusivity_std_cm2_s / 1e-5, ensemble.charge_diffusivity_std_cm2_s / charge)
    assert ensemble.haven_ratio_std == pytest.approx(ensemble.haven_ratio * relative)


def test_ensemble_md_of_free_particles_follows_einstein(tmp_path):
    """Configurations x temperatures in one batched run: free Li under Langevin friction diffuse with
    D = kT/(m gamma) and, independent, with Haven ratio 1 (3 ps: within the reported uncertainty, which
    holds the configuration spread; the Haven ratio of one 64-ion cell over 3 ps is only roughly known)."""
    from ase import units
    from ase.calculators.calculator import Calculator, all_changes

    class IdealGas(Calculator):
        """Non-interacting atoms: zero energy, forces and stress (the ideal-gas limit)."""

        implemented_properties = ["energy", "forces", "stress"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            self.results = {"energy": 0.0, "forces": np.zeros((len(atoms), 3)), "stress": np.zeros(6)}

    friction, mass = 0.05, 6.94
    members = []
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        gas = Atoms(["Li"] * 64 + ["Au"] * 4, positions=rng.uniform(0, 12, (68, 3)), cell=[12] * 3, pbc=True)
        gas.set_masses([mass] * 64 + [1e6] * 4)
        gas.info["configuration"] = f"gas-{seed}"
        members.append(gas)
    result = diffusion(members, IdealGas(), [300.0, 900.0], tmp_path, timestep=2.0, friction=friction,
                       equilibration_steps=0, production_steps=1500, save_every=10, min_distance=0,
                       min_width_over_cutoff=0)
    assert sorted(p.name for p in tmp_path.glob("replica*.extxyz"))[0] == "replica00_gas-0_300K.extxyz"
    assert {(r.configuration, r.temperature) for r in result.md.replicas} == {
        (c, t) for c in ("gas-0", "gas-1") for t in (300.0, 900.0)}
    assert len(result.ensemble) == 2 and result.ensemble_arrhenius is None  # two temperatures: no fit
    for entry in result.ensemble:
        einstein = units.kB * entry.temperature_K / (mass * friction / units.fs) * units.fs * 0.1
        assert abs(entry.tracer_diffusivity_cm2_s - einstein) < 3 * entry.tracer_diffusivity_std_cm2_s
        assert entry.tracer_diffusivity_std_cm2_s < 0.3 * einstein
        assert abs(entry.haven_ratio - 1.0) < 3 * entry.haven_ratio_std
    again = diffusion_from_trajectories(sorted(tmp_path.glob("replica*.extxyz")))
    assert [e.configuration for e in again.per_temperature] == [e.configuration for e in result.per_temperature]
    assert again.per_temperature[0].transport == result.per_temperature[0].transport


@pytest.mark.slow
@pytest.mark.timeout(14400)  # hours on a 2-core CPU: 6 CHGNet replicas of 188 atoms, 1400 steps each
def test_llzto_ensemble_pipeline_on_cpu(tmp_path):
    """End to end on CPU: two LLZTO configurations (188 atoms) x three temperatures with CHGNet for 2.6 ps,
    batched; kinisi D, Haven ratio and Ea over the ensemble, and sigma(300 K) only when the checks pass.
    Too short for numbers to compare with experiment: this proves the pipeline, the GPU script the physics."""
    import json

    from ssbkit.interfaces.structures.ensembles import build_ensemble, ensemble_atoms, load_parent
    from ssbkit.potentials import load
    from ssbkit.workflows.diffusion import write_result

    members = ensemble_atoms(build_ensemble(load_parent("Li6.5La3Zr1.5Ta0.5O12"), (1, 1, 1), 2, name="LLZTO"))
    result = diffusion(members, load("chgnet", task="md"), [1100.0, 1250.0, 1400.0], tmp_path, timestep=2.0,
                       equilibration_steps=100, production_steps=1300, save_every=10, progress=False)
    assert len(result.md.replicas) == 6 and len(result.ensemble) == 3
    for entry in result.ensemble:
        assert entry.configurations == [m.info["configuration"] for m in members]
        assert entry.tracer_diffusivity_cm2_s > 0 and entry.tracer_diffusivity_std_cm2_s > 0
        assert np.isfinite(entry.haven_ratio) or entry.charge_diffusivity_cm2_s <= 0
    fit = result.ensemble_arrhenius
    assert fit is not None and fit.n_configurations == 2 and fit.activation_energy_std_eV > 0
    refused = any(c.code == "no-extrapolation" for c in result.caveats)
    assert (fit.conductivity_mS_cm is None) == refused
    document = json.loads(write_result(result, tmp_path / "diffusion.json").read_text())
    assert {"ensemble", "ensemble_arrhenius"} <= set(document)
    assert "haven_ratio" in document["per_temperature"][0]["transport"]
