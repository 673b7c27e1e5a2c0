"""Ensembles of ordered configurations of a partially occupied (disordered) crystal.

A parent structure with partial occupancies (a library entry such as ``LLZTO`` or any CIF) is repeated into a
supercell and decorated N times with whole atoms:

- **Composition**: each set of symmetry-equivalent sites (Wyckoff orbit) receives exactly occupancy x sites
  atoms of each species, so the composition is exact; a supercell in which a count is fractional is refused with
  the multiple of parent cells that makes it whole.
- **Charge**: the parent must be neutral with the formal oxidation states (dopant charge compensated by Li
  vacancies is part of the occupancies, e.g. Li6.25Al0.25La3Zr2O12); every member then is.
- **Exclusion**: no two atoms on partially occupied sites closer than ``exclusion_distance_A`` (2.0 Å). In
  cubic garnet this forbids Li on face-sharing 24d/96h sites (1.59 Å apart in Geiger et al. 2011) and on both
  halves of a split 96h pair (0.87 Å); the next Li-Li distance is 2.41 Å. In argyrodite Li6PS5Cl it forbids
  both sites of a 48h pair (1.81 Å; next 2.24 Å).
- **Sampling**: ``method="ewald"`` anneals ``ewald_runs`` random starts by swap Monte Carlo on the Ewald
  (point-charge) energy of the formal charges (pymatgen ``EwaldSummation`` matrix, evaluated incrementally) and
  ranks the distinct orderings visited in the colder half of the runs: the N lowest are the members (more runs
  while fewer than N were seen); ``method="sqs"`` anneals each member towards the cluster vector of the ideal
  random alloy (special quasirandom structure; icet 4 cluster space, pair cutoffs ``sqs_cutoffs_A``) under the
  same exclusion rule, so correlations of excluded pairs stay at the values the rule forces.
- **Distinct**: members are distinct under the symmetry of the parent supercell (all its rotations and
  translations); asking for more members than distinct orderings exist is an InputError.

Everything is seeded (``seed``): the same inputs give the same members with the same configuration ids.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from pymatgen.core import Composition, Element, Structure

from ssbkit.errors import InputError
from ssbkit.io import atomic_write, to_atoms
from ssbkit.logs import quiet_warnings, warnings_unless_failed
from ssbkit.results import Result
from ssbkit.settings import setting, validate

VACANCY = "X"
_COUNT_TOLERANCE = 1e-3  # atoms: a site-set count this close to a whole number is whole
_MAX_MULTIPLE = 1000
_SURROGATES = ("Rb", "Cs", "Sr", "Ba", "Sc", "Y", "Nb", "Mo", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb",
               "Te", "Hf", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Ce", "Pr", "Nd", "Sm")


@dataclass(frozen=True, kw_only=True)
class EnsembleSettings:
    """How ensemble members are sampled."""

    method: str = setting("ewald", choices=("ewald", "sqs"),
                          help="ewald: low-Ewald-energy orderings (annealed swap Monte Carlo, ranked); "
                               "sqs: special quasirandom structures (icet cluster vectors).")
    seed: int = setting(0, minimum=0, help="Random seed; the same seed gives the same members.")
    exclusion_distance_A: float = setting(2.0, minimum=0.0, unit="Å",
                                          help="No two atoms on partially occupied sites closer than this "
                                               "(0: no rule).")
    sweeps: int = setting(20, minimum=1, help="Monte Carlo swap attempts per variable site, per member.")
    ewald_runs: int = setting(4, minimum=1,
                              help="ewald: independent annealing runs; the lowest-energy distinct orderings "
                                   "visited near their ends are kept.")
    kT_start_eV: float = setting(0.3, minimum=0.0, exclusive_minimum=True, unit="eV",
                                 help="ewald: annealing temperature at the start.")
    kT_end_eV: float = setting(0.005, minimum=0.0, exclusive_minimum=True, unit="eV",
                               help="ewald: annealing temperature at the end.")
    sqs_cutoffs_A: tuple[float, ...] = setting((5.0,), minimum=0.0, exclusive_minimum=True, unit="Å",
                                               help="sqs: icet cluster cutoffs (pairs, triplets, ...).")

    def __post_init__(self) -> None:
        validate(self)


@dataclass
class SiteSet(Result):
    """One set of symmetry-equivalent parent sites in the supercell and what it holds (atom counts)."""

    label: str
    n_sites: int
    counts: dict[str, int]


@dataclass
class EnsembleMember(Result):
    """One ordered configuration: Ewald energy (eV per supercell) of the formal charges, SQS score (icet's
    cluster-vector distance, ``sqs`` only) and the shortest interatomic distance (Å)."""

    configuration: str
    index: int
    ewald_energy_eV: float
    sqs_score: float | None
    min_distance_A: float
    structure: Structure = field(repr=False)


@dataclass
class EnsembleResult(Result):
    """N distinct ordered configurations of one parent; Ewald energies in eV per supercell."""

    name: str
    parent_formula: str
    formula: str
    supercell: tuple[int, int, int]
    n_atoms: int
    method: str
    seed: int
    settings: dict[str, Any]
    oxidation_states: dict[str, float]
    site_sets: list[SiteSet]
    exclusion_rule: str
    members: list[EnsembleMember]
    ewald_spread_eV: float
    ewald_std_meV_per_atom: float

    def summary(self) -> dict[str, Any]:
        """JSON-ready dict without the structures."""
        data = self.to_dict()
        for member in data["members"]:
            member.pop("structure")
        return data


def load_parent(source: str) -> Structure:
    """A disordered parent: a library name (``LLZTO``, ``Al-LLZO``, ``Ga-LLZO``, ``Li6PS5Cl-disordered``, ...;
    decorated with the entry's oxidation states) or a CIF/pymatgen-JSON file with partial occupancies."""
    from ssbkit.interfaces.structures.references import load_reference_structure, reference_structure_info

    path = Path(source)
    if path.is_file():
        try:
            with warnings_unless_failed():
                return Structure.from_file(path)
        except Exception as exc:  # pymatgen raises many kinds for unreadable files
            raise InputError(f"{path}: not a readable CIF or pymatgen structure: {exc}") from exc
    if path.suffix.lower() in (".cif", ".json") or "/" in source:
        raise InputError(f"structure file {path} not found")
    info = reference_structure_info(source)
    parent = load_reference_structure(source, ordered=False)
    parent.add_oxidation_state_by_element(info.oxidation_states)
    return parent


def build_ensemble(parent: Structure, supercell: tuple[int, int, int] | int, n_configurations: int,
                   settings: EnsembleSettings | None = None, oxidation_states: dict[str, float] | None = None,
                   name: str | None = None, progress: bool = False) -> EnsembleResult:
    """N distinct ordered configurations of ``parent`` in the ``supercell`` (multiples of the parent cell).

    ``oxidation_states`` (element -> formal charge) default to those on the parent's species, else pymatgen's
    guess for its composition. ``name`` prefixes the configuration ids (default: the parent's formula).
    ``progress`` shows a bar of annealing runs on stderr.
    """
    settings = settings or EnsembleSettings()
    scaling = _scaling(supercell)
    if n_configurations < 1:
        raise InputError(f"n_configurations must be at least 1, not {n_configurations}")
    charges = oxidation_states or _oxidation_states(parent)
    _check_neutral(parent, charges)
    lattice = _Lattice(parent, scaling, charges, settings.exclusion_distance_A)
    name = name or lattice.formula
    rng = np.random.default_rng(settings.seed)
    n_distinct = lattice.count_distinct(limit=n_configurations)
    if n_distinct == 0:
        raise lattice.unsatisfiable()
    if n_distinct is not None and n_distinct < n_configurations:
        raise InputError(f"{name} in a {_text(scaling)} supercell has only {n_distinct} distinct orderings "
                         f"(under its symmetry and the {settings.exclusion_distance_A} A exclusion); ask for at "
                         f"most {n_distinct} configurations or use a larger supercell")
    from tqdm import tqdm

    chosen: dict[bytes, tuple[np.ndarray, float | None]] = {}
    with tqdm(desc=f"{settings.method} runs", unit="run", disable=not progress) as bar:
        if settings.method == "ewald":
            candidates = iter(_EwaldSampler(lattice, settings).ranked(n_configurations, rng, bar.update))
        else:
            sampler = _SqsSampler(lattice, settings)
            candidates = (sampler.sample(lattice.random_start(rng), rng, bar.update)
                          for _ in range(2 * n_configurations + 4))
        for decoration, score in candidates:
            chosen.setdefault(lattice.canonical(decoration), (decoration, score))
            if len(chosen) == n_configurations:
                break
    if len(chosen) < n_configurations:
        raise InputError(f"found only {len(chosen)} distinct orderings of {name} in a {_text(scaling)} supercell; "
                         "ask for fewer configurations or use a larger supercell")
    members = []
    for index, (decoration, score) in enumerate(chosen.values()):
        structure = lattice.structure(decoration)
        members.append(EnsembleMember(
            configuration=f"{name}-{settings.method}-s{settings.seed}-{index:02d}", index=index,
            ewald_energy_eV=lattice.ewald_energy(decoration), sqs_score=score, min_distance_A=_min_distance(structure), structure=structure))
    energies = np.array([m.ewald_energy_eV for m in members])
    n_atoms = len(members[0].structure)
    return EnsembleResult(
        name=name, parent_formula=parent.composition.formula, formula=members[0].structure.composition.formula,
        supercell=scaling, n_atoms=n_atoms, method=settings.method, seed=settings.seed, settings=asdict(settings),
        oxidation_states=charges, site_sets=lattice.site_sets(), exclusion_rule=lattice.exclusion_rule(),
        members=members, ewald_spread_eV=float(energies.max() - energies.min()),
        ewald_std_meV_per_atom=float(energies.std() / n_atoms * 1000.0))


def ensemble_atoms(result: EnsembleResult) -> list[Atoms]:
    """The members as ASE Atoms; ``info`` holds ``configuration`` (stable id), ``method``, ``seed``,
    ``ewald_energy_eV`` and ``parent``."""
    frames = []
    for member in result.members:
        atoms = to_atoms(member.structure)
        atoms.info.update(configuration=member.configuration, method=result.method, seed=result.seed,
                          ewald_energy_eV=member.ewald_energy_eV, parent=result.name)
        if member.sqs_score is not None:
            atoms.info["sqs_score"] = member.sqs_score
        frames.append(atoms)
    return frames


def write_ensemble(result: EnsembleResult, directory: str | Path) -> list[Path]:
    """Write each member as ``<configuration>.extxyz`` (method, seed and energy in its header) and
    ``ensemble.json`` (the summary) into ``directory`` (created if missing), each file atomically."""
    import json

    from ase.io import write

    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{directory} exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for atoms in ensemble_atoms(result):
        path = directory / f"{atoms.info['configuration']}.extxyz"
        atomic_write(path, lambda temporary, frame=atoms: write(temporary, frame, format="extxyz"))
        paths.append(path)
    summary = {**result.summary(), "files": [p.name for p in paths]}
    atomic_write(directory / "ensemble.json", json.dumps(summary, indent=1) + "\n")
    return [*paths, directory / "ensemble.json"]


# --------------------------------------------------------------------------------------------------------------


def _scaling(supercell: tuple[int, int, int] | int) -> tuple[int, int, int]:
    values = (supercell,) * 3 if isinstance(supercell, (int, np.integer)) else tuple(supercell)
    if len(values) != 3 or any(int(v) != v or v < 1 for v in values):
        raise InputError(f"supercell must be three positive integers, not {supercell!r}")
    return tuple(int(v) for v in values)


def _text(scaling: tuple[int, int, int]) -> str:
    return "x".join(map(str, scaling))


def _oxidation_states(parent: Structure) -> dict[str, float]:
    states: dict[str, float] = {}
    for site in parent:
        for species in site.species:
            oxi = getattr(species, "oxi_state", None)
            if oxi is not None:
                states[species.symbol] = float(oxi)
    elements = {el.symbol for el in parent.composition.elements}
    if elements <= set(states):
        return states
    composition = Composition({el: round(n) if abs(n - round(n)) < _COUNT_TOLERANCE else n
                               for el, n in parent.composition.element_composition.items()})
    try:
        guesses = composition.oxi_state_guesses(max_sites=-50)
    except ValueError:  # fractional amounts that no small formula reproduces
        guesses = []
    if not guesses:
        raise InputError(f"no formal oxidation states make {composition.formula} neutral; give them "
                         "(oxidation_states={'Li': 1, ...}) or fix the occupancies")
    return {el: float(q) for el, q in guesses[0].items()}


def _check_neutral(parent: Structure, charges: dict[str, float]) -> None:
    missing = {el.symbol for el in parent.composition.elements} - set(charges)
    if missing:
        raise InputError(f"no oxidation state given for {', '.join(sorted(missing))}")
    charge = sum(charges[el.symbol] * n for el, n in parent.composition.element_composition.items())
    if abs(charge) > 1e-3:
        raise InputError(f"the parent's occupancies are not charge neutral: {charge:+.3f} e per cell with "
                         f"oxidation states {charges}; fix the occupancies (dopant charge must be balanced by "
                         "Li vacancies)")


def _min_distance(structure: Structure) -> float:
    distances = structure.distance_matrix
    return float(distances[np.triu_indices(len(structure), 1)].min()) if len(structure) > 1 else math.inf


class _Lattice:
    """The supercell's sites: fixed ones, variable ones (decorated by species index per site set), their
    exclusion pairs, symmetry permutations and Ewald matrix."""

    def __init__(self, parent: Structure, scaling: tuple[int, int, int], charges: dict[str, float],
                 exclusion_A: float):
        import spglib

        self.exclusion_A = exclusion_A
        self.charges = charges
        occupancies = [{sp.symbol: float(x) for sp, x in site.species.items()} for site in parent]
        kinds: dict[tuple, int] = {}
        types = [kinds.setdefault(tuple(sorted(o.items())), len(kinds)) for o in occupancies]
        cell = (parent.lattice.matrix, parent.frac_coords, types)
        dataset = spglib.get_symmetry_dataset(cell, symprec=1e-3)
        orbit_of = dataset.equivalent_atoms
        wyckoffs = dataset.wyckoffs
        supercell = Structure(parent.lattice, [next(iter(o)) for o in occupancies], parent.frac_coords,
                              site_properties={"parent_index": list(range(len(parent)))})
        supercell.make_supercell(scaling)
        self.lattice = supercell.lattice
        self.frac = supercell.frac_coords
        parent_index = np.array(supercell.site_properties["parent_index"])
        self.n_cells = int(np.prod(scaling))
        self.scaling = scaling
        orbits = sorted(set(orbit_of[parent_index]))
        self.sets: list[dict[str, Any]] = []
        self.fixed_species = {}
        for orbit in orbits:
            sites = np.flatnonzero(orbit_of[parent_index] == orbit)
            occupancy = occupancies[orbit]
            n_parent = int((orbit_of == orbit).sum())
            label = f"{''.join(sorted(occupancy))} {n_parent}{wyckoffs[orbit]}"
            expected = {sp: x * len(sites) for sp, x in occupancy.items()}
            vacant = len(sites) - sum(expected.values())
            if vacant > _COUNT_TOLERANCE:
                expected[VACANCY] = vacant
            self._check_whole(label, expected, occupancy, n_parent)
            counts = {sp: round(n) for sp, n in expected.items() if round(n) > 0}
            if len(counts) == 1 and VACANCY not in counts:
                self.fixed_species.update({int(site): next(iter(counts)) for site in sites})
            self.sets.append({"label": label, "sites": sites, "counts": counts, "species": list(counts)})
        self.variable_sets = [s for s in self.sets if len(s["counts"]) > 1]
        if not self.variable_sets:
            raise InputError("the parent has no partially occupied or mixed sites: nothing to order")
        self.variable = np.concatenate([s["sites"] for s in self.variable_sets])
        self.set_of = np.concatenate([[k] * len(s["sites"]) for k, s in enumerate(self.variable_sets)])
        self.symbols = sorted({sp for s in self.variable_sets for sp in s["species"]})
        self.symbol_index = {sp: i for i, sp in enumerate(self.symbols)}
        self.q_of_symbol = np.array([0.0 if sp == VACANCY else charges[sp] for sp in self.symbols])
        self.vacancy = self.symbol_index.get(VACANCY, -1)
        self._exclusions()
        self._symmetry(types, parent_index)
        self._ewald = None

    def _check_whole(self, label: str, expected: dict[str, float], occupancy: dict[str, float],
                     n_parent: int) -> None:
        fractional = {sp: n for sp, n in expected.items() if abs(n - round(n)) > _COUNT_TOLERANCE}
        if not fractional:
            return
        per_cell = {sp: n / self.n_cells for sp, n in fractional.items()}
        for multiple in range(2, _MAX_MULTIPLE + 1):
            if all(abs(n * multiple - round(n * multiple)) < _COUNT_TOLERANCE for n in per_cell.values()):
                raise InputError(
                    f"{label}: a {_text(self.scaling)} supercell holds "
                    f"{', '.join(f'{n:.3f} {sp}' for sp, n in fractional.items())} atoms; the number of parent "
                    f"cells in the supercell must be a multiple of {multiple} (e.g. --supercell "
                    f"{self.scaling[0] * multiple},{self.scaling[1]},{self.scaling[2]})")
        raise InputError(f"{label}: occupancies {occupancy} give no whole number of atoms on its {n_parent} sites "
                         f"per cell in any supercell of up to {_MAX_MULTIPLE} cells; round the occupancies")

    def _exclusions(self) -> None:
        points = self.frac[self.variable]
        self.adjacency = np.zeros((len(points), len(points)), dtype=np.int32)
        self.pair_distances = np.array([])
        if self.exclusion_A <= 0:
            return
        centers, neighbours, _, distances = Structure(self.lattice, ["H"] * len(points), points).get_neighbor_list(
            self.exclusion_A)
        keep = distances > 1e-8
        self.adjacency[centers[keep], neighbours[keep]] = 1
        self.pair_distances = distances[keep]

    def _symmetry(self, types: list[int], parent_index: np.ndarray) -> None:
        import spglib
        from scipy.spatial import cKDTree

        cell = (self.lattice.matrix, self.frac, [types[p] for p in parent_index])
        operations = spglib.get_symmetry(cell, symprec=1e-3)
        points = np.mod(self.frac[self.variable], 1.0)
        tree = cKDTree(points, boxsize=1.0 + 1e-12)
        permutations = []
        for rotation, translation in zip(operations["rotations"], operations["translations"]):
            images = np.mod(points @ rotation.T + translation, 1.0)
            images[images >= 1.0 - 1e-12] = 0.0
            distance, index = tree.query(images)
            if distance.max() < 1e-3 and len(set(index)) == len(index):
                permutations.append(index)
        self.permutations = np.array(permutations)

    def random_start(self, rng: np.random.Generator) -> np.ndarray:
        """A decoration with the exact counts and no excluded pair (species index per variable site)."""
        for _ in range(50):
            decoration = np.empty(len(self.variable), dtype=int)
            for k, site_set in enumerate(self.variable_sets):
                members = np.flatnonzero(self.set_of == k)
                labels = np.repeat([self.symbol_index[sp] for sp in site_set["counts"]],
                                   list(site_set["counts"].values()))
                decoration[members] = rng.permutation(labels)
            if self._repair(decoration, rng):
                return decoration
        raise self.unsatisfiable()

    def unsatisfiable(self) -> InputError:
        counts = "; ".join(f"{s['label']}: {s['counts']}" for s in self.variable_sets)
        return InputError(f"no ordering with the exact counts ({counts}) keeps atoms on partially occupied sites "
                          f"at least {self.exclusion_A} A apart; lower the occupancies of face-sharing sites or "
                          "exclusion_distance_A")

    def occupied(self, decoration: np.ndarray) -> np.ndarray:
        return decoration != self.vacancy

    def _repair(self, decoration: np.ndarray, rng: np.random.Generator) -> bool:
        """Min-conflicts search: move atoms off excluded pairs by swaps with vacancies of the same site set,
        each to the vacancy with the fewest occupied excluded neighbours (ties at random; 5 % random moves)."""
        if self.vacancy < 0 or self.exclusion_A <= 0:
            return True
        occupied = self.occupied(decoration)
        contacts = self.adjacency[:, occupied].sum(axis=1)
        for _ in range(50 * len(decoration)):
            bad = np.flatnonzero(occupied & (contacts > 0))
            if len(bad) == 0:
                return True
            source = rng.choice(bad)
            vacant = np.flatnonzero((self.set_of == self.set_of[source]) & ~occupied)
            if len(vacant) == 0:
                return False
            after = contacts[vacant] - self.adjacency[vacant, source]
            if rng.random() < 0.05:
                target = rng.choice(vacant)
            else:
                target = rng.choice(vacant[after == after.min()])
            self.swap(decoration, occupied, contacts, source, target)
        return False

    def swap(self, decoration, occupied, contacts, a: int, b: int) -> None:
        """Exchange the occupants of variable sites a and b, keeping occupied/contacts current."""
        decoration[a], decoration[b] = decoration[b], decoration[a]
        if occupied[a] != occupied[b]:
            for site in (a, b):
                contacts += self.adjacency[site] if not occupied[site] else -self.adjacency[site]
                occupied[site] = not occupied[site]

    def allowed(self, decoration, occupied, contacts, a: int, b: int) -> bool:
        """Whether swapping a and b keeps the exclusion rule (and changes anything)."""
        if decoration[a] == decoration[b]:
            return False
        if occupied[a] and occupied[b]:
            return True
        source, target = (a, b) if occupied[a] else (b, a)
        return contacts[target] - self.adjacency[target, source] == 0

    def canonical(self, decoration: np.ndarray) -> bytes:
        images = np.empty((len(self.permutations), len(decoration)), dtype=np.int16)
        rows = np.arange(len(self.permutations))[:, None]
        images[rows, self.permutations] = decoration
        return min(image.tobytes() for image in images)

    def count_distinct(self, limit: int) -> int | None:
        """The number of symmetry-distinct orderings obeying the rule, when small enough to enumerate
        (at most 20000 decorations); None when larger than ``limit`` can be shown without enumerating."""
        from itertools import combinations, product

        total = 1
        for site_set in self.variable_sets:
            n = len(site_set["sites"])
            total *= math.factorial(n) // math.prod(math.factorial(c) for c in site_set["counts"].values())
        if total > 20000:
            return None
        per_set = []
        for k, site_set in enumerate(self.variable_sets):
            members = np.flatnonzero(self.set_of == k)
            options = [np.full(len(members), -1)]
            for sp, count in site_set["counts"].items():
                grown = []
                for option in options:
                    free = np.flatnonzero(option == -1)
                    for chosen in combinations(free, count):
                        new = option.copy()
                        new[list(chosen)] = self.symbol_index[sp]
                        grown.append(new)
                options = grown
            per_set.append([(members, o) for o in options])
        keys = set()
        for combination in product(*per_set):
            decoration = np.empty(len(self.variable), dtype=int)
            for members, option in combination:
                decoration[members] = option
            occupied = self.occupied(decoration)
            if (self.adjacency[:, occupied].sum(axis=1)[occupied] > 0).any():
                continue
            keys.add(self.canonical(decoration))
        return len(keys)

    # Ewald -----------------------------------------------------------------------------------------------------

    def ewald_terms(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Unit-charge Ewald matrix between variable sites (eV), the fixed sites' field on each, their energy."""
        if self._ewald is None:
            from pymatgen.analysis.ewald import EwaldSummation

            unit = Structure(self.lattice, ["H"] * len(self.frac), self.frac)
            unit.add_oxidation_state_by_site([1.0] * len(unit))
            with quiet_warnings():
                matrix = EwaldSummation(unit, compute_forces=False).total_energy_matrix
            fixed = np.array(sorted(self.fixed_species), dtype=int)
            q_fixed = np.array([self.charges[self.fixed_species[i]] for i in fixed])
            pair = matrix[np.ix_(self.variable, self.variable)]
            field_ = 2.0 * matrix[np.ix_(self.variable, fixed)] @ q_fixed
            self._ewald = (pair, field_, float(q_fixed @ matrix[np.ix_(fixed, fixed)] @ q_fixed))
        return self._ewald

    def ewald_energy(self, decoration: np.ndarray) -> float:
        pair, field_, constant = self.ewald_terms()
        q = self.q_of_symbol[decoration]
        return float(constant + field_ @ q + q @ pair @ q)

    def structure(self, decoration: np.ndarray) -> Structure:
        species, coords = [], []
        for site, element in sorted(self.fixed_species.items()):
            species.append(element)
            coords.append(self.frac[site])
        for k, site in enumerate(self.variable):
            symbol = self.symbols[decoration[k]]
            if symbol != VACANCY:
                species.append(symbol)
                coords.append(self.frac[site])
        order = np.argsort([Element(s).Z for s in species], kind="stable")
        return Structure(self.lattice, [species[i] for i in order], [coords[i] for i in order])

    @property
    def formula(self) -> str:
        """Formula of every ordered member, e.g. Li52La24Zr12Ta4O96."""
        totals: dict[str, int] = {}
        for site_set in self.sets:
            for species, count in site_set["counts"].items():
                if species != VACANCY:
                    totals[species] = totals.get(species, 0) + count
        return Composition(totals).formula.replace(" ", "")

    def site_sets(self) -> list[SiteSet]:
        return [SiteSet(label=s["label"], n_sites=len(s["sites"]), counts=dict(s["counts"])) for s in self.sets]

    def exclusion_rule(self) -> str:
        if self.exclusion_A <= 0:
            return "none"
        distances = self.pair_distances
        shortest = f"; shortest excluded pair {distances.min():.2f} A" if len(distances) else ""
        return (f"no two atoms on partially occupied sites closer than {self.exclusion_A} A "
                f"({len(distances) // 2} excluded site pairs{shortest})")


class _Pool:
    """The ``size`` lowest-energy symmetry-distinct orderings seen: canonical key -> (energy eV, decoration)."""

    def __init__(self, lattice: _Lattice, size: int):
        self.lattice, self.size = lattice, size
        self.entries: dict[bytes, tuple[float, np.ndarray]] = {}
        self.worst = math.inf

    def add(self, energy: float, decoration: np.ndarray) -> None:
        if energy >= self.worst:
            return
        key = self.lattice.canonical(decoration)
        if key in self.entries and self.entries[key][0] <= energy + 1e-9:
            return
        self.entries[key] = (energy, decoration.copy())
        if len(self.entries) > self.size:
            del self.entries[max(self.entries, key=lambda k: self.entries[k][0])]
        if len(self.entries) == self.size:
            self.worst = max(e for e, _ in self.entries.values())


class _EwaldSampler:
    """Annealed swap Monte Carlo on the Ewald energy (kT from kT_start to kT_end, eV)."""

    def __init__(self, lattice: _Lattice, settings: EnsembleSettings):
        self.lattice, self.settings = lattice, settings
        lattice.ewald_terms()

    def ranked(self, n_configurations: int, rng: np.random.Generator,
               done: Callable[[], Any]) -> list[tuple[np.ndarray, None]]:
        """The lowest-energy distinct orderings visited in the colder half of the annealing runs, lowest
        first: ``ewald_runs`` runs, more (up to 4 N + 8) while fewer than N distinct ones were seen."""
        pool = _Pool(self.lattice, 4 * n_configurations)
        for run in range(max(self.settings.ewald_runs, 4 * n_configurations + 8)):
            self._anneal(self.lattice.random_start(rng), rng, pool)
            done()
            if run + 1 >= self.settings.ewald_runs and len(pool.entries) >= n_configurations:
                break
        return [(decoration, None) for _, decoration in sorted(pool.entries.values(), key=lambda item: item[0])]

    def _anneal(self, decoration: np.ndarray, rng: np.random.Generator, pool: _Pool) -> None:
        lat = self.lattice
        pair, field_, _ = lat.ewald_terms()
        q = lat.q_of_symbol[decoration]
        potential = field_ + 2.0 * pair @ q
        occupied = lat.occupied(decoration)
        contacts = lat.adjacency[:, occupied].sum(axis=1)
        energy = float(field_ @ q + q @ pair @ q)
        n_steps = self.settings.sweeps * len(decoration)
        groups = [np.flatnonzero(lat.set_of == k) for k in range(len(lat.variable_sets))]
        sizes = np.array([len(g) for g in groups], dtype=float)
        temperatures = np.geomspace(self.settings.kT_start_eV, self.settings.kT_end_eV, n_steps)
        chosen_groups = rng.choice(len(groups), size=n_steps, p=sizes / sizes.sum())
        for step, (kT, g) in enumerate(zip(temperatures, chosen_groups)):
            if step == n_steps // 2:
                pool.add(energy, decoration)
            a, b = rng.choice(groups[g], size=2, replace=False)
            if not lat.allowed(decoration, occupied, contacts, a, b):
                continue
            d = q[b] - q[a]
            delta = d * (potential[a] - potential[b]) + d * d * (pair[a, a] + pair[b, b] - 2.0 * pair[a, b])
            # one random number per move whatever the sign of delta, so that a rounding-level delta (the
            # thread count changes the Ewald sums) never shifts the random stream
            if rng.random() < math.exp(-max(delta, 0.0) / kT):
                lat.swap(decoration, occupied, contacts, a, b)
                q[a], q[b] = q[b], q[a]
                potential += 2.0 * d * (pair[:, a] - pair[:, b])
                energy += delta
                if 2 * step >= n_steps:
                    pool.add(energy, decoration)


class _SqsSampler:
    """Annealed swap Monte Carlo towards the random-alloy cluster vector (icet), under the exclusion rule."""

    def __init__(self, lattice: _Lattice, settings: EnsembleSettings):
        from icet import ClusterSpace
        from icet.tools.structure_generation import _get_sqs_cluster_vector

        self.lattice, self.settings = lattice, settings
        present = {el for s in lattice.sets for el in s["counts"]}
        pool = iter(sp for sp in _SURROGATES if sp not in present)
        # icet merges sites with the same allowed species into one sublattice; distinct stand-in elements per
        # site set keep e.g. garnet 24d and 96h apart, so their separate counts are the targets.
        self.stand_in = {}
        for k, site_set in enumerate(lattice.variable_sets):
            for sp in site_set["counts"]:
                self.stand_in[(k, sp)] = next(pool)
        allowed = {}
        for k, site_set in enumerate(lattice.variable_sets):
            for site in site_set["sites"]:
                allowed[int(site)] = [self.stand_in[(k, sp)] for sp in site_set["counts"]]
        base_symbols = []
        for site in range(len(lattice.frac)):
            base_symbols.append(allowed[site][0] if site in allowed else lattice.fixed_species[site])
        self.atoms = Atoms(base_symbols, scaled_positions=lattice.frac, cell=lattice.lattice.matrix, pbc=True)
        chemical_symbols = [allowed.get(site, [base_symbols[site]]) for site in range(len(base_symbols))]
        with quiet_warnings():
            self.space = ClusterSpace(self.atoms, list(settings.sqs_cutoffs_A), chemical_symbols)
        targets = {}
        for sublattice in self.space.get_sublattices(self.space.primitive_structure):
            symbols = list(sublattice.chemical_symbols)
            if len(symbols) < 2:
                continue
            (k,) = {k for (k, sp), stand in self.stand_in.items() if stand in symbols}
            site_set = lattice.variable_sets[k]
            n = sum(site_set["counts"].values())
            targets[sublattice.symbol] = {self.stand_in[(k, sp)]: c / n for sp, c in site_set["counts"].items()}
        self.target = _get_sqs_cluster_vector(self.space, targets)

    def score(self, decoration: np.ndarray) -> float:
        from icet.tools.structure_generation import compare_cluster_vectors

        lat = self.lattice
        symbols = self.atoms.get_chemical_symbols()
        for k, site in enumerate(lat.variable):
            symbols[site] = self.stand_in[(lat.set_of[k], lat.symbols[decoration[k]])]
        self.atoms.set_chemical_symbols(symbols)
        vector = self.space.get_cluster_vector(self.atoms)
        return float(compare_cluster_vectors(vector, self.target, self.space.as_list))

    def sample(self, decoration: np.ndarray, rng: np.random.Generator,
               done: Callable[[], Any]) -> tuple[np.ndarray, float]:
        lat = self.lattice
        occupied = lat.occupied(decoration)
        contacts = lat.adjacency[:, occupied].sum(axis=1)
        score = self.score(decoration)
        best, best_score = decoration.copy(), score
        groups = [np.flatnonzero(lat.set_of == k) for k in range(len(lat.variable_sets))]
        sizes = np.array([len(g) for g in groups], dtype=float)
        n_steps = self.settings.sweeps * len(decoration)
        temperatures = np.geomspace(1.0, 1e-3, n_steps)
        chosen_groups = rng.choice(len(groups), size=n_steps, p=sizes / sizes.sum())
        for kT, g in zip(temperatures, chosen_groups):
            a, b = rng.choice(groups[g], size=2, replace=False)
            if not lat.allowed(decoration, occupied, contacts, a, b):
                continue
            lat.swap(decoration, occupied, contacts, a, b)
            trial = self.score(decoration)
            if rng.random() < math.exp(-max(trial - score, 0.0) / kT):  # one draw per move, as above
                score = trial
                if score < best_score - 1e-12:
                    best, best_score = decoration.copy(), score
            else:
                lat.swap(decoration, occupied, contacts, a, b)
        done()
        return best, best_score

