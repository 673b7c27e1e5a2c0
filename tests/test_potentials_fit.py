"""``ssbkit potentials fit`` end to end: a tiny MACE trained by mace-torch on EMT-labelled copper."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from typer.testing import CliRunner

from ssbkit.cli import app


def emt_labelled_copper(path, n_frames=16):
    """Rattled, strained 4-atom fcc Cu cells with energies and forces from ASE's EMT."""
    rng = np.random.default_rng(0)
    frames = []
    for i in range(n_frames):
        atoms = bulk("Cu", "fcc", a=3.61 * (1 + rng.uniform(-0.02, 0.02)), cubic=True)
        atoms.rattle(0.1, seed=i)
        atoms.calc = EMT()
        atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(),
                                           forces=atoms.get_forces())
        frames.append(atoms)
    write(path, frames)
    return path


def test_fit_trains_mace_and_writes_a_consistent_parity_report(tmp_path, monkeypatch):
    data = emt_labelled_copper(tmp_path / "cu.extxyz")
    out = tmp_path / "fit"
    result = CliRunner().invoke(app, [
        "potentials", "fit", str(data), "-o", str(out), "--epochs", "4", "--batch-size", "4",
        "--channels", "8", "--max-L", "0", "--interactions", "1", "--correlation", "1",
        "--r-max", "4.0", "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    report = json.loads((out / "parity.json").read_text())
    assert (out / "parity.png").read_bytes()[:4] == b"\x89PNG"
    assert summary["n_train"] + summary["n_valid"] == 16 and summary["n_valid"] >= 1

    # The report must match the saved model evaluated by mace-torch's own calculator, which loads the
    # file in full only with the variable mace-torch sets on import (ssbkit restores it after loading).
    from mace.calculators import MACECalculator

    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")

    reference = MACECalculator(model_paths=str(out / "model.model"), device="cpu",
                               default_dtype="float64")
    frames = read(data, ":")
    mace_forces = []
    for atoms in frames:
        atoms.calc = reference
        mace_forces.append(atoms.get_forces().ravel())
    parity = report["parity"]
    reported = np.array(parity["train"]["forces_pred"] + parity["valid"]["forces_pred"])
    assert np.sort(reported) == pytest.approx(np.sort(np.concatenate(mace_forces)), abs=1e-8)

    # It learned: forces beat the zero-force baseline (mean |F_ref|) on the training set.
    baseline = np.mean(np.abs(parity["train"]["forces_ref"]))
    assert summary["train_force_mae"] < 0.9 * baseline
    assert summary["train_force_mae"] == pytest.approx(
        np.mean(np.abs(np.subtract(parity["train"]["forces_pred"], parity["train"]["forces_ref"]))))


def test_fit_rejects_unlabelled_data(tmp_path):
    path = tmp_path / "bare.extxyz"
    write(path, [bulk("Cu", cubic=True)] * 3)
    result = CliRunner().invoke(app, ["potentials", "fit", str(path), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "no energy/forces labels" in result.stderr
