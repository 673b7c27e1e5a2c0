"""Rejection-free kinetic Monte Carlo of one tracer on a periodic site network, and its percolation check.

A ``SiteNetwork`` is a periodic cell with sites (Cartesian Å, a label each) and directed jumps between them
(source, target, lattice shift of the target, hop-class index). Given a rate (Hz) per jump, independent
walkers hop with the residence-time (BKL / Gillespie) algorithm: from site i the time step is
-ln(u)/R_i with R_i the sum of i's outgoing rates, and the jump is picked with probability rate/R_i.
The tracer diffusivity is D = <|R|²> / (6 <t>) over the walkers (per axis <X²> / (2 <t>)), its standard
error the spread over 16 groups of walkers. Walkers start from the stationary distribution of the master
equation on the cell's sites, so sites of different energy are weighted by their occupancy.

Engine: written here, not kmcpy. kmcpy 0.3.0 (checked in its source: ``kmcpy.simulator.kmc``,
``kmcpy.models.local_barrier_model``) is a lattice-gas kMC built from a pymatgen structure file, an event
file from its own generator and a barrier model (local cluster expansion or rules) with one global attempt
frequency in ``RuntimeConfig``: it has no per-hop-class prefactor, no interstitial (off-lattice) site
network given as positions and jumps, and needs its file-based setup per temperature. For one tracer with
per-class harmonic rates the walk above is a few lines of numpy, so only this minimal engine is kept.
Collective diffusivity of interacting carriers (site blocking) is not modelled: one tracer, dilute limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ssbkit.errors import InputError
from ssbkit.results import Caveat, Result

#: Å²/s -> cm²/s
A2_PER_S_TO_CM2_PER_S = 1e-16

CODE_NO_PERCOLATION = "no-percolating-path"   # the jumps with a nonzero rate connect no site to its periodic image
CODE_LOW_DIMENSION = "low-dimensional-path"   # the network percolates in 1 or 2 dimensions only
CODE_TRAPPED = "isolated-sites"               # some sites belong to no percolating cluster

N_GROUPS = 16


@dataclass
class SiteNetwork(Result):
    """Sites in a periodic cell (Å), their labels, and directed jumps: ``sources[k] -> targets[k]`` shifted by
    ``shifts[k]`` cells, of hop class ``classes[k]`` (index into ``class_names``)."""

    cell: np.ndarray
    positions: np.ndarray
    labels: list[str]
    sources: np.ndarray
    targets: np.ndarray
    shifts: np.ndarray
    classes: np.ndarray
    class_names: list[str] = field(default_factory=list)

    @property
    def vectors(self) -> np.ndarray:
        """Jump vectors (Å), one row per jump."""
        return self.positions[self.targets] + self.shifts @ self.cell - self.positions[self.sources]

    @property
    def lengths(self) -> np.ndarray:
        """Jump lengths (Å)."""
        return np.linalg.norm(self.vectors, axis=1)


def network_from_sites(cell: np.ndarray, positions: np.ndarray, labels: list[str], max_length: float,
                       min_length: float = 0.0) -> SiteNetwork:
    """Every directed jump between sites ``min_length`` to ``max_length`` Å apart (periodic images included);
    hop classes are not assigned yet (all 0, no names)."""
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    positions = np.asarray(positions, dtype=float)
    if len(positions) == 0:
        raise InputError("a site network needs at least one site")
    sites = Atoms("X" * len(positions), positions=positions, cell=cell, pbc=True)
    sources, targets, shifts, lengths = neighbor_list("ijSd", sites, max_length)
    keep = lengths >= min_length
    return SiteNetwork(cell=np.asarray(cell, dtype=float), positions=positions, labels=list(labels),
                       sources=sources[keep], targets=targets[keep], shifts=shifts[keep].astype(int),
                       classes=np.zeros(int(keep.sum()), dtype=int))


def percolation_dimension(network: SiteNetwork, active: np.ndarray | None = None) -> tuple[int, np.ndarray]:
    """Dimension (0-3) of the periodic cluster reachable through ``active`` jumps (default: all), and for each site
    the dimension of the cluster it belongs to. A cluster percolates in d dimensions when its loops through
    the periodic images span d independent lattice vectors."""
    active = np.ones(len(network.sources), dtype=bool) if active is None else np.asarray(active, dtype=bool)
    n = len(network.positions)
    outgoing: list[list[int]] = [[] for _ in range(n)]
    for k in np.flatnonzero(active):
        outgoing[network.sources[k]].append(int(k))
        outgoing[network.targets[k]].append(-int(k) - 1)  # the same jump walked backwards
    offset = np.full((n, 3), np.iinfo(np.int64).min, dtype=np.int64)
    site_dimension = np.zeros(n, dtype=int)
    for root in range(n):
        if offset[root, 0] != np.iinfo(np.int64).min:
            continue
        offset[root] = 0
        members, loops, stack = [root], [], [root]
        while stack:
            i = stack.pop()
            for k in outgoing[i]:
                if k >= 0:
                    j, shift = network.targets[k], network.shifts[k]
                else:
                    j, shift = network.sources[-k - 1], -network.shifts[-k - 1]
                reached = offset[i] + shift
                if offset[j, 0] == np.iinfo(np.int64).min:
                    offset[j] = reached
                    members.append(int(j))
                    stack.append(int(j))
                elif (reached != offset[j]).any():
                    loops.append(reached - offset[j])
        dimension = int(np.linalg.matrix_rank(np.array(loops, dtype=float))) if loops else 0
        site_dimension[members] = dimension
    return int(site_dimension.max()), site_dimension


def stationary_occupancy(network: SiteNetwork, rates: np.ndarray) -> np.ndarray:
    """Stationary probability of each site of the cell under the jump rates (Hz): the null vector of the
    master equation, normalised to 1 (sites with no jumps keep zero weight)."""
    n = len(network.positions)
    generator = np.zeros((n, n))
    np.add.at(generator, (network.targets, network.sources), rates)
    np.add.at(generator, (network.sources, network.sources), -rates)
    scale = np.abs(generator).max() or 1.0
    matrix = np.vstack([generator / scale, np.ones(n)])
    rhs = np.zeros(n + 1)
    rhs[-1] = 1.0
    occupancy, *_ = np.linalg.lstsq(matrix, rhs, rcond=None)
    occupancy = np.clip(occupancy, 0.0, None)
    return occupancy / occupancy.sum()


@dataclass
class TracerResult(Result):
    """Tracer diffusivity from kMC (cm²/s) with its standard error, per Cartesian axis (cm²/s), the dimension
    in which the network percolates, how many jumps of each hop class were made, the simulated time per
    walker (s), and caveats (no-percolating-path, low-dimensional-path, isolated-sites)."""

    diffusivity_cm2_per_s: float
    diffusivity_std_cm2_per_s: float
    diffusivity_axes_cm2_per_s: np.ndarray
    percolation_dimension: int
    jumps_per_class: dict[str, int]
    time_per_walker_s: float
    n_walkers: int
    n_steps: int
    caveats: list[Caveat] = field(default_factory=list)


def tracer_diffusivity(network: SiteNetwork, rates: np.ndarray, *, n_walkers: int = 2000, n_steps: int = 2000,
                       seed: int = 0) -> TracerResult:
    """Tracer D (cm²/s) of one carrier hopping on ``network`` with ``rates[k]`` (Hz) for jump k, by
    rejection-free kMC of ``n_walkers`` independent walkers of ``n_steps`` jumps each (module docstring).

    A network whose nonzero-rate jumps do not percolate gives D = 0 with a ``no-percolating-path`` caveat.
    InputError for negative or non-finite rates or a rate array of the wrong length."""
    rates = np.asarray(rates, dtype=float)
    if rates.shape != network.sources.shape:
        raise InputError(f"{len(rates)} rates for {len(network.sources)} jumps")
    if not np.isfinite(rates).all() or (rates < 0).any():
        raise InputError("jump rates must be finite and non-negative (Hz)")
    if n_walkers < N_GROUPS or n_steps < 1:
        raise InputError(f"kMC needs at least {N_GROUPS} walkers and one step")
    active = rates > 0
    dimension, site_dimension = percolation_dimension(network, active)
    names = network.class_names or [str(c) for c in range(int(network.classes.max(initial=0)) + 1)]
    caveats = []
    if dimension == 0:
        caveats.append(Caveat(CODE_NO_PERCOLATION, "no path of jumps with a nonzero rate connects a site to its "
                                                   "periodic image: long-range diffusion is impossible, D = 0"))
        return TracerResult(0.0, 0.0, np.zeros(3), 0, dict.fromkeys(names, 0), 0.0, n_walkers, n_steps, caveats)
    if dimension < 3:
        caveats.append(Caveat(CODE_LOW_DIMENSION, f"the network percolates in {dimension} dimension(s) only: D is "
                                                  "anisotropic and the reported D is the 3-D average (trace/3)"))
    occupancy = stationary_occupancy(network, rates)
    if (site_dimension == 0).any() and occupancy[site_dimension == 0].sum() > 1e-6:
        caveats.append(Caveat(CODE_TRAPPED, f"{int((site_dimension == 0).sum())} site(s) belong to no percolating "
                                            "cluster; walkers starting there do not diffuse"))
    # padded table of outgoing jumps per site: jump index, cumulative rate
    n_sites = len(network.positions)
    order = np.argsort(network.sources, kind="stable")
    counts = np.bincount(network.sources, minlength=n_sites)
    width = int(counts.max())
    table = np.full((n_sites, width), -1, dtype=int)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for site in range(n_sites):
        table[site, :counts[site]] = order[starts[site]:starts[site] + counts[site]]
    table_rates = np.where(table >= 0, rates[np.maximum(table, 0)], 0.0)
    cumulative = np.cumsum(table_rates, axis=1)
    total = cumulative[:, -1]
    vectors = network.vectors
    rng = np.random.default_rng(seed)
    site = rng.choice(n_sites, size=n_walkers, p=occupancy)
    stuck = total[site] == 0
    displacement = np.zeros((n_walkers, 3))
    time = np.zeros(n_walkers)
    jumps = np.zeros(len(rates), dtype=np.int64)
    for _ in range(n_steps):
        out = np.where(stuck, 1.0, total[site])
        time += np.where(stuck, 0.0, -np.log(1.0 - rng.random(n_walkers)) / out)
        pick = rng.random(n_walkers) * out
        column = np.minimum((cumulative[site] <= pick[:, None]).sum(axis=1), width - 1)
        jump = table[site, column]
        moving = ~stuck & (jump >= 0)
        displacement[moving] += vectors[jump[moving]]
        site = np.where(moving, network.targets[np.maximum(jump, 0)], site)
        np.add.at(jumps, jump[moving], 1)
    groups = np.arange(n_walkers) % N_GROUPS
    squared = displacement ** 2
    group_time = np.bincount(groups, weights=time, minlength=N_GROUPS)
    if group_time.sum() == 0:
        return TracerResult(0.0, 0.0, np.zeros(3), dimension, dict.fromkeys(names, 0), 0.0, n_walkers, n_steps,
                            caveats)
    axes = squared.sum(axis=0) / (2 * time.sum()) * A2_PER_S_TO_CM2_PER_S
    per_group = np.array([squared[groups == g].sum() / (6 * group_time[g]) for g in range(N_GROUPS)
                          if group_time[g] > 0]) * A2_PER_S_TO_CM2_PER_S
    per_class = np.bincount(network.classes, weights=jumps, minlength=len(names))
    return TracerResult(
        diffusivity_cm2_per_s=float(axes.mean()),
        diffusivity_std_cm2_per_s=float(per_group.std(ddof=1) / np.sqrt(len(per_group))),
        diffusivity_axes_cm2_per_s=axes,
        percolation_dimension=dimension,
        jumps_per_class={name: int(n) for name, n in zip(names, per_class, strict=True)},
        time_per_walker_s=float(time.mean()),
        n_walkers=n_walkers,
        n_steps=n_steps,
        caveats=caveats,
    )


def uncorrelated_diffusivity(network: SiteNetwork, rates: np.ndarray) -> float:
    """D (cm²/s) = (1/6) sum_i p_i sum_j Gamma_ij l_ij², with p the stationary occupancy: exact when the mean
    jump vector out of every site is zero (then successive jumps are uncorrelated), e.g. z Gamma l²/6 on a
    Bravais lattice."""
    occupancy = stationary_occupancy(network, rates)
    return float((occupancy[network.sources] * rates * network.lengths ** 2).sum() / 6 * A2_PER_S_TO_CM2_PER_S)
