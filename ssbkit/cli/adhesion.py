"""``ssbkit adhesion``: work of adhesion and interface energy of a built interface."""

import typer

from ssbkit.cli.types import Device, JsonOutput, Model, emit_json, print_table, read_atoms


def _or_dash(value: float | None) -> float | str:
    return "-" if value is None else value


def adhesion(
    interface: str = typer.Argument(..., help="Interface extxyz with an interface_part array (ssbkit build interface)."),
    model: Model = "chgnet",
    device: Device = "auto",
    film_bulk: str = typer.Option(None, help="Film bulk, for surface and interface energies."),
    substrate_bulk: str = typer.Option(None, help="Substrate bulk, for surface and interface energies."),
    relax: bool = typer.Option(True, help="Relax positions of interface, film and substrate."),
    fmax: float = typer.Option(0.05, help="Force convergence (eV/Å)."),
    steps: int = typer.Option(300, help="Largest number of optimizer steps."),
    json_output: JsonOutput = False,
) -> None:
    """Work of adhesion and interface energy (J/m²) of a built interface."""
    import sys

    from ssbkit.interfaces.structures.bulk import load_bulk
    from ssbkit.potentials import load
    from ssbkit.workflows.adhesion import adhesion as work_of_adhesion

    atoms = read_atoms(interface)
    calculator = load(model, device=device)
    result = work_of_adhesion(atoms, calculator,
                              film_bulk=load_bulk(film_bulk) if film_bulk else None,
                              substrate_bulk=load_bulk(substrate_bulk) if substrate_bulk else None,
                              relax_positions=relax, fmax=fmax, steps=steps,
                              progress=not json_output and sys.stderr.isatty())
    if json_output:
        emit_json(result)
        return
    print_table(f"adhesion of {atoms.get_chemical_formula()} ({model})", ["quantity", "value"],
                [["work of adhesion (J/m²)", result.work_of_adhesion_J_m2],
                 ["interface energy (J/m²)", _or_dash(result.interface_energy_J_m2)],
                 ["film surface energy (J/m²)", _or_dash(result.film_surface_energy_J_m2)],
                 ["substrate surface energy (J/m²)", _or_dash(result.substrate_surface_energy_J_m2)],
                 ["area (Å²)", result.area_A2], ["converged", result.converged]])
