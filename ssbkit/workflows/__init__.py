"""Workflows: plain functions that take structures, a calculator and parameters and return results.

Importing this package registers the workflows' entry sources (``mlip:``, :mod:`ssbkit.workflows.ml_entries`).
"""

from ssbkit.workflows import ml_entries  # noqa: F401  (registers the mlip entry source)
