"""Entries from ML-potential relaxations, on the Materials Project energy scale (entry source ``mlip``).

Universal potentials trained on MPtrj predict total energies on the scale of MP's GGA/GGA+U
calculations, so a relaxed structure becomes a ``ComputedStructureEntry`` that can sit in a phase
diagram next to MP entries. The elements are referenced to MP's own elemental ground states (the 89
entries of the 2023-02-07 database shipped in ``ssbkit/data``), not to the potential's elements.

Whether MP2020 anion and U corrections must be added depends on the training targets:

* CHGNet 0.3.0 was trained on MPtrj energies that already include the MP2020 corrections
  (its paper and the matbench-discovery protocol): adding them again puts Li2O, LiF, LiCl and Li2S
  0.1-0.3 eV/atom below experiment. No correction is added.
* SevenNet-0 and the MACE-MP foundation models were trained on the uncorrected MPtrj energies: the
  MP2020 corrections are added as for a GGA(+U) calculation (``tests/test_ml_entries.py`` checks
  both choices against experimental formation enthalpies).

Each model card says which (``ModelCard.mp2020_in_training_data`` in ``ssbkit.potentials.registry``).

``formation_energy_committee`` relaxes the same structures with several models and reports, per
structure, the committee's formation energy (mean ± std, eV/atom) with a ``models-disagree`` caveat
where the spread exceeds 0.025 eV/atom; the entries of one model carry every model's value.

Relaxations (cell and positions) are cached per structure hash, model and relaxation settings in the
ssbkit cache dir, so a screening run never relaxes the same phase twice.

``ssbkit.workflows`` registers the ``mlip`` entry source, which imports this module when built; pymatgen's
compatibility schemes, the potentials and the relaxation are imported when first used.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms
from pymatgen.core import Structure

from ssbkit import config
from ssbkit.errors import CalculationError, DataError, InputError, ModelError
from ssbkit.interfaces.entries import MP_ENERGIES, SourceOptions, entries_within
from ssbkit.io import atomic_write, read_structures as read_structure_files, to_atoms, to_structure
from ssbkit.results import Caveat, Result
from ssbkit.workflows.committee import (
    CommitteeResult,
    CommitteeValue,
    ModelFailure,
    committee_value,
    run_committee,
    spread_caveats,
)

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator
    from pymatgen.analysis.phase_diagram import PDEntry
    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility
    from pymatgen.entries.computed_entries import ComputedEntry, ComputedStructureEntry

MP_ELEMENTAL_REFERENCES = "mp-elemental-reference-entries-2023-02-07.json.gz"

# MP's GGA+U values (eV) for oxides and fluorides, as the MP2020 scheme expects them in an entry.
MP_HUBBARD_U = {"Co": 3.32, "Cr": 3.7, "Fe": 5.3, "Mn": 3.9, "Mo": 4.38, "Ni": 6.2, "V": 3.25, "W": 6.2}
MIN_DISTANCE = 0.5  # Å; closer atoms are overlapping input or a collapsed relaxation
MAX_VOLUME_CHANGE = 2.0  # a relaxation that changes the volume by more than this factor blew up
RELAX_FMAX = 0.05  # eV/Å: default force tolerance of the relaxations
RELAX_STEPS = 500  # default step limit of the relaxations


@cache
def mp_elemental_references() -> dict[str, ComputedEntry]:
    """MP's ground-state entry of each of 89 elements (2023-02-07 database; energies in eV, corrected).

    Data: Materials Project (CC BY 4.0), as published in the matbench-discovery data set (MIT).
    """
    from pymatgen.entries.computed_entries import ComputedEntry

    raw = resources.files("ssbkit.data").joinpath(MP_ELEMENTAL_REFERENCES).read_bytes()
    with warnings.catch_warnings():  # pymatgen warns about noble gases lacking electronegativities
        warnings.simplefilter("ignore", UserWarning)
        return {el: ComputedEntry.from_dict(entry) for el, entry in json.loads(gzip.decompress(raw)).items()}


def formation_energy_per_atom(entry: ComputedEntry) -> float:
    """Formation energy (eV/atom) of an entry against MP's elemental ground states."""
    references = mp_elemental_references()
    missing = [str(el) for el in entry.composition if str(el) not in references]
    if missing:
        raise DataError(f"no MP elemental reference for {', '.join(missing)}")
    reference_energy = sum(amount * references[str(el)].energy_per_atom for el, amount in entry.composition.items())
    return (entry.energy - reference_energy) / entry.composition.num_atoms


def model_identity(calculator: Calculator) -> tuple[str, str]:
    """(registry name, version) of a calculator from ``ssbkit.potentials.load``, else (class name, "unknown")."""
    from ssbkit.potentials import model_name

    card = getattr(calculator, "ssbkit_card", None)
    return (card.name, card.version) if card is not None else (model_name(calculator), "unknown")


def needs_mp2020_corrections(model: str) -> bool:
    """Whether MP2020 corrections must be added to a model's energies, from its model card (False when its
    training energies carry them). ModelError for models not on the MP energy scale or without a card."""
    from ssbkit.potentials.registry import CARDS

    model_card = CARDS.get(model)
    known = [name for name, c in CARDS.items() if c.mp2020_in_training_data is not None]
    if model_card is None:
        raise ModelError(
            f"unknown whether {model!r} was trained on MP2020-corrected energies; pass mp2020_corrections=True "
            f"(trained on raw MPtrj energies) or False (trained on corrected ones); known: {', '.join(known)}")
    if model_card.mp2020_in_training_data is None:
        raise ModelError(f"{model} was trained on non-MP DFT data ({model_card.training_data}), so its energies "
                         "cannot be mixed with MP entries; use an MPtrj-trained model (chgnet, sevennet-0, "
                         "mace-mp-0-*)")
    return not model_card.mp2020_in_training_data


def _as_structure(structure: Structure | Atoms) -> Structure:
    if isinstance(structure, Atoms) and not structure.pbc.all():
        raise InputError(f"{structure.get_chemical_formula()} is not periodic in 3D; bulk phases need a cell")
    return to_structure(structure)


def _check_relaxable(structure: Structure) -> None:
    formula = structure.composition.reduced_formula if len(structure) else "empty structure"
    if len(structure) == 0:
        raise InputError("cannot relax an empty structure")
    if not structure.is_ordered:
        raise InputError(f"{formula} has partially occupied sites; order it first "
                         "(ssbkit.interfaces.structures.references.order_by_ewald)")
    if structure.volume < 1e-3 * len(structure):
        raise InputError(f"{formula} has a degenerate cell (volume {structure.volume:.3g} Å³)")
    if len(structure) > 1:
        distances = structure.distance_matrix[np.triu_indices(len(structure), 1)]
        if distances.min() < MIN_DISTANCE:
            raise InputError(f"{formula} has overlapping atoms ({distances.min():.2f} Å apart)")


def structure_hash(structure: Structure) -> str:
    """Hash of a cell's lattice, species and fractional positions (rounded to 1e-4), independent of site order."""
    frac = np.round(np.mod(structure.frac_coords, 1.0), 4) % 1.0
    sites = sorted((site.specie.symbol, *map(float, xyz)) for site, xyz in zip(structure, frac, strict=True))
    payload = json.dumps({"lattice": np.round(structure.lattice.matrix, 4).tolist(), "sites": sites})
    return hashlib.sha256(payload.encode()).hexdigest()


def _relaxation_path(structure: Structure, model: str, version: str, fmax: float, steps: int) -> Path:
    """The cache file of one relaxation (structure, model and version, settings)."""
    key = hashlib.sha256(f"{structure_hash(structure)}|{model}|{version}|{fmax}|{steps}".encode()).hexdigest()
    return config.cache_dir() / "mlip" / model.replace("/", "_").replace(":", "_") / f"{key}.json"


def _cached_relaxation(path: Path) -> dict[str, Any] | None:
    """A cached relaxation record (relaxed Structure, raw energy in eV, steps, fmax, initial volume), or None
    when there is none; a corrupt file is deleted so the structure is relaxed again."""
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
        record["structure"] = Structure.from_dict(record["structure"])
        return record
    except (json.JSONDecodeError, KeyError, ValueError):
        path.unlink(missing_ok=True)
        return None


def _relax_cached(structure: Structure, calculator: Calculator, model: str, version: str,
                  fmax: float, steps: int) -> dict[str, Any]:
    """Relaxed structure and raw model energy of one cell, from the cache when there."""
    from ssbkit.workflows.relax import relax

    path = _relaxation_path(structure, model, version, fmax, steps)
    record = _cached_relaxation(path)
    if record is not None:
        return record
    formula = structure.composition.reduced_formula
    atoms = to_atoms(structure)
    try:
        result = relax(atoms, calculator, fmax=fmax, steps=steps, relax_cell=True)
    except CalculationError as exc:
        raise CalculationError(f"relaxation of {formula} blew up: {exc}") from exc
    relaxed = to_structure(result.atoms)
    volume_ratio = relaxed.volume / structure.volume
    distances = relaxed.distance_matrix[np.triu_indices(len(relaxed), 1)] if len(relaxed) > 1 else np.array([9.0])
    if not 1 / MAX_VOLUME_CHANGE < volume_ratio < MAX_VOLUME_CHANGE or distances.min() < MIN_DISTANCE:
        raise CalculationError(
            f"relaxation of {formula} blew up (volume x{volume_ratio:.2f}, closest atoms {distances.min():.2f} Å)")
    if not result.converged:
        raise CalculationError(f"relaxation of {formula} did not converge in {steps} steps "
                               f"(max force {result.fmax:.3f} eV/Å > {fmax}); raise steps or check the structure")
    record = {"structure": relaxed, "energy": result.energy, "steps": result.steps, "fmax": result.fmax,
              "initial_volume": structure.volume}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps({**record, "structure": relaxed.as_dict()}))
    return record


@cache
def _mp2020_compatibility() -> MaterialsProject2020Compatibility:
    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility

    return MaterialsProject2020Compatibility(check_potcar=False)  # reads its YAML once


def _mp2020_corrected(entry: ComputedStructureEntry) -> ComputedStructureEntry:
    """The entry with MP2020 anion and GGA+U corrections, as MP would apply them to a GGA(+U) run."""
    from pymatgen.entries.compatibility import CompatibilityError

    elements = {str(el) for el in entry.composition}
    hubbards = {el: MP_HUBBARD_U[el] for el in elements & set(MP_HUBBARD_U)} if elements & {"O", "F"} else {}
    entry.parameters.update(run_type="GGA+U" if hubbards else "GGA", is_hubbard=bool(hubbards), hubbards=hubbards)
    try:
        corrected = _mp2020_compatibility().process_entry(entry, on_error="raise")
    except CompatibilityError as exc:
        raise DataError(f"MP2020 corrections cannot be applied to {entry.composition.reduced_formula}: {exc}") from exc
    if corrected is None:
        raise DataError(f"MP2020 corrections cannot be applied to {entry.composition.reduced_formula}")
    return corrected


def checked_structure(structure: Structure | Atoms, calculator: Calculator) -> Structure:
    """The input as a pymatgen Structure, after checking it can be relaxed with ``calculator``: periodic,
    ordered, no overlapping atoms, every element covered by the model (InputError / ModelError otherwise)."""
    from ssbkit.potentials import check_coverage

    structure = _as_structure(structure)
    _check_relaxable(structure)
    check_coverage(to_atoms(structure), calculator)
    return structure


def entry_from_structure(
    structure: Structure | Atoms,
    calculator: Calculator,
    *,
    mp2020_corrections: bool | None = None,
    fmax: float = RELAX_FMAX,
    steps: int = RELAX_STEPS,
    name: str | None = None,
) -> ComputedStructureEntry:
    """Relax cell and positions with ``calculator`` and return an entry on the MP energy scale (eV).

    ``mp2020_corrections`` (None: decided per model, see the module docstring) adds MP2020 corrections.
    The entry's ``data`` holds the model, its version, the relaxation and the formation energy (eV/atom)
    against MP's elemental ground states.
    """
    structure = checked_structure(structure, calculator)
    model, version = model_identity(calculator)
    add_corrections = needs_mp2020_corrections(model) if mp2020_corrections is None else mp2020_corrections
    relaxed = _relax_cached(structure, calculator, model, version, fmax, steps)
    return _relaxed_entry(structure, relaxed, model, version, add_corrections, name)


def _relaxed_entry(structure: Structure, relaxed: dict[str, Any], model: str, version: str, add_corrections: bool,
                   name: str | None) -> ComputedStructureEntry:
    """The entry of a relaxation record of ``structure`` (see :func:`entry_from_structure`)."""
    from pymatgen.entries.computed_entries import ComputedStructureEntry

    formula = structure.composition.reduced_formula
    digest = structure_hash(structure)
    entry = ComputedStructureEntry(
        relaxed["structure"], relaxed["energy"],
        parameters={"model": model, "model_version": version},
        data={"source": "mlip", "model": model, "model_version": version, "name": name or formula,
              "mp2020_corrections_added": add_corrections, "relax_steps": relaxed["steps"],
              "relax_fmax_eV_per_A": relaxed["fmax"],
              "volume_change": relaxed["structure"].volume / relaxed["initial_volume"] - 1,
              "structure_hash": digest},
        entry_id=f"mlip-{model}-{name or formula}-{digest[:8]}",
    )
    if add_corrections:
        entry = _mp2020_corrected(entry)
    entry.data["formation_energy_per_atom"] = formation_energy_per_atom(entry)
    return entry


def entries_from_structures(
    structures: Sequence[Structure | Atoms],
    calculator: Calculator,
    *,
    names: Sequence[str] | None = None,
    mp2020_corrections: bool | None = None,
    fmax: float = RELAX_FMAX,
    steps: int = RELAX_STEPS,
    progress: bool = False,
) -> list[ComputedStructureEntry]:
    """Entries for several structures (see :func:`entry_from_structure`). Every structure is checked before
    the first relaxation starts, so bad input fails fast."""
    from tqdm import tqdm

    names = list(names) if names is not None else [None] * len(structures)
    if len(names) != len(structures):
        raise InputError(f"{len(names)} names for {len(structures)} structures")
    structures = [checked_structure(structure, calculator) for structure in structures]
    if mp2020_corrections is None:
        needs_mp2020_corrections(model_identity(calculator)[0])  # unknown models fail before any relaxation
    pairs: Iterable = zip(structures, names, strict=True)
    if progress:
        pairs = tqdm(list(pairs), desc="relaxing", unit="structure")
    return [entry_from_structure(s, calculator, mp2020_corrections=mp2020_corrections, fmax=fmax, steps=steps,
                                 name=n) for s, n in pairs]


@dataclass
class FormationEnergyRow(Result):
    """One structure's formation energy (eV/atom against MP's elements) from every model that finished."""

    name: str
    formula: str
    formation_energy: CommitteeValue


@dataclass
class FormationEnergyCommitteeResult(CommitteeResult):
    """Formation energies of several structures from several models: one row per structure, the entries of
    ``entries_model`` (each with ``data["committee_formation_energy_per_atom"]``: eV/atom per model), the
    failed models and caveats (``models-disagree`` where a spread exceeds the threshold)."""

    models: list[str]
    entries_model: str
    entries: list[ComputedStructureEntry]
    rows: list[FormationEnergyRow]
    failures: list[ModelFailure] = field(default_factory=list)
    caveats: list[Caveat] = field(default_factory=list)


def formation_energy_committee(
    structures: Sequence[Structure | Atoms],
    models: Sequence[str],
    load_calculator: Callable[[str], Calculator],
    *,
    names: Sequence[str] | None = None,
    entries_model: str | None = None,
    mp2020_corrections: bool | None = None,
    fmax: float = 0.05,
    steps: int = 500,
    threshold: float | None = None,
    progress: bool = False,
) -> FormationEnergyCommitteeResult:
    """:func:`entries_from_structures` with every model (``load_calculator(model)`` gives its calculator).

    A model that fails is recorded and the others go on. ``entries_model`` (default: the first model that
    finished) gives the entries; ``threshold`` (eV/atom, default 0.025) is the spread above which the
    models disagree. CalculationError when no model (or ``entries_model``) finished.
    """
    models = list(models)
    if entries_model is not None and entries_model not in models:
        raise InputError(f"--entries-model {entries_model} is not one of the committee: {', '.join(models)}")
    run = run_committee(models, lambda model: entries_from_structures(
        structures, load_calculator(model), names=names, mp2020_corrections=mp2020_corrections, fmax=fmax,
        steps=steps, progress=progress))
    reasons = "; ".join(f"{f.model}: {f.reason}" for f in run.failures)
    chosen = entries_model or next(iter(run.results), None)
    if chosen not in run.results:
        raise CalculationError(f"no entries from {chosen or 'any model'}: {reasons}")
    entries = run.results[chosen]
    rows = []
    for number, entry in enumerate(entries):
        per_model = {model: found[number].data["formation_energy_per_atom"] for model, found in run.results.items()}
        name = entry.data["name"]
        value = committee_value(f"formation energy of {name}", "eV/atom", per_model, threshold)
        entry.data["committee_formation_energy_per_atom"] = value.values
        rows.append(FormationEnergyRow(name=name, formula=entry.composition.reduced_formula, formation_energy=value))
    return FormationEnergyCommitteeResult(
        models=models, entries_model=chosen, entries=entries, rows=rows, failures=run.failures,
        caveats=run.failure_caveats() + spread_caveats([row.formation_energy for row in rows]))


def read_structures(path: str | Path) -> list[tuple[str, Structure]]:
    """(name, structure) of every structure in a file or folder (:func:`ssbkit.io.read_structures`), as
    pymatgen Structures; InputError for structures that are not periodic in 3D."""
    return [(name, _as_structure(atoms)) for name, atoms in read_structure_files(path)]


class MLIPSource:
    """Entry source ``mlip:[MODEL:]PATH``: the structures in PATH (a file or a directory) relaxed with
    MODEL (default chgnet) as entries on the MP energy scale, plus MP's elemental ground states.

    Combine it with ``mp`` (same energy scale), not with ``experimental`` (formation enthalpies: write
    formation-energy entries with ``ssbkit entries from-structures --formation-energies`` instead).
    A relative PATH is taken relative to ``base_dir`` when given.
    """

    energy_reference = MP_ENERGIES
    mixing_hint = ("write formation-energy entries with 'ssbkit entries from-structures --formation-energies' "
                   "and use experimental,file:PATH")

    def __init__(self, argument: str, device: str = "auto", base_dir: Path | None = None):
        model, _, path = argument.partition(":")
        if not path:
            model, path = "chgnet", argument
        if not path:
            raise InputError("the mlip source needs structures: mlip:PATH or mlip:MODEL:PATH")
        self.name = f"mlip:{argument}"
        self.model = model
        self.device = device
        self.structures = read_structures(SourceOptions(base_dir=base_dir).path(path))
        self._entries: list[ComputedStructureEntry] | None = None

    def entries(self) -> list[ComputedStructureEntry]:
        """All relaxed entries (relaxing on first use; relaxations are cached on disk). The model is loaded only
        when a structure has no cached relaxation."""
        if self._entries is None:
            self._entries = self._cached_entries()
        if self._entries is None:
            from ssbkit.potentials import load

            calculator = load(self.model, device=self.device)
            names, structures = zip(*self.structures, strict=True)
            self._entries = entries_from_structures(structures, calculator, names=names)
        return self._entries

    def _cached_entries(self) -> list[ComputedStructureEntry] | None:
        """Every structure's entry from the relaxation cache, or None when one is not cached."""
        from ssbkit.potentials.registry import card

        model_card = card(self.model)
        records = []
        for name, structure in self.structures:
            _check_relaxable(structure)
            record = _cached_relaxation(_relaxation_path(structure, model_card.name, model_card.version,
                                                         RELAX_FMAX, RELAX_STEPS))
            if record is None:
                return None
            records.append((name, structure, record))
        add_corrections = needs_mp2020_corrections(model_card.name)
        return [_relaxed_entry(structure, record, model_card.name, model_card.version, add_corrections, name)
                for name, structure, record in records]

    def get_entries(self, elements: Iterable[str]) -> list[ComputedEntry]:
        """Entries whose elements are all in ``elements``, and MP's ground state of each of those elements."""
        references = mp_elemental_references()
        return [references[str(el)] for el in sorted(elements) if str(el) in references] + entries_within(
            self.entries(), elements)


def formation_energy_entries(entries: Sequence[ComputedEntry]) -> list[PDEntry]:
    """Entries whose energy is the formation energy against MP's elements (eV per formula unit, elements
    at zero): the reference that pymatgen's experimental formation enthalpies use."""
    from pymatgen.analysis.phase_diagram import PDEntry

    return [PDEntry(e.composition, formation_energy_per_atom(e) * e.composition.num_atoms,
                    name=e.data.get("name", e.composition.reduced_formula), attribute=dict(e.data)) for e in entries]
