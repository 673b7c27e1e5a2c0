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

from pathlib import Path  # noqa: E402  (kept in this section to keep merges clean)

SOURCE_OPTION = typer.Option(
    "mp", "--source", "-s",
    help="Entry source(s), comma-separated: mp, experimental, file:PATH (JSON/JSON.gz entry dicts).")
OFFLINE_OPTION = typer.Option(
    False, "--offline", help="Never touch the network: mp entries come from the cache only (also SSBKIT_OFFLINE=1).")


def _entry_source(spec: str, offline: bool):
    from ssbkit.interfaces.entries import SourceOptions, parse_source

    return parse_source(spec, SourceOptions(offline=True if offline else None))


def _fmt_voltage(value: float) -> str:
    return "none (no Li to release)" if value == float("inf") else f"{value:.3f}"


@app.command()
def window(formula: str = typer.Argument(..., help="Formula, e.g. Li3PS4."),
           source: str = SOURCE_OPTION, offline: bool = OFFLINE_OPTION,
           plot: Path | None = typer.Option(None, "--plot", help="Save the Li-uptake profile to this image."),
           json_output: bool = JSON_OPTION) -> None:
    """Electrochemical stability window vs Li/Li+ from the Li grand-potential phase diagram."""
    from ssbkit.interfaces.stability import plot_window, stability_window

    result = stability_window(formula, _entry_source(source, offline))
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


@app.command()
def react(reactant_a: str = typer.Argument(..., help="First reactant formula (x = its atomic fraction)."),
          reactant_b: str = typer.Argument(..., help="Second reactant formula."),
          voltage: float | None = typer.Option(None, "--voltage", "-V",
                                               help="Open to Li at this voltage (V vs Li/Li+); closed if omitted."),
          source: str = SOURCE_OPTION, offline: bool = OFFLINE_OPTION,
          plot: Path | None = typer.Option(None, "--plot", help="Save energy vs mixing ratio to this image."),
          json_output: bool = JSON_OPTION) -> None:
    """Reaction energy of two phases vs mixing ratio (closed, or Li-open with --voltage)."""
    from ssbkit.interfaces.reactions import plot_reaction, reaction_profile

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


def _voltage_range(text: str | None) -> tuple[float, float] | None:
    from ssbkit.errors import InputError

    if text is None:
        return None
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--voltage-range must be LO,HI in V vs Li/Li+, e.g. 2.5,4.2; got {text!r}") from None
    return low, high


@app.command()
def screen(electrolyte: str = typer.Option(..., "--electrolyte", help="Electrolyte formula, e.g. Li6PS5Cl."),
           electrode: str = typer.Option(..., "--electrode", help="Electrode formula, e.g. LiCoO2 or Li."),
           candidates: str | None = typer.Option(None, "--candidates", help="Comma-separated candidate formulas."),
           candidates_file: Path | None = typer.Option(None, "--candidates-file",
                                                       help="File with one candidate formula per line."),
           voltage_range: str | None = typer.Option(None, "--voltage-range",
                                                    help="Operating range LO,HI in V vs Li/Li+."),
           source: str = SOURCE_OPTION, offline: bool = OFFLINE_OPTION,
           csv_path: Path | None = typer.Option(None, "--csv", help="Also write the ranked table as CSV."),
           plot: Path | None = typer.Option(None, "--plot", help="Save a bar chart of the ranking."),
           json_output: bool = JSON_OPTION) -> None:
    """Rank coating/interlayer candidates by stability against an electrolyte and an electrode."""
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
    columns = ["rank", "candidate", "E_hull", "window (V)", "covers", "vs electrolyte", "vs electrode"]
    rows = [[c.rank, c.candidate,
             "n/a" if c.energy_above_hull_eV_per_atom is None else c.energy_above_hull_eV_per_atom,
             f"{c.reduction_limit_V:.2f}-{c.oxidation_limit_V:.2f}",
             "n/a" if c.covers_voltage_range is None else ("yes" if c.covers_voltage_range else "no"),
             c.electrolyte_worst_eV_per_atom, c.electrode_worst_eV_per_atom] for c in result.candidates]
    print_table(f"Candidates between {result.electrolyte} and {result.electrode} ({result.source})", columns, rows)
    typer.echo(f"E_hull and reaction energies in eV/atom; reaction energies are the most negative over mixing "
               f"ratio, closed and Li-open at the range ends. Ranking: {result.ranking_rule}. "
               f"Phase diagrams built: {result.phase_diagrams_built}.")


@entries_app.command("prefetch")
def entries_prefetch(chemsys: list[str] = typer.Argument(..., help="Chemical systems, e.g. Li-P-S-Cl Li-Co-O."),
                     json_output: bool = JSON_OPTION) -> None:
    """Download MP entries for chemical systems (and their subsystems) into the cache, for offline runs."""
    from ssbkit.interfaces.entries import MPSource, parse_chemsys

    import sys

    from tqdm import tqdm

    systems = [parse_chemsys(text) for text in chemsys]
    mp = MPSource(offline=False)
    rows = []
    for elements in tqdm(systems, desc="prefetch", unit="chemsys", disable=json_output or not sys.stderr.isatty()):
        entries = mp.fetch(elements)
        rows.append({"chemsys": "-".join(elements), "entries": len(entries), "path": str(mp.cache_path(elements))})
    if json_output:
        emit_json({"cache_dir": str(mp.cache_root), "systems": rows})
        return
    print_table(f"MP entries cached in {mp.cache_root}", ["chemsys", "entries", "file"],
                [[r["chemsys"], r["entries"], r["path"]] for r in rows])


# --- potentials: list, check, compare, fit (issue 4) ---


# --- runner: run, status, results, submit (issue 5) ---


# --- structures: build slab/interface/gb/sites, adhesion (issue 6) ---


# --- diffusion (issue 7) ---


# --- NEB (issue 10) ---


def main() -> None:
    """Console-script entry point."""
    app()
