"""The table of entry-source prefixes (``mp``, ``file``, ``mlip``, ...) and their factories.

Kept apart from :mod:`ssbkit.interfaces.entries` so that a module can register a source without importing
pymatgen: a factory that imports its source class when called costs nothing until the source is used.
:func:`ssbkit.interfaces.entries.parse_source` reads this table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ssbkit.interfaces.entries import EntrySource, SourceOptions

SourceFactory = Callable[[str, "SourceOptions"], "EntrySource"]

#: prefix -> factory(argument, options); filled by register_source.
FACTORIES: dict[str, SourceFactory] = {}
#: Prefixes that must be written ``prefix:ARGUMENT``.
NEEDS_ARGUMENT: set[str] = set()


def register_source(prefix: str, factory: SourceFactory, *, needs_argument: bool = False) -> None:
    """Make ``prefix`` (or ``prefix:ARGUMENT``) usable in source strings; ``factory(argument, options)``."""
    FACTORIES[prefix] = factory
    if needs_argument:
        NEEDS_ARGUMENT.add(prefix)


def source_names() -> list[str]:
    """Registered source prefixes."""
    return sorted(FACTORIES)
