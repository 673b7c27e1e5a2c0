"""Runner task kinds: each kind run through the runner stores what a direct call of its workflow returns."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write
from typer.testing import CliRunner

from ssbkit.cli import app
from ssbkit.workflows.runner import load_spec, run_spec, spec_results

from runner_helpers import write_spec


def test_window_and_react_kinds_match_direct_calls(tmp_path):
    """Thermodynamics through the runner: the experimental-enthalpy source ships with pymatgen, so this is
    offline. Reference: Richards et al., Chem. Mater. 28, 266 (2016), Fig. 1c, LiI oxidises at 2.80 V;
    and the same functions called directly (identical numbers expected)."""
    from ssbkit.interfaces.entries import ExperimentalSource
    from ssbkit.interfaces.phases import PhaseDiagrams
    from ssbkit.interfaces.reactions import reaction_profile
    from ssbkit.interfaces.stability import stability_window

    path = write_spec(tmp_path, """
tasks:
  - kind: window
    parameters: {source: experimental}
    product: {formula: [LiI]}
  - kind: react
    parameters: {source: experimental}
    zip: {reactant_a: [LiNbO3], reactant_b: [Li]}
""")
    spec = load_spec(path)
    assert [t.model for t in spec.tasks] == [None] * 2
    assert run_spec(spec).done == 2
    records = spec_results(spec)
    assert records[0].result["oxidation_limit_V"] == pytest.approx(2.80, abs=0.015)
    source = PhaseDiagrams(ExperimentalSource())
    for task, record in zip(spec.tasks[:1], records[:1]):
        direct = stability_window(task.inputs["formula"], source)
        assert record.result["oxidation_limit_V"] == pytest.approx(direct.oxidation_limit_V, abs=1e-12)
        assert record.result["oxidation_products"] == direct.oxidation_products
    for task, record in zip(spec.tasks[1:], records[1:]):
        direct = reaction_profile(task.inputs["reactant_a"], task.inputs["reactant_b"], source)
        assert record.result["min_reaction_energy_eV_per_atom"] == pytest.approx(
            direct.min_reaction_energy_eV_per_atom, abs=1e-12)
    csv_header = CliRunner().invoke(app, ["results", str(path), "--csv"]).stdout.splitlines()[0]
    assert "formula" in csv_header and "oxidation_limit_V" in csv_header


def test_screen_kind_matches_a_direct_call(tmp_path):
    """A coating screen as a runner task (offline, experimental enthalpies): one task per electrolyte x
    electrode pair, candidates as a parameter; the stored ranking equals screen_candidates called
    directly. Physics check: Li3N is the one candidate stable against Li metal (reduction limit 0 V;
    Zhu et al., Adv. Energy Mater. 2016, list Li3N among the Li-stable interlayers), so it ranks first
    when the range to cover is 0-0.5 V."""
    from ssbkit.errors import InputError
    from ssbkit.interfaces.entries import ExperimentalSource
    from ssbkit.interfaces.phases import PhaseDiagrams
    from ssbkit.interfaces.screening import screen_candidates

    path = write_spec(tmp_path, """
tasks:
  - kind: screen
    parameters: {source: experimental, candidates: [LiNbO3, Li3N, LiTaO3], voltage_range: [0.0, 0.5]}
    product: {electrolyte: [LiI], electrode: [Li]}
""")
    spec = load_spec(path)
    assert run_spec(spec).done == 1
    stored = spec_results(spec)[0].result
    direct = screen_candidates(["LiNbO3", "Li3N", "LiTaO3"], "LiI", "Li", PhaseDiagrams(ExperimentalSource()),
                               voltage_range=(0.0, 0.5))
    assert [c["candidate"] for c in stored["candidates"]] == [c.candidate for c in direct.candidates]
    assert stored["candidates"][0]["candidate"] == "Li3N" and stored["candidates"][0]["reduction_limit_V"] == 0.0
    for row, score in zip(stored["candidates"], direct.candidates):
        assert row["worst_reaction_energy_eV_per_atom"] == pytest.approx(score.worst_reaction_energy_eV_per_atom,
                                                                         abs=1e-12)
    (tmp_path / "bad").mkdir()
    bad = write_spec(tmp_path / "bad", """
tasks:
  - kind: screen
    parameters: {source: experimental, candidates: LiNbO3}
    product: {electrolyte: [LiI], electrode: [Li]}
""")
    with pytest.raises(InputError, match=r"tasks\[0\] \(kind screen\): candidates = 'LiNbO3'"):
        load_spec(bad)  # candidates must be a list: refused when the spec is read


def test_adhesion_kind_reads_interface_files_and_matches_a_direct_call(tmp_path):
    """A Cu(111) slab split into two halves (interface_part kept in the extxyz file): cleaving bulk-like
    Cu costs two surfaces, so the interface energy is 0 (analytic) and W_adh equals the direct call."""
    from ase.build import fcc111

    from ssbkit.workflows.adhesion import adhesion

    slab = fcc111("Cu", size=(1, 1, 6), a=3.6, vacuum=8.0, periodic=True)
    slab.info.clear()  # adsorbate bookkeeping that extxyz cannot store
    slab.set_array("interface_part", (slab.positions[:, 2] > slab.positions[:, 2].mean()).astype(int))
    write(tmp_path / "interface.extxyz", slab)
    spec = load_spec(write_spec(tmp_path, """
tasks:
  - kind: adhesion
    inputs: {interface: interface.extxyz, film_bulk: {bulk: Cu, a: 3.6}, substrate_bulk: {bulk: Cu, a: 3.6}}
    parameters: {relax_positions: false, relax_bulk: false}
  - kind: adhesion
    inputs: {interface: interface.extxyz}
    parameters: {relax_positions: false}
"""))
    assert run_spec(spec).done == 2
    with_bulks, without = (r.result for r in spec_results(spec))
    direct = adhesion(slab, EMT(), bulk("Cu", a=3.6), bulk("Cu", a=3.6), relax_positions=False, relax_bulk=False)
    assert with_bulks["work_of_adhesion_J_m2"] == pytest.approx(direct.work_of_adhesion_J_m2, abs=1e-9)
    assert with_bulks["interface_energy_J_m2"] == pytest.approx(0.0, abs=1e-4)
    assert without["work_of_adhesion_J_m2"] == pytest.approx(direct.work_of_adhesion_J_m2, abs=1e-9)
    assert without["interface_energy_J_m2"] is None
    unmarked = slab.copy()
    del unmarked.arrays["interface_part"]
    write(tmp_path / "unmarked.extxyz", unmarked)
    other = load_spec(write_spec(tmp_path, "tasks:\n  - kind: adhesion\n    inputs: {interface: unmarked.extxyz}\n",
                                 "unmarked.yaml"))
    assert other.tasks[0].key != spec.tasks[1].key  # per-atom arrays are part of the key
    summary = run_spec(other)
    assert summary.failed == 1 and "interface_part" in summary.failures[0]["error"]


def test_neb_kind_matches_a_direct_call(tmp_path):
    """An Al adatom hop on Al(100) with EMT, as a zip of endpoint files: the stored barrier equals a direct
    ssbkit.workflows.neb call on the same structures, and the mirror-symmetric hop has equal forward and
    backward barriers (analytic symmetry; 1 meV for the loose fmax used here)."""
    from ase.build import add_adsorbate, fcc100
    from ase.constraints import FixAtoms

    from ssbkit.workflows.neb import neb

    slab = fcc100("Al", size=(2, 2, 3), vacuum=6.0)
    add_adsorbate(slab, "Al", 1.7, "hollow")
    slab.set_constraint(FixAtoms(mask=[atom.tag > 1 for atom in slab]))
    slab.info.clear()
    final = slab.copy()
    final.positions[-1, 0] += 4.05 / np.sqrt(2)
    write(tmp_path / "initial.traj", slab)
    write(tmp_path / "final.traj", final)
    spec = load_spec(write_spec(tmp_path, """
tasks:
  - kind: neb
    parameters: {n_images: 3, fmax: 0.05, endpoint_fmax: 0.02}
    zip: {initial: [initial.traj], final: [final.traj]}
"""))
    assert run_spec(spec).done == 1
    record = spec_results(spec)[0]
    direct = neb(spec.tasks[0].inputs["initial"], spec.tasks[0].inputs["final"], EMT(), n_images=3, fmax=0.05,
                 endpoint_fmax=0.02)
    assert record.result["barrier_forward"] == pytest.approx(direct.barrier_forward, abs=1e-9)
    assert record.result["barrier_forward"] == pytest.approx(record.result["barrier_backward"], abs=1e-3)
    assert (spec.run_dir / record.provenance["output_dir"] / "neb_path.extxyz").is_file()


def test_llzo_hop_kind_stores_what_a_direct_call_returns(tmp_path):
    """One boundary hop by its rank as a runner task (CHGNet; a LiF sigma-5 twist bicrystal as built stands in
    for the relaxed LLZO one, and one step for a converged band): the stored result is the same pair of
    sites and the same barrier as ``ranked_hop_barrier`` called directly, which test_neb_local checks against
    the same hop in a ``gb_barriers`` run. Bad hop names and a moving_index are refused when the spec is read."""
    from ssbkit.errors import InputError
    from ssbkit.interfaces.structures.grain_boundaries import sigma5_twist_bicrystal
    from ssbkit.potentials import load
    from ssbkit.workflows.gb_barriers import ranked_hop_barrier, write_bicrystal
    from ssbkit.workflows.neb import NEBSettings

    bicrystal = sigma5_twist_bicrystal(bulk("LiF", "rocksalt", a=4.03, cubic=True), 1)
    write_bicrystal(bicrystal, tmp_path / "bicrystal.extxyz")
    parameters = "{n_images: 1, fmax: 0.1, steps: 1, endpoint_fmax: 0.1, endpoint_steps: 1, relax_radius_A: 4.0"
    spec = load_spec(write_spec(tmp_path, f"""
device: cpu
tasks:
  - kind: llzo-hop
    model: chgnet
    inputs: {{bicrystal: bicrystal.extxyz}}
    parameters: {parameters}}}
    product: {{hop: [gb-across-2]}}
"""))
    assert run_spec(spec).done == 1
    stored = spec_results(spec)[0].result
    direct = ranked_hop_barrier("gb-across-2", load("chgnet", device="cpu", task="neb"), NEBSettings(
        n_images=1, fmax=0.1, steps=1, endpoint_fmax=0.1, endpoint_steps=1, relax_radius_A=4.0),
        bicrystal=spec.tasks[0].inputs["bicrystal"])
    assert stored["hop"] == "gb-across-2" and stored["description"] == direct.description
    assert stored["barrier_eV"] == pytest.approx(direct.barrier_eV, abs=1e-6)
    assert stored["excluded"] == direct.excluded and "did not converge" in stored["excluded"]  # 1 step
    for bad, message in (("hop: gb-diagonal", "unknown hop"), ("hop: gb-along, moving_index: 3", "moving_index")):
        with pytest.raises(InputError, match=message):
            load_spec(write_spec(tmp_path, f"""
tasks:
  - kind: llzo-hop
    inputs: {{bicrystal: bicrystal.extxyz}}
    parameters: {{{bad}}}
""", name="bad.yaml"))


def test_the_boundary_hops_example_spec_reads_as_hops_times_models():
    """examples/runner/llzo_boundary_hops.yaml: six across hops x two models, each task given the shipped
    bicrystal with its grain array (what the hop builders need)."""
    from pathlib import Path

    spec = load_spec(Path(__file__).resolve().parents[1] / "examples" / "runner" / "llzo_boundary_hops.yaml")
    assert len(spec.tasks) == 12 and {task.model for task in spec.tasks} == {"chgnet", "sevennet-0"}
    assert {task.parameters["hop"] for task in spec.tasks} == {"gb-across", *(f"gb-across-{k}" for k in range(2, 7))}
    assert all(task.inputs["bicrystal"].arrays["grain"].any() for task in spec.tasks)


def test_md_diffusion_kind_passes_its_parameters(tmp_path):
    """Wiring only (the MD and MSD physics are validated in test_diffusion.py): a 0.08 ps run is refused by
    the analysis with a message that echoes the parameters given in the spec; the task is recorded failed."""
    path = write_spec(tmp_path, """
structures:
  cuag: {file: cuag.extxyz}
tasks:
  - kind: md-diffusion
    inputs: {atoms: cuag}
    parameters: {temperatures: [1200], species: Cu, equilibration_steps: 0, production_steps: 40,
                 save_every: 10, seed: 1}
""")
    atoms = bulk("Cu", cubic=True).repeat(2)
    atoms.symbols[0] = "Ag"
    write(tmp_path / "cuag.extxyz", atoms)
    summary = run_spec(load_spec(path))
    assert summary.failed == 1
    assert "0.08 ps" in summary.failures[0]["error"] and "Cu" in summary.failures[0]["error"]
    output = load_spec(path).run_dir / "tasks" / load_spec(path).tasks[0].key
    assert any(output.glob("*.extxyz"))  # the trajectory went to the task's own directory


@pytest.mark.slow
def test_md_diffusion_kind_matches_a_direct_run(tmp_path):
    """Cu tracer diffusion in Cu(Ag) with EMT at 1200 K: the runner's stored D equals a direct call with the
    same seed (Langevin noise is seeded, so the runs are identical)."""
    from ssbkit.workflows.diffusion import diffusion

    path = write_spec(tmp_path, """
tasks:
  - kind: md-diffusion
    inputs: {atoms: cuag.extxyz}
    parameters: {temperatures: [1200], species: Cu, timestep: 4.0, equilibration_steps: 10,
                 production_steps: 600, save_every: 20, seed: 0}
""")
    atoms = bulk("Cu", cubic=True).repeat(2)
    atoms.symbols[0] = "Ag"
    write(tmp_path / "cuag.extxyz", atoms)
    spec = load_spec(path)
    assert run_spec(spec).done == 1
    stored = spec_results(spec)[0].result["per_temperature"][0]
    direct = diffusion(spec.tasks[0].inputs["atoms"], EMT(), [1200.0], tmp_path / "direct", timestep=4.0,
                       equilibration_steps=10, production_steps=600, save_every=20, species="Cu", seed=0,
                       progress=False).per_temperature[0]
    assert stored["diffusivity"] == pytest.approx(direct.diffusivity, rel=1e-9)
