"""Fine-tuning a pretrained potential on reference labels (``ssbkit.potentials.finetune``).

The labels are ASE's EMT energies and forces on rattled fcc Cu cells: EMT is the reference (its absolute energies
are far off the MPtrj scale CHGNet and SevenNet-0 were trained on, which the per-element refit must absorb)."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from cli_helpers import fails_cleanly, runner
from ssbkit.cli import app
from ssbkit.errors import InputError, ModelError
from ssbkit.potentials import load, predict
from ssbkit.potentials.finetune import FineTuneSettings, fine_tune, fit_element_shifts, read_labels


def emt_copper(n_frames: int = 8, seed: int = 0) -> list:
    """Rattled, strained 4-atom fcc Cu cells labelled by ASE's EMT (the reference)."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_frames):
        atoms = bulk("Cu", "fcc", a=3.61 * (1 + rng.uniform(-0.02, 0.02)), cubic=True)
        atoms.rattle(0.1, seed=seed + i)
        atoms.calc = EMT()
        atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module")
def labels_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("labels") / "cu.extxyz"
    write(path, emt_copper())
    return path


@pytest.fixture(scope="module")
def tuned(labels_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("tuned") / "cu-chgnet.pt"
    return fine_tune("chgnet", [labels_file], out, FineTuneSettings(epochs=3, learning_rate=3e-4, batch_size=3),
                     reference={"name": "emt"})


def assert_reload_reproduces_parity(model: str, base: str, labels_file, after: dict) -> None:
    """The written model, loaded weights-only by name, has the card of a fine-tune of ``base`` and reproduces the
    reported per-atom energy MAE on all labels (train + valid; ``after``: split -> parity dict)."""
    calculator = load(model, device="cpu")
    assert calculator.ssbkit_card.version.startswith(f"fine-tuned from {base}")
    frames, _ = read_labels([labels_file])
    energies = np.array([p.energy for p in predict(frames, calculator)])
    reference = np.array([a.info["REF_energy"] for a in frames])
    overall = np.mean(np.abs(energies - reference) / 4) * 1000
    reported = [after[s]["energy_mae_meV_per_atom"] * after[s]["n_structures"] for s in ("train", "valid")]
    assert overall == pytest.approx(sum(reported) / len(frames), rel=1e-3, abs=1e-3)


def test_element_shift_refit_recovers_a_known_offset():
    """Least squares on element counts: a constant per-atom offset between two energy scales is found exactly."""
    frames = emt_copper(4)
    for atoms in frames:
        atoms.info["REF_energy"] = atoms.get_potential_energy()
    model = [atoms.get_potential_energy() + 3.7 * len(atoms) for atoms in frames]  # reference = model - 3.7 eV/atom
    assert fit_element_shifts(frames, model) == pytest.approx({29: -3.7})


def test_fine_tune_improves_held_out_errors_and_loads_as_chgnet_path(tuned, labels_file):
    assert tuned.accepted, tuned.message
    assert tuned.backend == "chgnet" and tuned.n_valid >= 1 and tuned.n_train + tuned.n_valid == 8
    # CHGNet's Cu on the MPtrj scale is ~ -4.1 eV/atom, EMT's ~0: the refit carries that offset.
    assert tuned.element_shifts_eV["Cu"] > 3.0
    before = tuned.before["valid"].energy_mae_meV_per_atom + tuned.before["valid"].force_mae_meV_per_A
    after = tuned.after["valid"].energy_mae_meV_per_atom + tuned.after["valid"].force_mae_meV_per_A
    assert after <= before

    assert_reload_reproduces_parity(f"chgnet:{tuned.model_path}", "chgnet", labels_file,
                                    {s: tuned.after[s].to_dict() for s in ("train", "valid")})

    card = json.loads(tuned.card_path.read_text())
    assert card["base"] == "chgnet" and card["reference"] == {"name": "emt"}
    assert card["labels"][0]["sha256"] == hashlib.sha256(labels_file.read_bytes()).hexdigest()
    assert card["labels"][0]["count"] == 8
    assert tuned.plot_path.read_bytes()[:4] == b"\x89PNG"


def test_a_fine_tune_that_makes_held_out_errors_worse_is_refused(labels_file, tmp_path):
    """A learning rate of 0.05 for one epoch wrecks the pretrained weights: held-out errors grow, the base is kept."""
    out = tmp_path / "wrecked.pt"
    result = fine_tune("chgnet", [labels_file], out, FineTuneSettings(epochs=1, patience=1, learning_rate=0.05,
                                                                      batch_size=2))
    assert not result.accepted and result.model == "chgnet" and result.model_path is None
    assert "refused" in result.message and "base model chgnet is kept" in result.message
    assert not out.exists()


def test_freezing_the_graph_layers_trains_only_the_last_convolution_and_readout(labels_file, tmp_path):
    """freeze="graph" (CHGNet's documented fine-tuning practice): embeddings and all but the last atom convolution
    keep their pretrained weights in the written model; the readout MLP moves."""
    result = fine_tune("chgnet", [labels_file], tmp_path / "frozen.pt",
                       FineTuneSettings(epochs=2, patience=2, learning_rate=3e-3, batch_size=3, freeze="graph"))
    assert result.accepted, result.message
    base = load("chgnet", device="cpu").model.state_dict()
    tuned = load(f"chgnet:{result.model_path}", device="cpu").model.state_dict()
    frozen = [name for name in base if name.startswith(("atom_embedding", "bond_embedding", "angle_embedding",
                                                        "atom_conv_layers.0", "bond_conv_layers", "angle_layers"))]
    assert frozen and all(torch.equal(base[name], tuned[name]) for name in frozen)
    assert any(not torch.equal(base[name], tuned[name]) for name in base if name.startswith("mlp"))


@pytest.fixture(scope="module")
def tuned_sevennet(labels_file, tmp_path_factory):
    """SevenNet-0 fine-tuned through the CLI (sevenn's Trainer); energy weighted up so both held-out MAEs drop."""
    out = tmp_path_factory.mktemp("tuned-sevennet") / "cu-7net.pt"
    run = runner.invoke(app, ["potentials", "finetune", "--base", "sevennet-0", "--labels", str(labels_file),
                              "-o", str(out), "--epochs", "3", "--batch-size", "3", "--energy-weight", "10",
                              "--reference", "emt", "--json"])
    assert run.exit_code == 0, run.stderr
    return json.loads(run.stdout)


def test_sevennet_fine_tune_lowers_held_out_errors_and_loads_as_sevennet_path(tuned_sevennet, labels_file):
    tuned = tuned_sevennet
    assert tuned["accepted"], tuned["message"]
    assert tuned["backend"] == "sevennet" and tuned["model"] == f"sevennet:{tuned['model_path']}"
    # SevenNet-0's Cu on the MPtrj scale is ~ -4.1 eV/atom, EMT's ~0: the refit carries that offset.
    assert tuned["element_shifts_eV"]["Cu"] > 3.0
    # Epoch 0 is sevenn's ErrorRecorder on the model with the shift added to its species-wise energy shift;
    # "before" is ssbkit's predict on the base model plus element counts @ shifts: the two must agree.
    start = tuned["history"][0]
    assert start["valid_energy_mae"] * 1000 == pytest.approx(tuned["before"]["valid"]["energy_mae_meV_per_atom"],
                                                             rel=1e-4, abs=1e-3)
    assert start["valid_force_mae"] * 1000 == pytest.approx(tuned["before"]["valid"]["force_mae_meV_per_A"],
                                                            rel=1e-4)
    before, after = tuned["before"]["valid"], tuned["after"]["valid"]
    assert after["energy_mae_meV_per_atom"] < before["energy_mae_meV_per_atom"]
    assert after["force_mae_meV_per_A"] < before["force_mae_meV_per_A"]

    assert_reload_reproduces_parity(f"sevennet:{tuned['model_path']}", "sevennet-0", labels_file, tuned["after"])
    best = next(row for row in tuned["history"] if row["epoch"] == tuned["best_epoch"])
    assert best["valid_energy_mae"] * 1000 == pytest.approx(after["energy_mae_meV_per_atom"], rel=1e-3, abs=1e-3)

    card = json.loads(open(tuned["card_path"]).read())
    assert card["base"] == "sevennet-0" and card["backend"] == "sevennet"
    assert card["reference"]["name"] == "emt"


@pytest.mark.slow
def test_sevennet_freeze_graph_trains_only_the_last_interaction_block_and_readout(labels_file, tmp_path):
    """freeze="graph" on SevenNet-0: interaction blocks 0-3 keep their pretrained weights; block 4 and the readout
    move."""
    result = fine_tune("sevennet-0", [labels_file], tmp_path / "frozen.pt",
                       FineTuneSettings(epochs=2, patience=2, batch_size=3, energy_weight=10, freeze="graph"))
    assert result.accepted, result.message
    base = load("sevennet-0", device="cpu").model.state_dict()
    tuned = load(f"sevennet:{result.model_path}", device="cpu").model.state_dict()
    frozen = [name for name in base if name.startswith(("onehot_to_feature_x", "0_", "1_", "2_", "3_"))]
    assert frozen and all(torch.equal(base[name], tuned[name]) for name in frozen)
    assert any(not torch.equal(base[name], tuned[name]) for name in base if name.startswith(("4_", "reduce_")))


def test_labels_with_nan_energies_or_overlapping_atoms_are_refused(tmp_path):
    frames = emt_copper(4)
    bad = frames[1].copy()
    bad.calc = SinglePointCalculator(bad, energy=float("nan"), forces=frames[1].get_forces())
    with pytest.raises(InputError, match="non-finite"):
        read_labels([frames[0], bad, frames[2], frames[3]])
    crowded = frames[2].copy()
    crowded.positions[1] = crowded.positions[0] + [0.2, 0, 0]
    crowded.calc = SinglePointCalculator(crowded, energy=-1.0, forces=np.zeros((4, 3)))
    with pytest.raises(InputError, match="overlapping"):
        read_labels([frames[0], crowded, frames[3]])
    write(tmp_path / "nan.extxyz", [frames[0], bad, frames[2]])
    fails_cleanly(["potentials", "finetune", "--base", "chgnet", "--labels", str(tmp_path / "nan.extxyz"),
                   "-o", str(tmp_path / "m.pt")], "non-finite")


def test_unknown_base_model_is_a_clean_error(labels_file, tmp_path):
    fails_cleanly(["potentials", "finetune", "--base", "chgnet-9", "--labels", str(labels_file),
                   "-o", str(tmp_path / "m.pt")], "unknown model 'chgnet-9'")
    with pytest.raises(ModelError, match="not found"):
        fine_tune("chgnet:/nonexistent/model.pt", [labels_file], tmp_path / "m.pt")
    with pytest.raises(InputError, match="freeze=graph applies to CHGNet and SevenNet bases"):
        fine_tune("mace-mp-0-small", [labels_file], tmp_path / "m.pt", FineTuneSettings(freeze="graph"))


class _RunsCode:
    def __reduce__(self):
        return (os.getcwd, ())


def test_chgnet_and_sevennet_files_load_weights_only(tmp_path):
    """A checkpoint that names a function is refused unless trusted: nothing in it runs."""
    bad = tmp_path / "bad.pt"
    torch.save({"model": {"model_args": {}, "state_dict": {}}, "payload": _RunsCode()}, bad)
    for prefix in ("chgnet", "sevennet"):
        with pytest.raises(ModelError, match="refusing to load"):
            load(f"{prefix}:{bad}", device="cpu")
    fails_cleanly(["potentials", "check", str(tmp_path / "x.cif"), "-m", f"chgnet:{tmp_path / 'no.pt'}"],
                  "not found")


@pytest.mark.slow
def test_sevennet_path_loads_the_shipped_checkpoint_like_the_registered_model():
    """sevennet:PATH on SevenNet-0's own checkpoint (numpy arrays in its config: allowed weights-only) gives the
    registered sevennet-0's energies."""
    from ssbkit.potentials._compat import allow_e3nn_constants

    allow_e3nn_constants()  # importing sevenn imports e3nn
    from sevenn.util import pretrained_name_to_path

    atoms = emt_copper(1)[0]
    by_path = predict([atoms], load(f"sevennet:{pretrained_name_to_path('7net-0')}", device="cpu"))[0]
    by_name = predict([atoms], load("sevennet-0", device="cpu"))[0]
    assert by_path.energy == pytest.approx(by_name.energy, abs=1e-5)
