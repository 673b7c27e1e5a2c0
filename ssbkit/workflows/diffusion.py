"""Li diffusion from MD: tracer MSD, D(T), Arrhenius activation energy and room-temperature conductivity.

The MSD analysis is pymatgen-analysis-diffusion's ``DiffusionAnalyzer`` (framework drift removed; in a
one-element cell, self-diffusion, the centre-of-mass drift,
multiple-time-origin MSD, weighted fit from a 1 ps lag up to half the production, where every Li
still has two independent time origins); the Arrhenius fit and the extrapolation
are its ``fit_arrhenius`` and ``get_extrapolated_diffusivity``. Conductivities use Nernst-Einstein
with the tracer diffusivity, i.e. a Haven ratio of 1 is ASSUMED (ion-ion correlations neglected;
measured Haven ratios of fast Li conductors are about 0.3-0.7, which would raise sigma).

Grain-boundary cells: each Li is assigned to the grain-boundary region if its starting position lies
within ``width`` Å of a boundary plane (given as fractional coordinates along one cell axis), else
to the bulk-like region; the region MSD is the mean of the analyzer's per-ion MSDs over that region.

Transport with kinisi (Bagger/McCluskey, J. Chem. Theory Comput. 2025, doi:10.1021/acs.jctc.4c01249):
the tracer D from the MSD and the charge (collective) D_sigma from the mean-squared total displacement of
the species (for one species of charge q the mean-squared charge displacement is q² times it), each a
Bayesian straight-line fit whose likelihood carries the covariance of the MSD between lag times
(generalised least squares), so the standard deviation is an honest one. The Haven ratio
H = D_tracer / D_sigma is measured, and sigma = n q² D_sigma / (kT) (n: carriers per volume) does not
assume H = 1 (:class:`TransportEstimate`, ``transport`` of every temperature and region). The pymatgen
numbers above stay for comparison (``diffusivity``, ``conductivity`` with H = 1).

Ensembles: trajectories of several configurations (``configuration`` in the frames) at the same
temperatures are averaged per temperature (:class:`EnsembleTemperature`), and Ea is fitted to them with
an uncertainty that holds the statistical error of every D and the configuration-to-configuration
spread (:func:`ensemble_arrhenius`); sigma at ``target_temperature`` uses the measured Haven ratio.

Validity: :func:`diffusion` refuses, before any MD step, a cell with too few diffusing atoms or one narrower
than twice the model's cutoff (:func:`check_cell`). The analysis reports per temperature the hops seen
(maximum MSD over the squared shortest distance between two sites of the species) and the mean kinetic
temperature, with a caveat when either is off, and extrapolates (Ea, D and sigma at 300 K) only from at
least three temperatures that all saw ``min_hops`` hops; otherwise ``arrhenius`` is None and a
``no-extrapolation`` caveat says why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.neighborlist import neighbor_list

from ssbkit.errors import InputError
from ssbkit.io import atomic_write
from ssbkit.plotting import save_figure
from ssbkit.results import Caveat, Result
from ssbkit.settings import apply_overrides
from ssbkit.workflows.md import MDSettings, ReplicaMDResult, configuration_id, read_production, run_replicas
from ssbkit.workflows.settings import MAX_TEMPERATURE_DEVIATION, MIN_HOPS, ROOM_TEMPERATURE, START_LAG_FS

if TYPE_CHECKING:
    from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer
    from pymatgen.core import Structure

HAVEN_RATIO = 1.0  # assumed by the pymatgen numbers: tracer D used as charge D in Nernst-Einstein
N_LAGS = 50  # lag times kinisi evaluates, evenly spaced from the start lag to half the production
ELEMENTARY_CHARGE = 1.602176634e-19  # C
BOLTZMANN = 1.380649e-23  # J/K
ENSEMBLE_DRAWS = 2000  # Monte Carlo draws of the ensemble Arrhenius fit
K_B_EV = 8.617333262e-5  # eV/K
MIN_ARRHENIUS_TEMPERATURES = 3  # fewer leave no degree of freedom to judge the straight line (and no error on Ea)

# The MSD at one temperature reached fewer than ``min_hops`` squared shortest site distances: D there is
# dominated by vibrations and by the few ions that happened to hop.
TOO_FEW_HOPS = "too-few-hops"
# The mean kinetic temperature of the production differs from the target by more than the tolerance.
TEMPERATURE_OFF_TARGET = "temperature-off-target"
# Ea, D and sigma at the target temperature were not extrapolated (too few temperatures, or too few hops).
NO_EXTRAPOLATION = "no-extrapolation"


@dataclass
class GrainBoundaryRegion:
    """Boundary planes at fractional coordinates ``planes`` along cell axis ``axis`` (0, 1, 2); Li
    starting within ``width`` Å (normal distance) of a plane count as grain boundary. ``planes=None``:
    take them from the bicrystal's ``grain`` array (see :meth:`from_bicrystal`)."""

    planes: tuple[float, ...] | None = None
    axis: int = 2
    width: float = 3.0

    @classmethod
    def from_bicrystal(cls, atoms: Atoms, width: float = 3.0, axis: int = 2) -> GrainBoundaryRegion:
        """The two boundary planes of a periodic bicrystal whose atoms carry a ``grain`` array (0/1, as
        ``ssbkit build gb`` writes it): midway between the outermost atoms of the two grains."""
        if "grain" not in atoms.arrays:
            raise InputError("the structure has no 'grain' array marking the two grains; give the "
                             "boundary planes explicitly (fractional coordinates along the normal axis)")
        frac = atoms.get_scaled_positions(wrap=True)[:, axis]
        order = np.argsort(frac)
        frac, grain = frac[order], np.asarray(atoms.arrays["grain"])[order]
        changes = np.flatnonzero(grain != np.roll(grain, -1))  # between atom i and the next, cyclically
        if len(changes) != 2:
            raise InputError(f"the 'grain' array does not split the cell into two slabs along axis {axis} "
                             f"({len(changes)} grain changes); give the boundary planes explicitly")
        following = np.where(changes + 1 < len(frac), frac[(changes + 1) % len(frac)], frac[0] + 1.0)
        midpoints = (frac[changes] + following) / 2 % 1.0
        return cls(planes=tuple(float(m) for m in midpoints), axis=axis, width=width)

    def mask(self, atoms: Atoms) -> np.ndarray:
        """True for atoms within ``width`` Å of a boundary plane."""
        if self.axis not in (0, 1, 2) or self.width <= 0:
            raise InputError(f"grain boundary needs axis 0/1/2 and width > 0 Å; got {self}")
        if not self.planes:
            return GrainBoundaryRegion.from_bicrystal(atoms, self.width, self.axis).mask(atoms)
        spacing = 1.0 / np.linalg.norm(atoms.cell.reciprocal()[self.axis])  # Å per unit fraction
        frac = atoms.get_scaled_positions(wrap=True)[:, self.axis]
        offsets = frac[:, None] - np.asarray(self.planes, dtype=float)[None, :]
        offsets -= np.round(offsets)
        return np.abs(offsets).min(axis=1) * spacing <= self.width

    def volume_fraction(self, atoms: Atoms) -> float:
        """Fraction of the cell volume within ``width`` Å of a boundary plane (the slabs may overlap)."""
        planes = self.planes or GrainBoundaryRegion.from_bicrystal(atoms, self.width, self.axis).planes
        spacing = 1.0 / np.linalg.norm(atoms.cell.reciprocal()[self.axis])
        grid = (np.arange(20000) + 0.5) / 20000
        offsets = grid[:, None] - np.asarray(planes, dtype=float)[None, :]
        offsets -= np.round(offsets)
        return float(np.mean(np.abs(offsets).min(axis=1) * spacing <= self.width))


@dataclass
class TransportEstimate(Result):
    """kinisi estimates for ``n_ions`` ions of charge ``charge_e`` (e) in ``carrier_volume_A3`` (Å³):
    tracer D and charge D_sigma (cm²/s) with standard deviations (generalised least squares on the MSD
    covariance), the Haven ratio D_tracer/D_sigma, and sigma = n q² D_sigma / (kT) (mS/cm) at the run's
    temperature; ``start_lag_fs``/``max_lag_fs``: the lag times fitted."""

    n_ions: int
    charge_e: float
    carrier_volume_A3: float
    tracer_diffusivity_cm2_s: float
    tracer_diffusivity_std_cm2_s: float
    charge_diffusivity_cm2_s: float
    charge_diffusivity_std_cm2_s: float
    haven_ratio: float
    haven_ratio_std: float
    conductivity_mS_cm: float
    conductivity_std_mS_cm: float
    start_lag_fs: float
    max_lag_fs: float


@dataclass
class RegionDiffusivity(Result):
    """Tracer diffusivity (cm²/s) and its standard error of the Li that start in one region (grain_boundary
    or bulk_like), and their MSD (Å²) on the lag times of the whole-cell result; ``transport``: the kinisi
    estimates of the region (sigma with the region's own carrier density: its Li over the region's volume,
    ``volume_fraction`` of the cell)."""

    region: str
    n_ions: int
    diffusivity: float
    diffusivity_std: float
    msd: np.ndarray
    transport: TransportEstimate | None = None
    volume_fraction: float | None = None


@dataclass
class RegionRatio(Result):
    """Grain boundary over bulk-like: tracer D and sigma ratios with their standard deviations (first-order
    propagation of the two regions' kinisi errors)."""

    tracer_diffusivity_ratio: float
    tracer_diffusivity_ratio_std: float
    conductivity_ratio: float
    conductivity_ratio_std: float


@dataclass
class TemperatureDiffusivity(Result):
    """Tracer D (cm²/s) at ``temperature`` (K) with its standard error (spread over 8 interleaved groups of ions),
    Nernst-Einstein conductivity (mS/cm, Haven ratio 1), the MSD (Å²) against lag time (fs) it was
    fitted to, and per-region results. ``hops_seen``: maximum MSD over the squared shortest distance between
    two sites of the species; ``mean_temperature_K``: mean kinetic temperature of the frames (None without
    momenta); ``caveats``: too-few-hops, temperature-off-target."""

    temperature: float
    diffusivity: float
    diffusivity_std: float
    conductivity: float
    duration_ps: float
    n_ions: int
    time: np.ndarray
    msd: np.ndarray
    regions: list[RegionDiffusivity] = field(default_factory=list)
    hops_seen: float | None = None
    mean_temperature_K: float | None = None
    caveats: list[Caveat] = field(default_factory=list)
    configuration: str | None = None
    transport: TransportEstimate | None = None
    boundary_to_bulk: RegionRatio | None = None


@dataclass
class EnsembleTemperature(Result):
    """kinisi estimates at ``temperature_K`` averaged over ``configurations``: mean and standard error
    (the larger of the propagated statistical error and the configuration spread over sqrt(n)), and the
    spread (standard deviation between configurations; None for one). The Haven ratio is the ratio of the
    mean D* to the mean D_sigma (a mean of per-configuration ratios would be undefined as soon as one noisy
    D_sigma is not positive)."""

    temperature_K: float
    configurations: list[str]
    tracer_diffusivity_cm2_s: float
    tracer_diffusivity_std_cm2_s: float
    tracer_diffusivity_spread_cm2_s: float | None
    charge_diffusivity_cm2_s: float
    charge_diffusivity_std_cm2_s: float
    haven_ratio: float
    haven_ratio_std: float
    conductivity_mS_cm: float
    conductivity_std_mS_cm: float


@dataclass
class EnsembleArrhenius(Result):
    """Arrhenius fit of the configuration-averaged tracer D: Ea (eV) with its standard deviation from
    Monte Carlo draws (each D drawn from its kinisi error, configurations resampled with replacement),
    the spread of Ea fitted to each configuration alone (None for one configuration), and, extrapolated to
    ``target_temperature_K``, tracer D (cm²/s) and sigma (mS/cm) = Nernst-Einstein over the measured Haven
    ratio (mean over temperatures; Ea of sigma taken as that of the tracer D; error: the D draws and the Haven
    ratio's error, propagated to first order). ``conductivity_mS_cm`` is None when the validity checks
    refuse the extrapolation."""

    activation_energy_eV: float
    activation_energy_std_eV: float
    activation_energy_configuration_spread_eV: float | None
    prefactor_cm2_s: float
    temperatures_K: list[float]
    n_configurations: int
    target_temperature_K: float
    tracer_diffusivity_cm2_s: float
    tracer_diffusivity_std_cm2_s: float
    haven_ratio: float
    haven_ratio_std: float
    conductivity_mS_cm: float | None
    conductivity_std_mS_cm: float | None


@dataclass
class ArrheniusFit(Result):
    """D = prefactor * exp(-Ea/kT) from three or more temperatures: Ea (eV) and its standard error,
    prefactor (cm²/s), and D (cm²/s) and conductivity (mS/cm) extrapolated to ``temperature`` (K)."""

    activation_energy: float
    activation_energy_std: float | None
    prefactor: float
    temperature: float
    diffusivity: float
    conductivity: float
    haven_ratio: float = HAVEN_RATIO


@dataclass
class DiffusionResult(Result):
    """D(T) per temperature, the Arrhenius fit extrapolated to ``target_temperature`` (K; None when not
    backed: fewer than 3 temperatures or too few hops), plots, the MD run, and every caveat (those of each
    temperature, then no-extrapolation); ``ensemble``: kinisi estimates averaged over configurations per
    temperature, ``ensemble_arrhenius``: their Arrhenius fit (None below 3 temperatures)."""

    species: str
    per_temperature: list[TemperatureDiffusivity]
    arrhenius: ArrheniusFit | None
    plots: dict[str, Path]
    md: ReplicaMDResult | None = None
    notes: list[str] = field(default_factory=list)
    target_temperature: float = ROOM_TEMPERATURE
    caveats: list[Caveat] = field(default_factory=list)
    ensemble: list[EnsembleTemperature] = field(default_factory=list)
    ensemble_arrhenius: EnsembleArrhenius | None = None


def check_species(atoms: Atoms, species: str) -> None:
    """InputError unless ``atoms`` holds ``species``."""
    if species not in atoms.get_chemical_symbols():
        raise InputError(f"no {species} atoms in {atoms.get_chemical_formula()}")


def drift_indices(symbols: np.ndarray, species: str) -> np.ndarray:
    """The atoms whose mean displacement is the drift removed from the MSD: the framework (the other elements),
    or every atom when the cell holds ``species`` only (self-diffusion: the centre of mass of one element,
    which a thermostat's random forces move but which stays put in the lattice frame)."""
    framework = np.flatnonzero(symbols != species)
    return framework if framework.size else np.arange(len(symbols))


def cell_widths(atoms: Atoms) -> np.ndarray:
    """Perpendicular widths (Å) of the cell: the distance between opposite faces, volume over face area."""
    return atoms.cell.volume / atoms.cell.areas()


def check_cell(atoms: Atoms, species: str, cutoff: float | None, min_species_count: int = 8,
               min_width_over_cutoff: float = 2.0) -> None:
    """InputError (naming the repeat of ``atoms`` that would pass) unless the 3-D periodic cell holds at
    least ``min_species_count`` atoms of ``species`` and its narrowest perpendicular width is at least
    ``min_width_over_cutoff`` times the model's ``cutoff`` (Å; None: no width check).

    Width: below twice the cutoff an atom sees a periodic image of a neighbour (or of itself) inside its
    cutoff sphere, so a hop is felt by its own images and correlated motion is imposed by the cell.
    Count: the default 8 is the number of interleaved groups of ions over which the standard error of D
    is taken; with fewer ions each group is empty or a single ion and a few hops decide D."""
    if not atoms.pbc.all() or atoms.cell.rank < 3:
        raise InputError("diffusion MD needs a cell periodic in all three directions")
    count = int((np.array(atoms.get_chemical_symbols()) == species).sum())
    widths = cell_widths(atoms)
    need_width = 0.0 if cutoff is None else min_width_over_cutoff * cutoff
    repeat = np.maximum(1, np.ceil(need_width / widths - 1e-9)).astype(int)  # a repeat multiplies the width
    while count * repeat.prod() < min_species_count:
        repeat[np.argmin(repeat * widths)] += 1
    if (repeat == 1).all():
        return
    problems = []
    if count < min_species_count:
        problems.append(f"{count} {species} atoms, fewer than {min_species_count}")
    if widths.min() < need_width:
        problems.append(f"narrowest width {widths.min():.2f} Å, under {min_width_over_cutoff:g} x the "
                        f"model's {cutoff:g} Å cutoff")
    raise InputError(f"cell {atoms.get_chemical_formula()} ({len(atoms)} atoms) is too small for MD diffusion: "
                     f"{'; '.join(problems)}; a {'x'.join(map(str, repeat))} supercell of it would pass "
                     f"({len(atoms) * repeat.prod()} atoms, {count * repeat.prod()} {species}, narrowest width "
                     f"{(repeat * widths).min():.2f} Å)")


def shortest_site_distance(atoms: Atoms, species: str) -> float:
    """Shortest distance (Å) between two atoms of ``species`` (or between one and its periodic image):
    the shortest hop between their sites when ``atoms`` holds the sites."""
    sites = atoms[[symbol == species for symbol in atoms.get_chemical_symbols()]]
    longest = float(np.abs(np.asarray(sites.cell)).sum())
    cutoff = 3.0
    while cutoff <= 2 * longest:
        distances = neighbor_list("d", sites, cutoff)
        if len(distances):
            return float(distances.min())
        cutoff *= 2
    raise InputError(f"no two {species} sites within {cutoff:g} Å: a periodic cell is needed")


def fractional_displacements(frames: Sequence[Atoms]) -> np.ndarray:
    """Displacements (fractional, atoms x frames x 3) from the first frame, summed from minimum-image steps
    between consecutive frames, so that wrapped and unwrapped trajectories give the same result (as
    DiffusionAnalyzer.from_structures does)."""
    fractional = np.stack([frame.get_scaled_positions(wrap=False) for frame in frames], axis=1)
    steps = np.diff(fractional, axis=1)
    steps -= np.round(steps)
    return np.concatenate([np.zeros_like(fractional[:, :1]), np.cumsum(steps, axis=1)], axis=1)


def site_jumps(frames: Sequence[Atoms], sites: np.ndarray, species: str, capture_radius: float,
               reference: Atoms | None = None) -> np.ndarray:
    """Jumps between ``sites`` (Å, Cartesian, in the frames' cell) made by each ``species`` atom of NVT
    ``frames``: an atom belongs to the last site it came within ``capture_radius`` Å of (less than half the
    shortest site-site distance, so that vibrations and recrossings of the saddle without settling on the other
    side are not counted), and a jump is a change of that site. For vacancy hops ``sites`` are the lattice sites
    and every jump of an atom is one vacancy jump. Returns the jump count per ``species`` atom, in index order.

    Positions are taken relative to the drift (:func:`drift_indices`): the drift atoms' mean displacement
    since the first frame, plus their offset in the first frame from ``reference``, the structure the sites
    belong to with the same atoms in the same order (e.g. the MD input: a thermostat moves the cell during
    equilibration too; None: the first frame is that structure). The offset is the median over the drift atoms
    (minimum image), so that the few that already hopped do not count."""
    first = frames[0]
    symbols = np.array(first.get_chemical_symbols())
    carriers = np.flatnonzero(symbols == species)
    if len(carriers) == 0:
        raise InputError(f"no {species} atoms in {first.get_chemical_formula()}")
    cell = np.asarray(first.cell)
    drifting = drift_indices(symbols, species)
    displacements = fractional_displacements(frames)
    displacements -= displacements[drifting].mean(axis=0)
    if reference is not None:
        if len(reference) != len(first) or not np.allclose(reference.cell, first.cell):
            raise InputError("the reference structure must hold the trajectory's atoms in its cell")
        offset = (first.get_scaled_positions(wrap=False) - reference.get_scaled_positions(wrap=False))[drifting]
        offset -= np.round(offset)
        displacements -= np.median(offset, axis=0)
    site_fractions = np.linalg.solve(cell.T, np.asarray(sites, dtype=float).T).T
    jumps = np.zeros(len(carriers), dtype=int)
    current = np.full(len(carriers), -1)
    start = first.get_scaled_positions(wrap=False)[carriers]
    for step in range(len(frames)):
        separation = start[:, None, :] + displacements[carriers, step][:, None, :] - site_fractions[None, :, :]
        separation -= np.round(separation)
        distance = np.linalg.norm(separation @ cell, axis=2)
        nearest = distance.argmin(axis=1)
        captured = distance[np.arange(len(carriers)), nearest] < capture_radius
        jumps += captured & (current >= 0) & (nearest != current)
        current = np.where(captured, nearest, current)
    return jumps


def mean_kinetic_temperature(frames: Sequence[Atoms]) -> float | None:
    """Mean kinetic temperature (K) of ``frames``: their ``kinetic_temperature_K`` as ssbkit's MD records it
    (with the thermostat's degrees of freedom), else from the momenta with 3N degrees of freedom; None
    when the frames carry neither."""
    if all("kinetic_temperature_K" in frame.info for frame in frames):
        return float(np.mean([frame.info["kinetic_temperature_K"] for frame in frames]))
    if all(frame.has("momenta") for frame in frames):
        return float(np.mean([frame.get_temperature() for frame in frames]))
    return None


def _diffusivity_with_error(analyzer: DiffusionAnalyzer, indices: np.ndarray,
                            n_blocks: int = 8) -> tuple[float, float, np.ndarray]:
    """D (cm²/s) fitted by the library to the mean per-ion MSD of ``indices``, its standard error
    from the spread of D over up to ``n_blocks`` disjoint, interleaved groups of ions, and that MSD (Å²).

    The library's own ``diffusivity_std_dev`` is the least-squares error of a fit to overlapping,
    strongly correlated time windows and is far too small; groups of ions are independent samples
    for tracer motion (correlated hops between groups would make this an underestimate)."""
    from pymatgen.analysis.diffusion.analyzer import get_diffusivity_from_msd

    msd = analyzer.sq_disp_ions[indices].mean(axis=0)
    diffusivity = float(get_diffusivity_from_msd(msd, analyzer.dt, analyzer.smoothed)[0])
    groups = [indices[k::n_blocks] for k in range(min(n_blocks, len(indices)))]  # interleaved
    if len(groups) < 2:
        return diffusivity, float("nan"), msd
    block = [get_diffusivity_from_msd(analyzer.sq_disp_ions[g].mean(axis=0), analyzer.dt, analyzer.smoothed)[0]
             for g in groups]
    return diffusivity, float(np.std(block, ddof=1) / np.sqrt(len(groups))), msd


def kinisi_transport(
    frames: Sequence[Atoms],
    temperature: float,
    timestep: float,
    save_every: int,
    species: str = "Li",
    groups: dict[str, tuple[np.ndarray, float]] | None = None,
    *,
    charge: float = 1.0,
    start_lag_fs: float = START_LAG_FS,
) -> dict[str, TransportEstimate]:
    """Tracer and charge diffusivity, Haven ratio and conductivity of ``species`` (charge ``charge`` e) from
    equally spaced NVT frames (``timestep`` fs, a frame every ``save_every`` steps) at ``temperature`` K.

    kinisi parses the trajectory (drift removed: see :func:`drift_indices`), and gives the MSD
    and the mean-squared total displacement over ``N_LAGS`` lag times up to half the production with their
    variances, and the covariance between lag times (its model, reconditioned as it does). The straight
    line from ``start_lag_fs`` on is the generalised-least-squares fit with that covariance: the maximum and
    the width of kinisi's Bayesian posterior for a flat prior, without its sampling noise. D = slope / 6.
    ``groups``: name -> (atom indices of ``species``, carrier volume Å³); None: every ``species`` atom
    in the cell volume, named "all". In a one-element cell (self-diffusion) the drift is the species' own
    centre of mass, so its total displacement is zero by construction: the charge D, Haven ratio and
    conductivity are NaN (not defined; null in JSON)."""
    import copy

    import scipp as sc
    from kinisi.ase import ASEParser
    from kinisi.displacement import calculate_msd, calculate_mstd

    symbols = np.array(frames[0].get_chemical_symbols())
    carriers = np.flatnonzero(symbols == species)
    has_framework = len(carriers) < len(symbols)
    if groups is None:
        groups = {"all": (carriers, float(frames[0].cell.volume))}
    frame_fs = float(timestep) * int(save_every)
    max_index = (len(frames) - 1) // 2
    start_index = int(np.ceil(start_lag_fs / frame_fs - 1e-9))
    first_index = max(start_index, 1)
    lags = (np.unique(np.round(np.linspace(first_index, max_index, N_LAGS)).astype(int))
            if max_index >= first_index else np.array([], dtype=int))
    if len(lags) < 3:
        raise InputError(f"production of {(len(frames) - 1) * frame_fs / 1000:g} ps is too short for the kinisi "
                         f"fit from a {start_lag_fs:g} fs lag up to half the production; run longer or start the "
                         "fit at a shorter lag (start_lag_fs)")
    parser = ASEParser(frames, None, sc.scalar(frame_fs, unit="fs"), sc.scalar(1), dt=sc.array(
        dims=["time interval"], values=lags * frame_fs, unit="fs"), specie_indices=sc.array(
        dims=["particle"], values=carriers), drift_indices=sc.array(
        dims=["particle"], values=drift_indices(symbols, species)), progress=False)
    estimates = {}
    for name, (indices, volume) in groups.items():
        subset = copy.copy(parser)
        subset.displacements = parser.displacements["particle", np.searchsorted(carriers, indices)]
        tracer = _gls_diffusivity(calculate_msd(subset, progress=False))
        collective = (_gls_diffusivity(calculate_mstd(subset, 1, None, progress=False)) if has_framework
                      else (math.nan, math.nan))
        factor = (len(indices) * (charge * ELEMENTARY_CHARGE) ** 2 / (volume * 1e-30 * BOLTZMANN * temperature)
                  * 1e-4 * 10)  # (cm²/s -> m²/s) S/m per m²/s, then S/m -> mS/cm
        haven, haven_std = _ratio_with_error(*tracer, *collective)
        estimates[name] = TransportEstimate(
            n_ions=len(indices), charge_e=float(charge), carrier_volume_A3=float(volume),
            tracer_diffusivity_cm2_s=tracer[0], tracer_diffusivity_std_cm2_s=tracer[1],
            charge_diffusivity_cm2_s=collective[0], charge_diffusivity_std_cm2_s=collective[1],
            haven_ratio=haven, haven_ratio_std=haven_std, conductivity_mS_cm=collective[0] * factor,
            conductivity_std_mS_cm=collective[1] * factor, start_lag_fs=float(lags[0] * frame_fs),
            max_lag_fs=float(lags[-1] * frame_fs))
    return estimates


def _gls_diffusivity(data: Any) -> tuple[float, float]:
    """D and its standard deviation (cm²/s) from a kinisi displacement DataGroup (mean-squared displacement
    in Å² against lag in fs, with variances, at the fitted lags only) by generalised least squares with
    kinisi's covariance between lag times. That covariance can be singular (close lags of a short run are
    almost fully correlated): its pseudo-inverse weighs the fit, and a pseudo-inverse gives the parameter
    covariance, so directions the data cannot resolve widen the error instead of failing the fit."""
    from kinisi.diffusion import Diffusion
    from scipy.linalg import pinvh

    model = Diffusion(dg=data)  # the attributes its own regression sets before building the covariance
    model.diff_regime, model._recondition, model._cond_max = 0, False, 1e16
    weight = pinvh(model.compute_covariance_matrix().values)
    lag = data["da"].coords["time interval"].values
    design = np.column_stack([lag, np.ones_like(lag)])
    parameter_covariance = np.linalg.pinv(design.T @ weight @ design)
    slope = float((parameter_covariance @ design.T @ weight @ data["da"].values)[0])
    per_slope = 0.1 / (2 * data["dimensionality"].value)  # Å²/fs -> cm²/s, over 2 x dimensions
    return slope * per_slope, float(np.sqrt(max(parameter_covariance[0, 0], 0.0))) * per_slope


def analyze_trajectory(
    frames: Sequence[Atoms],
    temperature: float,
    timestep: float,
    save_every: int,
    species: str = "Li",
    grain_boundary: GrainBoundaryRegion | None = None,
    *,
    sites: Atoms | None = None,
    min_hops: float = MIN_HOPS,
    max_temperature_deviation: float = MAX_TEMPERATURE_DEVIATION,
    charge: float = 1.0,
    start_lag_fs: float = START_LAG_FS,
) -> TemperatureDiffusivity:
    """Tracer diffusivity of ``species`` from equally spaced NVT frames (``timestep`` fs per MD step,
    one frame every ``save_every`` steps) at ``temperature`` K, with DiffusionAnalyzer, and the kinisi
    estimates (``transport``: tracer and charge D, Haven ratio, sigma for ions of ``charge`` e; see
    :func:`kinisi_transport`) of the whole cell and of each grain-boundary region, with their ratio.
    The configuration id is read from the first frame's ``info["configuration"]``.

    Checks: hops seen = maximum MSD over the squared shortest distance between two ``species`` atoms of
    ``sites`` (the structure before MD; None: the first frame), caveat ``too-few-hops`` below ``min_hops``.
    For a random walk of n hops of length l the MSD is n*l²; the shortest distance is the shortest hop, so
    this counts longer hops as several (an upper bound on the hops made). Three hops per ion on average
    leave e^-3 = 5 % of the ions (Poisson) that never hopped, and put the vibrational MSD plateau (a
    fraction of l²) at a few per cent of the fitted MSD. Caveat ``temperature-off-target`` when the mean
    kinetic temperature differs from ``temperature`` by more than ``max_temperature_deviation`` (relative)."""
    from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer
    from pymatgen.core import DummySpecies
    from pymatgen.io.ase import AseAtomsAdaptor

    if temperature <= 0:
        raise InputError(f"temperature must be > 0 K, got {temperature:g}")
    if len(frames) < 3:
        raise InputError(f"need at least 3 trajectory frames for a diffusion fit, got {len(frames)}")
    first = frames[0]
    check_species(first, species)
    symbols = np.array(first.get_chemical_symbols())
    if any(len(frame) != len(first) or not np.allclose(frame.cell, first.cell) for frame in frames):
        raise InputError("trajectory frames differ in atom count or cell; NVT frames of one run are needed")
    displacements = fractional_displacements(frames)
    structure = AseAtomsAdaptor.get_structure(first)
    if (symbols == species).all():
        # Self-diffusion: the centre of mass is the reference. DiffusionAnalyzer takes the drift from atoms of
        # other elements, so the drift is removed here and one fixed dummy site stands for the lattice frame.
        displacements -= displacements.mean(axis=0)
        structure.append(DummySpecies("X"), [0.0, 0.0, 0.0])
        displacements = np.concatenate([displacements, np.zeros_like(displacements[:1])])
    n_ions = int((symbols == species).sum())
    min_obs = max(30, 2 * n_ions)  # lags up to half the production at most
    try:
        analyzer = DiffusionAnalyzer(
            structure, displacements @ np.asarray(first.cell), species,
            temperature=temperature, time_step=timestep, step_skip=save_every,
            min_obs=min_obs)
    except ValueError as exc:
        duration = (len(frames) - 1) * timestep * save_every / 1000
        raise InputError(
            f"production of {duration:g} ps ({len(frames)} frames, {n_ions} {species}) is too short for the "
            f"MSD fit, which uses lags from 1 ps up to {n_ions}/{min_obs} of the production (each {species} "
            f"seen over ~{min_obs // n_ions or 1} independent windows); run longer or use more {species}") from exc

    regions = []
    volume = float(first.cell.volume)
    groups = {"all": (np.flatnonzero(symbols == species), volume)}
    if grain_boundary is not None:
        in_boundary = grain_boundary.mask(first)
        boundary_fraction = grain_boundary.volume_fraction(first)
        for name, selected, fraction in (("grain_boundary", in_boundary, boundary_fraction),
                                         ("bulk_like", ~in_boundary, 1.0 - boundary_fraction)):
            indices = np.flatnonzero(selected & (symbols == species))
            if len(indices) == 0:
                continue
            d, d_std, region_msd = _diffusivity_with_error(analyzer, indices)
            regions.append(RegionDiffusivity(region=name, n_ions=len(indices), diffusivity=d,
                                             diffusivity_std=d_std, msd=region_msd, volume_fraction=fraction))
            groups[name] = (indices, volume * fraction)
    transport = kinisi_transport(frames, temperature, timestep, save_every, species, groups, charge=charge,
                                 start_lag_fs=start_lag_fs)
    for region in regions:
        region.transport = transport[region.region]
    diffusivity, diffusivity_std, _ = _diffusivity_with_error(analyzer, np.asarray(analyzer.indices))
    msd = np.asarray(analyzer.msd, dtype=float)
    hop = shortest_site_distance(first if sites is None else sites, species)
    hops_seen = float(msd.max() / hop**2)
    caveats = []
    if hops_seen < min_hops:
        caveats.append(Caveat(TOO_FEW_HOPS, (
            f"MSD at {temperature:g} K reaches {msd.max():.3g} Å², {hops_seen:.2g} hops of the shortest "
            f"{species}-{species} distance {hop:.2f} Å (fewer than {min_hops:g}); D there is mostly vibration "
            f"and a few hops: run longer or hotter")))
    mean_temperature = mean_kinetic_temperature(frames)
    if mean_temperature is not None and abs(mean_temperature / temperature - 1) > max_temperature_deviation:
        caveats.append(Caveat(TEMPERATURE_OFF_TARGET, (
            f"the {temperature:g} K run averaged {mean_temperature:.0f} K "
            f"({mean_temperature / temperature - 1:+.1%}, tolerance {max_temperature_deviation:.0%}); "
            f"equilibrate longer or couple the thermostat more strongly")))
    return TemperatureDiffusivity(
        temperature=float(temperature),
        diffusivity=diffusivity,
        diffusivity_std=diffusivity_std,
        conductivity=float(analyzer.conductivity),
        duration_ps=(len(frames) - 1) * timestep * save_every / 1000,
        n_ions=n_ions,
        time=np.asarray(analyzer.dt, dtype=float),
        msd=msd,
        regions=regions,
        hops_seen=hops_seen,
        mean_temperature_K=mean_temperature,
        caveats=caveats,
        configuration=configuration_id(first),
        transport=transport["all"],
        boundary_to_bulk=_region_ratio(transport) if {"grain_boundary", "bulk_like"} <= set(transport) else None,
    )


def _ratio_with_error(a: float, a_std: float, b: float, b_std: float) -> tuple[float, float]:
    """a/b and its standard deviation (first-order propagation of independent errors)."""
    if not (a > 0 and b > 0):
        return float("nan"), float("nan")
    return a / b, a / b * float(np.hypot(a_std / a, b_std / b))


def _region_ratio(transport: dict[str, TransportEstimate]) -> RegionRatio:
    boundary, bulk = transport["grain_boundary"], transport["bulk_like"]
    tracer = _ratio_with_error(boundary.tracer_diffusivity_cm2_s, boundary.tracer_diffusivity_std_cm2_s,
                               bulk.tracer_diffusivity_cm2_s, bulk.tracer_diffusivity_std_cm2_s)
    conductivity = _ratio_with_error(boundary.conductivity_mS_cm, boundary.conductivity_std_mS_cm,
                                     bulk.conductivity_mS_cm, bulk.conductivity_std_mS_cm)
    return RegionRatio(tracer_diffusivity_ratio=tracer[0], tracer_diffusivity_ratio_std=tracer[1],
                       conductivity_ratio=conductivity[0], conductivity_ratio_std=conductivity[1])


def fit_arrhenius(
    temperatures: Sequence[float],
    diffusivities: Sequence[float],
    structure: Atoms,
    species: str = "Li",
    target_temperature: float = ROOM_TEMPERATURE,
) -> ArrheniusFit:
    """Arrhenius fit of D (cm²/s) against T (K) at three or more different temperatures; extrapolate D and
    the Nernst-Einstein conductivity (mS/cm, Haven ratio 1, carrier density of ``structure``) to
    ``target_temperature`` K. Whether the D(T) are diffusion at all is the caller's check
    (:func:`diffusion_from_trajectories` fits only temperatures that all saw enough hops)."""
    from pymatgen.analysis.diffusion import analyzer as pmg_diffusion
    from pymatgen.io.ase import AseAtomsAdaptor

    temperatures = np.asarray(temperatures, dtype=float)
    diffusivities = np.asarray(diffusivities, dtype=float)
    if len(np.unique(temperatures)) < MIN_ARRHENIUS_TEMPERATURES:
        raise InputError(f"{_temperatures_too_few(len(np.unique(temperatures)))}: an Arrhenius fit needs at "
                         f"least {MIN_ARRHENIUS_TEMPERATURES}")
    if (temperatures <= 0).any() or target_temperature <= 0:
        raise InputError("temperatures must be > 0 K")
    if not (np.isfinite(diffusivities).all() and (diffusivities > 1e-14).all()):
        raise InputError(f"an Arrhenius fit needs positive diffusivities, got {diffusivities.tolist()} "
                         "cm²/s; the lowest temperature may show no Li hops yet: run longer or hotter")
    energy, prefactor, energy_std = pmg_diffusion.fit_arrhenius(temperatures, diffusivities)
    extrapolated = pmg_diffusion.get_extrapolated_diffusivity(temperatures, diffusivities, target_temperature)
    factor = pmg_diffusion.get_conversion_factor(AseAtomsAdaptor.get_structure(structure), species,
                                                 target_temperature)
    return ArrheniusFit(
        activation_energy=float(energy),
        activation_energy_std=None if energy_std is None else float(energy_std),
        prefactor=float(prefactor),
        temperature=float(target_temperature),
        diffusivity=float(extrapolated),
        conductivity=float(extrapolated * factor / HAVEN_RATIO),
    )


def _mean_with_error(values: Sequence[float], errors: Sequence[float]) -> tuple[float, float, float | None]:
    """Mean of per-configuration values, its standard error (the larger of the propagated errors and the
    spread over sqrt(n)), and the spread (standard deviation; None for one value)."""
    values, errors = np.asarray(values, dtype=float), np.asarray(errors, dtype=float)
    propagated = float(np.sqrt(np.sum(errors**2)) / len(values))
    if len(values) < 2:
        return float(values[0]), propagated, None
    spread = float(np.std(values, ddof=1))
    return float(values.mean()), max(propagated, spread / np.sqrt(len(values))), spread


def ensemble_by_temperature(per_temperature: Sequence[TemperatureDiffusivity]) -> list[EnsembleTemperature]:
    """The kinisi estimates of every temperature averaged over its configurations (see
    :class:`EnsembleTemperature`); entries without ``transport`` are left out."""
    by_temperature: dict[float, list[TemperatureDiffusivity]] = {}
    for entry in per_temperature:
        if entry.transport is not None:
            by_temperature.setdefault(entry.temperature, []).append(entry)
    ensemble = []
    for temperature, entries in sorted(by_temperature.items()):
        estimates = [entry.transport for entry in entries]
        tracer, charge, conductivity = (
            _mean_with_error([getattr(e, value) for e in estimates], [getattr(e, error) for e in estimates])
            for value, error in (("tracer_diffusivity_cm2_s", "tracer_diffusivity_std_cm2_s"),
                                 ("charge_diffusivity_cm2_s", "charge_diffusivity_std_cm2_s"),
                                 ("conductivity_mS_cm", "conductivity_std_mS_cm")))
        haven = _ratio_with_error(tracer[0], tracer[1], charge[0], charge[1])
        ensemble.append(EnsembleTemperature(
            temperature_K=temperature, configurations=[entry.configuration or "" for entry in entries],
            tracer_diffusivity_cm2_s=tracer[0], tracer_diffusivity_std_cm2_s=tracer[1],
            tracer_diffusivity_spread_cm2_s=tracer[2], charge_diffusivity_cm2_s=charge[0],
            charge_diffusivity_std_cm2_s=charge[1], haven_ratio=haven[0], haven_ratio_std=haven[1],
            conductivity_mS_cm=conductivity[0], conductivity_std_mS_cm=conductivity[1]))
    return ensemble


def _arrhenius_line(temperatures: np.ndarray, diffusivities: np.ndarray) -> tuple[float, float]:
    """Ea (eV) and prefactor (cm²/s) of the least-squares line through ln D against 1/T."""
    slope, intercept = np.polyfit(1.0 / temperatures, np.log(diffusivities), 1)
    return float(-slope * K_B_EV), float(np.exp(intercept))


def ensemble_arrhenius(
    per_temperature: Sequence[TemperatureDiffusivity],
    structure: Atoms,
    species: str = "Li",
    target_temperature: float = ROOM_TEMPERATURE,
    extrapolate_conductivity: bool = True,
    seed: int = 0,
) -> EnsembleArrhenius:
    """Ea over temperatures and configurations from the kinisi tracer D of ``per_temperature`` (three or
    more temperatures), with the uncertainty of :class:`EnsembleArrhenius`; sigma at
    ``target_temperature`` K (carrier density of ``structure``, measured Haven ratio) only when
    ``extrapolate_conductivity`` (the caller's validity checks passed)."""
    from pymatgen.analysis.diffusion.analyzer import get_conversion_factor
    from pymatgen.io.ase import AseAtomsAdaptor

    ensemble = ensemble_by_temperature(per_temperature)
    if len(ensemble) < MIN_ARRHENIUS_TEMPERATURES:
        raise InputError(f"{_temperatures_too_few(len(ensemble))} with kinisi estimates: an Arrhenius fit needs "
                         f"at least {MIN_ARRHENIUS_TEMPERATURES}")
    temperatures = np.array([entry.temperature_K for entry in ensemble])
    means = np.array([entry.tracer_diffusivity_cm2_s for entry in ensemble])
    if not (means > 0).all():
        raise InputError(f"an Arrhenius fit needs positive diffusivities, got {means.tolist()} cm²/s")
    energy, prefactor = _arrhenius_line(temperatures, means)
    table = {(entry.configuration or "", entry.temperature): entry.transport for entry in per_temperature
             if entry.transport is not None}
    configurations = sorted({configuration for configuration, _ in table})
    rng = np.random.default_rng(seed)
    draws = np.empty((ENSEMBLE_DRAWS, 2))
    for b in range(ENSEMBLE_DRAWS):
        chosen = rng.choice(configurations, len(configurations)) if len(configurations) > 1 else configurations
        drawn = []
        for temperature, mean in zip(temperatures, means):
            values = [max(t.tracer_diffusivity_cm2_s + t.tracer_diffusivity_std_cm2_s * rng.standard_normal(),
                          1e-3 * mean) for c in chosen if (t := table.get((c, temperature))) is not None]
            drawn.append(np.mean(values) if values else mean)
        draws[b] = _arrhenius_line(temperatures, np.array(drawn))
    extrapolated = draws[:, 1] * np.exp(-draws[:, 0] / (K_B_EV * target_temperature))
    per_configuration = [_arrhenius_line(temperatures, np.array([table[(c, t)].tracer_diffusivity_cm2_s
                                                                 for t in temperatures]))[0]
                         for c in configurations if all((c, t) in table for t in temperatures)
                         and all(table[(c, t)].tracer_diffusivity_cm2_s > 0 for t in temperatures)]
    haven = _mean_with_error([entry.haven_ratio for entry in ensemble], [entry.haven_ratio_std for entry in ensemble])
    diffusivity = prefactor * np.exp(-energy / (K_B_EV * target_temperature))
    conductivity = conductivity_std = None
    if extrapolate_conductivity and np.isfinite(haven[0]) and haven[0] > 0:
        factor = get_conversion_factor(AseAtomsAdaptor.get_structure(structure), species, target_temperature)
        conductivity, conductivity_std = _ratio_with_error(diffusivity * factor, float(np.std(extrapolated, ddof=1))
                                                           * factor, haven[0], haven[1])
    return EnsembleArrhenius(
        activation_energy_eV=energy, activation_energy_std_eV=float(np.std(draws[:, 0], ddof=1)),
        activation_energy_configuration_spread_eV=float(np.std(per_configuration, ddof=1))
        if len(per_configuration) > 1 else None,
        prefactor_cm2_s=prefactor, temperatures_K=temperatures.tolist(), n_configurations=len(configurations),
        target_temperature_K=float(target_temperature), tracer_diffusivity_cm2_s=float(diffusivity),
        tracer_diffusivity_std_cm2_s=float(np.std(extrapolated, ddof=1)), haven_ratio=haven[0],
        haven_ratio_std=haven[1], conductivity_mS_cm=conductivity, conductivity_std_mS_cm=conductivity_std)


def _temperatures_too_few(count: int) -> str:
    return f"{count} temperature{'s' if count != 1 else ''}"


def extrapolation_refusal(per_temperature: Sequence[TemperatureDiffusivity], min_hops: float = MIN_HOPS) -> str | None:
    """Why D(T) may not be extrapolated (None if it may): fewer than 3 temperatures, or too few hops at one."""
    reasons = []
    count = len({entry.temperature for entry in per_temperature})
    if count < MIN_ARRHENIUS_TEMPERATURES:
        reasons.append(f"{_temperatures_too_few(count)}: an Arrhenius fit needs at least "
                       f"{MIN_ARRHENIUS_TEMPERATURES}")
    reasons += [f"MSD at {entry.temperature:g} K is {entry.hops_seen:.2g} hops (fewer than {min_hops:g})"
                for entry in per_temperature if entry.hops_seen is not None and entry.hops_seen < min_hops]
    return "; ".join(reasons) or None


def plot_msd(per_temperature: Sequence[TemperatureDiffusivity], path: str | Path, species: str = "Li") -> Path:
    """MSD (Å²) against lag time (ps) per temperature; region MSDs dashed/dotted. Returns the file."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4.5), layout="constrained")
    axes = figure.add_subplot()
    styles = {"grain_boundary": "--", "bulk_like": ":"}
    for result in per_temperature:
        line, = axes.plot(result.time / 1000, result.msd, label=f"{result.temperature:g} K")
        for region in result.regions:
            axes.plot(result.time / 1000, region.msd, styles[region.region], color=line.get_color(),
                      label=f"{result.temperature:g} K {region.region.replace('_', ' ')}")
    axes.set_xlabel("lag time (ps)")
    axes.set_ylabel(f"{species} MSD (Å²)")
    axes.legend(loc="best", fontsize="small")
    return save_figure(figure, path, bbox_inches="tight")


def plot_arrhenius(per_temperature: Sequence[TemperatureDiffusivity], fit: ArrheniusFit, path: str | Path) -> Path:
    """log D against 1000/T with error bars, the fit and its extrapolation. Returns the file."""
    from matplotlib.figure import Figure

    temperatures = np.array([r.temperature for r in per_temperature])
    diffusivities = np.array([r.diffusivity for r in per_temperature])
    errors = np.array([r.diffusivity_std for r in per_temperature])
    figure = Figure(figsize=(6, 4.5), layout="constrained")
    axes = figure.add_subplot()
    axes.errorbar(1000 / temperatures, diffusivities, yerr=errors, fmt="o", capsize=3, label="MD")
    inverse = np.linspace(1000 / temperatures.max(), 1000 / fit.temperature, 50)
    error = f" ± {fit.activation_energy_std:.3f}" if fit.activation_energy_std is not None else ""
    axes.plot(inverse, fit.prefactor * np.exp(-fit.activation_energy * inverse / 1000 / K_B_EV), "--",
              label=f"Ea = {fit.activation_energy:.3f}{error} eV")
    axes.plot([1000 / fit.temperature], [fit.diffusivity], "s", label=f"extrapolated {fit.temperature:g} K")
    axes.set_yscale("log")
    axes.set_xlabel("1000/T (1/K)")
    axes.set_ylabel("D (cm²/s)")
    axes.legend(loc="best", fontsize="small")
    return save_figure(figure, path, bbox_inches="tight")


def trajectory_parameters(frames: Sequence[Atoms], path: str | Path) -> tuple[float, float, int]:
    """Temperature (K), time step (fs) and save interval (steps) from a replica-MD trajectory."""
    needed = ("target_temperature_K", "step", "time_fs")
    if len(frames) < 2 or any(key not in frame.info for frame in frames[:2] for key in needed):
        raise InputError(f"{path} is not a trajectory written by ssbkit's replica MD with at least "
                         "two production frames (needs target_temperature_K, step, time_fs)")
    save_every = int(frames[1].info["step"]) - int(frames[0].info["step"])
    timestep = (float(frames[1].info["time_fs"]) - float(frames[0].info["time_fs"])) / save_every
    return float(frames[0].info["target_temperature_K"]), timestep, save_every


def diffusion_from_trajectories(
    paths: Sequence[str | Path],
    species: str = "Li",
    grain_boundary: GrainBoundaryRegion | None = None,
    target_temperature: float = ROOM_TEMPERATURE,
    plot_directory: str | Path | None = None,
    *,
    min_hops: float = MIN_HOPS,
    max_temperature_deviation: float = MAX_TEMPERATURE_DEVIATION,
    start_lag_fs: float = START_LAG_FS,
) -> DiffusionResult:
    """Analyse trajectories written by :func:`ssbkit.workflows.md.run_replicas` (temperature, time
    step, save interval and configuration are read from the frames; the sites are those of each file's first
    frame, the structure before MD): D(T) with its checks (see :func:`analyze_trajectory`), the Arrhenius fit
    when :func:`extrapolation_refusal` allows it, the configuration averages per temperature (``ensemble``)
    and their Arrhenius fit (``ensemble_arrhenius``, from three temperatures; sigma only when the checks
    pass), and plots if asked. The kinisi fits start at ``start_lag_fs`` (fs)."""
    from ase.io import read

    if not paths:
        raise InputError("no trajectories to analyse")
    per_temperature = []
    for path in paths:
        frames = read_production(path)
        temperature, timestep, save_every = trajectory_parameters(frames, path)
        per_temperature.append(analyze_trajectory(
            frames, temperature, timestep, save_every, species, grain_boundary,
            sites=read(path, index=0, format="extxyz"), min_hops=min_hops,
            max_temperature_deviation=max_temperature_deviation, start_lag_fs=start_lag_fs))
    per_temperature.sort(key=lambda r: (r.temperature, r.configuration or ""))
    structure = frames[0]
    fit = ensemble_fit = None
    notes = [f"conductivity by Nernst-Einstein from the tracer D, Haven ratio assumed {HAVEN_RATIO:g}",
             "transport / ensemble_arrhenius: kinisi tracer and charge D, measured Haven ratio, sigma = "
             "Nernst-Einstein over the Haven ratio"]
    caveats = [caveat for entry in per_temperature for caveat in entry.caveats]
    refusal = extrapolation_refusal(per_temperature, min_hops)
    ensemble = ensemble_by_temperature(per_temperature)
    if len(ensemble) >= MIN_ARRHENIUS_TEMPERATURES and all(e.tracer_diffusivity_cm2_s > 0 for e in ensemble):
        ensemble_fit = ensemble_arrhenius(per_temperature, structure, species, target_temperature,
                                          extrapolate_conductivity=refusal is None)
    if refusal is None:
        fit = fit_arrhenius([r.temperature for r in per_temperature],
                            [r.diffusivity for r in per_temperature], structure, species, target_temperature)
    else:
        caveats.append(Caveat(NO_EXTRAPOLATION, refusal))
    plots = {}
    if plot_directory is not None:
        Path(plot_directory).mkdir(parents=True, exist_ok=True)
        plots["msd"] = plot_msd(per_temperature, Path(plot_directory) / "msd.png", species)
        if fit is not None:
            plots["arrhenius"] = plot_arrhenius(per_temperature, fit, Path(plot_directory) / "arrhenius.png")
    return DiffusionResult(species=species, per_temperature=per_temperature, arrhenius=fit, plots=plots,
                           notes=notes, target_temperature=target_temperature, caveats=caveats,
                           ensemble=ensemble, ensemble_arrhenius=ensemble_fit)


def diffusion(
    atoms: Atoms | Structure | Sequence[Atoms | Structure],
    calculator: Calculator,
    temperatures: Sequence[float] | None,
    directory: str | Path,
    settings: MDSettings | None = None,
    *,
    grain_boundary: GrainBoundaryRegion | None = None,
    progress: bool | None = None,
    **overrides: Any,
) -> DiffusionResult:
    """NVT MD of ``atoms`` (ase or pymatgen; or a list of configurations of an ensemble, each with
    ``info["configuration"]``, else numbered) at every temperature (K) in one batched replica run
    (configurations x temperatures replicas), then the diffusion analysis of ``species``, averaged over the
    configurations and extrapolated to ``target_temperature`` (K). Trajectories and
    plots go to ``directory``; ``timestep`` in fs, Langevin ``friction`` in 1/fs or Nose-Hoover ``tdamp``
    in fs (see :func:`ssbkit.workflows.md.run_replicas`). ``temperatures`` (None: ``settings.temperatures``)
    and keyword arguments named like fields of :class:`ssbkit.workflows.md.MDSettings` override ``settings``.
    Before any MD step the cell is checked (:func:`check_cell` with the model's cutoff, ``min_species_count``
    and ``min_width_over_cutoff``); the analysis applies ``min_hops``, ``max_temperature_deviation`` and
    ``start_lag_fs``."""
    if temperatures is not None:
        overrides["temperatures"] = temperatures
    settings = apply_overrides(MDSettings, settings, overrides)
    configurations = _configurations(atoms)
    from ssbkit.potentials.backends import model_cutoff

    for configuration in configurations:
        check_species(configuration, settings.species)
        check_cell(configuration, settings.species, model_cutoff(calculator), settings.min_species_count,
                   settings.min_width_over_cutoff)
    replicas = [configuration for configuration in configurations for _ in settings.temperatures]
    temperatures = [temperature for _ in configurations for temperature in settings.temperatures]
    md = run_replicas(replicas, temperatures, calculator, directory, settings, progress=progress)
    result = diffusion_from_trajectories([r.path for r in md.replicas], settings.species, grain_boundary,
                                         settings.target_temperature, plot_directory=directory,
                                         min_hops=settings.min_hops,
                                         max_temperature_deviation=settings.max_temperature_deviation,
                                         start_lag_fs=settings.start_lag_fs)
    result.md = md
    return result


def _configurations(atoms: Atoms | Structure | Sequence[Atoms | Structure]) -> list[Atoms]:
    """One structure, or an ensemble whose members get ``info["configuration"]`` (their own, else the
    list position); members must be distinct ids."""
    from pymatgen.core import Structure

    single = isinstance(atoms, (Atoms, Structure))
    members = [atoms] if single else list(atoms)
    if not members:
        raise InputError("no structures to run: give a structure or a non-empty ensemble")
    converted = []
    for position, member in enumerate(members):
        if not isinstance(member, Atoms):
            from pymatgen.io.ase import AseAtomsAdaptor

            member = AseAtomsAdaptor.get_atoms(member)
        if not single:
            member = member.copy()
            member.info["configuration"] = configuration_id(member) or str(position)
        converted.append(member)
    ids = [configuration_id(member) for member in converted]
    if not single and len(set(ids)) != len(ids):
        raise InputError(f"ensemble configurations need distinct ids, got {ids}")
    return converted


def write_result(result: DiffusionResult, path: str | Path) -> Path:
    """Write a result as JSON atomically (ssbkit.io.atomic_write), creating its folder."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, json.dumps(result.to_dict(), indent=2))
