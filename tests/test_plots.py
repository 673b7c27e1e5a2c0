"""Plot functions draw on their own ``Figure``: saving an image leaves the process's matplotlib backend (a
notebook's, say) as it was, writes the format the suffix names, and refuses a suffix matplotlib cannot write."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from ase.build import add_adsorbate, fcc100
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms
from typer.testing import CliRunner

from ssbkit.errors import InputError

FOREIGN_BACKEND = "svg"  # any backend but Agg: plotting must not switch to Agg
PLOT_MODULES = ["ssbkit.interfaces.stability", "ssbkit.interfaces.reactions", "ssbkit.interfaces.screening",
                "ssbkit.workflows.neb", "ssbkit.workflows.neb_committee", "ssbkit.workflows.gb_barriers",
                "ssbkit.workflows.diffusion", "ssbkit.potentials.fit"]


@pytest.fixture
def foreign_backend():
    """The process's backend set to svg for the test, restored afterwards."""
    original = matplotlib.get_backend()
    matplotlib.use(FOREIGN_BACKEND)
    yield FOREIGN_BACKEND
    matplotlib.use(original)


@pytest.fixture(scope="module")
def plotters() -> dict[str, Callable[[Path], Path]]:
    """One call per plot function, on small real results: path in, path of the written image out."""
    from ssbkit.interfaces.entries import parse_source
    from ssbkit.interfaces.phases import PhaseDiagrams
    from ssbkit.interfaces.reactions import plot_reaction, reaction_profile
    from ssbkit.interfaces.screening import plot_screening, screen_candidates
    from ssbkit.interfaces.stability import plot_window, stability_window
    from ssbkit.potentials.fit import _plot_parity
    from ssbkit.workflows.diffusion import ArrheniusFit, TemperatureDiffusivity, plot_arrhenius, plot_msd
    from ssbkit.workflows.neb import neb, plot_profile
    from ssbkit.workflows.neb_committee import neb_committee, plot_committee_profiles

    diagrams = PhaseDiagrams(parse_source("experimental"))
    window = stability_window("LiI", diagrams)
    reaction = reaction_profile("Li2O", "SiO2", diagrams)
    screening = screen_candidates(["LiF", "LiNbO3"], "Li2S", "Li", diagrams, voltage_range=(0.0, 2.5))

    slab = fcc100("Al", size=(2, 2, 2), vacuum=5.0)
    add_adsorbate(slab, "Al", 1.7, "hollow")
    slab.set_constraint(FixAtoms(mask=[atom.tag > 1 for atom in slab]))
    final = slab.copy()
    final.positions[-1, 0] += 4.05 / np.sqrt(2)
    neb_options = {"n_images": 3, "steps": 2, "relax_endpoints": False}
    hop = neb(slab, final, EMT(), **neb_options)
    committee = neb_committee(slab, final, ["emt", "emt-again"], lambda model: EMT(), neb_options)

    rng = np.random.default_rng(0)
    parity_split = {"energy_ref": rng.normal(size=5), "energy_pred": rng.normal(size=5),
                    "forces_ref": rng.normal(size=30), "forces_pred": rng.normal(size=30)}
    time = np.linspace(0.0, 2000.0, 20)  # fs
    per_temperature = [TemperatureDiffusivity(temperature=t, diffusivity=d, diffusivity_std=0.1 * d, conductivity=1.0,
                                              duration_ps=2.0, n_ions=8, time=time, msd=6e4 * d * time)
                       for t, d in [(600.0, 1e-6), (800.0, 1e-5)]]
    fit = ArrheniusFit(activation_energy=0.4, activation_energy_std=None, prefactor=1e-3, temperature=300.0,
                       diffusivity=1e-9, conductivity=0.1)
    return {
        "plot_window": lambda path: plot_window(window, path),
        "plot_reaction": lambda path: plot_reaction(reaction, path),
        "plot_screening": lambda path: plot_screening(screening, path),
        "plot_profile": lambda path: plot_profile(hop, path),
        "plot_committee_profiles": lambda path: plot_committee_profiles(committee, path),
        "fit._plot_parity": lambda path: _plot_parity({"train": parity_split, "valid": parity_split}, path),
        "plot_msd": lambda path: plot_msd(per_temperature, path),
        "plot_arrhenius": lambda path: plot_arrhenius(per_temperature, fit, path),
    }


def test_importing_the_plot_modules_keeps_the_backend():
    """In a fresh interpreter, as a notebook would import them."""
    code = (f"import matplotlib; matplotlib.use({FOREIGN_BACKEND!r}); import {', '.join(PLOT_MODULES)}; "
            f"assert matplotlib.get_backend() == {FOREIGN_BACKEND!r}, matplotlib.get_backend()")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]


MAGIC = {".png": b"\x89PNG", ".pdf": b"%PDF", ".svg": b"<?xml"}


@pytest.mark.parametrize("suffix", [".png", ".pdf", ".svg"])
def test_plots_keep_the_backend_and_write_the_suffix_format(plotters, foreign_backend, tmp_path, suffix):
    for name, plot in plotters.items():
        path = tmp_path / f"{name}{suffix}"
        assert plot(path) == path, name
        assert path.read_bytes().startswith(MAGIC[suffix]), name
        assert matplotlib.get_backend() == foreign_backend, f"{name} switched the matplotlib backend"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left behind


@pytest.mark.parametrize("name", ["plot_window", "plot_reaction", "plot_screening", "plot_profile",
                                  "plot_committee_profiles", "fit._plot_parity"])
def test_unknown_image_suffix_is_refused_naming_the_formats(plotters, tmp_path, name):
    with pytest.raises(InputError, match=r"out\.xyz.*\.png.*\.svg"):
        plotters[name](tmp_path / "out.xyz")
    with pytest.raises(InputError, match="no suffix"):
        plotters[name](tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["window", "LiI"], ["react", "Li2O", "SiO2"],
                                  ["screen", "--electrolyte", "Li2S", "--electrode", "Li", "--candidates", "LiF"]])
def test_cli_refuses_an_unknown_plot_suffix_before_computing(tmp_path, monkeypatch, args):
    from ssbkit.cli import app
    from ssbkit.interfaces import phases

    def no_computing(*_args, **_kwargs):
        raise AssertionError("computed before checking the plot path")

    monkeypatch.setattr(phases.PhaseDiagrams, "__init__", no_computing)
    result = CliRunner().invoke(app, [*args, "--source", "experimental", "--plot", str(tmp_path / "out.xyz")])
    assert result.exit_code == 2, result.output
    assert ".png" in result.output and "out.xyz" in result.output
