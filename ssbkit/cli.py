"""The ``ssbkit`` command. Every subcommand has ``--help``; ``--json`` prints one JSON document on
stdout and nothing else; user errors print one line on stderr and exit with code 2."""

from __future__ import annotations

import json
from pathlib import Path
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


# entries from structures (issue 9)


@entries_app.command("from-structures")
def entries_from_structures_command(
    files: list[Path] = typer.Argument(..., help="Structure files (CIF, POSCAR, extxyz, pymatgen JSON) or folders."),
    output: Path = typer.Option(..., "-o", "--output", help="Entries file to write (.json or .json.gz)."),
    model: str = typer.Option("chgnet", "--model", help="Potential from `ssbkit potentials list`."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto."),
    mp2020: bool | None = typer.Option(None, "--mp2020/--no-mp2020",
                                       help="Add MP2020 corrections (default: decided per model)."),
    formation_energies: bool = typer.Option(
        False, "--formation-energies",
        help="Write formation energies (elements at 0) to combine with the experimental source."),
    fmax: float = typer.Option(0.05, "--fmax", help="Force threshold of the relaxation (eV/Å)."),
    steps: int = typer.Option(500, "--steps", help="Maximum relaxation steps."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Relax structures with an ML potential and write entries on the Materials Project energy scale."""
    import sys

    from ssbkit.interfaces.mlip import (
        entries_from_structures,
        formation_energy_entries,
        read_structures,
        write_entries,
    )
    from ssbkit.potentials import load

    named = [pair for path in files for pair in read_structures(path)]
    calculator = load(model, device=device)
    entries = entries_from_structures([s for _, s in named], calculator, names=[n for n, _ in named],
                                      mp2020_corrections=mp2020, fmax=fmax, steps=steps,
                                      progress=sys.stderr.isatty() and not json_output)
    write_entries(formation_energy_entries(entries) if formation_energies else entries, output)
    columns = ["name", "formula", "formation_energy_eV_per_atom", "relax_steps", "volume_change"]
    rows = [[e.data["name"], e.composition.reduced_formula, e.data["formation_energy_per_atom"],
             e.data["relax_steps"], e.data["volume_change"]] for e in entries]
    if json_output:
        emit_json({"output": str(output), "model": entries[0].data["model"],
                   "entries": [dict(zip(columns, row, strict=True)) for row in rows]})
    else:
        print_table(f"Entries from {model} -> {output}",
                    ["name", "formula", "E_form (eV/atom)", "steps", "volume change"], rows)


# --- potentials: list, check, compare, fit (issue 4) ---


# --- runner: run, status, results, submit (issue 5) ---


# --- structures: build slab/interface/gb/sites, adhesion (issue 6) ---


# reference structures (issue 9)


@build_app.command("reference")
def build_reference(
    name: str = typer.Argument(..., help="Library name, e.g. Li6PS5Cl (see `ssbkit build references`)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output file: .cif, .vasp/POSCAR, .json or .extxyz."),
    disordered: bool = typer.Option(False, "--disordered", help="Keep partial occupancies (CIF/JSON only)."),
    primitive: bool = typer.Option(False, "--primitive", help="Write the primitive cell."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Write a reference crystal structure from the literature library."""
    from ssbkit.interfaces.library import load_reference_structure, reference_structure_info, write_structure

    info = reference_structure_info(name)
    structure = load_reference_structure(name, ordered=not disordered)
    if primitive:
        structure = structure.get_primitive_structure()
    write_structure(structure, output)
    if json_output:
        emit_json({**info.to_dict(), "output": str(output), "n_sites": len(structure)})
    else:
        typer.echo(f"wrote {info.name} ({structure.composition.formula}, {len(structure)} sites) to {output}")
        typer.echo(f"source: {info.source}")


@build_app.command("references")
def build_references(json_output: bool = JSON_OPTION) -> None:
    """List the reference structures with their space group and literature source."""
    from ssbkit.interfaces.library import list_reference_structures

    infos = list_reference_structures()
    if json_output:
        emit_json(infos)
        return
    print_table("Reference structures", ["name", "category", "space group", "ordering", "source"],
                [[i.name, i.category, i.space_group, "Ewald" if i.disordered else "-", i.source] for i in infos])


# --- diffusion (issue 7) ---


# --- NEB (issue 10) ---


def main() -> None:
    """Console-script entry point."""
    app()
