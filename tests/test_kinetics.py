"""Harmonic transition-state rates and kinetic Monte Carlo (ssbkit.workflows.kinetics, ssbkit.workflows.kmc).

References:
- kMC on single-class lattices: D = z Gamma l² / 6 (random walk on a Bravais lattice; simple cubic z = 6,
  l = a; the 12 tetrahedral sites of bcc, z = 4, l = a sqrt(2)/4, found by ssbkit's own site finder).
- Two-class network (ReO3 topology: A at cube corners, B at edge centres, A <-> B hops only): every site's
  jumps are inversion-symmetric, so jumps are uncorrelated and D = (1/6) sum_i p_i sum_j Gamma_ij l² with the
  Boltzmann occupancies p; with detailed balance D = (a²/2) p_A Gamma_AB, p_A = 1 / (1 + 3 exp(-dE/kT)).
- Vineyard prefactor: a particle on an analytic washboard potential whose transverse stiffness changes
  between minimum and saddle, nu* = nu_x (1 + beta) / (1 - beta); and an Al adatom hop on Al(100) with
  ASE's EMT, against the frequencies of ASE's own ``ase.vibrations.Vibrations`` on the same atoms.
- Cu vacancy self-diffusion with EMT through the CLI: tracer experiments give Q = 2.08 eV (Bowden & Balluffi,
  Phil. Mag. 19, 1001 (1969)) and 2.17 eV (Krautheim et al., Kristall und Technik 14, 1491 (1979)); EMT with
  harmonic rates and its own E_f gives Ea within 0.2 eV of 2.12 eV.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from ase import Atoms
from ase.build import add_adsorbate, bulk, fcc100
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms
from typer.testing import CliRunner

from cli_helpers import fails_cleanly
from ssbkit.cli import app
from ssbkit.errors import CalculationError, InputError
from ssbkit.interfaces.structures.sites import all_interstitial_positions
from ssbkit.workflows.kinetics import (
    CODE_PREFACTOR,
    KineticsSettings,
    check_barriers,
    check_temperatures,
    hessian_atoms,
    implausible_prefactor,
    normal_mode_frequencies,
    vineyard_prefactor,
)
from ssbkit.workflows.kmc import (
    CODE_LOW_DIMENSION,
    CODE_NO_PERCOLATION,
    network_from_sites,
    percolation_dimension,
    tracer_diffusivity,
)
from ssbkit.workflows.neb import neb

CM2 = 1e-16  # Å² -> cm²


def within_error(result, expected: float, sigmas: float = 4.0) -> bool:
    return abs(result.diffusivity_cm2_per_s - expected) < sigmas * result.diffusivity_std_cm2_per_s


def test_simple_cubic_matches_z_gamma_l2_over_6():
    a, gamma = 2.5, 1e10
    network = network_from_sites(np.eye(3) * a, [[0, 0, 0]], ["A"], a + 0.01)
    assert len(network.sources) == 6
    result = tracer_diffusivity(network, np.full(6, gamma), n_walkers=2000, n_steps=1000)
    assert result.percolation_dimension == 3
    assert within_error(result, 6 * gamma * a**2 / 6 * CM2)
    assert result.diffusivity_std_cm2_per_s < 0.05 * result.diffusivity_cm2_per_s


def test_bcc_tetrahedral_network_from_site_finder():
    a, gamma = 3.165, 3e11
    host = bulk("W", "bcc", a=a, cubic=True)
    positions, labels = all_interstitial_positions(host, "Li")
    assert len(positions) == 12
    length = a * math.sqrt(2) / 4
    network = network_from_sites(host.cell[:], positions, labels, length + 0.01)
    assert np.bincount(network.sources).tolist() == [4] * 12
    result = tracer_diffusivity(network, np.full(len(network.sources), gamma), n_walkers=2000, n_steps=1000, seed=3)
    assert within_error(result, 4 * gamma * length**2 / 6 * CM2)


def test_two_class_network_against_boltzmann_solution():
    a, nu, kT = 3.0, 1e13, 0.05
    saddle, e_a, e_b = 0.4, 0.0, 0.15  # eV: A deep, B shallow
    positions = np.array([[0, 0, 0], [a / 2, 0, 0], [0, a / 2, 0], [0, 0, a / 2]])
    network = network_from_sites(np.eye(3) * a, positions, list("ABBB"), a / 2 + 0.01)
    from_a = network.sources == 0
    rates = np.where(from_a, nu * np.exp(-(saddle - e_a) / kT), nu * np.exp(-(saddle - e_b) / kT))
    result = tracer_diffusivity(network, rates, n_walkers=2000, n_steps=2000, seed=1)
    p_a = 1 / (1 + 3 * np.exp(-(e_b - e_a) / kT))
    assert within_error(result, a**2 / 2 * p_a * rates[from_a][0] * CM2)


def test_no_percolating_path_gives_zero_with_caveat():
    """Sites 1 Å apart in a 4 Å cell with hops up to 1.5 Å: pairs, no path to the next cell."""
    network = network_from_sites(np.eye(3) * 4.0, [[0, 0, 0], [1, 0, 0]], ["A", "A"], 1.5)
    assert percolation_dimension(network)[0] == 0
    result = tracer_diffusivity(network, np.ones(len(network.sources)))
    assert result.diffusivity_cm2_per_s == 0
    assert [c.code for c in result.caveats] == [CODE_NO_PERCOLATION]


def test_layer_network_percolates_in_two_dimensions():
    network = network_from_sites(np.diag([3.0, 3.0, 10.0]), [[0, 0, 0]], ["A"], 3.01)
    result = tracer_diffusivity(network, np.ones(len(network.sources)), n_walkers=256, n_steps=200)
    assert result.percolation_dimension == 2
    assert CODE_LOW_DIMENSION in [c.code for c in result.caveats]
    assert result.diffusivity_axes_cm2_per_s[2] == 0


def test_bad_rates_and_temperatures():
    network = network_from_sites(np.eye(3) * 3.0, [[0, 0, 0]], ["A"], 3.01)
    with pytest.raises(InputError, match="non-negative"):
        tracer_diffusivity(network, -np.ones(6))
    for temperatures in ([300, 0], [-5], []):
        with pytest.raises(InputError):
            check_temperatures(temperatures)
    with pytest.raises(CalculationError, match="final endpoint is not a minimum"):
        check_barriers("hop", 0.3, -0.05)
    with pytest.raises(InputError, match="out of range"):
        KineticsSettings(temperatures=(300, -1))


class Washboard(Calculator):
    """One atom on V = A/2 (1 - cos qx) + k/2 (1 + beta cos qx)(y² + z²), q = 2 pi / period (eV, Å)."""

    implemented_properties = ("energy", "forces")

    def __init__(self, amplitude=0.4, period=2.5, stiffness=2.0, beta=0.3):
        super().__init__()
        self.amplitude, self.period, self.stiffness, self.beta = amplitude, period, stiffness, beta

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        x, y, z = self.atoms.positions[0]
        q = 2 * np.pi / self.period
        transverse = self.stiffness * (1 + self.beta * np.cos(q * x))
        r2 = y * y + z * z
        energy = self.amplitude / 2 * (1 - np.cos(q * x)) + 0.5 * transverse * r2
        fx = -(self.amplitude / 2 - 0.5 * self.stiffness * self.beta * r2) * q * np.sin(q * x)
        self.results = {"energy": energy, "forces": np.array([[fx, -transverse * y, -transverse * z]])}


def test_vineyard_prefactor_of_analytic_washboard():
    """Tolerance 0.1 %: central differences with 0.01 Å on a potential with 2.5 Å period."""
    calc = Washboard()
    minimum = Atoms("Cu", positions=[[0, 0, 0]], cell=[10, 10, 10])
    saddle = Atoms("Cu", positions=[[calc.period / 2, 0, 0]], cell=[10, 10, 10])
    result = vineyard_prefactor(minimum, saddle, calc, [0])
    mass = minimum.get_masses()[0]
    curvature = calc.amplitude / 2 * (2 * np.pi / calc.period) ** 2  # eV/Å²
    nu_x = math.sqrt(curvature / mass * 1.602176634e-19 / 1.66053906660e-27) * 1e10 / (2 * np.pi)
    assert result.n_imaginary_saddle == 1 and result.n_imaginary_minimum == 0
    assert result.prefactor_Hz == pytest.approx(nu_x * (1 + calc.beta) / (1 - calc.beta), rel=1e-3)


def test_saddle_without_imaginary_mode_is_an_error_or_caveat():
    calc = Washboard()
    minimum = Atoms("Cu", positions=[[0, 0, 0]], cell=[10, 10, 10])
    with pytest.raises(CalculationError, match="0 imaginary modes"):
        vineyard_prefactor(minimum, minimum.copy(), calc, [0])
    result = vineyard_prefactor(minimum, minimum.copy(), calc, [0], bad_saddle="caveat")
    assert [c.code for c in result.caveats] == ["saddle-modes"]


def test_emt_adatom_prefactor_matches_ase_vibrations(tmp_path, monkeypatch):
    """Same atoms (adatom + neighbours within 3.2 Å), same displacement: frequencies from ssbkit's batched
    Hessian and ASE's Vibrations agree to 0.5 %, and so do the Vineyard products built from them."""
    from ase.vibrations import Vibrations

    monkeypatch.chdir(tmp_path)
    slab = fcc100("Al", size=(3, 3, 3), vacuum=6.0)
    add_adsorbate(slab, "Al", 1.7, "hollow")
    slab.set_constraint(FixAtoms(mask=[atom.tag > 1 for atom in slab]))
    final = slab.copy()
    final.positions[-1, 0] += 4.05 / math.sqrt(2)
    path = neb(slab, final, EMT(), n_images=3, fmax=0.01, endpoint_fmax=0.005)
    minimum, saddle = path.images[0], path.images[path.saddle_index]
    indices = hessian_atoms([minimum, saddle], len(slab) - 1, 3.2)
    ours = vineyard_prefactor(minimum, saddle, EMT(), indices)
    reference = []
    for name, atoms in (("min", minimum), ("saddle", saddle)):
        atoms = atoms.copy()
        atoms.calc = EMT()
        vib = Vibrations(atoms, indices=indices, name=name, delta=0.01)
        vib.run()
        energies = vib.get_energies()  # eV, imaginary as complex
        signed = np.where(np.abs(energies.imag) > 0, -np.abs(energies), energies.real)
        reference.append(np.sort(signed) / 4.135667696e-15)  # eV -> Hz (h = 4.1357e-15 eV s)
    assert np.allclose(ours.minimum_frequencies_THz * 1e12, reference[0], rtol=5e-3, atol=1e10)
    assert np.allclose(ours.saddle_frequencies_THz * 1e12, reference[1], rtol=5e-3, atol=1e10)
    expected = np.exp(np.log(reference[0]).sum() - np.log(np.abs(reference[1][1:])).sum())
    assert ours.n_imaginary_saddle == 1
    assert ours.prefactor_Hz == pytest.approx(expected, rel=5e-3)
    assert 1e12 < ours.prefactor_Hz < 2e13
    assert implausible_prefactor("adatom", ours.prefactor_Hz) is None


def test_implausible_prefactor_is_flagged():
    """1.3e15 Hz is what CHGNet's flat bcc Li vacancy saddle gave with a 5.5 Å Hessian cutoff (measured); MD with
    the same model jumped at 0.13-0.31 of the rate its 3.2 Å prefactor (1.3e14 Hz) implies."""
    caveat = implausible_prefactor("li-vacancy", 1.3e15)
    assert caveat.code == CODE_PREFACTOR and "1.3e+15 Hz" in caveat.message
    assert implausible_prefactor("li-vacancy", 5e12) is None


def test_normal_modes_of_a_spring():
    """Two 1 amu masses joined by a 1 eV/Å² spring along x: one mode at sqrt(2k/m)/2pi, five at zero."""
    k = 1.0
    hessian = np.zeros((6, 6))
    hessian[np.ix_([0, 3], [0, 3])] = [[k, -k], [-k, k]]
    modes = normal_mode_frequencies(hessian, [1.0, 1.0])
    expected = math.sqrt(2 * k * 1.602176634e-19 / 1.66053906660e-27) * 1e10 / (2 * np.pi)
    assert modes[-1] == pytest.approx(expected, rel=1e-9)
    assert np.allclose(modes[:-1], 0, atol=1e3)


def test_cli_cu_vacancy_with_emt(tmp_path):
    from ase.io import write

    host = tmp_path / "cu.cif"
    write(host, bulk("Cu", "fcc", a=3.6, cubic=True))
    plot = tmp_path / "arrhenius.png"
    md = tmp_path / "diffusion.json"  # the shape of `ssbkit diffusion run --json`: its points join the plot
    md.write_text(json.dumps({"per_temperature": [{"temperature": 1300.0, "diffusivity": 1e-9,
                                                   "diffusivity_std": 2e-10}]}))
    result = CliRunner().invoke(app, ["kinetics", str(host), "-m", "emt", "--mechanism", "vacancy", "--species", "Cu",
                                      "--max-length", "2.6", "--supercell-min-length", "7", "--temperatures",
                                      "900,1100,1300", "--kmc-walkers", "512", "--kmc-steps", "200", "--json",
                                      "--plot", str(plot), "--md-results", str(md)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    (hop,) = document["hops"]
    assert hop["count_per_site"] == 12
    assert hop["length_A"] == pytest.approx(3.6 / math.sqrt(2), abs=1e-3)
    assert 0.5 < hop["barrier_eV"] < 1.0 and 1e12 < hop["prefactor_Hz"] < 2e13
    assert CODE_PREFACTOR not in {caveat["code"] for caveat in document["caveats"]}
    assert document["correlation_factor"] == pytest.approx(0.7815)
    assert 1.0 < document["vacancy_formation_energy_eV"] < 1.5
    assert document["temperatures_K"] == [900, 1100, 1300]
    d = document["D_cm2_per_s"]
    assert d[0] < d[1] < d[2]
    assert document["arrhenius"]["activation_energy_eV"] == pytest.approx(2.12, abs=0.2)
    assert plot.stat().st_size > 0


def test_cli_bad_input(tmp_path):
    fails_cleanly(["kinetics", "w", "-m", "emt", "--temperatures", "300,-4"], "out of range")
    fails_cleanly(["kinetics", "w", "-m", "emt", "--mechanism", "vacancy"], "no vacancy hop studies")
    fails_cleanly(["kinetics", str(tmp_path / "missing.cif"), "-m", "emt"], "missing.cif")
    bad = tmp_path / "md.json"
    bad.write_text("{}")
    fails_cleanly(["kinetics", "w", "-m", "emt", "--md-results", str(bad)], "diffusion run --json")


@pytest.mark.slow
@pytest.mark.parametrize(("host", "mechanism"), [("w", "interstitial"), ("mg", "vacancy"), ("li", "vacancy")])
def test_named_hosts_with_chgnet(host, mechanism):
    """Room-temperature D of the seed paper's systems; orders of magnitude, not values, are asserted: Li in Mg
    ~1e-11 and Li self-diffusion ~1e-10 cm²/s at 300 K (seed paper). Li in W is refused: CHGNet's T->T path
    dips 0.10 eV below its tetrahedral endpoints (CHGNet puts Li on the octahedral site; DFT has a 0.28 eV T-T
    barrier, docs/trust.md), so the tetrahedral site is no minimum of this model and no rate can rest on it."""
    from ssbkit.errors import CalculationError
    from ssbkit.potentials import load
    from ssbkit.workflows.kinetics import kinetics, named_system

    settings = KineticsSettings(mechanism=mechanism, temperatures=(300.0, 600.0), bad_saddle="caveat")
    if host == "w":
        with pytest.raises(CalculationError, match="highest point of the path is an endpoint.*not a minimum"):
            kinetics(named_system(host, mechanism), load("chgnet", task="neb"), settings)
        return
    result = kinetics(named_system(host, mechanism), load("chgnet", task="neb"), settings)
    assert all(d > 0 for d in result.D_cm2_per_s)
    if host in ("mg", "li"):
        assert 1e-15 < result.D_cm2_per_s[0] < 1e-7


def test_runner_kind_matches_a_direct_call(tmp_path):
    """A kinetics task through the runner (EMT, Cu vacancy, E_f given) stores what a direct call returns."""
    from runner_helpers import write_spec

    from ssbkit.workflows.kinetics import host_system, kinetics
    from ssbkit.workflows.runner import load_spec, run_spec, spec_results

    parameters = {"mechanism": "vacancy", "species": "Cu", "max_length": 2.6, "supercell_min_length": 7.0,
                  "temperatures": (1000.0,), "vacancy_formation_energy": 1.2, "kmc_walkers": 64, "kmc_steps": 50,
                  "n_images": 3}
    spec = load_spec(write_spec(tmp_path, """
tasks:
  - kind: kinetics
    inputs: {host: {bulk: Cu, a: 3.6, cubic: true}}
    parameters: {mechanism: vacancy, species: Cu, max_length: 2.6, supercell_min_length: 7.0, temperatures: [1000],
                 vacancy_formation_energy: 1.2, kmc_walkers: 64, kmc_steps: 50, n_images: 3}
  - kind: kinetics
    parameters: {temperatures: [300]}
"""))
    outcome = run_spec(spec)
    assert outcome.done == 1
    records = spec_results(spec)
    stored = records[0].result
    assert "named_host" in records[1].error  # neither a host input nor a named host
    direct = kinetics(host_system(bulk("Cu", "fcc", a=3.6, cubic=True), KineticsSettings(**parameters)), EMT(),
                      KineticsSettings(**parameters))
    assert stored["D_cm2_per_s"][0] == pytest.approx(direct.D_cm2_per_s[0], rel=1e-6)
    assert stored["hops"][0]["barrier_eV"] == pytest.approx(direct.hops[0].barrier_eV, abs=1e-6)
