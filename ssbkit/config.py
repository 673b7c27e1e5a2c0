"""The environment variables ssbkit reads, read in one place.

- ``SSBKIT_OFFLINE``: never touch the network (MP entries from the cache only, no weight downloads).
  True: 1/true/yes/on; false: 0/false/no/off or empty (case-insensitive); anything else is an InputError.
- ``SSBKIT_CACHE_DIR``: ssbkit's cache (MP entries, ML relaxations); default the user cache dir.
- ``MP_API_KEY``, ``MP_API_ENDPOINT``: Materials Project API key and server.
- ``XDG_CACHE_HOME``: the user cache root that mace-torch downloads weights under (default ``~/.cache``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ssbkit.errors import InputError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def offline() -> bool:
    """Whether ``SSBKIT_OFFLINE`` forbids network access (unset: False)."""
    value = os.environ.get("SSBKIT_OFFLINE", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InputError(f"SSBKIT_OFFLINE={os.environ['SSBKIT_OFFLINE']!r} is not a yes/no value; "
                     "use 1/true/yes/on or 0/false/no/off")


def cache_dir() -> Path:
    """The ssbkit cache directory: ``SSBKIT_CACHE_DIR`` if set, else the user cache dir."""
    if path := os.environ.get("SSBKIT_CACHE_DIR"):
        return Path(path).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("ssbkit"))


def mp_api_key() -> str | None:
    """The Materials Project API key (``MP_API_KEY``), None when unset or empty."""
    return os.environ.get("MP_API_KEY") or None


def mp_api_endpoint() -> str | None:
    """The Materials Project API server (``MP_API_ENDPOINT``), None when unset."""
    return os.environ.get("MP_API_ENDPOINT") or None


def user_cache_home() -> Path:
    """The user cache root, ``XDG_CACHE_HOME`` else ``~/.cache`` (where mace-torch keeps its weights)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
