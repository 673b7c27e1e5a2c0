"""Batch specs: a YAML file that expands into a list of tasks with content-hash keys.

Grammar (every key but ``tasks`` is optional)::

    model: chgnet            # default model for every task (a name known to ssbkit.potentials, or emt)
    device: auto             # auto | cpu | cuda
    run_dir: runs/screen     # relative to the spec; default runs/<spec name> next to the spec
    batch_size: 32           # same-kind tasks sharing batched model calls (default: 32 on a GPU, 1 on CPU)
    retries: 0               # failed attempts allowed per task beyond the first (CLI --retries overrides)
    store: {journal_mode: wal, lease_s: 300}   # 'delete' for stores shared between nodes; lease of a claim
    structures:              # named structures, referenced by name below
      cu: bulk:Cu                                            # ase.build.bulk shorthand
      al: {bulk: Al, cubic: true, repeat: [2, 2, 2], rattle: 0.05, seed: 1}
      h2o: molecule:H2O                                      # ase.build.molecule shorthand
      llzo: structures/LLZO.cif                              # a file, relative to the spec
      last: {file: md.traj, index: -1}
    tasks:                   # task templates, expanded in order
      - kind: relax
        model: emt           # overrides the default
        parameters: {fmax: 0.02}                             # fixed for every task of the template
        product: {atoms: [cu, al], steps: [50, 200]}         # every combination: 4 tasks
      - kind: singlepoint
        zip: {atoms: [cu, al]}                               # element-wise (lists of equal length)

A template may hold ``inputs`` (fixed inputs), ``parameters``, ``product`` and ``zip``. The rows of
``zip`` are combined with every combination of ``product`` (product axes vary slowest, in the order
written). A name in ``product``/``zip`` goes to the inputs if the kind declares it an input, to the
parameters otherwise. Structure inputs are references: a name from ``structures``, ``bulk:X``,
``molecule:X``, a file path (``path@index`` picks a frame) or an inline mapping as in ``structures``.
``model`` may be an axis too (``product: {atoms: [a, b], model: [chgnet, sevennet-0]}``).

Tasks are deduplicated by key; ``--task-index i`` refers to position i of this list.

Everything a run writes stays inside the spec's directory or the current directory: ``name`` is a plain
name (no path separators, not ``..``), and ``run_dir`` must resolve inside one of those two.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from ssbkit import __version__
from ssbkit.errors import InputError
from ssbkit.io import read_structure, read_yaml
from ssbkit.settings import setting, settings_from_mapping, validate
from ssbkit.workflows.kinds import TaskKind, get_kind, model_version

IGNORED_ARRAYS = {"numbers", "positions", "spacegroup_kinds"}  # the last: CIF-reader bookkeeping
POSITION_DECIMALS = 4  # Å: below physical relevance, above float noise from file round trips
TOP_LEVEL_KEYS = {"model", "device", "run_dir", "batch_size", "retries", "trust_model", "structures", "tasks",
                  "slurm", "dask", "store", "name"}
TEMPLATE_KEYS = {"kind", "model", "inputs", "parameters", "product", "zip"}
BULK_KEYS = {"crystalstructure", "a", "b", "c", "alpha", "covera", "u", "orthorhombic", "cubic"}
MODIFIER_KEYS = {"repeat", "rattle", "seed"}


@dataclass
class Task:
    """One unit of work: a kind applied to inputs with parameters and a model; ``key`` is its content hash."""

    index: int
    key: str
    kind: str
    inputs: dict[str, Any]
    parameters: dict[str, Any]
    model: str | None
    labels: dict[str, Any]


@dataclass
class Spec:
    """A parsed batch spec: its tasks and execution settings."""

    path: Path
    name: str
    run_dir: Path
    tasks: list[Task]
    device: str = "auto"
    batch_size: int | None = None
    retries: int = 0
    slurm: dict[str, Any] = field(default_factory=dict)
    dask: dict[str, Any] = field(default_factory=dict)
    journal_mode: str = "wal"
    lease_s: float = 300.0
    trust_model: bool = False

    @property
    def store_path(self) -> Path:
        """The SQLite results store of this spec."""
        return self.run_dir / "store.sqlite"


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """How a spec's tasks are executed: the top-level ``batch_size``, ``retries`` and ``trust_model`` and the
    ``store`` section's ``journal_mode`` and ``lease_s``."""

    batch_size: int | None = setting(None, help="Same-kind tasks sharing batched model calls (default: 32 on "
                                     "a GPU, 1 on CPU).", minimum=1)
    retries: int = setting(0, help="Failed attempts allowed per task beyond the first.", minimum=0)
    journal_mode: str = setting("wal", help="SQLite journal mode of the store: wal, or delete for stores shared "
                                "between nodes.", choices=("wal", "delete"))
    lease_s: float = setting(300.0, help="How long (s) a claim on a task holds without renewal.", unit="s",
                             minimum=0, exclusive_minimum=True)
    trust_model: bool = setting(False, help="Load mace:PATH model files in full, letting them run code; only for "
                                "files from a source you trust.")

    def __post_init__(self) -> None:
        validate(self)


# --- canonical content for keys ---------------------------------------------------------------------


def canonical_atoms(atoms: Atoms) -> dict[str, Any]:
    """What identifies a structure: numbers, positions and cell (Å, rounded), pbc, constraints and
    any other per-atom arrays (tags, magnetic moments, interface_part ...)."""

    def rounded(array: np.ndarray) -> list:
        return (np.round(np.asarray(array, dtype=float), POSITION_DECIMALS) + 0.0).tolist()  # +0.0: no -0.0

    extra = {name: rounded(values) if np.issubdtype(values.dtype, np.floating) else values.tolist()
             for name, values in sorted(atoms.arrays.items()) if name not in IGNORED_ARRAYS}
    return {
        "numbers": atoms.numbers.tolist(),
        "positions": rounded(atoms.positions),
        "cell": rounded(atoms.cell.array),
        "pbc": atoms.pbc.tolist(),
        "constraints": [c.todict() for c in atoms.constraints],
        "arrays": extra,  # tags, magnetic moments, interface_part, ...
    }


def _canonical(value: Any) -> Any:
    if isinstance(value, Atoms):
        return canonical_atoms(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float, np.number)):
        return float(f"{float(value):.12g}")  # 300 and 300.0 hash alike
    if isinstance(value, np.ndarray):
        return _canonical(value.tolist())
    raise InputError(f"cannot use {type(value).__name__} value {value!r} in a task")


def task_key(kind: TaskKind, inputs: dict[str, Any], parameters: dict[str, Any], model: str | None) -> str:
    """Content hash of a task: kind, inputs, parameters, model name and version, ssbkit version."""
    content = {
        "kind": kind.name,
        "kind_version": kind.version,
        "inputs": _canonical(inputs),
        "parameters": _canonical(parameters),
        "model": model,
        "model_version": model_version(model) if model else None,
        "ssbkit": __version__,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:32]


# --- structures ----------------------------------------------------------------------------------------


def _build_structure(reference: Any, named: dict[str, Any], base: Path, seen: tuple[str, ...] = ()) -> Atoms:
    if isinstance(reference, str):
        if reference in named:
            if reference in seen:
                raise InputError(f"structure {reference!r} refers to itself")
            return _build_structure(named[reference], named, base, (*seen, reference))
        prefix, _, rest = reference.partition(":")
        if prefix in ("bulk", "molecule") and rest:
            return _build_structure({prefix: rest}, named, base, seen)
        return _build_structure({"file": reference}, named, base, seen)
    if not isinstance(reference, dict):
        raise InputError(f"a structure reference is a name, bulk:X, molecule:X, a path or a mapping, not {reference!r}")
    sources = [k for k in ("bulk", "molecule", "file") if k in reference]
    if len(sources) != 1:
        raise InputError(f"structure {reference!r} needs exactly one of bulk, molecule, file")
    (source,) = sources
    allowed = {source} | MODIFIER_KEYS | (BULK_KEYS if source == "bulk" else {"index"} if source == "file" else set())
    if unknown := set(reference) - allowed:
        raise InputError(f"structure {reference!r}: unknown keys {sorted(unknown)}; allowed {sorted(allowed)}")
    options = {k: v for k, v in reference.items() if k not in MODIFIER_KEYS and k != source}
    try:
        if source == "bulk":
            from ase.build import bulk

            atoms = bulk(str(reference["bulk"]), **options)
        elif source == "molecule":
            from ase.build import molecule

            atoms = molecule(str(reference["molecule"]))
        else:
            atoms = read_structure(base / str(reference["file"]), options.get("index"))
    except InputError:
        raise
    except Exception as exc:  # ase.build raises ValueError/KeyError/RuntimeError for unknown names
        raise InputError(f"cannot build structure {reference!r}: {exc}") from exc
    if "repeat" in reference:
        atoms = atoms.repeat(reference["repeat"])
    if "rattle" in reference:
        atoms.rattle(stdev=float(reference["rattle"]), seed=int(reference.get("seed", 0)))
    return atoms


def _label(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else json.dumps(value, sort_keys=True)


# --- expansion -------------------------------------------------------------------------------------------


def _axes(template: dict[str, Any], key: str, position: str) -> dict[str, list]:
    axes = template.get(key) or {}
    if not isinstance(axes, dict) or not all(isinstance(v, list) and v for v in axes.values()):
        raise InputError(f"{position}: {key!r} maps names to non-empty lists of values")
    return axes


def _expand_template(template: Any, position: str) -> tuple[TaskKind, list[tuple[dict, dict, dict]]]:
    """(kind, [(inputs, parameters, labels), ...]) with structure inputs still as references."""
    if not isinstance(template, dict) or "kind" not in template:
        raise InputError(f"{position}: a task template is a mapping with a 'kind'")
    if unknown := set(template) - TEMPLATE_KEYS:
        raise InputError(f"{position}: unknown keys {sorted(unknown)}; allowed {sorted(TEMPLATE_KEYS)}")
    kind = get_kind(template["kind"])
    product, zipped = _axes(template, "product", position), _axes(template, "zip", position)
    if len({len(v) for v in zipped.values()}) > 1:
        lengths = {k: len(v) for k, v in zipped.items()}
        raise InputError(f"{position}: the lists under 'zip' must have equal lengths, got {lengths}")
    if both := set(product) & set(zipped):
        raise InputError(f"{position}: {sorted(both)} appear in both 'product' and 'zip'")
    zip_rows = [dict(zip(zipped, values)) for values in zip(*zipped.values())] if zipped else [{}]
    rows = [dict(zip(product, values)) | z for values in itertools.product(*product.values()) for z in zip_rows]
    fixed_inputs, fixed_parameters = template.get("inputs") or {}, template.get("parameters") or {}
    expanded = []
    for row in rows:
        inputs = dict(fixed_inputs) | {k: v for k, v in row.items() if k in kind.inputs}
        parameters = dict(fixed_parameters) | {k: v for k, v in row.items() if k not in kind.inputs}
        if missing := set(kind.inputs) - set(kind.optional) - set(inputs):
            raise InputError(f"{position}: kind {kind.name!r} needs inputs {sorted(missing)}")
        if unknown := set(inputs) - set(kind.inputs):
            raise InputError(f"{position}: kind {kind.name!r} takes inputs {list(kind.inputs)}, not {sorted(unknown)}")
        _check_parameters(kind, {k: v for k, v in parameters.items() if k != "model"}, position)
        labels = {k: _label(v) for k, v in (inputs | row).items()}
        expanded.append((inputs, parameters, labels))
    return kind, expanded


def _check_parameters(kind: TaskKind, parameters: dict[str, Any], position: str) -> None:
    """InputError unless ``parameters`` (the task's mapping, kept as written for its key) are valid
    values of the kind's settings."""
    if kind.settings is not None:
        settings_from_mapping(kind.settings, parameters, f"{position} (kind {kind.name})")
    elif parameters:
        raise InputError(f"{position}: kind {kind.name!r} takes no parameters, not {sorted(parameters)}")


def _run_settings(document: dict[str, Any], where: str) -> RunSettings:
    """The spec's execution settings (top-level batch_size, retries and trust_model, the store section)."""
    store = document.get("store") or {}
    if not isinstance(store, dict) or set(store) - {"journal_mode", "lease_s"}:
        raise InputError(f"{where}: 'store' takes journal_mode (wal | delete) and lease_s (seconds)")
    top = {key: document[key] for key in ("batch_size", "retries", "trust_model") if key in document}
    return settings_from_mapping(RunSettings, top | store, where)


def contained_path(path: Path, roots: tuple[Path, ...], what: str) -> Path:
    """``path`` resolved, or InputError naming ``what`` when it leads outside every directory of ``roots``."""
    resolved = path.resolve()
    if not any(resolved.is_relative_to(root.resolve()) for root in roots):
        raise InputError(f"{what} {resolved} lies outside {' and '.join(str(r.resolve()) for r in roots)}; "
                         "keep it inside the spec's directory or the current directory")
    return resolved


def _run_name(value: Any, where: str) -> str:
    """The spec's ``name``: used in paths and job names, so one plain path component of printable text."""
    name = str(value)
    if not name or name in (".", "..") or any(c in name for c in "/\\") or not name.isprintable():
        raise InputError(f"{where}: 'name' must be a plain name (no '/', '\\', '..' or control characters), "
                         f"not {name!r}")
    return name


def load_spec(path: str | Path) -> Spec:
    """Read a YAML batch spec and expand it into tasks (structures built, keys computed)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise InputError(f"spec file {path} not found")
    document = read_yaml(path, "spec")
    if not isinstance(document, dict) or not isinstance(document.get("tasks"), list):
        raise InputError(f"spec {path} needs a 'tasks' list")
    if unknown := set(document) - TOP_LEVEL_KEYS:
        raise InputError(f"spec {path}: unknown keys {sorted(unknown)}; allowed {sorted(TOP_LEVEL_KEYS)}")
    named = document.get("structures") or {}
    run = _run_settings(document, f"spec {path}")
    name = _run_name(document.get("name") or path.stem, f"spec {path}")
    base = path.parent
    run_dir = contained_path(base / str(document.get("run_dir", f"runs/{name}")), (base, Path.cwd()),
                             f"spec {path}: 'run_dir'")
    tasks: list[Task] = []
    keys: set[str] = set()
    structure_cache: dict[str, Atoms] = {}
    for number, template in enumerate(document["tasks"]):
        kind, rows = _expand_template(template, f"{path.name}: tasks[{number}]")
        for inputs, parameters, labels in rows:
            model = parameters.pop("model", template.get("model", document.get("model")))
            if not kind.needs_model:
                model = None
            elif not model:
                raise InputError(f"{path.name}: tasks[{number}] (kind {kind.name}) needs a 'model'")
            for input_name in sorted(set(kind.structures) & set(inputs)):
                reference = inputs[input_name]
                cache_key = json.dumps(reference, sort_keys=True)
                if cache_key not in structure_cache:
                    structure_cache[cache_key] = _build_structure(reference, named, base)
                inputs[input_name] = structure_cache[cache_key].copy()
            key = task_key(kind, inputs, parameters, model)
            if key in keys:
                continue
            keys.add(key)
            tasks.append(Task(len(tasks), key, kind.name, inputs, parameters, model, labels))
    return Spec(
        path=path,
        name=name,
        run_dir=run_dir,
        tasks=tasks,
        device=str(document.get("device", "auto")),
        batch_size=run.batch_size,
        retries=run.retries,
        slurm=dict(document.get("slurm") or {}),
        dask=dict(document.get("dask") or {}),
        journal_mode=run.journal_mode,
        lease_s=run.lease_s,
        trust_model=run.trust_model,
    )
