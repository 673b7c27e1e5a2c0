"""Train or fine-tune a MACE potential on reference energies and forces with mace-torch's trainer.

``fit_mace`` reads labelled structures (extended XYZ with energies/forces as calculator results or as
``info``/``arrays`` keys), splits them into training and validation sets, runs mace-torch's
``run_train``, loads the trained model through ``ssbkit.potentials.load("mace:PATH")`` and writes a
parity report: energy MAE (eV/atom), force MAE (eV/Å) and a parity plot.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from ssbkit.errors import InputError, ModelError
from ssbkit.io import atomic_write, read_structures
from ssbkit.logs import quiet_warnings
from ssbkit.plotting import save_figure
from ssbkit.results import Result, jsonable


@dataclass
class FitResult(Result):
    """A trained MACE model file and its parity against the reference labels: mean absolute errors of
    energies (eV/atom) and force components (eV/Å) on the training and validation sets."""

    model_path: Path
    report_path: Path
    plot_path: Path
    n_train: int
    n_valid: int
    train_energy_mae: float  # eV/atom
    train_force_mae: float  # eV/Å
    valid_energy_mae: float  # eV/atom
    valid_force_mae: float  # eV/Å


@dataclass(frozen=True)
class MaceArchitecture:
    """Size of a MACE model trained from scratch (ignored when fine-tuning a foundation model)."""

    channels: int = 32
    max_L: int = 1  # 0: invariant messages only (fastest); 1 or 2: equivariant
    num_interactions: int = 2
    correlation: int = 3
    r_max: float = 5.0  # Å


def read_labelled(path: str | Path, energy_key: str = "energy",
                  forces_key: str = "forces") -> list[Atoms]:
    """Structures with energies (eV) and forces (eV/Å) from a file ASE can read.

    Labels come from the file's calculator results, else from ``atoms.info[energy_key]`` and
    ``atoms.arrays[forces_key]``. Raises InputError for a missing or unreadable file or unlabelled frames.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"training data file not found: {path}")
    labelled = []
    for i, (_, atoms) in enumerate(read_structures(path)):
        try:
            energy = (atoms.get_potential_energy() if atoms.calc is not None
                      else float(atoms.info[energy_key]))
            forces = atoms.get_forces() if atoms.calc is not None else atoms.arrays[forces_key]
        except (KeyError, RuntimeError) as exc:
            raise InputError(f"frame {i} of {path} has no energy/forces labels "
                             f"(looked for calculator results and keys {energy_key!r}/{forces_key!r})"
                             ) from exc
        clean = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        clean.info["REF_energy"] = float(energy)
        clean.arrays["REF_forces"] = np.asarray(forces, dtype=float)
        labelled.append(clean)
    if len(labelled) < 2:
        raise InputError(f"{path} has {len(labelled)} labelled structure(s); fitting needs at least 2")
    return labelled


@contextlib.contextmanager
def _contained_mace_logging() -> Iterator[None]:
    """mace-torch configures the root logger and logs to stdout; keep stdout clean and restore it."""
    root = logging.getLogger()
    saved = root.level, list(root.handlers), list(root.filters)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        for handler in root.handlers:
            if handler not in saved[1]:
                handler.close()
        root.setLevel(saved[0])
        root.handlers[:], root.filters[:] = saved[1], saved[2]


def _mace_args(train: Path, valid: Path, work: Path, epochs: int, batch_size: int, device: str,
               dtype: str, seed: int, architecture: MaceArchitecture, foundation: Path | None,
               verbose: bool) -> list[str]:
    args = [
        "--name", "fit", "--seed", str(seed), "--work_dir", str(work),
        "--train_file", str(train), "--valid_file", str(valid),
        "--energy_key", "REF_energy", "--forces_key", "REF_forces",
        "--E0s", "average",  # least-squares energy per element, fitted by mace-torch
        "--max_num_epochs", str(epochs), "--batch_size", str(batch_size),
        "--valid_batch_size", str(batch_size), "--eval_interval", "1",
        "--device", device, "--default_dtype", dtype, "--save_cpu",
        "--skip_evaluate_heads", "Default", "--plot", "False", "--log_level", "INFO" if verbose else "WARNING",
    ]
    if foundation is None:
        args += [
            "--model", "MACE", "--r_max", str(architecture.r_max),
            "--num_channels", str(architecture.channels), "--max_L", str(architecture.max_L),
            "--num_interactions", str(architecture.num_interactions),
            "--correlation", str(architecture.correlation),
        ]
    else:  # naive fine-tuning: keep the foundation architecture, no replay of its training data
        args += ["--foundation_model", str(foundation), "--multiheads_finetuning", "False"]
    return args


def _parity(frames: list[Atoms], calculator: object) -> dict[str, np.ndarray]:
    from ssbkit.potentials import predict

    predictions = predict(frames, calculator)
    return {
        "energy_ref": np.array([a.info["REF_energy"] / len(a) for a in frames]),
        "energy_pred": np.array([p.energy / len(a) for p, a in zip(predictions, frames, strict=True)]),
        "forces_ref": np.concatenate([a.arrays["REF_forces"].ravel() for a in frames]),
        "forces_pred": np.concatenate([p.forces.ravel() for p in predictions]),
    }


def _plot_parity(parity: dict[str, dict[str, np.ndarray]], path: Path) -> Path:
    """Save reference vs MACE energies (eV/atom) and forces (eV/Å), train and validation, as an image."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.2), layout="tight")
    axes = fig.subplots(1, 2)
    for ax, quantity, unit in [(axes[0], "energy", "eV/atom"), (axes[1], "forces", "eV/Å")]:
        for split, marker in [("train", "o"), ("valid", "s")]:
            ref, pred = parity[split][f"{quantity}_ref"], parity[split][f"{quantity}_pred"]
            ax.scatter(ref, pred, s=12, marker=marker, alpha=0.7,
                       label=f"{split} (MAE {np.mean(np.abs(pred - ref)):.3g} {unit})")
        lo = min(ax.get_xlim()[0], ax.get_ylim()[0])
        hi = max(ax.get_xlim()[1], ax.get_ylim()[1])
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set(xlabel=f"reference {quantity} ({unit})", ylabel=f"MACE {quantity} ({unit})")
        ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=120)


def fit_mace(
    data: str | Path,
    output_dir: str | Path,
    *,
    foundation: str | None = None,
    epochs: int = 50,
    batch_size: int = 4,
    valid_fraction: float = 0.2,
    architecture: MaceArchitecture = MaceArchitecture(),
    device: str = "auto",
    dtype: str = "float64",
    seed: int = 0,
    energy_key: str = "energy",
    forces_key: str = "forces",
    verbose: bool = True,
    trust_model: bool = False,
) -> FitResult:
    """Train a MACE model on ``data`` (or fine-tune ``foundation``) and write model + parity report.

    ``foundation``: a registered MACE name (e.g. "mace-mp-0-small") or ``mace:PATH`` to fine-tune;
    None trains ``architecture`` from scratch. Writes ``model.model``, ``parity.json`` and
    ``parity.png`` into ``output_dir``. MAEs are in eV/atom (energy) and eV/Å (force components).
    A ``mace:PATH`` foundation is first checked to hold only a MACE model (nothing in it may run code)
    unless ``trust_model``.
    """
    from ssbkit.potentials import _resolve_device, load
    from ssbkit.potentials._compat import configure_e3nn
    from ssbkit.potentials.model_files import (
        UNSAFE_LOAD_VARIABLE,
        load_model_file,
        preserved_default_dtype,
        preserved_environment,
    )
    from ssbkit.potentials.registry import card, resolve_mace_weights

    if not 0 < valid_fraction < 1:
        raise InputError(f"valid_fraction must be between 0 and 1, got {valid_fraction}")
    if epochs < 1 or batch_size < 1:
        raise InputError("epochs and batch_size must be positive")
    frames = read_labelled(data, energy_key, forces_key)
    foundation_path = None
    if foundation is not None:
        if foundation.startswith("mace:"):
            foundation_path = Path(foundation.removeprefix("mace:")).expanduser()
            if not foundation_path.is_file():
                raise ModelError(f"MACE model file not found: {foundation_path}")
            if not trust_model:
                load_model_file(foundation_path, trust=False)  # ModelError if it names anything but MACE classes
        else:
            foundation_card = card(foundation)
            if foundation_card.backend != "mace":
                raise ModelError(f"fine-tuning needs a MACE foundation model, not {foundation}")
            foundation_path = resolve_mace_weights(foundation_card)
    device = _resolve_device(device)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    order = np.random.default_rng(seed).permutation(len(frames))
    n_valid = max(1, round(valid_fraction * len(frames)))
    valid = [frames[i] for i in order[:n_valid]]
    train = [frames[i] for i in order[n_valid:]]

    configure_e3nn()
    from ase.io import write

    with _contained_mace_logging(), quiet_warnings(), preserved_environment(UNSAFE_LOAD_VARIABLE):
        # mace-torch prints and sets UNSAFE_LOAD_VARIABLE on import (e3nn then warns), as in mace_calculator
        from mace.cli.run_train import run
        from mace.tools import build_default_arg_parser

    with tempfile.TemporaryDirectory(prefix="ssbkit-fit-", dir=output_dir) as tmp:
        work = Path(tmp)
        write(work / "train.extxyz", train)
        write(work / "valid.extxyz", valid)
        args = build_default_arg_parser().parse_args(_mace_args(
            work / "train.extxyz", work / "valid.extxyz", work, epochs, batch_size, device, dtype,
            seed, architecture, foundation_path, verbose))
        with _contained_mace_logging(), preserved_environment(UNSAFE_LOAD_VARIABLE), preserved_default_dtype():
            os.environ[UNSAFE_LOAD_VARIABLE] = "1"  # the trainer reloads its own checkpoints in full
            try:
                run(args)
            except (RuntimeError, ValueError, KeyError) as exc:
                raise ModelError(f"MACE training failed: {exc}") from exc
        model_path = output_dir / "model.model"
        os.replace(work / "fit.model", model_path)  # same file system: atomic

    calculator = load(f"mace:{model_path}", device=device, dtype=dtype, trust_model=True)  # written just now
    parity = {"train": _parity(train, calculator), "valid": _parity(valid, calculator)}
    maes = {f"{split}_{q}_mae": float(np.mean(np.abs(parity[split][f"{q}_pred"] - parity[split][f"{q}_ref"])))
            for split in ("train", "valid") for q in ("energy", "forces")}
    plot_path = output_dir / "parity.png"
    _plot_parity(parity, plot_path)
    result = FitResult(
        model_path=model_path, report_path=output_dir / "parity.json", plot_path=plot_path,
        n_train=len(train), n_valid=len(valid),
        train_energy_mae=maes["train_energy_mae"], train_force_mae=maes["train_forces_mae"],
        valid_energy_mae=maes["valid_energy_mae"], valid_force_mae=maes["valid_forces_mae"],
    )
    report = {**result.to_dict(), "foundation": foundation, "epochs": epochs, "dtype": dtype,
              "parity": jsonable(parity)}
    atomic_write(result.report_path, json.dumps(report, indent=1))
    return result
