"""Reference (DFT or classical) single points: the labels that ML potentials are checked against and
fine-tuned on.

A reference is named once, wherever ssbkit takes one:

- ``emt``: ASE's effective-medium theory (H, C, N, O, Al, Ni, Cu, Pd, Ag, Pt, Au): instant, for tests and tutorials.
- ``gpaw``: GPAW density-functional theory with :class:`GPAWSettings` (PBE, plane waves by default).
- ``python:module.ClassName``: any ASE calculator by import path, its keyword arguments as the settings
  (VASP, Quantum ESPRESSO, CP2K on a cluster), e.g. ``python:ase.calculators.vasp.Vasp``.

Settings come as a mapping (a parsed YAML file, see :func:`load_reference_settings`).
:func:`label_configurations` runs the single points and returns a :class:`LabelSet`; a configuration whose
calculation fails (SCF non-convergence, NaN energy) becomes a failed :class:`Label` with its message and the
others go on.
"""

from __future__ import annotations

import importlib
import math
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, CalculatorError
from ase.calculators.singlepoint import SinglePointCalculator

from ssbkit.errors import CalculationError, InputError
from ssbkit.io import atomic_write, read_yaml
from ssbkit.results import Result
from ssbkit.settings import REQUIRED, setting, settings_from_mapping, validate

EMT_ELEMENTS = frozenset({"H", "C", "N", "O", "Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au"})
MIN_DISTANCE_A = 0.5  # closer atoms overlap: no reference (and no potential) describes them
_SETUPS_WITHOUT_FILES = ("ae", "hgh", "hgh.sc", "ghost")  # GPAW setups generated in memory, not read from files


@dataclass(frozen=True, kw_only=True)
class GPAWSettings:
    """GPAW settings of a reference single point (PBE plane waves by default)."""

    mode: str = setting("pw", help="Basis: plane waves (pw, accurate, has stress) or atomic orbitals (lcao, fast).",
                        choices=("pw", "lcao"))
    cutoff_eV: float = setting(500.0, help="Plane-wave cutoff (pw mode).", unit="eV", minimum=0,
                               exclusive_minimum=True)
    kpoint_density: float = setting(4.0, help="Monkhorst-Pack k-point density along each periodic direction, "
                                    "points per Å⁻¹ (ASE's definition, 2π included).", unit="Å⁻¹", minimum=0,
                                    exclusive_minimum=True)
    kpoints: tuple[int, int, int] | None = setting(None, help="Monkhorst-Pack grid; replaces kpoint_density.",
                                                   minimum=1)
    gamma: bool = setting(False, help="Shift the k-point grid to include Γ.")
    smearing_eV: float = setting(0.1, help="Fermi-Dirac smearing width.", unit="eV", minimum=0)
    spin: bool = setting(False, help="Spin-polarised (collinear); initial moments from the atoms' magmoms.")
    basis: str = setting("dzp", help="Atomic basis set (lcao mode).")
    setups: tuple[str, ...] | None = setting(None, help="PAW setups per element as 'El:name', e.g. 'W:6' for the "
                                             "6-electron W setup; default: GPAW's standard setups.")
    xc: str = setting("PBE", help="Exchange-correlation functional.", choices=("PBE", "LDA", "RPBE", "revPBE",
                                                                              "PBEsol"))
    maxiter: int = setting(333, help="Most SCF iterations before the label counts as not converged.", minimum=1)

    def __post_init__(self) -> None:
        validate(self)
        for entry in self.setups or ():
            element, _, name = entry.partition(":")
            if not element or not name:
                raise InputError(f"GPAWSettings: setups entry {entry!r}: expected 'Element:setup', e.g. 'W:6'")

    @property
    def setup_names(self) -> dict[str, str]:
        """Setups as GPAW takes them: element -> setup name."""
        return dict(entry.split(":", 1) for entry in self.setups or ())


@dataclass(frozen=True, kw_only=True)
class LabelTaskSettings:
    """Parameters of the runner's ``label`` task: a reference single point on one structure."""

    reference: str = setting(REQUIRED, help="Reference: emt, gpaw or python:module.ClassName (an ASE calculator).")
    reference_settings: str | None = setting(None, help="YAML file of the reference's settings (GPAWSettings "
                                             "fields, or the calculator's keyword arguments); relative to the spec.")

    def __post_init__(self) -> None:
        validate(self)
        check_reference_name(self.reference)


def check_reference_name(name: str) -> None:
    """InputError unless ``name`` is ``emt``, ``gpaw`` or ``python:module.ClassName``."""
    module, _, class_name = name.removeprefix("python:").rpartition(".")
    if name not in ("emt", "gpaw") and not (name.startswith("python:") and module and class_name):
        raise InputError(f"unknown reference {name!r}; use emt, gpaw or python:module.ClassName (an ASE calculator)")


def gpaw_settings(settings: Mapping[str, Any] | GPAWSettings | None) -> GPAWSettings:
    """:class:`GPAWSettings` from a mapping (YAML); ``setups`` may be a mapping ``{W: '6'}``. InputError
    for unknown names or invalid values."""
    if isinstance(settings, GPAWSettings):
        return settings
    mapping = dict(settings or {})
    if isinstance(mapping.get("setups"), Mapping):
        mapping["setups"] = [f"{element}:{name}" for element, name in mapping["setups"].items()]
    return settings_from_mapping(GPAWSettings, mapping, "gpaw reference settings")


@dataclass(frozen=True)
class Reference(Result):
    """The reference a label was computed with: its name, settings (as given, defaults filled for gpaw) and
    code version."""

    name: str
    settings: dict[str, Any]
    code_version: str


@dataclass
class Label(Result):
    """One reference single point: energy (eV), forces (eV/Å), stress (eV/Å³, Voigt order; None when not
    computed: non-periodic cells, GPAW lcao) and wall time (s). ``error`` is None, or why the label failed
    (then ``atoms`` has no results and the numbers are NaN/None). ``atoms`` carries the results in a
    SinglePointCalculator."""

    atoms: Atoms
    energy_eV: float
    forces_eV_per_A: np.ndarray | None
    stress: np.ndarray | None
    wall_time_s: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the label was computed."""
        return self.error is None


@dataclass
class LabelSet(Result):
    """Reference labels of a list of configurations, in their order, failed ones included."""

    reference: Reference
    labels: list[Label] = field(default_factory=list)

    @property
    def successful(self) -> list[Label]:
        """The labels that were computed."""
        return [label for label in self.labels if label.ok]

    @property
    def failed(self) -> list[Label]:
        """The labels whose calculation failed (their ``error`` says why)."""
        return [label for label in self.labels if not label.ok]

    def write_extxyz(self, path: str | Path) -> Path:
        """Write the successful labels to ``path`` as extended XYZ (energy, forces, stress; atomic write).
        InputError when no label succeeded."""
        from ase.io import write

        frames = [label.atoms for label in self.successful]
        if not frames:
            raise InputError(f"no successful labels to write to {path}")
        return atomic_write(path, lambda temporary: write(temporary, frames, format="extxyz"))


def load_reference_settings(path: str | Path | None) -> dict[str, Any]:
    """Reference settings from a YAML file (a mapping; empty file: no settings). InputError otherwise."""
    if path is None:
        return {}
    loaded = read_yaml(path, "reference settings file")
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise InputError(f"reference settings {path}: expected a mapping of names to values, not {loaded!r}")
    return loaded


def reference_calculator(name: str, settings: Mapping[str, Any] | None = None) -> Calculator:
    """A fresh ASE calculator for the reference ``name`` (``emt``, ``gpaw`` or ``python:module.ClassName``)
    with ``settings``. InputError for an unknown name or invalid settings."""
    if name == "emt":
        if settings:
            raise InputError(f"reference emt takes no settings, got {sorted(settings)}")
        from ase.calculators.emt import EMT

        return EMT()
    if name == "gpaw":
        return _gpaw_calculator(gpaw_settings(settings))
    check_reference_name(name)
    cls = _import_calculator(name)
    try:
        return cls(**dict(settings or {}))
    except TypeError as exc:
        raise InputError(f"reference {name}: invalid settings: {exc}") from None


def reference_info(name: str, settings: Mapping[str, Any] | None = None) -> Reference:
    """The :class:`Reference` record of ``name`` with ``settings`` (checked; gpaw's defaults filled in)."""
    if name == "gpaw":
        from dataclasses import asdict

        return Reference(name, asdict(gpaw_settings(settings)), _code_version(name))
    reference_calculator(name, settings)  # checks the name and settings
    return Reference(name, dict(settings or {}), _code_version(name))


def check_elements(elements: Iterable[str], name: str, settings: Mapping[str, Any] | None = None) -> None:
    """InputError naming the ``elements`` (symbols) that reference ``name`` cannot compute (EMT's eleven;
    GPAW: elements without PAW setup or basis files). References by import path are not checked."""
    elements = sorted(set(elements))
    if name == "emt":
        missing = [element for element in elements if element not in EMT_ELEMENTS]
        if missing:
            raise InputError(f"reference emt cannot compute {', '.join(missing)}; "
                             f"it covers {', '.join(sorted(EMT_ELEMENTS))}")
    elif name == "gpaw":
        missing = _missing_gpaw_data(elements, gpaw_settings(settings))
        if missing:
            raise InputError(f"reference gpaw cannot compute {', '.join(missing)}: no PAW setup or basis file "
                             "found in GPAW's setup paths (install gpaw-data, or choose setups)")


def check_configuration(atoms: Atoms, where: str) -> None:
    """InputError when ``atoms`` is empty or two atoms are closer than 0.5 Å (periodic images included)."""
    if len(atoms) == 0:
        raise InputError(f"{where} has no atoms")
    if not np.all(np.isfinite(atoms.positions)):
        raise InputError(f"{where} has non-finite positions")
    from ase.neighborlist import neighbor_list

    first, second, distance = neighbor_list("ijd", atoms, MIN_DISTANCE_A)
    if len(distance):
        k = int(np.argmin(distance))
        raise InputError(f"{where}: atoms {first[k]} and {second[k]} overlap ({distance[k]:.3f} Å apart, "
                         f"less than {MIN_DISTANCE_A} Å)")


def label_configurations(frames: Sequence[Atoms], name: str, settings: Mapping[str, Any] | None = None, *,
                         progress: bool | None = None) -> LabelSet:
    """Reference single points (energy, forces, stress where available) on ``frames`` with the reference
    ``name`` and ``settings``. Every frame is checked first (elements the reference covers, no overlapping
    atoms: InputError naming the frame). A calculation that fails (SCF non-convergence, calculator error,
    NaN energy) gives a failed label and the next frame goes on. ``progress`` (None: when stderr is a
    terminal) shows a bar on stderr."""
    reference = reference_info(name, settings)
    frames = list(frames)
    for index, atoms in enumerate(frames):
        if not isinstance(atoms, Atoms):
            raise InputError(f"configuration {index} is a {type(atoms).__name__}, not ase.Atoms")
        check_configuration(atoms, f"configuration {index}")
    check_elements({symbol for atoms in frames for symbol in atoms.get_chemical_symbols()}, name, settings)
    if progress is None:
        progress = sys.stderr.isatty()
    from tqdm import tqdm

    labels = [_label(atoms, reference) for atoms in tqdm(frames, desc=f"{name} labels", unit="configuration",
                                                          disable=not progress)]
    return LabelSet(reference, labels)


def relax_with_reference(atoms: Atoms, name: str, settings: Mapping[str, Any] | None = None, *, fmax: float,
                         steps: int) -> tuple[Atoms, LabelSet]:
    """Relax ``atoms`` (positions, fixed cell; constraints kept) with the reference ``name`` (ASE's BFGS to the
    largest force ``fmax`` eV/Å in at most ``steps`` steps). Returns the relaxed structure, with its reference
    energy and forces, and every step as a label (the relaxation's configurations are reference labels at no
    extra cost). CalculationError when a single point fails or the relaxation does not converge."""
    from ase.optimize import BFGS

    reference = reference_info(name, settings)
    check_configuration(atoms, "the structure to relax")
    check_elements(atoms.get_chemical_symbols(), name, settings)
    moving = atoms.copy()
    moving.calc = reference_calculator(name, settings)
    labels: list[Label] = []
    clock = [time.perf_counter()]

    def record() -> None:
        snapshot = moving.copy()
        snapshot.set_constraint()
        energy = float(moving.get_potential_energy())
        forces = np.array(moving.get_forces(apply_constraint=False), dtype=float)
        snapshot.calc = SinglePointCalculator(snapshot, energy=energy, free_energy=energy, forces=forces)
        snapshot.info["reference"] = reference.name
        now = time.perf_counter()
        labels.append(Label(snapshot, energy, forces, None, now - clock[0]))
        clock[0] = now

    optimizer = BFGS(moving, logfile=None)
    optimizer.attach(record)
    while True:
        try:
            converged = bool(optimizer.run(fmax=fmax, steps=steps - optimizer.nsteps))
            break
        except _symmetry_errors():  # a step broke the symmetry the calculator found at the start (GPAW):
            moving.calc = reference_calculator(name, settings)  # a fresh one finds the lower symmetry
        except _calculation_errors() as exc:
            raise CalculationError(f"reference {name} failed while relaxing: {type(exc).__name__}: {exc}") from None
    if not converged:
        raise CalculationError(f"the relaxation with reference {name} did not reach {fmax} eV/Å in {steps} steps")
    relaxed = labels[-1].atoms.copy()
    relaxed.calc = labels[-1].atoms.calc
    relaxed.set_constraint(atoms.constraints)
    return relaxed, LabelSet(reference, labels)


@dataclass
class PathCheck(Result):
    """Reference single points on the images of an ML NEB path.

    Energies relative to the first image (eV). ``saddle_index`` is the highest ML image (the highest
    reference image when the path has no ML energies). ``ml_barrier_eV`` and ``reference_barrier_eV`` are each
    profile's highest image minus the first; ``saddle_difference_eV`` is reference minus ML at the ML saddle.
    Force errors compare the ML forces stored with the path to the reference forces (eV/Å): the mean absolute
    component error per image and over the path, and the largest per-atom error vector length. ML fields
    are None when the path file has no ML energies or forces. Failed images are NaN, named in ``warnings``."""

    reference: Reference
    n_images: int
    reaction_coordinate_A: list[float]
    ml_energies_eV: list[float] | None
    reference_energies_eV: list[float]
    saddle_index: int
    ml_barrier_eV: float | None
    reference_barrier_eV: float
    reference_saddle_energy_eV: float
    saddle_difference_eV: float | None
    force_mae_per_image_eV_per_A: list[float] | None
    force_mae_eV_per_A: float | None
    force_max_error_eV_per_A: float | None
    wall_time_s: float
    labels: LabelSet
    warnings: list[str] = field(default_factory=list)
    plot_file: Path | None = None


def check_path(images: Sequence[Atoms], name: str, settings: Mapping[str, Any] | None = None, *,
               progress: bool | None = None) -> PathCheck:
    """Reference single points on the ``images`` of an ML NEB path (as ``ssbkit neb run`` writes them to
    ``neb_path.extxyz``: ML energy and forces per image): the reference energy profile along the ML path,
    the difference at the ML saddle and the ML force errors. InputError for fewer than 3 images or images
    with different atoms; CalculationError when the first image or the ML saddle fails."""
    images = list(images)
    if len(images) < 3:
        raise InputError(f"a path needs at least 3 images (endpoints and one between), got {len(images)}")
    symbols = images[0].get_chemical_symbols()
    for index, image in enumerate(images):
        if image.get_chemical_symbols() != symbols:
            raise InputError(f"path image {index} has different atoms from image 0; "
                             "give the images of one NEB path")
    ml_energies = _stored(images, "energy")
    ml_forces = _stored(images, "forces")
    labels = label_configurations(images, name, settings, progress=progress)
    reference = np.array([label.energy_eV for label in labels.labels])
    warnings = [f"image {i}: reference failed ({label.error})" for i, label in enumerate(labels.labels)
                if not label.ok]
    if not labels.labels[0].ok:
        raise CalculationError(f"reference {name} failed on the first image: {labels.labels[0].error}")
    reference = reference - reference[0]
    ml = None if ml_energies is None else np.array(ml_energies) - ml_energies[0]
    saddle = int(np.argmax(ml)) if ml is not None else int(np.nanargmax(reference))
    if not labels.labels[saddle].ok:
        raise CalculationError(f"reference {name} failed on the saddle image {saddle}: {labels.labels[saddle].error}")
    per_image = max_error = mae = None
    if ml_forces is not None:
        errors = [np.abs(label.forces_eV_per_A - forces) if label.ok else None
                  for label, forces in zip(labels.labels, ml_forces)]
        per_image = [float(error.mean()) if error is not None else math.nan for error in errors]
        computed = [error for error in errors if error is not None]
        mae = float(np.mean([error.mean() for error in computed]))
        max_error = float(max(np.linalg.norm(error, axis=1).max() for error in computed))
    steps = [float(np.linalg.norm(_mic(images[i + 1], images[i]))) for i in range(len(images) - 1)]
    return PathCheck(
        reference=labels.reference,
        n_images=len(images),
        reaction_coordinate_A=[0.0, *np.cumsum(steps).tolist()],
        ml_energies_eV=None if ml is None else ml.tolist(),
        reference_energies_eV=reference.tolist(),
        saddle_index=saddle,
        ml_barrier_eV=None if ml is None else float(ml.max()),
        reference_barrier_eV=float(np.nanmax(reference)),
        reference_saddle_energy_eV=float(reference[saddle]),
        saddle_difference_eV=None if ml is None else float(reference[saddle] - ml[saddle]),
        force_mae_per_image_eV_per_A=per_image,
        force_mae_eV_per_A=mae,
        force_max_error_eV_per_A=max_error,
        wall_time_s=float(sum(label.wall_time_s for label in labels.labels)),
        labels=labels,
        warnings=warnings,
    )


def plot_path_check(check: PathCheck, path: str | Path) -> Path:
    """Save the ML and reference energy profiles along the ML path (eV vs Å)."""
    from matplotlib.figure import Figure

    from ssbkit.plotting import save_figure

    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = fig.add_subplot()
    if check.ml_energies_eV is not None:
        ax.plot(check.reaction_coordinate_A, check.ml_energies_eV, "o-", color="C0", label="ML path")
    ax.plot(check.reaction_coordinate_A, check.reference_energies_eV, "s--", color="C3",
            label=f"{check.reference.name} on the ML path")
    ax.set_xlabel("reaction coordinate (Å)")
    ax.set_ylabel("energy relative to initial (eV)")
    ax.legend(fontsize=8)
    difference = ("" if check.saddle_difference_eV is None
                  else f", saddle difference {check.saddle_difference_eV:+.3f} eV")
    ax.set_title(f"{check.reference.name} barrier along the ML path {check.reference_barrier_eV:.3f} eV{difference}",
                 fontsize=9)
    return save_figure(fig, path, dpi=120)


def _stored(images: list[Atoms], key: str) -> list[Any] | None:
    """The ML result ``key`` stored with every image, or None when any image lacks it."""
    values = []
    for image in images:
        results = getattr(image.calc, "results", None) or {}
        if key not in results:
            return None
        values.append(np.array(results[key], dtype=float) if key == "forces" else float(results[key]))
    return values


def _mic(a: Atoms, b: Atoms) -> np.ndarray:
    """Per-atom displacements from ``b`` to ``a`` (Å), minimum image in periodic directions."""
    from ase.geometry import find_mic

    displacement = a.positions - b.positions
    if a.pbc.any():
        displacement, _ = find_mic(displacement, a.cell, a.pbc)
    return displacement


def _label(frame: Atoms, reference: Reference) -> Label:
    """One single point; failures of the calculation become a failed label."""
    atoms = frame.copy()
    atoms.set_constraint()
    atoms.info = {key: value for key, value in frame.info.items() if isinstance(value, (str, int, float, bool))}
    atoms.calc = reference_calculator(reference.name, reference.settings)
    start = time.perf_counter()
    try:
        energy = float(atoms.get_potential_energy())
        forces = np.array(atoms.get_forces(), dtype=float)
        stress = np.array(atoms.get_stress(voigt=True), dtype=float) if _has_stress(atoms, reference) else None
        free_energy = atoms.calc.results.get("free_energy", energy)
    except _calculation_errors() as exc:
        atoms.calc = None
        return Label(atoms, math.nan, None, None, time.perf_counter() - start,
                     error=f"{type(exc).__name__}: {exc}".strip().rstrip(":"))
    wall_time = time.perf_counter() - start
    if not (math.isfinite(energy) and np.all(np.isfinite(forces))
            and (stress is None or np.all(np.isfinite(stress)))):
        atoms.calc = None
        return Label(atoms, math.nan, None, None, wall_time, error="non-finite energy, forces or stress")
    results: dict[str, Any] = {"energy": energy, "free_energy": float(free_energy), "forces": forces}
    if stress is not None:
        results["stress"] = stress
    atoms.calc = SinglePointCalculator(atoms, **results)
    atoms.info["reference"] = reference.name
    return Label(atoms, energy, forces, stress, wall_time)


def _has_stress(atoms: Atoms, reference: Reference) -> bool:
    """Whether the reference gives a stress for ``atoms``: periodic in 3D, and not GPAW's lcao mode."""
    if not atoms.pbc.all() or "stress" not in getattr(atoms.calc, "implemented_properties", ()):
        return False
    return not (reference.name == "gpaw" and reference.settings.get("mode") == "lcao")


def _calculation_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that fail one label rather than the batch: calculator errors and GPAW's non-convergence."""
    errors: list[type[BaseException]] = [CalculatorError, FloatingPointError]
    if "gpaw" in sys.modules:
        from gpaw import ConvergenceError

        errors.append(ConvergenceError)
    return tuple(errors)


def _symmetry_errors() -> tuple[type[BaseException], ...]:
    """GPAW's error when atoms move off the symmetry its calculator found at the first step (e.g. a relaxation
    under constraints that the symmetry does not respect)."""
    if "gpaw" not in sys.modules:
        return ()
    from gpaw.new.symmetry import SymmetryBrokenError

    return (SymmetryBrokenError,)


def _gpaw_calculator(settings: GPAWSettings) -> Calculator:
    try:
        from gpaw import GPAW, PW, FermiDirac
    except ImportError:
        raise InputError("reference gpaw needs GPAW: apt-get install -y libxc-dev libopenblas-dev; "
                         'CC=g++ pip install -e ".[dft]"') from None
    kpts: Any = (list(settings.kpoints) if settings.kpoints is not None
                 else {"density": settings.kpoint_density})
    if settings.gamma:
        kpts = {"size": kpts, "gamma": True} if settings.kpoints is not None else {**kpts, "gamma": True}
    parameters: dict[str, Any] = {
        "xc": settings.xc,
        "kpts": kpts,
        "occupations": FermiDirac(settings.smearing_eV),
        "spinpol": settings.spin,
        "maxiter": settings.maxiter,
        "txt": None,
    }
    if settings.mode == "pw":
        parameters["mode"] = PW(settings.cutoff_eV)
    else:
        parameters["mode"] = "lcao"
        parameters["basis"] = settings.basis
    if settings.setups:
        parameters["setups"] = settings.setup_names
    return GPAW(**parameters)


def _missing_gpaw_data(elements: list[str], settings: GPAWSettings) -> list[str]:
    """Elements without a setup file (or, in lcao mode, a basis file) in GPAW's setup paths."""
    try:
        from gpaw import setup_paths
    except ImportError:
        raise InputError("reference gpaw needs GPAW: apt-get install -y libxc-dev libopenblas-dev; "
                         'CC=g++ pip install -e ".[dft]"') from None
    names = {path.name for directory in map(Path, setup_paths) if directory.is_dir() for path in directory.iterdir()}
    setup_xc = "PBE" if settings.xc == "PBEsol" else settings.xc
    chosen = settings.setup_names
    missing = []
    for element in elements:
        setup = chosen.get(element, "paw")
        if setup in _SETUPS_WITHOUT_FILES:
            continue
        prefix = element if setup == "paw" else f"{element}.{setup}"
        wanted = [f"{prefix}.{setup_xc}"] + ([f"{prefix}.{settings.basis}.basis"] if settings.mode == "lcao" else [])
        if not all(stem in names or f"{stem}.gz" in names for stem in wanted):
            missing.append(element)
    return missing


def _import_calculator(name: str) -> type[Calculator]:
    """The calculator class named by ``python:module.ClassName``."""
    path = name.removeprefix("python:")
    module_name, _, class_name = path.rpartition(".")
    if not module_name or not class_name:
        raise InputError(f"reference {name!r}: expected python:module.ClassName, "
                         "e.g. python:ase.calculators.vasp.Vasp")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"reference {name}: cannot import {module_name}: {exc}") from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type) or not hasattr(cls, "get_potential_energy"):
        raise InputError(f"reference {name}: {module_name} has no ASE calculator class {class_name}")
    return cls


def _code_version(name: str) -> str:
    """``package version`` of the code behind reference ``name``."""
    if name == "emt":
        package = "ase"
    elif name == "gpaw":
        package = "gpaw"
    else:
        package = name.removeprefix("python:").split(".")[0]
    try:
        return f"{package} {package_version(package)}"
    except PackageNotFoundError:
        module = sys.modules.get(package)
        return f"{package} {getattr(module, '__version__', 'unknown')}"
