"""Importing the workflows (and the CLI that builds its options from their settings classes) stays light:
torch and the model packages are imported only when a model is loaded or evaluated, and no ``--help`` imports
physics (numpy, ASE, pymatgen, scipy, torch): the settings classes the options come from live in
``ssbkit.workflows.settings`` and ``ssbkit.potentials.settings``. The root command loads a command's module only
when that command is used. Import sets are checked, not timings (benchmarks/cli_latency.py prints those).

Each check runs in a fresh interpreter, since the test session itself has torch loaded already.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "chgnet", "sevenn", "mace", "e3nn")
NOT_FOR_HELP = ("numpy", "ase", "pymatgen.core", "pymatgen.entries", "scipy", "torch")
GROUP_MODULES = ("ssbkit.cli.adhesion", "ssbkit.cli.build", "ssbkit.cli.diffusion", "ssbkit.cli.entries",
                 "ssbkit.cli.neb", "ssbkit.cli.potentials", "ssbkit.cli.runner", "ssbkit.cli.thermo",
                 "ssbkit.workflows.ml_entries")


def _heavy_modules_after(statement: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """The modules of ``heavy`` in ``sys.modules`` after running ``statement`` in a new Python process."""
    probe = f"import sys\n{statement}\nprint(' '.join(name for name in {heavy!r} if name in sys.modules))"
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                               check=True)
    return completed.stdout.split()


@pytest.mark.parametrize("statement", [
    "import ssbkit.workflows.neb, ssbkit.workflows.md, ssbkit.workflows.adhesion, ssbkit.workflows.kinds",
    "import ssbkit.workflows.relax, ssbkit.workflows.diffusion, ssbkit.workflows.runner",
    "import ssbkit.potentials",
    "from typer.main import get_command\nfrom ssbkit.cli import app\nget_command(app)",
])
def test_import_does_not_load_model_packages(statement):
    assert _heavy_modules_after(statement) == []


def _help_statement(arguments: str) -> str:
    return ("from typer.testing import CliRunner\nfrom ssbkit.cli import app\n"
            f"result = CliRunner().invoke(app, {arguments.split() + ['--help']!r})\n"
            "assert result.exit_code == 0, result.output")


def test_root_help_imports_no_command_module():
    assert _heavy_modules_after(_help_statement(""), NOT_FOR_HELP + GROUP_MODULES) == []


#: Renders the help of every command and subcommand in one interpreter and prints, for each help that imported one
#: of HEAVY_NAMES, the command and those modules (import sets only grow, so each help is checked on its own).
_EVERY_HELP = """
import sys
from typer.testing import CliRunner
from ssbkit.cli import COMMANDS, app, load_command

runner, seen = CliRunner(), set()
for name in COMMANDS:
    command = load_command(name)
    for arguments in [[name]] + [[name, sub] for sub in getattr(command, "commands", {})]:
        result = runner.invoke(app, arguments + ["--help"])
        assert result.exit_code == 0, (arguments, result.output)
        new = [module for module in HEAVY_NAMES if module in sys.modules and module not in seen]
        seen.update(new)
        if new:
            print(" ".join(arguments), "->", ", ".join(new))
"""


def test_every_command_help_imports_no_physics():
    """``ssbkit GROUP --help`` and ``ssbkit GROUP COMMAND --help``, for every group and command of COMMANDS."""
    probe = _EVERY_HELP.replace("HEAVY_NAMES", repr(NOT_FOR_HELP))
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                               check=True)
    assert completed.stdout.strip() == ""


def test_root_help_lists_each_command_with_its_own_help():
    """The one-line helps in ssbkit.cli.COMMANDS (shown without importing) match the commands' own."""
    from typer.testing import CliRunner

    from ssbkit.cli import COMMANDS, app, load_command

    listing = " ".join(CliRunner().invoke(app, ["--help"]).output.replace("│", " ").split())
    for name, (_, _, short_help) in COMMANDS.items():
        assert load_command(name).help.split("\n\n")[0].strip() == short_help, name
        assert f"{name} {short_help}" in listing


def test_user_errors_of_lazily_loaded_commands_print_one_line_and_exit_2(tmp_path):
    from typer.testing import CliRunner

    from ssbkit.cli import app

    result = CliRunner().invoke(app, ["neb", "run", str(tmp_path / "missing.cif"), str(tmp_path / "missing.cif")])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_public_names_of_potentials_stay_importable():
    from ssbkit.potentials import (  # noqa: F401
        CARDS,
        CUDA_BATCH_EDGES,
        DEFAULT_DTYPE,
        DEFAULT_MODEL,
        ModelCard,
        Prediction,
        card,
        check_coverage,
        load,
        model_name,
        predict,
    )
    from ssbkit.potentials.backends import SsbkitCHGNetCalculator, chgnet_forward  # noqa: F401
