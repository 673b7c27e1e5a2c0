"""kMC against MD with the same model: Li self-diffusion by vacancies in bcc Li, at temperatures MD can reach.

The MD cell is the kinetics study's own 53-atom cell (3x3x3 cubic bcc Li, one vacancy), so the vacancy
fraction is fixed at c = 1/54 rather than the equilibrium exp(-E_f/kT) that ``ssbkit kinetics`` multiplies
in. The comparable kMC number is therefore f c D_v: the correlation factor f (0.727, bcc), c = 1/54, and the
vacancy's own diffusivity D_v from the kMC walker (the unscaled ``kmc`` run of the kinetics result, rates from
the NEB barrier and Vineyard prefactor). MD tracer D comes from kinisi (generalised least squares).
Writes ``kinetics.json``, ``md/diffusion.json`` and ``comparison.json`` to ``--out``.

    python examples/kmc_vs_md_bcc_li.py --out kmc_vs_md_li [--model chgnet] [--temperatures 300 350 400]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

from ssbkit.interfaces.structures.hop_studies import build_study
from ssbkit.potentials import load
from ssbkit.workflows.diffusion import diffusion, write_result
from ssbkit.workflows.kinetics import NAMED_HOSTS, kinetics, named_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("kmc_vs_md_li"))
    parser.add_argument("--model", default="chgnet")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[300.0, 350.0, 400.0])
    parser.add_argument("--production-steps", type=int, default=1500, help="MD production (2 fs steps).")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    args.out.mkdir(parents=True, exist_ok=True)
    calculator = load(args.model, device="cpu", task="md")

    began = time.perf_counter()
    system = named_system("li", "vacancy")
    rates = kinetics(system, calculator, temperatures=tuple(args.temperatures), model=args.model)
    (args.out / "kinetics.json").write_text(json.dumps(rates.to_dict(), indent=1, default=str))
    print(f"kinetics: {time.perf_counter() - began:.0f} s", flush=True)

    began = time.perf_counter()
    cell = build_study(NAMED_HOSTS["li"]["vacancy"][0]).initial
    md = diffusion(cell, calculator, args.temperatures, args.out / "md", timestep=2.0, equilibration_steps=250,
                   production_steps=args.production_steps, save_every=10)
    write_result(md, args.out / "md" / "diffusion.json")
    print(f"MD: {time.perf_counter() - began:.0f} s", flush=True)

    sites = len(cell) + 1
    rows = []
    for temperature, walker, point in zip(rates.temperatures_K, rates.kmc, md.per_temperature, strict=True):
        expected = rates.correlation_factor * walker.diffusivity_cm2_per_s / sites
        rows.append({"temperature_K": temperature, "md_D_cm2_per_s": point.diffusivity,
                     "md_D_std_cm2_per_s": point.diffusivity_std, "kmc_fixed_vacancy_D_cm2_per_s": expected,
                     "kmc_vacancy_D_cm2_per_s": walker.diffusivity_cm2_per_s, "md_over_kmc": point.diffusivity / expected,
                     "md_hops_seen": point.hops_seen, "md_caveats": [c.code for c in point.caveats]})
        print(f"{temperature:6.0f} K  MD {point.diffusivity:.3e} ± {point.diffusivity_std:.1e}  "
              f"kMC f c D_v {expected:.3e}  MD/kMC {point.diffusivity / expected:.2f}", flush=True)
    (args.out / "comparison.json").write_text(json.dumps(
        {"model": args.model, "cell_atoms": len(cell), "vacancy_fraction": 1 / sites,
         "correlation_factor": rates.correlation_factor,
         "hops": [{"barrier_eV": h.barrier_eV, "prefactor_Hz": h.prefactor_Hz} for h in rates.hops],
         "production_ps": args.production_steps * 2.0 / 1000, "rows": rows}, indent=1, default=str))


if __name__ == "__main__":
    main()
