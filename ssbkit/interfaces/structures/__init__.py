"""Atomistic models for interfaces: bulk, slabs, heterointerfaces, grain boundaries, LLZO, Li sites and hops.

Public functions are importable from here (loaded on first use to keep ``import ssbkit`` fast)::

    from ssbkit.interfaces.structures import build_slab, build_interface, migration_hops, cubic_llzo
"""

from __future__ import annotations

import importlib
from typing import Any

MAX_ATOMS = 5000  # default largest structure the builders make (raise with max_atoms=)

_EXPORTS = {
    "load_bulk": "bulk", "write_structures": "bulk",
    "slab_terminations": "slabs", "build_slab": "slabs", "parse_miller": "slabs", "fix_layers": "slabs",
    "find_matches": "heterointerfaces", "build_interface": "heterointerfaces",
    "build_grain_boundary": "grain_boundaries", "sigma_angles": "grain_boundaries",
    "cubic_llzo": "llzo", "tetragonal_llzo": "llzo", "llzo_grain_boundary": "llzo",
    "interstitial_sites": "sites", "vacancy_sites": "sites", "make_vacancy": "sites",
    "migration_hops": "sites", "Hop": "sites", "Site": "sites",
    "min_distance": "checks", "formal_charges": "checks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
