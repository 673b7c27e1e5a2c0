"""Surface energy, work of adhesion and interface energy (J/m²) with any ASE calculator.

For an interface cell whose atoms carry ``interface_part`` (0 substrate, 1 film; as built by
ssbkit.interfaces.structures.heterointerfaces), the film and substrate are cut out in the same cell and
the three systems relaxed (positions, cell fixed; constraints kept) with ssbkit.workflows.relax:

    W_adh = (E_film + E_substrate - E_interface) / A
    gamma_interface = gamma_film + gamma_substrate - W_adh,   gamma_x = (E_x - N_x e_x,bulk) / (2 A)

The film surface energy uses the unstrained film bulk as reference, so the film's coherency strain
energy is counted in gamma_film and gamma_interface (the usual convention for coherent interfaces).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from ssbkit.errors import InputError
from ssbkit.results import Result
from ssbkit.settings import apply_overrides, setting, validate
from ssbkit.workflows.relax import RelaxSettings, relax

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


def surface_area(atoms: Atoms) -> float:
    """Area (Å²) of the cell face spanned by the first two cell vectors."""
    return float(np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1])))


@dataclass(frozen=True, kw_only=True)
class AdhesionSettings:
    """How :func:`adhesion` and :func:`surface_energy` evaluate the slabs and bulks."""

    relax_positions: bool = setting(True, help="Relax positions of the interface, film and substrate (slab).")
    relax_bulk: bool = setting(True, help="Relax the bulk references (positions and cell).")
    fmax: float = setting(0.05, help="Force convergence (eV/Å).", unit="eV/Å", minimum=0, exclusive_minimum=True)
    steps: int = setting(300, help="Largest number of optimizer steps.", minimum=1)

    def __post_init__(self) -> None:
        validate(self)


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
        surface_energy_J_m2=(energy - len(slab) * e_bulk) / (2 * area) * EV_PER_A2_IN_J_PER_M2,
        slab_energy_eV=energy, bulk_energy_per_atom_eV=e_bulk, area_A2=area, n_atoms=len(slab),
        relaxed=settings.relax_positions, converged=converged)


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
        gamma_film = (e_film - len(film) * e_film_bulk) / (2 * area) * EV_PER_A2_IN_J_PER_M2
        gamma_substrate = (e_substrate - len(substrate) * e_sub_bulk) / (2 * area) * EV_PER_A2_IN_J_PER_M2
        gamma_interface = gamma_film + gamma_substrate - work
    return AdhesionResult(
        work_of_adhesion_J_m2=work, interface_energy_J_m2=gamma_interface,
        film_surface_energy_J_m2=gamma_film, substrate_surface_energy_J_m2=gamma_substrate,
        interface_energy_eV=e_interface, film_energy_eV=e_film, substrate_energy_eV=e_substrate,
        area_A2=area, n_film=len(film), n_substrate=len(substrate), relaxed=settings.relax_positions,
        converged=converged)
