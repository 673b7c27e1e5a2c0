"""What a user error looks like from the command line: exit code 2 and one stderr line, no traceback."""

from __future__ import annotations

import warnings
from typing import Any

from click.testing import Result
from typer.testing import CliRunner

from ssbkit.cli import app

runner = CliRunner()


def invoke_without_warnings(args: list[str], **kwargs: Any) -> Result:
    """Run the CLI (``CliRunner.invoke``) and assert it showed no warning: pytest records warnings, where a
    user's terminal would show them on stderr (deprecations aside, which Python hides by default)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = runner.invoke(app, args, **kwargs)
    shown = [w for w in caught if not issubclass(w.category, DeprecationWarning | PendingDeprecationWarning)]
    assert not shown, (args, [str(w.message) for w in shown])
    return result


def fails_cleanly(args: list[str], *expected: str) -> str:
    """Run the CLI; assert exit code 2, no warning, and one stderr line holding every ``expected`` text."""
    result = invoke_without_warnings(args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]
