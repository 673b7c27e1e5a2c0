"""Image files for plots: the suffix check and an atomic save of a ``matplotlib.figure.Figure``.

Plot functions build a ``Figure()`` (never pyplot) so that saving an image leaves the matplotlib backend of
the calling process, a notebook's included, as it was.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ssbkit.errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def formula_label(text: str) -> str:
    """Chemical formulas in ``text`` with subscripted counts for matplotlib mathtext:
    ``"Li6PS5Cl"`` -> ``"Li$_6$PS$_5$Cl"``, ``"0.5 Li2S + Nb2O5"`` -> ``"0.5 Li$_2$S + Nb$_2$O$_5$"``.
    Only numbers right after an element symbol or a closing bracket are subscripted."""
    def subscript(match: re.Match) -> str:
        count = match.group(0)
        return f"$_{count}$" if len(count) == 1 else f"$_{{{count}}}$"

    return re.sub(r"(?<=[A-Za-z)\]])\d+(?:\.\d+)?", subscript, text.replace("$", r"\$"))


def image_formats() -> list[str]:
    """File suffixes (without the dot) that matplotlib writes images in: png, pdf, svg, ..."""
    from matplotlib.backend_bases import FigureCanvasBase

    return sorted(FigureCanvasBase.get_supported_filetypes())


def image_path(path: str | os.PathLike) -> Path:
    """``path`` as a Path; InputError naming the supported formats unless its suffix is one of them."""
    path = Path(path)
    image_format = path.suffix[1:].lower()
    formats = image_formats()
    if image_format not in formats:
        found = f"'{path.suffix}'" if path.suffix else "no suffix"
        raise InputError(f"cannot save a plot as {path} ({found}): use one of {', '.join('.' + f for f in formats)}")
    return path


def save_figure(figure: Figure, path: str | os.PathLike, *, dpi: int = 150, **savefig_options: object) -> Path:
    """Write ``figure`` to ``path`` atomically, in the format its suffix names. Returns the path."""
    from ssbkit.io import atomic_write

    path = image_path(path)
    image_format = path.suffix[1:].lower()
    return atomic_write(path, lambda temporary: figure.savefig(temporary, format=image_format, dpi=dpi,
                                                               **savefig_options))
