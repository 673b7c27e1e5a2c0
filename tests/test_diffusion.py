"""Replica MD (Langevin, Nose-Hoover chain) and the diffusion analysis, validated against analytic answers.

References used here: the Einstein relation for a free Langevin particle, D = kT/(m*gamma) (exact
for the BAOAB integrator up to a factor (gamma*dt/2)*coth(gamma*dt/2) = 1 + 8e-4 at gamma*dt = 0.1);
a Gaussian random walk whose step variance is 2*D*dt per axis; an Arrhenius law with a chosen Ea;
Nernst-Einstein sigma = n q^2 D / (kB T).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from scipy.stats import linregress
from typer.testing import CliRunner

from ssbkit.cli import app
from ssbkit.errors import CalculationError, InputError
from ssbkit.workflows.diffusion import (
    GrainBoundaryRegion,
    analyze_trajectory,
    diffusion_from_trajectories,
    fit_arrhenius,
)
from ssbkit.workflows.md import read_production, run_replicas

K_B = 8.617333262e-5  # eV/K
FRICTION = 0.05  # 1/fs
LI_MASS = 6.94  # amu (ASE's standard mass for Li is 6.94)


class IdealGas(Calculator):
    """Non-interacting atoms: zero energy, forces and stress (the ideal-gas limit, not a stand-in model)."""

    implemented_properties = ["energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": 0.0, "forces": np.zeros((len(atoms), 3)), "stress": np.zeros(6)}


def einstein_diffusivity(temperature: float) -> float:
    """D = kT/(m gamma) of a free Li atom under the Langevin thermostat, in cm²/s."""
    d_ase = units.kB * temperature / (LI_MASS * FRICTION / units.fs)  # Å² per ASE time unit
    return d_ase * units.fs * 0.1  # Å²/fs -> cm²/s


@pytest.fixture(scope="module")
def ideal_gas_run(tmp_path_factory):
    """128 free Li (plus 4 immobile framework atoms that reference the drift) at 300 K and 1200 K."""
    rng = np.random.default_rng(0)
    n_li = 128
    gas = Atoms(["Li"] * n_li + ["Au"] * 4, positions=rng.uniform(0, 12, (n_li + 4, 3)), cell=[12] * 3,
                pbc=True)
    gas.set_masses([LI_MASS] * n_li + [1e6] * 4)
    directory = tmp_path_factory.mktemp("ideal-gas")
    md = run_replicas([gas, gas], [300, 1200], IdealGas(), directory, timestep=2.0, friction=FRICTION,
                      equilibration_steps=0, production_steps=3000, save_every=10, min_distance=0, seed=3)
    return md, directory


def test_free_particles_diffuse_with_einstein_coefficient(ideal_gas_run):
    # 128 Li over 6 ps give D to about 5 % (block standard error); 15 % is 3 sigma.
    md, directory = ideal_gas_run
    assert [r.n_frames for r in md.replicas] == [301, 301]
    result = diffusion_from_trajectories([r.path for r in md.replicas], plot_directory=directory)
    for entry in result.per_temperature:
        expected = einstein_diffusivity(entry.temperature)
        assert entry.diffusivity == pytest.approx(expected, rel=0.15)
        assert 0 < entry.diffusivity_std < 0.1 * expected
    # The thermostat holds each replica at its own temperature (equipartition of 3N dof).
    for replica in md.replicas:
        assert replica.mean_temperature == pytest.approx(replica.temperature, rel=0.03)
    # Two temperatures back no Arrhenius extrapolation (a free particle's D is not Arrhenius anyway).
    assert result.arrhenius is None and "arrhenius" not in result.plots
    assert [c.code for c in result.caveats] == ["no-extrapolation"]
    assert result.plots["msd"].stat().st_size > 0


def random_walk_frames(d_cm2s: np.ndarray, frame_fs: float, n_frames: int, cell: float, seed: int,
                       li_z: np.ndarray | None = None) -> list[Atoms]:
    """Li doing Gaussian random walks with per-ion D (cm²/s), plus 8 La that only share a uniform drift
    with everything (the drift the analysis must remove)."""
    rng = np.random.default_rng(seed)
    n_li = len(d_cm2s)
    start = rng.uniform(0, cell, (n_li + 8, 3))
    if li_z is not None:
        start[:n_li, 2] = li_z
    sigma = np.zeros(n_li + 8)
    sigma[:n_li] = np.sqrt(2 * d_cm2s * 10 * frame_fs)  # cm²/s -> Å²/fs is *10
    steps = rng.standard_normal((n_frames - 1, n_li + 8, 3)) * sigma[None, :, None]
    steps += np.array([0.02, -0.01, 0.015])  # Å per frame, common drift
    positions = start + np.concatenate([np.zeros((1, n_li + 8, 3)), np.cumsum(steps, axis=0)])
    return [Atoms(["Li"] * n_li + ["La"] * 8, positions=p, cell=[cell] * 3, pbc=True) for p in positions]


def test_random_walk_with_drift_gives_known_diffusivity():
    d_true = 2e-5  # cm²/s
    frames = random_walk_frames(np.full(200, d_true), frame_fs=10.0, n_frames=1000, cell=15.0, seed=1)
    result = analyze_trajectory(frames, temperature=800, timestep=2.0, save_every=5)
    # 200 walkers over 10 ps: about 4 % statistical error; 12 % is 3 sigma. The drift would add
    # |v|^2 t^2 ~ 0.0007 t^2 Å^2 (t in frames) and double D within 1 ps if it were not removed.
    assert result.diffusivity == pytest.approx(d_true, rel=0.12)
    assert abs(result.diffusivity - d_true) < 4 * result.diffusivity_std
    assert result.n_ions == 200 and result.duration_ps == pytest.approx(9.99)
    # Nernst-Einstein with Haven ratio 1: sigma = n e^2 D / (kB T), n = N_Li / V.
    n = 200 / (15.0e-10) ** 3
    sigma_s_per_m = n * 1.602176634e-19**2 * result.diffusivity * 1e-4 / (1.380649e-23 * 800)
    assert result.conductivity == pytest.approx(sigma_s_per_m * 10, rel=1e-3)  # 1 S/m = 10 mS/cm


def test_wrapped_and_unwrapped_trajectories_agree():
    frames = random_walk_frames(np.full(40, 5e-5), frame_fs=10.0, n_frames=300, cell=10.0, seed=2)
    wrapped = [frame.copy() for frame in frames]
    for frame in wrapped:
        frame.wrap()
    a = analyze_trajectory(frames, 900, 2.0, 5)
    b = analyze_trajectory(wrapped, 900, 2.0, 5)
    assert a.diffusivity == pytest.approx(b.diffusivity, rel=1e-9)


def test_grain_boundary_regions_recover_their_own_diffusivity():
    # Li starting within 2 Å of the planes z = 0 and z = 0.5 (of a 20 Å cell) diffuse 5x faster.
    rng = np.random.default_rng(4)
    z = np.concatenate([rng.uniform(-1.5, 1.5, 100) % 20.0, rng.uniform(8.5, 11.5, 100),
                        rng.uniform(3.5, 6.5, 100), rng.uniform(13.5, 16.5, 100)])
    d = np.where(np.arange(400) < 200, 1e-4, 2e-5)
    frames = random_walk_frames(d, frame_fs=10.0, n_frames=1000, cell=20.0, seed=5, li_z=z)
    result = analyze_trajectory(frames, 1000, 2.0, 5, grain_boundary=GrainBoundaryRegion((0.0, 0.5), 2, 2.0))
    regions = {r.region: r for r in result.regions}
    assert regions["grain_boundary"].n_ions == 200 and regions["bulk_like"].n_ions == 200
    # 200 walkers over 10 ps each: about 4 % error (seen over seeds); 15 % is over 3 sigma.
    assert regions["grain_boundary"].diffusivity == pytest.approx(1e-4, rel=0.15)
    assert regions["bulk_like"].diffusivity == pytest.approx(2e-5, rel=0.15)
    assert result.diffusivity == pytest.approx(6e-5, rel=0.15)


def test_arrhenius_fit_recovers_activation_energy_and_extrapolates():
    structure = Atoms(["Li"] * 10 + ["O"] * 5, positions=np.random.default_rng(0).uniform(0, 8, (15, 3)),
                      cell=[8] * 3, pbc=True)
    temperatures = np.array([600.0, 800.0, 1000.0, 1200.0])
    exact = 1e-2 * np.exp(-0.3 / (K_B * temperatures))
    fit = fit_arrhenius(temperatures, exact, structure)
    assert fit.activation_energy == pytest.approx(0.3, abs=1e-6)
    assert fit.prefactor == pytest.approx(1e-2, rel=1e-5)
    d_300 = 1e-2 * np.exp(-0.3 / (K_B * 300))
    assert fit.diffusivity == pytest.approx(d_300, rel=1e-4)
    n = 10 / (8e-10) ** 3
    sigma = n * 1.602176634e-19**2 * d_300 * 1e-4 / (1.380649e-23 * 300) * 10  # mS/cm
    assert fit.conductivity == pytest.approx(sigma, rel=1e-3)
    # 10 % log-normal noise on D. Reference: ordinary least squares of ln D on 1/T by scipy.stats.linregress
    # (slope -Ea/kB, intercept ln D0, textbook standard error of the slope with n - 2 degrees of freedom),
    # extrapolated to 300 K by hand; and Ea within 3 of those standard errors of the true 0.3 eV.
    noisy = exact * np.exp(np.random.default_rng(1).normal(0, 0.1, 4))
    fit = fit_arrhenius(temperatures, noisy, structure)
    ols = linregress(1 / temperatures, np.log(noisy))
    assert fit.activation_energy == pytest.approx(-ols.slope * K_B, rel=1e-6)
    assert fit.activation_energy_std == pytest.approx(ols.stderr * K_B, rel=1e-6)
    assert fit.prefactor == pytest.approx(np.exp(ols.intercept), rel=1e-6)
    assert fit.diffusivity == pytest.approx(np.exp(ols.intercept + ols.slope / 300), rel=1e-6)
    assert abs(fit.activation_energy - 0.3) < 3 * fit.activation_energy_std
    with pytest.raises(InputError, match="positive diffusivities"):
        fit_arrhenius(temperatures, [1e-5, 0.0, 1e-5, 1e-4], structure)


def test_batched_replicas_follow_the_same_trajectory_as_one_alone(tmp_path):
    # Batching only changes how forces are requested: replica 0 of a batch of two must match the
    # same replica run alone (same seed stream) to round-off.
    copper = bulk("Cu", cubic=True).repeat(2)
    batch = run_replicas([copper, copper], [300, 900], EMT(), tmp_path / "batch", equilibration_steps=10,
                         production_steps=30, save_every=10)
    alone = run_replicas([copper], [300], EMT(), tmp_path / "alone", equilibration_steps=10,
                         production_steps=30, save_every=10)
    np.testing.assert_allclose(batch.replicas[0].atoms.positions, alone.replicas[0].atoms.positions, atol=1e-10)
    assert not np.allclose(batch.replicas[1].atoms.positions, alone.replicas[0].atoms.positions)
    frames = read_production(batch.replicas[1].path)
    assert [f.info["step"] for f in frames] == [10, 20, 30, 40]
    assert copper.get_momenta().sum() == 0  # input untouched



def test_nose_hoover_chain_samples_the_canonical_ensemble_and_conserves_its_energy(tmp_path):
    """Nose-Hoover chain on EMT Cu (32 atoms, 500 K, 5 ps): references are analytic. The kinetic
    temperature averages to the target and fluctuates canonically, std(T)/<T> = sqrt(2/N_f) with
    N_f = 3N - 3 = 93 (0.147); the extended energy of Martyna et al. (1992) is conserved; the total
    momentum stays zero. Measured: <T> 487.5 K, std/<T> 0.160, extended energy within 9e-5 eV/atom
    (108 atoms, 10 ps at 300 and 600 K: 299.7 / 601.6 K, 0.0784 / 0.0786 vs 0.0789, 2e-5 / 6e-5 eV/atom).
    Tolerances: 5 % on <T> and 20 % on the fluctuation for ~100 correlated samples per tdamp-long stretch."""
    copper = bulk("Cu", cubic=True).repeat(2)
    run = run_replicas([copper], [500.0], EMT(), tmp_path, thermostat="nose-hoover", tdamp=50.0,
                       equilibration_steps=500, production_steps=2500, save_every=5)
    frames = read_production(run.replicas[0].path)
    temperatures = np.array([frame.info["kinetic_temperature_K"] for frame in frames])
    extended = np.array([frame.info["conserved_energy_eV"] for frame in frames])
    assert temperatures.mean() == pytest.approx(500.0, rel=0.05)
    assert temperatures.std() / temperatures.mean() == pytest.approx(np.sqrt(2 / 93), rel=0.2)
    assert np.ptp(extended) / len(copper) < 5e-4
    np.testing.assert_allclose(frames[-1].get_momenta().sum(axis=0), 0.0, atol=1e-6)
    with pytest.raises(InputError, match="unknown thermostat"):
        run_replicas([copper], [500.0], EMT(), tmp_path / "bad", thermostat="berendsen")


def test_rejects_nonpositive_temperature(tmp_path):
    with pytest.raises(InputError, match=r"temperatures\[0\] = 0.0 is out of range: expected > 0 K"):
        run_replicas([bulk("Cu")], [0.0], EMT(), tmp_path)


def test_overlapping_atoms_are_refused_before_any_step(tmp_path):
    pair = Atoms("Cu2", positions=[[0, 0, 0], [0.3, 0, 0]], cell=[8] * 3, pbc=True)
    with pytest.raises(CalculationError, match="closer than the physical minimum"):
        run_replicas([pair], [300], EMT(), tmp_path)


def test_blow_up_stops_with_error_and_keeps_the_trajectory(tmp_path):
    # A 25 fs time step for Lennard-Jones argon at 3000 K drives atoms into the repulsive wall.
    argon = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(2)
    lj = LennardJones(sigma=3.4, epsilon=0.0104, rc=8.0, smooth=True)
    with pytest.raises(CalculationError, match="unstable dynamics"):
        run_replicas([argon], [3000], lj, tmp_path, timestep=25.0, equilibration_steps=0,
                     production_steps=500, save_every=1)
    path = tmp_path / "replica00_3000K.extxyz"
    frames = read_production(path)
    assert len(frames) >= 2  # everything up to the failing step is on disk and readable
    # A frame cut short (as by a killed process) is skipped; the complete ones are still read.
    with path.open("a") as stream:
        stream.write(path.read_text().splitlines(keepends=True)[0] + "Ar 0.0 0.0\n")
    assert len(read_production(path)) == len(frames)


def test_nan_forces_stop_the_run(tmp_path):
    class NaNForces(EMT):
        def calculate(self, *args, **kwargs):
            super().calculate(*args, **kwargs)
            self.results["forces"] = np.full_like(self.results["forces"], np.nan)

    with pytest.raises(CalculationError, match="unstable dynamics at step 0"):
        run_replicas([bulk("Cu", cubic=True)], [300], NaNForces(), tmp_path)


def test_cli_analyze_prints_one_json_document(ideal_gas_run):
    _, directory = ideal_gas_run
    result = CliRunner().invoke(app, ["diffusion", "analyze", str(directory), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    temperatures = [entry["temperature"] for entry in document["per_temperature"]]
    assert temperatures == [300.0, 1200.0]
    assert document["arrhenius"] is None  # two temperatures: not extrapolated
    assert document["caveats"][0]["code"] == "no-extrapolation"
    assert all(entry["hops_seen"] > 3 for entry in document["per_temperature"])


def test_cli_errors_exit_with_code_2(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["diffusion", "analyze", str(tmp_path / "empty")])
    assert result.exit_code == 2
    result = CliRunner().invoke(app, ["diffusion", "run", str(tmp_path / "missing.cif"), "-t", "600"])
    assert result.exit_code == 2
    bulk("Li", cubic=True).write(tmp_path / "li.cif")
    result = CliRunner().invoke(app, ["diffusion", "run", str(tmp_path / "li.cif"), "-t", "-5"])
    assert result.exit_code == 2 and "temperature" in result.output


def test_cli_run_with_chgnet_keeps_trajectories_and_says_when_too_short(tmp_path):
    # Real model (CHGNet ships in its wheel) on 8 Li in Mg, 150 atoms (narrowest width 13.9 Å, over twice
    # CHGNet's 6 Å cutoff), two temperatures, 4 steps: the MD runs and is saved, and the analysis refuses an
    # 8 fs production with a clear message.
    cell = bulk("Mg", "hcp", a=3.21, c=5.21).repeat((5, 5, 3))
    cell.symbols[::19] = "Li"
    cell.write(tmp_path / "li_in_mg.extxyz")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "diffusion", "run", str(tmp_path / "li_in_mg.extxyz"), "-t", "600", "-t", "900", "--device", "cpu",
        "--equilibration-steps", "0", "--production-steps", "4", "--save-every", "2", "--out", str(out)])
    assert result.exit_code == 2 and "too short" in result.output
    for name in ("replica00_600K.extxyz", "replica01_900K.extxyz"):
        frames = read_production(out / name)
        assert [f.info["step"] for f in frames] == [0, 2, 4]
        assert np.isfinite(frames[-1].get_momenta()).all()


def _activation_energy_run(atoms: Atoms, temperatures: list[float], directory, production_steps: int):
    from ssbkit.potentials import load
    from ssbkit.workflows.diffusion import diffusion

    result = diffusion(atoms, load("chgnet", task="md"), temperatures, directory, timestep=2.0,
                       equilibration_steps=1000, production_steps=production_steps, save_every=20)
    fit = result.arrhenius
    assert fit is not None, [c.message for c in result.caveats]
    print(f"\n{atoms.get_chemical_formula()} CHGNet 0.3.0, {len(atoms)} atoms, 2 ps equilibration + "
          f"{production_steps * 2 / 1000:g} ps production per T:")
    for entry in result.per_temperature:
        print(f"  {entry.temperature:g} K: D = {entry.diffusivity:.3g} ± {entry.diffusivity_std:.2g} cm²/s")
    print(f"  Ea = {fit.activation_energy:.3f} ± {fit.activation_energy_std} eV, "
          f"sigma(300 K) = {fit.conductivity:.3g} mS/cm, steps/s = {result.md.steps_per_second:.2f}")
    return fit


@pytest.mark.slow
@pytest.mark.gpu
def test_li6ps5cl_activation_energy_with_chgnet(tmp_path):
    # Reference: AIMD 0.2-0.3 eV (de Klerk et al., Chem. Mater. 28, 7955, 2016), experiment 0.29-0.31 eV.
    # MPtrj-trained potentials soften barriers, and 10 ps at three temperatures leaves about
    # +-0.05 eV of statistical error, so the check is the physically plausible window 0.1-0.4 eV.
    library = pytest.importorskip("ssbkit.interfaces.structures.references")
    from pymatgen.io.ase import AseAtomsAdaptor

    cell = AseAtomsAdaptor.get_atoms(library.load_reference_structure("Li6PS5Cl") * (3, 3, 3))  # 17 Å wide
    fit = _activation_energy_run(cell, [700.0, 900.0, 1100.0], tmp_path, production_steps=5000)
    assert 0.1 < fit.activation_energy < 0.4


@pytest.mark.slow
@pytest.mark.gpu
def test_cubic_llzo_activation_energy_with_chgnet(tmp_path):
    # Reference: AIMD 0.26 +- 0.02 eV for cubic LLZO (He et al., npj Comput. Mater. 4, 18, 2018);
    # experiment on LLZTO about 0.45 eV. Same statistical caveat as above: window 0.1-0.5 eV.
    llzo = pytest.importorskip("ssbkit.interfaces.structures.llzo")
    fit = _activation_energy_run(llzo.cubic_llzo(), [900.0, 1100.0, 1300.0], tmp_path, production_steps=5000)
    assert 0.1 < fit.activation_energy < 0.5


def test_structure_without_li_is_refused(tmp_path):
    from ssbkit.workflows.diffusion import diffusion

    with pytest.raises(InputError, match="no Li atoms"):
        diffusion(bulk("Cu", cubic=True), EMT(), [600], tmp_path)


def test_grain_boundary_planes_from_the_bicrystal_grain_array():
    # Grain 1 below z = 10 Å, grain 0 above, in a 20 Å cell: boundaries at z = 0 and 10 Å (fractional
    # 0.0 and 0.5), to be found from the 'grain' array as `ssbkit build gb` writes it.
    rng = np.random.default_rng(4)
    z = np.concatenate([rng.uniform(-1.5, 1.5, 100) % 20.0, rng.uniform(8.5, 11.5, 100),
                        rng.uniform(3.5, 6.5, 100), rng.uniform(13.5, 16.5, 100)])
    frames = random_walk_frames(np.full(400, 1e-5), frame_fs=10.0, n_frames=50, cell=20.0, seed=5, li_z=z)
    first = frames[0]
    first.set_array("grain", (first.get_scaled_positions()[:, 2] < 0.5).astype(int))
    region = GrainBoundaryRegion.from_bicrystal(first, width=2.0)
    shifted = sorted((plane + 0.25) % 1.0 for plane in region.planes)  # 0 -> 0.25, 0.5 -> 0.75, no wrap
    assert shifted == pytest.approx([0.25, 0.75], abs=0.01)
    np.testing.assert_array_equal(GrainBoundaryRegion(width=2.0).mask(first), region.mask(first))
    assert GrainBoundaryRegion(width=2.0).mask(first)[:400].sum() == 200
    no_grains = frames[1]
    with pytest.raises(InputError, match="grain"):
        GrainBoundaryRegion().mask(no_grains)


@pytest.mark.slow
def test_llzo_bicrystal_li_split_into_boundary_and_bulk_regions():
    # The Sigma 5 (001) cubic-LLZO bicrystal of ssbkit's structure builder (1920 atoms, ~1 min to build):
    # the two boundaries are half a cell apart, and a 3 Å half-width slab around each holds about
    # 4 * 3 Å / c of the Li (Li are spread through the garnet), so the fraction is checked to +-0.1.
    from ssbkit.interfaces.structures.llzo import llzo_grain_boundary

    atoms = llzo_grain_boundary().atoms
    region = GrainBoundaryRegion.from_bicrystal(atoms, width=3.0)
    assert (region.planes[1] - region.planes[0]) % 1.0 == pytest.approx(0.5, abs=0.02)
    li = np.array(atoms.get_chemical_symbols()) == "Li"
    fraction = (region.mask(atoms) & li).sum() / li.sum()
    assert fraction == pytest.approx(4 * 3.0 / atoms.cell.cellpar()[2], abs=0.1)
