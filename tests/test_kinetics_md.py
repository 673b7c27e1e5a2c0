"""kMC against MD with the same model, where harmonic transition-state theory should hold.

The system: vacancy self-diffusion in fcc Al with ASE's EMT, one vacancy in a 2x2x2 conventional cell (31
atoms), at 900 K (EMT's migration barrier 0.40 eV is 5.2 kT there, so jumps are rare events, and MD still
sees tens of them in 64 ps). Both sides use the same potential and the same cell: ``kinetics`` (NEB,
Vineyard prefactor, kMC) and ssbkit's replica MD (Langevin), analysed by ``compare_with_md``.

References: MD itself, run here. Transition-state theory counts every crossing of the saddle as a jump, so
MD's rate is TST's times a transmission coefficient kappa <= 1 (recrossings; Vineyard, J. Phys. Chem. Solids
3, 121 (1957); dynamical corrections to TST for hops in metals are of order one, e.g. Voter & Doll, J. Chem.
Phys. 82, 80 (1985)), up to anharmonicity. D must agree within the factor 2-3 that the issue asks of this comparison.
Measured (2026-12-01, 4 replicas of 16 ps, seed 11): 19 jumps where kMC's rate gives 39, so kappa = 0.49 +- 0.11
(the Langevin MD also ran 2 % cold, 880 K, which alone lowers the rate by 11 %); D(MD) / D(kMC) = 0.67 +- 0.18.
With ~20 jumps the count's Poisson error is ~22 %. A run of 2 replicas on another machine saw 8 jumps (the test
asked for 10) and a D ratio of 0.31 +- 0.19, so the comparison runs as a slow test with 4 replicas, and the default
run checks the bookkeeping on a short run.
"""

from __future__ import annotations

import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from scipy.optimize import minimize_scalar

from ssbkit.errors import InputError
from ssbkit.workflows.kinetics import compare_with_md, host_system, kinetics
from ssbkit.workflows.md import run_replicas
from ssbkit.workflows.settings import KineticsSettings


def emt_lattice_constant(element: str) -> float:
    """EMT's fcc equilibrium lattice constant (Å): the minimum of the energy per atom."""

    def energy(a: float) -> float:
        atoms = bulk(element, "fcc", a=a)
        atoms.calc = EMT()
        return atoms.get_potential_energy()

    return float(minimize_scalar(energy, bounds=(3.5, 4.5), method="bounded", options={"xatol": 1e-4}).x)


def aluminium_vacancy_kinetics():
    """kMC of the Al vacancy (EMT) at 900 K, and the MD cell with the lattice sites: the 2x2x2 conventional cell
    less atom 0, the NEB's supercell with one vacancy."""
    a = emt_lattice_constant("Al")
    host = bulk("Al", "fcc", a=a, cubic=True)
    settings = KineticsSettings(mechanism="vacancy", species="Al", temperatures=(900.0,), max_length=3.0,
                                supercell_min_length=2 * a - 0.1, kmc_walkers=512, kmc_steps=500)
    result = kinetics(host_system(host, settings, name="al"), EMT(), settings, model="emt")
    (hop,) = result.hops
    assert hop.count_per_site == 12 and 0.3 < hop.barrier_eV < 0.5 and 3e12 < hop.prefactor_Hz < 3e13
    lattice = host.repeat(2)
    cell = lattice.copy()
    del cell[0]
    return result, lattice, cell, (host, settings)


def test_md_comparison_counts_and_rates_on_a_short_run(tmp_path):
    """The bookkeeping of ``compare_with_md`` on 2 replicas of 2.4 ps (too short to compare rates): total time,
    the MD rate per vacancy from the jump count, kMC's rate from its own walkers, the thermostat's temperature,
    and the refusal of an MD temperature that kMC did not run."""
    result, lattice, cell, (host, settings) = aluminium_vacancy_kinetics()
    md = run_replicas([cell, cell], [900.0, 900.0], EMT(), tmp_path, timestep=4.0, equilibration_steps=50,
                      production_steps=600, save_every=10, seed=7, progress=False)
    (row,) = compare_with_md(result, [replica.path for replica in md.replicas], lattice.positions, cell)
    assert row.replicas == 2 and row.production_ps == pytest.approx(4.8)
    assert row.md_jump_rate_Hz == pytest.approx(row.md_jumps / 4.8e-12)  # one vacancy in the cell
    (kmc,) = result.kmc
    assert row.kmc_jump_rate_Hz == pytest.approx(kmc.n_steps / kmc.time_per_walker_s)
    assert row.jump_rate_ratio == pytest.approx(row.md_jump_rate_Hz / row.kmc_jump_rate_Hz)
    assert row.kinetic_temperature_K == pytest.approx(900.0, rel=0.1)
    with pytest.raises(InputError, match="kMC temperatures"):
        compare_with_md(kinetics(host_system(host, settings, name="al"), EMT(), settings, model="emt",
                                 temperatures=(800.0,)), [md.replicas[0].path], lattice.positions, cell)


@pytest.mark.slow
def test_kmc_meets_md_for_vacancy_self_diffusion_in_emt_aluminium(tmp_path):
    """4 replicas of 16 ps (~7 min on one core): kappa <= 1 within three Poisson errors and of order one; D
    within the factor 3 the issue asks."""
    result, lattice, cell, _ = aluminium_vacancy_kinetics()
    md = run_replicas([cell] * 4, [900.0] * 4, EMT(), tmp_path, timestep=4.0, equilibration_steps=250,
                      production_steps=4000, save_every=10, seed=7, progress=False)
    (row,) = compare_with_md(result, [replica.path for replica in md.replicas], lattice.positions, cell)
    assert row.replicas == 4 and row.production_ps == pytest.approx(64.0)
    assert row.md_jumps >= 10
    assert 0.25 < row.jump_rate_ratio < 1 + 3 * row.jump_rate_ratio_std
    assert 1 / 3 < row.D_ratio < 3
    assert 0 < row.jump_rate_ratio_std < row.jump_rate_ratio and 0 < row.D_ratio_std < row.D_ratio
    assert row.kinetic_temperature_K == pytest.approx(900.0, rel=0.05)
