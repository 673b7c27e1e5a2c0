"""Batch commands: ``run``, ``status``, ``results``, ``submit`` (spec grammar: docs/runner.md)."""

import typer

from ssbkit.cli.types import JsonOutput, emit_json, print_table

SPEC_ARGUMENT = typer.Argument(..., help="YAML batch spec (grammar: docs/runner.md).")


def run(
    spec: str = SPEC_ARGUMENT,
    task_index: int | None = typer.Option(None, "--task-index", help="Run only task I of the spec (0-based)."),
    executor: str = typer.Option("local", "--executor", help="local (sequential), pool or dask."),
    workers: int = typer.Option(1, "--workers", help="Processes (pool) or Dask workers; one GPU each."),
    retries: int | None = typer.Option(None, "--retries", help="Failed attempts allowed per task beyond the first."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Same-kind tasks per batched model call."),
    json_output: JsonOutput = False,
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


def status(
    spec: str = SPEC_ARGUMENT,
    check: bool = typer.Option(False, "--check", help="Check the results store (SQLite integrity and the store's "
                               "own rules) and print what is wrong; exit code 1 if anything is."),
    export: str | None = typer.Option(None, "--export", metavar="FILE", help="Write every intact row of the store "
                                      "to FILE as JSON lines, reading past damaged rows (exit code 1 if any skipped)."),
    json_output: JsonOutput = False,
) -> None:
    """Show how many tasks of a spec are pending, running, done or failed."""
    from ssbkit.workflows.runner import check_store, export_store, load_spec, spec_status

    loaded = load_spec(spec)
    if check or export:
        problems: list[str] = []
        written = None
        if check:
            problems += check_store(loaded.store_path)
        if export:
            written, skipped = export_store(loaded.store_path, export)
            problems += [p for p in skipped if p not in problems]
        if json_output:
            emit_json({"store": str(loaded.store_path), "healthy": not problems, "problems": problems}
                      | ({"exported": written, "export": export} if export else {}))
        else:
            for problem in problems:
                typer.echo(problem)
            if export:
                typer.echo(f"exported {written} intact rows to {export}", err=True)
            typer.echo(f"{loaded.store_path}: " + ("healthy" if not problems else f"{len(problems)} problems"),
                       err=True)
        if problems:
            raise typer.Exit(1)
        return
    spec_state = spec_status(loaded)
    if json_output:
        emit_json(spec_state)
        return
    print_table(f"{spec_state.spec}: " + ", ".join(f"{n} {state}" for state, n in spec_state.counts.items()),
                ["index", "kind", "labels", "state", "failures", "seconds", "error"],
                [[r["index"], r["kind"], ", ".join(f"{k}={v}" for k, v in r["labels"].items()), r["state"],
                  r["failures"], r["seconds"] if r["seconds"] is not None else "", r["error"] or ""]
                 for r in spec_state.tasks])


def results(
    spec: str = SPEC_ARGUMENT,
    json_output: JsonOutput = False,
    csv_output: bool = typer.Option(False, "--csv", help="Print a CSV table (scalar result fields) on stdout."),
) -> None:
    """Print the stored results of a spec's tasks, in spec order."""
    from ssbkit.workflows.runner import load_spec, results_csv, results_table, spec_results

    loaded = load_spec(spec)
    if csv_output:
        typer.echo(results_csv(loaded), nl=False)
    elif json_output:
        emit_json([{"index": t.index} | record.__dict__ for t, record in zip(loaded.tasks, spec_results(loaded))])
    else:
        columns, rows = results_table(loaded)
        print_table(str(loaded.path), columns, [["" if v is None else v for v in row] for row in rows])


def submit(
    spec: str = SPEC_ARGUMENT,
    slurm: bool = typer.Option(False, "--slurm", help="Write a Slurm array script (one element per task)."),
    retries: int | None = typer.Option(None, "--retries", help="Passed to each element's ssbkit run."),
    json_output: JsonOutput = False,
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
