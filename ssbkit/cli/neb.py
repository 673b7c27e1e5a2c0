"""``ssbkit neb``: climbing-image NEB for Li hops, all images evaluated as one batch."""

from pathlib import Path
from typing import Annotated, Any

import typer

from ssbkit.cli.types import (
    Device,
    JsonOutput,
    Model,
    Models,
    Plot,
    Reference,
    ReferenceSettings,
    TrustModel,
    checked_output,
    command_group,
    emit_json,
    print_caveats,
    print_committee,
    print_table,
    read_atoms,
    settings_options,
)
from ssbkit.workflows.settings import NEBSettings, RefineSettings

app = command_group("Climbing-image NEB for Li hops, all images evaluated as one batch.")

IMAGES = typer.Option(5, "--images", help="Interior images of the band.")
OUTPUT = typer.Option(None, "--output", "-o", help="Folder for neb_path.extxyz and neb_profile.png.")


def _neb_rows(label: str, result: Any) -> list[list[Any]]:
    rows = [[label, result.model, result.barrier, result.barrier_forward, result.barrier_backward,
             result.reaction_energy, result.energy_span, "yes" if result.converged else f"no ({result.steps} steps)"]]
    for i, segment in enumerate(result.segment_results):
        rows += _neb_rows(f"{label} segment {i + 1}", segment)
    return rows


def _print_neb(title: str, labelled: list[tuple[str, Any]]) -> None:
    rows = [row for label, result in labelled for row in _neb_rows(label, result)]
    print_table(title, ["hop", "model", "barrier (eV)", "E_fwd (eV)", "E_bwd (eV)", "dE (eV)", "span (eV)",
                        "converged"], rows)
    for label, result in labelled:
        for warning in result.warnings:
            typer.echo(f"warning ({label}, {result.model}): {warning}", err=True)
        if result.plot_file:
            typer.echo(f"path: {result.path_file}  plot: {result.plot_file}")


@app.command("run")
@settings_options(NEBSettings)
def run(
    initial: str = typer.Argument(..., help="Initial structure file (any ASE-readable format)."),
    final: str = typer.Argument(..., help="Final structure file, same atoms in the same order."),
    model: Model = "chgnet",
    device: Device = "auto",
    n_images: int = IMAGES,
    settings: NEBSettings = None,
    output: str | None = OUTPUT,
    trust_model: TrustModel = False,
    json_output: JsonOutput = False,
) -> None:
    """NEB between two structures: relax endpoints, IDPP path, climbing image, barriers and checks."""
    import sys

    from ssbkit.potentials import load
    from ssbkit.workflows.neb import neb

    start, end = read_atoms(initial), read_atoms(final)
    result = neb(start, end, load(model, device=device, task="neb", trust_model=trust_model), settings,
                 output_dir=output, model=model, progress=sys.stderr.isatty() and not json_output)
    if json_output:
        emit_json(result)
    else:
        _print_neb(f"NEB {initial} -> {final}", [("hop", result)])


@app.command("study")
@settings_options(NEBSettings, exclude=("moving_index",))
def study(
    name: str = typer.Argument(..., help="w-bulk-tt, w-bulk-tot, w110-long-bridge, w110-short-bridge, "
                               "mg-interstitial-c, mg-interstitial-basal, mg-vacancy-basal, mg-vacancy-c, "
                               "li-vacancy, llzo-bulk, llzo-gb-along, llzo-gb-across."),
    models: Models = ["chgnet"],
    committee: str | None = typer.Option(None, "--committee",
                                         help="offline: every model whose weights ship in the install "
                                              "(chgnet, sevennet-0, sevennet-l3i5, chgnet-r2scan), instead of -m."),
    device: Device = "auto",
    full: bool = typer.Option(False, "--full", help="Production-size cells instead of small ones."),
    n_images: int = IMAGES,
    resolve_minima: bool = typer.Option(True, "--resolve-minima/--no-resolve-minima",
                                        help="Re-run the NEB between intermediate minima."),
    settings: NEBSettings = None,
    output: str | None = OUTPUT,
    trust_model: TrustModel = False,
    json_output: JsonOutput = False,
) -> None:
    """A built-in Li hop (W, Mg, Li, LLZO) with one model or a committee, next to the published barrier.

    With several models: each model's barrier, the committee's mean ± standard deviation, the site each
    model finds lowest, and caveats where they disagree. A model that fails is reported and the others go
    on; the exit code is then 1.
    """
    import dataclasses
    import sys

    from ssbkit.errors import CalculationError
    from ssbkit.interfaces.structures.hop_studies import build_study
    from ssbkit.potentials import load
    from ssbkit.workflows.committee import committee_models
    from ssbkit.workflows.neb_committee import neb_committee

    names = committee_models(committee if committee is not None else models)
    hop = build_study(name, full=full)
    result = neb_committee(
        hop.initial, hop.final, names, lambda model: load(model, device=device, task="neb", trust_model=trust_model),
        {**dataclasses.asdict(settings), "moving_index": hop.moving_index,
         "progress": sys.stderr.isatty() and not json_output},
        reference_barrier=hop.reference_barrier, reference_source=hop.reference_source, output_dir=output)
    if len(names) == 1 and result.failures:
        raise CalculationError(f"{hop.name} with {names[0]}: {result.failures[0].reason}")
    if json_output:
        emit_json({"study": hop.name, "description": hop.description,
                   "reference_barrier": hop.reference_barrier, "reference_source": hop.reference_source,
                   "results": list(result.results.values()), "committee": result})
    else:
        _print_neb(hop.description, [(hop.name, r) for r in result.results.values()])
        if len(names) > 1:
            _print_committee(result)
        elif hop.reference_barrier is not None:
            typer.echo(f"published: {hop.reference_barrier} eV ({hop.reference_source})")
    if result.failures:
        raise typer.Exit(1)


def _print_committee(result: Any) -> None:
    sites = ", ".join(f"{model}: {site}" for model, site in result.stable_site.items())
    rows = [["lowest site on the path", sites or "n/a"]]
    if result.reference_barrier_eV is not None:
        rows.append(["published", f"{result.reference_barrier_eV:.3f} eV ({result.reference_source})"])
    print_committee([result.barrier, result.reaction_energy], result.failures, result.caveats, rows)
    if result.plot_file:
        typer.echo(f"profiles: {result.plot_file}")


@app.command("check")
def check(
    path: Annotated[Path, typer.Argument(help="The ML path: the folder of `ssbkit neb run -o DIR` (its "
                                         "neb_path.extxyz) or a file of the images in order with their ML "
                                         "energies and forces.")],
    reference: Reference,
    reference_settings: ReferenceSettings = None,
    labels: Annotated[Path | None, typer.Option("--labels", callback=checked_output,
                                                help="Also write the reference labels to this .extxyz file.")] = None,
    plot: Plot = None,
    json_output: JsonOutput = False,
) -> None:
    """Reference single points on the images of an ML NEB path: the reference energy profile along it, the
    difference at the saddle and the ML force errors."""
    import sys

    from ssbkit.io import read_structures
    from ssbkit.workflows.reference import check_path, load_reference_settings, plot_path_check

    images = [atoms for _, atoms in read_structures(path / "neb_path.extxyz" if path.is_dir() else path)]
    result = check_path(images, reference, load_reference_settings(reference_settings),
                        progress=sys.stderr.isatty() and not json_output)
    if labels:
        result.labels.write_extxyz(labels)
    if plot:
        result.plot_file = plot_path_check(result, plot)
    if json_output:
        emit_json(result)
        return
    ml = result.ml_energies_eV or [None] * result.n_images
    errors = result.force_mae_per_image_eV_per_A or [None] * result.n_images
    print_table(f"{reference} along the ML path {path}", ["image", "s (Å)", "E ML (eV)", f"E {reference} (eV)",
                                                          "force MAE (eV/Å)"],
                [[i, s, e_ml, e_ref, error] for i, (s, e_ml, e_ref, error) in enumerate(
                    zip(result.reaction_coordinate_A, ml, result.reference_energies_eV, errors))])
    print_table("ML path vs reference", ["quantity", "value"], [
        ["ML barrier (eV)", result.ml_barrier_eV], [f"{reference} barrier along the ML path (eV)",
                                                    result.reference_barrier_eV],
        [f"{reference} - ML at the saddle, image {result.saddle_index} (eV)", result.saddle_difference_eV],
        ["force MAE (eV/Å)", result.force_mae_eV_per_A], ["largest force error (eV/Å)",
                                                          result.force_max_error_eV_per_A],
        ["reference time (s)", result.wall_time_s]])
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if result.plot_file:
        typer.echo(f"plot: {result.plot_file}")


def _radii(text: str) -> list[float | None]:
    """Comma list of radii (Å); 'whole' is the whole cell."""
    from ssbkit.errors import InputError

    try:
        return [None if item.strip() == "whole" else float(item) for item in text.split(",") if item.strip()]
    except ValueError as exc:
        raise InputError(f"--check-radius takes radii in Å and 'whole', e.g. 6,8,10,whole; got {text!r}") from exc


@app.command("gb-barriers")
@settings_options(NEBSettings, exclude=("moving_index",))
def gb_barriers_command(
    structure: str | None = typer.Option(None, "--structure", "-s",
                                         help="LLZO cell to build everything from, e.g. one ensemble member "
                                              "(default: the Ewald-ordered cubic cell)."),
    models: Models = ["chgnet"],
    committee: str | None = typer.Option(None, "--committee",
                                         help="offline: every model whose weights ship in the install, instead of -m."),
    device: Device = "auto",
    n_images: int = IMAGES,
    relax_radius_A: float = typer.Option(8.0, "--relax-radius", help="Relax only atoms within this radius (Å) of "
                                         "each hop; the rest stay fixed."),
    expand_times: int = typer.Option(1, "--expand-times", help="CSL periods per grain (1: the thinnest)."),
    bicrystal: str | None = typer.Option(None, "--bicrystal", help="Start from this relaxed bicrystal (the "
                                         "bicrystal.extxyz of an earlier run) instead of relaxing one."),
    hops: str = typer.Option("bulk,gb-along,gb-across", "--hops",
                             help="Which hops to compute, comma-separated: a kind (its --hops-per-kind shortest "
                                  "hops), or one hop by its rank, shortest first (gb-across-5)."),
    hops_per_kind: int = typer.Option(1, "--hops-per-kind", help="The K shortest distinct hops of each kind "
                                      "(bulk-2, gb-along-2, ...), reported as distributions (min, median, max)."),
    check_radius: str = typer.Option("", "--check-radius", help="Radii (Å) for the barrier-vs-radius check "
                                     "of the along-boundary hop, e.g. 6,8,10,whole (first model)."),
    check_thickness: str = typer.Option("", "--check-thickness", help="CSL periods per grain for the barrier-vs-"
                                        "thickness check of the across hop, e.g. 1,2 (first model)."),
    anneal_temperature: float | None = typer.Option(None, "--anneal-temperature",
                                                    help="Anneal the bicrystal (built or given) by MD at this "
                                                         "temperature (K) and quench it before the hops; the lower "
                                                         "minimum is kept (first model)."),
    anneal_steps: int = typer.Option(1000, "--anneal-steps", help="MD steps (1 fs) of the anneal."),
    bicrystal_steps: int = typer.Option(300, "--bicrystal-steps", help="Most LBFGS steps of each bicrystal "
                                        "relaxation (to 0.05 eV/Å; a boundary built from scratch takes ~800)."),
    settings: NEBSettings = None,
    output: str | None = OUTPUT,
    trust_model: TrustModel = False,
    json_output: JsonOutput = False,
) -> None:
    """Bulk vs sigma-5 grain-boundary Li barriers of one LLZO configuration: hops in the bulk, along and
    across the boundary, local-region NEB, committee spread, table and plot; optional convergence checks."""
    import sys

    from ssbkit.errors import InputError
    from ssbkit.potentials import load
    from ssbkit.workflows.anneal import AnnealSettings
    from ssbkit.workflows.committee import committee_models
    from ssbkit.workflows.gb_barriers import gb_barriers

    names = committee_models(committee if committee is not None else models)
    anneal_settings = (None if anneal_temperature is None else
                       AnnealSettings(temperature=anneal_temperature, steps=anneal_steps))
    try:
        thickness = [int(item) for item in check_thickness.split(",") if item.strip()]
    except ValueError as exc:
        raise InputError(f"--check-thickness takes integers such as 1,2; got {check_thickness!r}") from exc
    result = gb_barriers(None if structure is None else read_atoms(structure), names,
                         lambda model: load(model, device=device, task="neb", trust_model=trust_model), settings,
                         expand_times=expand_times, bicrystal=None if bicrystal is None else read_atoms(bicrystal),
                         hops=[hop.strip() for hop in hops.split(",") if hop.strip()], hops_per_kind=hops_per_kind,
                         radius_check=_radii(check_radius) or None,
                         thickness_check=thickness or None, anneal_settings=anneal_settings,
                         bicrystal_steps=bicrystal_steps, output_dir=output,
                         progress=sys.stderr.isatty() and not json_output)
    if json_output:
        emit_json(result)
        return
    print_table(f"Li barriers, bulk vs sigma-5 boundary ({result.expand_times} CSL period(s) per grain, "
                f"radius {result.relax_radius_A} Å)", ["hop", "atoms", "free atoms", "barrier (eV)", "± (eV)",
                                                        "final − initial (eV)", "± (eV)", *result.models],
                [[h.hop, h.n_atoms, h.n_free_atoms, h.barrier_eV, h.barrier_std_eV, h.committee.reaction_energy.mean,
                  h.committee.reaction_energy.std, *[h.committee.barrier.values.get(m) for m in result.models]]
                 for h in result.hops])
    if any(len(d.hops) + len(d.excluded) > 1 for d in result.distributions):
        print_table("barrier distributions (committee means)",
                    ["kind", "hops", "min (eV)", "median (eV)", "max (eV)", "left out"],
                    [[d.kind, len(d.hops), d.min_eV, d.median_eV, d.max_eV, ", ".join(d.excluded) or "-"]
                     for d in result.distributions])
        for d in result.distributions:
            for hop, reason in d.excluded.items():
                typer.echo(f"note: {hop} left out of the distribution: {reason}")
    for note in result.notes:
        typer.echo(f"note: {note}")
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    for hop in result.hops:
        for model, neb_result in hop.committee.results.items():
            for warning in neb_result.warnings:
                typer.echo(f"warning ({hop.hop}, {model}): {warning}", err=True)
        for failure in hop.committee.failures:
            typer.echo(f"warning ({hop.hop}, {failure.model}): {failure.reason}", err=True)
        print_caveats(hop.committee.caveats, hop.hop)
    for check in (result.radius_check, result.thickness_check):
        if check is not None:
            shifts = check.endpoint_shifts_A or [None] * len(check.values)
            print_table(f"barrier vs {check.parameter} (tolerance {check.tolerance_eV} eV)",
                        [check.parameter, "barrier (eV)", "difference (eV)", "free atoms", "model calls",
                         "endpoint shift (Å)"],
                        [list(row) for row in zip(check.values, check.barriers_eV, check.differences_eV,
                                                  check.n_free_atoms, check.n_model_calls, shifts)])
            for warning in check.warnings:
                typer.echo(f"warning: {warning}", err=True)
            typer.echo(f"{check.parameter}: converged from {check.converged_value}" if check.converged else
                       f"{check.parameter}: not converged below the reference")
    if result.table_file:
        typer.echo(f"table: {result.table_file}  plot: {result.plot_file}")


@app.command("refine")
@settings_options(RefineSettings)
def refine(
    initial: str = typer.Argument(..., help="Initial structure file (any ASE-readable format)."),
    final: str = typer.Argument(..., help="Final structure file, same atoms in the same order."),
    model: Model = "chgnet",
    reference: Reference = "emt",
    reference_settings: ReferenceSettings = None,
    committee: str | None = typer.Option(None, "--committee", help="Comma-separated models whose disagreement along "
                                         "the path picks where to add labels (e.g. chgnet,sevennet-0)."),
    n_images: int = IMAGES,
    epochs: int = typer.Option(100, "--epochs", help="Most fine-tuning epochs per round."),
    patience: int = typer.Option(20, "--patience", help="Stop fine-tuning after this many epochs without a lower "
                                 "held-out loss."),
    learning_rate: float = typer.Option(3e-3, "--learning-rate", help="Fine-tuning learning rate."),
    energy_weight: float = typer.Option(10.0, "--energy-weight", help="Weight of energies against forces in the "
                                        "fine-tuning loss; energies carry the barrier."),
    freeze: str = typer.Option("graph", "--freeze", help="Layers kept pretrained: graph (CHGNet: embeddings and "
                               "all but the last convolution; fast and stable) or none (needed for MACE)."),
    store: Path | None = typer.Option(None, "--store", help="SQLite store of the rounds (default: "
                                      "OUTPUT/refine.sqlite); rerunning resumes from it."),
    output: Path = typer.Option(Path("neb-refine"), "--output", "-o",
                                help="Folder for each round's path, labels and model."),
    device: Device = "cpu",
    settings: RefineSettings = None,
    plot: Plot = None,
    trust_model: TrustModel = False,
    json_output: JsonOutput = False,
) -> None:
    """Refine an ML barrier against a reference: ML CI-NEB, reference labels, fine-tuning, until converged.

    Each round labels the path images and small rattles of them, fine-tunes the round's model and reruns the
    CI-NEB, until the barrier changes by less than --tolerance between rounds and the model reproduces the
    reference energies along the path within it. Exit code 1 when it does not converge in --rounds.
    """
    import sys

    from ssbkit.potentials import load
    from ssbkit.potentials.finetune import FineTuneSettings
    from ssbkit.workflows.reference import load_reference_settings
    from ssbkit.workflows.refine import plot_rounds, refine_barrier

    show = sys.stderr.isatty() and not json_output
    result = refine_barrier(
        read_atoms(initial), read_atoms(final), model, reference, output, settings,
        reference_settings=load_reference_settings(reference_settings), neb_settings=NEBSettings(n_images=n_images),
        fine_tune_settings=FineTuneSettings(epochs=epochs, patience=patience, learning_rate=learning_rate,
                                            energy_weight=energy_weight, freeze=freeze, device=device),
        committee=[m.strip() for m in committee.split(",") if m.strip()] if committee else None, store=store,
        load_model=lambda name: load(name, device=device, task="neb", trust_model=trust_model),
        trust_model=trust_model, progress=(lambda line: typer.echo(line, err=True)) if show else None)
    if plot:
        result.plot_file = plot_rounds(result, plot)
    if json_output:
        emit_json(result)
    else:
        print_table(f"{model} refined against {reference}", [
            "round", "model", "ML barrier (eV)", f"{reference} on path (eV)", "path error (eV)", "labels",
            "fine-tune"], [[r.round, r.model, r.ml_barrier_eV, r.reference_barrier_on_path_eV, r.max_path_error_eV,
                            r.label_count, "" if r.fine_tune is None else
                            ("accepted" if r.fine_tune["accepted"] else "refused")] for r in result.rounds])
        if result.reference_neb is not None:
            typer.echo(f"{reference} CI-NEB from the refined path: {result.reference_neb.barrier_eV:.3f} eV")
        typer.echo(result.message)
        typer.echo(f"final model: {result.final_model}  store: {result.store}")
        if result.plot_file:
            typer.echo(f"plot: {result.plot_file}")
    if not result.converged:
        raise typer.Exit(1)
