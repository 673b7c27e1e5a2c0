"""From NEB barriers to D(T): harmonic transition-state rates (Vineyard) and kinetic Monte Carlo on the site network.

Steps of :func:`kinetics`:

1. Site network and hop classes: a named host (``w``, ``mg``, ``li``: the hop studies of
   ``ssbkit.interfaces.structures.hop_studies``) or any host structure (the site finder of
   ``ssbkit.interfaces.structures.sites``: distinct sites, symmetry-distinct hops with lengths).
2. One climbing-image NEB per hop class (``ssbkit.workflows.neb``), same model throughout.
3. Attempt frequency per direction (Vineyard 1957): nu* = prod_i nu_i(minimum) / prod_i' nu_i'(saddle), the
   products over the real normal modes (3n at the minimum, 3n - 1 at the saddle), from finite-difference
   Hessians whose displaced copies go to the model as one batched call (``ssbkit.potentials.predict``).
   Default: the partial Hessian of the moving atom and its neighbours within ``hessian_cutoff`` (Å) of it at
   the minima and the saddle, the other atoms held; ``hessian="full"`` uses every free atom (the three
   translation modes of a periodic cell are dropped). The saddle must have exactly one imaginary mode.
4. Rates Gamma = nu* exp(-Ea/kT) per hop class and direction, rejection-free kMC of one tracer
   (``ssbkit.workflows.kmc``) per temperature: D(T) in cm²/s, with a percolation check.
5. Vacancy mechanism: D = f c_v D_network, with c_v = exp(-E_f/kT) (formation entropy neglected) and E_f
   the model's vacancy formation energy of the host, E(N-1, relaxed at fixed cell) - (N-1) mu with the
   chemical potential mu = E(N)/N, the bulk metal's energy per atom in the same cell; f is the tracer
   correlation factor of the lattice (bcc 0.727, fcc and ideal hcp 0.781; Compaan & Haven, Trans. Faraday
   Soc. 52, 786 (1956); Mehrer, Diffusion in Solids, Springer 2007, ch. 7). For a solute (Li in Mg) the
   solvent's vacancy, correlation factor and host-vacancy exchange are used: solute-vacancy binding and the
   five-frequency correlation are left out (a caveat says so).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from ssbkit.errors import CalculationError, InputError
from ssbkit.results import Caveat, Result
from ssbkit.settings import apply_overrides
from ssbkit.workflows.kmc import SiteNetwork, TracerResult, network_from_sites, tracer_diffusivity
from ssbkit.workflows.settings import KineticsSettings

BOLTZMANN_EV_PER_K = 8.617333262e-5
#: sqrt(eV / (Å² amu)) in rad/s
_ANGULAR_PER_SQRT_EV_A2_AMU = math.sqrt(1.602176634e-19 / 1.66053906660e-27) * 1e10

#: Tracer correlation factors of vacancy diffusion (Compaan & Haven 1956; Mehrer 2007, ch. 7).
CORRELATION_FACTORS = {"bcc": 0.7272, "fcc": 0.7815, "hcp": 0.7812}
CHEMICAL_POTENTIAL_REFERENCE = "bulk metal energy per atom (same model, same cell)"

CODE_SADDLE_MODES = "saddle-modes"            # the saddle has zero or several imaginary modes
CODE_MINIMUM_MODES = "minimum-modes"          # a minimum has imaginary modes
CODE_HOP_MISSING = "hop-missing"              # a hop class's sites are not separate minima: the class is left out
CODE_SITES_LEFT_OUT = "sites-left-out"        # the network holds only some of the host's sites
CODE_SOLUTE_VACANCY = "solute-vacancy"        # solute moved by solvent vacancies: binding, 5-frequency model left out
CODE_NEB_WARNING = "neb-warning"              # a warning of one hop class's NEB
CODE_CORRELATION = "correlation-factor"       # no literature correlation factor for this lattice: f = 1
CODE_PREFACTOR = "prefactor-implausible"      # a Vineyard prefactor outside the range of atomic attempt frequencies

#: Attempt frequencies of atoms and ions in solids lie between ~0.1 and ~100 THz (Hz).
PLAUSIBLE_PREFACTOR_HZ = (1e11, 1e14)

NAMED_HOSTS = {
    "w": {"interstitial": ("w-bulk-tt",)},
    "mg": {"interstitial": ("mg-interstitial-c", "mg-interstitial-basal"),
           "vacancy": ("mg-vacancy-basal", "mg-vacancy-c")},
    "li": {"vacancy": ("li-vacancy",)},
}


# --- harmonic transition-state theory --------------------------------------------------------------


def free_indices(atoms: Atoms) -> np.ndarray:
    """Indices of the atoms no FixAtoms constraint holds."""
    from ase.constraints import FixAtoms

    fixed = {int(i) for c in atoms.constraints if isinstance(c, FixAtoms) for i in c.get_indices()}
    return np.array([i for i in range(len(atoms)) if i not in fixed], dtype=int)


def hessian_atoms(images: Sequence[Atoms], moving_index: int, cutoff: float) -> np.ndarray:
    """Free atoms within ``cutoff`` (Å, periodic images included) of the moving atom in any of ``images``, with
    the moving atom: one set for the minima and the saddle of a hop."""
    free = set(free_indices(images[0]).tolist())
    chosen = {moving_index}
    for atoms in images:
        distances = atoms.get_distances(moving_index, range(len(atoms)), mic=True)
        chosen |= {int(i) for i in np.flatnonzero(distances <= cutoff)}
    return np.array(sorted(chosen & free | {moving_index}), dtype=int)


def finite_difference_hessian(atoms: Atoms, calculator: Calculator, indices: Sequence[int],
                              displacement: float = 0.01) -> np.ndarray:
    """Hessian (eV/Å², 3n x 3n, symmetrised) of the atoms ``indices`` by central differences of the forces;
    the 6n displaced copies are evaluated in one batched model call."""
    from ssbkit.potentials import predict

    indices = np.asarray(indices, dtype=int)
    base = atoms.copy()
    base.calc = None
    base.set_constraint()
    copies = []
    for index in indices:
        for axis in range(3):
            for sign in (1.0, -1.0):
                copy = base.copy()
                copy.positions[index, axis] += sign * displacement
                copies.append(copy)
    forces = np.array([p.forces[indices] for p in predict(copies, calculator)])
    n = len(indices)
    forces = forces.reshape(n * 3, 2, n * 3)
    hessian = -(forces[:, 0] - forces[:, 1]) / (2 * displacement)
    return 0.5 * (hessian + hessian.T)


def normal_mode_frequencies(hessian: np.ndarray, masses: Sequence[float]) -> np.ndarray:
    """Normal-mode frequencies (Hz, ascending; imaginary ones as negative numbers) of a Hessian (eV/Å²) and the
    atoms' masses (amu)."""
    weights = 1.0 / np.sqrt(np.repeat(np.asarray(masses, dtype=float), 3))
    eigenvalues = np.linalg.eigvalsh(hessian * np.outer(weights, weights))
    return np.sign(eigenvalues) * np.sqrt(np.abs(eigenvalues)) * _ANGULAR_PER_SQRT_EV_A2_AMU / (2 * np.pi)


@dataclass
class VineyardResult(Result):
    """Attempt frequency nu* (Hz) of one hop direction, the normal-mode frequencies (THz, imaginary negative) at
    the minimum and the saddle, the imaginary-mode counts, the atoms in the Hessian, the zero (translation)
    modes dropped, and caveats."""

    prefactor_Hz: float
    minimum_frequencies_THz: np.ndarray
    saddle_frequencies_THz: np.ndarray
    n_imaginary_saddle: int
    n_imaginary_minimum: int
    hessian_atoms: list[int]
    n_zero_modes: int
    caveats: list[Caveat] = field(default_factory=list)


def vineyard_prefactor(minimum: Atoms, saddle: Atoms, calculator: Calculator, indices: Sequence[int] | None = None,
                       *, displacement: float = 0.01, imaginary_threshold: float = 0.1,
                       bad_saddle: str = "error") -> VineyardResult:
    """Vineyard attempt frequency (Hz) of the hop from ``minimum`` over ``saddle`` (same atoms, same order).

    ``indices``: the atoms of the (partial) Hessian; None for every free atom, in which case the three
    translation modes of a periodic cell without fixed atoms are dropped at both points. A mode below
    ``-imaginary_threshold`` (THz) is imaginary. The saddle must have exactly one imaginary mode: otherwise
    CalculationError naming the count, or with ``bad_saddle="caveat"`` a ``saddle-modes`` caveat and the
    lowest saddle mode taken as the reaction coordinate (imaginary ones left in count by their modulus).
    """
    if len(minimum) != len(saddle):
        raise InputError("the minimum and the saddle must hold the same atoms")
    full = indices is None
    indices = free_indices(minimum) if full else np.asarray(indices, dtype=int)
    zero_modes = 3 if full and minimum.pbc.all() and len(indices) == len(minimum) else 0
    masses = minimum.get_masses()[indices]
    frequencies = []
    for atoms in (minimum, saddle):
        hessian = finite_difference_hessian(atoms, calculator, indices, displacement)
        modes = normal_mode_frequencies(hessian, masses)
        if zero_modes:
            modes = np.sort(np.delete(modes, np.argsort(np.abs(modes))[:zero_modes]))
        frequencies.append(modes)
    at_minimum, at_saddle = frequencies
    threshold_hz = imaginary_threshold * 1e12
    n_imaginary_minimum = int((at_minimum < -threshold_hz).sum())
    n_imaginary_saddle = int((at_saddle < -threshold_hz).sum())
    caveats = []
    if n_imaginary_saddle != 1:
        message = (f"the saddle has {n_imaginary_saddle} imaginary modes (exactly 1 expected, threshold "
                   f"{imaginary_threshold} THz): it is not a first-order saddle point of this model")
        if bad_saddle == "error":
            raise CalculationError(message)
        caveats.append(Caveat(CODE_SADDLE_MODES, message + "; the lowest mode was taken as the reaction coordinate"))
    if n_imaginary_minimum:
        message = f"the minimum has {n_imaginary_minimum} imaginary mode(s): it is not a minimum of this model"
        if bad_saddle == "error":
            raise CalculationError(message)
        caveats.append(Caveat(CODE_MINIMUM_MODES, message))
    log_prefactor = np.log(np.abs(at_minimum)).sum() - np.log(np.abs(at_saddle[1:])).sum()
    return VineyardResult(prefactor_Hz=float(np.exp(log_prefactor)), minimum_frequencies_THz=at_minimum / 1e12,
                          saddle_frequencies_THz=at_saddle / 1e12, n_imaginary_saddle=n_imaginary_saddle,
                          n_imaginary_minimum=n_imaginary_minimum, hessian_atoms=indices.tolist(),
                          n_zero_modes=zero_modes, caveats=caveats)


# --- the system: sites and hop classes ---------------------------------------------------------------


@dataclass
class HopCandidate:
    """One hop class to compute: NEB endpoints (supercells, same atom order) and the moving atom's index."""

    name: str
    initial: Atoms
    final: Atoms
    moving_index: int


@dataclass
class KineticsSystem:
    """What :func:`kinetics` needs about a host: the host cell, the sites the diffusing atom visits (Å, in that
    cell) with labels, one candidate per hop class, the lattice name (bcc, fcc, hcp or other) for the
    correlation factor, and caveats about the choices made."""

    name: str
    host: Atoms
    species: str
    mechanism: str
    site_positions: np.ndarray
    site_labels: list[str]
    hops: list[HopCandidate]
    lattice: str
    caveats: list[Caveat] = field(default_factory=list)


def lattice_name(host: Atoms) -> str:
    """bcc, fcc or hcp for a one-element host with that structure (spglib), else "other"."""
    import spglib

    if len(set(host.numbers)) != 1:
        return "other"
    dataset = spglib.get_symmetry_dataset((host.cell[:], host.get_scaled_positions(), host.numbers), symprec=0.01)
    if dataset is None:
        return "other"
    number = dataset.number if hasattr(dataset, "number") else dataset["number"]
    return {229: "bcc", 225: "fcc", 194: "hcp"}.get(int(number), "other")


def named_system(name: str, mechanism: str, full: bool = False) -> KineticsSystem:
    """The hop studies of a named host (``w``, ``mg``, ``li``) for ``mechanism``, with their site network."""
    from ase.build import bulk

    from ssbkit.interfaces.structures.hop_studies import LI_A, MG_A, MG_C, W_A, build_study
    from ssbkit.interfaces.structures.sites import all_interstitial_positions, interstitial_sites

    key = name.lower()
    if key not in NAMED_HOSTS:
        raise InputError(f"unknown host {name!r}; name one of {', '.join(NAMED_HOSTS)} or give a structure file")
    if mechanism not in NAMED_HOSTS[key]:
        raise InputError(f"host {key} has no {mechanism} hop studies; it has "
                         f"{', '.join(NAMED_HOSTS[key])}")
    host = {"w": lambda: bulk("W", "bcc", a=W_A, cubic=True), "mg": lambda: bulk("Mg", "hcp", a=MG_A, c=MG_C),
            "li": lambda: bulk("Li", "bcc", a=LI_A, cubic=True)}[key]()
    studies = [build_study(study, full=full) for study in NAMED_HOSTS[key][mechanism]]
    hops = [HopCandidate(s.name, s.initial, s.final, s.moving_index) for s in studies]
    caveats = []
    if mechanism == "interstitial":
        positions, labels = all_interstitial_positions(host, "Li")
        if key == "mg":
            octahedral = {s.label for s in interstitial_sites(host, "Li") if s.kind == "octahedral"}
            keep = [i for i, label in enumerate(labels) if label in octahedral]
            positions, labels = positions[keep], [labels[i] for i in keep]
            caveats.append(Caveat(CODE_SITES_LEFT_OUT, "Li in hcp Mg: the octahedral sites only (the hop studies "
                                                       "are octahedral-octahedral); tetrahedral sites left out"))
    else:
        positions, labels = host.positions.copy(), [host[0].symbol] * len(host)
        if key == "mg":
            caveats.append(_solute_caveat("Li", "Mg"))
    return KineticsSystem(key, host, "Li", mechanism, positions, labels, hops, lattice_name(host), caveats)


def _solute_caveat(species: str, solvent: str) -> Caveat:
    return Caveat(CODE_SOLUTE_VACANCY, f"{species} diffuses by {solvent} vacancies: the {solvent} vacancy "
                                       f"formation energy and the {solvent} self-diffusion correlation factor are "
                                       "used; solute-vacancy binding and the solute's own correlation factor "
                                       "(five-frequency model) are left out")


def host_system(host: Atoms, settings: KineticsSettings, name: str = "host") -> KineticsSystem:
    """Sites and hop classes of ``species`` in a host structure from the site finder: interstitial voids, or the
    species' own lattice sites (self-diffusion by vacancies), hops up to ``max_length`` Å."""
    import spglib

    from ssbkit.interfaces.structures.sites import all_interstitial_positions, migration_hops, vacancy_sites

    species = settings.species
    hops = migration_hops(host, species, settings.mechanism, max_length=settings.max_length,
                          supercell_min_length=settings.supercell_min_length)
    candidates = [HopCandidate(f"{hop.start_label}-{hop.end_label} {hop.length_A:.2f} Å", hop.start, hop.end,
                               hop.moving_index) for hop in hops]
    if settings.mechanism == "interstitial":
        positions, labels = all_interstitial_positions(host, species)
    else:
        indices = np.flatnonzero(np.array(host.get_chemical_symbols()) == species)
        dataset = spglib.get_symmetry_dataset((host.cell[:], host.get_scaled_positions(), host.numbers),
                                              symprec=0.01)
        equivalent = (np.asarray(dataset.equivalent_atoms) if dataset is not None
                      else np.arange(len(host)))
        representative = {int(equivalent[site.index]): site.label for site in vacancy_sites(host, species)}
        positions = host.positions[indices]
        labels = [representative.get(int(equivalent[i]), f"{species}?") for i in indices]
    return KineticsSystem(name, host.copy(), species, settings.mechanism, positions, labels, candidates,
                          lattice_name(host))


# --- rates per hop class ----------------------------------------------------------------------------


@dataclass
class HopRate(Result):
    """One hop class: sites (labels) it joins, length (Å), how many such hops leave one start site
    (``count_per_site``), barrier (eV) and attempt frequency (Hz) forward (start -> end) and backward, the
    saddle's imaginary-mode count, NEB convergence, the normal-mode frequencies (THz, imaginary negative) at the
    start minimum and the saddle, and caveats."""

    name: str
    start_label: str
    end_label: str
    length_A: float
    count_per_site: int
    barrier_eV: float
    prefactor_Hz: float
    barrier_backward_eV: float
    prefactor_backward_Hz: float
    n_imaginary_saddle: int
    neb_converged: bool
    minimum_frequencies_THz: list[float] = field(default_factory=list)
    saddle_frequencies_THz: list[float] = field(default_factory=list)
    caveats: list[Caveat] = field(default_factory=list)

    def rates_Hz(self, temperature: float) -> tuple[float, float]:
        """Forward and backward rates (Hz) at ``temperature`` (K)."""
        kT = BOLTZMANN_EV_PER_K * temperature
        return (self.prefactor_Hz * math.exp(-self.barrier_eV / kT),
                self.prefactor_backward_Hz * math.exp(-self.barrier_backward_eV / kT))


def check_temperatures(temperatures: Sequence[float]) -> list[float]:
    """The temperatures (K) as floats; InputError for none, a non-finite one or one <= 0 K."""
    values = [float(t) for t in temperatures]
    if not values:
        raise InputError("give at least one temperature (K)")
    bad = [t for t in values if not math.isfinite(t) or t <= 0]
    if bad:
        raise InputError(f"temperatures must be above 0 K, got {bad[0]:g}")
    return values


def check_barriers(name: str, forward: float, backward: float, tolerance: float = 1e-3) -> None:
    """CalculationError when a hop's barrier in either direction is negative (below -``tolerance`` eV): that
    endpoint is not a minimum of the model."""
    for direction, barrier, endpoint in (("forward", forward, "initial"), ("backward", backward, "final")):
        if barrier < -tolerance:
            raise CalculationError(f"hop {name}: {direction} barrier {barrier:.3f} eV is negative: the {endpoint} "
                                   "endpoint is not a minimum of this model")


def implausible_prefactor(name: str, prefactor_Hz: float) -> Caveat | None:
    """A ``prefactor-implausible`` caveat when ``prefactor_Hz`` lies outside :data:`PLAUSIBLE_PREFACTOR_HZ`.

    Vineyard's ratio of mode products blows up when the saddle is flat or not converged: soft real modes in
    the denominator (measured: CHGNet's bcc Li vacancy hop gives 1.3e14, 1.9e14 and 1.3e15 Hz with Hessian
    cutoffs of 3.2, 4.5 and 5.5 Å, and a tightly converged saddle has no imaginary mode above 0.1 THz)."""
    low, high = PLAUSIBLE_PREFACTOR_HZ
    if low <= prefactor_Hz <= high:
        return None
    return Caveat(CODE_PREFACTOR, f"{name}: Vineyard prefactor {prefactor_Hz:.1e} Hz lies outside "
                                  f"{low:.0e}-{high:.0e} Hz, the range of atomic attempt frequencies: the saddle is "
                                  "flat or not converged (check with a tighter neb_fmax and a larger "
                                  "hessian_cutoff); D from it is unreliable")


def hop_rate(candidate: HopCandidate, calculator: Calculator, settings: KineticsSettings,
             labels: tuple[str, str], length: float, count_per_site: int, *, progress: bool = False) -> HopRate:
    """NEB of one hop class, then the Vineyard prefactor of each direction (the backward one only when the end
    site differs from the start site)."""
    from ssbkit.workflows.neb import neb

    result = neb(candidate.initial, candidate.final, calculator, n_images=settings.n_images, fmax=settings.neb_fmax,
                 steps=settings.neb_steps, moving_index=candidate.moving_index, progress=progress)
    check_barriers(candidate.name, result.barrier_forward, result.barrier_backward)
    images = result.images
    saddle = images[result.saddle_index]
    if result.saddle_index in (0, len(images) - 1):
        raise CalculationError(f"hop {candidate.name}: the highest point of the path is an endpoint (barrier "
                               f"{result.barrier_forward:.3f}/{result.barrier_backward:.3f} eV): that endpoint is "
                               "not a minimum of this model")
    indices = None if settings.hessian == "full" else hessian_atoms(
        [images[0], saddle, images[-1]], result.hop.index, settings.hessian_cutoff)
    options = {"displacement": settings.displacement, "imaginary_threshold": settings.imaginary_threshold,
               "bad_saddle": settings.bad_saddle}
    forward = vineyard_prefactor(images[0], saddle, calculator, indices, **options)
    symmetric = labels[0] == labels[1]
    backward = forward if symmetric else vineyard_prefactor(images[-1], saddle, calculator, indices, **options)
    barrier_backward = result.barrier_forward if symmetric else result.barrier_backward
    caveats = forward.caveats + (backward.caveats if not symmetric else [])
    caveats += [Caveat(CODE_NEB_WARNING, f"{candidate.name}: {w}") for w in result.warnings]
    caveats += [caveat for caveat in (implausible_prefactor(candidate.name, forward.prefactor_Hz),
                                      None if symmetric else implausible_prefactor(f"{candidate.name} (backward)",
                                                                                   backward.prefactor_Hz))
                if caveat is not None]
    return HopRate(name=candidate.name, start_label=labels[0], end_label=labels[1], length_A=length,
                   count_per_site=count_per_site, barrier_eV=result.barrier_forward, prefactor_Hz=forward.prefactor_Hz,
                   barrier_backward_eV=barrier_backward, prefactor_backward_Hz=backward.prefactor_Hz,
                   n_imaginary_saddle=forward.n_imaginary_saddle, neb_converged=result.converged,
                   minimum_frequencies_THz=forward.minimum_frequencies_THz.tolist(),
                   saddle_frequencies_THz=forward.saddle_frequencies_THz.tolist(), caveats=caveats)


def _site_of(system: KineticsSystem, position: np.ndarray, tolerance: float = 0.4) -> int:
    """Index of the network site at ``position`` (Å, modulo the host cell)."""
    cell = system.host.cell[:]
    diff = np.linalg.solve(cell.T, (system.site_positions - position).T).T
    diff -= np.round(diff)
    distances = np.linalg.norm(diff @ cell, axis=1)
    k = int(np.argmin(distances))
    if distances[k] > tolerance:
        raise CalculationError(f"a hop endpoint lies {distances[k]:.2f} Å from the nearest site of the network")
    return k


def hop_geometry(system: KineticsSystem, candidate: HopCandidate) -> tuple[tuple[str, str], float]:
    """Labels of the sites a hop joins and its length (Å), from the moving atom's placed positions."""
    start = candidate.initial.positions[candidate.moving_index]
    end = candidate.final.positions[candidate.moving_index]
    labels = (system.site_labels[_site_of(system, start)], system.site_labels[_site_of(system, end)])
    return labels, float(np.linalg.norm(end - start))


def build_network(system: KineticsSystem, classes: Sequence[tuple[tuple[str, str], float]],
                  names: Sequence[str], tolerance: float = 0.005) -> SiteNetwork:
    """The site network with each jump assigned to the hop class of its length (within ``tolerance`` Å) and site
    labels; jumps of no class are left out."""
    longest = max(length for _, length in classes)
    network = network_from_sites(system.host.cell[:], system.site_positions, system.site_labels, longest + 0.05)
    lengths = network.lengths
    assigned = np.full(len(lengths), -1)
    ends = [tuple(sorted((system.site_labels[i], system.site_labels[j])))
            for i, j in zip(network.sources, network.targets, strict=True)]
    for c, (labels, length) in enumerate(classes):
        match = (np.abs(lengths - length) < tolerance) & np.array([e == tuple(sorted(labels)) for e in ends])
        assigned[match & (assigned < 0)] = c
    keep = assigned >= 0
    return SiteNetwork(cell=network.cell, positions=network.positions, labels=network.labels,
                       sources=network.sources[keep], targets=network.targets[keep], shifts=network.shifts[keep],
                       classes=assigned[keep], class_names=list(names))


def network_rates(network: SiteNetwork, hops: Sequence[HopRate], temperature: float) -> np.ndarray:
    """Rate (Hz) of each jump of the network at ``temperature`` (K): forward from a class's start label, else
    backward."""
    rates = np.empty(len(network.sources))
    for k, (source, c) in enumerate(zip(network.sources, network.classes, strict=True)):
        forward, backward = hops[c].rates_Hz(temperature)
        rates[k] = forward if network.labels[source] == hops[c].start_label else backward
    return rates


# --- vacancies ------------------------------------------------------------------------------------------


@dataclass
class VacancyFormation(Result):
    """Vacancy formation energy (eV) = E(N-1) - (N-1) mu, with mu (eV/atom) the perfect cell's energy per atom,
    the supercell size N, and whether the vacancy cell's relaxation converged."""

    energy_eV: float
    chemical_potential_eV: float
    chemical_potential_reference: str
    n_atoms: int
    converged: bool


def vacancy_formation_energy(host: Atoms, calculator: Calculator, min_width: float = 9.0,
                             fmax: float = 0.02) -> VacancyFormation:
    """Vacancy formation energy (eV) of a one-element host at its given (fixed) cell, in a supercell at least
    ``min_width`` Å wide; positions of the vacancy cell relaxed to ``fmax`` (eV/Å)."""
    from ssbkit.interfaces.structures.sites import make_vacancy, supercell_repeats
    from ssbkit.potentials import predict
    from ssbkit.workflows.relax import relax

    if len(set(host.get_chemical_symbols())) != 1:
        raise InputError("the vacancy formation energy is computed for one-element hosts only; give "
                         "vacancy_formation_energy for others")
    perfect = host.repeat(supercell_repeats(host, min_width))
    (prediction,) = predict([perfect], calculator)
    mu = prediction.energy / len(perfect)
    relaxed = relax(make_vacancy(perfect, 0), calculator, fmax=fmax, steps=500)
    return VacancyFormation(energy_eV=relaxed.energy - (len(perfect) - 1) * mu, chemical_potential_eV=mu,
                            chemical_potential_reference=CHEMICAL_POTENTIAL_REFERENCE, n_atoms=len(perfect),
                            converged=relaxed.converged)


# --- the workflow -------------------------------------------------------------------------------------


@dataclass
class KineticsResult(Result):
    """D(T) of ``species`` in ``host`` by ``mechanism`` with one model.

    ``hops``: the hop classes (barrier_eV, prefactor_Hz, length_A, count_per_site); ``temperatures_K`` and
    ``D_cm2_per_s`` (tracer, with the vacancy concentration and correlation factor for vacancy hops) and its
    kMC standard error; ``arrhenius``: activation energy (eV) and prefactor (cm²/s) of a fit to D(T) (two or
    more temperatures with D > 0); vacancy terms; timings (s); caveats."""

    host: str
    species: str
    mechanism: str
    model: str
    hops: list[HopRate]
    temperatures_K: list[float]
    D_cm2_per_s: list[float]
    D_std_cm2_per_s: list[float]
    D_axes_cm2_per_s: list[list[float]]
    percolation_dimension: int
    correlation_factor: float
    vacancy_formation_energy_eV: float | None
    chemical_potential_reference: str | None
    arrhenius: dict[str, float] | None
    kmc: list[TracerResult]
    settings: dict[str, Any]
    timings_s: dict[str, float]
    caveats: list[Caveat] = field(default_factory=list)
    plot_file: Path | None = None


def arrhenius_fit(temperatures: Sequence[float], diffusivities: Sequence[float]) -> dict[str, float] | None:
    """Activation energy (eV) and prefactor D0 (cm²/s) of D = D0 exp(-Ea/kT), least squares in ln D; None with
    fewer than two temperatures of D > 0."""
    t = np.array([x for x, d in zip(temperatures, diffusivities, strict=True) if d > 0])
    d = np.array([d for d in diffusivities if d > 0])
    if len(set(t.tolist())) < 2:
        return None
    slope, intercept = np.polyfit(1.0 / (BOLTZMANN_EV_PER_K * t), np.log(d), 1)
    return {"activation_energy_eV": float(-slope), "prefactor_cm2_per_s": float(np.exp(intercept))}


def kinetics(system: KineticsSystem, calculator: Calculator, settings: KineticsSettings | None = None, *,
             model: str | None = None, plot: str | Path | None = None, md_points: Sequence[tuple] = (),
             progress: bool = False, **overrides: Any) -> KineticsResult:
    """NEB, Vineyard prefactors and kMC for every hop class of ``system``: D(T) (module docstring).

    A hop class whose sites relax into one (HopMissingError) is left out with a ``hop-missing`` caveat; a
    negative barrier or a saddle without one imaginary mode is a CalculationError (or a caveat, see
    ``bad_saddle``). With ``plot`` the Arrhenius plot is written there, with ``md_points`` (T in K, D and its
    standard error in cm²/s) from MD next to the kMC points.
    """
    from ssbkit.potentials import model_name
    from ssbkit.workflows.neb import HopMissingError

    settings = apply_overrides(KineticsSettings, settings, overrides)
    temperatures = check_temperatures(settings.temperatures)
    timings: dict[str, float] = {}
    caveats = list(system.caveats)
    hops: list[HopRate] = []
    classes = []
    started = time.perf_counter()
    for candidate in system.hops:
        labels, length = hop_geometry(system, candidate)
        try:
            hop = hop_rate(candidate, calculator, settings, labels, length, 0, progress=progress)
        except HopMissingError as exc:
            caveats.append(Caveat(CODE_HOP_MISSING, f"{candidate.name} left out: {exc}"))
            continue
        hops.append(hop)
        classes.append((labels, length))
        caveats += hop.caveats
    timings["neb_and_hessians"] = time.perf_counter() - started
    if not hops:
        raise CalculationError(f"no hop of {system.species} in {system.name} exists for this model")
    network = build_network(system, classes, [hop.name for hop in hops])
    for c, hop in enumerate(hops):
        start_site = system.site_labels.index(hop.start_label)
        hop.count_per_site = int(((network.classes == c) & (network.sources == start_site)).sum())
    correlation, formation, reference = 1.0, None, None
    if system.mechanism == "vacancy":
        correlation = settings.correlation_factor or CORRELATION_FACTORS.get(system.lattice, 1.0)
        if settings.correlation_factor is None and system.lattice not in CORRELATION_FACTORS:
            caveats.append(Caveat(CODE_CORRELATION, f"no literature correlation factor for a {system.lattice} "
                                                    "lattice: f = 1 (give correlation_factor)"))
        formation = settings.vacancy_formation_energy
        if formation is None:
            started = time.perf_counter()
            vacancy = vacancy_formation_energy(system.host, calculator, settings.supercell_min_length)
            timings["vacancy_formation"] = time.perf_counter() - started
            formation, reference = vacancy.energy_eV, vacancy.chemical_potential_reference
        else:
            reference = "given"
    started = time.perf_counter()
    runs, values, errors = [], [], []
    for temperature in temperatures:
        run = tracer_diffusivity(network, network_rates(network, hops, temperature), n_walkers=settings.kmc_walkers,
                                 n_steps=settings.kmc_steps, seed=settings.seed)
        scale = correlation * (math.exp(-formation / (BOLTZMANN_EV_PER_K * temperature)) if formation is not None
                               else 1.0)
        runs.append(run)
        values.append(run.diffusivity_cm2_per_s * scale)
        errors.append(run.diffusivity_std_cm2_per_s * scale)
    timings["kmc"] = time.perf_counter() - started
    for caveat in runs[0].caveats:
        caveats.append(caveat)
    result = KineticsResult(
        host=system.name, species=system.species, mechanism=system.mechanism, model=model or model_name(calculator),
        hops=hops, temperatures_K=temperatures, D_cm2_per_s=values, D_std_cm2_per_s=errors,
        D_axes_cm2_per_s=[(r.diffusivity_axes_cm2_per_s * v / r.diffusivity_cm2_per_s).tolist()
                          if r.diffusivity_cm2_per_s > 0 else [0.0, 0.0, 0.0] for r, v in zip(runs, values)],
        percolation_dimension=runs[0].percolation_dimension, correlation_factor=correlation,
        vacancy_formation_energy_eV=formation, chemical_potential_reference=reference,
        arrhenius=arrhenius_fit(temperatures, values), kmc=runs, settings=asdict(settings), timings_s=timings,
        caveats=caveats)
    if plot is not None:
        result.plot_file = plot_arrhenius([result], plot, md_points)
    return result


@dataclass
class MDComparison(Result):
    """kMC against MD with the same model at one temperature, in the MD cell.

    Jump rates (Hz) per carrier (the interstitial atom, or the vacancy): MD's settled site changes over the
    production time against the kMC walker's mean rate, which is transition-state theory's (every crossing of
    the saddle a jump). Their ratio estimates the transmission coefficient (<= 1 where harmonic TST holds and
    the jumps are uncorrelated). D (cm²/s): the MD tracer D of the species (kinisi, mean over replicas with
    its propagated standard deviation) against the kMC D in the MD cell (vacancy mechanism: f D_vacancy times
    the cell's vacancy fraction, in place of exp(-E_f/kT)). Standard deviations: the jump-rate ratio's from
    the Poisson count of MD jumps (NaN without a jump: one jump bounds the rate), the D ratio's from the MD and
    kMC errors. ``kinetic_temperature_K``: the MD's mean."""

    temperature_K: float
    kinetic_temperature_K: float | None
    replicas: int
    production_ps: float
    md_jumps: int
    md_jump_rate_Hz: float
    kmc_jump_rate_Hz: float
    jump_rate_ratio: float
    jump_rate_ratio_std: float
    md_D_cm2_per_s: float
    md_D_std_cm2_per_s: float
    kmc_D_cm2_per_s: float
    kmc_D_std_cm2_per_s: float
    D_ratio: float
    D_ratio_std: float


def compare_with_md(result: KineticsResult, trajectories: Sequence[str | Path], sites: np.ndarray,
                    reference: Atoms, capture_radius: float | None = None) -> list[MDComparison]:
    """Compare ``result`` (:func:`kinetics`) with replica-MD ``trajectories`` (``run_replicas`` files) of the
    same model in the cell ``reference`` (the MD input, same atoms and order), whose network sites (Å; the
    lattice sites, vacant one included, for vacancy hops) are ``sites``: one :class:`MDComparison` per MD
    temperature, which must be among ``result.temperatures_K``. Jumps are counted by
    :func:`ssbkit.workflows.diffusion.site_jumps` with ``capture_radius`` (default a quarter of the shortest
    site-site distance)."""
    from ssbkit.workflows.diffusion import kinisi_transport, shortest_site_distance, site_jumps, trajectory_parameters
    from ssbkit.workflows.md import read_production

    sites = np.asarray(sites, dtype=float)
    if capture_radius is None:
        lattice = Atoms(["X"] * len(sites), positions=sites, cell=reference.cell, pbc=True)
        capture_radius = 0.25 * shortest_site_distance(lattice, "X")
    carriers = int((np.array(reference.get_chemical_symbols()) == result.species).sum())
    per_carrier = carriers if result.mechanism == "interstitial" else len(sites) - carriers
    if per_carrier < 1:
        raise InputError(f"{len(sites)} sites for {carriers} {result.species}: no vacancy to move")
    runs: dict[float, list[tuple]] = {}
    for path in trajectories:
        frames = read_production(path)
        temperature, timestep, save_every = trajectory_parameters(frames, path)
        if temperature not in result.temperatures_K:
            raise InputError(f"{path}: MD at {temperature:g} K, but the kMC temperatures are "
                             f"{', '.join(f'{t:g}' for t in result.temperatures_K)} K")
        transport = kinisi_transport(frames, temperature, timestep, save_every, result.species)["all"]
        kinetic = [float(f.info["kinetic_temperature_K"]) for f in frames if "kinetic_temperature_K" in f.info]
        runs.setdefault(temperature, []).append((
            int(site_jumps(frames, sites, result.species, capture_radius, reference).sum()),
            (len(frames) - 1) * timestep * save_every * 1e-15, transport.tracer_diffusivity_cm2_s,
            transport.tracer_diffusivity_std_cm2_s, float(np.mean(kinetic)) if kinetic else None))
    comparisons = []
    for temperature, rows in sorted(runs.items()):
        index = result.temperatures_K.index(temperature)
        kmc = result.kmc[index]
        jumps, seconds = sum(r[0] for r in rows), sum(r[1] for r in rows)
        md_rate = jumps / seconds / per_carrier
        kmc_rate = kmc.n_steps / kmc.time_per_walker_s
        in_cell = 1.0 if result.mechanism == "interstitial" else result.correlation_factor * per_carrier / len(sites)
        kmc_d, kmc_d_std = kmc.diffusivity_cm2_per_s * in_cell, kmc.diffusivity_std_cm2_per_s * in_cell
        md_d = float(np.mean([r[2] for r in rows]))
        md_d_std = float(np.sqrt(sum(r[3] ** 2 for r in rows))) / len(rows)
        d_ratio = md_d / kmc_d if kmc_d > 0 else math.inf
        kinetic = [r[4] for r in rows if r[4] is not None]
        comparisons.append(MDComparison(
            temperature_K=temperature, kinetic_temperature_K=float(np.mean(kinetic)) if kinetic else None,
            replicas=len(rows), production_ps=seconds * 1e12, md_jumps=jumps, md_jump_rate_Hz=md_rate,
            kmc_jump_rate_Hz=kmc_rate, jump_rate_ratio=md_rate / kmc_rate,
            jump_rate_ratio_std=md_rate / kmc_rate / math.sqrt(jumps) if jumps else math.nan,
            md_D_cm2_per_s=md_d, md_D_std_cm2_per_s=md_d_std, kmc_D_cm2_per_s=kmc_d, kmc_D_std_cm2_per_s=kmc_d_std,
            D_ratio=d_ratio, D_ratio_std=abs(d_ratio) * math.hypot(md_d_std / md_d if md_d else 0.0,
                                                                    kmc_d_std / kmc_d if kmc_d > 0 else 0.0)))
    return comparisons


def plot_arrhenius(results: Sequence[KineticsResult], path: str | Path, md_points: Sequence[tuple] = ()) -> Path:
    """log10 D (cm²/s) against 1000/T (1/K): kMC points with error bars and the fit per result, MD points
    (T in K, D and its standard error in cm²/s) as open squares."""
    from matplotlib.figure import Figure

    from ssbkit.plotting import image_path, save_figure

    path = image_path(path)
    fig = Figure(figsize=(5.5, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for k, result in enumerate(results):
        t = np.array(result.temperatures_K)
        d = np.array(result.D_cm2_per_s)
        positive = d > 0
        ax.errorbar(1000 / t[positive], d[positive], yerr=np.array(result.D_std_cm2_per_s)[positive], fmt="o",
                    color=f"C{k}", label=f"kMC {result.model}")
        if result.arrhenius:
            grid = np.linspace(t.min(), t.max(), 50)
            fit = result.arrhenius["prefactor_cm2_per_s"] * np.exp(
                -result.arrhenius["activation_energy_eV"] / (BOLTZMANN_EV_PER_K * grid))
            ax.plot(1000 / grid, fit, "-", color=f"C{k}", lw=1,
                    label=f"Ea = {result.arrhenius['activation_energy_eV']:.3f} eV")
    if md_points:
        md = np.array([(p[0], p[1], p[2] if len(p) > 2 and p[2] is not None else 0.0) for p in md_points])
        ax.errorbar(1000 / md[:, 0], md[:, 1], yerr=md[:, 2], fmt="s", mfc="none", color="k", label="MD")
    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("D (cm²/s)")
    title = results[0]
    ax.set_title(f"{title.species} in {title.host} ({title.mechanism})", fontsize=9)
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=120)


# --- committee ------------------------------------------------------------------------------------------


@dataclass
class KineticsCommittee(Result):
    """One :class:`KineticsResult` per model, log10 D (cm²/s) per temperature and barriers (eV) per hop class
    summarised over the models, the members that failed, and caveats (spread, failures)."""

    results: dict[str, KineticsResult]
    log10_D: list[Any]
    barriers: list[Any]
    failures: list[Any]
    caveats: list[Caveat] = field(default_factory=list)
    plot_file: Path | None = None


def kinetics_committee(system: KineticsSystem, models: Sequence[str], load: Callable[[str], Calculator],
                       settings: KineticsSettings | None = None, *, plot: str | Path | None = None,
                       md_points: Sequence[tuple] = (), progress: bool = False) -> KineticsCommittee:
    """:func:`kinetics` with every model of ``models`` (``load(name)`` gives its calculator); a model that fails
    is recorded and the others go on. log10 D is flagged when the models differ by more than 0.5 (a factor 3)."""
    from ssbkit.workflows.committee import committee_value, run_committee, spread_caveats

    settings = settings or KineticsSettings()
    run = run_committee(models, lambda name: kinetics(system, load(name), settings, model=name, progress=progress))
    results = run.results
    temperatures = check_temperatures(settings.temperatures)
    log10_d = [committee_value(f"log10 D({t:g} K)", "log10(cm^2/s)",
                               {m: math.log10(r.D_cm2_per_s[k]) if r.D_cm2_per_s[k] > 0 else None
                                for m, r in results.items()}, threshold=0.5)
               for k, t in enumerate(temperatures)]
    names = list(dict.fromkeys(hop.name for r in results.values() for hop in r.hops))
    barriers = [committee_value(f"barrier {name}", "eV",
                                {m: next((h.barrier_eV for h in r.hops if h.name == name), None)
                                 for m, r in results.items()}) for name in names]
    committee = KineticsCommittee(results=results, log10_D=log10_d, barriers=barriers, failures=run.failures,
                                  caveats=spread_caveats(log10_d + barriers) + run.failure_caveats())
    if plot is not None and results:
        committee.plot_file = plot_arrhenius(list(results.values()), plot, md_points)
    return committee
