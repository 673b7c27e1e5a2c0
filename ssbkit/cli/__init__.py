"""The ``ssbkit`` command. Every subcommand has ``--help``; ``--json`` prints one JSON document on
stdout and nothing else; user errors print one line on stderr and exit with code 2.

Commands load lazily: a command's module (``ssbkit.cli.neb``, ...) is imported only when that command runs or
shows its own help, so ``ssbkit --help`` lists every command from :data:`COMMANDS` without importing any.
"""

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from ssbkit import __version__
from ssbkit.cli.types import JsonOutput, SsbkitGroup, configure_verbosity, emit_json

#: Command name -> (module, attribute, one-line help that ``ssbkit --help`` shows). The attribute is a typer
#: app (a command group) or a command function. tests/test_imports.py checks each help against the command's.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "window": ("ssbkit.cli.thermo", "window",
               "Electrochemical stability window vs Li/Li+ from the Li grand-potential phase diagram."),
    "react": ("ssbkit.cli.thermo", "react", "Reaction energy of two phases vs mixing ratio (closed, or Li-open with "
                                            "--voltage, 0-10 V vs Li/Li+)."),
    "screen": ("ssbkit.cli.thermo", "screen",
               "Rank coating/interlayer candidates by stability against an electrolyte and an electrode."),
    "stack": ("ssbkit.cli.stack", "stack", "Reactions at every interface of a cell stack, each at its own potential, "
                                           "with the interphases they form."),
    "run": ("ssbkit.cli.runner", "run",
            "Run a batch spec; finished tasks are skipped, so rerunning resumes. Exit code 1 if tasks failed."),
    "status": ("ssbkit.cli.runner", "status", "Show how many tasks of a spec are pending, running, done or failed."),
    "results": ("ssbkit.cli.runner", "results", "Print the stored results of a spec's tasks, in spec order."),
    "submit": ("ssbkit.cli.runner", "submit", "Write a Slurm array script for the unfinished tasks; element i runs "
                                              "`ssbkit run SPEC --task-index i`."),
    "adhesion": ("ssbkit.cli.adhesion", "adhesion", "Work of adhesion and interface energy (J/m²) of a built "
                                                    "interface, with one model or a committee."),
    "entries": ("ssbkit.cli.entries", "app", "Entry sources: fill the offline cache, make entries from structures."),
    "potentials": ("ssbkit.cli.potentials", "app", "ML interatomic potentials: list, check, compare, fit, fine-tune, label."),
    "build": ("ssbkit.cli.build", "app", "Build slabs, interfaces, grain boundaries and Li sites."),
    "diffusion": ("ssbkit.cli.diffusion", "app",
                  "Li diffusion from replica MD: D(T), activation energy, room-temperature conductivity."),
    "neb": ("ssbkit.cli.neb", "app", "Climbing-image NEB for Li hops, all images evaluated as one batch."),
    "kinetics": ("ssbkit.cli.kinetics", "kinetics",
                 "D(T) from NEB barriers, Vineyard prefactors and kinetic Monte Carlo on the site network."),
}


def load_command(name: str) -> Any:
    """The click command (or group) for COMMANDS[name], importing its module."""
    module, attribute, _ = COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        command = typer.main.get_command(target)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class _LazyCommands(MutableMapping):
    """The root group's commands: names from COMMANDS are listed at once and loaded on first access."""

    def __init__(self, loaded: MutableMapping[str, Any]):
        self.loaded = dict(loaded)

    def __getitem__(self, name: str) -> Any:
        if name not in self.loaded:
            if name not in COMMANDS:
                raise KeyError(name)
            self.loaded[name] = load_command(name)
        return self.loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self.loaded[name]

    def __iter__(self) -> Iterator[str]:
        yield from self.loaded
        yield from (name for name in COMMANDS if name not in self.loaded)

    def __len__(self) -> int:
        return len(self.loaded.keys() | COMMANDS.keys())


class LazyGroup(SsbkitGroup):
    """The root group: SsbkitGroup's error handling, commands loaded on first use; its help lists the
    commands that are not loaded yet with their one-line help from COMMANDS."""

    listing = False

    def __init__(self, **attributes: Any):
        super().__init__(**attributes)
        self.commands = _LazyCommands(self.commands)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if self.listing and cmd_name not in self.commands.loaded and cmd_name in COMMANDS:
            return TyperCommand(name=cmd_name, help=COMMANDS[cmd_name][2])
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


app = typer.Typer(cls=LazyGroup, no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="ssbkit: interface stability and Li diffusion for solid-state batteries. "
                       "--json prints one JSON document; user errors exit with code 2.")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                               help="Print the ssbkit version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v",
                                          help="Log ssbkit and third-party details (model banners, library "
                                               "warnings) on stderr.")] = False,
) -> None:
    """Root options (the help text is the app's)."""
    configure_verbosity(verbose)


@app.command("version")
def version(json_output: JsonOutput = False) -> None:
    """Print the ssbkit version."""
    if json_output:
        emit_json({"ssbkit": __version__})
    else:
        typer.echo(__version__)


def main() -> None:
    """Console-script entry point."""
    app()
