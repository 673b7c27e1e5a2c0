"""The ``ssbkit`` command. Every subcommand has ``--help``; ``--json`` prints one JSON document on
stdout and nothing else; user errors print one line on stderr and exit with code 2."""

from typing import Annotated

import typer

from ssbkit import __version__
from ssbkit.cli import adhesion, build, diffusion, entries, neb, potentials, runner, thermo
from ssbkit.cli.types import JsonOutput, command_group, emit_json

app = command_group("ssbkit: interface stability and Li diffusion for solid-state batteries. "
                    "--json prints one JSON document; user errors exit with code 2.")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                               help="Print the ssbkit version and exit.")] = False,
) -> None:
    """Root options (the help text is the app's)."""


def version(json_output: JsonOutput = False) -> None:
    """Print the ssbkit version."""
    if json_output:
        emit_json({"ssbkit": __version__})
    else:
        typer.echo(__version__)


app.command("version")(version)
app.command("window")(thermo.window)
app.command("react")(thermo.react)
app.command("screen")(thermo.screen)
app.command("run")(runner.run)
app.command("status")(runner.status)
app.command("results")(runner.results)
app.command("submit")(runner.submit)
app.command("adhesion")(adhesion.adhesion)
app.add_typer(entries.app, name="entries")
app.add_typer(potentials.app, name="potentials")
app.add_typer(build.app, name="build")
app.add_typer(diffusion.app, name="diffusion")
app.add_typer(neb.app, name="neb")


def main() -> None:
    """Console-script entry point."""
    app()
