"""NVT molecular dynamics of several replicas (e.g. one per temperature) advancing together.

Every MD step evaluates all replicas with ONE call to :func:`ssbkit.potentials.predict`, so a
graph-batched model evaluates them in a single forward pass. The integrator is BAOAB (Leimkuhler &
Matthews, J. Chem. Phys. 138, 174102, 2013) with one force evaluation per step; its O substep is
either Langevin (exact Ornstein-Uhlenbeck friction/noise update, so free particles diffuse with
D = kT/(m*gamma)) or a Nose-Hoover chain of length 3 (Martyna, Klein & Tuckerman, J. Chem. Phys. 97,
2635, 1992; deterministic, momentum-conserving, with a conserved extended energy written to every
frame as ``conserved_energy_eV``).

Each replica's trajectory is appended frame by frame to an extended-XYZ file (positions unwrapped,
momenta, step, time and phase in the comment line) and flushed, so it survives a crash or an
unstable run; :func:`read_production` returns the production frames of such a file.

Ensembles: a replica is one (configuration, temperature) pair. A replica whose structure carries
``atoms.info["configuration"]`` (as the ensemble builder writes it) keeps that id in its file name, in
every frame (``configuration``) and in its :class:`ReplicaTrajectory`, so configurations x temperatures
advance together in one batched call per step and are averaged afterwards.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator

from ssbkit.errors import CalculationError, InputError
from ssbkit.potentials import predict
from ssbkit.results import Result
from ssbkit.settings import apply_overrides
from ssbkit.workflows.settings import MDSettings

EQUILIBRATION = "equilibration"
PRODUCTION = "production"
CHAIN_LENGTH = 3


@dataclass
class ReplicaTrajectory(Result):
    """One replica's run: target and mean kinetic temperature (K) over production, file written, and the
    configuration id of its structure (``atoms.info["configuration"]``; None for a single structure)."""

    temperature: float
    mean_temperature: float
    path: Path
    n_frames: int
    atoms: Atoms
    configuration: str | None = None


@dataclass
class ReplicaMDResult(Result):
    """Replica MD run: trajectories, time step (fs), frames saved every ``save_every`` steps, and
    the speed in MD steps per second of all replicas together (one step = every replica advanced)."""

    replicas: list[ReplicaTrajectory]
    timestep: float
    save_every: int
    equilibration_steps: int
    production_steps: int
    steps_per_second: float


@dataclass
class _Chain:
    """Nose-Hoover chain of one replica (ASE units): thermostat masses, positions and velocities."""

    masses: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray


class _Replica:
    """State of one replica: unwrapped positions in ``atoms``, momenta, target kT, its thermostat
    chain (None for Langevin) and its file."""

    def __init__(self, atoms: Atoms, temperature: float, rng: np.random.Generator, trajectory: IO[str],
                 chain_period: float | None = None):
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

        self.atoms = atoms
        self.temperature = temperature
        self.configuration = configuration_id(atoms)
        self.kT = units.kB * temperature
        self.masses = atoms.get_masses()[:, None]
        self.rng = rng
        self.trajectory = trajectory
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
        Stationary(atoms)
        self.momenta = atoms.get_momenta()
        self.forces = np.zeros_like(self.momenta)
        self.energy = 0.0
        self.reference_energy = 0.0
        self.production_frames = 0
        # A Nose-Hoover chain keeps the total momentum at zero: 3N - 3 degrees of freedom (Langevin: 3N).
        self.dof = 3 * len(atoms) - 3 if chain_period is not None and len(atoms) > 1 else 3 * len(atoms)
        self.chain = None
        if chain_period is not None:
            masses = np.full(CHAIN_LENGTH, self.kT * chain_period**2)
            masses[0] *= self.dof
            self.chain = _Chain(masses, np.zeros(CHAIN_LENGTH), np.zeros(CHAIN_LENGTH))

    def kinetic_energy(self) -> float:
        return 0.5 * float(np.sum(self.momenta**2 / self.masses))

    def kinetic_temperature(self) -> float:
        """Instantaneous kinetic temperature (K) over the replica's degrees of freedom."""
        return 2.0 * self.kinetic_energy() / (self.dof * units.kB)

    def conserved_energy(self) -> float | None:
        """Nose-Hoover extended energy (eV), constant up to integration error; None for Langevin."""
        if self.chain is None:
            return None
        chain = self.chain
        return (self.energy + self.kinetic_energy() + 0.5 * float(np.sum(chain.masses * chain.velocities**2))
                + self.dof * self.kT * chain.positions[0] + self.kT * float(np.sum(chain.positions[1:])))


def configuration_id(atoms: Atoms) -> str | None:
    """The ensemble configuration id of a structure (``atoms.info["configuration"]`` as text), or None."""
    value = atoms.info.get("configuration")
    return None if value is None else str(value)


def _file_label(configuration: str) -> str:
    """A configuration id made safe for a file name (letters, digits, '-', '.')."""
    return "".join(c if c.isalnum() or c in "-." else "-" for c in configuration)


def _evaluate(replicas: Sequence[_Replica], calculator: Calculator, step: int) -> None:
    """Forces and energies of all replicas in one batched model call (wrapped copies of the cells)."""
    wrapped = []
    for replica in replicas:
        copy = replica.atoms.copy()
        copy.wrap()
        wrapped.append(copy)
    try:
        predictions = predict(wrapped, calculator)
    except CalculationError as exc:
        raise CalculationError(f"unstable dynamics at step {step}: {exc}") from exc
    for replica, prediction in zip(replicas, predictions, strict=True):
        replica.forces = np.asarray(prediction.forces, dtype=float)
        replica.energy = float(prediction.energy)


def _half_kick(replica: _Replica, dt: float) -> None:
    """B of BAOAB: half a time step of the current forces on the momenta."""
    replica.momenta += 0.5 * dt * replica.forces


def _drift_thermostat_drift(replica: _Replica, dt: float, friction: float) -> None:
    """A-O-A of BAOAB: half drift, thermostat over dt (Ornstein-Uhlenbeck or the chain), half drift."""
    replica.atoms.positions += 0.5 * dt * replica.momenta / replica.masses
    if replica.chain is None:
        c1 = np.exp(-friction * dt)
        c2 = np.sqrt((1.0 - c1**2) * replica.kT * replica.masses)
        replica.momenta = c1 * replica.momenta + c2 * replica.rng.standard_normal(replica.momenta.shape)
    else:
        _chain_half_step(replica, dt)
        _chain_half_step(replica, dt)
    replica.atoms.positions += 0.5 * dt * replica.momenta / replica.masses


def _chain_half_step(replica: _Replica, dt: float) -> None:
    """Propagate the Nose-Hoover chain and scale the momenta over dt/2 (the symmetric Trotter
    factorisation of Martyna et al., Mol. Phys. 87, 1117 (1996); Frenkel & Smit, Algorithm 31)."""
    chain, kT = replica.chain, replica.kT
    q, v = chain.masses, chain.velocities
    last = CHAIN_LENGTH - 1

    def force(j: int, kinetic2: float) -> float:
        return ((kinetic2 - replica.dof * kT) if j == 0 else (q[j - 1] * v[j - 1] ** 2 - kT)) / q[j]

    def update(j: int, kinetic2: float) -> None:
        if j < last:
            v[j] *= np.exp(-v[j + 1] * dt / 8)
        v[j] += force(j, kinetic2) * dt / 4
        if j < last:
            v[j] *= np.exp(-v[j + 1] * dt / 8)

    kinetic2 = 2.0 * replica.kinetic_energy()
    for j in range(last, -1, -1):
        update(j, kinetic2)
    scale = np.exp(-v[0] * dt / 2)
    replica.momenta *= scale
    kinetic2 *= scale**2
    chain.positions += v * dt / 2
    for j in range(CHAIN_LENGTH):
        update(j, kinetic2)


def _check_stable(replica: _Replica, step: int, min_distance: float, max_energy_rise: float,
                  check_distances: bool) -> None:
    """Raise CalculationError for NaN, an energy blow-up or atoms closer than ``min_distance`` (Å)."""
    where = f"replica at {replica.temperature:g} K, step {step}"
    if not (np.isfinite(replica.atoms.positions).all() and np.isfinite(replica.momenta).all()):
        raise CalculationError(f"unstable dynamics ({where}): non-finite positions or velocities")
    rise = (replica.energy - replica.reference_energy) / len(replica.atoms)
    if rise > max_energy_rise:
        raise CalculationError(
            f"unstable dynamics ({where}): potential energy rose {rise:.2f} eV/atom above the start "
            f"(limit {max_energy_rise:g} eV/atom); try a smaller time step")
    if check_distances and min_distance > 0 and len(replica.atoms) > 1:
        from ase.neighborlist import neighbor_list

        distances = neighbor_list("d", replica.atoms, min_distance)
        if len(distances):
            raise CalculationError(
                f"unstable dynamics ({where}): atoms {distances.min():.2f} Å apart, closer than the "
                f"physical minimum {min_distance:g} Å; try a smaller time step")


def _phase(step: int, equilibration_steps: int) -> str:
    """Production starts with the frame at the last equilibration step (its time origin)."""
    return PRODUCTION if step >= equilibration_steps else EQUILIBRATION


def _write_frame(replica: _Replica, step: int, timestep_fs: float, phase: str) -> None:
    from ase.io import write

    frame = replica.atoms.copy()
    frame.set_momenta(replica.momenta, apply_constraint=False)
    if replica.configuration is not None:
        frame.info["configuration"] = replica.configuration
    frame.info.update(step=step, time_fs=step * timestep_fs, phase=phase,
                      target_temperature_K=replica.temperature, energy_eV=replica.energy,
                      kinetic_temperature_K=replica.kinetic_temperature())
    if replica.chain is not None:
        frame.info["conserved_energy_eV"] = replica.conserved_energy()
    write(replica.trajectory, frame, format="extxyz")
    replica.trajectory.flush()
    replica.production_frames += phase == PRODUCTION


def run_replicas(
    replicas: Sequence[Atoms],
    temperatures: Sequence[float] | None,
    calculator: Calculator,
    directory: str | Path,
    settings: MDSettings | None = None,
    *,
    progress: bool | None = None,
    **overrides: Any,
) -> ReplicaMDResult:
    """Run NVT MD of ``replicas[i]`` at ``temperatures[i]`` (K), all advancing together.

    ``temperatures`` (None: ``settings.temperatures``) and keyword arguments named like fields of
    :class:`MDSettings` override ``settings``; ``species`` and ``target_temperature`` are not used here.
    ``timestep`` in fs. ``thermostat`` "langevin": ``friction`` (gamma) in 1/fs, the default 0.002 (a
    500 fs velocity relaxation time) being weak next to Li vibrations (~10 THz), so hopping dynamics are
    little perturbed. "nose-hoover": a chain of 3 thermostats with period ``tdamp`` (fs; masses
    Q1 = N_f kT tdamp², Qj = kT tdamp²), deterministic after the initial velocities.
    Velocities start from a Maxwell-Boltzmann distribution (``seed``; replica i always gets the same
    random stream, however many run along). One batched force call per step for all replicas.
    Frames (equilibration and production, tagged by ``phase``) are appended every ``save_every``
    steps to ``directory/replicaNN_<T>K.extxyz`` (``replicaNN_<configuration>_<T>K.extxyz`` for a structure
    with ``info["configuration"]``, see the module docstring). Unstable dynamics (NaN, potential energy rising
    more than ``max_energy_rise`` eV/atom, atoms closer than ``min_distance`` Å, checked at saved
    frames; 0 switches that check off, e.g. for an ideal gas) raise CalculationError, and the frames
    written so far stay on disk. Inputs are not modified.
    """
    if temperatures is not None:
        overrides["temperatures"] = temperatures
    settings = apply_overrides(MDSettings, settings, overrides)
    temperatures = settings.temperatures
    if len(replicas) != len(temperatures):
        raise InputError(f"need one temperature per replica: {len(replicas)} replicas, "
                         f"{len(temperatures)} temperatures")
    for atoms in replicas:
        if len(atoms) == 0:
            raise InputError("cannot run MD on an empty structure")
        if atoms.constraints:
            raise InputError("replica MD does not apply constraints; remove them with atoms.set_constraint()")

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    dt = settings.timestep * units.fs
    gamma = settings.friction / units.fs
    seeds = np.random.SeedSequence(settings.seed).spawn(len(replicas))
    equilibration_steps = settings.equilibration_steps
    total_steps = equilibration_steps + settings.production_steps
    if progress is None:
        progress = sys.stderr.isatty()

    with ExitStack() as stack:
        states = []
        for index, (atoms, temperature, child_seed) in enumerate(zip(replicas, temperatures, seeds)):
            configuration = configuration_id(atoms)
            label = "" if configuration is None else f"{_file_label(configuration)}_"
            path = directory / f"replica{index:02d}_{label}{temperature:g}K.extxyz"
            handle = stack.enter_context(path.open("w"))
            work = atoms.copy()
            work.calc = None
            states.append(_Replica(work, temperature, np.random.default_rng(child_seed), handle,
                                   chain_period=settings.tdamp * units.fs if settings.thermostat == "nose-hoover"
                                   else None))

        _evaluate(states, calculator, step=0)
        for state in states:
            state.reference_energy = state.energy
            _check_stable(state, 0, settings.min_distance, settings.max_energy_rise, check_distances=True)
            _write_frame(state, 0, settings.timestep, _phase(0, equilibration_steps))

        production_temperatures = [[] for _ in states]
        bar = None
        if progress:
            from tqdm import tqdm

            bar = stack.enter_context(tqdm(total=total_steps, desc="MD", unit="step"))
        start = time.perf_counter()
        for step in range(1, total_steps + 1):
            for state in states:
                _half_kick(state, dt)
                _drift_thermostat_drift(state, dt, gamma)
            _evaluate(states, calculator, step)
            saving = (step - equilibration_steps) % settings.save_every == 0
            phase = _phase(step, equilibration_steps)
            for index, state in enumerate(states):
                _half_kick(state, dt)
                _check_stable(state, step, settings.min_distance, settings.max_energy_rise,
                              check_distances=saving)
                if step > equilibration_steps:
                    production_temperatures[index].append(state.kinetic_temperature())
                if saving:
                    _write_frame(state, step, settings.timestep, phase)
            if bar is not None:
                bar.update()
        elapsed = time.perf_counter() - start

    trajectories = []
    for state, temps in zip(states, production_temperatures, strict=True):
        final = state.atoms.copy()
        final.set_momenta(state.momenta, apply_constraint=False)
        trajectories.append(ReplicaTrajectory(
            temperature=state.temperature, mean_temperature=float(np.mean(temps)),
            path=Path(state.trajectory.name), n_frames=state.production_frames, atoms=final,
            configuration=state.configuration))
    return ReplicaMDResult(replicas=trajectories, timestep=settings.timestep, save_every=settings.save_every,
                           equilibration_steps=equilibration_steps, production_steps=settings.production_steps,
                           steps_per_second=total_steps / elapsed if elapsed > 0 else float("inf"))


def read_production(path: str | Path) -> list[Atoms]:
    """Production frames of a trajectory written by :func:`run_replicas` (all frames if untagged).

    A last frame cut short by a crash is ignored; the complete frames before it are returned."""
    from ase.io import iread

    path = Path(path)
    if not path.is_file():
        raise InputError(f"trajectory {path} does not exist")
    frames: list[Atoms] = []
    try:
        for frame in iread(path, index=":", format="extxyz"):
            frames.append(frame)
    except Exception as exc:  # ase raises many types for a corrupt or truncated file
        if not frames:
            raise InputError(f"cannot read trajectory {path}: {exc}") from exc
    tagged = [frame for frame in frames if frame.info.get("phase") == PRODUCTION]
    return tagged if any("phase" in frame.info for frame in frames) else frames
