"""Potentials registry, loading, coverage checks and batched prediction, with real models only.

CHGNet 0.3.0 and SevenNet-0 weights ship in their wheels. MACE is exercised with a small model built
by mace-torch's own ``ScaleShiftMACE`` class and saved with ``torch.save`` exactly as mace-torch saves
trained models, then loaded through ``mace:PATH``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from ssbkit.errors import CalculationError, InputError, ModelError
from ssbkit.potentials import CARDS, card, check_coverage, load, predict
from ssbkit.potentials._compat import allow_e3nn_constants
from ssbkit.potentials.registry import mace_cache_path


@pytest.fixture(scope="session")
def chgnet():
    return load("chgnet", device="cpu")


@pytest.fixture(scope="session")
def sevennet():
    return load("sevennet-0", device="cpu")


def build_tiny_mace(path, elements=(3, 13, 29), seed=0):
    """A two-layer MACE (8 channels, L=1) from mace-torch's model classes, saved as mace-torch saves.

    Its weights are mace-torch's random initialisation: a real, smooth MACE energy function whose
    derivatives and batching we can check, not a physically fitted potential.
    """
    allow_e3nn_constants()
    from e3nn import o3
    from mace import modules

    torch.manual_seed(seed)
    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    model = modules.ScaleShiftMACE(
        r_max=4.5, num_bessel=6, num_polynomial_cutoff=5, max_ell=2, interaction_cls=block,
        interaction_cls_first=block, num_interactions=2, num_elements=len(elements),
        hidden_irreps=o3.Irreps("8x0e+8x1o"), MLP_irreps=o3.Irreps("8x0e"),
        atomic_energies=np.linspace(-2.0, -4.0, len(elements)), avg_num_neighbors=12.0,
        atomic_numbers=list(elements), correlation=2, gate=torch.nn.functional.silu,
        atomic_inter_scale=1.0, atomic_inter_shift=0.0,
    ).double()
    torch.save(model, path)
    return path


@pytest.fixture(scope="session")
def tiny_mace_path(tmp_path_factory):
    return build_tiny_mace(tmp_path_factory.mktemp("mace") / "tiny.model")


@pytest.fixture(scope="session")
def tiny_mace(tiny_mace_path):
    return load(f"mace:{tiny_mace_path}", device="cpu")


def rattled_cells(symbol: str, a: float, structure: str = "fcc") -> list[Atoms]:
    """Five cells of 4 to 32 atoms, rattled and strained so forces and stresses are non-zero."""
    cells = []
    for i, reps in enumerate([(1, 1, 1), (2, 1, 1), (2, 2, 1), (1, 1, 2), (2, 2, 2)]):
        atoms = bulk(symbol, structure, a=a, cubic=True).repeat(reps)
        atoms.rattle(0.05, seed=i)
        atoms.set_cell(atoms.cell * (1 + 0.01 * i), scale_atoms=True)
        cells.append(atoms)
    return cells


def one_by_one(cells, calculator):
    out = []
    for atoms in cells:
        atoms = atoms.copy()
        atoms.calc = calculator
        out.append((atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()))
    return out


def assert_matches(predictions, references, cells, e_tol, f_tol, s_tol):
    for p, (energy, forces, stress), atoms in zip(predictions, references, cells, strict=True):
        assert abs(p.energy - energy) / len(atoms) < e_tol
        np.testing.assert_allclose(p.forces, forces, atol=f_tol)
        np.testing.assert_allclose(p.stress, stress, atol=s_tol)


# --- registry -----------------------------------------------------------------------------------

def test_cards_describe_every_registered_model():
    for name in ("chgnet", "sevennet-0", "mace-mp-0-small", "mace-mp-0-medium", "mace-mpa-0-medium"):
        model_card = card(name)
        assert model_card.name == name
        assert model_card.version and model_card.training_data and model_card.license
        assert model_card.elements and model_card.weights and model_card.dtypes
    assert card("chgnet").offline and card("sevennet-0").offline
    assert not card("mace-mp-0-medium").offline
    assert all(c.to_dict()["name"] == n for n, c in CARDS.items())


def test_unknown_model_name_lists_known_ones():
    with pytest.raises(ModelError, match="unknown model 'mace-mp-9'.*chgnet.*mace:PATH"):
        load("mace-mp-9")


def test_foundation_names_resolve_to_mace_torchs_urls_and_cache(tmp_path, monkeypatch):
    # Reference: mace-torch's own URL table and its download_mace_mp_checkpoint, which returns the
    # cached file without downloading when it exists. Both must agree with our card and cache path.
    from mace.calculators.foundations_models import (
        download_mace_mp_checkpoint,
        mace_mp_urls,
    )

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for ours, theirs in [("mace-mp-0-small", "small"), ("mace-mp-0-medium", "medium"),
                         ("mace-mpa-0-medium", "medium-mpa-0"), ("mace-omat-0-small", "small-omat-0")]:
        url = card(ours).url
        assert url == mace_mp_urls[theirs]
        path = mace_cache_path(url)
        assert path.parent == tmp_path / "mace"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"placeholder")
        assert download_mace_mp_checkpoint(theirs) == str(path)


def test_absent_foundation_weights_offline_say_how_to_supply_them(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("SSBKIT_OFFLINE", "1")
    expected = mace_cache_path(card("mace-mp-0-small").url)
    with pytest.raises(ModelError, match="not in the cache") as info:
        load("mace-mp-0-small", device="cpu")
    assert str(expected) in str(info.value) and "mace:" in str(info.value)
    assert not expected.exists()


def test_missing_mace_file_and_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="MACE model file not found"):
        load(f"mace:{tmp_path / 'absent.model'}")
    corrupt = tmp_path / "corrupt.model"
    corrupt.write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match="cannot load"):
        load(f"mace:{corrupt}", device="cpu")
    with pytest.raises(InputError, match="unknown device"):
        load("chgnet", device="tpu")
    with pytest.raises(InputError, match="unknown task"):
        load("chgnet", device="cpu", task="anneal")
    with pytest.raises(ModelError, match="float32"):
        load("chgnet", device="cpu", dtype="float64")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_requested_without_cuda_is_a_model_error():
    with pytest.raises(ModelError, match="CUDA is not available"):
        load("chgnet", device="cuda")


def test_ase_calculator_passes_through():
    emt = EMT()
    assert load(emt) is emt


# --- coverage -----------------------------------------------------------------------------------

def test_uncovered_elements_are_named(sevennet, chgnet):
    # SevenNet-0's type map (from its checkpoint) lacks Po-Ra (Z 84-88); CHGNet embeds Z 1-94.
    cell = bulk("Li", "bcc", a=3.44, cubic=True)
    cell.symbols[1] = "Po"
    with pytest.raises(ModelError, match="sevennet-0 does not cover element\\(s\\) Po"):
        predict([cell], sevennet)
    check_coverage(cell, chgnet)
    cell.symbols[0] = "Am"
    with pytest.raises(ModelError, match="chgnet does not cover element\\(s\\) Am"):
        check_coverage([cell], chgnet)


def test_edge_batches_fill_up_to_the_budget_and_keep_oversized_graphs_alone():
    from ssbkit.potentials.backends import edge_batches

    assert edge_batches([3, 3, 3, 10, 1], 6) == [slice(0, 2), slice(2, 3), slice(3, 4), slice(4, 5)]
    assert edge_batches([1, 1, 1], 100) == [slice(0, 3)]
    assert edge_batches([], 10) == []


# --- CHGNet -------------------------------------------------------------------------------------

def test_chgnet_calculator_matches_chgnets_own(chgnet):
    # Reference: chgnet's stock CHGNetCalculator (two create_graph backward passes). Ours takes one
    # first-order pass; both are float32, so agreement is to float32 round-off on ~1e2 eV sums.
    from chgnet.model import CHGNetCalculator

    stock = CHGNetCalculator(model=chgnet.model, use_device="cpu")
    cells = rattled_cells("Cu", 3.61)[:3]
    assert_matches(predict(cells, chgnet), one_by_one(cells, stock), cells, 1e-5, 1e-4, 1e-5)
    atoms = cells[0].copy()
    atoms.calc = chgnet
    assert atoms.get_magnetic_moments().shape == (len(atoms),)


def test_chgnet_calculator_pickles_for_worker_processes(chgnet):
    import pickle

    atoms = rattled_cells("Li", 3.44, "bcc")[0]
    copy = pickle.loads(pickle.dumps(chgnet))
    assert copy.ssbkit_card.name == "chgnet"
    assert predict([atoms], copy)[0].energy == predict([atoms], chgnet)[0].energy


def test_chgnet_batched_equals_one_by_one(chgnet):
    cells = rattled_cells("Li", 3.44, "bcc")
    references = one_by_one(cells, chgnet)
    for budget in (1, 10**9):  # every structure alone, then all in one graph batch
        assert_matches(predict(cells, chgnet, max_batch_edges=budget), references, cells,
                       1e-5, 1e-4, 1e-5)


# --- SevenNet -----------------------------------------------------------------------------------

def test_sevennet_batched_equals_its_calculator(sevennet):
    # Reference: sevenn's own SevenNetCalculator, one structure at a time (float32 model).
    cells = rattled_cells("Al", 4.05)
    references = one_by_one(cells, sevennet)
    assert_matches(predict(cells, sevennet, max_batch_edges=10**9), references, cells, 1e-5, 1e-4, 1e-6)


# --- MACE ---------------------------------------------------------------------------------------

def mixed_cells() -> list[Atoms]:
    cells = rattled_cells("Cu", 3.61)[:4]
    for i, atoms in enumerate(cells):
        atoms.symbols[i % len(atoms)] = "Li"
        atoms.symbols[-1] = "Al"
    return cells


def test_mace_path_predictions_match_the_model_called_directly(tiny_mace, tiny_mace_path):
    # Reference: the saved nn.Module evaluated by hand with mace-torch's data pipeline.
    from mace import data as mace_data
    from mace.tools import torch_geometric, torch_tools, utils

    assert tiny_mace.ssbkit_dtype == "float64"
    model = torch.load(tiny_mace_path, weights_only=False)
    cells = mixed_cells()
    z_table = utils.AtomicNumberTable([3, 13, 29])
    predictions = predict(cells, tiny_mace)
    for atoms, p in zip(cells, predictions, strict=True):
        with torch_tools.default_dtype("float64"):
            config = mace_data.config_from_atoms(atoms)
            graph = mace_data.AtomicData.from_config(config, z_table=z_table, cutoff=4.5)
        out = model(torch_geometric.Batch.from_data_list([graph]).to_dict(), compute_stress=True)
        assert p.energy == pytest.approx(out["energy"].item(), abs=1e-9)
        np.testing.assert_allclose(p.forces, out["forces"].detach().numpy(), atol=1e-9)


def test_mace_batched_equals_one_by_one_in_float64(tiny_mace):
    cells = mixed_cells()
    references = one_by_one(cells, tiny_mace)
    assert_matches(predict(cells, tiny_mace, max_batch_edges=10**9), references, cells, 1e-8, 1e-8, 1e-9)


def test_mace_forces_and_stress_are_energy_derivatives(tiny_mace):
    # Analytic reference: F = -dE/dx and stress = (1/V) dE/dstrain, by central differences. In float64
    # with h = 1e-4 Å the truncation error ~h^2 E''' is far below the 1e-6 tolerance.
    atoms = mixed_cells()[1]
    p = predict([atoms], tiny_mace)[0]
    h = 1e-4
    for index, axis in [(0, 0), (3, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[index, axis] += h
        minus.positions[index, axis] -= h
        e_plus, e_minus = (q.energy for q in predict([plus, minus], tiny_mace))
        assert -(e_plus - e_minus) / (2 * h) == pytest.approx(p.forces[index, axis], abs=1e-6)
    strained = []
    for sign in (1, -1):
        deformed = atoms.copy()
        deformed.set_cell(atoms.cell @ (np.eye(3) + sign * h * np.diag([1, 0, 0])), scale_atoms=True)
        strained.append(deformed)
    e_plus, e_minus = (q.energy for q in predict(strained, tiny_mace))
    assert (e_plus - e_minus) / (2 * h) / atoms.get_volume() == pytest.approx(p.stress[0], abs=1e-6)


def test_md_task_defaults_mace_to_float32(tiny_mace_path):
    calc = load(f"mace:{tiny_mace_path}", device="cpu", task="md")
    assert calc.ssbkit_dtype == "float32"
    assert next(calc.models[0].parameters()).dtype == torch.float32


# --- any ASE calculator; errors -----------------------------------------------------------------

def test_plain_ase_calculator_is_evaluated_one_by_one():
    # Reference: ASE's EMT called directly; a molecule (no cell) gets no stress.
    cells = rattled_cells("Cu", 3.61)[:2]
    references = one_by_one(cells, EMT())
    assert_matches(predict(cells, EMT()), references, cells, 1e-12, 1e-12, 1e-12)
    dimer = Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 2.4]])
    assert predict([dimer], EMT())[0].stress is None


def test_non_finite_outputs_are_calculation_errors():
    class NaNCalculator(LennardJones):
        def calculate(self, *args, **kwargs):
            super().calculate(*args, **kwargs)
            self.results["energy"] = np.inf

    dimer = Atoms("Ar2", positions=[[0, 0, 0], [0, 0, 3.5]])
    with pytest.raises(CalculationError, match="non-finite.*Ar2"):
        predict([dimer], NaNCalculator())


def test_predict_rejects_non_structures():
    with pytest.raises(InputError, match="expected ase.Atoms"):
        predict(["Li2O"], EMT())
    assert predict([], EMT()) == []


def test_pymatgen_structures_are_accepted(chgnet):
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = rattled_cells("Li", 3.44, "bcc")[0]
    from_structure = predict([AseAtomsAdaptor.get_structure(atoms)], chgnet)[0]
    assert from_structure.energy == pytest.approx(predict([atoms], chgnet)[0].energy, abs=1e-5)



@pytest.mark.gpu
@pytest.mark.parametrize("name", ["chgnet", "sevennet-0"])
def test_cuda_batches_match_cpu(name):
    # Reference: the same model on CPU, one structure at a time. float32 on two devices differ by
    # reduction order only: 1e-5 eV/atom, 1e-4 eV/Å.
    cells = rattled_cells("Cu", 3.61)
    cpu = predict(cells, load(name, device="cpu"), max_batch_edges=1)
    cuda = predict(cells, load(name, device="cuda"))
    for a, b, atoms in zip(cpu, cuda, cells, strict=True):
        assert abs(a.energy - b.energy) / len(atoms) < 1e-5
        np.testing.assert_allclose(a.forces, b.forces, atol=1e-4)


def test_chgnet_r2scan_checkpoint_ships_in_the_wheel_and_differs_from_pbe():
    # The chgnet wheel (>= 0.4) ships a transfer-learned r2SCAN checkpoint next to 0.3.0 (CHGNet.load docstring).
    # r2SCAN total energies sit on another scale than PBE's: bcc Li differs by far more than model noise.
    from ase.build import bulk

    from ssbkit.potentials import CARDS, load, predict

    card = CARDS["chgnet-r2scan"]
    assert card.offline and card.checkpoint == "r2scan" and card.functional == "r2SCAN"
    li = bulk("Li", "bcc", a=3.44)
    r2scan = predict([li], load("chgnet-r2scan", device="cpu"))[0]
    pbe = predict([li], load("chgnet", device="cpu"))[0]
    assert abs(r2scan.energy - pbe.energy) > 0.1
    assert abs(r2scan.forces).max() < 1e-3  # one-atom bcc cell: no force by symmetry
