"""Li diffusion from MD: tracer MSD, D(T), Arrhenius activation energy and room-temperature conductivity.

The MSD analysis is pymatgen-analysis-diffusion's ``DiffusionAnalyzer`` (framework drift removed,
multiple-time-origin MSD, weighted fit from a 1 ps lag up to half the production, where every Li
still has two independent time origins); the Arrhenius fit and the extrapolation
are its ``fit_arrhenius`` and ``get_extrapolated_diffusivity``. Conductivities use Nernst-Einstein
with the tracer diffusivity, i.e. a Haven ratio of 1 is ASSUMED (ion-ion correlations neglected;
measured Haven ratios of fast Li conductors are about 0.3-0.7, which would raise sigma).

Grain-boundary cells: each Li is assigned to the grain-boundary region if its starting position lies
within ``width`` Å of a boundary plane (given as fractional coordinates along one cell axis), else
to the bulk-like region; the region MSD is the mean of the analyzer's per-ion MSDs over that region.

Validity: :func:`diffusion` refuses, before any MD step, a cell with too few diffusing atoms or one narrower
than twice the model's cutoff (:func:`check_cell`). The analysis reports per temperature the hops seen
(maximum MSD over the squared shortest distance between two sites of the species) and the mean kinetic
temperature, with a caveat when either is off, and extrapolates (Ea, D and sigma at 300 K) only from at
least three temperatures that all saw ``min_hops`` hops; otherwise ``arrhenius`` is None and a
``no-extrapolation`` caveat says why.
"""

from __future__ import annotations

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
from ssbkit.workflows.md import (
    MAX_TEMPERATURE_DEVIATION,
    MIN_HOPS,
    ROOM_TEMPERATURE,
    MDSettings,
    ReplicaMDResult,
    read_production,
    run_replicas,
)

if TYPE_CHECKING:
    from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer
    from pymatgen.core import Structure

HAVEN_RATIO = 1.0  # assumed: tracer D used as charge D in Nernst-Einstein
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


@dataclass
class RegionDiffusivity(Result):
    """Tracer diffusivity (cm²/s) and its standard error of the Li that start in one region (grain_boundary
    or bulk_like), and their MSD (Å²) on the lag times of the whole-cell result."""

    region: str
    n_ions: int
    diffusivity: float
    diffusivity_std: float
    msd: np.ndarray


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
    temperature, then no-extrapolation)."""

    species: str
    per_temperature: list[TemperatureDiffusivity]
    arrhenius: ArrheniusFit | None
    plots: dict[str, Path]
    md: ReplicaMDResult | None = None
    notes: list[str] = field(default_factory=list)
    target_temperature: float = ROOM_TEMPERATURE
    caveats: list[Caveat] = field(default_factory=list)


def check_species(atoms: Atoms, species: str) -> None:
    """InputError unless ``atoms`` holds ``species`` and at least one framework atom of another element."""
    symbols = np.array(atoms.get_chemical_symbols())
    if not (symbols == species).any():
        raise InputError(f"no {species} atoms in {atoms.get_chemical_formula()}")
    if (symbols == species).all():
        raise InputError(f"only {species} atoms in {atoms.get_chemical_formula()}: the drift is referenced "
                         "to the framework (non-diffusing) atoms, so at least one other atom is needed")


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
) -> TemperatureDiffusivity:
    """Tracer diffusivity of ``species`` from equally spaced NVT frames (``timestep`` fs per MD step,
    one frame every ``save_every`` steps) at ``temperature`` K, with DiffusionAnalyzer.

    Checks: hops seen = maximum MSD over the squared shortest distance between two ``species`` atoms of
    ``sites`` (the structure before MD; None: the first frame), caveat ``too-few-hops`` below ``min_hops``.
    For a random walk of n hops of length l the MSD is n*l²; the shortest distance is the shortest hop, so
    this counts longer hops as several (an upper bound on the hops made). Three hops per ion on average
    leave e^-3 = 5 % of the ions (Poisson) that never hopped, and put the vibrational MSD plateau (a
    fraction of l²) at a few per cent of the fitted MSD. Caveat ``temperature-off-target`` when the mean
    kinetic temperature differs from ``temperature`` by more than ``max_temperature_deviation`` (relative)."""
    from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer
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
    # Displacements (Å) by the minimum-image convention between consecutive frames, so wrapped
    # and unwrapped trajectories give the same result (as DiffusionAnalyzer.from_structures does).
    fractional = np.stack([frame.get_scaled_positions(wrap=False) for frame in frames], axis=1)
    steps = np.diff(fractional, axis=1)
    steps -= np.round(steps)
    displacements = np.concatenate([np.zeros_like(fractional[:, :1]), np.cumsum(steps, axis=1)], axis=1)
    n_ions = int((symbols == species).sum())
    min_obs = max(30, 2 * n_ions)  # lags up to half the production at most
    try:
        analyzer = DiffusionAnalyzer(
            AseAtomsAdaptor.get_structure(first), displacements @ np.asarray(first.cell), species,
            temperature=temperature, time_step=timestep, step_skip=save_every,
            min_obs=min_obs)
    except ValueError as exc:
        duration = (len(frames) - 1) * timestep * save_every / 1000
        raise InputError(
            f"production of {duration:g} ps ({len(frames)} frames, {n_ions} {species}) is too short for the "
            f"MSD fit, which uses lags from 1 ps up to {n_ions}/{min_obs} of the production (each {species} "
            f"seen over ~{min_obs // n_ions or 1} independent windows); run longer or use more {species}") from exc

    regions = []
    if grain_boundary is not None:
        in_boundary = grain_boundary.mask(first)
        for name, selected in (("grain_boundary", in_boundary), ("bulk_like", ~in_boundary)):
            indices = np.flatnonzero(selected & (symbols == species))
            if len(indices) == 0:
                continue
            d, d_std, region_msd = _diffusivity_with_error(analyzer, indices)
            regions.append(RegionDiffusivity(region=name, n_ions=len(indices), diffusivity=d,
                                             diffusivity_std=d_std, msd=region_msd))
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
    )


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
    k_b = 8.617333262e-5  # eV/K
    error = f" ± {fit.activation_energy_std:.3f}" if fit.activation_energy_std is not None else ""
    axes.plot(inverse, fit.prefactor * np.exp(-fit.activation_energy * inverse / 1000 / k_b), "--",
              label=f"Ea = {fit.activation_energy:.3f}{error} eV")
    axes.plot([1000 / fit.temperature], [fit.diffusivity], "s", label=f"extrapolated {fit.temperature:g} K")
    axes.set_yscale("log")
    axes.set_xlabel("1000/T (1/K)")
    axes.set_ylabel("D (cm²/s)")
    axes.legend(loc="best", fontsize="small")
    return save_figure(figure, path, bbox_inches="tight")


def _run_parameters(frames: Sequence[Atoms], path: str | Path) -> tuple[float, float, int]:
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
) -> DiffusionResult:
    """Analyse trajectories written by :func:`ssbkit.workflows.md.run_replicas` (temperature, time
    step and save interval are read from the frames; the sites are those of each file's first frame, the
    structure before MD): D(T) with its checks (see :func:`analyze_trajectory`), the Arrhenius fit when
    :func:`extrapolation_refusal` allows it, and plots if asked."""
    from ase.io import read

    if not paths:
        raise InputError("no trajectories to analyse")
    per_temperature = []
    for path in paths:
        frames = read_production(path)
        temperature, timestep, save_every = _run_parameters(frames, path)
        per_temperature.append(analyze_trajectory(
            frames, temperature, timestep, save_every, species, grain_boundary,
            sites=read(path, index=0, format="extxyz"), min_hops=min_hops,
            max_temperature_deviation=max_temperature_deviation))
    per_temperature.sort(key=lambda r: r.temperature)
    structure = frames[0]
    fit = None
    notes = [f"conductivity by Nernst-Einstein from the tracer D, Haven ratio assumed {HAVEN_RATIO:g}"]
    caveats = [caveat for entry in per_temperature for caveat in entry.caveats]
    refusal = extrapolation_refusal(per_temperature, min_hops)
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
                           notes=notes, target_temperature=target_temperature, caveats=caveats)


def diffusion(
    atoms: Atoms | Structure,
    calculator: Calculator,
    temperatures: Sequence[float] | None,
    directory: str | Path,
    settings: MDSettings | None = None,
    *,
    grain_boundary: GrainBoundaryRegion | None = None,
    progress: bool | None = None,
    **overrides: Any,
) -> DiffusionResult:
    """NVT MD of ``atoms`` (ase or pymatgen) at every temperature (K) in one batched replica run, then
    the diffusion analysis of ``species``, extrapolated to ``target_temperature`` (K). Trajectories and
    plots go to ``directory``; ``timestep`` in fs, Langevin ``friction`` in 1/fs or Nose-Hoover ``tdamp``
    in fs (see :func:`ssbkit.workflows.md.run_replicas`). ``temperatures`` (None: ``settings.temperatures``)
    and keyword arguments named like fields of :class:`ssbkit.workflows.md.MDSettings` override ``settings``.
    Before any MD step the cell is checked (:func:`check_cell` with the model's cutoff, ``min_species_count``
    and ``min_width_over_cutoff``); the analysis applies ``min_hops`` and ``max_temperature_deviation``."""
    if temperatures is not None:
        overrides["temperatures"] = temperatures
    settings = apply_overrides(MDSettings, settings, overrides)
    if not isinstance(atoms, Atoms):
        from pymatgen.io.ase import AseAtomsAdaptor

        atoms = AseAtomsAdaptor.get_atoms(atoms)
    from ssbkit.potentials.backends import model_cutoff

    check_species(atoms, settings.species)
    check_cell(atoms, settings.species, model_cutoff(calculator), settings.min_species_count,
               settings.min_width_over_cutoff)
    md = run_replicas([atoms] * len(settings.temperatures), None, calculator, directory, settings, progress=progress)
    result = diffusion_from_trajectories([r.path for r in md.replicas], settings.species, grain_boundary,
                                         settings.target_temperature, plot_directory=directory,
                                         min_hops=settings.min_hops,
                                         max_temperature_deviation=settings.max_temperature_deviation)
    result.md = md
    return result


def write_result(result: DiffusionResult, path: str | Path) -> Path:
    """Write a result as JSON atomically (ssbkit.io.atomic_write), creating its folder."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, json.dumps(result.to_dict(), indent=2))
