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

diffusion_app = _typer("Li diffusion from replica MD: D(T), activation energy, room-temperature conductivity.")
app.add_typer(diffusion_app, name="diffusion")


def _grain_boundary(planes: str | None, axis: int, width: float):
    from ssbkit.errors import InputError
    from ssbkit.workflows.diffusion import GrainBoundaryRegion

    if not planes:
        return None
    try:
        fractions = tuple(float(value) for value in planes.split(","))
    except ValueError as exc:
        raise InputError(f"--gb-planes takes comma-separated fractional coordinates, got {planes!r}") from exc
    return GrainBoundaryRegion(planes=fractions, axis=axis, width=width)


def _report_diffusion(result, json_output: bool) -> None:
    if json_output:
        emit_json(result)
        return
    rows = []
    for entry in result.per_temperature:
        rows.append([entry.temperature, entry.diffusivity, entry.diffusivity_std, entry.conductivity,
                     entry.duration_ps, "all"])
        rows += [[entry.temperature, region.diffusivity, region.diffusivity_std, "", entry.duration_ps,
                  f"{region.region} ({region.n_ions} {result.species})"] for region in entry.regions]
    print_table(f"{result.species} tracer diffusion",
                ["T (K)", "D (cm²/s)", "± (cm²/s)", "σ (mS/cm)", "production (ps)", "ions"], rows)
    if result.arrhenius is not None:
        fit = result.arrhenius
        error = "n/a" if fit.activation_energy_std is None else f"{fit.activation_energy_std:.3f}"
        typer.echo(f"Ea = {fit.activation_energy:.3f} ± {error} eV; at {fit.temperature:g} K: "
                   f"D = {fit.diffusivity:.3g} cm²/s, σ = {fit.conductivity:.3g} mS/cm")
    for note in result.notes:
        typer.echo(f"note: {note}")
    for name, path in result.plots.items():
        typer.echo(f"{name} plot: {path}")


@diffusion_app.command("run")
def diffusion_run(
    structure: str = typer.Argument(..., help="Structure file (CIF, POSCAR, extxyz, ...)."),
    temperatures: list[float] = typer.Option(..., "--temperature", "-t", help="Temperature (K); repeat."),
    model: str = typer.Option("chgnet", help="Potential: chgnet, sevennet-0, mace:PATH."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    supercell: str = typer.Option("1,1,1", help="Repeat the cell, e.g. 2,2,2."),
    timestep: float = typer.Option(2.0, help="Time step (fs)."),
    friction: float = typer.Option(0.002, help="Langevin friction (1/fs); 0.002 = 500 fs relaxation time."),
    equilibration_steps: int = typer.Option(1000, help="Equilibration steps (not analysed)."),
    production_steps: int = typer.Option(10000, help="Production steps."),
    save_every: int = typer.Option(10, help="Save a frame every N steps."),
    species: str = typer.Option("Li", help="Diffusing species."),
    gb_planes: str = typer.Option("", help="Grain-boundary planes, fractional along --gb-axis, e.g. 0,0.5."),
    gb_axis: int = typer.Option(2, help="Cell axis normal to the grain boundary (0, 1, 2)."),
    gb_width: float = typer.Option(3.0, help="Half-width (Å) of the grain-boundary region."),
    out: str = typer.Option("diffusion", help="Directory for trajectories, plots and diffusion.json."),
    seed: int = typer.Option(0, help="Random seed for velocities and the thermostat."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Langevin NVT MD at all temperatures at once (one batched model call per step), then D(T),
    Arrhenius Ea and extrapolated 300 K conductivity."""
    from pathlib import Path

    from ase.io import read

    from ssbkit.errors import InputError
    from ssbkit.potentials import load
    from ssbkit.workflows.diffusion import diffusion, write_result
    from ssbkit.workflows.md import check_temperatures

    check_temperatures(temperatures)
    grain_boundary = _grain_boundary(gb_planes, gb_axis, gb_width)
    try:
        atoms = read(structure)
        repeat = [int(n) for n in supercell.split(",")]
    except FileNotFoundError as exc:
        raise InputError(f"structure file {structure} does not exist") from exc
    except Exception as exc:  # ase raises many types for unreadable files
        raise InputError(f"cannot read structure {structure!r} or supercell {supercell!r}: {exc}") from exc
    result = diffusion(atoms.repeat(repeat), load(model, device=device), temperatures, out, timestep=timestep,
                       friction=friction, equilibration_steps=equilibration_steps,
                       production_steps=production_steps, save_every=save_every, species=species,
                       grain_boundary=grain_boundary, seed=seed, progress=not json_output)
    write_result(result, Path(out) / "diffusion.json")
    _report_diffusion(result, json_output)


@diffusion_app.command("analyze")
def diffusion_analyze(
    directory: str = typer.Argument(..., help="Directory with replica*.extxyz from `ssbkit diffusion run`."),
    species: str = typer.Option("Li", help="Diffusing species."),
    gb_planes: str = typer.Option("", help="Grain-boundary planes, fractional along --gb-axis, e.g. 0,0.5."),
    gb_axis: int = typer.Option(2, help="Cell axis normal to the grain boundary (0, 1, 2)."),
    gb_width: float = typer.Option(3.0, help="Half-width (Å) of the grain-boundary region."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Re-analyse saved replica trajectories (also those of a run stopped early); writes
    diffusion.json and the plots next to them."""
    from pathlib import Path

    from ssbkit.workflows.diffusion import diffusion_from_trajectories, write_result

    paths = sorted(Path(directory).glob("replica*.extxyz"))
    result = diffusion_from_trajectories(paths, species, _grain_boundary(gb_planes, gb_axis, gb_width),
                                         plot_directory=directory)
    write_result(result, Path(directory) / "diffusion.json")
    _report_diffusion(result, json_output)



# --- NEB (issue 10) ---


def main() -> None:
    """Console-script entry point."""
    app()
