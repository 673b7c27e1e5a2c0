"""Task kinds: the adapters between the workflow runner and ssbkit's physics functions.

A kind turns ``(inputs, parameters, calculator, context)`` into a ``Result``. The runner knows only
this registry; physics modules know nothing of the runner. A kind's parameters are the fields of its
settings class (a frozen dataclass of ``ssbkit.settings.setting`` fields): the spec reader checks every
task's parameters against it before anything runs, and the adapter builds the settings from them.
Adding a kind is a short adapter, as for ``react`` below::

    def _react(inputs, parameters, calculator, context):
        from ssbkit.interfaces.reactions import reaction_profile    # heavy imports inside the adapter
        settings = settings_from_mapping(ReactTaskSettings, parameters, "react task")
        return reaction_profile(inputs["reactant_a"], inputs["reactant_b"],
                                _entry_source(settings, context), voltage=settings.voltage)

    register(TaskKind(
        "react", _react,
        inputs=("reactant_a", "reactant_b"),      # names the spec gives (product/zip/inputs); optional=...
        structures=(),                            # inputs built as ase.Atoms from structure references
        settings=ReactTaskSettings,               # its parameters (None: the kind takes none)
        needs_model=False))                       # True: a calculator from the spec's model is passed

Kinds whose function uses the calculator only through ASE calls (``get_forces``...) may set
``batchable=True``: the runner then evaluates tasks of that kind in lockstep so that each model call
covers many structures (see ``ssbkit.potentials.batching``). Bump ``version`` when a kind's
results change meaning, so that stored results are not reused for it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator

from ssbkit.errors import InputError
from ssbkit.results import Result
from ssbkit.settings import REQUIRED, setting, settings_from_mapping, validate
from ssbkit.workflows.adhesion import AdhesionSettings, adhesion
from ssbkit.workflows.diffusion import diffusion
from ssbkit.workflows.gb_barriers import ranked_hop_barrier, requested_hops
from ssbkit.workflows.md import MDSettings
from ssbkit.workflows.kinetics import KineticsSettings
from ssbkit.workflows.neb import NEBSettings, neb
from ssbkit.workflows.reference import LabelTaskSettings
from ssbkit.workflows.relax import RelaxSettings, relax


@dataclass
class TaskContext:
    """Where a running task may write files (its log, a trajectory path) and the spec's directory,
    against which relative paths in parameters (e.g. ``file:entries.json.gz`` sources) are resolved."""

    directory: Path
    log: logging.Logger
    trajectory: Path
    spec_dir: Path
    output_dir: Path  # this task's own directory for files (not created until the kind needs it)


KindFunction = Callable[[dict[str, Any], dict[str, Any], Calculator | None, TaskContext], Result]


@dataclass(frozen=True)
class TaskKind:
    """One kind of task the runner can execute."""

    name: str
    function: KindFunction
    inputs: tuple[str, ...] = ("atoms",)
    structures: tuple[str, ...] = ("atoms",)
    optional: tuple[str, ...] = ()  # inputs a spec may leave out
    settings: type | None = None  # settings dataclass whose fields are the kind's parameters; None: no parameters
    needs_model: bool = True
    batchable: bool = False
    version: str = "1"
    model_task: str = "relax"  # precision preset for ssbkit.potentials.load: relax | neb (float64), md (float32)


KINDS: dict[str, TaskKind] = {}


def register(kind: TaskKind) -> TaskKind:
    """Add a kind to the registry (replacing one of the same name)."""
    if not set(kind.structures) | set(kind.optional) <= set(kind.inputs):
        raise ValueError(f"kind {kind.name}: structures and optional must be among inputs {kind.inputs}")
    KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> TaskKind:
    """The registered kind called ``name``; InputError naming the known kinds otherwise."""
    if name not in KINDS:
        raise InputError(f"unknown task kind {name!r}; known kinds: {', '.join(sorted(KINDS))}")
    return KINDS[name]


# --- models -------------------------------------------------------------------------------------


def load_model(name: str, device: str = "auto", task: str = "relax", trust_model: bool = False) -> Calculator:
    """The one place where the runner turns a model name into a calculator.

    ``emt`` is ASE's effective-medium theory (Al, Cu, Ag, Au, Ni, Pd, Pt, with H, C, N, O): cheap,
    CPU-only, for tests and demos. Every other name goes to ``ssbkit.potentials.load`` (``task`` picks
    its default precision; ``trust_model`` lets a ``mace:PATH`` file run code, see ``load``).
    """
    if name == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    from ssbkit.potentials import load

    return load(name, device=device, task=task, trust_model=trust_model)


def run_lockstep(jobs: list[Callable[[Calculator], Any]], calculator: Calculator) -> tuple[list[Any], int]:
    """Run batchable tasks' jobs in lockstep, their model calls merged (see
    :func:`ssbkit.potentials.batching.run_lockstep`): each job's outcome or exception, and the number of
    model calls made."""
    from ssbkit.potentials.batching import run_lockstep as lockstep

    return lockstep(jobs, calculator)


def _installed(package: str) -> str:
    try:
        return package_version(package)
    except PackageNotFoundError:
        return "absent"


BACKEND_PACKAGES = {"chgnet": "chgnet", "sevennet": "sevenn", "mace": "mace-torch"}


@cache
def model_version(name: str) -> str:
    """What identifies a model's predictions in task keys: weights version and backend package version.

    Read from the potentials registry's model card (no weights loaded); a local model file (``chgnet:PATH``,
    ``sevennet:PATH``, ``mace:PATH``) is identified by its SHA-256. ModelError for names the registry does not know.
    """
    if name == "emt":
        return f"ase {_installed('ase')} EMT"
    from ssbkit.potentials.registry import card, local_model_path

    local = local_model_path(name)  # chgnet:PATH, sevennet:PATH, mace:PATH (ModelError when the file is missing)
    if local is not None:
        package = BACKEND_PACKAGES[local[0]]
        return f"sha256:{hashlib.sha256(local[1].read_bytes()).hexdigest()} {package} {_installed(package)}"
    model_card = card(name)
    package = BACKEND_PACKAGES.get(model_card.backend, model_card.backend)
    return f"{model_card.version} {package} {_installed(package)}"


# --- kinds ----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ThermoTaskSettings:
    """Where a thermodynamic task (window) takes its entries from."""

    source: str = setting("mp", help="Entry source: mp, experimental or file:PATH (relative to the spec); "
                          "several joined by commas.")
    offline: bool | None = setting(None, help="Use cached data only (default: the SSBKIT_OFFLINE variable).")

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True, kw_only=True)
class ReactTaskSettings(ThermoTaskSettings):
    """Entries of a react task and the Li chemical potential, if open to Li."""

    voltage: float | None = setting(None, help="Voltage (V vs Li/Li+) of a Li-open reaction; default closed.",
                                    unit="V vs Li/Li+")


@dataclass(frozen=True, kw_only=True)
class ScreenTaskSettings(ThermoTaskSettings):
    """Coating candidates of a screen task, the voltage range to cover and the entries."""

    candidates: tuple[str, ...] = setting(REQUIRED, help="Candidate coating formulas.")
    voltage_range: tuple[float, float] | None = setting(
        None, help="Voltage range (V vs Li/Li+), low and high, the coating must cover, with Li-open reactions at "
        "both ends; default: closed reactions only.", unit="V vs Li/Li+", minimum=0)


@dataclass(frozen=True, kw_only=True)
class StackTaskSettings(ThermoTaskSettings):
    """Potentials, electronic-conductor additives and band-gap lookup of a stack task (layers are its input)."""

    anode_potential: float = setting(0.0, help="Anode potential (V vs Li/Li+).", unit="V vs Li/Li+", minimum=0,
                                     maximum=10)
    cathode_potential: float | None = setting(None, help="Cathode potential (V vs Li/Li+); default the operating "
                                              "window's high end.", unit="V vs Li/Li+", minimum=0, maximum=10)
    operating_window: tuple[float, float] | None = setting(
        None, help="The cathode's range LO, HI (V vs Li/Li+) the cathode-side layers must cover.",
        unit="V vs Li/Li+", minimum=0, maximum=10)
    carbon_at: tuple[int, ...] = setting((), help="Indices of layers holding carbon (0 = anode).", minimum=0)
    mp_band_gaps: bool = setting(True, help="Look up band gaps the product table lacks at the Materials Project "
                                 "(cache only when offline or without MP_API_KEY).")


@cache
def _shared_diagrams(source: str, offline: bool, spec_dir: Path) -> Any:
    """This process's phase diagrams of an entry source, shared by every task that names it (built once)."""
    from ssbkit.interfaces.entries import SourceOptions, parse_source
    from ssbkit.interfaces.phases import PhaseDiagrams

    return PhaseDiagrams(parse_source(source, SourceOptions(offline=offline, base_dir=spec_dir)))


def _relax(inputs: dict[str, Any], parameters: dict[str, Any], calculator: Calculator | None,
           context: TaskContext) -> Result:
    settings = settings_from_mapping(RelaxSettings, parameters, "relax task")
    return relax(inputs["atoms"], calculator, settings, trajectory=context.trajectory)


@dataclass
class SinglePointResult(Result):
    """Energy (eV, eV/atom), forces (eV/Å), max force (eV/Å) and stress (eV/Å³, Voigt; None if not periodic)."""

    energy: float
    energy_per_atom: float
    forces: Any
    fmax: float
    stress: Any


def _singlepoint(inputs: dict[str, Any], parameters: dict[str, Any], calculator: Calculator | None,
                 context: TaskContext) -> Result:
    import numpy as np

    from ssbkit.potentials import predict

    atoms = inputs["atoms"]
    (prediction,) = predict([atoms], calculator)
    return SinglePointResult(
        energy=prediction.energy,
        energy_per_atom=prediction.energy / len(atoms),
        forces=prediction.forces,
        fmax=float(np.linalg.norm(prediction.forces, axis=1).max()),
        stress=prediction.stress,
    )


def _entry_source(settings: ThermoTaskSettings, context: TaskContext) -> Any:
    """The entry source named in ``settings``, relative paths relative to the spec."""
    from ssbkit.interfaces.entries import SourceOptions, parse_source

    return parse_source(settings.source, SourceOptions(offline=settings.offline, base_dir=context.spec_dir))


def _window(inputs: dict[str, Any], parameters: dict[str, Any], calculator: Calculator | None,
            context: TaskContext) -> Result:
    from ssbkit.interfaces.stability import stability_window

    settings = settings_from_mapping(ThermoTaskSettings, parameters, "window task")
    return stability_window(inputs["formula"], _entry_source(settings, context))


def _react(inputs: dict[str, Any], parameters: dict[str, Any], calculator: Calculator | None,
           context: TaskContext) -> Result:
    from ssbkit.interfaces.reactions import reaction_profile

    settings = settings_from_mapping(ReactTaskSettings, parameters, "react task")
    return reaction_profile(inputs["reactant_a"], inputs["reactant_b"], _entry_source(settings, context),
                            voltage=settings.voltage)


def _screen(inputs: dict[str, Any], parameters: dict[str, Any], calculator: Calculator | None,
            context: TaskContext) -> Result:
    from ssbkit.interfaces.screening import screen_candidates

    settings = settings_from_mapping(ScreenTaskSettings, parameters, "screen task")
    return screen_candidates(list(settings.candidates), inputs["electrolyte"], inputs["electrode"],
                             _entry_source(settings, context), voltage_range=settings.voltage_range)


def _stack(inputs: dict[str, Any], parameters: dict[str, Any], calculator: Calculator | None,
           context: TaskContext) -> Result:
    from ssbkit import config
    from ssbkit.interfaces.band_gaps import MPBandGaps
    from ssbkit.interfaces.stacks import stack_report

    settings = settings_from_mapping(StackTaskSettings, parameters, "stack task")
    layers = inputs["layers"]
    if not isinstance(layers, list) or not all(isinstance(f, str) for f in layers):
        raise InputError(f"stack task: 'layers' must be a list of formulas (anode first), got {layers!r}")
    offline = config.offline() if settings.offline is None else settings.offline
    return stack_report(layers, _shared_diagrams(settings.source, offline, context.spec_dir),
                        anode_potential_V=settings.anode_potential, cathode_potential_V=settings.cathode_potential,
                        operating_window_V=settings.operating_window,
                        additives={index: ["C"] for index in settings.carbon_at},
                        band_gaps=MPBandGaps(offline=offline) if settings.mp_band_gaps else None)


def _adhesion(inputs: dict[str, Any], parameters: dict[str, Any], calculator: Calculator | None,
              context: TaskContext) -> Result:
    settings = settings_from_mapping(AdhesionSettings, parameters, "adhesion task")
    return adhesion(inputs["interface"], calculator, inputs.get("film_bulk"), inputs.get("substrate_bulk"), settings)


def _neb(inputs: dict[str, Any], parameters: dict[str, Any], calculator: Calculator | None,
         context: TaskContext) -> Result:
    settings = settings_from_mapping(NEBSettings, parameters, "neb task")
    return neb(inputs["initial"], inputs["final"], calculator, settings, output_dir=context.output_dir)


@dataclass(frozen=True, kw_only=True)
class HopTaskSettings(NEBSettings):
    """An ``llzo-hop`` task: which garnet hop, by name, and the NEB settings (``moving_index`` comes from the hop)."""

    hop: str = setting(REQUIRED, help="bulk, gb-along or gb-across (the shortest of the kind), or one hop by its "
                                      "rank, shortest first (gb-across-5).")

    def __post_init__(self) -> None:
        super().__post_init__()
        requested_hops([self.hop], 1)
        if self.moving_index is not None:
            raise InputError("llzo-hop task: the hop names its moving Li; leave moving_index out")


def _llzo_hop(inputs: dict[str, Any], parameters: dict[str, Any], calculator: Calculator | None,
              context: TaskContext) -> Result:
    from dataclasses import fields

    settings = settings_from_mapping(HopTaskSettings, parameters, "llzo-hop task")
    physics = NEBSettings(**{f.name: getattr(settings, f.name) for f in fields(NEBSettings)})
    return ranked_hop_barrier(settings.hop, calculator, physics, bulk=inputs.get("bulk"),
                              bicrystal=inputs.get("bicrystal"), output_dir=context.output_dir)


def _md_diffusion(inputs: dict[str, Any], parameters: dict[str, Any], calculator: Calculator | None,
                  context: TaskContext) -> Result:
    settings = settings_from_mapping(MDSettings, parameters, "md-diffusion task")
    return diffusion(inputs["atoms"], calculator, None, context.output_dir, settings, progress=False)


def _label(inputs: dict[str, Any], parameters: dict[str, Any], calculator: Calculator | None,
           context: TaskContext) -> Result:
    from ssbkit.errors import CalculationError
    from ssbkit.workflows.reference import label_configurations, load_reference_settings

    settings = settings_from_mapping(LabelTaskSettings, parameters, "label task")
    settings_file = settings.reference_settings and context.spec_dir / settings.reference_settings
    labels = label_configurations([inputs["atoms"]], settings.reference, load_reference_settings(settings_file),
                                  progress=False)
    if labels.failed:
        raise CalculationError(f"reference {settings.reference} failed: {labels.failed[0].error}")
    return labels


@dataclass(frozen=True, kw_only=True)
class KineticsTaskSettings(KineticsSettings):
    """A kinetics task: a named host (w, mg, li) or the task's ``host`` structure, and the kinetics settings."""

    named_host: str | None = setting(None, help="w, mg or li (built-in hop studies); default: the host input.",
                                     choices=("w", "mg", "li"))


def _kinetics(inputs: dict[str, Any], parameters: dict[str, Any], calculator: Calculator | None,
              context: TaskContext) -> Result:
    from dataclasses import fields

    from ssbkit.workflows.kinetics import host_system, kinetics, named_system

    settings = settings_from_mapping(KineticsTaskSettings, parameters, "kinetics task")
    if settings.named_host is not None:
        system = named_system(settings.named_host, settings.mechanism, settings.full)
    elif inputs.get("host") is not None:
        system = host_system(inputs["host"], settings)
    else:
        raise InputError("kinetics task: give a host structure or named_host (w, mg, li)")
    physics = KineticsSettings(**{f.name: getattr(settings, f.name) for f in fields(KineticsSettings)})
    context.output_dir.mkdir(parents=True, exist_ok=True)
    return kinetics(system, calculator, physics, plot=context.output_dir / "arrhenius.png")


register(TaskKind("relax", _relax, settings=RelaxSettings, batchable=True))
register(TaskKind("singlepoint", _singlepoint, batchable=True))
register(TaskKind("adhesion", _adhesion, inputs=("interface", "film_bulk", "substrate_bulk"),
                  structures=("interface", "film_bulk", "substrate_bulk"), optional=("film_bulk", "substrate_bulk"),
                  settings=AdhesionSettings))
register(TaskKind("neb", _neb, inputs=("initial", "final"), structures=("initial", "final"), settings=NEBSettings,
                  model_task="neb"))
register(TaskKind("llzo-hop", _llzo_hop, inputs=("bicrystal", "bulk"), structures=("bicrystal", "bulk"),
                  optional=("bicrystal", "bulk"), settings=HopTaskSettings, model_task="neb"))
register(TaskKind("md-diffusion", _md_diffusion, settings=MDSettings, model_task="md"))
register(TaskKind("kinetics", _kinetics, inputs=("host",), structures=("host",), optional=("host",),
                  settings=KineticsTaskSettings, model_task="neb"))
register(TaskKind("window", _window, inputs=("formula",), structures=(), settings=ThermoTaskSettings,
                  needs_model=False))
register(TaskKind("react", _react, inputs=("reactant_a", "reactant_b"), structures=(), settings=ReactTaskSettings,
                  needs_model=False))
register(TaskKind("screen", _screen, inputs=("electrolyte", "electrode"), structures=(),
                  settings=ScreenTaskSettings, needs_model=False))
register(TaskKind("stack", _stack, inputs=("layers",), structures=(), settings=StackTaskSettings,
                  needs_model=False))
register(TaskKind("label", _label, settings=LabelTaskSettings, needs_model=False))
