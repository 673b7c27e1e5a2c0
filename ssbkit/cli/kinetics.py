"""``ssbkit kinetics``: D(T) from NEB barriers, Vineyard attempt frequencies and kinetic Monte Carlo."""

from pathlib import Path
from typing import Any

import typer

from ssbkit.cli.types import (
    Committee,
    Device,
    JsonOutput,
    Models,
    Plot,
    TrustModel,
    emit_json,
    print_caveats,
    print_committee,
    print_table,
    settings_options,
)
from ssbkit.workflows.settings import KineticsSettings


def read_md_points(path: Path) -> list[tuple[float, float, float]]:
    """(T in K, D and its standard error in cm²/s) from the JSON of ``ssbkit diffusion run --json``."""
    import json

    from ssbkit.errors import InputError

    try:
        document = json.loads(Path(path).read_text())
        return [(float(p["temperature"]), float(p["diffusivity"]), float(p.get("diffusivity_std") or 0.0))
                for p in document["per_temperature"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not the JSON of `ssbkit diffusion run --json` ({exc})") from None


def _print_result(result: Any) -> None:
    print_table(f"{result.species} in {result.host}: {result.mechanism} hops ({result.model})",
                ["hop", "sites", "length (Å)", "per site", "barrier (eV)", "prefactor (THz)", "backward (eV)",
                 "prefactor back (THz)"],
                [[h.name, f"{h.start_label}->{h.end_label}", h.length_A, h.count_per_site, h.barrier_eV,
                  h.prefactor_Hz / 1e12, h.barrier_backward_eV, h.prefactor_backward_Hz / 1e12]
                 for h in result.hops])
    print_table(f"D(T) ({result.model})", ["T (K)", "D (cm²/s)", "std (cm²/s)"],
                [[t, d, s] for t, d, s in zip(result.temperatures_K, result.D_cm2_per_s, result.D_std_cm2_per_s)])
    if result.vacancy_formation_energy_eV is not None:
        typer.echo(f"vacancy formation energy {result.vacancy_formation_energy_eV:.3f} eV (chemical potential: "
                   f"{result.chemical_potential_reference}); correlation factor {result.correlation_factor:.4f}")
    if result.arrhenius:
        typer.echo(f"Arrhenius: Ea = {result.arrhenius['activation_energy_eV']:.3f} eV, "
                   f"D0 = {result.arrhenius['prefactor_cm2_per_s']:.3g} cm²/s")
    print_caveats(result.caveats, result.model)


@settings_options(KineticsSettings)
def kinetics(
    host: str = typer.Argument(..., help="w, mg or li (the built-in hop studies: Li in bcc W, Li in hcp Mg, bcc Li), "
                               "or a host structure file whose Li sites the site finder finds."),
    models: Models = ["chgnet"],
    committee: Committee = None,
    device: Device = "auto",
    md_results: Path | None = typer.Option(None, "--md-results", help="JSON of `ssbkit diffusion run --json`: its "
                                           "D(T) points join the Arrhenius plot."),
    plot: Plot = None,
    settings: KineticsSettings = None,
    trust_model: TrustModel = False,
    json_output: JsonOutput = False,
) -> None:
    """D(T) from NEB barriers, Vineyard prefactors and kinetic Monte Carlo on the site network."""
    import sys

    from ssbkit.cli.types import read_atoms
    from ssbkit.workflows.committee import committee_models
    from ssbkit.workflows.kinds import load_model
    from ssbkit.workflows.kinetics import NAMED_HOSTS, host_system, kinetics_committee, named_system

    md_points = read_md_points(md_results) if md_results else []
    names = committee_models(committee if committee is not None else models)
    if host.lower() in NAMED_HOSTS:
        system = named_system(host, settings.mechanism, settings.full)
    else:
        system = host_system(read_atoms(host), settings, Path(host).stem)
    result = kinetics_committee(
        system, names, lambda name: load_model(name, device=device, task="neb", trust_model=trust_model), settings,
        plot=plot, md_points=md_points, progress=sys.stderr.isatty() and not json_output)
    if len(names) == 1 and result.failures:
        from ssbkit.errors import CalculationError

        raise CalculationError(f"{names[0]}: {result.failures[0].reason}")
    if json_output:
        emit_json(result.results[names[0]] if len(names) == 1 else result)
    else:
        for member in result.results.values():
            _print_result(member)
        if len(names) > 1:
            print_committee(result.log10_D + result.barriers, result.failures, result.caveats)
        if result.plot_file:
            typer.echo(f"plot: {result.plot_file}")
    if result.failures:
        raise typer.Exit(1)
