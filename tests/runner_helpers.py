"""Helpers shared by the runner tests (test_runner_*.py): spec files, rattled EMT test structures, store rows."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from ase.build import bulk
from ase.calculators.emt import EMT

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

STRUCTURES = """
structures:
  cu: {bulk: Cu, cubic: true, repeat: [2, 2, 2], rattle: 0.05, seed: 1}
  al: {bulk: Al, cubic: true, repeat: [2, 2, 2], rattle: 0.05, seed: 2}
"""


def rattled(symbol: str, seed: int, repeat: int = 2, stdev: float = 0.05):
    atoms = bulk(symbol, cubic=True).repeat(repeat)
    atoms.rattle(stdev=stdev, seed=seed)
    return atoms


def write_spec(directory: Path, body: str, name: str = "batch.yaml") -> Path:
    path = directory / name
    path.write_text("model: emt\n" + body)
    return path


def relaxation_spec(directory: Path, n_tasks: int, parameters: str = "{fmax: 0.01}", repeat: int = 2,
                    rattle: float = 0.1) -> Path:
    """A spec of N_TASKS EMT relaxations of rattled Cu cells (seeds 0 to N_TASKS - 1), one task per model
    call (batch_size: 1)."""
    cells = ", ".join(f"{{bulk: Cu, cubic: true, repeat: [{repeat}, {repeat}, {repeat}], rattle: {rattle}, "
                      f"seed: {i}}}" for i in range(n_tasks))
    return write_spec(directory, f"""
batch_size: 1
tasks:
  - kind: relax
    parameters: {parameters}
    product: {{atoms: [{cells}]}}
""")


def emt_energy(atoms) -> float:
    atoms = atoms.copy()
    atoms.calc = EMT()
    return atoms.get_potential_energy()


def store_rows(spec_path: Path) -> dict[str, tuple]:
    """key -> (state, claims, finished) read straight from the SQLite file."""
    store = spec_path.parent / "runs" / spec_path.stem / "store.sqlite"
    if not store.exists():
        return {}
    with closing(sqlite3.connect(store, timeout=30)) as db:
        try:
            return {k: (s, c, f) for k, s, c, f in db.execute("SELECT key, state, claims, finished FROM tasks")}
        except sqlite3.OperationalError:  # the runner has created the file but not yet the table
            return {}


def wait_for_states(spec_path: Path, ready: Callable[[list[str]], bool], timeout_s: float = 120.0) -> None:
    """Poll the store of SPEC_PATH until ``ready`` holds for its task states (or ``timeout_s`` passes)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if ready([state for state, _, _ in store_rows(spec_path).values()]):
            return
        time.sleep(0.05)
