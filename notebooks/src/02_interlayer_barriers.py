# %% [markdown]
# # 2. Anode interlayers: Li barriers in W and Mg with NEB, across models
#
# Thin metal interlayers between Li metal and a solid electrolyte spread Li plating evenly when Li
# moves quickly through them or over their surface. W is nearly immiscible with Li, so Li moves over
# its surface and interstitially through it; Mg alloys with Li, so Li also moves by vacancy exchange.
# This notebook computes climbing-image NEB barriers for such hops with the two offline universal
# potentials and compares them with each other and with published DFT barriers.
#
# **Models and data.** CHGNet 0.3.0 and SevenNet-0, both trained on the Materials Project
# trajectories (MPtrj, PBE/PBE+U) and shipped in their wheels, so everything runs offline. Hosts are
# built at experimental lattice constants (bcc W a = 3.165 Å, hcp Mg a = 3.209 Å, c = 5.211 Å) by
# `ssbkit.interfaces.structures.hop_studies`, which places the endpoints on sites found by ssbkit's site finder.
# The NEB relaxes the endpoints (fixed cell), interpolates with IDPP and runs a climbing-image band
# whose images are evaluated in one batched model call per iteration.
#
# **A production run would** use the `full=True` cells (5x5x5 W, 4x3x6 W(110) slab, larger Mg cells)
# so that the Li does not feel its periodic images, 5-7 images, `fmax=0.05` eV/Å, a GPU
# (`device="cuda"`), and a MACE model or DFT single points at the saddle to check the spread between
# universal potentials. With `SSBKIT_NOTEBOOK_QUICK=1` (the test suite's setting) the cells are small
# (3x3x3 W, 36-atom Mg), the band has 3 images and stops at 0.2 eV/Å, endpoints are relaxed to
# 0.05 eV/Å, and only two hops are run: barriers are then rough (a few 0.01 eV).

# %%
import os
from pathlib import Path

import pandas as pd

QUICK = os.environ.get("SSBKIT_NOTEBOOK_QUICK", "0") == "1"
OUT = Path("interlayer_barriers")
OUT.mkdir(exist_ok=True)
MODELS = ["chgnet", "sevennet-0"]
HOPS = ["w-bulk-tt", "mg-interstitial-c"] if QUICK else [
    "w-bulk-tt", "w110-long-bridge", "w110-short-bridge", "mg-interstitial-c", "mg-interstitial-basal",
    "mg-vacancy-basal"]
if QUICK:
    SETTINGS = dict(n_images=3, fmax=0.2, steps=40, endpoint_fmax=0.05)  # eV/Å
else:
    SETTINGS = dict(n_images=5, fmax=0.05, steps=500)
print(f"quick={QUICK}: hops {HOPS}, NEB settings {SETTINGS}")

# %% [markdown]
# ## The hops
#
# Each study gives relaxed-lattice endpoints, the index of the moving Li and, where one exists, a
# published DFT barrier.

# %%
from ssbkit.interfaces.structures.hop_studies import build_study

studies = {name: build_study(name, full=not QUICK) for name in HOPS}
pd.DataFrame([{"hop": s.name, "description": s.description, "atoms": len(s.initial),
               "published barrier (eV)": s.reference_barrier, "source": s.reference_source}
              for s in studies.values()]).set_index("hop")

# %% [markdown]
# ## NEB with each model
#
# `neb` returns the forward and backward barriers, the energy span (which matters when the path dips
# below its endpoints), the hop geometry, and warnings when an endpoint leaves its site or the band
# did not converge. With `output_dir` it writes the path (`neb_path.extxyz`) and the profile plot.
# When both endpoints relax into one site, the hop does not exist for that model and `neb` raises
# `CalculationError` saying so: CHGNet, for one, puts Li on W(110) at the long bridge rather than in
# the threefold hollow, so the hollow-to-hollow hop over the long bridge has no meaning for it.

# %%
from ssbkit.errors import CalculationError
from ssbkit.potentials import load
from ssbkit.workflows.neb import neb

results = {}
for model in MODELS:
    calculator = load(model, device="auto", task="neb")
    for name, study in studies.items():
        try:
            results[name, model] = neb(study.initial, study.final, calculator, moving_index=study.moving_index,
                                       output_dir=OUT / name / model, model=model, **SETTINGS)
        except CalculationError as exc:
            print(f"{name} ({model}): no barrier: {exc}")
            continue
        for warning in results[name, model].warnings:
            print(f"{name} ({model}): {warning}")

# %%
table = pd.DataFrame([{"hop": name, "model": model, "barrier (eV)": r.barrier_forward,
                       "energy span (eV)": r.energy_span, "hop length (Å)": r.hop.hop_distance,
                       "converged": r.converged, "NEB steps": r.steps}
                      for (name, model), r in results.items()])
barriers = table.pivot(index="hop", columns="model", values="barrier (eV)").reindex(index=HOPS, columns=MODELS)
barriers["spread (eV)"] = barriers[MODELS].max(axis=1) - barriers[MODELS].min(axis=1)
barriers["published (eV)"] = [studies[name].reference_barrier for name in barriers.index]
barriers.to_csv(OUT / "barriers.csv")
barriers

# %% [markdown]
# The spread between two models trained on the same data is only a lower bound on their error: they
# can agree with each other and still be far from DFT. For the tetrahedral hop in W both come out well
# below the published DFT barrier (0.28 eV); MPtrj-trained potentials are known to soften barriers,
# since their training set holds few configurations near saddle points. Check such numbers with DFT
# single points along the converged path, or fine-tune a model on them (`ssbkit potentials fit`),
# before ranking interlayers by them.
#
# ## Energy profiles

# %%
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, len(HOPS), figsize=(3.2 * len(HOPS), 3), squeeze=False)
for axis, name in zip(axes[0], HOPS):
    for model in (m for m in MODELS if (name, m) in results):
        r = results[name, model]
        axis.plot(r.reaction_coordinate, r.energies - r.energies[0], "o-", label=f"{model}: {r.barrier_forward:.2f} eV")
    if studies[name].reference_barrier is not None:
        axis.axhline(studies[name].reference_barrier, color="grey", ls="--", lw=1, label="published DFT")
    axis.set_title(name, fontsize=9)
    axis.set_xlabel("path (Å)")
    axis.legend(fontsize=7)
axes[0][0].set_ylabel("E - E(initial) (eV)")
fig.tight_layout()
fig.savefig(OUT / "neb_profiles.png", dpi=120)
print("saved", OUT / "neb_profiles.png", "and one neb_profile.png per hop and model under", OUT)
