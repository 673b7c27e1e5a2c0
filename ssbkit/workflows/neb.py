"""Climbing-image NEB whose images are evaluated together, one batched model call per iteration.

The band, tangents, spring forces, climbing-image projection, IDPP interpolation and optimizers are
ASE's (``ase.mep.NEB``). What ssbkit adds: every interior image carries a small proxy calculator
(``ssbkit.potentials.batching.BandEvaluator``); the first image ASE asks for forces triggers one
``ssbkit.potentials.predict`` call on all images whose positions changed, and the others read their
share of that batch. The workflow around the band relaxes the endpoints (fixed cell), checks them,
and reads the converged path for barriers, intermediate minima and the hop geometry.

Local region (``relax_radius_A``): atoms farther than the radius from the hop (the midpoint of the moving
atom's path, minimum image) are held fixed at their input positions in the endpoint relaxations and the
band, so a hop in a large cell (a grain boundary) converges in far fewer optimizer steps and the band
optimizer handles only the atoms near it; every image is still evaluated whole. Start from a relaxed
cell, so the fixed atoms sit at their minimum; :func:`radius_convergence` shows the barrier against the
radius (the largest, or None = whole cell, is the reference).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.geometry import find_mic

from ssbkit.errors import CalculationError, InputError
from ssbkit.plotting import image_path, save_figure
from ssbkit.potentials import model_name, predict
from ssbkit.potentials.batching import BandEvaluator
from ssbkit.results import Result
from ssbkit.settings import apply_overrides
from ssbkit.workflows.relax import RelaxSettings, relax
from ssbkit.workflows.settings import NEBSettings

# Radius checks (endpoint_shift): atoms within BASIN_MARGIN_A (Å) of a region's edge may move as the region
# grows; an atom inside farther than BASIN_SHIFT_A (Å) from its place at the reference means another minimum.
# Measured on the LLZO along-boundary hop (CHGNet, 8-16 Å): the same minima 0.01-0.10 Å, another one 0.67-0.75 Å.
BASIN_MARGIN_A = 2.0
BASIN_SHIFT_A = 0.3


class HopMissingError(CalculationError):
    """Both endpoints relaxed into one site: the hop does not exist for this model."""


@dataclass
class HopGeometry(Result):
    """The moving atom: index, element, relaxed start/end and saddle positions (Å), hop length (Å),
    and how far (Å) relaxation moved it from the sites it was placed on."""

    index: int
    symbol: str
    initial_position: np.ndarray
    final_position: np.ndarray
    saddle_position: np.ndarray
    hop_distance: float
    initial_site_displacement: float
    final_site_displacement: float


@dataclass
class Segment(Result):
    """Part of the path between two minima (image indices) with its barriers (eV)."""

    start: int
    end: int
    barrier_forward: float
    barrier_backward: float


@dataclass
class NEBResult(Result):
    """Outcome of a climbing-image NEB.

    Energies in eV, relative quantities between relaxed endpoints: ``barrier_forward`` is the highest
    image minus the initial state, ``barrier_backward`` the highest image minus the final state,
    ``reaction_energy`` final minus initial. ``energy_span`` is the highest image minus the lowest
    point on the path. ``barrier`` is the one to report (``headline_barrier``): the largest climb along the
    path from initial to final, which is ``barrier_forward`` unless the path dips below the initial state
    before a higher point (then the climb out of that dip).
    ``energies`` are the images' total energies (eV), ``fmax`` the largest force left on the band (eV/Å),
    ``reaction_coordinate`` the cumulative path length (Å). ``warnings`` lists every problem the
    checks found (endpoints off their sites or equivalent, intermediate minima, non-convergence).
    """

    barrier_forward: float
    barrier_backward: float
    reaction_energy: float
    energy_span: float
    converged: bool
    steps: int
    fmax: float
    energies: np.ndarray
    reaction_coordinate: np.ndarray
    saddle_index: int
    hop: HopGeometry
    endpoints_equivalent: bool
    intermediate_minima: list[int]
    segments: list[Segment]
    images: list[Atoms]
    model: str
    settings: dict[str, Any]
    n_model_calls: int
    warnings: list[str] = field(default_factory=list)
    path_file: Path | None = None
    plot_file: Path | None = None
    segment_results: list[NEBResult] = field(default_factory=list)
    barrier: float = float("nan")  # the headline migration barrier (eV): see headline_barrier
    n_free_atoms: int | None = None  # atoms the band moved (None: every atom; see relax_radius_A)


@dataclass
class BarrierConvergence(Result):
    """Barrier (eV, ``NEBResult.barrier``) against one setting (``parameter``: e.g. relax_radius_A, or the
    grain thickness in CSL periods), with the atoms the band moved and the model calls of each run. The
    last value is the reference; ``converged_value`` is the first value from which every barrier lies
    within ``tolerance_eV`` of it (None if only the reference does). For radii, ``endpoint_shifts_A`` holds
    each run's :func:`endpoint_shift` from the reference: a run whose endpoints found other minima (more than
    ``BASIN_SHIFT_A``) compares another hop, counts as not converged and is named in ``warnings``."""

    parameter: str
    values: list[Any]
    barriers_eV: list[float]
    differences_eV: list[float]
    n_free_atoms: list[int | None]
    n_atoms: list[int]
    n_model_calls: list[int]
    tolerance_eV: float
    converged_value: Any
    converged: bool
    endpoint_shifts_A: list[float] | None = None
    warnings: list[str] = field(default_factory=list)


def neb(
    initial: Atoms,
    final: Atoms,
    calculator: Calculator,
    settings: NEBSettings | None = None,
    *,
    output_dir: str | Path | None = None,
    model: str | None = None,
    progress: bool = False,
    **overrides: Any,
) -> NEBResult:
    """Climbing-image NEB from ``initial`` to ``final`` (same atoms, same order, same fixed cell).

    Keyword arguments named like fields of :class:`NEBSettings` override ``settings``.
    Endpoints are relaxed (positions only) to ``endpoint_fmax`` (eV/Å); the band of ``n_images``
    interior images starts from an IDPP interpolation and is optimized until the largest NEB force is
    below ``fmax`` (eV/Å) or ``steps`` iterations. The moving atom (largest displacement between the
    inputs unless ``moving_index`` is given) must stay within ``site_tolerance`` (Å) of where it was
    placed; an interior minimum deeper than ``minimum_depth`` (eV) splits the path into segments, and
    with ``resolve_minima`` each segment is re-run between relaxed minima (``segment_results``).
    Identical relaxed endpoints, or a moving atom whose relaxed endpoints lie within
    ``same_site_distance`` (Å) of each other (both relaxed into one site: HopMissingError), raise CalculationError;
    everything else is reported in ``warnings``. ``result.settings`` records the settings (less
    ``endpoint_steps``, ``moving_index`` and ``resolve_minima``) with the NEB method and interpolation.
    With ``output_dir`` the path (``neb_path.extxyz``) and profile plot (``neb_profile.png``) are written.
    """
    settings = apply_overrides(NEBSettings, settings, overrides)
    _check_inputs(initial, final, settings.moving_index)
    moving_index = settings.moving_index
    if moving_index is None:
        moving_index = int(np.argmax(_mic_displacements(initial, final)))
    n_free = None
    if settings.relax_radius_A is not None:
        fixed = local_region_mask(initial, final, moving_index, settings.relax_radius_A)
        initial, final = (_with_fixed(atoms, fixed) for atoms in (initial, final))
        n_free = int((~fixed).sum())
    recorded = {name: value for name, value in asdict(settings).items()
                if name not in ("endpoint_steps", "moving_index", "resolve_minima")}
    warnings: list[str] = []
    start, end = (_relaxed_endpoint(atoms, calculator, settings, name, warnings)
                  for atoms, name in ((initial, "initial"), (final, "final")))
    _check_distinct_endpoints(initial, final, start, end, moving_index, settings.same_site_distance)
    site_shift = [float(np.linalg.norm(_mic_vector(placed, relaxed, moving_index)))
                  for placed, relaxed in ((initial, start), (final, end))]
    for name, shift in zip(("initial", "final"), site_shift):
        if shift > settings.site_tolerance:
            warnings.append(f"{name} endpoint left its site: atom {moving_index} moved {shift:.2f} Å "
                            f"during relaxation (tolerance {settings.site_tolerance} Å); the site is not a "
                            "minimum of this model")
    endpoints_equivalent = _equivalent(start, end)
    if endpoints_equivalent and not _equivalent(initial, final):
        warnings.append("endpoints were placed on different sites but relaxed into symmetry-equivalent "
                        "ones; the intended hop does not exist for this model")

    images, band, converged, n_steps, residual = run_band(start, end, calculator, settings, progress=progress)
    if not converged:
        warnings.append(f"NEB not converged after {n_steps} steps (max force {residual:.3f} eV/Å > "
                        f"{settings.fmax} eV/Å); the path so far is returned")
    result = _analyse(images, moving_index, site_shift, settings.minimum_depth, warnings)
    result = NEBResult(**result, converged=converged, steps=n_steps, fmax=residual,
                       endpoints_equivalent=endpoints_equivalent, model=model or model_name(calculator),
                       settings=recorded | {"method": "improvedtangent", "interpolation": "idpp"},
                       n_model_calls=band.n_batches, warnings=warnings, n_free_atoms=n_free)
    if settings.resolve_minima and result.intermediate_minima:
        result.segment_results = neb_between_minima(result, calculator)
    if output_dir is not None:
        write_outputs(result, Path(output_dir))
    return result


def local_region_mask(initial: Atoms, final: Atoms, moving_index: int, radius: float) -> np.ndarray:
    """True for atoms farther than ``radius`` (Å, minimum image) from the midpoint of atom ``moving_index``'s
    hop from ``initial`` to ``final``: the atoms a local-region NEB holds fixed. The moving atom is never fixed."""
    if radius <= 0:
        raise InputError(f"relax_radius_A must be > 0 Å, got {radius:g}")
    fixed = distances_from_hop(initial, final, moving_index) > radius
    fixed[moving_index] = False
    return fixed


def distances_from_hop(initial: Atoms, final: Atoms, moving_index: int, atoms: Atoms | None = None) -> np.ndarray:
    """Distance (Å, minimum image) of every atom of ``atoms`` (default ``initial``: e.g. the cell the hop was cut
    from) from the midpoint of atom ``moving_index``'s hop from ``initial`` to ``final``."""
    atoms = initial if atoms is None else atoms
    midpoint = initial.positions[moving_index] + 0.5 * _mic_vector(initial, final, moving_index)
    return find_mic(atoms.positions - midpoint, atoms.cell, atoms.pbc)[1]


def _with_fixed(atoms: Atoms, fixed: np.ndarray) -> Atoms:
    """A copy of ``atoms`` whose ``fixed`` atoms are held by FixAtoms, next to its own constraints."""
    from ase.constraints import FixAtoms

    held = atoms.copy()
    held.set_constraint([*atoms.constraints, FixAtoms(mask=fixed)])
    return held


def barrier_convergence(parameter: str, values: Sequence[Any], run: Callable[[Any], NEBResult],
                        tolerance_eV: float = 0.02, compare_endpoints: bool = False) -> BarrierConvergence:
    """Run ``run(value)`` (an NEB) for every value, smallest/cheapest first and the reference last, and report
    the barrier against the value (:class:`BarrierConvergence`). ``compare_endpoints``: the values are local
    radii (Å, None = whole cell) of one hop in one cell, so each run's relaxed endpoints are compared with the
    reference's (:func:`endpoint_shift`)."""
    if len(values) < 2:
        raise InputError(f"a convergence check of {parameter} needs at least two values, got {list(values)}")
    results = [run(value) for value in values]
    barriers = [float(result.barrier) for result in results]
    differences = [barrier - barriers[-1] for barrier in barriers]
    within = [abs(difference) <= tolerance_eV for difference in differences]
    shifts, warnings = None, []
    if compare_endpoints:
        reference = results[-1]
        shifts = [endpoint_shift(reference, result, value) for value, result in zip(values, results)]
        for k, (value, result) in enumerate(zip(values, results)):
            if shifts[k] > BASIN_SHIFT_A:
                within[k] = False
                change = [result.energies[end] - reference.energies[end] for end in (0, -1)]
                warnings.append(
                    f"at {parameter} {value} an endpoint relaxed into another minimum than at the reference "
                    f"({values[-1]}): atoms near the hop sit up to {shifts[k]:.2f} Å from their places there "
                    f"(initial endpoint {change[0]:+.3f} eV, final {change[1]:+.3f} eV against the reference), so "
                    "its barrier belongs to another pair of minima; re-run it from the reference's relaxed endpoints")
    first = next(i for i in range(len(values)) if all(within[i:]))
    return BarrierConvergence(
        parameter=parameter, values=list(values), barriers_eV=barriers, differences_eV=differences,
        n_free_atoms=[result.n_free_atoms for result in results],
        n_atoms=[len(result.images[0]) for result in results],
        n_model_calls=[result.n_model_calls for result in results], tolerance_eV=tolerance_eV,
        converged_value=values[first] if first < len(values) - 1 else None, converged=first < len(values) - 1,
        endpoint_shifts_A=shifts, warnings=warnings)


def endpoint_shift(reference: NEBResult, result: NEBResult, radius: float | None,
                   margin_A: float = BASIN_MARGIN_A) -> float:
    """Largest distance (Å, minimum image) of an atom of ``result``'s relaxed endpoints from its place in
    ``reference``'s (the same hop in the same cell, relaxed within a larger region), over the moving atom and the
    atoms within ``radius - margin_A`` of the hop's midpoint (every atom for ``radius`` None): a few hundredths
    to a tenth of an Å when both runs relaxed into the same minima, several tenths when one found another."""
    start = reference.images[0]
    index = reference.hop.index
    distances = distances_from_hop(start, reference.images[-1], index)
    inner = np.ones(len(start), bool) if radius is None else distances <= radius - margin_A
    inner[index] = True
    return float(max(
        find_mic(mine.positions[inner] - theirs.positions[inner], start.cell, start.pbc)[1].max()
        for mine, theirs in ((result.images[0], start), (result.images[-1], reference.images[-1]))))


def radius_convergence(
    initial: Atoms,
    final: Atoms,
    calculator: Calculator,
    radii: Sequence[float | None],
    settings: NEBSettings | None = None,
    tolerance_eV: float = 0.02,
    **overrides: Any,
) -> BarrierConvergence:
    """Barrier of one hop against ``relax_radius_A`` (Å, ascending; None = the whole cell, the natural
    reference, goes last): :func:`barrier_convergence` over :func:`neb` with each radius."""
    settings = apply_overrides(NEBSettings, settings, overrides)
    radii = sorted(radii, key=lambda r: np.inf if r is None else r)
    return barrier_convergence(
        "relax_radius_A", radii,
        lambda radius: neb(initial, final, calculator, settings, relax_radius_A=radius), tolerance_eV,
        compare_endpoints=True)


def run_band(
    start: Atoms,
    end: Atoms,
    calculator: Calculator,
    settings: NEBSettings | None = None,
    *,
    progress: bool = False,
    **overrides: Any,
) -> tuple[list[Atoms], BandEvaluator, bool, int, float]:
    """Interpolate (IDPP) and optimize a band between two relaxed endpoints, batching the images;
    ``n_images``, ``fmax``, ``steps``, ``climb``, ``spring_constant`` and ``optimizer`` of ``settings``
    (keyword arguments override them).

    Returns the images (with single-point results attached), the band (model-call counts),
    convergence, the number of optimizer steps and the final max NEB force (eV/Å).
    """
    import ase.optimize
    from ase.mep import NEB

    settings = apply_overrides(NEBSettings, settings, overrides)
    images = [start.copy()] + [start.copy() for _ in range(settings.n_images)] + [end.copy()]
    for endpoint in (images[0], images[-1]):
        endpoint.calc = SinglePointCalculator(endpoint, **_single_point(endpoint, calculator))
    band = BandEvaluator(images[1:-1], calculator)
    path = NEB(images, k=settings.spring_constant, climb=settings.climb, method="improvedtangent")
    path.interpolate(method="idpp", mic=True, apply_constraint=True)
    opt = getattr(ase.optimize, settings.optimizer)(path, logfile=None)
    bar = _progress_bar(settings.steps, progress)
    if bar is not None:
        opt.attach(lambda: bar.update(1), interval=1)
    try:
        converged = bool(opt.run(fmax=settings.fmax, steps=settings.steps))
    finally:
        if bar is not None:
            bar.close()
    residual = float(np.linalg.norm(path.get_forces(), axis=1).max())
    for image in images[1:-1]:
        if not np.isfinite(image.get_forces()).all():
            raise CalculationError("non-finite forces on an NEB image; the band blew up")
        image.calc = SinglePointCalculator(image, energy=image.get_potential_energy(),
                                           forces=image.get_forces(apply_constraint=False))
    return images, band, converged, opt.get_number_of_steps(), residual


def neb_between_minima(result: NEBResult, calculator: Calculator) -> list[NEBResult]:
    """Relax the intermediate minima of a path (fixed cell) and run an NEB on each segment between
    consecutive true minima, with the settings recorded in ``result`` (minima relaxed, not resolved further)."""
    recorded = {f.name: result.settings[f.name] for f in fields(NEBSettings) if f.name in result.settings}
    settings = NEBSettings(**recorded | {"relax_endpoints": True, "moving_index": result.hop.index,
                                         "relax_radius_A": None})  # the images keep their constraints
    stops = [result.images[0]] + [result.images[i] for i in result.intermediate_minima] + [result.images[-1]]
    stops = [stop.copy() for stop in stops]
    for stop in stops:
        stop.calc = None
    return [neb(a, b, calculator, settings, model=result.model) for a, b in pairwise(stops)]


def write_outputs(result: NEBResult, output_dir: Path) -> None:
    """Write the path (extxyz) and the energy profile (PNG) atomically into ``output_dir``."""
    from ase.io import write

    from ssbkit.io import atomic_write

    output_dir.mkdir(parents=True, exist_ok=True)
    result.path_file = output_dir / "neb_path.extxyz"
    result.plot_file = output_dir / "neb_profile.png"
    frames = []
    for image in result.images:
        frame = image.copy()
        frame.info = {k: v for k, v in image.info.items() if isinstance(v, (str, int, float, bool))}
        frame.calc = image.calc
        frames.append(frame)
    atomic_write(result.path_file, lambda temporary: write(temporary, frames, format="extxyz"))
    plot_profile(result, result.plot_file)


def plot_profile(result: NEBResult, path: str | Path) -> Path:
    """Save the energy along the path (eV vs Å): images, the force-informed cubic fit, barriers in the title."""
    from matplotlib.figure import Figure

    path = image_path(path)
    fit = _fit(result.images)
    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(fit.fit_path, fit.fit_energies, "-", color="C0")
    ax.plot(fit.path, fit.energies, "o", color="C0")
    for i in result.intermediate_minima:
        ax.plot(fit.path[i], fit.energies[i], "v", color="C3")
    ax.set_xlabel("reaction coordinate (Å)")
    ax.set_ylabel("energy relative to initial (eV)")
    span = f", span={result.energy_span:.3f} eV" if result.intermediate_minima else ""
    flag = "" if result.converged else " (not converged)"
    ax.margins(y=0.12)
    ax.set_title(f"{result.model} NEB: barrier {result.barrier_forward:.3f} eV forward, "
                 f"{result.barrier_backward:.3f} eV backward{span}{flag}", fontsize=9)
    return save_figure(fig, path, dpi=120)


def _analyse(images: list[Atoms], moving_index: int, site_shift: list[float], minimum_depth: float,
             warnings: list[str]) -> dict[str, Any]:
    energies = np.array([image.get_potential_energy() for image in images])
    saddle = int(np.argmax(energies))
    e_max = float(energies[saddle])
    minima = intermediate_minima(energies, minimum_depth)
    stops = [0] + minima + [len(energies) - 1]
    segments = [Segment(a, b, float(energies[a:b + 1].max() - energies[a]),
                        float(energies[a:b + 1].max() - energies[b])) for a, b in pairwise(stops)]
    if minima:
        below = min(energies[i] for i in minima) < min(energies[0], energies[-1])
        meaning = ("the path dips below its endpoints, which are not the lowest sites on it: the migration "
                   "barrier is the climb out of that minimum (barrier), not barrier_forward" if below else
                   "a metastable site lies between the endpoints")
        warnings.append(f"intermediate minima at images {minima} (energies "
                        f"{', '.join(f'{energies[i] - energies[0]:+.3f}' for i in minima)} eV vs initial): "
                        f"{meaning}; see segments, or re-run between the minima (resolve_minima)")
    if saddle in (0, len(images) - 1):
        warnings.append("the highest point of the path is an endpoint: no barrier between these endpoints")
    start, end = images[0], images[-1]
    hop = HopGeometry(
        index=moving_index, symbol=start[moving_index].symbol,
        initial_position=start.positions[moving_index].copy(), final_position=end.positions[moving_index].copy(),
        saddle_position=images[saddle].positions[moving_index].copy(),
        hop_distance=float(np.linalg.norm(_mic_vector(start, end, moving_index))),
        initial_site_displacement=site_shift[0], final_site_displacement=site_shift[1])
    barrier_forward, energy_span = e_max - float(energies[0]), e_max - float(energies.min())
    return {"barrier_forward": barrier_forward, "barrier_backward": e_max - float(energies[-1]),
            "reaction_energy": float(energies[-1] - energies[0]), "energy_span": energy_span,
            "barrier": headline_barrier(energies),
            "energies": energies, "reaction_coordinate": np.array(_fit(images).path), "saddle_index": saddle,
            "hop": hop, "intermediate_minima": minima, "segments": segments, "images": images}


def headline_barrier(energies: Sequence[float]) -> float:
    """The migration barrier to report (eV): the largest climb along the path from initial to final, the
    maximum of E[j] - E[i] over images i <= j. It is the forward barrier when no image before the saddle lies
    below the initial state, and the climb out of the lowest such image when one does (the atom settles
    there first), so a path whose initial endpoint is not its minimum never reports a bare 0 eV. It changes
    continuously with the energies, unlike a switch between the forward barrier and the energy span."""
    energies = np.asarray(energies, dtype=float)
    return float(np.max(energies - np.minimum.accumulate(energies)))


def intermediate_minima(energies: Sequence[float], minimum_depth: float = 0.01) -> list[int]:
    """Interior images lower than both neighbours and at least ``minimum_depth`` (eV) below the
    highest image on each side of them."""
    energies = np.asarray(energies, dtype=float)
    return [i for i in range(1, len(energies) - 1)
            if energies[i] < energies[i - 1] and energies[i] < energies[i + 1]
            and min(energies[:i].max(), energies[i + 1:].max()) - energies[i] >= minimum_depth]


def _check_inputs(initial: Atoms, final: Atoms, moving_index: int | None) -> None:
    if len(initial) == 0 or len(initial) != len(final):
        raise InputError(f"initial and final must hold the same atoms (got {len(initial)} and {len(final)})")
    if initial.get_chemical_symbols() != final.get_chemical_symbols():
        raise InputError("initial and final list different elements or a different atom order")
    if not np.allclose(initial.cell, final.cell, atol=1e-6) or (initial.pbc != final.pbc).any():
        raise InputError("initial and final must share the same cell and periodicity (NEB at fixed cell)")
    if moving_index is not None and not 0 <= moving_index < len(initial):
        raise InputError(f"moving_index {moving_index} is outside 0..{len(initial) - 1}")
    if np.max(_mic_displacements(initial, final)) < 1e-3:
        raise InputError("initial and final structures are identical: nothing to migrate")


def _relaxed_endpoint(atoms: Atoms, calculator: Calculator, settings: NEBSettings, name: str,
                      warnings: list[str]) -> Atoms:
    if not settings.relax_endpoints:
        relaxed = atoms.copy()
        relaxed.calc = None
        return relaxed
    outcome = relax(atoms, calculator, RelaxSettings(fmax=settings.endpoint_fmax, steps=settings.endpoint_steps))
    if not outcome.converged:
        warnings.append(f"{name} endpoint relaxation not converged in {outcome.steps} steps "
                        f"(max force {outcome.fmax:.3f} eV/Å)")
    return outcome.atoms


def _check_distinct_endpoints(initial: Atoms, final: Atoms, start: Atoms, end: Atoms, index: int,
                              same_site_distance: float, identical_tolerance: float = 0.05) -> None:
    """The relaxed endpoints must differ (no atom moved more than ``identical_tolerance`` Å means the
    same structure), and the moving atom must end in two sites: on a flat energy surface two endpoints
    that slid into one site can stay a few tenths of an Å apart, which no migration hop is."""
    largest = float(np.max(_mic_displacements(start, end)))
    if largest < identical_tolerance:
        raise CalculationError(
            f"both endpoints relaxed into the same structure (largest atom displacement {largest:.3f} Å): "
            "at least one of the sites is not a minimum of this model; choose other sites or check the "
            "model")
    placed = float(np.linalg.norm(_mic_vector(initial, final, index)))
    relaxed = float(np.linalg.norm(_mic_vector(start, end, index)))
    if relaxed < min(same_site_distance, 0.5 * placed):
        raise HopMissingError(
            f"both endpoints relaxed into the same site: atom {index} ({start[index].symbol}) was placed "
            f"{placed:.2f} Å apart and ends {relaxed:.2f} Å apart (same-site distance {same_site_distance} Å); "
            "the placed sites are not separate minima of this model, so this hop does not exist for it")


def _equivalent(a: Atoms, b: Atoms) -> bool:
    """Whether two structures are the same up to symmetry (pymatgen StructureMatcher, fixed lattice)."""
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.io.ase import AseAtomsAdaptor

    matcher = StructureMatcher(ltol=0.05, stol=0.1, angle_tol=1, primitive_cell=False, scale=False,
                               attempt_supercell=False)
    structures = []
    for atoms in (a, b):
        periodic = atoms.copy()  # slabs: the vacuum direction is matched as if periodic (same cell)
        periodic.pbc = True
        periodic.set_constraint()
        structures.append(AseAtomsAdaptor.get_structure(periodic))
    return bool(matcher.fit(*structures))


def _mic_displacements(a: Atoms, b: Atoms) -> np.ndarray:
    _, lengths = find_mic(b.positions - a.positions, a.cell, a.pbc)
    return lengths


def _mic_vector(a: Atoms, b: Atoms, index: int) -> np.ndarray:
    vector, _ = find_mic(b.positions[index] - a.positions[index], a.cell, a.pbc)
    return vector


def _single_point(atoms: Atoms, calculator: Calculator) -> dict[str, Any]:
    (prediction,) = predict([atoms], calculator)
    return {"energy": prediction.energy, "forces": np.asarray(prediction.forces, dtype=float)}


def _fit(images: list[Atoms]) -> Any:
    from ase.utils.forcecurve import fit_raw

    return fit_raw([image.get_potential_energy() for image in images],
                   [image.get_forces() for image in images], [image.positions for image in images],
                   images[0].cell, images[0].pbc)


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="NEB", unit="step", leave=False)
