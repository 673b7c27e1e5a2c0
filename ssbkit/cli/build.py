"""``ssbkit build``: slabs, hetero-interfaces, grain boundaries, Li sites and reference structures."""

from pathlib import Path
from typing import Annotated, Any

import typer

from ssbkit.cli.types import JsonOutput, Output, checked_output, command_group, emit_json, print_table
from ssbkit.interfaces.structures import MAX_ATOMS

app = command_group("Build slabs, interfaces, grain boundaries and Li sites.")

MaxAtoms = Annotated[int, typer.Option("--max-atoms", help="Refuse to build a structure estimated to hold more "
                                                            "atoms (counted before primitive reduction).")]


def _summary(result: Any, drop: tuple[str, ...] = ("atoms", "start", "end")) -> dict:
    """A result as JSON-ready dict without its (large) structures."""
    from ssbkit.results import jsonable

    return {k: v for k, v in jsonable(result).items() if k not in drop}


@app.command("slab")
def slab(
    bulk: str = typer.Argument(..., help="Bulk: CIF/POSCAR/extxyz file, element symbol, llzo-cubic, llzo-tetragonal."),
    miller: str = typer.Option(..., "--miller", "-m", help="Miller index, e.g. 110, 1,1,0 or 10-10."),
    layers: int = typer.Option(4, help="Thickness in d_hkl repeat units."),
    thickness: float = typer.Option(None, help="Thickness in Å (overrides --layers)."),
    vacuum: float = typer.Option(15.0, help="Vacuum (Å)."),
    termination: int = typer.Option(0, help="Termination index to write (see the table)."),
    symmetric: bool = typer.Option(False, help="Top and bottom surfaces equivalent."),
    fix_bottom: int = typer.Option(0, help="Fix this many bottom atomic layers."),
    max_atoms: MaxAtoms = MAX_ATOMS,
    output: Output = None,
    json_output: JsonOutput = False,
) -> None:
    """List the distinct terminations of a slab and write one (-o)."""
    from ssbkit.errors import InputError
    from ssbkit.interfaces.structures.bulk import load_bulk, write_structures
    from ssbkit.interfaces.structures.slabs import slab_terminations

    terms = slab_terminations(load_bulk(bulk), miller, layers=layers, thickness_A=thickness, vacuum_A=vacuum,
                              symmetric=symmetric, fix_bottom_layers=fix_bottom, max_atoms=max_atoms)
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


@app.command("interface")
def interface(
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
    max_atoms: MaxAtoms = MAX_ATOMS,
    output: Output = None,
    json_output: JsonOutput = False,
) -> None:
    """Table of lattice matches of FILM on SUBSTRATE; build one with -o."""
    from ssbkit.interfaces.structures.bulk import load_bulk, write_structures
    from ssbkit.interfaces.structures.heterointerfaces import build_interface, find_matches
    from ssbkit.results import jsonable

    film_bulk, substrate_bulk = load_bulk(film), load_bulk(substrate)
    search = find_matches(film_bulk, substrate_bulk, film_miller, substrate_miller, max_area=max_area,
                          max_strain=max_strain, film_layers=film_layers, substrate_layers=substrate_layers,
                          max_atoms=max_atoms)
    built = None
    if output:
        built = build_interface(film_bulk, substrate_bulk, film_miller, substrate_miller, match=match,
                                termination=termination, film_layers=film_layers, substrate_layers=substrate_layers,
                                gap_A=gap, vacuum_A=vacuum, max_area=max_area, max_strain=max_strain,
                                max_atoms=max_atoms)
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


@app.command("gb")
def grain_boundary(
    bulk: str = typer.Argument(..., help="Bulk (file, element, llzo-cubic, llzo-tetragonal)."),
    sigma: int = typer.Option(..., help="CSL sigma."),
    axis: str = typer.Option(..., help="Rotation axis, e.g. 001."),
    plane: str = typer.Option(None, help="Boundary plane, e.g. 310 (default: twist, plane normal to axis)."),
    angle: float = typer.Option(None, help="Rotation angle (deg) if the sigma has several."),
    expand: int = typer.Option(2, help="Grain thickness in CSL periods."),
    min_distance: float = typer.Option(None, help="Shortest allowed distance (Å)."),
    output: Output = None,
    json_output: JsonOutput = False,
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


@app.command("sites")
def sites(
    structure: str = typer.Argument(..., help="Structure (file, element, llzo-cubic, llzo-tetragonal)."),
    species: str = typer.Option("Li", help="Migrating species."),
    mechanism: str = typer.Option("vacancy", help="vacancy or interstitial."),
    max_hop: float = typer.Option(3.5, help="Longest hop (Å)."),
    supercell: float = typer.Option(8.0, help="Smallest supercell width for the hop endpoints (Å)."),
    output: Output = None,
    json_output: JsonOutput = False,
) -> None:
    """Distinct Li sites and migration hops; -o writes start/end of every hop as extxyz frames."""
    from ssbkit.errors import InputError
    from ssbkit.interfaces.structures.bulk import load_bulk, write_structures
    from ssbkit.interfaces.structures.sites import interstitial_sites, migration_hops, vacancy_sites
    from ssbkit.results import jsonable

    atoms = load_bulk(structure)
    if mechanism == "interstitial":
        found = interstitial_sites(atoms, species=species)
    elif mechanism == "vacancy":
        found = vacancy_sites(atoms, species=species)
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
        emit_json({"output": output, "sites": jsonable(found), "hops": [_summary(h) for h in hops]})
        return
    print_table(f"{species} {mechanism} sites", ["label", "kind", "coord.", "nearest Å", "multiplicity"],
                [[s.label, s.kind, s.coordination, s.nearest_distance, s.multiplicity] for s in found])
    print_table("distinct hops", ["#", "from", "to", "length Å", "per cell", "clearance Å", "atoms"],
                [[i, h.start_label, h.end_label, h.length_A, h.multiplicity, h.midpoint_clearance, len(h.start)]
                 for i, h in enumerate(hops)])
    if output:
        typer.echo(f"wrote {2 * len(hops)} frames (start, end per hop) to {output}")


@app.command("reference")
def reference(
    name: str = typer.Argument(..., help="Library name, e.g. Li6PS5Cl (see `ssbkit build references`)."),
    output: Path = typer.Option(..., "-o", "--output", callback=checked_output,
                                help="Output file: .cif, .vasp/POSCAR, .json or .extxyz."),
    disordered: bool = typer.Option(False, "--disordered", help="Keep partial occupancies (CIF/JSON only)."),
    primitive: bool = typer.Option(False, "--primitive", help="Write the primitive cell."),
    json_output: JsonOutput = False,
) -> None:
    """Write a reference crystal structure from the literature library."""
    from ssbkit.interfaces.structures.references import (
        load_reference_structure,
        reference_structure_info,
        write_structure,
    )

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


@app.command("references")
def references(json_output: JsonOutput = False) -> None:
    """List the reference structures with their space group and literature source."""
    from ssbkit.interfaces.structures.references import list_reference_structures

    infos = list_reference_structures()
    if json_output:
        emit_json(infos)
        return
    print_table("Reference structures", ["name", "category", "space group", "ordering", "source"],
                [[i.name, i.category, i.space_group, "Ewald" if i.disordered else "-", i.source] for i in infos])


@app.command("ensemble")
def ensemble(
    parent: str = typer.Argument(..., help="Disordered parent: library name (LLZTO, Al-LLZO, Ga-LLZO, "
                                           "Li6PS5Cl-disordered, ...) or a CIF with partial occupancies."),
    output: Path = typer.Option(..., "-o", "--output", help="Output directory: one extxyz per configuration "
                                                             "and ensemble.json."),
    supercell: str = typer.Option("1,1,1", help="Repeats of the parent cell, e.g. 1,1,1 or 2,1,1."),
    configurations: int = typer.Option(4, "--configurations", "-n", help="Number of distinct configurations."),
    method: str = typer.Option("ewald", help="ewald (low Ewald energy) or sqs (special quasirandom, icet)."),
    seed: int = typer.Option(0, help="Random seed (same seed, same members)."),
    exclusion: float = typer.Option(2.0, help="No two atoms on partially occupied sites closer than this (Å)."),
    sweeps: int = typer.Option(20, help="Monte Carlo swap attempts per variable site, per member."),
    json_output: JsonOutput = False,
) -> None:
    """Ordered configurations of a disordered parent: exact composition, neutral, exclusion rule obeyed."""
    import sys

    from ssbkit.errors import InputError
    from ssbkit.interfaces.structures.ensembles import (
        EnsembleSettings,
        build_ensemble,
        load_parent,
        write_ensemble,
    )

    try:
        repeats = tuple(int(part) for part in supercell.replace("x", ",").split(","))
    except ValueError:
        raise InputError(f"--supercell takes three integers such as 1,1,1, not {supercell!r}") from None
    settings = EnsembleSettings(method=method, seed=seed, exclusion_distance_A=exclusion, sweeps=sweeps)
    name = None if Path(parent).is_file() else parent
    result = build_ensemble(load_parent(parent), repeats, configurations, settings, name=name,
                            progress=not json_output and sys.stderr.isatty())
    files = write_ensemble(result, output)
    if json_output:
        emit_json({"output": str(output), "files": [str(f) for f in files], **result.summary()})
        return
    print_table(f"{result.name}: {len(result.members)} {result.method} configurations of {result.formula} "
                f"({result.n_atoms} atoms)", ["configuration", "Ewald eV", "ΔE meV/atom", "SQS score", "min dist Å"],
                [[m.configuration, m.ewald_energy_eV,
                  (m.ewald_energy_eV - min(x.ewald_energy_eV for x in result.members)) / result.n_atoms * 1000,
                  m.sqs_score, m.min_distance_A] for m in result.members])
    typer.echo(f"exclusion: {result.exclusion_rule}")
    typer.echo(f"wrote {len(files)} files to {output}")
