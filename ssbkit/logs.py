"""The ``ssbkit`` logger and ``quiet_warnings``: what third-party code prints or warns while ssbkit calls it
(CHGNet's start-up lines, MACE's cuequivariance line, e3nn's weights-only warning, pymatgen's CIF label warnings, torch UserWarnings) goes to
this logger at DEBUG instead of stderr.

The only switch is the logging configuration: when the ``ssbkit`` logger is enabled for DEBUG (``ssbkit -v``,
or ``logging.getLogger("ssbkit").setLevel(logging.DEBUG)`` in a script), the warnings are shown as usual.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

logger = logging.getLogger("ssbkit")

QUIET_WARNINGS: tuple[tuple[type[Warning], str], ...] = (
    (UserWarning, r"Site labels are not unique"),  # pymatgen CifWriter on partially occupied sites
    (UserWarning, r"Converting a tensor with requires_grad=True to a scalar"),  # chgnet BatchedGraph volumes
    (UserWarning, r"Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"),  # e3nn's torch.load on MACE import
    (UserWarning, r"Sites with different site property grain_label"),  # pymatgen GB builder merging sites
    (UserWarning, r"Not all sites have property grain_label"),  # pymatgen GB builder
)


def verbose() -> bool:
    """True when the ``ssbkit`` logger is enabled for DEBUG: third-party warnings are then shown."""
    return logger.isEnabledFor(logging.DEBUG)


@contextlib.contextmanager
def quiet_warnings() -> Iterator[None]:
    """Within the block, hide the known third-party warnings (``QUIET_WARNINGS``) and log what is printed on
    stdout at DEBUG; both are shown as usual when :func:`verbose`."""
    printed = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(printed):
        if not verbose():
            for category, message in QUIET_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=category)
        try:
            yield
        finally:
            for line in printed.getvalue().splitlines():
                if line.strip():
                    logger.debug(line)


@contextlib.contextmanager
def warnings_unless_failed() -> Iterator[None]:
    """Within the block, hold back warnings: shown as usual (less :func:`quiet_warnings`' known noise) when
    the block succeeds, logged at DEBUG when it raises, where the error that follows says what went wrong
    (pymatgen warns about every CIF section it cannot parse before it raises on a file with none)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with quiet_warnings():
                yield
        except BaseException:
            for warning in caught:
                logger.debug("%s: %s", warning.category.__name__, warning.message)
            raise
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
