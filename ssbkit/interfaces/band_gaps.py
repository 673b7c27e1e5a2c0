"""Electronic band gaps (eV) from the Materials Project, cached on disk for offline use.

:class:`MPBandGaps` asks the MP summary endpoint (through the one MP client,
:class:`~ssbkit.interfaces.entries.MPSource`, with its key and endpoint) for ``band_gap``, ``formula_pretty``
and ``energy_above_hull`` and keeps the gap of the lowest-energy polymorph of each reduced formula. These are
GGA/GGA+U gaps: they underestimate measured gaps (often by 30-50 %), so a gap >= 1 eV here is a safe
"insulating", a small one is not proof of a conductor.

The cache holds one JSON file per formula under ``<cache_dir>/mp/band_gaps/<formula>.json``, next to the entry
cache; a formula MP does not hold is cached as such. Offline (``offline=True`` or ``SSBKIT_OFFLINE``) or without
an API key the network is never touched and a formula that is not cached has an unknown gap (``None``): never a
guess. ``ssbkit entries prefetch CHEMSYS --band-gaps`` fills the cache for every material of a chemical
system and its subsystems.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from ssbkit import config
from ssbkit.errors import DataError
from ssbkit.interfaces.entries import MPSource, chemsys_of
from ssbkit.interfaces.phases import parse_formula
from ssbkit.io import atomic_write
from ssbkit.results import Result

SUMMARY_FIELDS = ["material_id", "formula_pretty", "band_gap", "energy_above_hull"]
NO_KEY_MESSAGE = "no Materials Project API key: set MP_API_KEY (https://materialsproject.org/api)"


@dataclass
class BandGap(Result):
    """The band gap (eV) of a formula's lowest-energy MP polymorph; ``band_gap_eV`` None when unknown."""

    formula: str  # reduced formula
    band_gap_eV: float | None
    material_id: str | None
    energy_above_hull_eV_per_atom: float | None
    source: str  # where the value comes from, or why it is unknown

    @property
    def known(self) -> bool:
        return self.band_gap_eV is not None


def _unknown(formula: str, why: str) -> BandGap:
    return BandGap(formula=formula, band_gap_eV=None, material_id=None, energy_above_hull_eV_per_atom=None,
                   source=f"unknown: {why}")


def _reduced(formula: str) -> str:
    return parse_formula(formula).reduced_formula


class MPBandGaps:
    """Band gaps of the Materials Project (GGA/GGA+U), cached per formula; see the module docstring."""

    def __init__(self, api_key: str | None = None, *, offline: bool | None = None,
                 cache_dir: str | os.PathLike | None = None, endpoint: str | None = None):
        self.client = MPSource(api_key, offline=offline, cache_dir=cache_dir, endpoint=endpoint)

    @property
    def offline(self) -> bool:
        return self.client.offline

    @property
    def cache_root(self) -> Path:
        """Directory of the cached band gaps, next to the MP entry cache."""
        return self.client.cache_root.parent / "band_gaps"

    def cache_path(self, formula: str) -> Path:
        return self.cache_root / f"{_reduced(formula)}.json"

    def cached(self, formula: str) -> BandGap | None:
        """The cached value of ``formula`` (None if not cached); DataError naming a corrupt cache file."""
        path = self.cache_path(formula)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            gap = BandGap(**record)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
            raise DataError(f"corrupt band-gap cache file {path}: {exc}; delete it and fetch again") from exc
        if gap.band_gap_eV is not None and not (math.isfinite(gap.band_gap_eV) and gap.band_gap_eV >= 0):
            raise DataError(f"corrupt band-gap cache file {path}: band gap {gap.band_gap_eV!r} eV")
        return gap

    def get(self, formulas: Iterable[str]) -> dict[str, BandGap]:
        """Band gaps by reduced formula: from the cache, else fetched (and cached) when online with a key,
        else unknown. DataError when the server fails."""
        wanted = list(dict.fromkeys(_reduced(f) for f in formulas))
        found = {f: gap for f in wanted if (gap := self.cached(f)) is not None}
        missing = [f for f in wanted if f not in found]
        if missing and self.offline:
            found.update({f: _unknown(f, "not in the band-gap cache and offline") for f in missing})
        elif missing and not (self.client.api_key or config.mp_api_key()):
            found.update({f: _unknown(f, "not in the band-gap cache and no MP_API_KEY") for f in missing})
        elif missing:
            found.update(self.fetch(missing))
        return {f: found[f] for f in wanted}

    def fetch(self, formulas: Collection[str]) -> dict[str, BandGap]:
        """Download the band gaps of ``formulas`` (reduced formulas) and cache them, those MP lacks included."""
        wanted = list(dict.fromkeys(_reduced(f) for f in formulas))
        if not wanted:
            return {}
        docs = self._search(", ".join(wanted), formula=wanted)
        gaps = _lowest_polymorphs(docs)
        result = {f: gaps.get(f) or _unknown(f, "not in the Materials Project") for f in wanted}
        self._store(result.values())
        return result

    def fetch_chemsys(self, elements: Collection[str]) -> list[BandGap]:
        """Download and cache the band gaps of every MP material in a chemical system and its subsystems."""
        symbols = sorted({str(e) for e in elements})
        systems = ["-".join(c) for n in range(1, len(symbols) + 1) for c in combinations(symbols, n)]
        gaps = list(_lowest_polymorphs(self._search(chemsys_of(symbols), chemsys=systems)).values())
        self._store(gaps)
        return gaps

    def _search(self, what: str, **criteria: list[str]) -> list:
        if self.offline:
            raise DataError(f"cannot download band gaps of {what}: the mp source is offline")
        return self.client._request(f"band gaps of {what}", lambda rester: rester.materials.summary.search(
            **criteria, deprecated=False, fields=SUMMARY_FIELDS), NO_KEY_MESSAGE)

    def _store(self, gaps: Iterable[BandGap]) -> None:
        self.cache_root.mkdir(parents=True, exist_ok=True)
        for gap in gaps:
            atomic_write(self.cache_path(gap.formula), json.dumps(gap.to_dict(), indent=1).encode("utf-8"))


def _field(doc: object, name: str) -> object:
    return doc.get(name) if isinstance(doc, dict) else getattr(doc, name, None)


def _hull_order(gap: BandGap) -> float:
    return math.inf if gap.energy_above_hull_eV_per_atom is None else gap.energy_above_hull_eV_per_atom


def _lowest_polymorphs(docs: Iterable[object]) -> dict[str, BandGap]:
    """The band gap of the lowest-energy polymorph (smallest energy above hull) per reduced formula."""
    best: dict[str, BandGap] = {}
    for doc in docs:
        gap, e_hull, formula = _field(doc, "band_gap"), _field(doc, "energy_above_hull"), _field(doc, "formula_pretty")
        if gap is None or formula is None or not math.isfinite(float(gap)) or float(gap) < 0:
            continue
        reduced = _reduced(str(formula))
        e_hull = None if e_hull is None else float(e_hull)
        if reduced in best and _hull_order(best[reduced]) <= (math.inf if e_hull is None else e_hull):
            continue
        material_id = str(_field(doc, "material_id"))
        above = "energy above the hull not given" if e_hull is None else f"{e_hull:.3f} eV/atom above the hull"
        best[reduced] = BandGap(
            formula=reduced, band_gap_eV=float(gap), material_id=material_id, energy_above_hull_eV_per_atom=e_hull,
            source=f"Materials Project {material_id} (GGA/GGA+U gap of the lowest-energy polymorph, {above})")
    return best
