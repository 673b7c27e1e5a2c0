"""Batched model calls for many small tasks: run them in lockstep, one ``predict`` call per step.

Each job runs unchanged in its own thread with a stand-in calculator. When a job asks for energy,
forces or stress, its thread waits until every other live job has asked too (or finished); then one
``ssbkit.potentials.predict`` call evaluates all waiting structures together and each thread goes on
with its own result. Relaxations of different lengths simply leave the batch when they finish, so a
batch of 32 FIRE relaxations costs about as many model calls as its longest member, each on up to
32 structures: on a GPU that is what turns many small tasks into a few large ones.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

T = TypeVar("T")


class _BatchEvaluator:
    """Collects one evaluation request per live job and answers them all with one ``predict`` call."""

    def __init__(self, calculator: Calculator, jobs: int):
        self.calculator = calculator
        self.live = jobs
        self.pending: dict[int, Atoms] = {}
        self.answers: dict[int, Any] = {}
        self.calls = 0
        self.condition = threading.Condition()

    def request(self, slot: int, atoms: Atoms) -> Any:
        with self.condition:
            self.pending[slot] = atoms.copy()
            if len(self.pending) >= self.live:
                self._evaluate_pending()
            else:
                self.condition.wait_for(lambda: slot in self.answers)
            answer = self.answers.pop(slot)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def leave(self) -> None:
        with self.condition:
            self.live -= 1
            if self.pending and len(self.pending) >= self.live:
                self._evaluate_pending()

    def _evaluate_pending(self) -> None:
        """Evaluate all pending structures (caller holds the lock); one failure does not sink the rest."""
        from ssbkit.potentials import predict

        batch, self.pending = self.pending, {}
        self.calls += 1
        try:
            self.answers.update(zip(batch, predict(list(batch.values()), self.calculator)))
        except Exception:  # find the structure(s) at fault, answer the others normally
            for slot, atoms in batch.items():
                try:
                    self.answers[slot] = predict([atoms], self.calculator)[0]
                except Exception as exc:
                    self.answers[slot] = exc
        self.condition.notify_all()


class _BatchSlot(Calculator):
    """Stand-in calculator of one job: forwards each evaluation to the shared evaluator."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, evaluator: _BatchEvaluator, slot: int):
        super().__init__()
        self.evaluator, self.slot = evaluator, slot

    def calculate(self, atoms: Atoms | None = None, properties: Any = None,
                  system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        prediction = self.evaluator.request(self.slot, self.atoms)
        self.results = {"energy": prediction.energy, "free_energy": prediction.energy,
                        "forces": prediction.forces}
        if prediction.stress is not None:
            self.results["stress"] = prediction.stress


def run_lockstep(jobs: Sequence[Callable[[Calculator], T]], calculator: Calculator) -> tuple[list[T | Exception], int]:
    """Run ``jobs`` (each takes a calculator) with their model calls merged into batched ``predict`` calls.

    Returns each job's return value or the exception it raised, and the number of batched calls made.
    """
    evaluator = _BatchEvaluator(calculator, len(jobs))
    outcomes: list[Any] = [None] * len(jobs)

    def work(slot: int) -> None:
        try:
            outcomes[slot] = jobs[slot](_BatchSlot(evaluator, slot))
        except Exception as exc:
            outcomes[slot] = exc
        finally:
            evaluator.leave()

    threads = [threading.Thread(target=work, args=(slot,), name=f"ssbkit-batch-{slot}") for slot in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes, evaluator.calls
