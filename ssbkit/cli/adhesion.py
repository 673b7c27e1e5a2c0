"""``ssbkit adhesion``: work of adhesion and interface energy of a built interface."""

from typing import Any

import typer

from ssbkit.cli.types import (
    Committee,
    Device,
    JsonOutput,
    Models,
    TrustModel,
    emit_json,
    print_caveats,
    print_committee,
    print_table,
    read_atoms,
    settings_options,
)
from ssbkit.workflows.settings import AdhesionSettings


def _or_dash(value: float | None) -> float | str:
    return "-" if value is None else value


@settings_options(AdhesionSettings)
def adhesion(
    interface: str = typer.Argument(..., help="Interface extxyz with an interface_part array "
                                              "(ssbkit build interface)."),
    models: Models = ["chgnet"],
    committee: Committee = None,
    device: Device = "auto",
    film_bulk: str = typer.Option(None, help="Film bulk, for surface and interface energies."),
    substrate_bulk: str = typer.Option(None, help="Substrate bulk, for surface and interface energies."),
    film_miller: str = typer.Option(None, help="Film Miller index: compare its surface energy with a "
                                               "published PBE value where one is tabulated."),
    substrate_miller: str = typer.Option(None, help="Substrate Miller index: compare its surface energy with a "
                                                    "published PBE value where one is tabulated."),
    relax_positions: bool = typer.Option(True, "--relax/--no-relax",
                                         help="Relax positions of interface, film and substrate."),
    settings: AdhesionSettings = None,
    trust_model: TrustModel = False,
    json_output: JsonOutput = False,
) -> None:
    """Work of adhesion and interface energy (J/m²) of a built interface, with one model or a committee.

    With several models (-m A -m B or --committee offline): each model's values, the committee's
    mean ± standard deviation and caveats where they disagree. A model that fails is reported and the
    others go on; the exit code is then 1.
    """
    import dataclasses
    import sys

    from ssbkit.errors import CalculationError
    from ssbkit.interfaces.structures.bulk import load_bulk
    from ssbkit.potentials import load
    from ssbkit.workflows.adhesion import adhesion_committee, published_surface_energy
    from ssbkit.workflows.committee import committee_models

    names = committee_models(committee if committee is not None else models)
    atoms = read_atoms(interface)
    film = load_bulk(film_bulk) if film_bulk else None
    substrate = load_bulk(substrate_bulk) if substrate_bulk else None
    run = adhesion_committee(
        atoms, names, lambda name: load(name, device=device, trust_model=trust_model), film, substrate, settings,
        film_reference=published_surface_energy(film, film_miller) if film and film_miller else None,
        substrate_reference=(published_surface_energy(substrate, substrate_miller)
                             if substrate and substrate_miller else None),
        progress=not json_output and sys.stderr.isatty())
    if len(names) == 1 and run.failures:
        raise CalculationError(f"adhesion with {names[0]}: {run.failures[0].reason}")
    if len(names) > 1:
        if json_output:
            emit_json({"results": list(run.results.values()), "committee": run})
        else:
            for name, result in run.results.items():
                _print_adhesion(f"adhesion of {atoms.get_chemical_formula()} ({name})", result)
            _print_committee(run)
        if run.failures:
            raise typer.Exit(1)
        return
    result = dataclasses.replace(run.results[names[0]], caveats=run.caveats)
    if json_output:
        emit_json(result)
        return
    _print_adhesion(f"adhesion of {atoms.get_chemical_formula()} ({names[0]})", result)
    print_caveats(result.caveats)


def _print_adhesion(title: str, result: Any) -> None:
    print_table(title, ["quantity", "value"],
                [["work of adhesion (J/m²)", result.work_of_adhesion_J_m2],
                 ["interface energy (J/m²)", _or_dash(result.interface_energy_J_m2)],
                 ["film surface energy (J/m²)", _or_dash(result.film_surface_energy_J_m2)],
                 ["substrate surface energy (J/m²)", _or_dash(result.substrate_surface_energy_J_m2)],
                 ["area (Å²)", result.area_A2], ["converged", result.converged]])


def _print_committee(run: Any) -> None:
    values = [run.work_of_adhesion, run.interface_energy, run.film_surface_energy, run.substrate_surface_energy]
    published = [[f"published {label}", f"{ref.low_J_m2:g}-{ref.high_J_m2:g} J/m² ({ref.label})"]
                 for label, ref in (("film", run.film_reference), ("substrate", run.substrate_reference)) if ref]
    print_committee([value for value in values if value.n_models], run.failures, run.caveats, published)
