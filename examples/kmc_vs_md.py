"""kMC against MD with the same model: one interstitial Li in a host, at temperatures MD can reach.

``ssbkit kinetics`` turns the NEB barriers and Vineyard prefactors of the host's hop classes into a site
network and runs kMC; here MD with the same model runs on the hop study's own cell (one Li), with
``--copies`` independent replicas per temperature (distinct thermostat seeds) averaged as an ensemble. The
MD tracer D comes from kinisi (generalised least squares). The two must agree within a small factor where
harmonic transition-state theory holds (barrier several kT, hops uncorrelated); where they do not, the
script's output says by how much. Writes ``kinetics.json``, ``md/diffusion.json`` and ``comparison.json``.

    python examples/kmc_vs_md.py --host mg --out kmc_vs_md_mg [--model chgnet] [--temperatures 500 600 700]
    python examples/kmc_vs_md.py --host w --model sevennet-0 --kinetics w.json --temperatures 600 --copies 1

``--kinetics`` reuses the JSON of an earlier ``ssbkit kinetics HOST --json`` run with the same model (its
temperatures must include the MD temperatures) instead of computing the barriers again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

from ssbkit.errors import SsbkitError
from ssbkit.interfaces.structures.hop_studies import build_study
from ssbkit.potentials import load
from ssbkit.workflows.diffusion import diffusion, write_result
from ssbkit.workflows.kinetics import NAMED_HOSTS, kinetics, named_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="mg", choices=[h for h, m in NAMED_HOSTS.items() if "interstitial" in m])
    parser.add_argument("--out", type=Path, default=Path("kmc_vs_md"))
    parser.add_argument("--model", default="chgnet")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[500.0, 600.0, 700.0])
    parser.add_argument("--copies", type=int, default=3, help="MD replicas per temperature.")
    parser.add_argument("--production-steps", type=int, default=2000, help="MD production (2 fs steps).")
    parser.add_argument("--kinetics", type=Path, help="JSON of an earlier `ssbkit kinetics --json` run to reuse.")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    args.out.mkdir(parents=True, exist_ok=True)
    calculator = load(args.model, device="cpu", task="md")

    began = time.perf_counter()
    if args.kinetics is not None:
        try:
            rates = json.loads(args.kinetics.read_text())
            missing = sorted(set(args.temperatures) - set(rates["temperatures_K"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            parser.error(f"--kinetics {args.kinetics}: not the JSON of `ssbkit kinetics --json` ({exc})")
        if missing:
            parser.error(f"--kinetics {args.kinetics} has no kMC result at {missing} K; its temperatures are "
                         f"{rates['temperatures_K']}")
    else:
        rates = kinetics(named_system(args.host, "interstitial"), calculator,
                         temperatures=tuple(args.temperatures), model=args.model).to_dict()
        (args.out / "kinetics.json").write_text(json.dumps(rates, indent=1, default=str))
    for hop in rates["hops"]:
        print(f"{hop['name']}: barrier {hop['barrier_eV']:.3f} eV, prefactor {hop['prefactor_Hz']:.2e} Hz", flush=True)
    kmc = {t: (d, e) for t, d, e in zip(rates["temperatures_K"], rates["D_cm2_per_s"], rates["D_std_cm2_per_s"])}
    print(f"kinetics: {time.perf_counter() - began:.0f} s", flush=True)

    began = time.perf_counter()
    cell = build_study(NAMED_HOSTS[args.host]["interstitial"][0]).initial
    copies = []
    for copy_index in range(args.copies):
        member = cell.copy()
        member.info["configuration"] = f"copy{copy_index}"
        copies.append(member)
    # MD runs in the NEB's own cell, so that both sides describe the same system: one Li, so the checks for
    # bulk transport (8 ions, two cutoffs wide) are relaxed to one ion and one cutoff (the minimum image).
    md = diffusion(copies, calculator, args.temperatures, args.out / "md", timestep=2.0, equilibration_steps=250,
                   production_steps=args.production_steps, save_every=10, min_species_count=1,
                   min_width_over_cutoff=1.0)
    write_result(md, args.out / "md" / "diffusion.json")
    print(f"MD: {time.perf_counter() - began:.0f} s", flush=True)

    rows = []
    for point in md.ensemble:
        kmc_d, kmc_std = kmc[point.temperature_K]
        md_d, md_std = point.tracer_diffusivity_cm2_s, point.tracer_diffusivity_std_cm2_s
        rows.append({"temperature_K": point.temperature_K, "md_D_cm2_per_s": md_d, "md_D_std_cm2_per_s": md_std,
                     "kmc_D_cm2_per_s": kmc_d, "kmc_D_std_cm2_per_s": kmc_std, "md_over_kmc": md_d / kmc_d})
        print(f"{point.temperature_K:6.0f} K  MD {md_d:.3e} ± {md_std:.1e}  kMC {kmc_d:.3e} ± {kmc_std:.1e}  "
              f"MD/kMC {md_d / kmc_d:.2f}", flush=True)
    (args.out / "comparison.json").write_text(json.dumps(
        {"host": args.host, "model": args.model, "cell": cell.get_chemical_formula(), "copies": args.copies,
         "production_ps": args.production_steps * 2.0 / 1000, "rows": rows,
         "md_caveats": [f"{c.code}: {c.message}" for c in md.caveats]}, indent=1, default=str))


if __name__ == "__main__":
    try:
        main()
    except SsbkitError as exc:  # bad input or a refused calculation: one line, exit code 2
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
