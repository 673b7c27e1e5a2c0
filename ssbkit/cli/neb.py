"""``ssbkit neb``: climbing-image NEB for Li hops, all images evaluated as one batch."""

from typing import Any

import typer

from ssbkit.cli.types import (
    Device,
    JsonOutput,
    Model,
    Models,
    TrustModel,
    command_group,
    emit_json,
    print_committee,
    print_table,
    read_atoms,
    settings_options,
)
from ssbkit.workflows.neb import NEBSettings

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
