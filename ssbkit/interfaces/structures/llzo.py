"""Garnet Li7La3Zr2O12 (LLZO) cells: ordered tetragonal, cubic with its Li disorder resolved, grain boundaries.

Tetragonal LLZO (I4_1/acd, No. 142, origin choice 2): lattice and Wyckoff positions of
J. Awaka et al., J. Solid State Chem. 182, 2046 (2009). Li fully orders on 8a (tetrahedral), 16f and 32g
(octahedral): 8 + 16 + 32 = 56 Li per cell, 192 atoms. The cell is checked in the tests against the
published symmetry (spglib finds I4_1/acd), ZrO6 bond lengths (2.10 Å) and bond-valence sums; Li3 and O3
are written in the representative of their orbit that is consistent with the other sites (lowest Ewald
energy, no Li-Li contact below 2.4 Å).

Cubic LLZO (Ia-3d, No. 230, origin choice 2): garnet framework La 24c, Zr 16a, O 96h and the partially
occupied Li sites 24d (tetrahedral) and 96h (split octahedral) as refined by C. A. Geiger et al.,
Inorg. Chem. 50, 1089 (2011), with the Li site occupancies of H. Xie et al., Chem. Mater. 23, 3587 (2011)
(24d: 0.564, 96h: 0.442). The disorder is resolved by ranking orderings by Ewald electrostatic energy
(formal charges Li+ La3+ Zr4+ O2-, pymatgen EwaldSummation), the criterion of pymatgen's
OrderDisorderedStructureTransformation, under two physical constraints: no two Li closer than
``li_exclusion`` Å (which forbids both halves of a 96h pair and a 24d site next to an occupied 96h), and
the tetrahedral count fixed by the 24d occupancy (capped at the largest count compatible with the first
rule: 13 of 24 per cell for Li7). The search over orderings is a simulated annealing of
Li moves within each sublattice on the precomputed Ewald pair matrix, from several random starts; the
lowest-energy ordering found is returned.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.spacegroup import crystal

from ssbkit.errors import InputError

TETRAGONAL_CELLPAR = (13.134, 13.134, 12.663, 90.0, 90.0, 90.0)
"""Awaka et al. (2009) lattice parameters a, b, c (Å) and angles (deg)."""

TETRAGONAL_SITES = (
    # element, Wyckoff, fractional position (I4_1/acd origin choice 2)
    ("La", "8b", (0.0, 0.25, 0.125)),
    ("La", "16e", (0.1253, 0.0, 0.25)),
    ("Zr", "16c", (0.0, 0.0, 0.0)),
    ("Li", "8a", (0.0, 0.25, 0.375)),
    ("Li", "16f", (0.1834, 0.4334, 0.125)),
    ("Li", "32g", (0.0896, 0.5794, 0.1915)),
    ("O", "32g", (0.2798, 0.1000, 0.1970)),
    ("O", "32g", (0.1033, 0.1955, 0.2815)),
    ("O", "32g", (0.1999, 0.2805, 0.0966)),
)

CUBIC_A = 12.9682
"""Geiger et al. (2011) cubic lattice parameter (Å)."""

CUBIC_FRAMEWORK = (
    ("La", "24c", (0.125, 0.0, 0.25)),
    ("Zr", "16a", (0.0, 0.0, 0.0)),
    ("O", "96h", (-0.0326, 0.0550, 0.1495)),
)
CUBIC_LI_SITES = (
    ("Li", "24d", (0.375, 0.0, 0.25), 0.564),
    ("Li", "96h", (0.0927, 0.6857, 0.5775), 0.442),
)
FORMAL_CHARGES = {"Li": 1.0, "La": 3.0, "Zr": 4.0, "O": -2.0}
ENERGY_TOLERANCE = 1e-9  # eV: Ewald energies closer than this are one (symmetry-equivalent orderings differ by rounding)


def tetragonal_llzo(supercell: tuple[int, int, int] = (1, 1, 1)) -> Atoms:
    """Ordered tetragonal LLZO (Awaka et al. 2009): 192 atoms per conventional cell, Li56La24Zr16O96.

    Each atom carries its Wyckoff label in the ``wyckoff`` array.
    """
    atoms = _from_wyckoff(TETRAGONAL_SITES, 142, TETRAGONAL_CELLPAR)
    return atoms.repeat(supercell)


def cubic_llzo(
    supercell: tuple[int, int, int] = (1, 1, 1),
    li_exclusion: float = 2.0,
    n_starts: int = 4,
    sweeps: int = 100,
    seed: int = 0,
) -> Atoms:
    """Cubic LLZO with an ordered Li arrangement of low Ewald energy (method in the module docstring).

    Returns Li56La24Zr16O96 per conventional cell (192 atoms), lattice parameter 12.968 Å. The Ewald energy
    (eV) of the chosen ordering is stored in ``atoms.info["ewald_energy_eV"]`` and the method in
    ``atoms.info["li_ordering"]``.
    """
    framework = _from_wyckoff(CUBIC_FRAMEWORK, 230, (CUBIC_A,) * 3 + (90.0,) * 3).repeat(supercell)
    candidates = [_from_wyckoff([site[:3]], 230, (CUBIC_A,) * 3 + (90.0,) * 3).repeat(supercell)
                  for site in CUBIC_LI_SITES]
    n_cells = int(np.prod(supercell))
    n_li = 56 * n_cells
    # Every 96h site lies 1.59 A from one 24d site, and each octahedral cage (a 96h pair) joins two 24d
    # sites: with t of the 24n tetrahedral sites filled at least 4t - 48n cages lose both their 96h sites,
    # so 56n - t octahedral Li fit only if 3t <= 40n. The Xie et al. occupancy (13.5 per cell) is capped there.
    n_tet = min(round(CUBIC_LI_SITES[0][3] * len(candidates[0])), (40 * n_cells) // 3)
    counts = (n_tet, n_li - n_tet)
    li_sites = candidates[0] + candidates[1]
    sublattice = np.array([0] * len(candidates[0]) + [1] * len(candidates[1]))
    pair_energy, field, framework_energy = _ewald_terms(framework, li_sites, n_li)
    blocked = _conflicts(li_sites, li_exclusion)
    rng = np.random.default_rng(seed)
    best_energy, best_occupied = np.inf, None
    for _ in range(n_starts):
        occupied = _greedy_ordering(blocked, sublattice, counts, rng)
        if occupied is None:
            continue
        occupied, energy = _anneal(occupied, pair_energy, field, blocked, sublattice, sweeps, rng)
        if energy < best_energy - ENERGY_TOLERANCE:
            best_energy, best_occupied = energy, occupied
    if best_occupied is None:
        raise InputError(f"no ordering of {counts} Li on 24d/96h without Li-Li contacts closer than "
                         f"{li_exclusion} A was found; lower li_exclusion")
    chosen = li_sites[np.flatnonzero(best_occupied)]
    atoms = chosen + framework
    atoms.info["ewald_energy_eV"] = float(best_energy + framework_energy)
    atoms.info["li_ordering"] = (f"lowest Ewald energy of {n_starts} annealed orderings; {counts[0]} Li on 24d, "
                                 f"{counts[1]} on 96h, Li-Li >= {li_exclusion} A")
    return atoms


def _from_wyckoff(sites, spacegroup: int, cellpar) -> Atoms:
    symbols = [s[0] for s in sites]
    positions = [s[2] for s in sites]
    setting = 2 if spacegroup == 142 else 1  # origin choice 2 where the group has two
    atoms = crystal(symbols, positions, spacegroup=spacegroup, setting=setting, cellpar=list(cellpar),
                    primitive_cell=False)
    kinds = atoms.get_array("spacegroup_kinds")
    atoms.set_array("wyckoff", np.array([sites[k][1] for k in kinds], dtype="<U4"))
    del atoms.arrays["spacegroup_kinds"]
    atoms.info.pop("spacegroup", None)
    atoms.info.pop("unit_cell", None)
    return atoms


def _ewald_terms(framework: Atoms, li_sites: Atoms, n_li: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Ewald pair energies (eV) between unit Li+ charges on candidate sites, the framework's energy of
    interaction with a Li+ on each site, and the framework's own energy.

    The matrix is computed for a neutral cell (each candidate site carrying charge n_li / n_sites) and
    rescaled to unit charges; pair and framework terms are bilinear in the charges.
    """
    from pymatgen.analysis.ewald import EwaldSummation

    from ssbkit.io import to_structure

    combined = to_structure(li_sites + framework)
    n_sites = len(li_sites)
    q_li = n_li / n_sites
    charges = [q_li] * n_sites + [FORMAL_CHARGES[s] for s in framework.get_chemical_symbols()]
    combined.add_oxidation_state_by_site(charges)
    matrix = EwaldSummation(combined, compute_forces=False).total_energy_matrix
    pair = matrix[:n_sites, :n_sites] / q_li**2
    field = 2.0 * matrix[:n_sites, n_sites:].sum(axis=1) / q_li
    return pair, field, float(matrix[n_sites:, n_sites:].sum())


def _conflicts(li_sites: Atoms, cutoff: float) -> np.ndarray:
    from ase.neighborlist import neighbor_list

    i, j = neighbor_list("ij", li_sites, cutoff)
    blocked = np.zeros((len(li_sites), len(li_sites)), dtype=bool)
    blocked[i, j] = True
    return blocked


def _greedy_ordering(blocked, sublattice, counts, rng, tries: int = 50) -> np.ndarray | None:
    """A random contact-free start: tetrahedral Li placed one by one where they share the fewest octahedral
    cages with those already placed (a cage touching two filled 24d sites cannot hold Li), then octahedral
    Li on random free sites. None if no try reaches the octahedral count."""
    tet, octa = np.flatnonzero(sublattice == 0), np.flatnonzero(sublattice == 1)
    b_to = blocked[np.ix_(tet, octa)].astype(int)
    shared_cages = b_to @ blocked[np.ix_(octa, octa)].astype(int) @ b_to.T
    for _ in range(tries):
        occupied = _fill_once(blocked, sublattice, counts, rng, tet, octa, shared_cages)
        if occupied is not None:
            return occupied
    return None


def _fill_once(blocked, sublattice, counts, rng, tet, octa, shared_cages) -> np.ndarray | None:
    chosen: list[int] = []
    for _ in range(counts[0]):
        free = np.setdiff1d(np.arange(len(tet)), chosen)
        cost = shared_cages[np.ix_(free, chosen)].sum(axis=1) if chosen else np.zeros(len(free))
        chosen.append(int(rng.choice(free[cost == cost.min()])))
    occupied = np.zeros(len(sublattice), dtype=bool)
    occupied[tet[chosen]] = True
    for site in rng.permutation(octa):
        if occupied[sublattice == 1].sum() == counts[1]:
            break
        if not blocked[site, occupied].any():
            occupied[site] = True
    return occupied if occupied[sublattice == 1].sum() == counts[1] else None


def _anneal(occupied, pair, field, blocked, sublattice, sweeps, rng) -> tuple[np.ndarray, float]:
    """Metropolis moves of one Li to a free, contact-free site of its sublattice; temperature (eV) lowered
    linearly. Returns the lowest-energy ordering visited and its energy (eV, framework term excluded)."""
    occupied = occupied.copy()
    # E = sum_occ field_i + sum_{i,j in occ} pair_ij; potential_i = field_i + 2 sum_{j in occ} pair_ij
    potential = field + 2.0 * pair[:, occupied].sum(axis=1)
    diagonal = np.diag(pair)
    energy = float(field[occupied].sum() + pair[np.ix_(occupied, occupied)].sum())
    best_energy, best = energy, occupied.copy()
    n_moves = sweeps * int(occupied.sum())
    temperatures = np.linspace(0.5, 0.005, n_moves)  # eV
    for kT in temperatures:
        source = rng.choice(np.flatnonzero(occupied))
        contacts = blocked[occupied].sum(axis=0) - blocked[source]
        free = np.flatnonzero((sublattice == sublattice[source]) & ~occupied & (contacts == 0))
        if len(free) == 0:
            continue
        target = rng.choice(free)
        delta = (potential[target] - potential[source] - 2.0 * pair[target, source]
                 + diagonal[source] + diagonal[target])
        # one random number per move whatever the sign of delta: symmetry-equivalent swaps have delta = 0 up
        # to rounding, which the thread count of the Ewald sums changes, and must not change the stream
        if rng.random() < np.exp(-max(delta, 0.0) / kT):
            occupied[source], occupied[target] = False, True
            potential += 2.0 * (pair[:, target] - pair[:, source])
            energy += delta
            if energy < best_energy - ENERGY_TOLERANCE:
                best_energy, best = energy, occupied.copy()
    return best, float(best_energy)


def llzo_grain_boundary(
    sigma: int = 5,
    axis: tuple[int, int, int] = (0, 0, 1),
    plane: tuple[int, int, int] | None = None,
    expand_times: int = 1,
    phase: str = "cubic",
):
    """Stoichiometric, charge-neutral LLZO bicrystal (ssbkit.interfaces.structures.grain_boundaries).

    ``phase``: "cubic" (cubic_llzo) or "tetragonal" (tetragonal_llzo). The Sigma 5 (001) twist boundary
    of cubic LLZO has 1920 atoms at ``expand_times=1``. Returns a GrainBoundaryResult.
    """
    from ssbkit.interfaces.structures.grain_boundaries import build_grain_boundary

    if phase not in ("cubic", "tetragonal"):
        raise InputError(f"unknown LLZO phase {phase!r}; choose 'cubic' or 'tetragonal'")
    bulk = cubic_llzo() if phase == "cubic" else tetragonal_llzo()
    return build_grain_boundary(bulk, sigma, axis, plane, expand_times=expand_times)
