"""The example notebooks run from top to bottom and produce what they promise.

Each notebook is executed in a fresh Jupyter kernel (nbclient + ipykernel) in a temporary directory,
with ``SSBKIT_NOTEBOOK_QUICK=1`` (small cells, short runs, few candidates). The checks are on the files
a reader is told to look at: rankings, result tables and plots. The physics behind them is validated in
each area's own tests; here a ranking is checked only where the notebook's text states the outcome.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NOTEBOOK_NAMES = sorted(path.stem for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def execute(name: str, directory: Path, monkeypatch: pytest.MonkeyPatch, cell_timeout: int = 600,
            stop_before: str | None = None) -> nbformat.NotebookNode:
    """Run notebook ``name`` in ``directory`` with the quick settings; nbclient raises on any cell error.

    ``stop_before``: run only the cells before the first markdown cell that starts with this heading."""
    monkeypatch.setenv("SSBKIT_NOTEBOOK_QUICK", "1")
    # The kernel is a new process: make it import this checkout's ssbkit, and keep torch to our two cores.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    if stop_before is not None:
        stop = next(i for i, cell in enumerate(notebook.cells)
                    if cell.cell_type == "markdown" and cell.source.startswith(stop_before))
        notebook.cells = notebook.cells[:stop]
    client = NotebookClient(notebook, timeout=cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(directory)}})
    client.execute()
    return notebook


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def assert_images(directory: Path, names: list[str]) -> None:
    for name in names:
        path = directory / name
        assert path.is_file(), f"{name} was not written"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG image"


def test_notebooks_are_committed_clean_and_match_their_sources():
    """Notebooks are built from ``notebooks/src`` by ``notebooks/build_notebooks.py``, with no outputs."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_notebooks", NOTEBOOKS / "build_notebooks.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    sources = sorted(path.stem for path in (NOTEBOOKS / "src").glob("[0-9][0-9]_*.py"))
    assert sources == NOTEBOOK_NAMES and NOTEBOOK_NAMES
    for name in NOTEBOOK_NAMES:
        committed = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        built = builder.notebook_from_source((NOTEBOOKS / "src" / f"{name}.py").read_text(encoding="utf-8"))
        assert [c.source for c in committed.cells] == [c.source for c in built.cells], \
            f"{name}.ipynb is stale: run python notebooks/build_notebooks.py"
        code = [c for c in committed.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), f"{name}.ipynb has outputs"
        text = "\n".join(c.source for c in committed.cells)
        assert "SSBKIT_NOTEBOOK_QUICK" in text and "production run would" in text


def test_coating_screening_notebook(tmp_path, monkeypatch):
    execute("01_coating_screening", tmp_path, monkeypatch)
    out = tmp_path / "coating_screening"
    assert_images(out, ["window_Li6PS5Cl.png", "reaction_Li6PS5Cl_LiNiO2.png", "cathode_coatings.png",
                        "anode_interlayers.png", "windows.png"])
    cathode = read_csv(out / "cathode_coatings.csv")
    anode = read_csv(out / "anode_interlayers.csv")
    assert len(cathode) >= 3 and len(anode) >= 3
    assert [row["rank"] for row in cathode] == [str(i) for i in range(1, len(cathode) + 1)]
    # The notebook states that LiNbO3, the coating of most argyrodite | NMC cells, ranks first and
    # covers 2.8-4.3 V; its oxidation limit is 4.31 V from the experimental enthalpies of LiNbO3 and Nb2O5.
    assert cathode[0]["candidate"] == "LiNbO3" and cathode[0]["covers_voltage_range"] == "True"
    assert all(row["covers_voltage_range"] == "True" for row in anode)  # every listed interlayer is Li-stable


def test_hpc_batch_notebook(tmp_path, monkeypatch):
    execute("04_hpc_batch", tmp_path, monkeypatch)
    out = tmp_path / "hpc_batch"
    rows = read_csv(out / "results.csv")
    assert len(rows) == 9 and {row["state"] for row in rows} == {"done"}
    assert {row["kind"] for row in rows} == {"relax", "singlepoint"}
    script = (out / "runs" / "metals" / "submit.sbatch").read_text()
    assert "#SBATCH --array=0-8%20" in script and "--task-index" in script
    assert_images(out, ["batch_results.png"])


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_interlayer_barriers_notebook(tmp_path, monkeypatch):
    """Slow: NEBs of two hops (Li in bulk W, Li interstitial in Mg) with each of two models: 5-10 min on CPU."""
    execute("02_interlayer_barriers", tmp_path, monkeypatch, cell_timeout=1800)
    out = tmp_path / "interlayer_barriers"
    rows = read_csv(out / "barriers.csv")
    assert {row["hop"] for row in rows} == {"w-bulk-tt", "mg-interstitial-c"}
    for row in rows:
        for model in ("chgnet", "sevennet-0"):
            # An interstitial Li hop in a metal is activated and well below 1 eV (published DFT for the
            # W tetrahedral-tetrahedral hop: 0.28 eV); the models' own accuracy is tested in test_neb*.py.
            assert 0.0 < float(row[model]) < 1.0
    assert_images(out, ["neb_profiles.png", "w-bulk-tt/chgnet/neb_profile.png"])


def test_llzo_grain_boundary_notebook_builds_the_bicrystal(tmp_path, monkeypatch):
    """The CPU part of notebook 3 (everything before the MD): the bicrystal file and the region split it
    reports. The MD itself is in the GPU test below."""
    from ase.io import read

    execute("03_llzo_grain_boundary", tmp_path, monkeypatch, stop_before="## MD at all temperatures")
    bicrystal = read(tmp_path / "llzo_grain_boundary" / "llzo_sigma5_001.extxyz")
    # Sigma 5 twist of the 192-atom cubic cell: CSL cell 5 x 192 atoms per grain, two grains
    assert len(bicrystal) == 1920 and sorted(set(bicrystal.arrays["grain"])) == [0, 1]
    assert bicrystal.symbols.formula.count() == {"Li": 560, "La": 240, "Zr": 160, "O": 960}  # 80 Li7La3Zr2O12


@pytest.mark.slow
@pytest.mark.gpu
@pytest.mark.timeout(3600)
def test_llzo_grain_boundary_notebook(tmp_path, monkeypatch):
    """GPU only: MD of the 1920-atom bicrystal, even for a few ps at three temperatures, takes hours on CPU."""
    execute("03_llzo_grain_boundary", tmp_path, monkeypatch, cell_timeout=3600)
    out = tmp_path / "llzo_grain_boundary"
    rows = read_csv(out / "diffusivities.csv")
    assert len(rows) == 3  # the quick settings' three temperatures
    for row in rows:
        assert all(float(row[column]) > 0 for column in row if column.startswith("D "))
    assert_images(out, ["arrhenius_regions.png", "bicrystal/msd.png", "bulk/arrhenius.png"])


@pytest.mark.slow
def test_cell_stacks_notebook(tmp_path, monkeypatch):
    """Slow: CHGNet relaxes five library phases, tetragonal LLZO (192 atoms) among them (minutes on CPU). The
    checks are the sentences of the notebook: Cu | Li6PS5Cl corrodes into a not-passivating interphase, and
    carbon in the cathode makes the electrolyte | cathode interface a triple-phase boundary whose Li-open
    reaction at 4.3 V releases more than the chemical one."""
    execute("05_cell_stacks", tmp_path, monkeypatch)
    out = tmp_path / "cell_stacks"
    bare = read_csv(out / "anode_free_bare.csv")
    assert bare[0]["closed_interphase"] == "not-passivating" and "Cu3P" in bare[0]["closed_products"]
    interlayers = read_csv(out / "anode_free_interlayers.csv")
    assert [float(row["closed_eV_per_atom"]) for row in interlayers[:2]] == [0.0, 0.0]  # Cu | W, W | Mg
    plain, carbon = read_csv(out / "cathode_without_carbon.csv")[1], read_csv(out / "cathode_with_carbon.csv")[1]
    assert plain["implied"] == "closed" and carbon["implied"] == "Li-open" and carbon["triple_phase_boundary"] == "True"
    assert float(carbon["li_open_eV_per_atom"]) < float(carbon["closed_eV_per_atom"]) < 0
    assert_images(out, ["anode_free_bare.png", "anode_free_interlayers.png", "cathode_with_carbon.png"])
