"""ML interatomic potentials behind one registry, with batched evaluation.

``load(name)`` returns an ASE calculator for a registered model (``chgnet``, ``sevennet-0``,
``mace-mp-0-medium``, ...), a local model file (``chgnet:PATH``, ``sevennet:PATH``, ``mace:PATH``, e.g. written
by ``ssbkit.potentials.finetune``) or passes an ASE calculator through.
``predict(structures, calculator)`` evaluates many structures through the backend's own graph
batching (``ssbkit.potentials.batching``, which also holds the proxy calculators that batch the model
calls of NEB images and of jobs run in lockstep). Everything atomistic in ssbkit receives a
calculator from here as an argument.

Precision: ``dtype=None`` picks by ``task`` (``DEFAULT_DTYPE``): float64 for ``"relax"`` and ``"neb"``,
float32 for ``"md"``. Backends that only run in float32 (CHGNet, SevenNet) use float32 whatever the
task; asking them explicitly for float64 is an error.
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING, Any

from ssbkit.errors import InputError, ModelError
from ssbkit.potentials._compat import configure_e3nn
from ssbkit.potentials.registry import (
    CARDS,
    DEFAULT_DTYPE,
    DEFAULT_MODEL,
    ModelCard,
    card,
    local_card,
    local_model_path,
    resolve_mace_weights,
)

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator

    from ssbkit.potentials.batching import CUDA_BATCH_EDGES, Prediction, check_coverage, model_name, predict

DTYPES = ("float32", "float64")
_BATCHING_NAMES = ("CUDA_BATCH_EDGES", "Prediction", "check_coverage", "model_name", "predict")


def __getattr__(name: str) -> Any:
    """The names of ``ssbkit.potentials.batching`` (``predict``, ...), imported on first use, so importing this
    package (as ``--help`` does for the settings) loads neither numpy nor ASE."""
    if name in _BATCHING_NAMES:
        from ssbkit.potentials import batching

        return getattr(batching, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelError(f"device {device!r} requested but CUDA is not available on this machine; "
                             "use device='cpu' or 'auto'")
        return device
    if device != "cpu":
        raise InputError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda[:N]'")
    return device


def _resolve_dtype(model_card: ModelCard, dtype: str | None, task: str) -> str:
    if task not in DEFAULT_DTYPE:
        raise InputError(f"unknown task {task!r}; choose from {sorted(DEFAULT_DTYPE)}")
    if dtype is None:
        wanted = DEFAULT_DTYPE[task]
        return wanted if wanted in model_card.dtypes else model_card.dtypes[0]
    if dtype not in DTYPES:
        raise InputError(f"unknown dtype {dtype!r}; choose from {DTYPES}")
    if dtype not in model_card.dtypes:
        raise ModelError(f"{model_card.name} runs only in {', '.join(model_card.dtypes)}, not {dtype}")
    return dtype


def load(name: str | Calculator = DEFAULT_MODEL, device: str = "auto", dtype: str | None = None,
         *, task: str = "relax", trust_model: bool = False) -> Calculator:
    """Return an ASE calculator for a registered model name, a local model file (``chgnet:PATH``,
    ``sevennet:PATH``, ``mace:PATH``), or an ASE calculator.

    ``device``: "auto" (CUDA when present), "cpu" or "cuda[:N]". ``dtype``: "float32", "float64" or
    None for the task's default (``DEFAULT_DTYPE``; ``task`` is "relax", "neb" or "md").
    The calculator carries its ``ssbkit_card`` (ModelCard) and ``ssbkit_dtype``.
    ``trust_model``: load a local model file in full, letting it run code; by default a ``mace:PATH`` file may
    name only the classes a MACE model is made of, and ``chgnet:PATH``/``sevennet:PATH`` files are loaded
    weights-only (``ssbkit.potentials.model_files``).
    """
    from ase.calculators.calculator import Calculator

    if isinstance(name, Calculator):
        return name
    if not isinstance(name, str):
        raise InputError(f"model must be a name or an ASE calculator, not {type(name).__name__}")
    local = local_model_path(name)
    if local is not None:
        model_card = local_card(*local)
        path = local[1]
    else:
        model_card = card(name)
        path = resolve_mace_weights(model_card) if model_card.backend == "mace" else None
    device = _resolve_device(device)
    precision = _resolve_dtype(model_card, dtype, task)
    if model_card.backend != "chgnet":
        configure_e3nn()
    from ssbkit.potentials import backends

    try:
        if model_card.backend == "chgnet" and local is not None:
            calculator = backends.chgnet_file_calculator(path, device, trust=trust_model)
        elif model_card.backend == "chgnet":
            calculator = backends.chgnet_calculator(device, model_card.checkpoint or "0.3.0")
        elif model_card.backend == "sevennet" and local is not None:
            calculator = backends.sevennet_file_calculator(path, device, trust=trust_model)
        elif model_card.backend == "sevennet":
            calculator = backends.sevennet_calculator(model_card.checkpoint, device)
        else:
            calculator = backends.mace_calculator(str(path), device, precision,
                                                  trust=trust_model or local is None)
    except (RuntimeError, ValueError, KeyError, AttributeError, EOFError, OSError,
            pickle.UnpicklingError) as exc:
        raise ModelError(f"cannot load {model_card.name} from {model_card.weights}: {exc}") from exc
    calculator.ssbkit_card = model_card
    calculator.ssbkit_dtype = precision
    return calculator


__all__ = [
    "CARDS",
    "CUDA_BATCH_EDGES",
    "DEFAULT_DTYPE",
    "DEFAULT_MODEL",
    "ModelCard",
    "Prediction",
    "card",
    "check_coverage",
    "load",
    "model_name",
    "predict",
]
