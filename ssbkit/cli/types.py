"""Shared pieces of the ``ssbkit`` command: the error-handling group, output helpers, option types declared once,
the CLI's one way to read a structure, and ``settings_options`` to turn a settings dataclass into options.

Only light imports at module level: a command's ``--help`` builds every command of its module, so physics is
imported inside commands.
"""

import dataclasses
import functools
import inspect
import json
import sys
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from ssbkit.errors import SsbkitError

EXIT_USER_ERROR = 2
# click's UsageError (bad or missing option/argument), from the click that typer uses (typer >= 0.16 vendors one)
_USAGE_ERROR = next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "UsageError")


class SsbkitGroup(TyperGroup):
    """Turns SsbkitError raised by any subcommand, and a bad option or argument of one, into one stderr line and
    exit code 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except SsbkitError as exc:
            _print_error(str(exc))
            raise typer.Exit(EXIT_USER_ERROR) from exc
        except _USAGE_ERROR as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # a group called bare: its help, as click prints it
                raise
            command = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            _print_error(f"{' '.join(exc.format_message().split())} (see '{command} --help')")
            raise typer.Exit(EXIT_USER_ERROR) from exc


def run_script(main: Callable[[], None]) -> None:
    """Run an example or benchmark script's ``main`` as the CLI runs a command: an SsbkitError (bad input, a
    refused calculation) ends it with one line on stderr and exit code 2, not a traceback."""
    try:
        main()
    except SsbkitError as exc:
        _print_error(str(exc))
        sys.exit(EXIT_USER_ERROR)


def _print_error(message: str) -> None:
    """``error: MESSAGE`` as one line on stderr: characters that would break or hide the line (newlines,
    control characters from user input) are written as escapes."""
    from rich.console import Console
    from rich.markup import escape

    one_line = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)
    Console(stderr=True).print(f"[bold red]error:[/] {escape(one_line)}", highlight=False, soft_wrap=True)


def command_group(help_text: str) -> typer.Typer:
    """A typer app for one group of commands, with SsbkitGroup error handling."""
    return typer.Typer(cls=SsbkitGroup, help=help_text, no_args_is_help=True,
                       pretty_exceptions_enable=False, add_completion=False)


def emit_json(document: Any) -> None:
    """Print a result (dataclass, dict, list) as one JSON document on stdout."""
    from ssbkit.results import jsonable

    typer.echo(json.dumps(jsonable(document), indent=2))


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """Print a human-readable table on stdout. Cell text is never cut: long cells wrap, and a table wider than
    the terminal even when wrapped is printed as one ``field | value`` block per row instead."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    cells = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row] for row in rows]
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=False)
    for row in cells:
        table.add_row(*row)
    unconstrained = console.options.update_width(10**6)  # column minima are the longest words, not clamped
    if console.measure(table, options=unconstrained).minimum <= console.width:
        console.print(table)
        return
    console.print(title, style="table.title", highlight=False, soft_wrap=False, overflow="fold")
    for row in cells:
        block = Table(show_header=False, title_justify="left")
        block.add_column("field", style="bold", overflow="fold")
        block.add_column("value", overflow="fold")
        for column, value in zip(columns, row, strict=False):
            block.add_row(column, value)
        console.print(block)


def print_note(text: str) -> None:
    """Print a paragraph on stdout, wrapped at the terminal width."""
    from rich.console import Console

    Console().print(text, highlight=False, markup=False)


def configure_verbosity(verbose: bool) -> None:
    """With ``verbose``, log the ``ssbkit`` logger at DEBUG on stderr, which also shows the third-party output and
    warnings that :func:`ssbkit.logs.quiet_warnings` otherwise hides; without it, leave logging as it is."""
    import logging

    from ssbkit.logs import logger

    if not verbose:
        return
    logger.setLevel(logging.DEBUG)
    if not any(getattr(handler, "ssbkit_verbose", False) for handler in logger.handlers):
        handler = logging.StreamHandler()  # stderr
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler.ssbkit_verbose = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def print_caveats(caveats: Iterable[Any], context: str = "") -> None:
    """Print each caveat as ``warning [code]: message`` on stderr (``context`` names what it is about)."""
    where = f" ({context})" if context else ""
    for caveat in caveats:
        typer.echo(f"warning [{caveat.code}]{where}: {caveat.message}", err=True)


def print_committee(values: Iterable[Any], failures: Iterable[Any], caveats: Iterable[Any],
                    extra_rows: Iterable[list[Any]] = ()) -> None:
    """Print the committee table (each CommitteeValue's mean ± standard deviation, then ``extra_rows``, then
    each failed model with its reason) and the caveats on stderr."""
    print_table("Committee", ["quantity", "value"],
                [[value.quantity, value.summary()] for value in values] + list(extra_rows)
                + [[f"failed: {failure.model}", failure.reason] for failure in failures])
    print_caveats(caveats)


def read_atoms(path: str | Path) -> Any:
    """One structure (ase.Atoms): the last frame of PATH, or frame i of ``PATH@i``; any format ASE reads, or
    pymatgen Structure JSON. InputError for a missing or unreadable file."""
    from ssbkit.io import read_structure

    return read_structure(path)


JsonOutput = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else.")]
Model = Annotated[str, typer.Option("--model", "-m", help="Potential: a name from `ssbkit potentials list`, "
                                                          "or mace:PATH.")]
Models = Annotated[list[str], typer.Option("--model", "-m", help="Potential (a name from `ssbkit potentials list`, "
                                                                 "or mace:PATH); repeat to compare models.")]
Device = Annotated[str, typer.Option("--device", help="auto (CUDA when present), cpu or cuda[:N].")]
Source = Annotated[str, typer.Option(
    "--source", "-s",
    help="Entry source(s), comma-separated: mp, experimental, file:PATH (JSON/JSON.gz entry dicts), "
         "mlip:[MODEL:]PATH (structures relaxed with an ML potential).")]
Offline = Annotated[bool, typer.Option(
    "--offline", help="Never touch the network: mp entries come from the cache only (also SSBKIT_OFFLINE=1).")]


def checked_output(path: str | Path | None) -> str | Path | None:
    """Option callback for an output file: refuse a missing directory when the options are parsed, before
    anything is computed (ssbkit.io.check_output_path); the value is passed on as given."""
    if path:
        from ssbkit.io import check_output_path

        check_output_path(path)
    return path


def _image_path(path: Path | None) -> Path | None:
    """Check --plot's suffix and directory when the options are parsed, before anything is computed."""
    if path is None:
        return None
    from ssbkit.io import check_output_path
    from ssbkit.plotting import image_path

    return check_output_path(image_path(path))


Output = Annotated[str | None, typer.Option("-o", "--output", callback=checked_output,
                                            help="Write the structure to this .extxyz or .cif file.")]
Plot = Annotated[Path | None, typer.Option("--plot", callback=_image_path,
                                           help="Save the plot to this image file (.png, .pdf, .svg).")]
Csv = Annotated[Path | None, typer.Option("--csv", callback=checked_output,
                                          help="Also write the table as CSV to this file.")]


def _float_list(text: str) -> tuple[float, ...]:
    """Comma-separated floats, e.g. 0,0.5; typer.BadParameter (exit code 2) otherwise."""
    try:
        return tuple(float(value) for value in text.split(",") if value.strip())
    except ValueError:
        raise typer.BadParameter(f"takes comma-separated numbers such as 0,0.5, got {text!r}") from None


def _range_text(meta: Any) -> str:
    """``> 0``, ``>= 1 and <= 10``: the allowed range of a setting ('' if unbounded)."""
    bounds = []
    if meta.get("minimum") is not None:
        bounds.append(f"{'>' if meta.get('exclusive_minimum') else '>='} {meta['minimum']:g}")
    if meta.get("maximum") is not None:
        bounds.append(f"<= {meta['maximum']:g}")
    return " and ".join(bounds)


def _checker(meta: Any, comma_list: bool) -> Callable[[Any], Any]:
    """Option callback: parse a comma list, then check choices and range of each value (BadParameter, exit 2)."""
    minimum, maximum, choices = meta.get("minimum"), meta.get("maximum"), meta.get("choices")

    def check(value: Any) -> Any:
        if value is None:
            return None
        values = _float_list(value) if comma_list else (value,)
        for item in values:
            if choices and item not in choices:
                raise typer.BadParameter(f"{item!r} is not one of {', '.join(map(str, choices))}")
            too_low = minimum is not None and (item <= minimum if meta.get("exclusive_minimum") else item < minimum)
            if too_low or (maximum is not None and item > maximum):
                raise typer.BadParameter(f"{item:g} is out of range: expected {_range_text(meta)}")
        return values if comma_list else value

    return check


def _help_text(meta: Any) -> str:
    """The field's help with its unit, allowed choices and range."""
    text = str(meta.get("help", "")).strip().rstrip(".")
    unit, choices, bounds = meta.get("unit"), meta.get("choices"), _range_text(meta)
    if unit and f"({unit})" not in text:
        text += f" ({unit})"
    text += "."
    if choices and not all(str(choice) in text for choice in choices):
        text += f" One of: {', '.join(map(str, choices))}."
    if bounds:
        text += f" Range: {bounds}."
    return text


def _field_option(field: dataclasses.Field, annotation: Any) -> inspect.Parameter:
    """One keyword parameter ``Annotated[type, typer.Option(...)]`` for a settings field."""
    flag = "--" + field.name.replace("_", "-")
    optional = typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in typing.get_args(
        annotation)
    base = next(a for a in typing.get_args(annotation) if a is not type(None)) if optional else annotation
    if field.default is not dataclasses.MISSING:
        default = field.default
    elif field.default_factory is not dataclasses.MISSING:
        default = field.default_factory()
    else:
        default = inspect.Parameter.empty
    declarations, options = [flag], {"help": _help_text(field.metadata)}
    comma_list = typing.get_origin(base) in (tuple, list) or base in (tuple, list)
    if base is bool:
        declarations = [f"{flag}/--no-{flag[2:]}"]
        cli_type: Any = bool
    elif comma_list:
        cli_type = str
        options["metavar"] = "X,Y,..."
        if default not in (None, inspect.Parameter.empty):
            default = ",".join(f"{value:g}" for value in default)
    elif base in (int, float, str):
        cli_type = base
    else:
        raise TypeError(f"settings_options: no command-line type for {field.name}: {annotation!r}")
    if base is not bool:
        options["callback"] = _checker(field.metadata, comma_list)
    if optional:
        cli_type = cli_type | None
    return inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[cli_type, typer.Option(*declarations, **options)])


def settings_options(cls: type, exclude: Iterable[str] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command one option per field of the settings dataclass CLS and call it with
    ``settings=cls(**values)``.

    Options are ``--field-name`` (bools ``--x/--no-x``, tuples of floats a comma string), with help,
    unit, range (``minimum``, ``maximum``, ``exclusive_minimum``) and ``choices`` from the field's
    ``metadata``; they take the place of the command's ``settings`` parameter. A command parameter
    named like a field declares that field's option itself (another spelling or default): its value
    goes into the settings, not to the command. Fields in EXCLUDE get no option and keep their default.
    """
    hints = typing.get_type_hints(cls)
    excluded = set(exclude)
    fields = [f for f in dataclasses.fields(cls) if f.init and f.name not in excluded]
    names = [f.name for f in fields]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command, eval_str=True)
        if "settings" not in signature.parameters:
            raise TypeError(f"{command.__name__} needs a `settings` parameter for settings_options")
        parameters = []
        for parameter in signature.parameters.values():
            if parameter.name == "settings":
                parameters += [_field_option(f, hints[f.name]) for f in fields if f.name not in signature.parameters]
            else:
                parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))

        @functools.wraps(command)
        def with_settings(**values: Any) -> Any:
            settings = cls(**{name: values.pop(name) for name in names})
            return command(**values, settings=settings)

        with_settings.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        with_settings.__annotations__ = {p.name: p.annotation for p in parameters}
        return with_settings

    return decorate


Committee = Annotated[str | None, typer.Option("--committee", help="offline: every model whose weights ship in the "
                                                                 "install (chgnet, sevennet-0, sevennet-l3i5, "
                                                                 "chgnet-r2scan where its r2SCAN energy scale "
                                                                 "fits), instead of -m.")]

TrustModel = Annotated[bool, typer.Option("--trust-model", help="Load a model file (mace:PATH, chgnet:PATH, "
                                          "sevennet:PATH) in full, letting it run code; only for files from a "
                                          "source you trust (default: weights only, and for MACE only the classes "
                                          "of a MACE model).")]

Reference = Annotated[str, typer.Option("--reference", help="Reference code: emt, gpaw (DFT, PBE), or "
                                        "python:module.ClassName (any ASE calculator).")]
ReferenceSettings = Annotated[Path | None, typer.Option(
    "--reference-settings", help="YAML file of the reference's settings: gpaw's (mode, cutoff_eV, kpoint_density, "
    "kpoints, smearing_eV, spin, basis, setups, xc) or the calculator's keyword arguments.")]
