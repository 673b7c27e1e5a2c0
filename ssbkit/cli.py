"""The ``ssbkit`` command. Every subcommand has ``--help``; ``--json`` prints one JSON document on
stdout and nothing else; user errors print one line on stderr and exit with code 2."""

from __future__ import annotations

import json
from typing import Any

import click
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from ssbkit import __version__
from ssbkit.errors import SsbkitError
from ssbkit.results import jsonable

EXIT_USER_ERROR = 2


class _SsbkitGroup(TyperGroup):
    """Turns SsbkitError raised by any subcommand into one stderr line and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SsbkitError as exc:
            Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_USER_ERROR) from exc


def _typer(help_text: str) -> typer.Typer:
    return typer.Typer(cls=_SsbkitGroup, help=help_text, no_args_is_help=True,
                       pretty_exceptions_enable=False, add_completion=False)


app = _typer(__doc__.split("\n")[0])
entries_app = _typer("Entry sources: fill the offline cache, make entries from structures.")
potentials_app = _typer("ML interatomic potentials: list, check, compare, fit.")
build_app = _typer("Build slabs, interfaces, grain boundaries and Li sites.")
app.add_typer(entries_app, name="entries")
app.add_typer(potentials_app, name="potentials")
app.add_typer(build_app, name="build")

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document on stdout and nothing else.")


def emit_json(document: Any) -> None:
    """Print a result (dataclass, dict, list) as one JSON document on stdout."""
    typer.echo(json.dumps(jsonable(document), indent=2))


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """Print a human-readable table on the terminal."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    Console().print(table)


@app.command()
def version(json_output: bool = JSON_OPTION) -> None:
    """Print the ssbkit version."""
    if json_output:
        emit_json({"ssbkit": __version__})
    else:
        typer.echo(__version__)


# --- thermodynamics: window, react, screen, entries prefetch (issue 3) ---


# --- potentials: list, check, compare, fit (issue 4) ---


# --- runner: run, status, results, submit (issue 5) ---


# --- structures: build slab/interface/gb/sites, adhesion (issue 6) ---


# --- diffusion (issue 7) ---


# --- NEB (issue 10) ---

neb_app = _typer("Climbing-image NEB for Li hops, all images evaluated as one batch.")
app.add_typer(neb_app, name="neb")
_NEB_MODEL = typer.Option("chgnet", "--model", "-m", help="Model name (see `ssbkit potentials`).")
_NEB_DEVICE = typer.Option("auto", "--device", help="cpu, cuda, cuda:N or auto.")
_NEB_IMAGES = typer.Option(5, "--images", help="Interior images of the band.")
_NEB_FMAX = typer.Option(0.05, "--fmax", help="Convergence: largest NEB force (eV/Å).")
_NEB_STEPS = typer.Option(500, "--steps", help="Most optimizer steps.")
_NEB_OUTPUT = typer.Option(None, "--output", "-o", help="Folder for neb_path.extxyz and neb_profile.png.")
_NEB_RESOLVE = typer.Option(False, "--resolve-minima", help="Re-run the NEB between intermediate minima.")


def _neb_rows(label: str, result: Any) -> list[list[Any]]:
    rows = [[label, result.model, result.barrier_forward, result.barrier_backward, result.reaction_energy,
             result.energy_span, "yes" if result.converged else f"no ({result.steps} steps)"]]
    for i, segment in enumerate(result.segment_results):
        rows += _neb_rows(f"{label} segment {i + 1}", segment)
    return rows


def _print_neb(title: str, labelled: list[tuple[str, Any]]) -> None:
    rows = [row for label, result in labelled for row in _neb_rows(label, result)]
    print_table(title, ["hop", "model", "E_fwd (eV)", "E_bwd (eV)", "dE (eV)", "span (eV)", "converged"], rows)
    for label, result in labelled:
        for warning in result.warnings:
            typer.echo(f"warning ({label}, {result.model}): {warning}", err=True)
        if result.plot_file:
            typer.echo(f"path: {result.path_file}  plot: {result.plot_file}")


@neb_app.command("run")
def neb_run(
    initial: str = typer.Argument(..., help="Initial structure file (any ASE-readable format)."),
    final: str = typer.Argument(..., help="Final structure file, same atoms in the same order."),
    model: str = _NEB_MODEL,
    device: str = _NEB_DEVICE,
    images: int = _NEB_IMAGES,
    fmax: float = _NEB_FMAX,
    steps: int = _NEB_STEPS,
    climb: bool = typer.Option(True, "--climb/--no-climb", help="Climbing image."),
    moving_index: int | None = typer.Option(None, "--moving-index", help="Index of the hopping atom."),
    resolve_minima: bool = _NEB_RESOLVE,
    output: str | None = _NEB_OUTPUT,
    json_output: bool = JSON_OPTION,
) -> None:
    """NEB between two structures: relax endpoints, IDPP path, climbing image, barriers and checks."""
    import sys

    from ssbkit.potentials import load
    from ssbkit.workflows.neb import neb, read_structure

    start, end = read_structure(initial), read_structure(final)
    result = neb(start, end, load(model, device=device), n_images=images, fmax=fmax, steps=steps,
                 climb=climb, moving_index=moving_index, resolve_minima=resolve_minima, output_dir=output,
                 model=model, progress=sys.stderr.isatty() and not json_output)
    if json_output:
        emit_json(result)
    else:
        _print_neb(f"NEB {initial} -> {final}", [("hop", result)])


@neb_app.command("study")
def neb_study(
    name: str = typer.Argument(..., help="w-bulk-tt, w-bulk-tot, w110-long-bridge, w110-short-bridge, "
                               "mg-interstitial-c, mg-interstitial-basal, mg-vacancy-basal, mg-vacancy-c, "
                               "li-vacancy."),
    models: list[str] = typer.Option(["chgnet"], "--model", "-m", help="Model; repeat to compare models."),
    device: str = _NEB_DEVICE,
    full: bool = typer.Option(False, "--full", help="Production-size cells instead of small ones."),
    images: int = _NEB_IMAGES,
    fmax: float = _NEB_FMAX,
    steps: int = _NEB_STEPS,
    resolve_minima: bool = typer.Option(True, "--resolve-minima/--no-resolve-minima",
                                        help="Re-run the NEB between intermediate minima."),
    output: str | None = _NEB_OUTPUT,
    json_output: bool = JSON_OPTION,
) -> None:
    """A built-in Li hop (W, Mg, Li hosts) with one or more models, next to the published barrier."""
    import sys
    from pathlib import Path

    from ssbkit.potentials import load
    from ssbkit.workflows.neb import neb
    from ssbkit.workflows.neb_studies import build_study

    study = build_study(name, full=full)
    results = []
    for model in models:
        out = Path(output) / model if output else None
        results.append(neb(study.initial, study.final, load(model, device=device), n_images=images,
                           fmax=fmax, steps=steps, moving_index=study.moving_index,
                           resolve_minima=resolve_minima, output_dir=out, model=model,
                           progress=sys.stderr.isatty() and not json_output))
    if json_output:
        emit_json({"study": study.name, "description": study.description,
                   "reference_barrier": study.reference_barrier, "reference_source": study.reference_source,
                   "results": results})
        return
    _print_neb(study.description, [(study.name, result) for result in results])
    if study.reference_barrier is not None:
        typer.echo(f"published: {study.reference_barrier} eV ({study.reference_source})")



def main() -> None:
    """Console-script entry point."""
    app()
