"""Loading MACE model files without running code from them.

A ``.model`` file is a pickle, and unpickling can call any Python function the file names (a
``__reduce__`` that runs ``os.system``, say). mace-torch also turns torch's safe loading off for the
whole process when imported (it sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``). So ssbkit loads model files
itself with ``torch.load(weights_only=True)`` and an allow-list of the classes a MACE model is built
from (``MACE_GLOBALS``, read off the GLOBAL opcodes of real model files), and refuses a file naming
anything else, unless the caller trusts the file (``trust=True``, the CLI's ``--trust-model``).

e3nn stores its generated tensor-product code in the file as torch.fx source text that unpickling
``exec``s. That one entry (``torch.fx.graph_module.reduce_graph_module``) is replaced by
``checked_graph_module``, which accepts only a plain ``forward`` of tensor operations.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import os
import pickle
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ssbkit.errors import ModelError

UNSAFE_LOAD_VARIABLE = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
GRAPH_MODULE_GLOBAL = "torch.fx.graph_module.reduce_graph_module"

#: Classes and functions MACE model files name (MACE / ScaleShiftMACE with the usual blocks), beyond
#: what torch's weights-only unpickler allows by itself (tensors, storages, OrderedDict, set).
MACE_GLOBALS = (
    "collections.OrderedDict",
    "e3nn.math._normalize_activation.normalize2mom",
    "e3nn.nn._activation.Activation",
    "e3nn.nn._fc.FullyConnectedNet",
    "e3nn.nn._fc._Layer",
    "e3nn.nn._gate.Gate",
    "e3nn.nn._extract.Extract",
    "e3nn.o3._irreps.Irrep",
    "e3nn.o3._irreps.Irreps",
    "e3nn.o3._irreps._MulIr",
    "e3nn.o3._linear.Instruction",
    "e3nn.o3._linear.Linear",
    "e3nn.o3._spherical_harmonics.SphericalHarmonics",
    "e3nn.o3._tensor_product._instruction.Instruction",
    "e3nn.o3._tensor_product._sub.FullyConnectedTensorProduct",
    "e3nn.o3._tensor_product._sub.ElementwiseTensorProduct",
    "e3nn.o3._tensor_product._tensor_product.TensorProduct",
    "mace.modules.blocks.AtomicEnergiesBlock",
    "mace.modules.blocks.EquivariantProductBasisBlock",
    "mace.modules.blocks.LinearNodeEmbeddingBlock",
    "mace.modules.blocks.LinearReadoutBlock",
    "mace.modules.blocks.NonLinearReadoutBlock",
    "mace.modules.blocks.RadialEmbeddingBlock",
    "mace.modules.blocks.RealAgnosticInteractionBlock",
    "mace.modules.blocks.RealAgnosticResidualInteractionBlock",
    "mace.modules.blocks.RealAgnosticDensityInteractionBlock",
    "mace.modules.blocks.RealAgnosticDensityResidualInteractionBlock",
    "mace.modules.blocks.RealAgnosticAttResidualInteractionBlock",
    "mace.modules.blocks.ScaleShiftBlock",
    "mace.modules.irreps_tools.reshape_irreps",
    "mace.modules.models.MACE",
    "mace.modules.models.ScaleShiftMACE",
    "mace.modules.radial.AgnesiTransform",
    "mace.modules.radial.BesselBasis",
    "mace.modules.radial.ChebychevBasis",
    "mace.modules.radial.GaussianBasis",
    "mace.modules.radial.PolynomialCutoff",
    "mace.modules.radial.SoftTransform",
    "mace.modules.radial.ZBLBasis",
    "mace.modules.symmetric_contraction.Contraction",
    "mace.modules.symmetric_contraction.SymmetricContraction",
    "torch.fx._symbolic_trace.Tracer",  # the default tracer class e3nn's graph modules record
    "torch.nn.functional.silu",
    "torch.nn.functional.tanh",
    "torch.nn.functional.sigmoid",
    "torch.nn.modules.activation.SiLU",
    "torch.nn.modules.container.ModuleDict",
    "torch.nn.modules.container.ModuleList",
    "torch.nn.modules.container.ParameterList",
    "torch.nn.modules.container.Sequential",
    "torch.nn.modules.linear.Linear",
)

#: Functions the generated forward code may call by their global name (besides methods of its values).
GRAPH_FUNCTIONS = frozenset({
    "torch.functional.einsum", "torch.functional.tensordot", "torch.einsum", "torch.tensordot", "torch.cat",
    "torch.stack", "torch.reshape", "torch.zeros", "torch.ones", "torch.zeros_like", "torch.ones_like",
    "torch.sqrt", "torch.narrow", "torch.split", "torch.mul", "torch.add", "torch.sum", "getattr",
})
GRAPH_IMPORTS = "from math import inf\nfrom math import nan\nfrom torch import device\nimport torch\n"
_NODES = (ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.Assign, ast.Return, ast.Call, ast.keyword,
          ast.Attribute, ast.Name, ast.Load, ast.Store, ast.Constant, ast.Tuple, ast.List, ast.Subscript, ast.Slice,
          ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop, ast.Expr, ast.Pass)


def _dotted(node: ast.AST) -> str | None:
    """'torch.functional.einsum' for that attribute chain on a name, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (base := _dotted(node.value)):
        return f"{base}.{node.attr}"
    return None


def check_graph_code(code: str) -> None:
    """ModelError unless ``code`` is one ``def forward`` of assignments and calls of GRAPH_FUNCTIONS or of
    public methods of its own arguments and values (no imports, no dunder names, nothing run at definition)."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise ModelError(f"model file holds generated code that does not parse: {exc}") from exc
    functions = tree.body
    if len(functions) != 1 or not isinstance(functions[0], ast.FunctionDef) or functions[0].name != "forward" \
            or functions[0].decorator_list or functions[0].returns:
        raise ModelError("model file holds generated code other than one plain forward function")
    forward = functions[0]
    local = {a.arg for a in forward.args.args} | {n.id for n in ast.walk(forward)
                                                  if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    if any(d is not None and not isinstance(d, ast.Constant) for d in forward.args.defaults):
        raise ModelError("model file holds generated code with computed default arguments")
    for node in ast.walk(forward):
        if not isinstance(node, _NODES) or isinstance(node, ast.arg) and node.annotation is not None:
            raise ModelError(f"model file holds generated code with a {type(node).__name__} statement")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ModelError(f"model file holds generated code that reaches the private attribute {node.attr!r}")
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            root = name.split(".")[0] if name else None
            if name not in GRAPH_FUNCTIONS and not (root in local and isinstance(node.func, ast.Attribute)):
                raise ModelError(f"model file holds generated code that calls {name or 'a computed function'}")
            if name == "getattr" and not (len(node.args) == 2 and isinstance(node.args[1], ast.Constant)
                                          and not str(node.args[1].value).startswith("_")):
                raise ModelError("model file holds generated code with a getattr of a computed or private name")
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local | {
                "torch", "getattr", "None", "inf", "nan", "device"}:
            raise ModelError(f"model file holds generated code that uses the name {node.id!r}")


def checked_graph_module(body: dict[str, Any], import_block: str) -> Any:
    """torch.fx's GraphModule rebuild for weights-only loading: the stored forward source is checked
    (``check_graph_code``) and compiled with a fixed import block instead of the file's own."""
    from torch.fx.graph_module import reduce_graph_module

    code = body.get("_code") or body.get("code")
    if not isinstance(code, str):
        raise ModelError("model file holds a graph module without its code")
    check_graph_code(code)
    return reduce_graph_module(body, GRAPH_IMPORTS)


def _allowed(names: tuple[str, ...]) -> list[tuple[Any, str]]:
    """``torch.serialization.safe_globals`` entries for ``names``: each object with the name a file uses for it,
    which need not be where the object now lives (numpy 2 keeps ``numpy.core.multiarray._reconstruct`` as an
    alias of ``numpy._core.multiarray._reconstruct``, and torch matches a bare object by the latter only).
    Names this mace-torch / e3nn / torch / numpy does not have are left out."""
    allowed = []
    for name in names:
        module, _, attribute = name.rpartition(".")
        try:
            allowed.append((getattr(importlib.import_module(module), attribute), name))
        except (ImportError, AttributeError):
            continue
    return allowed


@contextlib.contextmanager
def preserved_environment(*names: str) -> Iterator[None]:
    """Restore the given environment variables on exit (mace-torch sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD
    when imported)."""
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def preserved_default_dtype() -> Iterator[None]:
    """Restore torch's default dtype on exit: mace-torch sets it process-wide (float64) when it builds a
    calculator or trains, which would make CHGNet and SevenNet, loaded later in the same process, build
    float64 inputs for their float32 weights."""
    import torch

    saved = torch.get_default_dtype()
    try:
        yield
    finally:
        torch.set_default_dtype(saved)


def disallowed_globals(path: str | Path) -> list[str]:
    """The functions and classes a model file names beyond MACE_GLOBALS (empty: safe to load)."""
    import torch

    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except (RuntimeError, ValueError, OSError, pickle.UnpicklingError) as exc:
        raise ModelError(f"cannot load model file {path}: {exc}") from exc
    return sorted(set(names) - set(MACE_GLOBALS) - {GRAPH_MODULE_GLOBAL})


def _trust_hint(path: str | Path) -> str:
    return (f"refusing to load model file {path}: loading it would let it run code. Pass trust_model=True "
            "(CLI: --trust-model) only for a file from a source you trust")


def load_model_file(path: str | Path, device: str = "cpu", trust: bool = False) -> Any:
    """The torch module stored in a MACE model file, on ``device``.

    Unless ``trust``, it is loaded with ``torch.load(weights_only=True)`` and MACE_GLOBALS allowed, and a
    file naming any other function or class is refused with ModelError (nothing in it runs).
    """
    import torch

    from ssbkit.potentials._compat import allow_e3nn_constants

    allow_e3nn_constants()
    with preserved_environment(UNSAFE_LOAD_VARIABLE):
        if trust:
            return torch.load(str(path), map_location=device, weights_only=False)
        if disallowed := disallowed_globals(path):
            raise ModelError(f"{_trust_hint(path)}; it names {', '.join(disallowed)}, which a MACE model does "
                             "not need")
        allowed = [*_allowed(MACE_GLOBALS), (checked_graph_module, GRAPH_MODULE_GLOBAL)]
        try:
            with torch.serialization.safe_globals(allowed):
                return torch.load(str(path), map_location=device, weights_only=True)
        except pickle.UnpicklingError as exc:
            named = re.search(r"GLOBAL (\S+)", str(exc))
            detail = f"it names {named.group(1)}" if named else str(exc).splitlines()[0]
            raise ModelError(f"{_trust_hint(path)}; {detail}") from exc


#: What a CHGNet or SevenNet checkpoint holds beyond tensors and plain containers: numpy arrays in SevenNet's
#: config (torch's documented allow-list for numpy arrays; rebuilding an array runs no code).
CHECKPOINT_GLOBALS = ("numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct", "numpy.ndarray",
                      "numpy.dtype")


def load_checkpoint(path: str | Path, trust: bool = False) -> dict[str, Any]:
    """The dictionary in a CHGNet or SevenNet checkpoint file, on the CPU.

    Unless ``trust``, loaded with ``torch.load(weights_only=True)`` (tensors, plain containers and numpy arrays);
    a file naming anything else is refused with ModelError (nothing in it runs).
    """
    import numpy as np
    import torch

    with preserved_environment(UNSAFE_LOAD_VARIABLE):
        try:
            if trust:
                checkpoint = torch.load(str(path), map_location="cpu", weights_only=False)
            else:
                allowed = [*_allowed(CHECKPOINT_GLOBALS),
                           *(type(np.dtype(kind)) for kind in ("float64", "float32", "int64", "int32", "bool"))]
                with torch.serialization.safe_globals(allowed):
                    checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            named = re.search(r"GLOBAL (\S+)", str(exc))
            detail = f"it names {named.group(1)}" if named else str(exc).splitlines()[0]
            raise ModelError(f"{_trust_hint(path)}; {detail}") from exc
        except (RuntimeError, ValueError, OSError, EOFError) as exc:
            raise ModelError(f"cannot load model file {path}: {exc}") from exc
    if not isinstance(checkpoint, dict):
        raise ModelError(f"model file {path} does not hold a checkpoint dictionary")
    return checkpoint
