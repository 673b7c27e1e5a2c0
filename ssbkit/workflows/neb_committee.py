"""One hop, several models: the committee barrier, its spread, and what the models disagree about.

``neb_committee`` runs the same NEB with every model (a model that fails is recorded with its reason,
the others go on) and reports the headline barrier of each model (``NEBResult.barrier``: the largest climb
along the path, never a bare 0.000 eV when the path dips below its initial state), their mean and spread, the kind of site where each model's
path is lowest (models that disagree about the stable site are named), whether each model has the hop
at all, and the difference from a published value when one is attached.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from ssbkit.interfaces.structures.sites import site_kind
from ssbkit.results import Caveat
from ssbkit.workflows.committee import (
    CODE_REFERENCE,
    CommitteeResult,
    CommitteeValue,
    ModelFailure,
    committee_value,
    mptrj_caveat,
    qualitative_caveat,
    run_committee,
    spread_caveats,
    trained_on_mptrj,
)
from ssbkit.workflows.neb import HopMissingError, NEBResult, neb


def lowest_site(result: NEBResult, host: Atoms) -> str:
    """Kind of site (tetrahedral, octahedral, ...) where the path is lowest: the moving atom's position at the
    lowest image, placed in ``host`` (the unrelaxed input structure), so that the relaxation of the host
    around it does not blur its coordination shells."""
    lowest = int(np.argmin(result.energies))
    placed = host.copy()
    placed.positions[result.hop.index] = result.images[lowest].positions[result.hop.index]
    return site_kind(placed, result.hop.index)


@dataclass
class NEBCommitteeResult(CommitteeResult):
    """A hop computed with several models.

    ``barrier`` summarises each model's headline barrier (eV, ``NEBResult.barrier``), ``reaction_energy``
    the final-minus-initial energies (eV); ``stable_site`` names, per model, the kind of site where its path
    is lowest; ``hop_exists`` says per model whether the hop exists (False when the model relaxed both
    endpoints into one site). ``reference_barrier_eV``/``difference_from_reference_eV``: a published value
    and the committee mean minus it. ``caveats`` carry stable codes.
    """

    models: list[str]
    results: dict[str, NEBResult]
    failures: list[ModelFailure]
    barrier: CommitteeValue
    reaction_energy: CommitteeValue
    stable_site: dict[str, str]
    hop_exists: dict[str, bool]
    reference_barrier_eV: float | None = None
    reference_source: str | None = None
    difference_from_reference_eV: float | None = None
    caveats: list[Caveat] = field(default_factory=list)
    plot_file: Path | None = None


def neb_committee(
    initial: Atoms,
    final: Atoms,
    models: Sequence[str],
    load_calculator: Callable[[str], Calculator],
    neb_options: Mapping[str, Any] | None = None,
    *,
    reference_barrier: float | None = None,
    reference_source: str | None = None,
    output_dir: str | Path | None = None,
    threshold: float | None = None,
) -> NEBCommitteeResult:
    """Run the NEB from ``initial`` to ``final`` with every model and summarise the committee.

    ``load_calculator(model)`` returns the calculator of a model; ``neb_options`` are passed to ``neb``
    (n_images, fmax, ...). With ``output_dir`` each model writes its path and profile into
    ``output_dir/MODEL`` and the overlaid profiles go to ``output_dir/neb_committee.png``.
    ``threshold`` (eV): the spread above which the models are said to disagree (default 0.05 eV).
    """
    options = dict(neb_options or {})
    base = Path(output_dir) if output_dir is not None else None

    softened: list[str] = []  # members trained on MPtrj, whose barriers come out soft

    def calculate(model: str) -> NEBResult:
        out = base / model.replace(":", "_").replace("/", "_") if base is not None else None
        calculator = load_calculator(model)
        result = neb(initial, final, calculator, output_dir=out, model=model, **options)
        if trained_on_mptrj(calculator):
            softened.append(model)
        return result

    hop_missing: list[str] = []

    def on_failure(model: str, error: Exception) -> None:
        if isinstance(error, HopMissingError):
            hop_missing.append(model)

    run = run_committee(list(models), calculate, on_failure)
    results = run.results
    barrier = committee_value("barrier", "eV", {m: r.barrier for m, r in results.items()}, threshold)
    reaction = committee_value("reaction energy", "eV", {m: r.reaction_energy for m, r in results.items()},
                               threshold)
    sites = {m: lowest_site(r, initial) for m, r in results.items()}
    exists = {m: True for m in results} | dict.fromkeys(hop_missing, False)
    caveats = run.failure_caveats() + spread_caveats([barrier, reaction])
    for question, answers in (("the stable site", sites),
                              ("whether the hop exists", {m: "yes" if e else "no" for m, e in exists.items()})):
        if (caveat := qualitative_caveat(question, answers)) is not None:
            caveats.append(caveat)
    if softened:
        caveats.append(mptrj_caveat(softened))
    difference = None
    if reference_barrier is not None and barrier.mean is not None:
        difference = barrier.mean - reference_barrier
        caveats.append(Caveat(CODE_REFERENCE, f"committee barrier {barrier.summary()} vs published "
                                              f"{reference_barrier:.3f} eV: {difference:+.3f} eV"))
    result = NEBCommitteeResult(models=list(models), results=results, failures=run.failures, barrier=barrier,
                                reaction_energy=reaction, stable_site=sites, hop_exists=exists,
                                reference_barrier_eV=reference_barrier, reference_source=reference_source,
                                difference_from_reference_eV=difference, caveats=caveats)
    if base is not None and results:
        result.plot_file = plot_committee_profiles(result, base / "neb_committee.png")
    return result


def plot_committee_profiles(result: NEBCommitteeResult, path: str | Path) -> Path:
    """Overlay every model's energy profile (eV vs Å, relative to its initial state), with the published
    barrier as a dashed line when there is one."""
    from matplotlib.figure import Figure

    from ssbkit.plotting import save_figure

    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = fig.add_subplot()
    for number, (model, neb_result) in enumerate(result.results.items()):
        energies = np.asarray(neb_result.energies) - neb_result.energies[0]
        ax.plot(neb_result.reaction_coordinate, energies, "o-", color=f"C{number}",
                label=f"{model}: {neb_result.barrier:.3f} eV")
    if result.reference_barrier_eV is not None:
        ax.axhline(result.reference_barrier_eV, color="0.3", linestyle="--",
                   label=f"published: {result.reference_barrier_eV:.2f} eV")
    ax.set_xlabel("reaction coordinate (Å)")
    ax.set_ylabel("energy relative to initial state (eV)")
    ax.set_title(f"Committee barrier {result.barrier.summary()}", fontsize=9)
    ax.margins(y=0.12)
    ax.legend(loc="best", fontsize=8)
    return save_figure(fig, path, dpi=120)
