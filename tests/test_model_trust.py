"""Model files cannot run code: ``mace:PATH`` loads only the classes a MACE model is made of unless trusted."""

from __future__ import annotations

import os

import pytest
import torch
from ase.build import bulk

from ssbkit.errors import ModelError
from ssbkit.potentials import load
from ssbkit.potentials.model_files import UNSAFE_LOAD_VARIABLE, check_graph_code

from test_potentials_fit import emt_labelled_copper


@pytest.fixture(scope="module")
def tiny_mace(tmp_path_factory):
    """A small MACE model trained by mace-torch (the path ``ssbkit potentials fit`` takes)."""
    from ssbkit.potentials.fit import MaceArchitecture, fit_mace

    directory = tmp_path_factory.mktemp("mace")
    result = fit_mace(emt_labelled_copper(directory / "cu.extxyz", n_frames=8), directory / "fit", epochs=1,
                      architecture=MaceArchitecture(channels=8, max_L=1, num_interactions=2, correlation=2,
                                                    r_max=4.0), device="cpu", verbose=False)
    return result.model_path


class ShellCommand:
    """Unpickling this runs a shell command that writes a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_runs_a_shell_command_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.model"
    torch.save({"model": ShellCommand(marker)}, path)
    with pytest.raises(ModelError, match="trust_model=True.*names .*system"):
        load(f"mace:{path}", device="cpu")
    assert not marker.exists()

    from typer.testing import CliRunner

    from ssbkit.cli import app

    structure = tmp_path / "cu.xyz"
    bulk("Cu").write(structure)
    result = CliRunner().invoke(app, ["potentials", "check", str(structure), "-m", f"mace:{path}", "--device", "cpu"])
    assert result.exit_code == 2 and "--trust-model" in result.stderr and "Traceback" not in result.output
    assert not marker.exists()


def test_a_checkpoint_written_with_numpy_1_loads_weights_only():
    """SevenNet-0's shipped checkpoint (saved under numpy 1) names numpy arrays as
    numpy.core.multiarray._reconstruct, which numpy 2 keeps as an alias of numpy._core's; torch's allow-list
    matches an object by where it lives now, so ssbkit allows it under the name the file uses (a checkpoint
    naming a function is still refused: test_finetune::test_chgnet_and_sevennet_files_load_weights_only)."""
    from ssbkit.potentials._compat import allow_e3nn_constants
    from ssbkit.potentials.model_files import load_checkpoint

    allow_e3nn_constants()  # importing sevenn imports e3nn
    from sevenn.util import pretrained_name_to_path

    shipped = pretrained_name_to_path("7net-0")
    assert "numpy.core.multiarray._reconstruct" in torch.serialization.get_unsafe_globals_in_checkpoint(shipped)
    checkpoint = load_checkpoint(shipped)
    assert "model_state_dict" in checkpoint and "config" in checkpoint


def test_generated_code_in_a_model_file_may_only_compute():
    check_graph_code("def forward(self, x, y):\n    t = torch.functional.tensordot(x, y, dims = ((1,), (0,)))"
                     ";  x = None\n    return t.reshape(-1)\n")
    for code in ["import os\ndef forward(self, x):\n    return x\n",
                 "def forward(self, x):\n    return __import__('os').system('true')\n",
                 "def forward(self, x):\n    return x.__class__\n",
                 "def forward(self, x):\n    return torch.load(x)\n",
                 "def forward(self, x=print('hi')):\n    return x\n"]:
        with pytest.raises(ModelError):
            check_graph_code(code)


def test_a_real_mace_model_loads_without_trust_and_leaves_the_environment_alone(tiny_mace):
    before = os.environ.get(UNSAFE_LOAD_VARIABLE)
    safe = load(f"mace:{tiny_mace}", device="cpu", dtype="float64")
    assert os.environ.get(UNSAFE_LOAD_VARIABLE) == before
    trusted = load(f"mace:{tiny_mace}", device="cpu", dtype="float64", trust_model=True)
    assert os.environ.get(UNSAFE_LOAD_VARIABLE) == before
    atoms = bulk("Cu", cubic=True)
    atoms.rattle(0.05, seed=1)
    energies = []
    for calculator in (safe, trusted):
        copy = atoms.copy()
        copy.calc = calculator
        energies.append(copy.get_potential_energy())
    assert energies[0] == pytest.approx(energies[1], abs=1e-10)


def test_a_runner_task_never_unpickles_an_untrusted_model_file(tmp_path):
    # The runner loads models through the same check: without the spec's explicit trust_model the task fails
    # with the refusal and the file's code never runs.
    from ssbkit.workflows.runner import load_spec, run_spec, spec_results

    marker = tmp_path / "marker"
    torch.save({"model": ShellCommand(marker)}, tmp_path / "evil.model")
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"model: mace:{tmp_path / 'evil.model'}\ndevice: cpu\n"
                    "tasks:\n  - kind: singlepoint\n    inputs: {atoms: bulk:Cu}\n")
    loaded = load_spec(spec)
    assert loaded.trust_model is False
    run_spec(loaded, progress=False)
    (record,) = spec_results(loaded)
    assert record.state == "failed" and "trust" in record.error
    assert not marker.exists()
    trusting = tmp_path / "trusting.yaml"
    trusting.write_text("trust_model: 3\n" + spec.read_text())
    with pytest.raises(Exception, match="trust_model"):
        load_spec(trusting)


def test_loading_mace_leaves_torchs_default_dtype_alone(tiny_mace):
    # mace-torch sets torch's default dtype process-wide when it builds a calculator; CHGNet loaded afterwards in
    # the same process then failed with "float != double". load() must leave the default as it found it.
    before = torch.get_default_dtype()
    load(f"mace:{tiny_mace}", device="cpu", dtype="float64")
    assert torch.get_default_dtype() == before
