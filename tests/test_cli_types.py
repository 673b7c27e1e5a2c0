"""The shared CLI pieces: settings_options turns a settings dataclass into options; errors exit with code 2."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pytest
import typer
from typer.testing import CliRunner

from ssbkit.cli import app as ssbkit_app
from ssbkit.cli.types import JsonOutput, command_group, emit_json, settings_options
from ssbkit.errors import InputError


@dataclass(frozen=True)
class ToySettings:
    """Small calculation settings with the metadata keys the real ones carry."""

    timestep: float = field(default=2.0, metadata={"help": "Time step", "unit": "fs", "minimum": 0,
                                                   "exclusive_minimum": True, "maximum": None, "choices": None})
    steps: int = field(default=100, metadata={"help": "Number of steps.", "unit": None, "minimum": 1,
                                              "maximum": 1000, "choices": None})
    friction: float = field(default=0.002, metadata={"help": "Friction (1/fs) of the thermostat.", "unit": "1/fs"})
    thermostat: str = field(default="langevin", metadata={"help": "Thermostat", "unit": None, "minimum": None,
                                                          "maximum": None, "choices": ("langevin", "nose-hoover")})
    climb: bool = field(default=True, metadata={"help": "Climbing image", "unit": None})
    planes: tuple[float, ...] = field(default=(0.0, 0.5), metadata={"help": "Boundary planes",
                                                                    "unit": "fractional"})
    seed: int | None = field(default=None, metadata={"help": "Random seed"})
    internal: str = field(default="hidden", metadata={"help": "Not for the command line"})


def _app() -> typer.Typer:
    app = command_group("toy")

    @app.command("run")
    @settings_options(ToySettings, exclude=("internal",))
    def run(name: str = typer.Argument(..., help="A name."), settings: ToySettings = None,
            json_output: JsonOutput = False) -> None:
        """Echo the settings."""
        if name == "bad":
            raise InputError("bad name")
        emit_json({"name": name, "settings": settings})

    @app.command("custom")
    @settings_options(ToySettings, exclude=("internal",))
    def custom(steps: int = typer.Option(5, "--n-steps", "-n", help="Steps, spelled differently."),
               settings: ToySettings = None) -> None:
        """A command that declares one field's option itself."""
        emit_json(settings)

    @app.command("other")
    def other() -> None:
        """A second command, so that `run` stays a subcommand."""

    return app


def _invoke(*args: str):
    return CliRunner().invoke(_app(), list(args), env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})


def test_defaults_and_parsed_values_reach_the_dataclass():
    result = _invoke("run", "a")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["settings"] == {"timestep": 2.0, "steps": 100, "thermostat": "langevin",
                                                     "friction": 0.002, "climb": True, "planes": [0.0, 0.5],
                                                     "seed": None, "internal": "hidden"}
    result = _invoke("run", "a", "--timestep", "0.5", "--steps", "7", "--thermostat", "nose-hoover",
                     "--no-climb", "--planes", "0.25,0.75,1", "--seed", "3")
    assert result.exit_code == 0, result.output
    settings = json.loads(result.output)["settings"]
    assert settings == {"timestep": 0.5, "steps": 7, "thermostat": "nose-hoover", "friction": 0.002,
                        "climb": False, "planes": [0.25, 0.75, 1.0], "seed": 3, "internal": "hidden"}


def test_a_command_parameter_named_like_a_field_declares_its_option():
    result = _invoke("custom", "-n", "9")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["steps"] == 9
    assert json.loads(_invoke("custom").output)["steps"] == 5
    assert _invoke("custom", "--steps", "9").exit_code == 2


def test_help_shows_units_defaults_and_choices():
    text = " ".join(_invoke("run", "--help").output.split())
    for expected in ("--timestep", "Time step (fs). Range: > 0. [default: 2.0]", "--steps",
                     "Number of steps. Range: >= 1 and <= 1000. [default: 100]", "--no-climb",
                     "Thermostat. One of: langevin, nose-hoover.", "Friction (1/fs) of the thermostat. [default: 0.002]",
                     "Boundary planes (fractional).", "[default: 0,0.5]", "--seed"):
        assert expected in text, expected
    assert "--internal" not in text


@pytest.mark.parametrize("args", [("--steps", "many"), ("--timestep", "x"), ("--steps", "0"), ("--timestep", "0"),
                                  ("--thermostat", "berendsen"), ("--planes", "0,a"), ("--bogus", "1")])
def test_wrong_values_exit_with_code_2(args):
    result = _invoke("run", "a", *args)
    assert result.exit_code == 2, result.output


def test_a_command_without_settings_parameter_is_refused():
    with pytest.raises(TypeError, match="settings"):
        settings_options(ToySettings)(lambda steps=1: None)


def test_user_errors_print_one_line_and_exit_2():
    result = _invoke("run", "bad")
    assert result.exit_code == 2
    assert result.output.strip() == "error: bad name"


def test_root_version_flag_and_command_agree():
    flag = CliRunner().invoke(ssbkit_app, ["--version"])
    command = CliRunner().invoke(ssbkit_app, ["version"])
    assert flag.exit_code == command.exit_code == 0
    assert flag.output == command.output
    assert re.match(r"^\d+\.\d+", flag.output)
