"""Bulk and grain-boundary Li barriers of one garnet configuration, with the committee spread.

From one LLZO cell (the Ewald-ordered cubic cell, or one member of an ensemble) :func:`gb_barriers` builds
the sigma-5 (100) twist bicrystal with ``expand_times`` CSL periods per grain, relaxes it (positions, first
model; or anneals and quenches it, :mod:`ssbkit.workflows.anneal`), and computes with every model three
vacancy hops: in the bulk cell, next to the boundary along it, and across it into the other grain
(``ssbkit.interfaces.structures.hop_studies``); with ``hops_per_kind`` the k shortest distinct hops of each
kind, so that bulk and boundary barriers come as distributions (``distributions``: min, median, max).
Each NEB relaxes only the atoms within ``relax_radius_A`` of the hop (see :mod:`ssbkit.workflows.neb`).
Optional checks, with the first model: the boundary barrier against the radius and against the grain
thickness in CSL periods (:func:`ssbkit.workflows.neb.barrier_convergence`).

The bicrystal relaxation is the one step every boundary hop shares: it is written to
``bicrystal.extxyz``, and ``bicrystal=`` starts from such a file instead, so the hops (``hops=``) can run
as separate jobs side by side.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from ssbkit.errors import InputError
from ssbkit.io import atomic_write, csv_text
from ssbkit.plotting import save_figure
from ssbkit.potentials import predict
from ssbkit.results import Result
from ssbkit.workflows.anneal import AnnealSettings, anneal
from ssbkit.workflows.neb import (BarrierConvergence, NEBResult, NEBSettings, barrier_convergence,
                                  distances_from_hop, neb)
from ssbkit.workflows.neb_committee import NEBCommitteeResult, neb_committee
from ssbkit.workflows.relax import RelaxSettings, relax

if TYPE_CHECKING:
    from ssbkit.interfaces.structures.hop_studies import HopStudy

HOPS = ("bulk", "gb-along", "gb-across")


@dataclass
class HopBarrier(Result):
    """One hop: its name (bulk, gb-along, gb-across; bulk-2, gb-along-2, ... for the further hops of a
    kind, :func:`hop_names`), what it is, cell size, atoms the band moved (None: all),
    the committee mean and standard deviation of the barrier (eV; std None for one model), and every
    model's NEB."""

    hop: str
    description: str
    n_atoms: int
    n_free_atoms: int | None
    barrier_eV: float | None
    barrier_std_eV: float | None
    committee: NEBCommitteeResult


@dataclass
class RankedHopBarrier(Result):
    """One hop by name (:func:`hop_names`) with one model: what it is, cell size, the headline barrier and the
    reaction energy (final minus initial; eV), ``excluded``: why it does not count in a distribution
    (:func:`invalid_hop_reason`; None: it counts), and the NEB."""

    hop: str
    description: str
    n_atoms: int
    barrier_eV: float
    reaction_energy_eV: float
    excluded: str | None
    neb: NEBResult


@dataclass
class HopDistribution(Result):
    """The committee-mean barriers (eV) of the hops of one kind (bulk, gb-along, gb-across), shortest hop
    first, and their minimum, median and maximum (None when no hop counts). ``excluded``: hops left out, with
    why: no model computed them, or for some model they give no barrier between the sites they were placed on
    (:func:`invalid_hop_reason`)."""

    kind: str
    hops: list[str]
    barriers_eV: list[float]
    min_eV: float | None
    median_eV: float | None
    max_eV: float | None
    excluded: dict[str, str] = field(default_factory=dict)


@dataclass
class GrainBoundaryBarriers(Result):
    """Bulk-vs-boundary barriers of one configuration (``configuration``: its id, None for the default cell),
    the bicrystal's grain thickness in CSL periods, the local radius (Å), every hop, the barriers of each kind
    as a distribution, the checks, the files written (``table_file``: CSV, ``plot_file``: bar chart), and
    ``warnings`` (:func:`unrelaxed_regions`)."""

    configuration: str | None
    expand_times: int
    relax_radius_A: float | None
    models: list[str]
    hops: list[HopBarrier]
    distributions: list[HopDistribution] = field(default_factory=list)
    radius_check: BarrierConvergence | None = None
    thickness_check: BarrierConvergence | None = None
    table_file: Path | None = None
    plot_file: Path | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def bicrystal_relax_settings(fmax: float = 0.05, steps: int = 300) -> RelaxSettings:
    """How a bicrystal is relaxed: LBFGS (see :func:`settled_bicrystal`) to ``fmax`` eV/Å, at most ``steps``."""
    return RelaxSettings(fmax=fmax, steps=steps, optimizer="LBFGS")


def settled_bicrystal(bicrystal: Atoms, calculator: Calculator, relax_settings: RelaxSettings,
                      anneal_settings: AnnealSettings | None = None,
                      anneal_directory: str | Path | None = None, progress: bool = False) -> tuple[Atoms, str]:
    """``bicrystal`` relaxed (positions, fixed cell), or with ``anneal_settings`` annealed and quenched
    (:func:`ssbkit.workflows.anneal.anneal`, frames in ``anneal_directory``, a progress bar on stderr with
    ``progress``); keeps the ``grain`` array.
    Returns it with a note of what was done (energies in eV, force in eV/Å).

    LBFGS, because the boundary reconstructs (CHGNet, 1920 atoms: the energy falls by 396 eV): FIRE still
    had 1.2 eV/Å on boundary O after 181 steps, and LBFGS went on from there to 0.3 eV/Å in 60, but reached
    0.05 eV/Å only after 583 steps in three runs, the last 7 eV of the fall moving atoms near the hops by up
    to 1.5 Å. An anneal lets such a boundary cross between its shallow minima."""
    if anneal_settings is None:
        relaxed = relax(bicrystal, calculator, relax_settings)
        settled, note = relaxed.atoms, (f"bicrystal relaxed: {relaxed.steps} {relax_settings.optimizer} steps, "
                                        f"largest force {relaxed.fmax:.2f} eV/Å")
    else:
        result = anneal(bicrystal, calculator, anneal_settings, relax_settings, directory=anneal_directory,
                        progress=progress)
        settled = result.atoms
        outcome = (f"{result.relaxed_energy_eV - result.annealed_energy_eV:.2f} eV below the relaxed one "
                   f"(atoms moved up to {result.max_displacement_A:.2f} Å); kept" if result.annealed else
                   f"{result.annealed_energy_eV - result.relaxed_energy_eV:+.2f} eV against the relaxed one; "
                   "the relaxed one kept")
        note = (f"bicrystal annealed {result.anneal_steps} steps at {result.temperature_K:g} K and quenched: "
                f"its minimum is {outcome}; largest force {result.fmax_eV_A:.2f} eV/Å")
    if "grain" in bicrystal.arrays:
        settled.set_array("grain", bicrystal.arrays["grain"])
    return settled, note


def write_bicrystal(bicrystal: Atoms, path: str | Path) -> Path:
    """Write a relaxed bicrystal with its ``grain`` array (extxyz), atomically."""
    from ase.io import write

    frame = bicrystal.copy()
    frame.calc = None
    return atomic_write(path, lambda temporary: write(temporary, frame, format="extxyz"))


def unrelaxed_regions(bicrystal: Atoms, calculator: Calculator,
                      regions: Mapping[str, tuple[HopStudy, float | None]], fmax: float,
                      bicrystal_fmax: float | None = None) -> list[str]:
    """A warning for each hop (name: its study on ``bicrystal`` and local radius, Å, None = whole cell) whose
    region of ``bicrystal`` still carries forces above ``fmax`` (eV/Å; the band's): its endpoint relaxations
    take that relaxation up too, and the barrier with it. Measured (LLZO along hop, CHGNet, bicrystal at
    0.19 eV/Å): widening the region from 14 to 16 Å took in one such atom and lowered both endpoints by 0.12
    and 0.17 eV. First, when any force exceeds ``bicrystal_fmax``, a warning that the boundary itself is not
    relaxed: forces below ``fmax`` near a hop do not make its structure final (the same bicrystal, 300 more
    LBFGS steps: 5.9 eV lower, atoms within 6 Å of the hops moved by up to 1.3 Å)."""
    (prediction,) = predict([bicrystal], calculator)
    forces = np.linalg.norm(prediction.forces, axis=1)
    warnings = []
    if bicrystal_fmax is not None and forces.max() > bicrystal_fmax:
        warnings.append(f"the bicrystal is not relaxed (largest force {forces.max():.2f} eV/Å, above "
                        f"{bicrystal_fmax:g} eV/Å): a reconstructing boundary goes on changing near the hops, so its "
                        "barriers belong to a partly relaxed boundary")
    for name, (study, radius) in regions.items():
        distances = distances_from_hop(study.initial, study.final, study.moving_index, bicrystal)
        above = (forces > fmax) & (distances <= (np.inf if radius is None else radius))
        if above.any():
            worst = int(np.argmax(np.where(above, forces, 0.0)))
            where = "the cell" if radius is None else f"{radius:g} Å of the hop"
            warnings.append(
                f"{name}: the bicrystal is not at its minimum within {where}: {int(above.sum())} atom(s) above the "
                f"band's {fmax:g} eV/Å (largest {forces[worst]:.2f} eV/Å, {distances[worst]:.1f} Å from the hop); "
                "the endpoint relaxations take that relaxation up too, and the barrier with it: relax the "
                "bicrystal further or use a smaller radius")
    return warnings


def bicrystal_periods(bicrystal: Atoms, bulk: Atoms) -> int:
    """CSL periods per grain of a sigma-5 bicrystal of ``bulk`` (5 bulk cells per period and grain); refuses a
    structure without a ``grain`` array or of another size."""
    from ssbkit.interfaces.structures.grain_boundaries import grain_labels

    grain_labels(bicrystal)
    periods = len(bicrystal) / (10 * len(bulk))
    if round(periods) < 1 or abs(periods - round(periods)) > 0.01:
        raise InputError(f"the bicrystal has {len(bicrystal)} atoms, not a sigma-5 bicrystal of this "
                         f"{len(bulk)}-atom cell (10 x {len(bulk)} atoms per CSL period per grain)")
    return round(periods)


def gb_barriers(
    bulk: Atoms | None,
    models: Sequence[str],
    load_calculator: Callable[[str], Calculator],
    settings: NEBSettings | None = None,
    *,
    expand_times: int = 1,
    bicrystal: Atoms | None = None,
    hops: Sequence[str] = HOPS,
    hops_per_kind: int = 1,
    radius_check: Sequence[float | None] | None = None,
    thickness_check: Sequence[int] | None = None,
    tolerance_eV: float = 0.02,
    bicrystal_fmax: float = 0.05,
    bicrystal_steps: int = 300,
    anneal_settings: AnnealSettings | None = None,
    output_dir: str | Path | None = None,
    progress: bool = False,
) -> GrainBoundaryBarriers:
    """Barriers of the bulk, along-boundary and across-boundary hops of ``bulk`` (None: the Ewald-ordered
    cubic LLZO cell) with every model of ``models`` (see the module docstring). ``settings``: the NEB
    settings of every hop (``relax_radius_A`` included); ``radius_check``: radii (Å; None = whole cell) for
    the along-boundary hop (its run at ``settings.relax_radius_A`` is reused), ``thickness_check``: CSL
    periods per grain for the across hop, each with the first model and ``tolerance_eV``;
    ``bicrystal_fmax``: force (eV/Å) to which the bicrystal is relaxed (at most ``bicrystal_steps`` LBFGS
    steps, the thickness check's bicrystals too), and above which it is reported as not relaxed;
    ``anneal_settings``: anneal the bicrystal (built here or given) and quench it before the hops
    (:func:`settled_bicrystal`). ``bicrystal``: an already relaxed
    bicrystal of ``bulk`` with its ``grain`` array (e.g. the ``bicrystal.extxyz`` of an earlier run; its CSL
    periods per grain are read from its size); ``hops``: which of ``HOPS`` to compute; ``hops_per_kind``: how
    many of each, the shortest distinct ones (:func:`ssbkit.interfaces.structures.hop_studies.boundary_hop_pairs`;
    in the bulk, symmetry-distinct hops by length), named by :func:`hop_names`; a ranked name in ``hops``
    (``gb-across-5``) asks for that one hop (:func:`requested_hops`). The thickness check follows the
    shortest across hop into each thicker bicrystal (the same pair of sites, :func:`thicker_bicrystal_hop`),
    so that it compares one hop, not the shortest hop of each relaxed boundary. Before any NEB, one model
    call on the bicrystal finds hops whose region is off its minimum (``warnings``, :func:`unrelaxed_regions`).
    With ``output_dir``: ``bicrystal.extxyz`` (when relaxed here; ``bicrystal_annealed.extxyz`` for a given
    one annealed here, so the input is never overwritten; the anneal's frames under ``anneal/``),
    ``gb_barriers.csv``, ``gb_barriers.png``, each model's NEB path under ``output_dir/<hop>``, and the
    thickness check's relaxed bicrystals (``bicrystal_<n>periods.extxyz``) and paths under ``gb-across/``.
    ``progress``: progress bars of the anneal and the bands on stderr."""
    from ssbkit.interfaces.structures.grain_boundaries import grain_labels, sigma5_twist_bicrystal
    from ssbkit.interfaces.structures.hop_studies import boundary_hop_pairs
    from ssbkit.interfaces.structures.llzo import cubic_llzo

    if not models:
        raise InputError("gb_barriers needs at least one model")
    names = requested_hops(hops, hops_per_kind)
    counts = {hop_kind(name): hop_rank(name) for name in names}  # names run shortest first: the largest rank wins
    needs_bicrystal = bool(set(counts) - {"bulk"} or radius_check or thickness_check)
    if bicrystal is not None and not needs_bicrystal:
        raise InputError("a bicrystal was given but only the bulk hop was asked for; add gb-along or gb-across "
                         "to the hops, or leave the bicrystal out")
    settings = settings or NEBSettings()
    bulk = cubic_llzo() if bulk is None else bulk
    if bicrystal is not None:
        expand_times = bicrystal_periods(bicrystal, bulk)
    # as built: the start of a bicrystal relaxed here, and the thickness check's map of sites
    as_built = sigma5_twist_bicrystal(bulk, expand_times) if needs_bicrystal and (
        bicrystal is None or thickness_check) else None
    if thickness_check and bicrystal is not None and (
            not np.allclose(as_built.cell, bicrystal.cell, atol=1e-4)
            or as_built.get_chemical_symbols() != bicrystal.get_chemical_symbols()
            or not np.array_equal(grain_labels(as_built), grain_labels(bicrystal))):
        raise InputError("the thickness check follows a hop into thicker bicrystals built from this cell, but the "
                         "given bicrystal is not the one built from it (another cell, other atoms or atom order)")
    base = Path(output_dir) if output_dir is not None else None
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)  # the relaxed bicrystal is written there before any NEB
    studies = ranked_hops("bulk", counts["bulk"], bulk=bulk) if "bulk" in counts else {}
    relax_settings = bicrystal_relax_settings(bicrystal_fmax, bicrystal_steps)
    first = load_calculator(models[0])
    anneal_directory = None if base is None else base / "anneal"
    notes = []
    if needs_bicrystal:
        if bicrystal is None or anneal_settings is not None:
            built_here = bicrystal is None
            bicrystal, note = settled_bicrystal(as_built if built_here else bicrystal, first, relax_settings,
                                                anneal_settings, anneal_directory, progress)
            notes.append(f"{note} ({models[0]})")
            if base is not None:
                write_bicrystal(bicrystal, base / ("bicrystal.extxyz" if built_here else "bicrystal_annealed.extxyz"))
        for kind in ("gb-along", "gb-across"):  # the checks take the shortest hop of each
            studies |= ranked_hops(kind, counts.get(kind, 1), bicrystal=bicrystal)
    regions = {name: (studies[name], settings.relax_radius_A) for name in names if hop_kind(name) != "bulk"}
    radii = sorted(radius_check or [], key=lambda r: np.inf if r is None else r)  # the reference (largest) last
    if radii:
        regions["gb-along radius check"] = (studies["gb-along"], radii[-1])
    warnings = unrelaxed_regions(bicrystal, first, regions, settings.fmax, bicrystal_fmax) if regions else []
    results = []
    for name in names:
        study = studies[name]
        committee = neb_committee(
            study.initial, study.final, list(models), load_calculator,
            {**dataclasses.asdict(settings), "moving_index": study.moving_index, "progress": progress},
            reference_barrier=study.reference_barrier, reference_source=study.reference_source,
            output_dir=None if base is None else base / name)
        free = [r.n_free_atoms for r in committee.results.values()]
        results.append(HopBarrier(hop=name, description=study.description, n_atoms=len(study.initial),
                                  n_free_atoms=free[0] if free else None, barrier_eV=committee.barrier.mean,
                                  barrier_std_eV=committee.barrier.std, committee=committee))
    result = GrainBoundaryBarriers(
        configuration=None if bulk.info.get("configuration") is None else str(bulk.info["configuration"]),
        expand_times=expand_times, relax_radius_A=settings.relax_radius_A, models=list(models), hops=results,
        distributions=hop_distributions(results), warnings=warnings,
        notes=[*notes, "every model relaxes the endpoints within the local radius itself"])
    done = {hop.hop: hop.committee.results.get(models[0]) for hop in results}
    if radius_check:
        along = studies["gb-along"]

        def along_barrier(radius: float | None) -> NEBResult:
            if radius == settings.relax_radius_A and done.get("gb-along") is not None:
                return done["gb-along"]
            return neb(along.initial, along.final, first, settings, relax_radius_A=radius,
                       moving_index=along.moving_index, progress=progress,
                       output_dir=None if base is None else base / "gb-along" / f"radius-{radius or 'whole'}")

        result.radius_check = barrier_convergence("relax_radius_A", radii, along_barrier, tolerance_eV,
                                                  compare_endpoints=True)
    if thickness_check:
        across_pair = boundary_hop_pairs(bicrystal, True)[0][:2]  # the shortest across hop: the one it follows

        def across_barrier(periods: int) -> NEBResult:
            if periods == expand_times and done.get("gb-across") is not None:
                return done["gb-across"]
            if periods == expand_times:
                hop = studies["gb-across"]
            else:
                hop, note = thicker_bicrystal_hop(
                    as_built, across_pair, bulk, periods, first, relax_settings, anneal_settings,
                    None if base is None else base / f"bicrystal_{periods}periods.extxyz", progress)
                result.notes.append(f"thickness check, {periods} CSL periods per grain: {note} ({models[0]})")
            return neb(hop.initial, hop.final, first, settings, moving_index=hop.moving_index, progress=progress,
                       output_dir=None if base is None else base / "gb-across" / f"thickness-{periods}")

        result.thickness_check = barrier_convergence("expand_times", sorted(thickness_check), across_barrier,
                                                     tolerance_eV)
    if base is not None:
        result.table_file = atomic_write(base / "gb_barriers.csv", barrier_table(result))
        result.plot_file = plot_barriers(result, base / "gb_barriers.png")
    return result


def thicker_bicrystal_hop(as_built: Atoms, pair: tuple[int, int], bulk: Atoms, periods: int,
                          calculator: Calculator, relax_settings: RelaxSettings,
                          anneal_settings: AnnealSettings | None = None, path: str | Path | None = None,
                          progress: bool = False) -> tuple[HopStudy, str]:
    """The across hop of ``pair`` (moving Li, Li whose site it takes; indices in the as-built bicrystal
    ``as_built``) in the bicrystal of ``bulk`` with ``periods`` CSL periods per grain: the same two sites,
    found by their place next to the boundary (:func:`~ssbkit.interfaces.structures.grain_boundaries.matching_atoms`),
    in the thicker bicrystal settled like the first (:func:`settled_bicrystal`; written to ``path``), and the
    note of how it was settled."""
    from ssbkit.interfaces.structures.grain_boundaries import matching_atoms, sigma5_twist_bicrystal
    from ssbkit.interfaces.structures.hop_studies import llzo_gb_across

    thicker = sigma5_twist_bicrystal(bulk, periods)
    mover, vacancy = matching_atoms(as_built, thicker, pair)
    settled, note = settled_bicrystal(thicker, calculator, relax_settings, anneal_settings, progress=progress)
    if path is not None:
        write_bicrystal(settled, path)
    return llzo_gb_across(bicrystal=settled, pair=(mover, vacancy)), note


def hop_name(kind: str, rank: int) -> str:
    """Name of the hop of a kind with this rank, shortest first: ``kind`` for the shortest, then ``kind-2``..."""
    return kind if rank == 1 else f"{kind}-{rank}"


def hop_names(kind: str, count: int) -> list[str]:
    """Names of the ``count`` shortest hops of a kind (:func:`hop_name`)."""
    return [hop_name(kind, rank) for rank in range(1, count + 1)]


def ranked_hops(kind: str, count: int, *, bulk: Atoms | None = None,
                bicrystal: Atoms | None = None) -> dict[str, HopStudy]:
    """The ``count`` shortest hops of a kind of ``HOPS``, by name (:func:`hop_names`): symmetry-distinct
    vacancy hops of ``bulk`` by length (None: the Ewald-ordered cubic LLZO cell;
    :func:`ssbkit.interfaces.structures.hop_studies.llzo_bulk_hops`), or the Li pairs next to the boundary of
    ``bicrystal`` (its ``grain`` array; :func:`ssbkit.interfaces.structures.hop_studies.boundary_hop_pairs`)."""
    from ssbkit.interfaces.structures.hop_studies import (boundary_hop_pairs, llzo_bulk_hops, llzo_gb_across,
                                                          llzo_gb_along)

    names = hop_names(kind, count)
    if kind == "bulk":
        return dict(zip(names, llzo_bulk_hops(bulk, count)))
    if bicrystal is None:
        raise InputError(f"the {kind} hops need the relaxed bicrystal")
    across = kind == "gb-across"
    builder = llzo_gb_across if across else llzo_gb_along
    return {name: builder(bicrystal=bicrystal, pair=pair[:2])
            for name, pair in zip(names, boundary_hop_pairs(bicrystal, across, count))}


def ranked_hop_barrier(hop: str, calculator: Calculator, settings: NEBSettings | None = None, *,
                       bulk: Atoms | None = None, bicrystal: Atoms | None = None,
                       output_dir: str | Path | None = None, progress: bool = False) -> RankedHopBarrier:
    """The NEB of one hop by name (``gb-across-5``: the fifth shortest across the boundary of ``bicrystal``;
    ``bulk-2`` in ``bulk``, :func:`ranked_hops`) with one model: the same hop, and the same number, as that hop
    of a :func:`gb_barriers` run on the same structures, so that the hops of a distribution can run as separate
    jobs (the ``llzo-hop`` runner kind)."""
    (name,) = requested_hops([hop], 1)
    study = ranked_hops(hop_kind(name), hop_rank(name), bulk=bulk, bicrystal=bicrystal)[name]
    result = neb(study.initial, study.final, calculator, settings or NEBSettings(), moving_index=study.moving_index,
                 output_dir=output_dir, progress=progress)
    return RankedHopBarrier(hop=name, description=study.description, n_atoms=len(study.initial),
                            barrier_eV=result.barrier, reaction_energy_eV=result.reaction_energy,
                            excluded=invalid_hop_reason(result), neb=result)


def invalid_hop_reason(result: NEBResult) -> str | None:
    """Why a NEB gives no barrier between the sites it was placed on, or None: an endpoint whose moving atom
    relaxed farther than the site tolerance from its site (the site is not a minimum of the model), or a band
    that did not converge."""
    tolerance = result.settings["site_tolerance"]
    shifts = {"initial": result.hop.initial_site_displacement, "final": result.hop.final_site_displacement}
    reasons = [f"its {name} Li left its site by {shift:.2f} Å (tolerance {tolerance:g} Å)"
               for name, shift in shifts.items() if shift > tolerance]
    if not result.converged:
        reasons.append(f"its band did not converge in {result.steps} steps")
    return f"{result.model}: {'; '.join(reasons)}" if reasons else None


def hop_distributions(hops: Sequence[HopBarrier]) -> list[HopDistribution]:
    """Per kind (the hop name without its rank), the committee-mean barriers of the hops that every model
    that computed them found, converged, between the sites they were placed on (:func:`invalid_hop_reason`)."""
    distributions = []
    for kind in HOPS:
        of_kind = [hop for hop in hops if hop_kind(hop.hop) == kind]
        if not of_kind:
            continue
        excluded = {}
        for hop in of_kind:
            reasons = [r for r in map(invalid_hop_reason, hop.committee.results.values()) if r]
            if hop.barrier_eV is None or reasons:
                excluded[hop.hop] = "; ".join(reasons) or "no model computed it"
        counted = [hop for hop in of_kind if hop.hop not in excluded]
        values = [float(hop.barrier_eV) for hop in counted]
        distributions.append(HopDistribution(
            kind=kind, hops=[hop.hop for hop in counted], barriers_eV=values, excluded=excluded,
            min_eV=min(values) if values else None, median_eV=float(np.median(values)) if values else None,
            max_eV=max(values) if values else None))
    return distributions


def hop_kind(name: str) -> str:
    """The kind of a hop name from :func:`hop_names` (``gb-along-2`` -> ``gb-along``)."""
    head, _, rank = name.rpartition("-")
    return head if rank.isdigit() else name


def hop_rank(name: str) -> int:
    """The rank of a hop name from :func:`hop_names` among the hops of its kind, shortest first (``gb-along`` ->
    1, ``gb-along-2`` -> 2)."""
    rank = name.rpartition("-")[2]
    return int(rank) if rank.isdigit() else 1


def requested_hops(hops: Sequence[str], hops_per_kind: int) -> list[str]:
    """The hop names that ``hops`` asks for, in the order of ``HOPS`` and shortest first, each once: a kind
    (``gb-across``) stands for its ``hops_per_kind`` shortest hops, a ranked name (``gb-across-5``) for that
    one hop, so that separate jobs can share out the hops of one kind."""
    if hops_per_kind < 1:
        raise InputError(f"hops_per_kind must be at least 1, not {hops_per_kind}")
    unknown = [hop for hop in hops if hop_kind(hop) not in HOPS or hop_rank(hop) < 1]
    if unknown or not hops:
        raise InputError(f"unknown hop(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(HOPS)}, "
                         "or one hop of a kind by its rank, shortest first (gb-across-5)")
    wanted = {(hop_kind(hop), rank) for hop in hops
              for rank in (range(1, hops_per_kind + 1) if hop in HOPS else [hop_rank(hop)])}
    return [hop_name(kind, rank) for kind, rank in sorted(wanted, key=lambda w: (HOPS.index(w[0]), w[1]))]


def barrier_table(result: GrainBoundaryBarriers) -> str:
    """CSV: one row per hop and model, then the committee mean and standard deviation (eV) of the barrier and
    of the reaction energy (final minus initial, eV) next to it: a barrier close to the reaction energy is
    the cost of leaving a trap, not a saddle between equivalent sites."""
    def energy(value: float | None) -> str:
        return "" if value is None else f"{value:.4f}"

    rows = []
    for hop in result.hops:
        reaction = hop.committee.reaction_energy
        size = [hop.n_atoms, hop.n_free_atoms or hop.n_atoms]
        rows += [[hop.hop, model, energy(value), "", energy(reaction.values.get(model)), "", *size]
                 for model, value in hop.committee.barrier.values.items()]
        if hop.barrier_eV is not None:
            rows.append([hop.hop, "committee", energy(hop.barrier_eV), energy(hop.barrier_std_eV),
                         energy(reaction.mean), energy(reaction.std), *size])
    return csv_text(["hop", "model", "barrier_eV", "std_eV", "reaction_energy_eV", "reaction_energy_std_eV",
                     "n_atoms", "n_free_atoms"], rows)


def plot_barriers(result: GrainBoundaryBarriers, path: str | Path) -> Path:
    """Bars: committee mean barrier (eV) per hop with its standard deviation, coloured by kind (bulk, along,
    across); dots: each model; dashes: the mean reaction energy (final minus initial, eV), level with the bar
    when the hop only leaves a trap."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.5, 4), layout="constrained")
    axes = figure.add_subplot()
    positions = np.arange(len(result.hops))
    means = [np.nan if h.barrier_eV is None else h.barrier_eV for h in result.hops]
    errors = [0.0 if h.barrier_std_eV is None else h.barrier_std_eV for h in result.hops]
    shades = {"bulk": "0.85", "gb-along": "#c6dbef", "gb-across": "#fdd0a2"}  # one bar colour per kind of hop
    axes.bar(positions, means, yerr=errors, capsize=4, color=[shades.get(hop_kind(h.hop), "0.85") for h in result.hops],
             edgecolor="0.5", label="committee mean ± std")
    for k, model in enumerate(result.models):
        values = [h.committee.barrier.values.get(model, np.nan) for h in result.hops]
        axes.plot(positions + 0.12 * (k - (len(result.models) - 1) / 2), values, "o", label=model)
    reactions = [np.nan if h.committee.reaction_energy.mean is None else h.committee.reaction_energy.mean
                 for h in result.hops]
    axes.plot(positions, reactions, "_", color="k", markersize=28, mew=2, label="final − initial (mean)")
    axes.set_xticks(positions, [h.hop for h in result.hops], rotation=30 if len(result.hops) > 3 else 0)
    axes.set_ylabel("Li migration barrier (eV)")
    radius = "whole cell" if result.relax_radius_A is None else f"local radius {result.relax_radius_A:g} Å"
    axes.set_title(f"LLZO bulk vs Σ5 boundary ({result.expand_times} CSL period/grain, {radius})", fontsize=9)
    axes.legend(fontsize="small")
    return save_figure(figure, path, dpi=120)
