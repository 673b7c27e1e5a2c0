"""Build the example notebooks (``NN_name.ipynb``) from their sources in ``notebooks/src/NN_name.py``.

Sources use the percent format: ``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell whose
lines are written as comments (``# text``). Notebooks are written with no outputs, so git holds only
the code; the test suite (``tests/test_notebooks.py``) executes them and checks they match their sources.

    python notebooks/build_notebooks.py          # rewrite every notebook from its source
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent
SOURCES = NOTEBOOKS / "src"
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def _markdown(lines: list[str]) -> str:
    return "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines).strip("\n")


def notebook_from_source(text: str) -> nbformat.NotebookNode:
    """A notebook (no outputs) from percent-format source text."""
    cells = []
    kind, lines = None, []

    def flush() -> None:
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            cells.append(nbformat.v4.new_markdown_cell(_markdown(lines)))
        elif kind == "code" and body:
            cells.append(nbformat.v4.new_code_cell(body))

    for line in text.splitlines():
        if line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        elif kind is not None:
            lines.append(line)
    flush()
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = KERNEL
    notebook.metadata["language_info"] = {"name": "python"}
    for number, cell in enumerate(notebook.cells):  # stable ids keep git diffs small
        cell["id"] = f"cell-{number:02d}"
    return notebook


def build(source: Path) -> Path:
    """Write ``notebooks/<source stem>.ipynb`` from a source file; returns its path."""
    target = NOTEBOOKS / f"{source.stem}.ipynb"
    nbformat.write(notebook_from_source(source.read_text(encoding="utf-8")), target)
    return target


def main() -> None:
    for source in sorted(SOURCES.glob("[0-9][0-9]_*.py")):
        print(build(source).relative_to(NOTEBOOKS.parent), file=sys.stderr)


if __name__ == "__main__":
    main()
