"""MkDocs hook: write the ``ssbkit`` command reference into ``cli.md`` from the typer app itself, in place of
the line ``<!-- cli-reference -->``, so the page lists exactly the commands and options the CLI has.
Commands and parameters are read by duck typing (typer ships its own copy of click)."""

from __future__ import annotations

from typing import Any

MARKER = "<!-- cli-reference -->"


def _default(parameter: Any) -> str:
    default = parameter.default
    if parameter.required:
        return "required"
    if default is None or callable(default) or default in ("", (), []):
        return ""
    if isinstance(default, bool):
        return "on" if default else "off"
    values = default if isinstance(default, (list, tuple)) else [default]
    return ", ".join(f"`{getattr(value, 'value', value)}`" for value in values)


def _cell(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def _command_section(command: Any, path: list[str]) -> list[str]:
    name = " ".join(path)
    lines = [f"{'#' * min(len(path), 4)} `{name}`", "", _cell(command.help), ""]
    if hasattr(command, "commands"):  # a command group
        for sub_name in sorted(command.commands):
            lines += _command_section(command.commands[sub_name], [*path, sub_name])
        return lines
    shown = [p for p in command.params if not getattr(p, "hidden", False)]
    arguments = [p for p in shown if p.param_type_name == "argument"]
    options = [p for p in shown if p.param_type_name == "option"]
    usage = " ".join([name, *((a.metavar or a.name.upper()) for a in arguments), "[OPTIONS]" if options else ""])
    lines += ["```text", usage.strip(), "```", ""]
    if shown:
        lines += ["| argument or option | default | meaning |", "| --- | --- | --- |"]
        lines += [f"| `{(a.metavar or a.name.upper())}` | {_default(a)} | {_cell(getattr(a, 'help', None))} |"
                  for a in arguments]
        lines += [f"| {', '.join(f'`{n}`' for n in [*o.opts, *o.secondary_opts])} | {_default(o)} | {_cell(o.help)} |"
                  for o in options]
        lines.append("")
    return lines


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER not in markdown:
        return markdown
    import typer

    from ssbkit.cli import app

    root = typer.main.get_command(app)
    sections = []
    for name in sorted(root.commands):
        sections += _command_section(root.commands[name], ["ssbkit", name])
    return markdown.replace(MARKER, "\n".join(sections))
