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

OUTPUT_OPTION = typer.Option(None, "-o", "--output", help="Write the structure to this .extxyz or .cif file.")


def _summary(result: Any, drop: tuple[str, ...] = ("atoms", "start", "end")) -> dict:
    """A result as JSON-ready dict without its (large) structures."""
    return {k: v for k, v in jsonable(result).items() if k not in drop}


@build_app.command("slab")
def build_slab_command(
    bulk: str = typer.Argument(..., help="Bulk: CIF/POSCAR/extxyz file, element symbol, llzo-cubic, llzo-tetragonal."),
    miller: str = typer.Option(..., "--miller", "-m", help="Miller index, e.g. 110, 1,1,0 or 10-10."),
    layers: int = typer.Option(4, help="Thickness in d_hkl repeat units."),
    thickness: float = typer.Option(None, help="Thickness in Å (overrides --layers)."),
    vacuum: float = typer.Option(15.0, help="Vacuum (Å)."),
    termination: int = typer.Option(0, help="Termination index to write (see the table)."),
    symmetric: bool = typer.Option(False, help="Top and bottom surfaces equivalent."),
    fix_bottom: int = typer.Option(0, help="Fix this many bottom atomic layers."),
    output: str = OUTPUT_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """List the distinct terminations of a slab and write one (-o)."""
    from ssbkit.errors import InputError
    from ssbkit.interfaces.structures.bulk import load_bulk, write_structures
    from ssbkit.interfaces.structures.slabs import slab_terminations

    terms = slab_terminations(load_bulk(bulk), miller, layers=layers, thickness_A=thickness, vacuum_A=vacuum,
                              symmetric=symmetric, fix_bottom_layers=fix_bottom)
    if not 0 <= termination < len(terms):
        raise InputError(f"termination {termination} does not exist; choose 0-{len(terms) - 1}")
    if output:
        write_structures(output, terms[termination].atoms)
    if json_output:
        emit_json({"output": output, "terminations": [_summary(t) for t in terms]})
        return
    print_table(f"{bulk} ({miller}) terminations", ["#", "top", "bottom", "atoms", "area Å²", "thick Å", "symmetric",
                                                   "polar", "stoich."],
                [[t.index, t.top, t.bottom, t.n_atoms, t.area_A2, t.thickness_A, t.symmetric, t.polar,
                  t.stoichiometric] for t in terms])
    if output:
        typer.echo(f"wrote termination {termination} to {output}")


@build_app.command("interface")
def build_interface_command(
    film: str = typer.Argument(..., help="Film bulk (file, element, llzo-cubic, llzo-tetragonal)."),
    substrate: str = typer.Argument(..., help="Substrate bulk."),
    film_miller: str = typer.Option(..., help="Film Miller index."),
    substrate_miller: str = typer.Option(..., help="Substrate Miller index."),
    max_area: float = typer.Option(150.0, help="Largest supercell area (Å²)."),
    max_strain: float = typer.Option(0.05, help="Largest lattice mismatch (fraction)."),
    match: int = typer.Option(0, help="Match index to build (see the table)."),
    termination: int = typer.Option(0, help="Termination-pair index to build."),
    film_layers: int = typer.Option(3, help="Film thickness (d_hkl units)."),
    substrate_layers: int = typer.Option(3, help="Substrate thickness (d_hkl units)."),
    gap: float = typer.Option(2.0, help="Film-substrate gap (Å)."),
    vacuum: float = typer.Option(15.0, help="Vacuum over the film (Å)."),
    output: str = OUTPUT_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Table of lattice matches of FILM on SUBSTRATE; build one with -o."""
    from ssbkit.interfaces.structures.bulk import load_bulk, write_structures
    from ssbkit.interfaces.structures.heterointerfaces import build_interface, find_matches

    film_bulk, substrate_bulk = load_bulk(film), load_bulk(substrate)
    search = find_matches(film_bulk, substrate_bulk, film_miller, substrate_miller, max_area=max_area,
                          max_strain=max_strain, film_layers=film_layers, substrate_layers=substrate_layers)
    built = None
    if output:
        built = build_interface(film_bulk, substrate_bulk, film_miller, substrate_miller, match=match,
                                termination=termination, film_layers=film_layers, substrate_layers=substrate_layers,
                                gap_A=gap, vacuum_A=vacuum, max_area=max_area, max_strain=max_strain)
        write_structures(output, built)
    if json_output:
        emit_json({"output": output, "n_atoms": len(built) if built is not None else None, **jsonable(search)})
        return
    print_table(f"{search.film}{search.film_miller} on {search.substrate}{search.substrate_miller}",
                ["#", "area Å²", "strain % (vM)", "max strain %", "atoms"],
                [[m.index, m.area_A2, m.von_mises_strain_pct, m.max_strain_pct, m.n_atoms] for m in search.matches])
    print_table("terminations (film | substrate)", ["#", "pair"], [[i, t] for i, t in enumerate(search.terminations)])
    if built is not None:
        typer.echo(f"wrote {built.get_chemical_formula()} ({len(built)} atoms) to {output}")


@build_app.command("gb")
def build_gb_command(
    bulk: str = typer.Argument(..., help="Bulk (file, element, llzo-cubic, llzo-tetragonal)."),
    sigma: int = typer.Option(..., help="CSL sigma."),
    axis: str = typer.Option(..., help="Rotation axis, e.g. 001."),
    plane: str = typer.Option(None, help="Boundary plane, e.g. 310 (default: twist, plane normal to axis)."),
    angle: float = typer.Option(None, help="Rotation angle (deg) if the sigma has several."),
    expand: int = typer.Option(2, help="Grain thickness in CSL periods."),
    min_distance: float = typer.Option(None, help="Shortest allowed distance (Å)."),
    output: str = OUTPUT_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Build a periodic CSL grain boundary bicrystal."""
    from ssbkit.interfaces.structures.bulk import load_bulk, write_structures
    from ssbkit.interfaces.structures.grain_boundaries import build_grain_boundary
    from ssbkit.interfaces.structures.slabs import parse_miller

    result = build_grain_boundary(load_bulk(bulk, cubic=True), sigma, parse_miller(axis),
                                  parse_miller(plane) if plane else None, angle_deg=angle, expand_times=expand,
                                  min_distance_A=min_distance)
    if output:
        write_structures(output, result.atoms)
    if json_output:
        emit_json({"output": output, **_summary(result)})
        return
    print_table(f"sigma {result.sigma} {result.gb_type} boundary of {bulk}",
                ["axis", "angle °", "plane", "area Å²", "atoms", "min dist Å", "charge", "stoich.", "opening Å"],
                [[result.rotation_axis, result.rotation_angle_deg, result.plane, result.area_A2, result.n_atoms,
                  result.min_distance_A, result.net_charge, result.stoichiometric, result.opening_A]])
    if output:
        typer.echo(f"wrote {output}")


@build_app.command("sites")
def build_sites_command(
    structure: str = typer.Argument(..., help="Structure (file, element, llzo-cubic, llzo-tetragonal)."),
    species: str = typer.Option("Li", help="Migrating species."),
    mechanism: str = typer.Option("vacancy", help="vacancy or interstitial."),
    max_hop: float = typer.Option(3.5, help="Longest hop (Å)."),
    supercell: float = typer.Option(8.0, help="Smallest supercell width for the hop endpoints (Å)."),
    output: str = OUTPUT_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Distinct Li sites and migration hops; -o writes start/end of every hop as extxyz frames."""
    from ssbkit.errors import InputError
    from ssbkit.interfaces.structures.bulk import load_bulk, write_structures
    from ssbkit.interfaces.structures.sites import interstitial_sites, migration_hops, vacancy_sites

    atoms = load_bulk(structure)
    if mechanism == "interstitial":
        sites = interstitial_sites(atoms, species=species)
    elif mechanism == "vacancy":
        sites = vacancy_sites(atoms, species=species)
    else:
        raise InputError(f"unknown mechanism {mechanism!r}; choose vacancy or interstitial")
    hops = migration_hops(atoms, species=species, mechanism=mechanism, max_length=max_hop,
                          supercell_min_length=supercell)
    if output:
        frames = []
        for number, hop in enumerate(hops):
            for role, image in (("start", hop.start), ("end", hop.end)):
                frame = image.copy()
                frame.info.update(hop=number, role=role, length_A=hop.length_A, kind=hop.kind,
                                  start_label=hop.start_label, end_label=hop.end_label, moving_index=hop.moving_index)
                frames.append(frame)
        write_structures(output, frames)
    if json_output:
        emit_json({"output": output, "sites": jsonable(sites), "hops": [_summary(h) for h in hops]})
        return
    print_table(f"{species} {mechanism} sites", ["label", "kind", "coord.", "nearest Å", "multiplicity"],
                [[s.label, s.kind, s.coordination, s.nearest_distance, s.multiplicity] for s in sites])
    print_table("distinct hops", ["#", "from", "to", "length Å", "per cell", "clearance Å", "atoms"],
                [[i, h.start_label, h.end_label, h.length_A, h.multiplicity, h.midpoint_clearance, len(h.start)]
                 for i, h in enumerate(hops)])
    if output:
        typer.echo(f"wrote {2 * len(hops)} frames (start, end per hop) to {output}")


@app.command("adhesion")
def adhesion_command(
    interface: str = typer.Argument(..., help="Interface extxyz with an interface_part array (ssbkit build interface)."),
    model: str = typer.Option("chgnet", help="Potential (ssbkit.potentials.load name)."),
    device: str = typer.Option("auto", help="cpu, cuda or auto."),
    film_bulk: str = typer.Option(None, help="Film bulk, for surface and interface energies."),
    substrate_bulk: str = typer.Option(None, help="Substrate bulk, for surface and interface energies."),
    relax: bool = typer.Option(True, help="Relax positions of interface, film and substrate."),
    fmax: float = typer.Option(0.05, help="Force convergence (eV/Å)."),
    steps: int = typer.Option(300, help="Largest number of optimizer steps."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Work of adhesion and interface energy (J/m²) of a built interface."""
    import contextlib
    import sys

    from ase.io import read

    from ssbkit.errors import InputError
    from ssbkit.interfaces.structures.bulk import load_bulk
    from ssbkit.potentials import load
    from ssbkit.workflows.adhesion import adhesion

    try:
        atoms = read(interface, index=-1)
    except Exception as exc:
        raise InputError(f"cannot read an interface from {interface}: {exc}") from exc
    with contextlib.redirect_stdout(sys.stderr):  # model banners must not reach stdout (--json)
        calculator = load(model, device=device)
    result = adhesion(atoms, calculator,
                      film_bulk=load_bulk(film_bulk) if film_bulk else None,
                      substrate_bulk=load_bulk(substrate_bulk) if substrate_bulk else None,
                      relax_positions=relax, fmax=fmax, steps=steps)
    if json_output:
        emit_json(result)
        return
    print_table(f"adhesion of {atoms.get_chemical_formula()} ({model})", ["quantity", "value"],
                [["work of adhesion (J/m²)", result.work_of_adhesion_J_m2],
                 ["interface energy (J/m²)", result.interface_energy_J_m2 if result.interface_energy_J_m2 is not None else "-"],
                 ["film surface energy (J/m²)", result.film_surface_energy_J_m2 if result.film_surface_energy_J_m2 is not None else "-"],
                 ["substrate surface energy (J/m²)", result.substrate_surface_energy_J_m2 if result.substrate_surface_energy_J_m2 is not None else "-"],
                 ["area (Å²)", result.area_A2], ["converged", result.converged]])



# --- diffusion (issue 7) ---


# --- NEB (issue 10) ---


def main() -> None:
    """Console-script entry point."""
    app()
