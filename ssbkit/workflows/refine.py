"""Move an ML barrier onto a reference: ML CI-NEB, reference labels, fine-tuning, and again.

Each round of :func:`refine_barrier`:

1. runs a climbing-image NEB with the round's model (:func:`ssbkit.workflows.neb.neb`);
2. computes reference single points on the path's images (endpoints included), giving the reference energy
   profile along the ML path;
3. stops when the ML barrier changed by less than ``tolerance`` since the previous round and the model reproduces
   the reference energies along the path (relative to the initial image) within ``tolerance``;
4. otherwise labels small seeded rattles of the images (more around the image where a committee of models
   disagrees most, when one is given) and fine-tunes the initial model (``from_base``; else the round's model)
   on every label so far (:func:`ssbkit.potentials.finetune.fine_tune`), giving the next round's model.

With ``reference_endpoints`` the endpoints are first relaxed with the reference and kept fixed in every round:
a model's own minima need not be the reference's, and a path between the wrong minima teaches the model the
wrong landscape. The relaxation steps join the labels, and the endpoints are not labelled again.

Every round is stored in a runner store (SQLite, one row per round), with its labels and model file in the
output folder, so an interrupted loop resumes at the first unfinished round. A reference CI-NEB started from
the refined ML path (``reference_neb``) closes the loop where the reference is affordable.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from ssbkit.errors import CalculationError, InputError
from ssbkit.io import atomic_write
from ssbkit.plotting import image_path, save_figure
from ssbkit.potentials.finetune import FineTuneSettings, fine_tune
from ssbkit.results import Result, jsonable
from ssbkit.workflows.neb import NEBSettings, neb
from ssbkit.workflows.reference import (Label, LabelSet, check_elements, label_configurations, reference_info,
                                        relax_with_reference)
from ssbkit.workflows.settings import RefineSettings

ROUND_KIND = "neb-refine-round"  # the store rows of a refinement loop (not a runner task kind)


@dataclass
class RefineRound(Result):
    """One round: the model's CI-NEB barrier (eV), ML and reference energies along its path (eV, relative to the
    initial image), the largest difference between them (eV), the labels added and the fine-tune that followed
    (None in the round that converged or was the last)."""

    round: int
    model: str
    ml_barrier_eV: float
    ml_energies_eV: list[float]
    reference_energies_eV: list[float]
    reference_barrier_on_path_eV: float
    max_path_error_eV: float
    barrier_change_eV: float | None
    label_count: int
    failed_labels: int
    fine_tune: dict[str, Any] | None
    next_model: str | None
    wall_time_s: float


@dataclass
class ReferenceNEB(Result):
    """A reference CI-NEB started from the refined ML path: barrier (eV), images' energies (eV, relative to the
    initial image), convergence."""

    barrier_eV: float
    energies_eV: list[float]
    converged: bool
    steps: int
    fmax: float


@dataclass
class RefineResult(Result):
    """The loop's rounds, whether it converged, the final model and barrier (eV)."""

    initial_model: str
    reference: str
    rounds: list[RefineRound]
    converged: bool
    message: str
    final_model: str
    final_barrier_eV: float
    tolerance_eV: float
    store: Path
    output_dir: Path
    reference_neb: ReferenceNEB | None = None
    path_file: Path | None = None
    plot_file: Path | None = None
    resumed_rounds: list[int] = field(default_factory=list)


def refine_barrier(
    initial: Atoms,
    final: Atoms,
    model: str,
    reference: str,
    output_dir: str | Path,
    settings: RefineSettings | None = None,
    *,
    reference_settings: Mapping[str, Any] | None = None,
    neb_settings: NEBSettings | None = None,
    fine_tune_settings: FineTuneSettings | None = None,
    committee: Sequence[str] | None = None,
    store: str | Path | None = None,
    load_model: Callable[[str], Any] | None = None,
    trust_model: bool = False,
    progress: Callable[[str], None] | None = None,
) -> RefineResult:
    """Refine ``model``'s CI-NEB barrier from ``initial`` to ``final`` against ``reference`` (``emt``, ``gpaw``,
    ``python:module.Class``), writing labels, models and the round store into ``output_dir``.

    ``load_model(name)`` returns a calculator (default: ``ssbkit.potentials.load(name, task="neb")``);
    ``committee``: model names whose disagreement picks where to add labels; ``store``: the SQLite file of the
    rounds (default ``output_dir/refine.sqlite``); ``progress(line)`` hears about each step.
    """
    from ssbkit.potentials import load
    from ssbkit.workflows.runner.store import RunStore, worker_id

    settings = settings or RefineSettings()
    neb_settings = neb_settings or NEBSettings()
    fine_tune_settings = fine_tune_settings or FineTuneSettings()
    load_model = load_model or (lambda name: load(name, task="neb", trust_model=trust_model))
    say = progress or (lambda line: None)
    if len(initial) != len(final) or list(initial.numbers) != list(final.numbers):
        raise InputError("initial and final structures must hold the same atoms in the same order")
    reference_info(reference, reference_settings)  # InputError for an unknown reference or invalid settings
    check_elements(initial.get_chemical_symbols(), reference, reference_settings)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    store_path = Path(store) if store is not None else output_dir / "refine.sqlite"
    loop_key = _loop_key(initial, final, model, reference, reference_settings, settings, neb_settings,
                         fine_tune_settings, committee)
    rounds: list[RefineRound] = []
    resumed: list[int] = []
    label_files: list[Path] = []
    endpoint_labels: list[Label] = []
    if settings.reference_endpoints:
        initial, final, endpoint_labels = _reference_endpoints(initial, final, reference, reference_settings,
                                                               settings, output_dir, say)
        label_files.append(output_dir / _ENDPOINT_LABELS)
        neb_settings = replace(neb_settings, relax_endpoints=False)
    current, converged, message, last_path = model, False, "", None
    runs = RunStore(store_path)
    try:
        for index in range(settings.rounds):
            key = f"{loop_key}-round{index}"
            task = _RoundTask(key, ROUND_KIND, current, {"loop": loop_key, "round": index, "model": current,
                                                           "reference": reference})
            runs.register([task])
            (record,) = runs.records([key])
            round_dir = output_dir / f"round{index}"
            if record.state == "done" and record.result is not None:
                finished = RefineRound(**record.result["round"])
                resumed.append(index)
                say(f"round {index}: resumed from {store_path} (barrier {finished.ml_barrier_eV:.3f} eV)")
            else:
                holder = worker_id()
                if not runs.claim(key, holder, lease_s=24 * 3600, retries=10**6):
                    raise CalculationError(f"round {index} of this refinement is being run by another process "
                                           f"({store_path})")
                started = time.perf_counter()
                try:
                    finished = _run_round(
                        index, model, current, initial, final, reference, reference_settings, settings, neb_settings,
                        fine_tune_settings, committee, load_model, rounds[-1] if rounds else None, round_dir,
                        label_files, endpoint_labels, trust_model, say)
                except Exception as exc:
                    runs.fail(key, holder, f"{type(exc).__name__}: {exc}", "", {}, time.perf_counter() - started,
                              None)
                    raise
                runs.finish(key, holder, {"round": finished.to_dict()}, {"reference": reference},
                            time.perf_counter() - started, None, None)
            rounds.append(finished)
            last_path = round_dir / "neb_path.extxyz"
            if (round_dir / "labels.extxyz").is_file():
                label_files.append(round_dir / "labels.extxyz")
            if finished.next_model is None:
                converged = _converged(finished, settings.tolerance)
                break
            current = finished.next_model
    finally:
        runs.close()
    final_round = rounds[-1]
    if converged:
        message = (f"converged in round {final_round.round}: barrier {final_round.ml_barrier_eV:.3f} eV, change "
                   f"{abs(final_round.barrier_change_eV or 0):.3f} eV and path error "
                   f"{final_round.max_path_error_eV:.3f} eV within {settings.tolerance} eV")
    else:
        message = (f"not converged after {len(rounds)} round(s): barrier {final_round.ml_barrier_eV:.3f} eV, path "
                   f"error {final_round.max_path_error_eV:.3f} eV (tolerance {settings.tolerance} eV)")
    result = RefineResult(
        initial_model=model, reference=reference, rounds=rounds, converged=converged, message=message,
        final_model=final_round.model, final_barrier_eV=final_round.ml_barrier_eV,
        tolerance_eV=settings.tolerance, store=store_path, output_dir=output_dir, path_file=last_path,
        resumed_rounds=resumed)
    if settings.reference_neb and last_path is not None:
        say("reference CI-NEB from the refined ML path")
        result.reference_neb = reference_neb(_read_path(last_path), reference, reference_settings, settings)
    return result


@dataclass
class _RoundTask:
    """What RunStore.register needs of a row: key, kind, model, labels."""

    key: str
    kind: str
    model: str
    labels: dict[str, Any]


def _loop_key(initial: Atoms, final: Atoms, model: str, reference: str, reference_settings: Any,
              *settings: Any) -> str:
    """A hash of everything that defines a loop: a changed input starts a new loop in the same store."""
    digest = hashlib.sha256()
    for atoms in (initial, final):
        digest.update(np.ascontiguousarray(atoms.numbers).tobytes())
        digest.update(np.round(atoms.positions, 6).tobytes())
        digest.update(np.round(atoms.cell.array, 6).tobytes())
    described = [model, reference, dict(reference_settings or {})]
    described += [asdict(s) if hasattr(s, "__dataclass_fields__") else s for s in settings]
    digest.update(json.dumps(described, sort_keys=True, default=str).encode())
    return f"refine-{digest.hexdigest()[:16]}"


def _converged(finished: RefineRound, tolerance: float) -> bool:
    return (finished.barrier_change_eV is not None and abs(finished.barrier_change_eV) < tolerance
            and finished.max_path_error_eV < tolerance)


def _run_round(index: int, base: str, model: str, initial: Atoms, final: Atoms, reference: str,
               reference_settings: Mapping[str, Any] | None, settings: RefineSettings, neb_settings: NEBSettings,
               fine_tune_settings: FineTuneSettings, committee: Sequence[str] | None, load_model: Callable[[str], Any],
               previous: RefineRound | None, round_dir: Path, label_files: list[Path],
               endpoint_labels: list[Label], trust_model: bool, say: Callable[[str], None]) -> RefineRound:
    started = time.perf_counter()
    say(f"round {index}: CI-NEB with {model}")
    calculator = load_model(model)
    path = neb(initial, final, calculator, neb_settings, output_dir=round_dir, model=model)
    images = [image.copy() for image in path.images]
    ml = np.array([image.get_potential_energy() for image in path.images])
    labelled = images[1:-1] if endpoint_labels else images  # known endpoints: labelled when they were relaxed
    say(f"round {index}: reference single points on {len(labelled)} images (ML barrier {path.barrier:.3f} eV)")
    computed = label_configurations(labelled, reference, reference_settings, progress=False)
    on_path = (LabelSet(computed.reference, [endpoint_labels[0], *computed.labels, endpoint_labels[-1]])
               if endpoint_labels else computed)
    if on_path.failed:
        raise CalculationError(f"round {index}: the reference failed on {len(on_path.failed)} path image(s): "
                               f"{on_path.failed[0].error}")
    ref = np.array([label.energy_eV for label in on_path.labels])
    ml_rel, ref_rel = ml - ml[0], ref - ref[0]
    change = None if previous is None else float(path.barrier - previous.ml_barrier_eV)
    finished = RefineRound(
        round=index, model=model, ml_barrier_eV=float(path.barrier), ml_energies_eV=ml_rel.tolist(),
        reference_energies_eV=ref_rel.tolist(), reference_barrier_on_path_eV=float(ref_rel.max()),
        max_path_error_eV=float(np.abs(ml_rel - ref_rel).max()), barrier_change_eV=change,
        label_count=len(computed.successful), failed_labels=0, fine_tune=None, next_model=None, wall_time_s=0.0)
    if _converged(finished, settings.tolerance) or index == settings.rounds - 1:
        finished.wall_time_s = time.perf_counter() - started
        return finished
    chosen = _rattled(images, settings, index, _disagreement(images, committee, load_model))
    say(f"round {index}: reference labels on {len(chosen)} rattled configurations")
    rattled = label_configurations(chosen, reference, reference_settings, progress=False)
    labels = computed.successful + rattled.successful
    finished.label_count, finished.failed_labels = len(labels), len(rattled.failed)
    if len(rattled.failed) == len(chosen) and chosen:
        raise CalculationError(f"round {index}: every rattled configuration failed with the reference: "
                               f"{rattled.failed[0].error}")
    label_file = round_dir / "labels.extxyz"
    LabelSet(on_path.reference, labels).write_extxyz(label_file)
    say(f"round {index}: fine-tuning {base if settings.from_base else model} on {len(labels)} + {sum(_count(f) for f in label_files)} earlier labels")
    start = base if settings.from_base else model
    tuned = fine_tune(start, [*label_files, label_file], round_dir / f"model{_suffix(model)}", fine_tune_settings,
                      reference=on_path.reference.to_dict(), trust_model=trust_model)
    finished.fine_tune = jsonable({"accepted": tuned.accepted, "message": tuned.message, "model": tuned.model,
                                   "before": tuned.before, "after": tuned.after, "n_train": tuned.n_train,
                                   "n_valid": tuned.n_valid, "epochs_run": tuned.epochs_run,
                                   "plot": tuned.plot_path})
    finished.next_model = tuned.model
    say(f"round {index}: {tuned.message}")
    finished.wall_time_s = time.perf_counter() - started
    return finished


_ENDPOINTS = "reference_endpoints.extxyz"
_ENDPOINT_LABELS = "reference_endpoint_labels.extxyz"


def _reference_endpoints(initial: Atoms, final: Atoms, reference: str, reference_settings: Mapping[str, Any] | None,
                         settings: RefineSettings, output_dir: Path,
                         say: Callable[[str], None]) -> tuple[Atoms, Atoms, list[Label]]:
    """The endpoints relaxed with the reference (read back from ``output_dir`` when an earlier run wrote them),
    and their final single points as labels. Every relaxation step is written to the endpoint label file."""
    from ase.io import read, write

    endpoints_file, labels_file = output_dir / _ENDPOINTS, output_dir / _ENDPOINT_LABELS
    if endpoints_file.is_file() and labels_file.is_file():
        say(f"endpoints relaxed with {reference}: read from {endpoints_file}")
        relaxed = read(endpoints_file, index=":", format="extxyz")
    else:
        relaxed, steps = [], []
        for name, atoms in (("initial", initial), ("final", final)):
            say(f"relaxing the {name} endpoint with {reference}")
            minimum, labels = relax_with_reference(atoms, reference, reference_settings,
                                                   fmax=settings.reference_neb_fmax / 2,
                                                   steps=settings.reference_neb_steps)
            say(f"{name} endpoint: {len(labels.labels)} reference single points, "
                f"{sum(label.wall_time_s for label in labels.labels):.0f} s")
            relaxed.append(minimum)
            steps.extend(labels.labels)
        LabelSet(labels.reference, steps).write_extxyz(labels_file)
        atomic_write(endpoints_file, lambda temporary: write(temporary, relaxed, format="extxyz"))
    endpoint_labels = [Label(atoms.copy(), float(atoms.get_potential_energy()), np.array(atoms.get_forces()), None,
                             0.0) for atoms in relaxed]
    for atoms, given in zip(relaxed, (initial, final)):
        atoms.calc = None
        atoms.set_constraint(given.constraints)
    return relaxed[0], relaxed[1], endpoint_labels


def _suffix(model: str) -> str:
    return ".model" if model.startswith("mace") else ".pt"


def _count(path: Path) -> int:
    from ase.io import iread

    return sum(1 for _ in iread(path, format="extxyz"))


def _disagreement(images: list[Atoms], committee: Sequence[str] | None, load_model: Callable[[str], Any]) -> int | None:
    """Index of the interior image whose energy (relative to the initial image) the committee's models spread
    most over (standard deviation), or None without a committee."""
    if not committee or len(images) < 3:
        return None
    from ssbkit.potentials import predict

    energies = []
    for name in committee:
        predicted = np.array([p.energy for p in predict(images, load_model(name))])
        energies.append(predicted - predicted[0])
    spread = np.std(np.array(energies), axis=0)
    return int(np.argmax(spread[1:-1])) + 1


def _rattled(images: list[Atoms], settings: RefineSettings, round_index: int, focus: int | None) -> list[Atoms]:
    """Seeded rattles (normal displacements of ``rattle_amplitude`` Å) of every image, plus extra ones of
    ``focus``."""
    rng = np.random.default_rng([settings.seed, round_index])
    picks = [i for i in range(len(images)) for _ in range(settings.rattles)]
    if focus is not None:
        picks += [focus] * settings.committee_rattles
    chosen = []
    for i in picks:
        atoms = images[i].copy()
        atoms.calc = None
        atoms.positions += rng.normal(scale=settings.rattle_amplitude, size=atoms.positions.shape)
        chosen.append(atoms)
    return chosen


def _read_path(path: Path) -> list[Atoms]:
    from ase.io import read

    return read(path, index=":", format="extxyz")


def reference_neb(ml_path: Sequence[Atoms], reference: str, reference_settings: Mapping[str, Any] | None,
                  settings: RefineSettings) -> ReferenceNEB:
    """A climbing-image NEB with the reference, its ``reference_neb_images`` interior images taken from the
    refined ML path (evenly along it) rather than interpolated, its endpoints first relaxed (fixed cell) with the
    reference: ASE's NEB, BFGS and FIRE, one reference calculator per image."""
    from ase.mep import NEB
    from ase.optimize import FIRE

    from ssbkit.workflows.reference import reference_calculator

    n_images = min(settings.reference_neb_images, len(ml_path) - 2)
    interior = np.linspace(0, len(ml_path) - 1, n_images + 2).round().astype(int)
    images = [ml_path[i].copy() for i in interior]
    for position in (0, -1):  # the reference's own minima, not the ML model's
        images[position], _ = relax_with_reference(images[position], reference, reference_settings,
                                                   fmax=settings.reference_neb_fmax / 2,
                                                   steps=settings.reference_neb_steps)
    for image in images[1:-1]:
        image.calc = reference_calculator(reference, reference_settings)
    band = NEB(images, climb=True, method="improvedtangent")
    optimizer = FIRE(band, logfile=None)
    converged = bool(optimizer.run(fmax=settings.reference_neb_fmax, steps=settings.reference_neb_steps))
    energies = np.array([image.get_potential_energy() for image in images])
    relative = energies - energies[0]
    return ReferenceNEB(barrier_eV=float(relative.max()), energies_eV=relative.tolist(), converged=converged,
                        steps=optimizer.get_number_of_steps(),
                        fmax=float(np.linalg.norm(band.get_forces(), axis=1).max()))


def plot_rounds(result: RefineResult, path: str | Path) -> Path:
    """Save the ML barrier per round (eV) with the reference barrier along each round's path, and the reference
    CI-NEB barrier when one was run."""
    from matplotlib.figure import Figure

    path = image_path(path)
    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = fig.add_subplot()
    numbers = [r.round for r in result.rounds]
    ax.plot(numbers, [r.ml_barrier_eV for r in result.rounds], "o-", label="ML CI-NEB barrier")
    ax.plot(numbers, [r.reference_barrier_on_path_eV for r in result.rounds], "s--",
            label=f"{result.reference} along the ML path")
    if result.reference_neb is not None:
        ax.axhline(result.reference_neb.barrier_eV, color="k", lw=0.8, label=f"{result.reference} CI-NEB")
    ax.set_xticks(numbers)
    ax.set(xlabel="round", ylabel="barrier (eV)")
    ax.set_title(f"{result.initial_model} refined against {result.reference}: "
                 f"{'converged' if result.converged else 'not converged'}", fontsize=9)
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=120)
