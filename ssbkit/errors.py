"""Errors a user can act on. The CLI prints their message on one line and exits with code 2."""


class SsbkitError(Exception):
    """Base class for errors caused by input, data or environment rather than by a bug."""


class InputError(SsbkitError, ValueError):
    """Bad user input: an invalid formula, structure, parameter or file."""


class DataError(SsbkitError):
    """Missing or unusable data: an empty entry source, a missing cache, a corrupt file, an API failure."""


class ModelError(SsbkitError):
    """A potential that cannot be loaded or used: unknown name, absent weights, uncovered element."""


class CalculationError(SsbkitError):
    """A calculation that cannot go on: NaN forces, blown-up dynamics, degenerate NEB endpoints."""
