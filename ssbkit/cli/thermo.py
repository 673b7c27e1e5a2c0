"""Thermodynamics commands: ``window``, ``react``, ``screen``."""

from pathlib import Path

import typer

from ssbkit.cli.types import (Committee, Csv, JsonOutput, Offline, Plot, Source, emit_json, print_caveats,
                               print_committee, print_note, print_table)

MODELS = typer.Option([], "--model", "-m", help="With an mlip: source: relax its structures with this model; "
                                                "repeat for a committee (each model's result and the spread).")


def _committee(models: list[str], committee: str | None, plot: Path | None) -> list[str]:
    """The models named with -m/--committee (MP-scale entries: PBE-trained models only); [] for none."""
    from ssbkit.errors import InputError
    from ssbkit.workflows.committee import committee_models

    if not models and committee is None:
        return []
    names = committee_models(committee if committee is not None else models, functional="PBE/PBE+U")
    if len(names) > 1 and plot is not None:
        raise InputError("--plot draws one model's result; run it with one -m MODEL")
    return names


def _entry_source(spec: str, offline: bool):
    """The entry source of a --source spec; --offline forces the cache for mp."""
    import ssbkit.workflows  # noqa: F401  (registers the mlip: source)
    from ssbkit.interfaces.entries import SourceOptions, parse_source

    return parse_source(spec, SourceOptions(offline=True if offline else None))


def _fmt_voltage(value: float) -> str:
    return "none (no Li to release)" if value == float("inf") else f"{value:.3f}"


def window(formula: str = typer.Argument(..., help="Formula, e.g. Li3PS4."),
           source: Source = "mp", offline: Offline = False,
           hypothetical: bool = typer.Option(
               False, "--hypothetical",
               help="Analyse a formula with no entry in the source as if it were a phase on the hull."),
           models: list[str] = MODELS, committee: Committee = None,
           plot: Plot = None, json_output: JsonOutput = False) -> None:
    """Electrochemical stability window vs Li/Li+ from the Li grand-potential phase diagram.

    --plot saves the Li-uptake profile. The default source mp needs MP_API_KEY (or, with --offline, a cache
    filled by `ssbkit entries prefetch`); --source experimental needs neither.
    """
    from ssbkit.interfaces.stability import plot_window, stability_window

    names = _committee(models, committee, plot)
    if len(names) > 1:
        from ssbkit.interfaces.entries import SourceOptions
        from ssbkit.workflows.thermo_committee import window_committee

        report = window_committee(formula, source, names, SourceOptions(offline=True if offline else None),
                                  hypothetical=hypothetical)
        if json_output:
            emit_json(report)
        else:
            for model, one in report.windows.items():
                typer.echo(f"{model}: {one.reduction_limit_V:.3f} - {_fmt_voltage(one.oxidation_limit_V)} V vs Li/Li+")
            print_committee([report.reduction_limit_V, report.oxidation_limit_V,
                             report.energy_above_hull_eV_per_atom], report.failures, report.caveats)
        if report.failures:
            raise typer.Exit(1)
        return
    if names:
        from ssbkit.workflows.thermo_committee import source_for_model

        source = source_for_model(source, names[0])
    result = stability_window(formula, _entry_source(source, offline), hypothetical=hypothetical)
    if plot is not None:
        plot_window(result, plot)
    if json_output:
        emit_json(result)
        return
    hull = result.energy_above_hull_eV_per_atom
    flag = {None: "no entry with this composition", True: "ABOVE HULL", False: "on hull"}[result.above_hull]
    typer.echo(f"{result.formula} ({result.source}): {result.reduction_limit_V:.3f} - "
               f"{_fmt_voltage(result.oxidation_limit_V)} V vs Li/Li+; "
               f"E_hull = {'n/a' if hull is None else f'{hull:.4f} eV/atom'} ({flag})")
    print_table("Li-open decomposition profile", ["V from", "V to", "Li uptake / f.u.", "products"],
                [[s.voltage_min_V, "and above" if s.voltage_max_V == float("inf") else s.voltage_max_V,
                  s.li_uptake_per_formula_unit,
                  " + ".join(s.products)] for s in result.profile])
    print_caveats(result.caveats)


def react(reactant_a: str = typer.Argument(..., help="First reactant formula (x = its atomic fraction)."),
          reactant_b: str = typer.Argument(..., help="Second reactant formula."),
          voltage: float | None = typer.Option(None, "--voltage", "-V",
                                               help="Open to Li at this voltage (V vs Li/Li+); closed if omitted."),
          source: Source = "mp", offline: Offline = False,
          models: list[str] = MODELS, committee: Committee = None, plot: Plot = None,
          json_output: JsonOutput = False) -> None:
    """Reaction energy of two phases vs mixing ratio (closed, or Li-open with --voltage, 0-10 V vs Li/Li+).

    --plot saves the reaction energy vs mixing ratio. The default source mp needs MP_API_KEY (or --offline
    and a prefetched cache).
    """
    from ssbkit.interfaces.reactions import plot_reaction, reaction_profile

    names = _committee(models, committee, plot)
    if len(names) > 1:
        from ssbkit.interfaces.entries import SourceOptions
        from ssbkit.workflows.thermo_committee import reaction_committee

        report = reaction_committee(reactant_a, reactant_b, source, names,
                                    SourceOptions(offline=True if offline else None), voltage=voltage)
        if json_output:
            emit_json(report)
        else:
            for model, one in report.profiles.items():
                typer.echo(f"{model}: min {one.min_reaction_energy_eV_per_atom:.4f} eV/atom at x = "
                           f"{one.mixing_ratio:.4f}: {one.reaction}")
            print_committee([report.min_reaction_energy_eV_per_atom], report.failures, report.caveats)
        if report.failures:
            raise typer.Exit(1)
        return
    if names:
        from ssbkit.workflows.thermo_committee import source_for_model

        source = source_for_model(source, names[0])
    result = reaction_profile(reactant_a, reactant_b, _entry_source(source, offline), voltage=voltage)
    if plot is not None:
        plot_reaction(result, plot)
    if json_output:
        emit_json(result)
        return
    where = "closed" if voltage is None else f"Li-open at {voltage:g} V"
    typer.echo(f"{' + '.join(result.reactants)} ({where}, {result.source}): min "
               f"{result.min_reaction_energy_eV_per_atom:.4f} eV/atom at x = {result.mixing_ratio:.4f}: "
               f"{result.reaction}")
    print_table("Kinks", ["x", "eV/atom", "reaction"],
                [[k.x, k.energy_eV_per_atom, k.reaction] for k in result.profile])
    print_caveats(result.caveats)


def _voltage_range(text: str | None) -> tuple[float, float] | None:
    from ssbkit.errors import InputError

    if text is None:
        return None
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--voltage-range must be LO,HI in V vs Li/Li+, e.g. 2.5,4.2; got {text!r}") from None
    return low, high


def screen(electrolyte: str = typer.Option(..., "--electrolyte", help="Electrolyte formula, e.g. Li6PS5Cl."),
           electrode: str = typer.Option(..., "--electrode", help="Electrode formula, e.g. LiCoO2 or Li."),
           candidates: str | None = typer.Option(None, "--candidates", help="Comma-separated candidate formulas."),
           candidates_file: Path | None = typer.Option(None, "--candidates-file",
                                                       help="File with one candidate formula per line."),
           voltage_range: str | None = typer.Option(None, "--voltage-range",
                                                    help="Operating range LO,HI in V vs Li/Li+ (0-10 V)."),
           source: Source = "mp", offline: Offline = False, csv_path: Csv = None, plot: Plot = None,
           json_output: JsonOutput = False) -> None:
    """Rank coating/interlayer candidates by stability against an electrolyte and an electrode.

    --csv writes the ranked table; --plot saves a bar chart of the ranking. The default source mp needs
    MP_API_KEY (or --offline and a prefetched cache).
    """
    from ssbkit.errors import InputError
    from ssbkit.interfaces.screening import plot_screening, read_candidates, screen_candidates, write_csv

    formulas = [f.strip() for f in (candidates or "").split(",") if f.strip()]
    if candidates_file is not None:
        formulas += read_candidates(candidates_file)
    if not formulas:
        raise InputError("give candidates with --candidates A,B,C or --candidates-file FILE")
    result = screen_candidates(formulas, electrolyte, electrode, _entry_source(source, offline),
                               _voltage_range(voltage_range), progress=not json_output)
    if csv_path is not None:
        write_csv(result, csv_path)
    if plot is not None:
        plot_screening(result, plot)
    if json_output:
        emit_json(result)
        return
    columns = ["rank", "candidate", "E_hull", "window (V)", "covers", "vs electrolyte", "vs electrode", "caveats"]
    rows = [[c.rank, c.candidate,
             "n/a" if c.energy_above_hull_eV_per_atom is None else c.energy_above_hull_eV_per_atom,
             f"{c.reduction_limit_V:.2f}-{c.oxidation_limit_V:.2f}",
             "n/a" if c.covers_voltage_range is None else ("yes" if c.covers_voltage_range else "no"),
             c.electrolyte_worst_eV_per_atom, c.electrode_worst_eV_per_atom,
             ", ".join(dict.fromkeys(caveat.code for caveat in c.caveats)) or "-"] for c in result.candidates]
    print_table(f"Candidates between {result.electrolyte} and {result.electrode} ({result.source})", columns, rows)
    print_note(f"E_hull and reaction energies in eV/atom; reaction energies are the most negative over mixing "
               f"ratio, closed and Li-open at the range ends. Ranking: {result.ranking_rule}. "
               f"Phase diagrams built: {result.phase_diagrams_built}.")
