"""Per-backend graph building and batched evaluation for CHGNet, SevenNet and MACE.

Each backend turns ``ase.Atoms`` into its own graph type, reports the graph's edge count, and
evaluates a list of graphs in one forward/backward pass through its own batching
(CHGNet ``BatchedGraph``, torch-geometric ``Batch`` for SevenNet and MACE). ``predict`` groups
graphs into batches under an edge budget and calls ``evaluate`` once per batch.

CHGNet's own ``predict_graph`` differentiates with ``create_graph=True`` and runs two backward
passes (forces, then stress); that keeps a double-backward graph alive and makes it 2-5x slower on
CPU than one first-order backward for both. ``chgnet_forward`` takes the gradient with respect to
positions and strains in a single first-order pass; ``SsbkitCHGNetCalculator`` uses it for
single-structure calls too, so relaxations, NEB and MD get the same speed-up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

if TYPE_CHECKING:
    import torch

#: Results of one structure: energy (eV), forces (eV/Å), stress (eV/Å³, Voigt: xx yy zz yz xz xy).
Evaluation = tuple[float, np.ndarray, np.ndarray]

_VOIGT = (0, 1, 2, 1, 0, 0), (0, 1, 2, 2, 2, 1)  # (row, column) of xx yy zz yz xz xy


@dataclass(frozen=True)
class Backend:
    """How to build graphs for one model family and evaluate a batch of them."""

    name: str
    elements: Callable[[Calculator], frozenset[int]]
    graph: Callable[[Calculator, Atoms], Any]
    edges: Callable[[Any], int]
    evaluate: Callable[[Calculator, list[Any]], list[Evaluation]]
    #: Edges per batch on CPU with one torch thread. There batches only save Python overhead and
    #: lose cache locality; measured in benchmarks/potentials_speed.py (8 rattled 8-atom LiF cells,
    #: process CPU time): CHGNet 1.07x and SevenNet 1.12x at this budget vs one-by-one, while one
    #: batch of all eight ran at 0.88x (CHGNet) and 0.77x (MACE). With several threads every op pays a
    #: synchronisation cost and batches win big (CHGNet, 2 threads: 3.2x for one batch of eight), so
    #: ``cpu_batch_edges(threads)`` scales the budget by MULTI_THREAD_BATCH_FACTOR.
    cpu_batch_edges: int = 4_000


MULTI_THREAD_BATCH_FACTOR = 8


def cpu_batch_edges(backend: Backend, threads: int) -> int:
    """Edge budget per batch for ``backend`` on a CPU running ``threads`` torch threads."""
    return backend.cpu_batch_edges * (1 if threads <= 1 else MULTI_THREAD_BATCH_FACTOR)


def _voigt(stress_3x3: torch.Tensor) -> np.ndarray:
    return stress_3x3.detach().cpu().numpy()[..., _VOIGT[0], _VOIGT[1]].astype(np.float64)


def _split_atoms(values: torch.Tensor, counts: list[int]) -> list[np.ndarray]:
    import torch

    return [v.detach().cpu().numpy().astype(np.float64) for v in torch.split(values, counts)]


# --- CHGNet -----------------------------------------------------------------------------------

def _chgnet_graph(calc: Calculator, atoms: Atoms) -> Any:
    from pymatgen.io.ase import AseAtomsAdaptor

    return calc.model.graph_converter(AseAtomsAdaptor.get_structure(atoms)).to(calc.device)


def chgnet_forward(model: Any, graphs: list[Any]) -> dict[str, Any]:
    """Energies (eV), forces (eV/Å), stresses (eV/Å³, Voigt) and magmoms (μB) of CHGNet graphs."""
    import torch
    from chgnet.model.model import BatchedGraph

    from ssbkit.logs import quiet_warnings

    with quiet_warnings():  # torch warns on chgnet's torch.tensor(volumes) of tensors that require grad
        batched = BatchedGraph.from_graphs(graphs, bond_basis_expansion=model.bond_basis_expansion,
                                           angle_basis_expansion=model.angle_basis_expansion,
                                           compute_stress=True)
    out = model._compute(batched, compute_magmom=True)
    atoms_per_graph = torch.bincount(batched.atom_owners)
    energy = out["e"]
    if model.composition_model is not None:
        energy = energy + model.composition_model(graphs)
    if model.is_intensive:
        energy = energy * atoms_per_graph
    grads = torch.autograd.grad(energy.sum(), [*batched.atom_positions, *batched.strains])
    n = len(graphs)
    return {
        "energy": energy.detach().cpu().numpy().astype(np.float64),
        "forces": [-g.detach().cpu().numpy().astype(np.float64) for g in grads[:n]],
        "stress": [_voigt(g / v) for g, v in zip(grads[n:], batched.volumes, strict=True)],
        "magmoms": [m.detach().cpu().numpy() for m in out["m"]],
    }


def _chgnet_evaluate(calc: Calculator, graphs: list[Any]) -> list[Evaluation]:
    out = chgnet_forward(calc.model, graphs)
    return list(zip(out["energy"].tolist(), out["forces"], out["stress"], strict=True))


def _chgnet_elements(calc: Calculator) -> frozenset[int]:
    return frozenset(range(1, calc.model.atom_embedding.embedding.num_embeddings + 1))


def _chgnet_calculator_class() -> type[Calculator]:
    """Build ``SsbkitCHGNetCalculator`` on first use, so importing ssbkit does not import chgnet."""
    from chgnet.model.dynamics import CHGNetCalculator

    class SsbkitCHGNetCalculator(CHGNetCalculator):
        """CHGNetCalculator whose forces and stress come from one first-order backward pass."""

        def calculate(self, atoms: Atoms | None = None, properties: list | None = None,
                      system_changes: list | None = None, task: str = "efsm") -> None:
            Calculator.calculate(self, atoms, properties, system_changes or all_changes)
            out = chgnet_forward(self.model, [_chgnet_graph(self, self.atoms)])
            energy = float(out["energy"][0])
            self.results = {"energy": energy, "free_energy": energy, "forces": out["forces"][0],
                            "stress": out["stress"][0], "magmoms": out["magmoms"][0]}

    SsbkitCHGNetCalculator.__module__ = __name__  # picklable as a module attribute (see __getattr__)
    SsbkitCHGNetCalculator.__qualname__ = "SsbkitCHGNetCalculator"
    return SsbkitCHGNetCalculator


def __getattr__(name: str) -> Any:
    if name == "SsbkitCHGNetCalculator":
        globals()[name] = _chgnet_calculator_class()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def chgnet_calculator(device: str, checkpoint: str = "0.3.0") -> Calculator:
    """A CHGNet checkpoint shipped in the chgnet wheel ("0.3.0", "r2scan") as an ASE calculator on ``device``."""
    from chgnet.model import CHGNet

    from ssbkit.logs import quiet_warnings

    with quiet_warnings():  # CHGNet prints its parameter count and device on stdout
        model = CHGNet.load(model_name=checkpoint, verbose=False, use_device=device).requires_grad_(False)
        return __getattr__("SsbkitCHGNetCalculator")(model=model, use_device=device)


def chgnet_file_calculator(path: Path, device: str, trust: bool = False) -> Calculator:
    """A CHGNet checkpoint file (``{"model": CHGNet.as_dict()}``, as written by ssbkit's fine-tuning and by CHGNet's
    Trainer, or a bare ``as_dict()``) as an ASE calculator; loaded weights-only unless ``trust``."""
    from chgnet.model import CHGNet

    from ssbkit.logs import quiet_warnings
    from ssbkit.potentials.model_files import load_checkpoint

    checkpoint = load_checkpoint(path, trust=trust)
    state = checkpoint.get("model", checkpoint)
    if not isinstance(state, dict) or "state_dict" not in state or "model_args" not in state:
        raise ValueError(f"{path} is not a CHGNet checkpoint (no model_args/state_dict)")
    with quiet_warnings():  # CHGNet prints its parameter count on stdout
        model = CHGNet.from_dict(state).to(device).requires_grad_(False)
        return __getattr__("SsbkitCHGNetCalculator")(model=model, use_device=device)


# --- SevenNet ---------------------------------------------------------------------------------

def _sevennet_graph(calc: Calculator, atoms: Atoms) -> Any:
    from sevenn.atom_graph_data import AtomGraphData
    from sevenn.train.dataload import unlabeled_atoms_to_graph

    return AtomGraphData.from_numpy_dict(unlabeled_atoms_to_graph(atoms, calc.cutoff))


def _sevennet_evaluate(calc: Calculator, graphs: list[Any]) -> list[Evaluation]:
    import sevenn._keys as KEY
    from torch_geometric.data import Batch

    batch = Batch.from_data_list(graphs).to(calc.device)
    calc.model.set_is_batch_data(True)
    try:
        out = calc.model(batch)
    finally:
        calc.model.set_is_batch_data(False)  # the calculator's own calls are unbatched
    counts = [g.num_nodes for g in graphs]
    # SevenNet's stress is (xx yy zz xy yz zx) with the opposite sign to ASE's.
    stress = (-out[KEY.PRED_STRESS]).detach().cpu().numpy()[:, [0, 1, 2, 4, 5, 3]]
    energies = out[KEY.PRED_TOTAL_ENERGY].detach().cpu().reshape(-1).tolist()
    forces = _split_atoms(out[KEY.PRED_FORCE], counts)
    return list(zip(energies, forces, stress.astype(np.float64), strict=True))


def _sevennet_elements(calc: Calculator) -> frozenset[int]:
    return frozenset(int(z) for z in calc.type_map)


def sevennet_calculator(checkpoint: str, device: str) -> Calculator:
    """A SevenNet checkpoint shipped in the sevenn wheel (e.g. ``7net-0``) as an ASE calculator."""
    from sevenn.calculator import SevenNetCalculator

    calculator = SevenNetCalculator(checkpoint, device=device)
    calculator.model.requires_grad_(False)  # inference only: forces are gradients w.r.t. positions
    return calculator


def sevennet_file_calculator(path: Path, device: str, trust: bool = False) -> Calculator:
    """A SevenNet checkpoint file (``model_state_dict`` + ``config``, as sevenn and ssbkit's fine-tuning write it)
    as an ASE calculator; loaded weights-only unless ``trust``."""
    import sevenn._keys as KEY
    from sevenn.calculator import SevenNetCalculator
    from sevenn.util import model_from_checkpoint

    from ssbkit.logs import quiet_warnings
    from ssbkit.potentials.model_files import load_checkpoint

    checkpoint = load_checkpoint(path, trust=trust)
    if "model_state_dict" not in checkpoint or "config" not in checkpoint:
        raise ValueError(f"{path} is not a SevenNet checkpoint (no model_state_dict/config)")
    with quiet_warnings():
        model, config = model_from_checkpoint(checkpoint)
    model.type_map, model.cutoff = config[KEY.TYPE_MAP], config[KEY.CUTOFF]
    calculator = SevenNetCalculator(model, file_type="model_instance", device=device, sevennet_config=config)
    calculator.model.requires_grad_(False)
    return calculator


# --- MACE -------------------------------------------------------------------------------------

def _mace_graph(calc: Calculator, atoms: Atoms) -> Any:
    from mace import data as mace_data
    from mace.tools import torch_tools

    keyspec = mace_data.KeySpecification(info_keys=calc.info_keys,
                                         arrays_keys={**calc.arrays_keys, calc.charges_key: "charges"})
    with torch_tools.default_dtype(calc.default_dtype):
        config = mace_data.config_from_atoms(atoms, key_specification=keyspec, head_name=calc.head)
        return mace_data.AtomicData.from_config(config, z_table=calc.z_table, cutoff=calc.r_max,
                                                heads=calc.available_heads)


def _mace_evaluate(calc: Calculator, graphs: list[Any]) -> list[Evaluation]:
    from mace.tools import torch_geometric

    batch = torch_geometric.Batch.from_data_list(graphs).to(calc.device)
    energies, forces, stresses = 0.0, 0.0, 0.0
    for model in calc.models:  # a committee averages its members, as MACECalculator does
        out = model(batch.to_dict(), compute_stress=True, training=False)
        energies = energies + out["energy"].detach()
        forces = forces + out["forces"].detach()
        stresses = stresses + out["stress"].detach()
    n_models = len(calc.models)
    counts = [int(g.num_nodes) for g in graphs]
    return list(zip((energies / n_models).cpu().tolist(), _split_atoms(forces / n_models, counts),
                    _voigt(stresses / n_models), strict=True))


def _mace_elements(calc: Calculator) -> frozenset[int]:
    return frozenset(int(z) for z in calc.z_table.zs)


def mace_calculator(path: str, device: str, dtype: str, trust: bool = False) -> Calculator:
    """A MACE model file as an ASE calculator in ``dtype`` on ``device``; the file is loaded without
    running code from it unless ``trust`` (``ssbkit.potentials.model_files``)."""
    import logging

    from ssbkit.logs import quiet_warnings
    from ssbkit.potentials.model_files import (
        UNSAFE_LOAD_VARIABLE,
        load_model_file,
        preserved_default_dtype,
        preserved_environment,
    )

    with quiet_warnings(), preserved_environment(UNSAFE_LOAD_VARIABLE):
        from mace.calculators import MACECalculator  # prints, and sets UNSAFE_LOAD_VARIABLE, on import

    model = load_model_file(path, device, trust=trust)
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)  # MACE logs dtype conversions and heads at INFO/WARNING
    try:
        with preserved_default_dtype():  # MACECalculator.calculate sets its own dtype per call
            return MACECalculator(models=[model], device=device, default_dtype=dtype)
    finally:
        logger.setLevel(level)


# --- dispatch ---------------------------------------------------------------------------------

def _mace_batchable(calc: Calculator) -> bool:
    return not calc.use_compile and calc.pad_num_atoms == 0 and calc.model_type == "MACE"


def _sevennet_batchable(calc: Calculator) -> bool:
    import torch

    return isinstance(calc.model, torch.nn.Module) and not isinstance(calc.model, torch.jit.ScriptModule)


BACKENDS = {
    "chgnet": Backend("chgnet", _chgnet_elements, _chgnet_graph,
                      lambda g: int(g.atom_graph.shape[0] + g.bond_graph.shape[0]), _chgnet_evaluate),
    "sevennet": Backend("sevennet", _sevennet_elements, _sevennet_graph,
                        lambda g: int(g["edge_index"].shape[1]), _sevennet_evaluate),
    "mace": Backend("mace", _mace_elements, _mace_graph,
                    lambda g: int(g["edge_index"].shape[1]), _mace_evaluate, cpu_batch_edges=1_000),
}


_CALCULATOR_CLASSES = {
    "chgnet.model.dynamics.CHGNetCalculator": "chgnet",
    "sevenn.calculator.SevenNetCalculator": "sevennet",
    "mace.calculators.mace.MACECalculator": "mace",
}


def family_of(calculator: Calculator) -> str | None:
    """"chgnet", "sevennet" or "mace" for those calculators (and subclasses), else None.

    Matched by class name so that checking a calculator never imports the other backends.
    """
    for cls in type(calculator).__mro__:
        family = _CALCULATOR_CLASSES.get(f"{cls.__module__}.{cls.__name__}")
        if family is not None:
            return family
    return None


def backend_for(calculator: Calculator) -> Backend | None:
    """The batching backend for a calculator, or None where batching does not apply."""
    family = family_of(calculator)
    if family == "sevennet" and not _sevennet_batchable(calculator):
        return None
    if family == "mace" and not _mace_batchable(calculator):
        return None
    return BACKENDS.get(family) if family else None


def elements_of(calculator: Calculator) -> frozenset[int] | None:
    """Atomic numbers a calculator's model covers, or None when it does not say."""
    family = family_of(calculator)
    return BACKENDS[family].elements(calculator) if family else None


def model_cutoff(calculator: Calculator) -> float | None:
    """Cutoff radius (Å) within which a CHGNet, SevenNet or MACE model builds its atom graph; None for other
    calculators. Message passing extends a model's reach beyond one cutoff, but within one cutoff an atom
    must not meet a periodic image of itself or of a neighbour twice (the minimum-image condition)."""
    family = family_of(calculator)
    if family == "chgnet":
        return float(calculator.model.graph_converter.atom_graph_cutoff)
    if family == "sevennet":
        return float(calculator.cutoff)
    if family == "mace":
        return float(calculator.r_max)
    return None


def edge_batches(edge_counts: Sequence[int], max_edges: int) -> list[slice]:
    """Consecutive slices whose summed edge counts stay within ``max_edges`` (at least one each)."""
    batches, start, total = [], 0, 0
    for i, edges in enumerate(edge_counts):
        if i > start and total + edges > max_edges:
            batches.append(slice(start, i))
            start, total = i, 0
        total += edges
    if start < len(edge_counts):
        batches.append(slice(start, len(edge_counts)))
    return batches
