"""Li in bcc W with GPAW-PBE: the DFT energies along a CHGNet tetrahedral -> tetrahedral path, and T vs O.

The hop of ``ssbkit neb study w-bulk-tt`` (nearest tetrahedral sites, a*sqrt(2)/4 = 1.12 Å apart), in a
2x2x2 W cell with one Li (17 atoms) so that DFT single points take minutes on one core:

1. CHGNet CI-NEB (3 interior images, endpoints relaxed at fixed cell), path written to extxyz.
2. GPAW single points (``ssbkit.workflows.reference.check_path``) on the initial endpoint, the CHGNet saddle
   and the final endpoint: the DFT barrier along the ML path, the difference at the saddle, force errors.
3. Li on the octahedral site (CHGNet-relaxed at fixed cell): E(O) - E(T) with CHGNet and with GPAW.

GPAW settings: LCAO, dzp basis, PBE, the 6-electron W setup (``setups={'W': '6'}``), 2x2x2 Monkhorst-Pack
k-points, 0.1 eV Fermi-Dirac smearing. Compare with the DFT NEB barrier 0.28 eV (Wang et al., Adv. Mater.
2025; larger cell, plane waves). ``--dear`` repeats the T and saddle points with the 14-electron W setup and
3x3x3 k-points (~30 min per point on one core) to check the cheap settings.

``--sites`` instead relaxes Li at T and at O (Li held, its cage free) with GPAW, and compares E(O) - E(T) with
CHGNet's and SevenNet-0's own relaxations: which site each method finds stable (with ``--dear``, also the
dearer settings at the two GPAW geometries).

``--t-check SITES_DIR`` instead moves Li 0.2 Å from the GPAW-relaxed T site of a ``--sites`` folder towards O
and relaxes the cage (Li and the farthest W held) with GPAW and with ``--models``: negative means T is the top
of the O -> O hop, so E(T) - E(O) is that barrier.

``--frozen-host`` adds T, the T-T midpoint and O with W on its perfect lattice (the Li-W interaction without
the cage relaxation, on which CHGNet and DFT disagree).

``--refine MODEL`` runs the fine-tuning loop instead (``ssbkit.workflows.refine.refine_barrier``): MODEL's
CI-NEB, GPAW labels on its endpoints and images (no rattles: five single points per round), fine-tuning from
the base model on all labels so far (``--freeze``, ``--energy-weight``, ``--epochs``, ``--learning-rate``;
by default graph layers frozen, energy weight 10), until the barrier moves by less than 0.02 eV and
the model reproduces the DFT energies along its path; each round's barrier and DFT energies are printed.
``--reference-endpoints`` first relaxes both endpoints with GPAW (every BFGS step a label) and keeps them fixed
in every round's CI-NEB, so the loop works between DFT minima rather than each model's own. ``--octahedral``
refines the O -> O hop through the T site instead (GPAW's minimum in this cell is O, see ``--sites``).

Run (minutes per DFT point on one core): ``nice -n 10 python benchmarks/li_in_w_dft.py [--frozen-host] [--dear]
[--out DIR]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.constraints import FixAtoms
from ase.io import read, write

from ssbkit.interfaces.structures.hop_studies import W_A
from ssbkit.interfaces.structures.sites import migration_hops
from ssbkit.io import read_structures
from ssbkit.potentials import load
from ssbkit.workflows.neb import NEBSettings, neb
from ssbkit.workflows.reference import check_path, label_configurations, relax_with_reference
from ssbkit.workflows.relax import RelaxSettings, relax

CHEAP = {"mode": "lcao", "basis": "dzp", "xc": "PBE", "setups": {"W": "6"}, "kpoints": [2, 2, 2], "smearing_eV": 0.1}
DEAR = {**CHEAP, "setups": None, "kpoints": [3, 3, 3]}
PUBLISHED_BARRIER_EV = 0.28  # DFT NEB, Wang et al., Adv. Mater. 2025


def tt_hop(repeat: int = 2):
    """The w-bulk-tt hop (nearest T-T, a*sqrt(2)/4) in a ``repeat``^3 conventional bcc W cell plus one Li
    (2: 17 atoms, 3: 55 atoms)."""
    from ase.build import bulk

    host = bulk("W", "bcc", a=W_A, cubic=True)
    length = W_A * np.sqrt(2) / 4
    n_atoms = 2 * repeat**3 + 1
    for hop in migration_hops(host, "Li", "interstitial", max_length=1.7,
                              supercell_min_length=repeat * W_A - 0.01):
        if abs(hop.length_A - length) < 0.01 and len(hop.start) == n_atoms:
            return hop
    raise RuntimeError(f"no {n_atoms}-atom T-T hop found")


def nearest_octahedral_sites(position: np.ndarray) -> list[np.ndarray]:
    """Octahedral sites of bcc W near ``position`` (Å), nearest first. With W at (0, 0, 0) and (a/2, a/2, a/2)
    they are the points of the a/2 grid whose coordinates have mixed parity (cube face and edge centres)."""
    grid = W_A / 2
    points = [np.array(p) * grid for p in itertools.product(range(-1, 6), repeat=3) if len({v % 2 for v in p}) == 2]
    return sorted(points, key=lambda x: np.linalg.norm(x - position))


def octahedral(start, moving_index):
    """Li moved to the octahedral site nearest its tetrahedral one, held there by a constraint (its
    neighbours relax)."""
    atoms = start.copy()
    atoms.positions[moving_index] = nearest_octahedral_sites(atoms.positions[moving_index])[0]
    atoms.set_constraint(FixAtoms(indices=[moving_index]))
    return atoms


def oo_hop(hop):
    """The octahedral -> octahedral hop through the tetrahedral site of ``hop``'s start (the two O sites a/4
    from a T site, on opposite sides: a/2 = 1.58 Å apart), in the same cell; for a reference whose minimum
    is O rather than T."""
    from dataclasses import replace

    li = hop.start.positions[hop.moving_index]
    first, second = nearest_octahedral_sites(li)[:2]
    if not np.allclose(first + second, 2 * li, atol=1e-6):
        raise RuntimeError("the two octahedral sites nearest the T site are not on opposite sides of it")
    start, end = hop.start.copy(), hop.start.copy()
    start.positions[hop.moving_index], end.positions[hop.moving_index] = first, second
    return replace(hop, start=start, end=end, length_A=float(np.linalg.norm(second - first)), start_label="O",
                   end_label="O")


def frozen_host(hop):
    """GPAW energies with W on its perfect lattice (nothing relaxed): Li at the tetrahedral site, at the
    midpoint of the T-T hop and at the octahedral site. Separates the Li-W interaction from the W-cage
    relaxation, which CHGNet and DFT disagree on. Returns E(midpoint) - E(T), E(O) - E(T) (eV) and timings."""
    midpoint = hop.start.copy()
    midpoint.positions[hop.moving_index] = (hop.start.positions[hop.moving_index]
                                            + hop.end.positions[hop.moving_index]) / 2
    site_o = octahedral(hop.start, hop.moving_index)
    site_o.set_constraint()
    labels = label_configurations([hop.start, midpoint, site_o], "gpaw", CHEAP, progress=True).labels
    energies = [label.energy_eV for label in labels]
    return energies[1] - energies[0], energies[2] - energies[0], [label.wall_time_s for label in labels]


def relaxed_sites(hop, out: Path, dear: bool, settings: dict = CHEAP, ml_start: bool = False) -> dict:
    """GPAW minima of Li at the tetrahedral site and at the octahedral site (Li held there, the W cage relaxed;
    by symmetry no force acts on it): E(O) - E(T) (eV) with DFT's own cages, and the ML models' values on
    the same relaxation (each model relaxes its own cages). ``settings``: GPAW's; ``ml_start``: start the
    GPAW relaxations from CHGNet's cages (fewer DFT steps in a large cell). With ``dear`` also E(O) - E(T)
    with the DEAR settings at the two GPAW-relaxed geometries."""
    site_t = hop.start.copy()
    site_o = octahedral(hop.start, hop.moving_index)
    ml = {}
    for model in ("chgnet", "sevennet-0"):
        calculator = load(model, task="neb")
        relaxed_t, relaxed_o = (relax(site, calculator, RelaxSettings(fmax=0.02)) for site in (site_t, site_o))
        ml[model] = relaxed_o.energy - relaxed_t.energy
        if ml_start and model == "chgnet":
            site_t, site_o = relaxed_t.atoms, relaxed_o.atoms
            site_o.set_constraint(FixAtoms(indices=[hop.moving_index]))
    energies, steps = {}, {}
    for name, atoms in (("T", site_t), ("O", site_o)):
        relaxed, labels = relax_with_reference(atoms, "gpaw", settings, fmax=0.025, steps=60)
        energies[name] = float(relaxed.get_potential_energy())
        steps[name] = [len(labels.labels), sum(label.wall_time_s for label in labels.labels)]
        write(out / f"gpaw_relaxed_{name}.extxyz", relaxed)
        print(f"GPAW-relaxed {name}: {energies[name]:.3f} eV ({steps[name][0]} single points, "
              f"{steps[name][1]:.0f} s)", flush=True)
    result = {"atoms": len(hop.start), "settings": settings, "dft_O_minus_T_eV": energies["O"] - energies["T"],
              "ml_O_minus_T_eV": ml, "single_points_and_s": steps}
    if dear:
        labels = label_configurations([read(out / f"gpaw_relaxed_{name}.extxyz") for name in ("T", "O")],
                                      "gpaw", DEAR).labels
        result["dear"] = {"settings": DEAR, "O_minus_T_eV": labels[1].energy_eV - labels[0].energy_eV,
                          "single_point_s": [label.wall_time_s for label in labels]}
        print(f"E(O) - E(T) with the 14-electron W setup and 3x3x3 k-points at the same geometries: "
              f"{result['dear']['O_minus_T_eV']:+.3f} eV", flush=True)
    print(f"E(O) - E(T), each relaxed with its own method: GPAW {result['dft_O_minus_T_eV']:+.3f} eV, "
          + ", ".join(f"{model} {value:+.3f} eV" for model, value in ml.items()), flush=True)
    return result


def t_site_check(sites: Path, models: list[str], trust_model: bool, step_A: float = 0.2) -> dict:
    """Is T the top of the O -> O hop? Li moved ``step_A`` Å from the GPAW-relaxed T site of a ``--sites``
    folder towards the neighbouring O site, held there, and the W cage relaxed, with GPAW (CHEAP) and with each
    of ``models`` (eV, relative to T with its own relaxed cage). Negative: T is a maximum along the hop (with
    the cage following Li), so E(T) - E(O) is the O -> O barrier; positive: T is a local minimum. Li's
    curvature with the cage frozen does not decide this: the cage's relaxation lowers it."""
    site_t, site_o = (read(sites / f"gpaw_relaxed_{name}.extxyz") for name in ("T", "O"))
    li = site_t.get_chemical_symbols().index("Li")
    towards_o = site_o.positions[li] - site_t.positions[li]
    towards_o -= site_t.cell.cartesian_positions(np.round(site_t.cell.scaled_positions(towards_o)))  # nearest image
    farthest_w = int(np.argmax(site_t.get_distances(li, range(len(site_t)), mic=True)))
    held = FixAtoms(indices=[li, farthest_w])  # the far W too, or the cage slides as a whole to put O under Li
    site_t.set_constraint(held)
    moved = site_t.copy()
    moved.positions[li] += step_A * towards_o / np.linalg.norm(towards_o)
    relaxed, labels = relax_with_reference(moved, "gpaw", CHEAP, fmax=0.05, steps=60)
    result = {"step_A": step_A, "T_to_O_A": float(np.linalg.norm(towards_o)),
              "gpaw_eV": float(relaxed.get_potential_energy() - site_t.get_potential_energy()),
              "gpaw_single_points_and_s": [len(labels.labels), sum(label.wall_time_s for label in labels.labels)]}
    for model in models:
        calculator = load(model, task="neb", trust_model=trust_model)
        at_t, off_t = (relax(atoms, calculator, RelaxSettings(fmax=0.01)) for atoms in (site_t, moved))
        result[f"{model}_eV"] = off_t.energy - at_t.energy
    for method in ("gpaw", *models):
        print(f"Li {step_A} Å from T towards O, cage relaxed, {method}: {result[f'{method}_eV']:+.3f} eV "
              f"against T", flush=True)
    return result


def refine(hop, model: str, rounds: int, out: Path, reference_endpoints: bool, fine_tune_settings) -> None:
    """The fine-tuning loop of ``model`` against GPAW (CHEAP settings) on the 17-atom hop ``hop``; with
    ``reference_endpoints`` the endpoints are GPAW minima kept through every round."""
    from ssbkit.workflows.refine import RefineSettings, plot_rounds, refine_barrier

    result = refine_barrier(
        hop.start, hop.end, model, "gpaw", out / "refine",
        RefineSettings(rounds=rounds, rattles=0, committee_rattles=0, reference_endpoints=reference_endpoints),
        reference_settings=CHEAP, neb_settings=NEBSettings(n_images=3, moving_index=hop.moving_index),
        fine_tune_settings=fine_tune_settings, progress=lambda line: print(line, flush=True))
    for row in result.rounds:
        print(f"round {row.round}: {row.model} barrier {row.ml_barrier_eV:.3f} eV, DFT along its path "
              f"{row.reference_barrier_on_path_eV:.3f} eV, largest path error {row.max_path_error_eV:.3f} eV, "
              f"{row.label_count} labels, {row.wall_time_s:.0f} s", flush=True)
    verdict = (f"refined barrier {result.final_barrier_eV:.3f} eV" if result.converged
               else "no refined barrier: the loop did not converge")
    print(f"{result.message}; {verdict} (published DFT NEB {PUBLISHED_BARRIER_EV} eV)")
    result.plot_file = plot_rounds(result, out / "refine_rounds.png")
    (out / "refine.json").write_text(json.dumps(result.to_dict(), indent=1, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dear", action="store_true", help="also the 14-electron W setup with 3x3x3 k-points")
    parser.add_argument("--frozen-host", action="store_true",
                        help="also T, T-T midpoint and O with W on its perfect lattice (3 more DFT points)")
    parser.add_argument("--refine", metavar="MODEL", help="run the fine-tuning loop of MODEL against GPAW instead")
    parser.add_argument("--rounds", type=int, default=3, help="most rounds of --refine")
    parser.add_argument("--sites", action="store_true",
                        help="instead: GPAW-relaxed T and O sites (E(O) - E(T)) against CHGNet and SevenNet-0")
    parser.add_argument("--reference-endpoints", action="store_true",
                        help="with --refine: relax the endpoints with GPAW first and keep them (their relaxation "
                             "steps become labels)")
    parser.add_argument("--octahedral", action="store_true",
                        help="with --refine: the O -> O hop through the T site (the minimum our GPAW finds is O)")
    parser.add_argument("--freeze", choices=("graph", "none"), default="graph",
                        help="with --refine: layers kept at their pretrained weights in each fine-tune")
    parser.add_argument("--energy-weight", type=float, default=10.0,
                        help="with --refine: weight of the energy error in the fine-tuning loss")
    parser.add_argument("--epochs", type=int, default=100, help="with --refine: most epochs of each fine-tune")
    parser.add_argument("--learning-rate", type=float, default=3e-3, help="with --refine: fine-tuning rate")
    parser.add_argument("--repeat", type=int, default=2, help="with --sites: W cell of N x N x N conventional cells")
    parser.add_argument("--pw", type=float, metavar="CUTOFF_EV", default=None,
                        help="with --sites: plane waves with this cutoff (eV) instead of LCAO dzp (6-electron W)")
    parser.add_argument("--kpoints", type=int, default=2, help="with --sites: K x K x K Monkhorst-Pack k-points")
    parser.add_argument("--ml-start", action="store_true",
                        help="with --sites: start the GPAW relaxations from CHGNet's relaxed cages")
    parser.add_argument("--t-check", metavar="SITES_DIR", type=Path, default=None,
                        help="instead: Li moved from the GPAW-relaxed T site of a --sites folder towards O, cage "
                             "relaxed, with GPAW and with --models (is T the top of the O -> O hop?)")
    parser.add_argument("--models", nargs="*", default=["chgnet", "sevennet-0"],
                        help="with --t-check: models to compare (names or chgnet:PATH, sevennet:PATH)")
    parser.add_argument("--trust-model", action="store_true",
                        help="with --t-check: load local model files in full (files you wrote yourself)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the path, labels and results.json")
    args = parser.parse_args()
    if not args.sites and (args.repeat != 2 or args.pw is not None or args.kpoints != 2 or args.ml_start):
        parser.error("--repeat, --pw, --kpoints and --ml-start belong to --sites")
    if not args.refine and (args.octahedral or args.freeze != "graph" or args.energy_weight != 10.0
                            or args.epochs != 100 or args.learning_rate != 3e-3):
        parser.error("--octahedral, --freeze, --energy-weight, --epochs and --learning-rate belong to --refine")
    if args.t_check is None and (args.models != ["chgnet", "sevennet-0"] or args.trust_model):
        parser.error("--models and --trust-model belong to --t-check")
    out = args.out or Path(tempfile.mkdtemp(prefix="li_in_w_dft_"))
    out.mkdir(parents=True, exist_ok=True)

    if args.t_check is not None:
        if not all((args.t_check / f"gpaw_relaxed_{name}.extxyz").is_file() for name in ("T", "O")):
            parser.error(f"{args.t_check} lacks gpaw_relaxed_T/O.extxyz (run --sites --out DIR first)")
        (out / "t_check.json").write_text(json.dumps(t_site_check(args.t_check, args.models, args.trust_model),
                                                     indent=2))
        return
    if args.sites:
        settings = {**CHEAP, "kpoints": [args.kpoints] * 3}
        if args.pw is not None:
            settings = {key: value for key, value in settings.items() if key != "basis"}
            settings.update(mode="pw", cutoff_eV=args.pw)
        sites = relaxed_sites(tt_hop(args.repeat), out, args.dear, settings, args.ml_start)
        (out / "sites.json").write_text(json.dumps(sites, indent=2))
        return
    hop = tt_hop(2)
    if args.refine:
        from ssbkit.potentials.finetune import FineTuneSettings

        tuning = FineTuneSettings(epochs=args.epochs, patience=max(20, args.epochs // 5),
                                  learning_rate=args.learning_rate, energy_weight=args.energy_weight,
                                  freeze=args.freeze)
        refine(oo_hop(hop) if args.octahedral else hop, args.refine, args.rounds, out, args.reference_endpoints,
               tuning)
        return
    chgnet = load("chgnet", task="neb")
    start = time.perf_counter()
    ml = neb(hop.start, hop.end, chgnet, NEBSettings(n_images=3, moving_index=hop.moving_index),
             output_dir=out / "neb", model="chgnet")
    neb_s = time.perf_counter() - start
    print(f"CHGNet CI-NEB, 17 atoms: barrier {ml.barrier:.3f} eV, converged {ml.converged}, {neb_s:.0f} s")

    images = [atoms for _, atoms in read_structures(out / "neb" / "neb_path.extxyz")]
    picked = [images[0], images[ml.saddle_index], images[-1]]
    check = check_path(picked, "gpaw", CHEAP, progress=True)
    check.labels.write_extxyz(out / "labels_path.extxyz")
    times = [label.wall_time_s for label in check.labels.labels]
    print("GPAW LCAO dzp PBE, W 6-electron setup, 2x2x2 k-points, 17 atoms:")
    print(f"  single points (initial, saddle, final): {', '.join(f'{t:.0f} s' for t in times)}")
    print(f"  DFT energies along the CHGNet path (eV, rel. initial): "
          f"{', '.join(f'{e:.3f}' for e in check.reference_energies_eV)}")
    print(f"  DFT barrier along the CHGNet path: {check.reference_saddle_energy_eV:.3f} eV "
          f"(published DFT NEB {PUBLISHED_BARRIER_EV} eV; CHGNet {check.ml_barrier_eV:.3f} eV; "
          f"DFT - CHGNet at the saddle {check.saddle_difference_eV:+.3f} eV)")
    print(f"  CHGNet force errors vs DFT: MAE {check.force_mae_eV_per_A:.3f} eV/Å, "
          f"largest {check.force_max_error_eV_per_A:.3f} eV/Å")

    site_o = octahedral(images[0], hop.moving_index)
    relaxed_o = relax(site_o, chgnet, RelaxSettings(fmax=0.02))
    chgnet_o_minus_t = relaxed_o.energy - float(images[0].get_potential_energy())
    (label_o,) = label_configurations([relaxed_o.atoms], "gpaw", CHEAP, progress=True).labels
    dft_o_minus_t = label_o.energy_eV - check.labels.labels[0].energy_eV
    print(f"  O site: E(O) - E(T) = {dft_o_minus_t:.3f} eV GPAW, {chgnet_o_minus_t:.3f} eV CHGNet "
          f"(single point {label_o.wall_time_s:.0f} s)")
    results = {"settings": CHEAP, "atoms": 17, "chgnet_barrier_eV": check.ml_barrier_eV,
               "dft_barrier_along_chgnet_path_eV": check.reference_saddle_energy_eV,
               "dft_energies_eV": check.reference_energies_eV, "saddle_difference_eV": check.saddle_difference_eV,
               "force_mae_eV_per_A": check.force_mae_eV_per_A, "single_point_s": times + [label_o.wall_time_s],
               "dft_O_minus_T_eV": dft_o_minus_t, "chgnet_O_minus_T_eV": chgnet_o_minus_t,
               "published_barrier_eV": PUBLISHED_BARRIER_EV}

    if args.frozen_host:
        midpoint, o_minus_t, seconds = frozen_host(hop)
        print(f"  W frozen on its perfect lattice: E(T-T midpoint) - E(T) = {midpoint:.3f} eV, "
              f"E(O) - E(T) = {o_minus_t:.3f} eV ({', '.join(f'{t:.0f} s' for t in seconds)})")
        results["frozen_host"] = {"midpoint_minus_T_eV": midpoint, "O_minus_T_eV": o_minus_t,
                                  "single_point_s": seconds}

    if args.dear:
        dear = label_configurations([picked[0], picked[1]], "gpaw", DEAR, progress=True)
        dear_barrier = dear.labels[1].energy_eV - dear.labels[0].energy_eV
        print(f"  14-electron W setup, 3x3x3 k-points: barrier {dear_barrier:.3f} eV "
              f"({', '.join(f'{label.wall_time_s:.0f} s' for label in dear.labels)})")
        results["dear"] = {"settings": DEAR, "barrier_eV": dear_barrier,
                           "single_point_s": [label.wall_time_s for label in dear.labels]}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"results: {out / 'results.json'}")


if __name__ == "__main__":
    main()
