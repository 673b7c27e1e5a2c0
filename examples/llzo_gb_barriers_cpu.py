"""Li vacancy barriers in cubic LLZO: bulk, along and across the sigma-5 (100) twist boundary, on a CPU.

The smallest bicrystal (one CSL period per grain, 1920 atoms) with CHGNet 0.3.0; every NEB relaxes only the
atoms within ``--radius`` Å of the hop. Then the bulk hop's barrier against the local radius (up to the whole
192-atom cell), which shows how large a region the barrier needs. Writes ``gb_barriers.json``,
``gb_barriers.csv``/``.png`` and ``bulk_radius_check.json`` to ``--out``; prints each phase's wall time.

    python examples/llzo_gb_barriers_cpu.py --out llzo_gb_cpu [--radius 6] [--images 3] [--fmax 0.1]
    python examples/llzo_gb_barriers_cpu.py --out llzo_bulk --bulk-only     # the radius check alone
    python examples/llzo_gb_barriers_cpu.py --model sevennet-0 --device cuda --out llzo_gb_gpu   # on a GPU

On 2 CPU cores one CHGNet evaluation of the 1920-atom bicrystal takes ~7 s (11 s on one): the bicrystal
relaxation took 45 min (stopped at 0.19 eV/Å) and each boundary NEB 23-32 min of one core at 6-12 Å; the bulk
radius check (with the bulk hop) takes ~10 min (numbers in docs/neb.md). The relaxed
bicrystal is written to ``OUT/bicrystal.extxyz``; ``--bicrystal`` starts from it, so the hops can run as two
one-core jobs side by side:

    python examples/llzo_gb_barriers_cpu.py --out gb_along --bicrystal BICRYSTAL --hops gb-along --radius 8 \
        --check-radii 6 8
    python examples/llzo_gb_barriers_cpu.py --out gb_across --bicrystal BICRYSTAL --hops bulk gb-across --radius 8

``examples/data/llzo_sigma5_bicrystal_chgnet.extxyz.gz`` is such a bicrystal, relaxed with CHGNet to 0.044 eV/Å
(764 steps). ``--anneal-temperature K`` anneals the bicrystal (built or given) by MD and quenches it first.

Reference: the bulk LLZO activation energy from AIMD is 0.26 eV (He et al., npj Comput. Mater. 4, 18 (2018)).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

from ssbkit.cli.types import run_script
from ssbkit.io import read_structure
from ssbkit.interfaces.structures.hop_studies import llzo_bulk
from ssbkit.potentials import load
from ssbkit.workflows.anneal import AnnealSettings
from ssbkit.workflows.gb_barriers import HOPS, gb_barriers, requested_hops
from ssbkit.workflows.neb import NEBSettings, radius_convergence


def boundary_barriers(model: str, device: str, settings: NEBSettings, bicrystal_fmax: float, out: Path,
                      check_radii: list[float | None], bicrystal: Path | None, hops: list[str],
                      hops_per_kind: int, anneal_settings: AnnealSettings | None) -> None:
    """The ``hops`` of the relaxed bicrystal, ``hops_per_kind`` of each (``gb_barriers``; ``bicrystal``: start
    from this relaxed one;
    ``anneal_settings``: anneal and quench it first), then the along hop's barrier against ``check_radii``
    (Å, None = whole cell; none: no check)."""
    began = time.perf_counter()
    result = gb_barriers(None, [model], lambda name: load(name, device=device, task="neb"), settings,
                         bicrystal=None if bicrystal is None else read_structure(bicrystal), hops=hops,
                         hops_per_kind=hops_per_kind,
                         bicrystal_fmax=bicrystal_fmax, anneal_settings=anneal_settings, output_dir=out,
                         radius_check=check_radii or None)
    (out / "gb_barriers.json").write_text(json.dumps(result.to_dict(), indent=1, default=str))
    for hop in result.hops:
        if hop.barrier_eV is None:  # every model failed: say why
            reasons = "; ".join(f"{failure.model}: {failure.reason}" for failure in hop.committee.failures)
            print(f"{hop.hop:10s} no barrier ({reasons})", flush=True)
        else:
            print(f"{hop.hop:10s} {hop.barrier_eV:.3f} eV ({hop.n_atoms} atoms, {hop.n_free_atoms} free)",
                  flush=True)
        for neb_result in hop.committee.results.values():
            for warning in neb_result.warnings:
                print(f"{'':10s} warning ({neb_result.model}): {warning}", flush=True)
    for spread in (d for d in result.distributions if len(d.hops) > 1):
        print(f"{spread.kind:10s} {len(spread.hops)} hops: {spread.min_eV:.3f} / {spread.median_eV:.3f} / "
              f"{spread.max_eV:.3f} eV (min / median / max)", flush=True)
    for spread in result.distributions:
        for hop, reason in spread.excluded.items():
            print(f"{hop:10s} left out of the distribution: {reason}", flush=True)
    for line in [*(f"note: {note}" for note in result.notes), *(f"warning: {w}" for w in result.warnings)]:
        print(line, flush=True)
    if result.radius_check is not None:
        print(f"boundary radius check: {result.radius_check.to_dict()}", flush=True)
    print(f"boundary barriers: {time.perf_counter() - began:.0f} s", flush=True)


def bulk_radius_check(model: str, device: str, settings: NEBSettings, radii: list[float], out: Path) -> None:
    """The bulk hop's barrier against the local radius, the whole cell last."""
    began = time.perf_counter()
    study = llzo_bulk()
    check = radius_convergence(study.initial, study.final, load(model, device=device, task="neb"),
                               [*radii, None], settings, moving_index=study.moving_index)
    (out / "bulk_radius_check.json").write_text(json.dumps(check.to_dict(), indent=1, default=str))
    print(f"bulk radius check: {check.to_dict()}", flush=True)
    print(f"bulk radius check: {time.perf_counter() - began:.0f} s", flush=True)


def radius_or_whole(text: str) -> float | None:
    """A radius in Å, or None for 'whole' (the whole cell)."""
    return None if text == "whole" else float(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("llzo_gb_cpu"))
    parser.add_argument("--model", default="chgnet")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto.")
    parser.add_argument("--steps", type=int, default=200, help="Most optimizer steps of each band and endpoint.")
    parser.add_argument("--radius", type=float, default=6.0, help="Local relaxation radius (Å).")
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--fmax", type=float, default=0.1, help="NEB, endpoint and bicrystal force limit (eV/Å).")
    parser.add_argument("--bulk-radii", type=float, nargs="*", default=[4.0, 6.0, 8.0],
                        help="Radii (Å) of the bulk radius check, run when the hops include bulk; the whole cell is "
                        "added last (none: no check).")
    parser.add_argument("--check-radii", type=radius_or_whole, nargs="*",
                        default=[], help="Radii (Å, or 'whole' for the whole cell) of a radius check of the "
                        "along-boundary hop (none: no check).")
    parser.add_argument("--bulk-only", action="store_true", help="Only the bulk hop's radius check.")
    parser.add_argument("--bicrystal", type=Path, help="Start from this relaxed bicrystal (an earlier run's "
                        "bicrystal.extxyz) instead of relaxing one.")
    parser.add_argument("--hops", nargs="+", default=list(HOPS),
                        help=f"Which hops to compute: kinds ({', '.join(HOPS)}), or one hop by its rank (gb-across-5).")
    parser.add_argument("--hops-per-kind", type=int, default=1, help="The K shortest distinct hops of each kind.")
    parser.add_argument("--anneal-temperature", type=float, help="Anneal the bicrystal by MD at this temperature "
                        "(K) and quench it before the hops (default: no anneal).")
    parser.add_argument("--anneal-steps", type=int, default=1000, help="MD steps (1 fs) of the anneal.")
    args = parser.parse_args()
    requested_hops(args.hops, args.hops_per_kind)  # bad hops are refused before the output folder exists
    warnings.simplefilter("ignore")
    settings = NEBSettings(n_images=args.images, fmax=args.fmax, steps=args.steps, endpoint_fmax=args.fmax,
                           endpoint_steps=args.steps, relax_radius_A=args.radius)
    anneal_settings = (None if args.anneal_temperature is None else
                       AnnealSettings(temperature=args.anneal_temperature, steps=args.anneal_steps))
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.bulk_only:
        boundary_barriers(args.model, args.device, settings, args.fmax, args.out, args.check_radii,
                          args.bicrystal, args.hops, args.hops_per_kind, anneal_settings)
    if args.bulk_radii and "bulk" in args.hops:
        bulk_radius_check(args.model, args.device, settings, args.bulk_radii, args.out)


if __name__ == "__main__":
    run_script(main)  # bad input or a refused calculation: one line on stderr, exit code 2
