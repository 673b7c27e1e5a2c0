"""Entry sources: where the energies behind phase diagrams come from.

An entry source is anything with a ``name`` and a ``get_entries(elements)`` method that returns the
pymatgen entries (PDEntry, ComputedEntry, ComputedStructureEntry) of every phase whose elements are a
subset of ``elements`` (the chemical system and all its subsystems). Energies are eV per cell/formula
unit as pymatgen stores them. Sources shipped here:

- ``mp``: the Materials Project through mp-api, GGA/GGA+U entries with the corrections MP serves for
  mixing them (MP2020 compatibility), cached on disk per chemical system (see :class:`MPSource`).
- ``file:PATH``: a JSON or JSON.gz list of entry dicts (``Entry.as_dict()``), the format the MP cache uses.
- ``experimental``: pymatgen's bundled experimental formation enthalpies (298 K, eV per formula unit),
  elements at zero energy. Needs neither key nor network.

Other prefixes are registered by the packages that provide them: ``mlip:[MODEL:]PATH`` (structures relaxed
with an ML potential, :mod:`ssbkit.workflows.ml_entries`) by ``ssbkit.workflows``, available once it is imported.
Importing this module stays light (no pymatgen, no scipy, no ase), so registering a source costs nothing
while its factory imports what it needs when called.

Several sources combine with commas (``"mp,file:extra.json"``); their entries are pooled, so they must
share one energy reference (MP-compatible energies in a user file next to ``mp``; formation enthalpies
next to ``experimental``). A source that states its reference in an ``energy_reference`` attribute is
refused next to a source stating another one.

Adding a source: write a class with a ``name`` attribute and
``get_entries(self, elements: Collection[str]) -> list[Entry]`` (raise :class:`~ssbkit.errors.DataError`
when data are missing), then register a factory for its prefix::

    from ssbkit.interfaces.entries import register_source

    def _my_source(argument: str, options: SourceOptions) -> EntrySource:
        return MySource(argument)  # argument is the text after "mine:" ("" if none)

    register_source("mine", _my_source, needs_argument=True)

after which ``parse_source("mp,mine:data.json")`` and the CLI's ``--source`` accept it.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
import warnings
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from ssbkit import config
from ssbkit.errors import DataError, InputError
from ssbkit.results import Caveat

if TYPE_CHECKING:
    from pymatgen.core import Element, Structure
    from pymatgen.entries import Entry

MP_THERMO_TYPE = "GGA_GGA+U"
DEFAULT_MP_ENDPOINT = "https://api.materialsproject.org/"
MAX_ABS_ENERGY_PER_ATOM = 1000.0  # eV/atom: larger energies are corrupt data
_MATERIAL_ID = re.compile(r"^(mp|mvc)-\d+")  # the material id that starts an MP entry id
MP_ENERGIES = "MP-scale total energies"
FORMATION_ENTHALPIES = "formation enthalpies"
_T = TypeVar("_T")


@runtime_checkable
class EntrySource(Protocol):
    """Gives the entries of a chemical system and all its subsystems."""

    name: str

    def get_entries(self, elements: Collection[str]) -> list[Entry]:
        """Entries whose elements are all in ``elements`` (symbols)."""
        ...


@dataclass(frozen=True)
class SourceOptions:
    """Settings a source factory may use. ``offline=None`` reads ``SSBKIT_OFFLINE`` (ssbkit.config);
    relative paths in source strings (``file:PATH``) are taken relative to ``base_dir`` (None: the
    working directory)."""

    offline: bool | None = None
    cache_dir: Path | None = None
    mp_endpoint: str | None = None
    base_dir: Path | None = None

    def path(self, argument: str) -> Path:
        """A path from a source string, relative to ``base_dir`` when it is not absolute."""
        path = Path(argument).expanduser()
        return self.base_dir / path if self.base_dir is not None else path


def chemsys_of(elements: Iterable[str | Element]) -> str:
    """Dash-joined, alphabetically sorted chemical system, e.g. ``"Cl-Li-P-S"``."""
    return "-".join(sorted({str(e) for e in elements}))


def parse_chemsys(text: str) -> list[str]:
    """Element symbols of a chemical system written ``Li-P-S-Cl`` (InputError for unknown symbols)."""
    from pymatgen.core import Element

    symbols = [s.strip() for s in text.split("-") if s.strip()]
    if not symbols:
        raise InputError(f"empty chemical system {text!r}; write it like Li-P-S-Cl")
    for symbol in symbols:
        if not Element.is_valid_symbol(symbol):
            raise InputError(f"unknown element {symbol!r} in chemical system {text!r}")
    return sorted(set(symbols))


def entries_within(entries: Iterable[Entry], elements: Collection[str]) -> list[Entry]:
    """The entries whose elements are all in ``elements``."""
    allowed = {str(e) for e in elements}
    return [e for e in entries if {str(el) for el in e.composition.elements} <= allowed]


class EntryIndex:
    """Entries grouped by their element set once, so each chemical system's entries are gathered from the
    groups instead of rescanning every entry (a screening asks for hundreds of systems)."""

    def __init__(self, entries: Iterable[Entry]):
        self.entries = list(entries)
        self._groups: dict[frozenset[str], list[int]] = {}
        for position, entry in enumerate(self.entries):
            key = frozenset(str(el) for el in entry.composition.elements)
            self._groups.setdefault(key, []).append(position)

    def within(self, elements: Collection[str]) -> list[Entry]:
        """The entries whose elements are all in ``elements``, in their original order."""
        allowed = {str(e) for e in elements}
        positions = sorted(p for key, group in self._groups.items() if key <= allowed for p in group)
        return [self.entries[p] for p in positions]


def load_entries(path: str | os.PathLike) -> list[Entry]:
    """Read a JSON / JSON.gz list of pymatgen entry dicts (DataError if unreadable, empty or not entries)."""
    from monty.json import MontyDecoder
    from pymatgen.entries import Entry

    path = Path(path)
    if not path.is_file():
        raise DataError(f"entry file {path} does not exist")
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            raw = json.load(handle)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"entry file {path} is not readable JSON{' (gzip)' if path.suffix == '.gz' else ''}: "
                        f"{exc}") from exc
    if not isinstance(raw, list):
        raise DataError(f"entry file {path} must hold a JSON list of entry dicts, found {type(raw).__name__}")
    if not raw:
        raise DataError(f"entry file {path} contains no entries")
    entries = []
    for index, item in enumerate(raw):
        try:
            entry = MontyDecoder().process_decoded(item)
        except Exception as exc:  # monty raises anything the entry class raises
            raise DataError(f"entry {index} in {path} is not a pymatgen entry dict: {exc}") from exc
        if not isinstance(entry, Entry):
            raise DataError(f"entry {index} in {path} is not a pymatgen entry dict (needs '@module'/'@class' "
                            "of PDEntry, ComputedEntry or ComputedStructureEntry)")
        entries.append(entry)
    check_energies(entries, str(path))
    return entries


def check_energies(entries: Sequence[Entry], where: str) -> None:
    """DataError naming the entry (index, formula) and value unless every energy is finite and at most
    ``MAX_ABS_ENERGY_PER_ATOM`` eV/atom in magnitude; ``where`` names the entry set."""
    for index, entry in enumerate(entries):
        energy = entry.energy_per_atom
        if not math.isfinite(energy) or abs(energy) > MAX_ABS_ENERGY_PER_ATOM:
            raise DataError(f"entry {index} ({entry.composition.reduced_formula}) in {where} has energy "
                            f"{energy:g} eV/atom; energies must be finite and within "
                            f"+-{MAX_ABS_ENERGY_PER_ATOM:g} eV/atom")


def save_entries(entries: Sequence[Entry], path: str | os.PathLike) -> Path:
    """Write entries as a JSON (or JSON.gz, by suffix) list of dicts, atomically; the parent folder must exist."""
    from monty.json import MontyEncoder

    from ssbkit.io import atomic_write

    path = Path(path)
    data = json.dumps([e.as_dict() for e in entries], cls=MontyEncoder).encode("utf-8")
    return atomic_write(path, gzip.compress(data) if path.suffix == ".gz" else data)


class FileSource:
    """Entries from a JSON / JSON.gz file of entry dicts, read once (energy reference: the file's)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.name = f"file:{self.path}"
        self._index = EntryIndex(load_entries(self.path))

    def get_entries(self, elements: Collection[str]) -> list[Entry]:
        return self._index.within(elements)


#: Where pymatgen keeps its experimental formation enthalpies, relative to the pymatgen package folder.
_EXPERIMENTAL_DATA_PATHS = ("analysis/compatibility/exp_compounds.json.gz", "entries/exp_compounds.json.gz")


def _experimental_data_file() -> Path:
    """pymatgen's ``exp_compounds.json.gz``, found without importing the package that holds it (importing
    pymatgen.analysis.compatibility costs about a second of YAML, VASP input sets and structure analysis)."""
    from importlib.util import find_spec

    spec = find_spec("pymatgen")  # a namespace package: finding it imports nothing
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        for relative in _EXPERIMENTAL_DATA_PATHS:
            candidate = Path(folder) / relative
            if candidate.is_file():
                return candidate
    raise DataError("pymatgen's experimental formation enthalpies (exp_compounds.json.gz) were not found in "
                    "this pymatgen installation")


class ExperimentalSource:
    """Experimental standard formation enthalpies bundled with pymatgen (eV per formula unit, 298 K).

    Each compound becomes a PDEntry whose energy is its formation enthalpy; every element is a PDEntry at
    zero, so hulls and voltages come straight from the enthalpies (entropy neglected, as in Richards et
    al., Chem. Mater. 28, 266, 2016).
    """

    name = "experimental"
    energy_reference = FORMATION_ENTHALPIES

    def __init__(self) -> None:
        from pymatgen.analysis.phase_diagram import PDEntry
        from pymatgen.core import Composition

        with gzip.open(_experimental_data_file(), "rt", encoding="utf-8") as handle:
            records = json.load(handle)
        compounds = [PDEntry(Composition(r["formula"]), float(r["exp energy"]), name=r["formula"],
                             attribute="experimental") for r in records if math.isfinite(r["exp energy"])]
        elements = {str(el) for entry in compounds for el in entry.composition.elements}
        self._index = EntryIndex([PDEntry(Composition(el), 0.0, name=el, attribute="experimental")
                                  for el in sorted(elements)] + compounds)

    def get_entries(self, elements: Collection[str]) -> list[Entry]:
        return self._index.within(elements)


class MPSource:
    """Materials Project GGA/GGA+U entries (MP2020-corrected, as the API serves them), cached on disk.

    The cache holds one JSON.gz file of entry dicts per chemical system under
    ``<cache_dir>/mp/GGA_GGA+U/<chemsys>.json.gz``; a cached superset system also serves its subsystems.
    Offline (``offline=True`` or ``SSBKIT_OFFLINE``) the network is never touched and a missing chemical
    system is a DataError naming it. Online, ``MP_API_KEY`` (or ``api_key``) is required. This class is
    ssbkit's one Materials Project client: structures by material id come from it too.
    """

    name = "mp"
    energy_reference = MP_ENERGIES

    def __init__(self, api_key: str | None = None, *, offline: bool | None = None,
                 cache_dir: str | os.PathLike | None = None, endpoint: str | None = None):
        self.api_key = api_key
        self.offline = config.offline() if offline is None else offline
        self.endpoint = endpoint
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None

    @property
    def cache_root(self) -> Path:
        """Directory holding this source's cached chemical systems."""
        return (self._cache_dir or config.cache_dir()) / "mp" / MP_THERMO_TYPE

    def cache_path(self, elements: Collection[str]) -> Path:
        return self.cache_root / f"{chemsys_of(elements)}.json.gz"

    def _cached_superset(self, elements: Collection[str]) -> Path | None:
        wanted = {str(e) for e in elements}
        exact = self.cache_path(wanted)
        if exact.is_file():
            return exact
        if not self.cache_root.is_dir():
            return None
        supersets = [p for p in self.cache_root.glob("*.json.gz")
                     if wanted <= set(p.name.removesuffix(".json.gz").split("-"))]
        return min(supersets, key=lambda p: len(p.name), default=None)

    def get_entries(self, elements: Collection[str]) -> list[Entry]:
        elements = {str(e) for e in elements}
        cached = self._cached_superset(elements)
        if cached is not None:
            try:
                return entries_within(load_entries(cached), elements)
            except DataError as exc:
                raise DataError(f"corrupt MP cache file {cached}: {exc}; delete it and run "
                                f"'ssbkit entries prefetch {chemsys_of(elements)}' again") from exc
        if self.offline:
            raise DataError(f"chemical system {chemsys_of(elements)} is not in the MP cache {self.cache_root} "
                            f"and the mp source is offline; on a machine with internet run "
                            f"'ssbkit entries prefetch {chemsys_of(elements)}' and copy the cache")
        return entries_within(self.fetch(elements), elements)

    def fetch(self, elements: Collection[str]) -> list[Entry]:
        """Download a chemical system (and its subsystems) from MP and write it to the cache."""
        elements = {str(e) for e in elements}
        if self.offline:
            raise DataError(f"cannot download {chemsys_of(elements)}: the mp source is offline")
        entries = self._request(chemsys_of(elements), lambda rester: rester.get_entries_in_chemsys(
            sorted(elements), additional_criteria={"thermo_types": [MP_THERMO_TYPE]}),
            "no Materials Project API key: set MP_API_KEY (https://materialsproject.org/api), "
            "or use --source experimental / file:PATH")
        if not entries:
            raise DataError(f"the Materials Project returned no entries for {chemsys_of(elements)}")
        for entry in entries:  # mp-api hands out emmet EntryID objects; the cache stores plain strings
            if entry.entry_id is not None:
                entry.entry_id = str(entry.entry_id)
        self.cache_root.mkdir(parents=True, exist_ok=True)
        save_entries(entries, self.cache_path(elements))
        return list(entries)

    def get_structure(self, material_id: str) -> Structure:
        """The structure of an MP material (``mp-149``): from a cached entry when one has it, else the
        conventional cell from the API (DataError offline or without a key)."""
        if self.cache_root.is_dir():
            for path in sorted(self.cache_root.glob("*.json.gz")):
                for entry in load_entries(path):
                    if _material_id(entry) == material_id and getattr(entry, "structure", None) is not None:
                        return entry.structure
        if self.offline:
            raise DataError(f"{material_id} is not in the MP entry cache {self.cache_root} and the mp source is "
                            "offline; prefetch its chemical system or pass a CIF/POSCAR")
        return self._request(material_id, lambda rester: rester.get_structure_by_material_id(
            material_id, conventional_unit_cell=True),
            f"{material_id} is not in the MP entry cache and no MP_API_KEY is set; set it or pass a CIF/POSCAR")

    def _request(self, what: str, call: Callable[[Any], _T], no_key_message: str) -> _T:
        """``call(rester)`` on an MPRester for this source's key and endpoint; DataError with
        ``no_key_message`` when there is no key, naming ``what`` when the request fails."""
        api_key = self.api_key or config.mp_api_key()
        if not api_key:
            raise DataError(no_key_message)
        endpoint = self.endpoint or config.mp_api_endpoint() or DEFAULT_MP_ENDPOINT
        try:
            from mp_api.client import MPRester

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with MPRester(api_key, endpoint=endpoint, mute_progress_bars=True) as rester:
                    return call(rester)
        except Exception as exc:  # network, HTTP and decoding errors of mp-api all end here
            raise DataError(f"Materials Project request for {what} at {endpoint} failed: "
                            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc


def _material_id(entry: Entry) -> str | None:
    """The MP material id (``mp-149``) of an MP entry, from its data or its entry id."""
    material_id = (getattr(entry, "data", None) or {}).get("material_id") or str(entry.entry_id or "")
    match = _MATERIAL_ID.match(str(material_id))
    return match.group(0) if match else None


class CombinedSource:
    """Pools the entries of several sources, listed in priority order.

    Formation and total energies do not mix (InputError); a composition held by several sources keeps the
    entries of the first listed one (:func:`ssbkit.interfaces.validity.pool_entries`). ``caveats`` says
    what the last ``get_entries`` call dropped, :meth:`caveats_within` what any call dropped in a system.
    """

    def __init__(self, sources: Sequence[EntrySource]):
        if not sources:
            raise InputError("no entry source given")
        self.sources = list(sources)
        self.name = ",".join(s.name for s in self.sources)
        self.caveats: list[Caveat] = []
        self._dropped: dict[str, Caveat] = {}  # reduced formula -> its duplicate-composition caveat, every call

    def get_entries(self, elements: Collection[str]) -> list[Entry]:
        from ssbkit.interfaces.validity import pool_entries

        pooled, dropped = pool_entries([(source.name, source.get_entries(elements)) for source in self.sources])
        self.caveats = list(dropped.values())
        self._dropped.update(dropped)
        return pooled

    def caveats_within(self, elements: Collection[str]) -> list[Caveat]:
        """Duplicate-composition caveats of every call so far whose composition lies within ``elements``."""
        from pymatgen.core import Composition

        allowed = {str(e) for e in elements}
        return [caveat for formula, caveat in sorted(self._dropped.items())
                if {str(el) for el in Composition(formula).elements} <= allowed]


SourceFactory = Callable[[str, SourceOptions], EntrySource]


_FACTORIES: dict[str, SourceFactory] = {
    "mp": lambda argument, options: MPSource(offline=options.offline, cache_dir=options.cache_dir,
                                             endpoint=options.mp_endpoint),
    "file": lambda argument, options: FileSource(options.path(argument)),
    "experimental": lambda argument, options: ExperimentalSource(),
}
_NEEDS_ARGUMENT = {"file"}
#: Prefixes registered by a module that must be imported first.
_REGISTERED_BY = {"mlip": "ssbkit.workflows"}


def register_source(prefix: str, factory: SourceFactory, *, needs_argument: bool = False) -> None:
    """Make ``prefix`` (or ``prefix:ARGUMENT``) usable in source strings; ``factory(argument, options)``."""
    _FACTORIES[prefix] = factory
    if needs_argument:
        _NEEDS_ARGUMENT.add(prefix)


def source_names() -> list[str]:
    """Registered source prefixes."""
    return sorted(_FACTORIES)


def parse_source(spec: str, options: SourceOptions | None = None) -> EntrySource:
    """Build a source from ``"mp"``, ``"experimental"``, ``"file:PATH"``, a registered ``prefix:ARGUMENT``
    or a comma list of them. Sources whose ``energy_reference`` attributes differ cannot be combined."""
    options = options or SourceOptions()
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        raise InputError(f"empty entry source {spec!r}; use one of {', '.join(source_names())}")
    sources = []
    for part in parts:
        prefix, _, argument = part.partition(":")
        if prefix not in _FACTORIES:
            if prefix in _REGISTERED_BY:
                raise InputError(f"unknown entry source {prefix!r}: import {_REGISTERED_BY[prefix]} to use "
                                 f"{prefix}: sources")
            raise InputError(f"unknown entry source {prefix!r}; known: {', '.join(source_names())} "
                             "(file sources are written file:PATH)")
        if prefix in _NEEDS_ARGUMENT and not argument:
            raise InputError(f"entry source {prefix!r} needs an argument, e.g. {prefix}:entries.json.gz")
        sources.append(_FACTORIES[prefix](argument, options))
    stated = [source for source in sources if getattr(source, "energy_reference", None)]
    for source in stated[1:]:
        if source.energy_reference != stated[0].energy_reference:
            first = stated[0]
            hints = [h for h in (getattr(first, "mixing_hint", None), getattr(source, "mixing_hint", None)) if h]
            raise InputError(f"{first.name} ({first.energy_reference}) and {source.name} "
                             f"({source.energy_reference}) use different energy references and cannot be "
                             f"combined{'; ' + hints[0] if hints else ''}")
    return sources[0] if len(sources) == 1 else CombinedSource(sources)
