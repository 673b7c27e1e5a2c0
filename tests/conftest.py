"""Shared fixtures. Tests never reach the internet: MP is served from 127.0.0.1, models ship in wheels
or are trained by the tests themselves."""

from __future__ import annotations

import os

import pytest
import torch

#: The cores this process may run on (its affinity, which a container or a batch job narrows).
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
#: At most this many pytest-xdist workers under ``-n auto``: each holds its own torch and models (~1-2 GB).
MAX_WORKERS = 4

# Keep torch from oversubscribing the cores, which the xdist workers share (two on CI: one thread each).
torch.set_num_threads(max(1, min(2, CORES // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))))


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Workers for ``-n auto`` (pyproject's addopts): the cores this process may use, at most MAX_WORKERS;
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` overrides, and ``-n 0`` runs the tests in this process."""
    requested = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    return int(requested) if requested else max(1, min(CORES, MAX_WORKERS))


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
