"""Proxy calculators and their two evaluator strategies (band, lockstep), with EMT underneath.

The reference is ASE's EMT called directly on the same atoms; a proxy must give EMT's numbers and keep
ASE's caching contract (same positions: no new model call; moved atom: a new one).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

from ssbkit.potentials.batching import BandEvaluator, ProxyCalculator, run_lockstep


def rattled_cu(seed: int) -> Atoms:
    atoms = bulk("Cu", cubic=True).repeat(2)
    atoms.rattle(stdev=0.05, seed=seed)
    return atoms


def assert_emt_results(atoms: Atoms, energy: float, forces: np.ndarray, stress: np.ndarray) -> None:
    direct = atoms.copy()
    direct.calc = EMT()
    assert energy == pytest.approx(direct.get_potential_energy(), abs=1e-10)
    np.testing.assert_allclose(forces, direct.get_forces(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(stress, direct.get_stress(), rtol=0, atol=1e-10)


def ask_twice_then_move(atoms: Atoms, calc: ProxyCalculator) -> list[tuple[Atoms, float, Any, Any]]:
    """Read forces twice (and energy, stress) at one geometry, then move an atom and read again."""
    atoms.calc = calc
    seen = []
    for _ in range(2):
        forces = atoms.get_forces()
        np.testing.assert_array_equal(atoms.get_forces(), forces)
        seen.append((atoms.copy(), atoms.get_potential_energy(), forces, atoms.get_stress()))
        atoms.positions[0] += (0.05, -0.02, 0.03)
    return seen


def test_band_proxy_computes_once_per_geometry_and_matches_emt():
    atoms = rattled_cu(0)
    band = BandEvaluator([atoms], EMT())
    seen = ask_twice_then_move(atoms, band.proxies[0])
    assert band.n_batches == band.n_evaluations == 2
    for geometry, energy, forces, stress in seen:
        assert_emt_results(geometry, energy, forces, stress)


def test_lockstep_proxy_computes_once_per_geometry_and_matches_emt():
    (seen,), calls = run_lockstep([lambda calc: ask_twice_then_move(rattled_cu(0), calc)], EMT())
    assert calls == 2
    for geometry, energy, forces, stress in seen:
        assert_emt_results(geometry, energy, forces, stress)


def test_band_evaluates_every_stale_image_in_one_call():
    images = [rattled_cu(seed) for seed in range(3)]
    band = BandEvaluator(images, EMT())
    for image in images:
        image.get_potential_energy()
    assert (band.n_batches, band.n_evaluations) == (1, 3)
    images[1].positions[0] += 0.05
    forces = [image.get_forces() for image in images]
    assert (band.n_batches, band.n_evaluations) == (2, 4)  # only the moved image was evaluated again
    for image, image_forces in zip(images, forces):
        assert_emt_results(image, image.get_potential_energy(), image_forces, image.get_stress())
    assert (band.n_batches, band.n_evaluations) == (2, 4)


def test_lockstep_answers_jobs_together_and_retries_a_failed_batch_one_by_one():
    """EMT has no Li parameters: the job on Li fails, the Cu jobs get EMT's results regardless."""
    def single_point(atoms: Atoms):
        def job(calc: ProxyCalculator) -> tuple[float, np.ndarray, np.ndarray]:
            atoms.calc = calc
            return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        return job

    cells = [rattled_cu(0), bulk("Li", cubic=True), rattled_cu(1)]
    outcomes, _ = run_lockstep([single_point(atoms) for atoms in cells], EMT())
    assert isinstance(outcomes[1], Exception)
    for atoms, outcome in zip(cells[::2], outcomes[::2]):
        assert_emt_results(atoms, *outcome)
    good = [rattled_cu(0), rattled_cu(1)]
    _, calls = run_lockstep([single_point(atoms) for atoms in good], EMT())
    assert calls == 1
