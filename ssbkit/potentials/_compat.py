"""The one place that makes e3nn 0.4.4 (pinned by mace-torch) importable on torch >= 2.6.

e3nn 0.4.4 loads its Wigner constants with ``torch.load`` at import time; torch >= 2.6 defaults to
``weights_only=True`` and refuses the pickled ``slice`` objects in that file. Allow-listing ``slice``
(a builtin that cannot execute code) lets the import succeed without turning weights-only loading off.
"""

from __future__ import annotations


def allow_e3nn_constants() -> None:
    """Allow-list what e3nn's constants file needs for weights-only loading. Idempotent."""
    import torch

    add_safe_globals = getattr(torch.serialization, "add_safe_globals", None)
    if add_safe_globals is not None:
        add_safe_globals([slice])


def configure_e3nn() -> None:
    """Make e3nn importable (see above) and skip TorchScript-compiling its generated code.

    SevenNet builds its model from e3nn modules at load time, and e3nn scripts every generated tensor
    product with ``torch.jit.script``; turning that off cut SevenNet-0's load from ~20 s to ~14 s
    here with identical energies and no slower evaluation (the fx-generated code runs eagerly).
    """
    allow_e3nn_constants()
    import e3nn

    e3nn.set_optimization_defaults(jit_script_fx=False)
