"""Typed results: dataclasses with a JSON-ready ``to_dict``."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any


def jsonable(value: Any) -> Any:
    """Convert a result value (dataclass, numpy, Path, pymatgen/ASE object) to plain JSON types."""
    import numpy as np

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "as_dict"):  # pymatgen MSONable
        return jsonable(value.as_dict())
    if hasattr(value, "todict") and hasattr(value, "get_positions"):  # ase.Atoms
        from ase.io.jsonio import encode

        return json.loads(encode(value))
    return value


@dataclasses.dataclass(frozen=True)
class Caveat:
    """A limit on what a result can claim: ``code`` for programs, ``message`` for people.

    Codes are kebab-case and never change meaning; each is a constant, documented in its comment, next to
    the check that raises it (thermodynamic ones in :mod:`ssbkit.interfaces.validity`). In JSON a caveat is
    ``{"code": ..., "message": ...}``.
    """

    code: str
    message: str


class Result:
    """Mixin for result dataclasses."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary of every field (non-finite floats become null)."""
        return jsonable(self)
