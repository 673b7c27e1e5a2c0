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
- ``mlip:[MODEL:]PATH``: the structures in PATH (file or folder) relaxed with an ML potential, as entries
  on the MP energy scale with MP's elemental ground states (see :mod:`ssbkit.workflows.ml_entries`).

Several sources combine with commas (``"mp,file:extra.json"``); their entries are pooled, so they must
share one energy reference (MP-compatible energies in a user file next to ``mp``; formation enthalpies
next to ``experimental``).

Adding a source (for example ``mlip``, entries computed with an ML potential): write a class with a
``name`` attribute and ``get_entries(self, elements: Collection[str]) -> list[Entry]`` (raise
:class:`~ssbkit.errors.DataError` when data are missing), then register a factory for its prefix::

    from ssbkit.interfaces.entries import register_source

    def _mlip_source(argument: str, options: SourceOptions) -> EntrySource:
        return MLIPSource(argument)  # argument is the text after "mlip:" ("" if none)

    register_source("mlip", _mlip_source)

after which ``parse_source("mp,mlip:structures.extxyz")`` and the CLI's ``--source`` accept it.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Protocol, runtime_checkable

from pymatgen.analysis.phase_diagram import PDEntry
from pymatgen.core import Composition, Element
from pymatgen.entries import Entry

from ssbkit.errors import DataError, InputError

MP_THERMO_TYPE = "GGA_GGA+U"
DEFAULT_MP_ENDPOINT = "https://api.materialsproject.org/"


@runtime_checkable
class EntrySource(Protocol):
    """Gives the entries of a chemical system and all its subsystems."""

    name: str

    def get_entries(self, elements: Collection[str]) -> list[Entry]:
        """Entries whose elements are all in ``elements`` (symbols)."""
        ...


@dataclass(frozen=True)
class SourceOptions:
    """Settings a source factory may use. ``offline=None`` reads ``SSBKIT_OFFLINE`` (1/true/yes)."""

    offline: bool | None = None
    cache_dir: Path | None = None
    mp_endpoint: str | None = None


def cache_dir() -> Path:
    """The ssbkit cache directory: ``SSBKIT_CACHE_DIR`` if set, else the user cache dir."""
    if path := os.environ.get("SSBKIT_CACHE_DIR"):
        return Path(path)
    import platformdirs

    return Path(platformdirs.user_cache_dir("ssbkit"))


def chemsys_of(elements: Iterable[str | Element]) -> str:
    """Dash-joined, alphabetically sorted chemical system, e.g. ``"Cl-Li-P-S"``."""
    return "-".join(sorted({str(e) for e in elements}))


def parse_chemsys(text: str) -> list[str]:
    """Element symbols of a chemical system written ``Li-P-S-Cl`` (InputError for unknown symbols)."""
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


def load_entries(path: str | os.PathLike) -> list[Entry]:
    """Read a JSON / JSON.gz list of pymatgen entry dicts (DataError if unreadable, empty or not entries)."""
    from monty.json import MontyDecoder

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
    return entries


def save_entries(entries: Sequence[Entry], path: str | os.PathLike) -> Path:
    """Write entries as a JSON (or JSON.gz, by suffix) list of dicts, atomically (temp file + rename)."""
    from monty.json import MontyEncoder

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps([e.as_dict() for e in entries], cls=MontyEncoder)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as raw:
            data = text.encode("utf-8")
            raw.write(gzip.compress(data) if path.suffix == ".gz" else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class FileSource:
    """Entries from a JSON / JSON.gz file of entry dicts, read once."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.name = f"file:{self.path}"
        self._entries = load_entries(self.path)

    def get_entries(self, elements: Collection[str]) -> list[Entry]:
        return entries_within(self._entries, elements)


def _experimental_data_file() -> Path:
    for package in ("pymatgen.analysis.compatibility", "pymatgen.entries"):
        try:
            candidate = resources.files(package) / "exp_compounds.json.gz"
        except ModuleNotFoundError:
            continue
        if candidate.is_file():
            return Path(str(candidate))
    raise DataError("pymatgen's experimental formation enthalpies (exp_compounds.json.gz) were not found in "
                    "this pymatgen installation")


class ExperimentalSource:
    """Experimental standard formation enthalpies bundled with pymatgen (eV per formula unit, 298 K).

    Each compound becomes a PDEntry whose energy is its formation enthalpy; every element is a PDEntry at
    zero, so hulls and voltages come straight from the enthalpies (entropy neglected, as in Richards et
    al., Chem. Mater. 28, 266, 2016).
    """

    name = "experimental"

    def __init__(self) -> None:
        with gzip.open(_experimental_data_file(), "rt", encoding="utf-8") as handle:
            records = json.load(handle)
        compounds = [PDEntry(Composition(r["formula"]), float(r["exp energy"]), name=r["formula"],
                             attribute="experimental") for r in records if math.isfinite(r["exp energy"])]
        elements = {str(el) for entry in compounds for el in entry.composition.elements}
        self._entries = [PDEntry(Composition(el), 0.0, name=el, attribute="experimental")
                         for el in sorted(elements)] + compounds

    def get_entries(self, elements: Collection[str]) -> list[Entry]:
        return entries_within(self._entries, elements)


class MPSource:
    """Materials Project GGA/GGA+U entries (MP2020-corrected, as the API serves them), cached on disk.

    The cache holds one JSON.gz file of entry dicts per chemical system under
    ``<cache_dir>/mp/GGA_GGA+U/<chemsys>.json.gz``; a cached superset system also serves its subsystems.
    Offline (``offline=True`` or ``SSBKIT_OFFLINE=1``) the network is never touched and a missing chemical
    system is a DataError naming it. Online, ``MP_API_KEY`` (or ``api_key``) is required.
    """

    name = "mp"

    def __init__(self, api_key: str | None = None, *, offline: bool | None = None,
                 cache_dir: str | os.PathLike | None = None, endpoint: str | None = None):
        self.api_key = api_key
        if offline is None:
            offline = os.environ.get("SSBKIT_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
        self.offline = offline
        self.endpoint = endpoint
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None

    @property
    def cache_root(self) -> Path:
        """Directory holding this source's cached chemical systems."""
        return (self._cache_dir or cache_dir()) / "mp" / MP_THERMO_TYPE

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
        api_key = self.api_key or os.environ.get("MP_API_KEY")
        if not api_key:
            raise DataError("no Materials Project API key: set MP_API_KEY (https://materialsproject.org/api), "
                            "or use --source experimental / file:PATH")
        endpoint = self.endpoint or os.environ.get("MP_API_ENDPOINT") or DEFAULT_MP_ENDPOINT
        try:
            from mp_api.client import MPRester

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with MPRester(api_key, endpoint=endpoint, mute_progress_bars=True) as rester:
                    entries = rester.get_entries_in_chemsys(
                        sorted(elements), additional_criteria={"thermo_types": [MP_THERMO_TYPE]})
        except Exception as exc:  # network, HTTP and decoding errors of mp-api all end here
            raise DataError(f"Materials Project request for {chemsys_of(elements)} at {endpoint} failed: "
                            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
        if not entries:
            raise DataError(f"the Materials Project returned no entries for {chemsys_of(elements)}")
        for entry in entries:  # mp-api hands out emmet EntryID objects; the cache stores plain strings
            if entry.entry_id is not None:
                entry.entry_id = str(entry.entry_id)
        save_entries(entries, self.cache_path(elements))
        return list(entries)


class CombinedSource:
    """Pools the entries of several sources (they must share one energy reference)."""

    def __init__(self, sources: Sequence[EntrySource]):
        if not sources:
            raise InputError("no entry source given")
        self.sources = list(sources)
        self.name = ",".join(s.name for s in self.sources)

    def get_entries(self, elements: Collection[str]) -> list[Entry]:
        return [entry for source in self.sources for entry in source.get_entries(elements)]


SourceFactory = Callable[[str, SourceOptions], EntrySource]


def _mlip_source(argument: str, options: SourceOptions) -> EntrySource:
    from ssbkit.workflows.ml_entries import MLIPSource

    return MLIPSource(argument)

_FACTORIES: dict[str, SourceFactory] = {
    "mp": lambda argument, options: MPSource(offline=options.offline, cache_dir=options.cache_dir,
                                             endpoint=options.mp_endpoint),
    "file": lambda argument, options: FileSource(argument),
    "experimental": lambda argument, options: ExperimentalSource(),
    "mlip": _mlip_source,
}
_NEEDS_ARGUMENT = {"file", "mlip"}


def register_source(prefix: str, factory: SourceFactory, *, needs_argument: bool = False) -> None:
    """Make ``prefix`` (or ``prefix:ARGUMENT``) usable in source strings; ``factory(argument, options)``."""
    _FACTORIES[prefix] = factory
    if needs_argument:
        _NEEDS_ARGUMENT.add(prefix)


def source_names() -> list[str]:
    """Registered source prefixes."""
    return sorted(_FACTORIES)


def parse_source(spec: str, options: SourceOptions | None = None) -> EntrySource:
    """Build a source from ``"mp"``, ``"experimental"``, ``"file:PATH"`` or a comma list of them."""
    options = options or SourceOptions()
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        raise InputError(f"empty entry source {spec!r}; use one of {', '.join(source_names())}")
    sources = []
    for part in parts:
        prefix, _, argument = part.partition(":")
        if prefix not in _FACTORIES:
            raise InputError(f"unknown entry source {prefix!r}; known: {', '.join(source_names())} "
                             "(file sources are written file:PATH)")
        if prefix in _NEEDS_ARGUMENT and not argument:
            raise InputError(f"entry source {prefix!r} needs an argument, e.g. {prefix}:entries.json.gz")
        sources.append(_FACTORIES[prefix](argument, options))
    names = {source.name for source in sources}
    if {"mp", "experimental"} <= names:
        raise InputError("mp (DFT total energies) and experimental (formation enthalpies) use different energy "
                         "references and cannot be combined")
    if "experimental" in names and any(name.startswith("mlip:") for name in names):
        raise InputError("mlip entries are total energies on the MP scale and cannot be combined with experimental "
                         "formation enthalpies; write formation-energy entries with 'ssbkit entries "
                         "from-structures --formation-energies' and use experimental,file:PATH")
    return sources[0] if len(sources) == 1 else CombinedSource(sources)
