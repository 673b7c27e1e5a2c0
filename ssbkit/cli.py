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


app = _typer("ssbkit: interface stability and Li diffusion for solid-state batteries. "
             "--json prints one JSON document; user errors exit with code 2.")
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
    help="Entry source(s), comma-separated: mp, experimental, file:PATH (JSON/JSON.gz entry dicts), "
         "mlip:[MODEL:]PATH (structures relaxed with an ML potential).")
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

    from ssbkit.interfaces.entries import save_entries
    from ssbkit.workflows.ml_entries import entries_from_structures, formation_energy_entries, read_structures
    from ssbkit.potentials import load

    named = [pair for path in files for pair in read_structures(path)]
    calculator = load(model, device=device)
    entries = entries_from_structures([s for _, s in named], calculator, names=[n for n, _ in named],
                                      mp2020_corrections=mp2020, fmax=fmax, steps=steps,
                                      progress=sys.stderr.isatty() and not json_output)
    save_entries(formation_energy_entries(entries) if formation_energies else entries, output)
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

SPEC_ARGUMENT = typer.Argument(..., help="YAML batch spec (grammar: docs/runner.md).")


@app.command("run")
def run_command(
    spec: str = SPEC_ARGUMENT,
    task_index: int | None = typer.Option(None, "--task-index", help="Run only task I of the spec (0-based)."),
    executor: str = typer.Option("local", "--executor", help="local (sequential), pool or dask."),
    workers: int = typer.Option(1, "--workers", help="Processes (pool) or Dask workers; one GPU each."),
    retries: int | None = typer.Option(None, "--retries", help="Failed attempts allowed per task beyond the first."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Same-kind tasks per batched model call."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Run a batch spec; finished tasks are skipped, so rerunning resumes. Exit code 1 if tasks failed."""
    from ssbkit.workflows.runner import load_spec, run_spec

    summary = run_spec(load_spec(spec), executor=executor, workers=workers, retries=retries,
                       task_index=task_index, batch_size=batch_size, progress=False if json_output else None)
    if json_output:
        emit_json(summary)
    else:
        typer.echo(f"{summary.done}/{summary.tasks} done, {summary.failed} failed, "
                   f"{summary.pending + summary.running} not finished; {summary.seconds:.1f} s; "
                   f"store {summary.run_dir}")
        for failure in summary.failures:
            typer.echo(f"  task {failure['index']} {failure['labels']}: {failure['error']}", err=True)
    if summary.failed:
        raise typer.Exit(1)


@app.command("status")
def status_command(spec: str = SPEC_ARGUMENT, json_output: bool = JSON_OPTION) -> None:
    """Show how many tasks of a spec are pending, running, done or failed."""
    from ssbkit.workflows.runner import load_spec, spec_status

    status = spec_status(load_spec(spec))
    if json_output:
        emit_json(status)
        return
    print_table(f"{status.spec}: " + ", ".join(f"{n} {state}" for state, n in status.counts.items()),
                ["index", "kind", "labels", "state", "failures", "seconds", "error"],
                [[r["index"], r["kind"], ", ".join(f"{k}={v}" for k, v in r["labels"].items()), r["state"],
                  r["failures"], r["seconds"] if r["seconds"] is not None else "", r["error"] or ""]
                 for r in status.tasks])


@app.command("results")
def results_command(
    spec: str = SPEC_ARGUMENT,
    json_output: bool = JSON_OPTION,
    csv_output: bool = typer.Option(False, "--csv", help="Print a CSV table (scalar result fields) on stdout."),
) -> None:
    """Print the stored results of a spec's tasks, in spec order."""
    from ssbkit.workflows.runner import load_spec, results_csv, spec_results

    loaded = load_spec(spec)
    if csv_output:
        typer.echo(results_csv(loaded), nl=False)
    elif json_output:
        emit_json([{"index": t.index} | record.__dict__ for t, record in zip(loaded.tasks, spec_results(loaded))])
    else:
        from ssbkit.workflows.runner import results_table

        columns, rows = results_table(loaded)
        print_table(str(loaded.path), columns, [["" if v is None else v for v in row] for row in rows])


@app.command("submit")
def submit_command(
    spec: str = SPEC_ARGUMENT,
    slurm: bool = typer.Option(False, "--slurm", help="Write a Slurm array script (one element per task)."),
    retries: int | None = typer.Option(None, "--retries", help="Passed to each element's ssbkit run."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Write a Slurm array script for the unfinished tasks; element i runs `ssbkit run SPEC --task-index i`."""
    from ssbkit.errors import InputError
    from ssbkit.workflows.runner import load_spec, write_slurm_script

    if not slurm:
        raise InputError("choose a scheduler: --slurm (for Dask, use `ssbkit run SPEC --executor dask`)")
    path, elements = write_slurm_script(load_spec(spec), retries=retries)
    if json_output:
        emit_json({"script": path, "elements": elements, "command": f"sbatch {path}"})
    else:
        typer.echo(f"wrote {path} ({elements} array elements); submit with: sbatch {path}")



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
    calculator = load(model, device=device)
    result = adhesion(atoms, calculator,
                      film_bulk=load_bulk(film_bulk) if film_bulk else None,
                      substrate_bulk=load_bulk(substrate_bulk) if substrate_bulk else None,
                      relax_positions=relax, fmax=fmax, steps=steps,
                      progress=not json_output and sys.stderr.isatty())
    if json_output:
        emit_json(result)
        return
    print_table(f"adhesion of {atoms.get_chemical_formula()} ({model})", ["quantity", "value"],
                [["work of adhesion (J/m²)", result.work_of_adhesion_J_m2],
                 ["interface energy (J/m²)", result.interface_energy_J_m2 if result.interface_energy_J_m2 is not None else "-"],
                 ["film surface energy (J/m²)", result.film_surface_energy_J_m2 if result.film_surface_energy_J_m2 is not None else "-"],
                 ["substrate surface energy (J/m²)", result.substrate_surface_energy_J_m2 if result.substrate_surface_energy_J_m2 is not None else "-"],
                 ["area (Å²)", result.area_A2], ["converged", result.converged]])



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
    from ssbkit.interfaces.structures.references import load_reference_structure, reference_structure_info, write_structure

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
    from ssbkit.interfaces.structures.references import list_reference_structures

    infos = list_reference_structures()
    if json_output:
        emit_json(infos)
        return
    print_table("Reference structures", ["name", "category", "space group", "ordering", "source"],
                [[i.name, i.category, i.space_group, "Ewald" if i.disordered else "-", i.source] for i in infos])


# --- diffusion (issue 7) ---

diffusion_app = _typer("Li diffusion from replica MD: D(T), activation energy, room-temperature conductivity.")
app.add_typer(diffusion_app, name="diffusion")


GB_PLANES_HELP = ("Grain-boundary planes, fractional along --gb-axis (e.g. 0,0.5), or 'auto' to take them "
                  "from the bicrystal's grain array (as `ssbkit build gb` writes it).")


def _grain_boundary(planes: str | None, axis: int, width: float):
    from ssbkit.errors import InputError
    from ssbkit.workflows.diffusion import GrainBoundaryRegion

    if not planes:
        return None
    if planes == "auto":
        return GrainBoundaryRegion(planes=None, axis=axis, width=width)
    try:
        fractions = tuple(float(value) for value in planes.split(","))
    except ValueError as exc:
        raise InputError(f"--gb-planes takes comma-separated fractional coordinates, got {planes!r}") from exc
    return GrainBoundaryRegion(planes=fractions, axis=axis, width=width)


def _diffusion_structure(source: str):
    """A structure file, a reference-structure library name (e.g. Li6PS5Cl), an element or llzo-cubic."""
    from pathlib import Path

    from pymatgen.io.ase import AseAtomsAdaptor

    from ssbkit.errors import InputError
    from ssbkit.interfaces.structures.references import list_reference_structures, load_reference_structure
    from ssbkit.interfaces.structures.bulk import load_bulk

    names = sorted(info.name for info in list_reference_structures())
    if not Path(source).exists() and source in names:
        return AseAtomsAdaptor.get_atoms(load_reference_structure(source))
    try:
        return load_bulk(source)
    except InputError as exc:
        raise InputError(f"{exc}, nor a reference structure ({', '.join(names)})") from exc


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
    structure: str = typer.Argument(..., help="Structure file (CIF, POSCAR, extxyz with a grain array for "
                                    "bicrystals), a reference-structure name (Li6PS5Cl, ...), an element, "
                                    "or llzo-cubic."),
    temperatures: list[float] = typer.Option(..., "--temperature", "-t", help="Temperature (K); repeat."),
    model: str = typer.Option("chgnet", help="Potential: chgnet, sevennet-0, mace:PATH."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    supercell: str = typer.Option("1,1,1", help="Repeat the cell, e.g. 2,2,2."),
    timestep: float = typer.Option(2.0, help="Time step (fs)."),
    thermostat: str = typer.Option("langevin", help="langevin or nose-hoover (chain of 3)."),
    friction: float = typer.Option(0.002, help="Langevin friction (1/fs); 0.002 = 500 fs relaxation time."),
    tdamp: float = typer.Option(100.0, help="Nose-Hoover thermostat period (fs)."),
    equilibration_steps: int = typer.Option(1000, help="Equilibration steps (not analysed)."),
    production_steps: int = typer.Option(10000, help="Production steps."),
    save_every: int = typer.Option(10, help="Save a frame every N steps."),
    species: str = typer.Option("Li", help="Diffusing species."),
    gb_planes: str = typer.Option("", help=GB_PLANES_HELP),
    gb_axis: int = typer.Option(2, help="Cell axis normal to the grain boundary (0, 1, 2)."),
    gb_width: float = typer.Option(3.0, help="Half-width (Å) of the grain-boundary region."),
    out: str = typer.Option("diffusion", help="Directory for trajectories, plots and diffusion.json."),
    seed: int = typer.Option(0, help="Random seed for velocities and the thermostat."),
    json_output: bool = JSON_OPTION,
) -> None:
    """NVT MD (Langevin or Nose-Hoover) at all temperatures at once (one batched model call per step),
    then D(T), Arrhenius Ea and extrapolated 300 K conductivity."""
    from pathlib import Path

    from ssbkit.errors import InputError
    from ssbkit.potentials import load
    from ssbkit.workflows.diffusion import diffusion, write_result
    from ssbkit.workflows.md import check_temperatures

    check_temperatures(temperatures)
    grain_boundary = _grain_boundary(gb_planes, gb_axis, gb_width)
    try:
        repeat = [int(n) for n in supercell.split(",")]
    except ValueError as exc:
        raise InputError(f"--supercell takes three integers such as 2,2,2, got {supercell!r}") from exc
    if len(repeat) != 3 or min(repeat) < 1:
        raise InputError(f"--supercell takes three positive integers such as 2,2,2, got {supercell!r}")
    atoms = _diffusion_structure(structure).repeat(repeat)
    calculator = load(model, device=device, task="md")
    result = diffusion(atoms, calculator, temperatures, out, timestep=timestep, friction=friction,
                       thermostat=thermostat, tdamp=tdamp, equilibration_steps=equilibration_steps,
                       production_steps=production_steps, save_every=save_every, species=species,
                       grain_boundary=grain_boundary, seed=seed, progress=not json_output)
    write_result(result, Path(out) / "diffusion.json")
    _report_diffusion(result, json_output)


@diffusion_app.command("analyze")
def diffusion_analyze(
    directory: str = typer.Argument(..., help="Directory with replica*.extxyz from `ssbkit diffusion run`."),
    species: str = typer.Option("Li", help="Diffusing species."),
    gb_planes: str = typer.Option("", help=GB_PLANES_HELP),
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

neb_app = _typer("Climbing-image NEB for Li hops, all images evaluated as one batch.")
app.add_typer(neb_app, name="neb")
_NEB_MODEL = typer.Option("chgnet", "--model", "-m", help="Model name (see `ssbkit potentials`).")
_NEB_DEVICE = typer.Option("auto", "--device", help="cpu, cuda, cuda:N or auto.")
_NEB_IMAGES = typer.Option(5, "--images", help="Interior images of the band.")
_NEB_FMAX = typer.Option(0.05, "--fmax", help="Convergence: largest NEB force (eV/Å).")
_NEB_STEPS = typer.Option(500, "--steps", help="Most optimizer steps.")
_NEB_OUTPUT = typer.Option(None, "--output", "-o", help="Folder for neb_path.extxyz and neb_profile.png.")
_NEB_RESOLVE = typer.Option(False, "--resolve-minima", help="Re-run the NEB between intermediate minima.")


def _neb_rows(label: str, result: Any) -> list[list[Any]]:
    rows = [[label, result.model, result.barrier_forward, result.barrier_backward, result.reaction_energy,
             result.energy_span, "yes" if result.converged else f"no ({result.steps} steps)"]]
    for i, segment in enumerate(result.segment_results):
        rows += _neb_rows(f"{label} segment {i + 1}", segment)
    return rows


def _print_neb(title: str, labelled: list[tuple[str, Any]]) -> None:
    rows = [row for label, result in labelled for row in _neb_rows(label, result)]
    print_table(title, ["hop", "model", "E_fwd (eV)", "E_bwd (eV)", "dE (eV)", "span (eV)", "converged"], rows)
    for label, result in labelled:
        for warning in result.warnings:
            typer.echo(f"warning ({label}, {result.model}): {warning}", err=True)
        if result.plot_file:
            typer.echo(f"path: {result.path_file}  plot: {result.plot_file}")


@neb_app.command("run")
def neb_run(
    initial: str = typer.Argument(..., help="Initial structure file (any ASE-readable format)."),
    final: str = typer.Argument(..., help="Final structure file, same atoms in the same order."),
    model: str = _NEB_MODEL,
    device: str = _NEB_DEVICE,
    images: int = _NEB_IMAGES,
    fmax: float = _NEB_FMAX,
    steps: int = _NEB_STEPS,
    climb: bool = typer.Option(True, "--climb/--no-climb", help="Climbing image."),
    moving_index: int | None = typer.Option(None, "--moving-index", help="Index of the hopping atom."),
    resolve_minima: bool = _NEB_RESOLVE,
    output: str | None = _NEB_OUTPUT,
    json_output: bool = JSON_OPTION,
) -> None:
    """NEB between two structures: relax endpoints, IDPP path, climbing image, barriers and checks."""
    import sys

    from ssbkit.potentials import load
    from ssbkit.workflows.neb import neb, read_structure

    start, end = read_structure(initial), read_structure(final)
    result = neb(start, end, load(model, device=device, task="neb"), n_images=images, fmax=fmax, steps=steps,
                 climb=climb, moving_index=moving_index, resolve_minima=resolve_minima, output_dir=output,
                 model=model, progress=sys.stderr.isatty() and not json_output)
    if json_output:
        emit_json(result)
    else:
        _print_neb(f"NEB {initial} -> {final}", [("hop", result)])


@neb_app.command("study")
def neb_study(
    name: str = typer.Argument(..., help="w-bulk-tt, w-bulk-tot, w110-long-bridge, w110-short-bridge, "
                               "mg-interstitial-c, mg-interstitial-basal, mg-vacancy-basal, mg-vacancy-c, "
                               "li-vacancy, llzo-bulk, llzo-gb-along, llzo-gb-across."),
    models: list[str] = typer.Option(["chgnet"], "--model", "-m", help="Model; repeat to compare models."),
    device: str = _NEB_DEVICE,
    full: bool = typer.Option(False, "--full", help="Production-size cells instead of small ones."),
    images: int = _NEB_IMAGES,
    fmax: float = _NEB_FMAX,
    steps: int = _NEB_STEPS,
    resolve_minima: bool = typer.Option(True, "--resolve-minima/--no-resolve-minima",
                                        help="Re-run the NEB between intermediate minima."),
    output: str | None = _NEB_OUTPUT,
    json_output: bool = JSON_OPTION,
) -> None:
    """A built-in Li hop (W, Mg, Li, LLZO) with one or more models, next to the published barrier."""
    import sys
    from pathlib import Path

    from ssbkit.errors import CalculationError
    from ssbkit.potentials import load
    from ssbkit.workflows.neb import neb
    from ssbkit.interfaces.structures.hop_studies import build_study

    study = build_study(name, full=full)
    results = []
    for model in models:
        out = Path(output) / model if output else None
        try:
            results.append(neb(study.initial, study.final, load(model, device=device, task="neb"),
                               n_images=images, fmax=fmax, steps=steps, moving_index=study.moving_index,
                               resolve_minima=resolve_minima, output_dir=out, model=model,
                               progress=sys.stderr.isatty() and not json_output))
        except CalculationError as exc:
            raise CalculationError(f"{study.name} with {model}: {exc}") from exc
    if json_output:
        emit_json({"study": study.name, "description": study.description,
                   "reference_barrier": study.reference_barrier, "reference_source": study.reference_source,
                   "results": results})
        return
    _print_neb(study.description, [(study.name, result) for result in results])
    if study.reference_barrier is not None:
        typer.echo(f"published: {study.reference_barrier} eV ({study.reference_source})")



def main() -> None:
    """Console-script entry point."""
    app()
