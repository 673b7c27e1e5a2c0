"""The documentation site builds with ``mkdocs build --strict``: every page, the API reference generated from the
docstrings, the CLI reference and the notebooks, with no broken links or references. This is how CI checks the
site; it is skipped where the docs extra (``pip install -e ".[docs]"``) is not installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("material")
pytest.importorskip("mkdocstrings_handlers.python")
pytest.importorskip("mkdocs_jupyter")

ROOT = Path(__file__).resolve().parents[1]


def test_site_builds_strict(tmp_path):
    site = tmp_path / "site"
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                           cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-5000:]
    assert "WARNING" not in build.stderr, build.stderr[-5000:]
    pages = {path.relative_to(site).as_posix() for path in site.rglob("index.html")}
    assert {"index.html", "architecture/index.html", "cli/index.html", "api/workflows/index.html",
            "notebooks/01_coating_screening/index.html"} <= pages
    assert "ssbkit.workflows.neb.neb" in (site / "api/workflows/index.html").read_text()
    assert "--plot" in (site / "cli/index.html").read_text()
