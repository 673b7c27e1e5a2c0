"""Workflows: plain functions that take structures, a calculator and parameters and return results.

Importing this package registers the workflows' entry sources (``mlip:``, :mod:`ssbkit.workflows.ml_entries`);
the factory imports ml_entries when an ``mlip:`` source is built, so the registration stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ssbkit.interfaces.entries import SourceOptions, register_source

if TYPE_CHECKING:
    from ssbkit.workflows.ml_entries import MLIPSource


def _mlip_source(argument: str, options: SourceOptions) -> MLIPSource:
    """``mlip:[MODEL:]PATH``: structures relaxed with an ML potential (relative paths from options.base_dir)."""
    from ssbkit.workflows.ml_entries import MLIPSource

    return MLIPSource(argument, base_dir=options.base_dir)


register_source("mlip", _mlip_source, needs_argument=True)
