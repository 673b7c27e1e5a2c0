"""Batched model calls: ``predict`` on many structures, and proxy calculators that feed it.

``predict(structures, calculator)`` evaluates a list of structures through the backend's own graph
batching (CHGNet, SevenNet, MACE), in batches of at most an edge budget; any other ASE calculator is
called one structure at a time.

Code written for one structure and one ASE calculator (an NEB image, a relaxation) gets a
``ProxyCalculator`` instead. A proxy keeps ASE's caching contract (asked again at the same positions
it answers from ``results``) and, when it must compute, asks its shared evaluator, which answers
many proxies with one ``predict`` call. Two strategies:

- ``BandEvaluator`` (synchronous): the first proxy asked evaluates every proxy whose image moved, as
  in an NEB band where the optimizer moves all images, then reads them one by one.
- ``LockstepEvaluator`` (threaded, through ``run_lockstep``): each job runs in its own thread, and a
  proxy's request waits until every live job has asked (or finished); then one call answers all.
  Relaxations of different lengths leave the batch when they finish, so 32 FIRE relaxations cost
  about as many model calls as the longest of them, each on up to 32 structures.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.data import chemical_symbols

from ssbkit.errors import CalculationError, ModelError
from ssbkit.potentials.backends import Backend, backend_for, cpu_batch_edges, edge_batches, elements_of
from ssbkit.results import Result

T = TypeVar("T")

#: Edges (bonds, plus angles for CHGNet) per batch on CUDA, where large batches fill the device. On
#: CPU each backend's measured ``Backend.cpu_batch_edges`` applies (see backends.py).
CUDA_BATCH_EDGES = 300_000
#: Model families whose batched call beats one call per structure on a CPU, measured on 2 cores with
#: benchmarks/potentials_speed.py, md_batched_replicas.py and runner_batching.py: SevenNet gains 1.65x on
#: small cells, while batches ran slower than one by one for CHGNet (0.68-0.84x: MD replicas, lockstep
#: relaxations, single points) and MACE (0.77x). The others are evaluated one structure at a time on a CPU,
#: so batching there never costs more than the calls it replaces.
CPU_BATCHED_FAMILIES = frozenset({"sevennet"})


def model_name(calculator: Calculator) -> str:
    """The registry name of a calculator made by ``ssbkit.potentials.load``, else its class name."""
    model_card = getattr(calculator, "ssbkit_card", None)
    return model_card.name if model_card else type(calculator).__name__


def _as_atoms(structure: object) -> Atoms:
    """``structure`` itself when it is an ase.Atoms (no copy on this hot path), else :func:`ssbkit.io.to_atoms`
    (imported here: ssbkit.io brings pymatgen, which ``ssbkit.potentials`` does not need to import)."""
    if isinstance(structure, Atoms):
        return structure
    from ssbkit.io import to_atoms

    return to_atoms(structure)


def check_coverage(structures: Sequence[Atoms] | Atoms, calculator: Calculator) -> None:
    """Raise ModelError naming every element of ``structures`` the calculator's model lacks."""
    covered = elements_of(calculator)
    if covered is None:
        return
    structures = [structures] if isinstance(structures, Atoms) else structures
    present = set().union(*(set(_as_atoms(s).numbers.tolist()) for s in structures))
    missing = sorted(present - covered)
    if missing:
        names = ", ".join(chemical_symbols[z] for z in missing)
        raise ModelError(f"{model_name(calculator)} does not cover element(s) {names}")


@dataclass
class Prediction(Result):
    """Energy (eV), forces (eV/Å) and stress (eV/Å³, Voigt order, None without a periodic cell)."""

    energy: float
    forces: np.ndarray
    stress: np.ndarray | None


def _device_type(calculator: Calculator) -> str:
    device = getattr(calculator, "device", "cpu")
    return "cuda" if str(device).startswith("cuda") else "cpu"


def batch_edges(backend: Backend, calculator: Calculator) -> int:
    """Edge budget of one batched call: ``CUDA_BATCH_EDGES`` on CUDA; on a CPU the backend's measured budget
    for the torch thread count when its family gains from batches (``CPU_BATCHED_FAMILIES``), else 0 (one
    structure per call)."""
    import torch

    if _device_type(calculator) == "cuda":
        return CUDA_BATCH_EDGES
    if backend.name not in CPU_BATCHED_FAMILIES:
        return 0
    return cpu_batch_edges(backend, torch.get_num_threads())


def _one_by_one(atoms: Atoms, calculator: Calculator) -> tuple[float, np.ndarray, np.ndarray | None]:
    atoms = atoms.copy()
    atoms.calc = calculator
    stress = atoms.get_stress() if atoms.pbc.all() else None
    return float(atoms.get_potential_energy()), atoms.get_forces(), stress


def predict(structures: Sequence[Atoms], calculator: Calculator, *,
            max_batch_edges: int | None = None) -> list[Prediction]:
    """Evaluate energies, forces and stresses of several structures with one calculator.

    CHGNet, SevenNet and MACE calculators evaluate graph batches of up to ``max_batch_edges`` edges
    (default: :func:`batch_edges`, which on a CPU batches only the families measured to gain from it);
    other ASE calculators are called one by one.
    Raises ModelError for elements the model does not cover, CalculationError for NaN/inf results.
    """
    atoms_list = [_as_atoms(s) for s in structures]
    if not atoms_list:
        return []
    check_coverage(atoms_list, calculator)
    backend = backend_for(calculator)
    if backend is not None and backend.name == "chgnet" and not all(a.pbc.all() for a in atoms_list):
        backend = None  # CHGNet graphs need a periodic cell
    if backend is None:
        raw = [_one_by_one(atoms, calculator) for atoms in atoms_list]
    else:
        budget = max_batch_edges if max_batch_edges is not None else batch_edges(backend, calculator)
        graphs = [backend.graph(calculator, atoms) for atoms in atoms_list]
        raw = []
        for batch in edge_batches([backend.edges(g) for g in graphs], budget):
            raw.extend(backend.evaluate(calculator, graphs[batch]))
    predictions = []
    for atoms, (energy, forces, stress) in zip(atoms_list, raw, strict=True):
        if not (np.isfinite(energy) and np.isfinite(forces).all()
                and (stress is None or np.isfinite(stress).all())):
            raise CalculationError(f"{model_name(calculator)} returned non-finite energy, forces or "
                                   f"stress for {atoms.get_chemical_formula()}")
        predictions.append(Prediction(energy=float(energy), forces=np.asarray(forces),
                                      stress=stress if atoms.pbc.all() else None))
    return predictions


class ProxyCalculator(Calculator):
    """Stand-in ASE calculator whose evaluations come from a shared ``BatchEvaluator``.

    ASE's caching applies: asked again for the same atoms it answers from ``results``; after a
    change it asks its evaluator, which fills ``results`` (possibly along with other proxies').
    """

    implemented_properties = ("energy", "free_energy", "forces", "stress")

    def __init__(self, evaluator: BatchEvaluator) -> None:
        super().__init__()
        self.evaluator = evaluator

    def calculate(self, atoms: Atoms | None = None, properties: Sequence[str] | None = None,
                  system_changes: Sequence[str] = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        self.evaluator.evaluate(self)

    def receive(self, prediction: Prediction) -> None:
        """Store ``prediction`` as the results for ``self.atoms``."""
        self.results = {"energy": prediction.energy, "free_energy": prediction.energy,
                        "forces": prediction.forces}
        if prediction.stress is not None:
            self.results["stress"] = prediction.stress


class BatchEvaluator:
    """Answers proxy calculators with batched ``predict`` calls on one model calculator.

    ``n_batches`` counts ``predict`` calls made, ``n_evaluations`` the structures sent in them.
    Strategies decide which proxies to answer together (``evaluate``).
    """

    def __init__(self, calculator: Calculator) -> None:
        self.calculator = calculator
        self.n_batches = 0
        self.n_evaluations = 0

    def evaluate(self, proxy: ProxyCalculator) -> None:
        """Fill ``proxy.results`` for ``proxy.atoms``."""
        raise NotImplementedError

    def answer(self, proxies: Sequence[ProxyCalculator]) -> None:
        """One ``predict`` call on the proxies' atoms; each proxy receives its share."""
        self.n_batches += 1
        self.n_evaluations += len(proxies)
        for proxy, prediction in zip(proxies, predict([p.atoms for p in proxies], self.calculator),
                                     strict=True):
            proxy.receive(prediction)


class BandEvaluator(BatchEvaluator):
    """Synchronous strategy: a proxy on each image; the first one asked evaluates every stale image.

    Made for an NEB band, whose optimizer moves all images and then reads them one by one: each
    move costs one ``predict`` call on the images that moved.
    """

    def __init__(self, images: Sequence[Atoms], calculator: Calculator) -> None:
        super().__init__(calculator)
        self.images = list(images)
        self.proxies = [ProxyCalculator(self) for _ in self.images]
        for image, proxy in zip(self.images, self.proxies):
            image.calc = proxy

    def evaluate(self, proxy: ProxyCalculator) -> None:
        stale = []
        for image, image_proxy in zip(self.images, self.proxies):
            if image_proxy is proxy:  # the one asked: its atoms are those it was asked about
                stale.append(proxy)
            elif "energy" not in image_proxy.results or image_proxy.check_state(image):
                image_proxy.atoms = image.copy()
                stale.append(image_proxy)
        self.answer(stale)


class LockstepEvaluator(BatchEvaluator):
    """Threaded strategy: a request waits until every live job has asked (or finished).

    Then one ``predict`` call answers all waiting proxies. When that call fails, each structure is
    retried alone, so the error stays with the job whose structure caused it.
    """

    def __init__(self, calculator: Calculator, jobs: int) -> None:
        super().__init__(calculator)
        self.live = jobs
        self.waiting: list[ProxyCalculator] = []
        self.errors: dict[ProxyCalculator, Exception] = {}
        self.condition = threading.Condition()

    def evaluate(self, proxy: ProxyCalculator) -> None:
        with self.condition:
            self.waiting.append(proxy)
            if len(self.waiting) >= self.live:
                self._answer_waiting()
            else:
                self.condition.wait_for(lambda: proxy not in self.waiting)
            error = self.errors.pop(proxy, None)
        if error is not None:
            raise error

    def leave(self) -> None:
        """A job finished: answer the others if they were only waiting for it."""
        with self.condition:
            self.live -= 1
            if self.waiting and len(self.waiting) >= self.live:
                self._answer_waiting()

    def _answer_waiting(self) -> None:
        """Answer every waiting proxy (caller holds the lock); one failure does not sink the rest."""
        batch, self.waiting = self.waiting, []
        try:
            self.answer(batch)
        except Exception:
            for proxy in batch:
                try:
                    self.answer([proxy])
                except Exception as exc:
                    self.errors[proxy] = exc
        self.condition.notify_all()


def run_lockstep(jobs: Sequence[Callable[[Calculator], T]],
                 calculator: Calculator) -> tuple[list[T | Exception], int]:
    """Run ``jobs`` (each takes a calculator) with their model calls merged into ``predict`` calls.

    Returns each job's return value or the exception it raised, and the number of ``predict`` calls
    made (a failed batch and its one-by-one retries each count).
    """
    evaluator = LockstepEvaluator(calculator, len(jobs))
    outcomes: list[Any] = [None] * len(jobs)

    def work(slot: int) -> None:
        try:
            outcomes[slot] = jobs[slot](ProxyCalculator(evaluator))
        except Exception as exc:
            outcomes[slot] = exc
        finally:
            evaluator.leave()

    threads = [threading.Thread(target=work, args=(slot,), name=f"ssbkit-batch-{slot}")
               for slot in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes, evaluator.n_batches
