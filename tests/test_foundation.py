"""Foundation: CLI conventions, JSON results, the relax workflow and the e3nn/torch compatibility shim."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones
from typer.testing import CliRunner

from ssbkit.cli import app
from ssbkit.errors import CalculationError, InputError
from ssbkit.workflows.relax import relax


def test_version_json_is_one_document():
    result = CliRunner().invoke(app, ["version", "--json"])
    assert result.exit_code == 0
    assert "ssbkit" in json.loads(result.stdout)


@pytest.mark.parametrize("optimizer", ["BFGS", "LBFGS", "FIRE"])
def test_lj_dimer_relaxes_to_analytic_minimum(optimizer):
    # Reference: the Lennard-Jones pair minimum lies at r = 2^(1/6) sigma with energy -epsilon. The start lies
    # inside the inflection point (26/7)^(1/6) sigma, where the curvature every optimizer assumes is positive.
    dimer = Atoms("Ar2", positions=[[0, 0, 0], [0, 0, 1.2]])
    calc = LennardJones(sigma=1.0, epsilon=1.0, rc=10.0, smooth=False)
    result = relax(dimer, calc, fmax=1e-4, optimizer=optimizer)
    assert result.converged
    assert result.atoms.get_distance(0, 1) == pytest.approx(2 ** (1 / 6), abs=1e-4)
    assert result.energy == pytest.approx(-1.0 + 4 * (10.0**-12 - 10.0**-6), abs=1e-4)
    assert dimer.get_distance(0, 1) == 1.2  # input untouched
    assert set(result.to_dict()) >= {"atoms", "energy", "energy_per_atom", "fmax", "steps", "converged"}


def test_relax_rejects_nan_forces():
    class NaNCalculator(LennardJones):
        def calculate(self, *args, **kwargs):
            super().calculate(*args, **kwargs)
            self.results["forces"] = np.full_like(self.results["forces"], np.nan)

    dimer = Atoms("Ar2", positions=[[0, 0, 0], [0, 0, 1.5]])
    with pytest.raises(CalculationError, match="non-finite"):
        relax(dimer, NaNCalculator())


def test_relax_rejects_unknown_optimizer():
    with pytest.raises(InputError, match="unknown optimizer"):
        relax(Atoms("H"), LennardJones(), optimizer="nope")


def test_e3nn_imports_on_new_torch_through_the_shim():
    # e3nn 0.4.4 loads pickled slices with torch.load at import; torch >= 2.6 refuses them by default.
    code = "from ssbkit.potentials._compat import allow_e3nn_constants; allow_e3nn_constants(); import e3nn.o3"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_usage_error_exits_with_code_2():
    # Usage errors share the exit code of SsbkitError (tested per command in each area's CLI tests).
    result = subprocess.run([sys.executable, "-m", "ssbkit", "version", "--bogus-option"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stdout == ""
