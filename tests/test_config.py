"""ssbkit.config: the one reader of the environment, and the places that must follow it."""

from __future__ import annotations

import urllib.request

import pytest

from ssbkit import config
from ssbkit.errors import InputError, ModelError
from ssbkit.interfaces.entries import MPSource, SourceOptions, parse_source
from ssbkit.potentials.registry import card, mace_cache_path, resolve_mace_weights


@pytest.mark.parametrize("value, expected", [
    ("1", True), ("true", True), ("YES", True), ("On", True), (" on ", True),
    ("0", False), ("false", False), ("No", False), ("OFF", False), ("", False),
])
def test_offline_values(monkeypatch, value, expected):
    monkeypatch.setenv("SSBKIT_OFFLINE", value)
    assert config.offline() is expected


def test_offline_unset_and_invalid(monkeypatch):
    monkeypatch.delenv("SSBKIT_OFFLINE", raising=False)
    assert config.offline() is False
    monkeypatch.setenv("SSBKIT_OFFLINE", "sometimes")
    with pytest.raises(InputError, match="SSBKIT_OFFLINE='sometimes'"):
        config.offline()


def test_offline_on_keeps_mp_and_mace_weights_off_the_network(monkeypatch, tmp_path):
    """SSBKIT_OFFLINE=on (not only 1/true/yes) makes the MP source and the MACE weight resolution offline."""
    def no_network(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("SSBKIT_OFFLINE", "on")
    assert MPSource().offline and parse_source("mp").offline
    assert parse_source("mp", SourceOptions(offline=False)).offline is False  # an explicit choice wins
    mace = card("mace-mp-0-small")
    with pytest.raises(ModelError, match="not in the cache"):
        resolve_mace_weights(mace)
    assert not mace_cache_path(mace.url).exists()


def test_cache_dir_and_mp_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("SSBKIT_CACHE_DIR", str(tmp_path))
    assert config.cache_dir() == tmp_path
    assert MPSource().cache_root == tmp_path / "mp" / "GGA_GGA+U"
    monkeypatch.delenv("SSBKIT_CACHE_DIR")
    assert config.cache_dir().name == "ssbkit"
    monkeypatch.setenv("MP_API_KEY", "")
    assert config.mp_api_key() is None
    monkeypatch.setenv("MP_API_KEY", "k" * 32)
    assert config.mp_api_key() == "k" * 32
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert config.user_cache_home() == tmp_path
