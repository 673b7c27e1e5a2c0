"""Fine-tune a pretrained potential on reference labels with the base package's own trainer.

``fine_tune(base, labels, output, settings)``:

1. reads the labels (extended XYZ files with energies and forces, or ``ase.Atoms`` carrying them) and refuses
   NaN energies or forces and overlapping atoms;
2. refits the per-element reference energies: a reference code's absolute energies are not on the scale a
   universal potential was trained on (MPtrj), so ``E_ref - E_model`` is fitted by least squares on the
   element counts and added to the model's own per-element energies (CHGNet's AtomRef, SevenNet's species-wise
   energy shift; MACE refits its E0s itself with ``--E0s average``);
3. holds out a seeded validation split and trains (CHGNet ``chgnet.trainer.Trainer``, SevenNet
   ``sevenn.train.trainer.Trainer`` with sevenn's losses, MACE ``mace-torch`` through
   :func:`ssbkit.potentials.fit.fit_mace`), keeping the epoch with the lowest validation loss and stopping after
   ``patience`` epochs without improvement;
4. compares held-out errors before (base model with the refitted element energies) and after. A fine-tune that
   makes the held-out loss worse is refused: no model file is written and ``accepted`` is False.

The model file loads everywhere a model name does (``chgnet:PATH``, ``sevennet:PATH``, ``mace:PATH``), with a
model card JSON next to it (``MODEL.card.json``). ``freeze="graph"`` keeps all but the last interaction block
and the readout at their pretrained weights (CHGNet, SevenNet); MACE bases train every layer.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from ssbkit.errors import InputError, ModelError
from ssbkit.io import atomic_write
from ssbkit.plotting import image_path, save_figure
from ssbkit.potentials.settings import FineTuneSettings
from ssbkit.results import Result, jsonable

MIN_LABEL_DISTANCE_A = 0.5  # closer atoms overlap: no reference describes them
FINE_TUNE_BACKENDS = ("chgnet", "sevennet", "mace")


@dataclass
class ParityErrors(Result):
    """Mean absolute errors against the reference labels: energy (meV/atom) and force components (meV/Å)."""

    n_structures: int
    energy_mae_meV_per_atom: float
    force_mae_meV_per_A: float


@dataclass
class LabelSource(Result):
    """Where labels came from: a file (path) or frames passed in memory, their SHA-256 and count."""

    source: str
    sha256: str
    count: int


@dataclass
class FineTuneResult(Result):
    """A fine-tuned model, or the reason it was refused.

    ``model`` is the name to load (``chgnet:PATH`` ...) when ``accepted``, else ``base``. ``element_shifts_eV``:
    the refitted per-element reference energies added to the base model (eV per atom of each element).
    ``before``/``after``: errors of the base model (with the refitted element energies) and of the fine-tuned one,
    on the training and held-out (``valid``) sets.
    """

    base: str
    backend: str
    accepted: bool
    message: str
    model: str
    model_path: Path | None
    card_path: Path | None
    plot_path: Path | None
    labels: list[LabelSource]
    n_train: int
    n_valid: int
    epochs_run: int
    best_epoch: int
    element_shifts_eV: dict[str, float]
    before: dict[str, ParityErrors]
    after: dict[str, ParityErrors]
    reference: dict[str, Any] | None = None
    wall_time_s: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


# --- labels ---------------------------------------------------------------------------------------


def read_labels(labels: Sequence[str | Path | Atoms] | str | Path) -> tuple[list[Atoms], list[LabelSource]]:
    """Labelled frames (``info['REF_energy']`` eV, ``arrays['REF_forces']`` eV/Å) from files and/or Atoms with
    results, and where they came from. InputError for missing files, unlabelled frames, NaN labels or
    overlapping atoms."""
    from ssbkit.potentials.fit import read_labelled

    if isinstance(labels, (str, Path, Atoms)):
        labels = [labels]
    frames: list[Atoms] = []
    sources: list[LabelSource] = []
    in_memory = [item for item in labels if isinstance(item, Atoms)]
    for item in labels:
        if not isinstance(item, Atoms):
            read = read_labelled(item)
            sources.append(LabelSource(str(item), hashlib.sha256(Path(item).read_bytes()).hexdigest(), len(read)))
            frames += read
    if in_memory:
        read = [_labelled_copy(atoms, i) for i, atoms in enumerate(in_memory)]
        digest = hashlib.sha256()
        for atoms in read:
            for array in (atoms.numbers, atoms.positions, atoms.cell.array, atoms.arrays["REF_forces"],
                          np.array([atoms.info["REF_energy"]])):
                digest.update(np.ascontiguousarray(array).tobytes())
        sources.append(LabelSource("frames in memory", digest.hexdigest(), len(read)))
        frames += read
    for i, atoms in enumerate(frames):
        _check_label(atoms, i)
    if len(frames) < 3:
        raise InputError(f"{len(frames)} labelled structure(s): fine-tuning needs at least 3 (training and "
                         "held-out validation)")
    return frames, sources


def _labelled_copy(atoms: Atoms, index: int) -> Atoms:
    try:
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    except (RuntimeError, AttributeError) as exc:
        raise InputError(f"frame {index} has no energy/forces labels") from exc
    clean = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    clean.info["REF_energy"] = float(energy)
    clean.arrays["REF_forces"] = np.asarray(forces, dtype=float)
    return clean


def _check_label(atoms: Atoms, index: int) -> None:
    if not np.isfinite(atoms.info["REF_energy"]) or not np.isfinite(atoms.arrays["REF_forces"]).all():
        raise InputError(f"label {index} ({atoms.get_chemical_formula()}) has a non-finite energy or forces; "
                         "remove it (a failed reference calculation?)")
    if len(atoms) > 1:
        distances = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
        closest = float(distances[np.triu_indices(len(atoms), 1)].min())
        if closest < MIN_LABEL_DISTANCE_A:
            raise InputError(f"label {index} ({atoms.get_chemical_formula()}) has atoms {closest:.2f} Å apart "
                             f"(< {MIN_LABEL_DISTANCE_A} Å): overlapping atoms")


# --- errors and element energies -------------------------------------------------------------------


def element_counts(frames: Sequence[Atoms], elements: Sequence[int]) -> np.ndarray:
    """Matrix of element counts (frames x elements)."""
    return np.array([[int(np.sum(atoms.numbers == z)) for z in elements] for atoms in frames], dtype=float)


def fit_element_shifts(frames: Sequence[Atoms], model_energies: Sequence[float]) -> dict[int, float]:
    """Least-squares per-element energies (eV/atom of each element) that best carry the model's total energies
    onto the reference ones: ``E_ref - E_model ≈ Σ_el n_el δ_el`` (minimum-norm solution where compositions
    do not separate the elements)."""
    elements = sorted({int(z) for atoms in frames for z in atoms.numbers})
    difference = np.array([atoms.info["REF_energy"] for atoms in frames]) - np.asarray(model_energies)
    shifts, *_ = np.linalg.lstsq(element_counts(frames, elements), difference, rcond=None)
    return dict(zip(elements, shifts.tolist(), strict=True))


def parity(frames: Sequence[Atoms], energies: Sequence[float], forces: Sequence[np.ndarray]) -> ParityErrors:
    """Energy (meV/atom) and force-component (meV/Å) MAEs of predictions against the labels of ``frames``."""
    energy_errors = [(e - atoms.info["REF_energy"]) / len(atoms) for atoms, e in zip(frames, energies, strict=True)]
    force_errors = np.concatenate([(np.asarray(f) - atoms.arrays["REF_forces"]).ravel()
                                   for atoms, f in zip(frames, forces, strict=True)])
    return ParityErrors(len(frames), 1000 * float(np.mean(np.abs(energy_errors))),
                        1000 * float(np.mean(np.abs(force_errors))))


def _predicted(frames: Sequence[Atoms], calculator: Any) -> tuple[np.ndarray, list[np.ndarray]]:
    from ssbkit.potentials import predict

    predictions = predict(list(frames), calculator)
    return np.array([p.energy for p in predictions]), [np.asarray(p.forces) for p in predictions]


def _split_parity(frames: Sequence[Atoms], splits: Mapping[str, np.ndarray], energies: np.ndarray,
                  forces: Sequence[np.ndarray]) -> dict[str, ParityErrors]:
    return {name: parity([frames[i] for i in index], energies[index], [forces[i] for i in index])
            for name, index in splits.items()}


def _loss(errors: ParityErrors, settings: FineTuneSettings) -> float:
    return (settings.energy_weight * errors.energy_mae_meV_per_atom
            + settings.force_weight * errors.force_mae_meV_per_A)


# --- the public entry point ---------------------------------------------------------------------------


def fine_tune(base: str, labels: Sequence[str | Path | Atoms] | str | Path, output: str | Path,
              settings: FineTuneSettings | None = None, *, reference: Mapping[str, Any] | None = None,
              trust_model: bool = False) -> FineTuneResult:
    """Fine-tune ``base`` (a CHGNet, SevenNet or MACE name, ``chgnet:PATH``, ``sevennet:PATH`` or ``mace:PATH``) on
    ``labels`` and write the model to ``output`` with its card (``output`` + ``.card.json``) and parity plot
    (``output`` + ``.parity.png``).

    ``reference``: how the labels were computed (name, settings, code version), recorded in the card. A
    fine-tune whose held-out loss (``energy_weight`` x energy MAE meV/atom + ``force_weight`` x force MAE meV/Å)
    is worse than the base model's with refitted element energies is refused: ``accepted`` False, no model file.
    """
    from ssbkit.potentials import _resolve_device, load
    from ssbkit.potentials.registry import card, local_model_path

    settings = settings or FineTuneSettings()
    started = time.perf_counter()
    output = Path(output).expanduser()
    if output.is_dir():
        raise InputError(f"output {output} is a folder; give the model file to write")
    output.parent.mkdir(parents=True, exist_ok=True)
    frames, sources = read_labels(labels)
    local = local_model_path(base) if isinstance(base, str) else None
    backend = local[0] if local is not None else card(base).backend  # ModelError for unknown names
    if backend not in FINE_TUNE_BACKENDS:
        raise ModelError(f"cannot fine-tune {base}: ssbkit fine-tunes CHGNet, SevenNet and MACE models, not "
                         f"{backend} models")
    if settings.freeze != "none" and backend == "mace":
        raise InputError(f"freeze={settings.freeze} applies to CHGNet and SevenNet bases; {base} is a MACE model")
    base_calculator = load(base, device=_resolve_device(settings.device), task="relax", trust_model=trust_model)
    from ssbkit.potentials.backends import elements_of

    missing = sorted({int(z) for atoms in frames for z in atoms.numbers} - (elements_of(base_calculator) or set()))
    if missing:
        raise ModelError(f"{base} does not cover {', '.join(chemical_symbols[z] for z in missing)} in the labels")

    order = np.random.default_rng(settings.seed).permutation(len(frames))
    n_valid = min(len(frames) - 2, max(1, round(settings.valid_fraction * len(frames))))
    splits = {"train": order[n_valid:], "valid": order[:n_valid]}  # indices into frames

    base_energies, base_forces = _predicted(frames, base_calculator)
    shifts = fit_element_shifts(frames, base_energies)
    base_energies = base_energies + element_counts(frames, list(shifts)) @ np.array(list(shifts.values()))
    before = _split_parity(frames, splits, base_energies, base_forces)

    with tempfile.TemporaryDirectory(prefix=".ssbkit-finetune-", dir=output.parent) as tmp:
        work = Path(tmp)
        trained = work / "model"
        trainer = {"chgnet": _train_chgnet, "sevennet": _train_sevennet, "mace": _train_mace}[backend]
        history = trainer(base_calculator, base, shifts, frames, splits, settings, trained, work, trust_model)
        tuned = load(f"{backend}:{trained}", device=_resolve_device(settings.device), task="relax",
                     trust_model=True)  # written just now by this process
        tuned_energies, tuned_forces = _predicted(frames, tuned)
        after = _split_parity(frames, splits, tuned_energies, tuned_forces)
        best = min(history, key=lambda row: row["valid_loss"]) if history else {"epoch": 0}
        improved = best["epoch"] > 0  # epoch 0: the base weights; no epoch lowered the held-out loss
        accepted = improved and _loss(after["valid"], settings) <= _loss(before["valid"], settings)
        change = (f"held-out energy MAE {before['valid'].energy_mae_meV_per_atom:.1f} -> "
                  f"{after['valid'].energy_mae_meV_per_atom:.1f} meV/atom, force MAE "
                  f"{before['valid'].force_mae_meV_per_A:.1f} -> {after['valid'].force_mae_meV_per_A:.1f} meV/Å")
        reason = "it made held-out errors worse" if improved else "no epoch lowered the held-out loss"
        result = FineTuneResult(
            base=base, backend=backend, accepted=accepted,
            message=(f"fine-tuned: {change}" if accepted else
                     f"fine-tune refused, the base model {base} is kept: {reason} ({change})"),
            model=f"{backend}:{output}" if accepted else base, model_path=output if accepted else None,
            card_path=None, plot_path=None, labels=sources, n_train=len(splits["train"]),
            n_valid=len(splits["valid"]), epochs_run=len(history), best_epoch=int(best["epoch"]),
            element_shifts_eV={chemical_symbols[z]: s for z, s in shifts.items()}, before=before, after=after,
            reference=dict(reference) if reference is not None else None, history=history)
        if accepted:
            os.replace(trained, output)
    result.plot_path = plot_parity(frames, splits, {"base": (base_energies, base_forces),
                                                    "fine-tuned" if accepted else "fine-tune (refused)":
                                                    (tuned_energies, tuned_forces)},
                                   _with_suffix(output, ".parity.png"), base)
    result.wall_time_s = time.perf_counter() - started
    if accepted:
        result.card_path = _with_suffix(output, ".card.json")
        atomic_write(result.card_path, json.dumps(model_card(result, settings), indent=1))
    return result


def _with_suffix(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def model_card(result: FineTuneResult, settings: FineTuneSettings) -> dict[str, Any]:
    """The model card written next to a fine-tuned model: base, labels (sources, hashes, counts), reference,
    settings and errors."""
    from ssbkit.potentials import CARDS

    base_card = CARDS.get(result.base)
    return jsonable({
        "format": "ssbkit fine-tuned model card 1",
        "model": result.model, "backend": result.backend, "base": result.base,
        "base_version": base_card.version if base_card else result.base,
        "base_training_data": base_card.training_data if base_card else "see the base model's card",
        "labels": result.labels, "n_train": result.n_train, "n_valid": result.n_valid,
        "reference": result.reference, "element_shifts_eV": result.element_shifts_eV,
        "errors_before": result.before, "errors_after": result.after,
        "epochs_run": result.epochs_run, "best_epoch": result.best_epoch, "settings": settings,
    })


def plot_parity(frames: Sequence[Atoms], splits: Mapping[str, np.ndarray],
                predictions: Mapping[str, tuple[np.ndarray, Sequence[np.ndarray]]], path: Path, base: str) -> Path:
    """Save reference vs model energies (eV/atom) and forces (eV/Å) of each model's ``predictions`` (total
    energies, forces of every frame), training and held-out, as an image."""
    from matplotlib.figure import Figure

    path = image_path(path)
    fig = Figure(figsize=(9, 4.2), layout="tight")
    axes = fig.subplots(1, 2)
    for (label, (energies, forces)), colour in zip(predictions.items(), ("C7", "C0", "C1")):
        errors = _split_parity(frames, splits, energies, forces)
        for split, marker in (("train", "o"), ("valid", "s")):
            chosen = [frames[i] for i in splits[split]]
            sizes = np.array([len(a) for a in chosen])
            axes[0].scatter([a.info["REF_energy"] / len(a) for a in chosen], energies[splits[split]] / sizes, s=14,
                            marker=marker, color=colour, alpha=0.7,
                            label=f"{label} {split} ({errors[split].energy_mae_meV_per_atom:.1f} meV/atom)")
            axes[1].scatter(np.concatenate([a.arrays["REF_forces"].ravel() for a in chosen]),
                            np.concatenate([forces[i].ravel() for i in splits[split]]), s=8, marker=marker,
                            color=colour, alpha=0.5, label=f"{label} {split} ({errors[split].force_mae_meV_per_A:.0f} "
                                                           "meV/Å)")
    for ax, quantity, unit in ((axes[0], "energy", "eV/atom"), (axes[1], "force", "eV/Å")):
        low, high = min(ax.get_xlim()[0], ax.get_ylim()[0]), max(ax.get_xlim()[1], ax.get_ylim()[1])
        ax.plot([low, high], [low, high], "k--", lw=0.8)
        ax.set(xlabel=f"reference {quantity} ({unit})", ylabel=f"model {quantity} ({unit})")
        ax.legend(fontsize=7)
    fig.suptitle(f"fine-tuning {base}: parity (MAE)", fontsize=10)
    return save_figure(fig, path, dpi=120)


# --- CHGNet ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Trainers print progress on stdout; keep it out of ssbkit's output."""
    from ssbkit.logs import quiet_warnings

    with contextlib.redirect_stdout(io.StringIO()), quiet_warnings():
        yield


def _early_stopping(run_epoch: Any, evaluate: Any, model: Any, settings: FineTuneSettings) -> list[dict[str, float]]:
    """Run epochs until ``patience`` epochs bring no lower validation loss; load the best weights into ``model``.

    ``run_epoch(epoch)`` trains one epoch; ``evaluate()`` returns (energy MAE eV/atom, force MAE eV/Å) on the
    held-out set."""
    energy, force = evaluate()
    history = [{"epoch": 0, "valid_energy_mae": energy, "valid_force_mae": force,
                "valid_loss": settings.energy_weight * energy + settings.force_weight * force}]
    best_loss, best_state, since_best = history[0]["valid_loss"], copy.deepcopy(model.state_dict()), 0
    for epoch in range(1, settings.epochs + 1):
        run_epoch(epoch)
        energy, force = evaluate()
        loss = settings.energy_weight * energy + settings.force_weight * force
        history.append({"epoch": epoch, "valid_energy_mae": energy, "valid_force_mae": force, "valid_loss": loss})
        if not np.isfinite(loss):
            break
        if loss < best_loss:
            best_loss, best_state, since_best = loss, copy.deepcopy(model.state_dict()), 0
        else:
            since_best += 1
            if since_best >= settings.patience:
                break
    model.load_state_dict(best_state)
    return history


def _train_chgnet(base_calculator: Any, base: str, shifts: Mapping[int, float], frames: Sequence[Atoms],
                  splits: Mapping[str, np.ndarray], settings: FineTuneSettings, output: Path, work: Path,
                  trust_model: bool) -> list[dict[str, float]]:
    import torch
    from chgnet.data.dataset import StructureData, collate_graphs
    from chgnet.trainer import Trainer
    from pymatgen.io.ase import AseAtomsAdaptor
    from torch.utils.data import DataLoader

    model = copy.deepcopy(base_calculator.model).requires_grad_(True)
    with torch.no_grad():
        weight = model.composition_model.fc.weight
        for z, shift in shifts.items():
            weight[0, z - 1] += shift  # AtomRef: energy per atom = Σ fraction_el w_el, so Σ n_el w_el in total
    model.composition_model.requires_grad_(False)
    if settings.freeze == "graph":
        for layers in (model.atom_embedding, model.bond_embedding, model.angle_embedding, model.bond_basis_expansion,
                       model.angle_basis_expansion, model.atom_conv_layers[:-1], model.bond_conv_layers,
                       model.angle_layers):
            layers.requires_grad_(False)

    def loader(index: np.ndarray, shuffle: bool) -> DataLoader:
        chosen = [frames[i] for i in index]
        with _quiet_stdout():
            data = StructureData([AseAtomsAdaptor.get_structure(a) for a in chosen],
                                 [a.info["REF_energy"] / len(a) for a in chosen],
                                 [a.arrays["REF_forces"] for a in chosen], graph_converter=model.graph_converter,
                                 shuffle=False)
        generator = torch.Generator().manual_seed(settings.seed)
        return DataLoader(data, batch_size=settings.batch_size, shuffle=shuffle, collate_fn=collate_graphs,
                          generator=generator)

    train, valid = loader(splits["train"], True), loader(splits["valid"], False)
    device = str(base_calculator.device) if hasattr(base_calculator, "device") else "cpu"
    with _quiet_stdout():
        trainer = Trainer(model, targets="ef", optimizer="Adam", scheduler="CosLR", criterion="MSE",
                          epochs=settings.epochs, learning_rate=settings.learning_rate, use_device=device,
                          energy_loss_ratio=settings.energy_weight, force_loss_ratio=settings.force_weight,
                          print_freq=10**9)

    def run_epoch(epoch: int) -> None:
        with _quiet_stdout():
            trainer._train(train, epoch)

    def evaluate() -> tuple[float, float]:
        with _quiet_stdout():
            errors = trainer._validate(valid)
        return float(errors["e"]), float(errors["f"])

    history = _early_stopping(run_epoch, evaluate, model, settings)
    model.requires_grad_(False)
    torch.save({"model": model.as_dict()}, output)  # CHGNet's own checkpoint layout: CHGNet.from_file reads it
    return history


# --- MACE -----------------------------------------------------------------------------------------


def _train_mace(base_calculator: Any, base: str, shifts: Mapping[int, float], frames: Sequence[Atoms],
                splits: Mapping[str, np.ndarray], settings: FineTuneSettings, output: Path, work: Path,
                trust_model: bool) -> list[dict[str, float]]:
    """mace-torch's trainer through :func:`ssbkit.potentials.fit.fit_mace`: it refits the E0s by least squares
    (``--E0s average``) and keeps the epoch with the lowest validation loss. Its own split draws the same seeded
    permutation as :func:`fine_tune`, so the held-out frames are the same."""
    from ase.io import write

    from ssbkit.potentials.fit import fit_mace

    data = work / "labels.extxyz"
    copies = []
    for atoms in frames:
        copy_ = atoms.copy()
        copy_.info["energy"] = atoms.info["REF_energy"]
        copy_.arrays["forces"] = atoms.arrays["REF_forces"]
        copies.append(copy_)
    write(data, copies, format="extxyz")
    fit = fit_mace(data, work / "mace", foundation=base, epochs=settings.epochs, batch_size=settings.batch_size,
                   valid_fraction=len(splits["valid"]) / len(frames), device=settings.device, dtype=settings.dtype,
                   seed=settings.seed, verbose=False, trust_model=trust_model)
    shutil.move(fit.model_path, output)
    return [{"epoch": settings.epochs, "valid_energy_mae": fit.valid_energy_mae,
             "valid_force_mae": fit.valid_force_mae,
             "valid_loss": settings.energy_weight * fit.valid_energy_mae
             + settings.force_weight * fit.valid_force_mae}]


# --- SevenNet -------------------------------------------------------------------------------------


def _train_sevennet(base_calculator: Any, base: str, shifts: Mapping[int, float], frames: Sequence[Atoms],
                    splits: Mapping[str, np.ndarray], settings: FineTuneSettings, output: Path, work: Path,
                    trust_model: bool) -> list[dict[str, float]]:
    """sevenn's own training pieces: ``sevenn.train.trainer.Trainer`` (one epoch, Adam), its per-atom energy and
    force losses (``sevenn.train.loss``), labelled graphs from ``sevenn.train.dataload.atoms_to_graph`` and its
    ``ErrorRecorder`` MAEs for validation. The refitted element energies go into the species-wise shift of the
    model's ``rescale_atomic_energy`` (atom energy = scale[type] x e + shift[type]). Written as sevenn's checkpoint
    layout (``model_state_dict`` + ``config``), which ``sevennet:PATH`` reads weights-only."""
    import sevenn._keys as KEY
    import torch
    from sevenn.atom_graph_data import AtomGraphData
    from sevenn.error_recorder import ErrorRecorder, MAError, get_err_type
    from sevenn.train.dataload import atoms_to_graph
    from sevenn.train.loss import ForceLoss, PerAtomEnergyLoss
    from sevenn.train.trainer import Trainer
    from torch_geometric.loader import DataLoader

    model = copy.deepcopy(base_calculator.model)
    config = base_calculator.sevennet_config
    shift = model.rescale_atomic_energy.shift
    if shift.numel() != len(base_calculator.type_map):
        raise ModelError(f"{base} has one energy shift for all species; refitting element energies needs "
                         "SevenNet's species-wise shift")
    with torch.no_grad():
        for z, value in shifts.items():
            shift[base_calculator.type_map[z]] += value
    model.requires_grad_(True)
    model.rescale_atomic_energy.requires_grad_(False)
    if settings.freeze == "graph":
        last_block = f"{config[KEY.NUM_CONVOLUTION] - 1}_"
        for name, module in model.named_children():
            if not name.startswith((last_block, "reduce_")):
                module.requires_grad_(False)

    def loader(index: np.ndarray, shuffle: bool) -> DataLoader:
        graphs = []
        for i in index:
            atoms = frames[i].copy()
            atoms.info = {"y_energy": frames[i].info["REF_energy"]}
            atoms.arrays["y_force"] = frames[i].arrays["REF_forces"]
            graphs.append(AtomGraphData.from_numpy_dict(atoms_to_graph(atoms, config[KEY.CUTOFF],
                                                                       transfer_info=False)))
        return DataLoader(graphs, batch_size=settings.batch_size, shuffle=shuffle,
                          generator=torch.Generator().manual_seed(settings.seed))

    train, valid = loader(splits["train"], True), loader(splits["valid"], False)
    losses = [(PerAtomEnergyLoss(criterion=torch.nn.MSELoss()), settings.energy_weight),
              (ForceLoss(criterion=torch.nn.MSELoss()), settings.force_weight)]
    trainer = Trainer(model, losses, torch.optim.Adam, {"lr": settings.learning_rate},
                      device=base_calculator.device)
    recorder = ErrorRecorder([MAError(**get_err_type("Energy")), MAError(**get_err_type("Force"))])

    def evaluate() -> tuple[float, float]:
        trainer.run_one_epoch(valid, is_train=False, error_recorder=recorder)
        energy, force = (metric.get() for metric in recorder.metrics)
        recorder.epoch_forward()  # resets the running averages
        return float(energy), float(force)

    history = _early_stopping(lambda epoch: trainer.run_one_epoch(train, is_train=True), evaluate, model, settings)
    model.set_is_batch_data(False)
    torch.save({"model_state_dict": model.state_dict(), "config": config}, output)
    return history
