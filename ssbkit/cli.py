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


# --- potentials: list, check, compare, fit (issue 4) ---

DEVICE_OPTION = typer.Option("auto", "--device", help="auto (CUDA when present), cpu or cuda[:N].")


def _read_atoms(path: Path) -> Any:
    """One structure from any file ASE reads (CIF, POSCAR, extxyz, ...); InputError otherwise."""
    from ase.io import read

    from ssbkit.errors import InputError

    if not path.is_file():
        raise InputError(f"structure file not found: {path}")
    try:
        return read(path)
    except Exception as exc:  # ASE raises many types for unreadable files
        raise InputError(f"cannot read a structure from {path}: {exc}") from exc


@potentials_app.command("list")
def potentials_list(json_output: bool = JSON_OPTION) -> None:
    """List the registered models with their model cards."""
    from ssbkit.potentials import CARDS
    from ssbkit.potentials.registry import mace_cache_path

    def weights(card: Any) -> str:
        if card.offline:
            return "in wheel"
        return "cached" if mace_cache_path(card.url).is_file() else "download"

    if json_output:
        emit_json(list(CARDS.values()))
        return
    print_table("Potentials (also mace:PATH for a local MACE file; --json for full cards)",
                ["name", "version", "training data", "licence", "elements", "weights"],
                [[c.name, c.version, c.training_data, c.license, c.elements, weights(c)]
                 for c in CARDS.values()])


@potentials_app.command("check")
def potentials_check(
    structure: Path = typer.Argument(..., help="Structure file (CIF, POSCAR, extxyz, ...)."),
    model: str = typer.Option("chgnet", "--model", "-m", help="Model name or mace:PATH."),
    device: str = DEVICE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Say whether MODEL covers every element of STRUCTURE and time one evaluation.

    Exits with code 1 when an element is not covered.
    """
    from ssbkit.potentials.assess import check_model

    result = check_model(_read_atoms(structure), model, device=device)
    if json_output:
        emit_json(result)
    elif result.covered:
        print_table(f"{result.model} on {result.formula} ({result.n_atoms} atoms)", ["quantity", "value"], [
            ["elements covered", "all"], ["load time (s)", result.load_seconds],
            ["first evaluation (s)", result.first_evaluation_seconds],
            ["evaluation (s)", result.seconds_per_evaluation],
            ["energy (eV/atom)", result.energy_per_atom], ["max force (eV/Å)", result.max_force]])
    else:
        typer.echo(f"{result.model} does not cover: {', '.join(result.missing_elements)}")
    if not result.covered:
        raise typer.Exit(1)


@potentials_app.command("compare")
def potentials_compare(
    structure: Path = typer.Argument(..., help="Structure file (CIF, POSCAR, extxyz, ...)."),
    models: str = typer.Option("chgnet,sevennet-0", "--models", help="Comma-separated model names."),
    fmax: float = typer.Option(0.05, help="Relaxation force threshold (eV/Å)."),
    steps: int = typer.Option(300, help="Maximum relaxation steps."),
    relax_cell: bool = typer.Option(True, "--relax-cell/--fixed-cell", help="Relax the cell too."),
    device: str = DEVICE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Relax STRUCTURE with each model and report the spread between them."""
    import sys

    from ssbkit.potentials.assess import compare_models

    names = [m.strip() for m in models.split(",") if m.strip()]
    result = compare_models(_read_atoms(structure), names, fmax=fmax, steps=steps, relax_cell=relax_cell,
                            device=device, progress=not json_output and sys.stderr.isatty())
    if json_output:
        emit_json(result)
        return
    rows = [[o.model, o.energy_per_atom, o.max_force, o.relaxed_energy_per_atom,
             *o.lattice[:3], o.volume_per_atom, "yes" if o.converged else f"no ({o.steps} steps)"]
            for o in result.outcomes]
    s = result.spread
    rows.append(["spread (max-min)", s["energy_per_atom"], s["max_force"], s["relaxed_energy_per_atom"],
                 s["a"], s["b"], s["c"], s["volume_per_atom"], ""])
    print_table(f"{result.formula}: input E, max force; relaxed E, lattice", [
        "model", "E (eV/atom)", "max F (eV/Å)", "relaxed E (eV/atom)", "a (Å)", "b (Å)", "c (Å)",
        "V (Å³/atom)", "converged"], rows)


@potentials_app.command("fit")
def potentials_fit(
    data: Path = typer.Argument(..., help="Labelled structures (extxyz with energies and forces)."),
    output: Path = typer.Option(Path("mace-fit"), "--output", "-o", help="Output directory."),
    foundation: str | None = typer.Option(None, help="MACE model to fine-tune (name or mace:PATH)."),
    epochs: int = typer.Option(50, help="Training epochs."),
    batch_size: int = typer.Option(4, help="Structures per training batch."),
    valid_fraction: float = typer.Option(0.2, help="Fraction held out for validation."),
    channels: int = typer.Option(32, help="MACE channels (from scratch only)."),
    max_l: int = typer.Option(1, "--max-L", help="Equivariant message order (from scratch only)."),
    r_max: float = typer.Option(5.0, help="Cutoff radius in Å (from scratch only)."),
    interactions: int = typer.Option(2, help="Message-passing layers (from scratch only)."),
    correlation: int = typer.Option(3, help="Body order minus one (from scratch only)."),
    energy_key: str = typer.Option("energy", help="info key of energies when the file has no calculator."),
    forces_key: str = typer.Option("forces", help="arrays key of forces when the file has no calculator."),
    device: str = DEVICE_OPTION,
    dtype: str = typer.Option("float64", help="float64 or float32."),
    seed: int = typer.Option(0, help="Random seed for the split and the initial weights."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Train (or fine-tune) a MACE model on DATA; write the model and a parity report."""
    from ssbkit.potentials.fit import MaceArchitecture, fit_mace

    architecture = MaceArchitecture(channels=channels, max_L=max_l, r_max=r_max,
                                    num_interactions=interactions, correlation=correlation)
    result = fit_mace(data, output, foundation=foundation, epochs=epochs, batch_size=batch_size,
                      valid_fraction=valid_fraction, architecture=architecture, device=device,
                      dtype=dtype, seed=seed, energy_key=energy_key, forces_key=forces_key,
                      verbose=not json_output)
    if json_output:
        emit_json(result)
        return
    print_table(f"MACE fit: {result.model_path}", ["set", "structures", "energy MAE (eV/atom)",
                                                   "force MAE (eV/Å)"], [
        ["train", result.n_train, result.train_energy_mae, result.train_force_mae],
        ["valid", result.n_valid, result.valid_energy_mae, result.valid_force_mae]])
    typer.echo(f"parity report: {result.report_path}, plot: {result.plot_path}")


# --- runner: run, status, results, submit (issue 5) ---


# --- structures: build slab/interface/gb/sites, adhesion (issue 6) ---


# --- diffusion (issue 7) ---


# --- NEB (issue 10) ---


def main() -> None:
    """Console-script entry point."""
    app()
