"""Shared fixtures. Tests never reach the internet: MP is served from 127.0.0.1, models ship in wheels
or are trained by the tests themselves."""

from __future__ import annotations

import os

import pytest
import torch

# Two cores on CI: keep torch from oversubscribing them.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own ssbkit cache dir and no MP key from the environment."""
    monkeypatch.setenv("SSBKIT_CACHE_DIR", str(tmp_path_factory.mktemp("ssbkit-cache")))
    monkeypatch.delenv("MP_API_KEY", raising=False)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA; no GPU on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
