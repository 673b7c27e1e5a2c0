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

SPEC_ARGUMENT = typer.Argument(..., help="YAML batch spec (see ssbkit.workflows.runner.spec).")


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
                   f"{summary.pending + summary.running} not finished; {summary.seconds:.1f} s; store {summary.run_dir}")
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


# --- diffusion (issue 7) ---


# --- NEB (issue 10) ---


def main() -> None:
    """Console-script entry point."""
    app()
