"""What a user error looks like from the command line: exit code 2 and one stderr line, no traceback."""

from __future__ import annotations

from typer.testing import CliRunner

from ssbkit.cli import app

runner = CliRunner()


def fails_cleanly(args: list[str], *expected: str) -> str:
    """Run the CLI; assert exit code 2 and one stderr line holding every ``expected`` text."""
    result = runner.invoke(app, args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]
