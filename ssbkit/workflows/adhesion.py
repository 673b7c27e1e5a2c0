"""Surface energy, work of adhesion and interface energy (J/m²) with any ASE calculator.

For an interface cell whose atoms carry ``interface_part`` (0 substrate, 1 film; as built by
ssbkit.interfaces.structures.heterointerfaces), the film and substrate are cut out in the same cell and
the three systems relaxed (positions, cell fixed; constraints kept) with ssbkit.workflows.relax:

    W_adh = (E_film + E_substrate - E_interface) / A
    gamma_interface = gamma_film + gamma_substrate - W_adh,   gamma_x = (E_x - N_x e_x,bulk) / (2 A)

The film surface energy uses the unstrained film bulk as reference, so the film's coherency strain
energy is counted in gamma_film and gamma_interface (the usual convention for coherent interfaces).

``adhesion_committee`` and ``surface_energy_committee`` run the same calculation with several models
(a model that fails is recorded, the others go on) and summarise each energy as a ``CommitteeValue``.
A result computed with an MPtrj-trained model carries the ``mptrj-softening`` caveat (such models give
surfaces about 30 % below PBE); where a PBE value is tabulated (``PBE_SURFACE_ENERGIES``) the committee
reports its difference from it (``reference-difference``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from ssbkit.errors import InputError
from ssbkit.interfaces.structures.slabs import parse_miller
from ssbkit.results import Caveat, Result
from ssbkit.settings import apply_overrides
from ssbkit.workflows.committee import (
    CODE_MPTRJ_SOFTENING,
    CODE_REFERENCE,
    CommitteeResult,
    CommitteeRun,
    CommitteeValue,
    ModelFailure,
    committee_value,
    mptrj_caveat,
    run_committee,
    spread_caveats,
    trained_on_mptrj,
)
from ssbkit.workflows.relax import RelaxSettings, relax
from ssbkit.workflows.settings import AdhesionSettings

EV_PER_A2_IN_J_PER_M2 = 16.02176634  # 1 eV/Å² = 16.02 J/m²


@dataclass
class SurfaceEnergyResult(Result):
    """Surface energy (J/m²) of a stoichiometric slab with two equivalent surfaces, from the slab energy (eV),
    the bulk energy per atom (eV/atom) and the area of one surface (Å²)."""

    surface_energy_J_m2: float
    slab_energy_eV: float
    bulk_energy_per_atom_eV: float
    area_A2: float
    n_atoms: int
    relaxed: bool
    converged: bool
    caveats: list[Caveat] = field(default_factory=list)


@dataclass
class AdhesionResult(Result):
    """Work of adhesion and interface energy (J/m²; the latter None without bulk references), the energies
    (eV) of the interface, film and substrate, the interface area (Å²) and whether all relaxations
    converged."""

    work_of_adhesion_J_m2: float
    interface_energy_J_m2: float | None
    film_surface_energy_J_m2: float | None
    substrate_surface_energy_J_m2: float | None
    interface_energy_eV: float
    film_energy_eV: float
    substrate_energy_eV: float
    area_A2: float
    n_film: int
    n_substrate: int
    relaxed: bool
    converged: bool
    caveats: list[Caveat] = field(default_factory=list)


@dataclass(frozen=True)
class ReferenceSurfaceEnergy:
    """A published surface energy range (J/m²) of one facet of a bulk phase."""

    formula: str
    miller: tuple[int, int, int]
    low_J_m2: float
    high_J_m2: float
    source: str

    @property
    def label(self) -> str:
        """E.g. ``W(110)``."""
        return f"{self.formula}({''.join(map(str, self.miller))})"

    @property
    def midpoint_J_m2(self) -> float:
        """The middle of the published range (J/m²)."""
        return (self.low_J_m2 + self.high_J_m2) / 2


_MP_SURFACES = ("PBE, Tran et al., Sci. Data 3, 160080 (2016), Materials Project surface energies "
                "(range over slab models and later MP releases)")

#: PBE surface energies (J/m²) used as references for the committee (formula, Miller index).
PBE_SURFACE_ENERGIES: dict[tuple[str, tuple[int, int, int]], ReferenceSurfaceEnergy] = {
    (r.formula, r.miller): r for r in (
        ReferenceSurfaceEnergy("W", (1, 1, 0), 3.2, 3.3, _MP_SURFACES),
        ReferenceSurfaceEnergy("Li", (1, 1, 0), 0.45, 0.50, _MP_SURFACES),
    )
}


def published_surface_energy(bulk: Atoms, miller: Sequence[int] | str) -> ReferenceSurfaceEnergy | None:
    """The tabulated PBE surface energy of facet MILLER of BULK (by reduced formula), or None."""
    from pymatgen.core import Composition

    formula = Composition(bulk.get_chemical_formula()).reduced_formula
    return PBE_SURFACE_ENERGIES.get((formula, parse_miller(miller)))


def surface_area(atoms: Atoms) -> float:
    """Area (Å²) of the cell face spanned by the first two cell vectors."""
    return float(np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1])))


def _surface_energy_J_m2(energy: float, n_atoms: int, bulk_energy_per_atom: float, area: float) -> float:
    """gamma = (E - N e_bulk) / (2 A) in J/m² of a slab with two surfaces of area A (Å²); energies in eV."""
    return (energy - n_atoms * bulk_energy_per_atom) / (2 * area) * EV_PER_A2_IN_J_PER_M2


def _energies(structures: list[Atoms], calculator: Calculator, settings: AdhesionSettings,
              progress: bool = False) -> tuple[list[float], bool]:
    """Energies (eV) of several structures: relaxed one by one, or evaluated together through predict."""
    if not settings.relax_positions:
        from ssbkit.potentials import predict

        return [p.energy for p in predict(structures, calculator)], True
    from tqdm import tqdm

    relax_settings = RelaxSettings(fmax=settings.fmax, steps=settings.steps)
    results = [relax(atoms, calculator, relax_settings)
               for atoms in tqdm(structures, desc="relaxing", unit="structure", disable=not progress)]
    return [r.energy for r in results], all(r.converged for r in results)


def _bulk_energy_per_atom(bulk: Atoms, calculator: Calculator, settings: AdhesionSettings) -> float:
    if settings.relax_bulk:
        return relax(bulk, calculator, RelaxSettings(fmax=settings.fmax, steps=settings.steps,
                                                     relax_cell=True)).energy_per_atom
    from ssbkit.potentials import predict

    return predict([bulk], calculator)[0].energy / len(bulk)


def _model_caveats(calculator: Calculator) -> list[Caveat]:
    if not trained_on_mptrj(calculator):
        return []
    return [mptrj_caveat([calculator.ssbkit_card.name])]


def _check_stoichiometric(slab: Atoms, bulk: Atoms, what: str) -> None:
    slab_counts, bulk_counts = slab.symbols.formula.count(), bulk.symbols.formula.count()
    if set(slab_counts) != set(bulk_counts):
        raise InputError(f"{what} {slab.get_chemical_formula()} has other elements than its bulk "
                         f"{bulk.get_chemical_formula()}")
    ratios = {el: slab_counts[el] / bulk_counts[el] for el in bulk_counts}
    if max(ratios.values()) - min(ratios.values()) > 1e-9:
        raise InputError(f"{what} {slab.get_chemical_formula()} is not stoichiometric with its bulk "
                         f"{bulk.get_chemical_formula()}; its surface energy needs chemical potentials")


def surface_energy(slab: Atoms, bulk: Atoms, calculator: Calculator, settings: AdhesionSettings | None = None,
                   **overrides: Any) -> SurfaceEnergyResult:
    """gamma = (E_slab - N e_bulk) / (2 A) in J/m² for a stoichiometric slab with equivalent surfaces.
    Keyword arguments named like fields of :class:`AdhesionSettings` override ``settings``."""
    settings = apply_overrides(AdhesionSettings, settings, overrides)
    _check_stoichiometric(slab, bulk, "slab")
    (energy,), converged = _energies([slab], calculator, settings)
    e_bulk = _bulk_energy_per_atom(bulk, calculator, settings)
    area = surface_area(slab)
    return SurfaceEnergyResult(
        surface_energy_J_m2=_surface_energy_J_m2(energy, len(slab), e_bulk, area),
        slab_energy_eV=energy, bulk_energy_per_atom_eV=e_bulk, area_A2=area, n_atoms=len(slab),
        relaxed=settings.relax_positions, converged=converged, caveats=_model_caveats(calculator))


def adhesion(
    interface: Atoms,
    calculator: Calculator,
    film_bulk: Atoms | None = None,
    substrate_bulk: Atoms | None = None,
    settings: AdhesionSettings | None = None,
    *,
    progress: bool = False,
    **overrides: Any,
) -> AdhesionResult:
    """Work of adhesion (and, with both bulks, interface energy) of an interface cell (module docstring).

    Keyword arguments named like fields of :class:`AdhesionSettings` override ``settings``.
    ``progress`` shows a progress bar over the relaxations (on stderr)."""
    settings = apply_overrides(AdhesionSettings, settings, overrides)
    if "interface_part" not in interface.arrays:
        raise InputError("the interface has no 'interface_part' array (0 substrate, 1 film); build it with "
                         "ssbkit build interface or set it")
    part = np.asarray(interface.arrays["interface_part"])
    if set(np.unique(part)) != {0, 1}:
        raise InputError("interface_part must mark both substrate (0) and film (1) atoms")
    film, substrate = interface[part == 1], interface[part == 0]
    (e_interface, e_film, e_substrate), converged = _energies([interface, film, substrate], calculator,
                                                             settings, progress)
    area = surface_area(interface)
    work = (e_film + e_substrate - e_interface) / area * EV_PER_A2_IN_J_PER_M2
    gamma_film = gamma_substrate = gamma_interface = None
    if film_bulk is not None and substrate_bulk is not None:
        _check_stoichiometric(film, film_bulk, "film")
        _check_stoichiometric(substrate, substrate_bulk, "substrate")
        e_film_bulk = _bulk_energy_per_atom(film_bulk, calculator, settings)
        e_sub_bulk = _bulk_energy_per_atom(substrate_bulk, calculator, settings)
        gamma_film = _surface_energy_J_m2(e_film, len(film), e_film_bulk, area)
        gamma_substrate = _surface_energy_J_m2(e_substrate, len(substrate), e_sub_bulk, area)
        gamma_interface = gamma_film + gamma_substrate - work
    return AdhesionResult(
        work_of_adhesion_J_m2=work, interface_energy_J_m2=gamma_interface,
        film_surface_energy_J_m2=gamma_film, substrate_surface_energy_J_m2=gamma_substrate,
        interface_energy_eV=e_interface, film_energy_eV=e_film, substrate_energy_eV=e_substrate,
        area_A2=area, n_film=len(film), n_substrate=len(substrate), relaxed=settings.relax_positions,
        converged=converged, caveats=_model_caveats(calculator))


@dataclass
class SurfaceEnergyCommitteeResult(CommitteeResult):
    """One slab's surface energy (J/m²) from several models: per-model results, failed members, the
    ``CommitteeValue`` and caveats (spread, ``mptrj-softening``, ``reference-difference``)."""

    models: list[str]
    results: dict[str, SurfaceEnergyResult]
    failures: list[ModelFailure]
    surface_energy: CommitteeValue
    reference: ReferenceSurfaceEnergy | None = None
    caveats: list[Caveat] = field(default_factory=list)


@dataclass
class AdhesionCommitteeResult(CommitteeResult):
    """One interface from several models: per-model results, failed members, a ``CommitteeValue`` (J/m²)
    for the work of adhesion, interface energy and film and substrate surface energies (the last three
    without models only when no bulks were given), the published film/substrate surface energies used,
    and caveats (spread, ``mptrj-softening``, ``reference-difference``)."""

    models: list[str]
    results: dict[str, AdhesionResult]
    failures: list[ModelFailure]
    work_of_adhesion: CommitteeValue
    interface_energy: CommitteeValue
    film_surface_energy: CommitteeValue
    substrate_surface_energy: CommitteeValue
    film_reference: ReferenceSurfaceEnergy | None = None
    substrate_reference: ReferenceSurfaceEnergy | None = None
    caveats: list[Caveat] = field(default_factory=list)


def _reference_caveat(value: CommitteeValue, reference: ReferenceSurfaceEnergy | None) -> list[Caveat]:
    """The committee mean's difference (J/m², %) from the middle of a published range."""
    if reference is None or value.mean is None:
        return []
    difference = value.mean - reference.midpoint_J_m2
    return [Caveat(CODE_REFERENCE, f"{value.quantity} {reference.label}: {value.summary()} vs "
                                   f"{reference.low_J_m2:g}-{reference.high_J_m2:g} J/m² ({reference.source}): "
                                   f"{difference:+.2f} J/m² ({difference / reference.midpoint_J_m2:+.0%})")]


def _committee_caveats(run: CommitteeRun, values: list[CommitteeValue],
                       references: list[tuple[CommitteeValue, ReferenceSurfaceEnergy | None]]) -> list[Caveat]:
    """Failures, spread, one ``mptrj-softening`` caveat naming the MPtrj-trained members, reference differences."""
    caveats = run.failure_caveats() + spread_caveats(values)
    softened = [model for model, result in run.results.items()
                if any(c.code == CODE_MPTRJ_SOFTENING for c in result.caveats)]
    if softened:
        caveats.append(mptrj_caveat(softened))
    for value, reference in references:
        caveats += _reference_caveat(value, reference)
    return caveats


def surface_energy_committee(
    slab: Atoms,
    bulk: Atoms,
    models: Sequence[str],
    load_calculator: Callable[[str], Calculator],
    settings: AdhesionSettings | None = None,
    *,
    reference: ReferenceSurfaceEnergy | None = None,
    threshold: float | None = None,
) -> SurfaceEnergyCommitteeResult:
    """:func:`surface_energy` of SLAB with every model (``load_calculator(model)`` gives its calculator).
    ``reference``: a published value to compare with; ``threshold`` (J/m²): the spread above which the
    models disagree (default 0.1 J/m²)."""
    run = run_committee(list(models), lambda model: surface_energy(slab, bulk, load_calculator(model), settings))
    gamma = committee_value("surface energy", "J/m^2",
                            {m: r.surface_energy_J_m2 for m, r in run.results.items()}, threshold)
    return SurfaceEnergyCommitteeResult(
        models=list(models), results=run.results, failures=run.failures, surface_energy=gamma,
        reference=reference, caveats=_committee_caveats(run, [gamma], [(gamma, reference)]))


def adhesion_committee(
    interface: Atoms,
    models: Sequence[str],
    load_calculator: Callable[[str], Calculator],
    film_bulk: Atoms | None = None,
    substrate_bulk: Atoms | None = None,
    settings: AdhesionSettings | None = None,
    *,
    film_reference: ReferenceSurfaceEnergy | None = None,
    substrate_reference: ReferenceSurfaceEnergy | None = None,
    threshold: float | None = None,
    progress: bool = False,
) -> AdhesionCommitteeResult:
    """:func:`adhesion` of INTERFACE with every model (``load_calculator(model)`` gives its calculator).
    ``film_reference``/``substrate_reference``: published surface energies to compare with (see
    :func:`published_surface_energy`); ``threshold`` (J/m²): the spread above which the models disagree
    (default 0.1 J/m²)."""
    run = run_committee(list(models), lambda model: adhesion(
        interface, load_calculator(model), film_bulk, substrate_bulk, settings, progress=progress))

    def value(quantity: str, attribute: str) -> CommitteeValue:
        return committee_value(quantity, "J/m^2", {m: getattr(r, attribute) for m, r in run.results.items()},
                               threshold)

    work = value("work of adhesion", "work_of_adhesion_J_m2")
    interface_energy = value("interface energy", "interface_energy_J_m2")
    film = value("film surface energy", "film_surface_energy_J_m2")
    substrate = value("substrate surface energy", "substrate_surface_energy_J_m2")
    caveats = _committee_caveats(run, [work, interface_energy, film, substrate],
                                 [(film, film_reference), (substrate, substrate_reference)])
    return AdhesionCommitteeResult(
        models=list(models), results=run.results, failures=run.failures, work_of_adhesion=work,
        interface_energy=interface_energy, film_surface_energy=film, substrate_surface_energy=substrate,
        film_reference=film_reference, substrate_reference=substrate_reference, caveats=caveats)
