# %% [markdown]
# # 1. Coating screening: argyrodite electrolyte, Ni-rich cathode, Li anode
#
# A sulfide electrolyte such as the argyrodite Li6PS5Cl conducts Li+ well but is stable only over a
# narrow voltage range: it is oxidised at a layered Ni-rich cathode and reduced at Li metal. A thin
# coating between them must itself be stable over the operating voltages and react little with
# both neighbours. This notebook computes
#
# 1. stability windows (V vs Li/Li+) from Li grand-potential phase diagrams,
# 2. reaction-energy profiles of electrolyte | cathode and electrolyte | coating pairs,
# 3. a ranked table of cathode coatings and of anode interlayers, with plots.
#
# **Data and model.** Everything runs offline:
#
# * the `experimental` entry source: standard formation enthalpies (298 K) bundled with pymatgen,
#   elements at zero; it has binary and common ternary oxides and halides but no
#   thiophosphates and no LiNiO2;
# * for the phases it lacks (Li6PS5Cl, LiNiO2, Li3PS4, Li3P, Li3PO4), CHGNet 0.3.0 energies of
#   literature structures from ssbkit's reference library, relaxed (cell and positions) with CHGNet
#   and turned into formation energies against the Materials Project's elemental ground states;
#   they enter as *user entries* (`file:` source) next to the experimental ones. CHGNet's formation
#   energies agree with experiment to about 0.1 eV/atom, so mixing them is a screening-level
#   approximation; energies within ~0.05 eV/atom of each other are not resolved.
#
# LiNiO2 stands for the Ni-rich layered cathode (NMC811, NCA) since it is the end member they approach.
#
# **A production run would** use `--source mp` (Materials Project GGA/GGA+U entries with MP2020
# corrections; set `MP_API_KEY`, or fill the offline cache once with
# `ssbkit entries prefetch Li-P-S-Cl-Ni-O`), which covers thousands of phases including the
# delithiated cathode compositions, relax library structures with `fmax=0.05` eV/Å, screen a long
# candidate list (`--candidates-file`), and use the real cathode composition. With
# `SSBKIT_NOTEBOOK_QUICK=1` (the test suite's setting) relaxations stop at 1 eV/Å, which leaves the
# literature structures nearly as they are, and fewer candidates are screened.

# %%
import os
from pathlib import Path

import pandas as pd

QUICK = os.environ.get("SSBKIT_NOTEBOOK_QUICK", "0") == "1"
OUT = Path("coating_screening")
OUT.mkdir(exist_ok=True)
FMAX = 1.0 if QUICK else 0.05  # eV/Å, relaxation threshold for the CHGNet entries
ELECTROLYTE, CATHODE, ANODE = "Li6PS5Cl", "LiNiO2", "Li"
CATHODE_RANGE = (2.8, 4.3)  # V vs Li/Li+, a Ni-rich cathode's operating range
ANODE_RANGE = (0.0, 0.0)  # an interlayer on Li metal sits at 0 V
print(f"quick={QUICK}; relaxations to {FMAX} eV/Å; outputs in {OUT.resolve()}")

# %% [markdown]
# ## Entries
#
# Relax the five missing phases with CHGNet. Relaxations are cached in the ssbkit cache directory,
# so running this cell again is instant.

# %%
from ssbkit.interfaces.entries import parse_source, save_entries
from ssbkit.interfaces.structures.references import load_reference_structure
from ssbkit.workflows.ml_entries import entries_from_structures, formation_energy_entries
from ssbkit.potentials import load

chgnet = load("chgnet", device="auto")
missing = ["Li6PS5Cl", "LiNiO2", "Li3PS4", "Li3P", "Li3PO4"]
computed = entries_from_structures([load_reference_structure(name) for name in missing], chgnet,
                                   names=missing, fmax=FMAX)
save_entries(formation_energy_entries(computed), OUT / "chgnet_entries.json")
pd.DataFrame({"phase": missing, "atoms in cell": [len(e.structure) for e in computed],
              "formation energy (eV/atom)": [e.data["formation_energy_per_atom"] for e in computed],
              "relax steps": [e.data["relax_steps"] for e in computed]})

# %% [markdown]
# The pooled source: experimental enthalpies plus these user entries. `PhaseDiagrams` builds each
# phase diagram once and shares it between all the calls below.

# %%
from ssbkit.interfaces.phases import PhaseDiagrams

source = parse_source(f"experimental,file:{OUT / 'chgnet_entries.json'}")
diagrams = PhaseDiagrams(source)
print(source.name)

# %% [markdown]
# ## Stability windows
#
# The window is the voltage range over which a phase neither takes up nor releases Li
# (Richards et al., Chem. Mater. 28, 266 (2016); Zhu, He, Mo, ACS Appl. Mater. Interfaces 7, 23685
# (2015) find 1.71-2.01 V for Li6PS5Cl from MP data).

# %%
from ssbkit.interfaces.stability import plot_window, stability_window

materials = [ELECTROLYTE, CATHODE, "Li3PS4", "LiNbO3", "Li3PO4", "Li2ZrO3", "LiF", "Li3N"]
windows = {formula: stability_window(formula, diagrams) for formula in materials}
pd.DataFrame([{"phase": w.formula, "reduced below (V)": w.reduction_limit_V,
               "oxidised above (V)": w.oxidation_limit_V, "E_hull (eV/atom)": w.energy_above_hull_eV_per_atom,
               "oxidation products": " + ".join(w.oxidation_products)} for w in windows.values()])

# %%
argyrodite = windows[ELECTROLYTE]
plot_window(argyrodite, OUT / "window_Li6PS5Cl.png")
print(f"at 0 V: {' + '.join(argyrodite.profile[0].products)}; {argyrodite.energy_above_hull_eV_per_atom:.3f} eV/atom "
      f"above the hull of {' + '.join(argyrodite.hull_decomposition)}")

# %% [markdown]
# The argyrodite's window sits far below the cathode's operating range, and at 0 V it is reduced to
# Li2S + Li3P + LiCl: it needs protection on both sides. (It lies a few tens of meV/atom above the
# hull of Li3PS4 + Li2S + LiCl, as in MP; it is stabilised by configurational entropy at synthesis.)
#
# ## Reaction-energy profiles
#
# How much energy the electrolyte | cathode contact releases, against the mixing ratio x (atomic
# fraction of the first reactant): closed, and open to Li at the top of charge.

# %%
from ssbkit.interfaces.reactions import plot_reaction, reaction_profile

direct = reaction_profile(ELECTROLYTE, CATHODE, diagrams)
charged = reaction_profile(ELECTROLYTE, CATHODE, diagrams, voltage=CATHODE_RANGE[1])
coated = reaction_profile("LiNbO3", ELECTROLYTE, diagrams)
for profile in (direct, charged, coated):
    where = "closed" if profile.voltage_V is None else f"Li-open at {profile.voltage_V} V"
    print(f"{' | '.join(profile.reactants)} ({where}): {profile.min_reaction_energy_eV_per_atom:.3f} eV/atom "
          f"at x = {profile.mixing_ratio:.2f}\n    {profile.reaction}")
plot_reaction(direct, OUT / "reaction_Li6PS5Cl_LiNiO2.png")
plot_reaction(coated, OUT / "reaction_LiNbO3_Li6PS5Cl.png");

# %% [markdown]
# ## Ranking cathode coatings
#
# Each candidate's window must cover the cathode range; among those, the one whose worst reaction
# (closed and Li-open at both ends of the range, with the electrolyte and with the cathode) releases
# the least energy ranks first.

# %%
from ssbkit.interfaces.screening import plot_screening, screen_candidates, write_csv

cathode_candidates = ["LiNbO3", "LiTaO3", "Li3PO4", "Li2SiO3", "Li2ZrO3", "LiAlO2", "LiBO2"]
if QUICK:
    cathode_candidates = cathode_candidates[:4]
cathode_side = screen_candidates(cathode_candidates, ELECTROLYTE, CATHODE, diagrams, CATHODE_RANGE)
write_csv(cathode_side, OUT / "cathode_coatings.csv")
plot_screening(cathode_side, OUT / "cathode_coatings.png")


def ranking(result):
    return pd.DataFrame([{"rank": c.rank, "candidate": c.candidate, "window (V)":
                          f"{c.reduction_limit_V:.2f}-{c.oxidation_limit_V:.2f}", "covers": c.covers_voltage_range,
                          "vs electrolyte (eV/atom)": c.electrolyte_worst_eV_per_atom,
                          "vs electrode (eV/atom)": c.electrode_worst_eV_per_atom,
                          "worst reaction": c.worst_reaction} for c in result.candidates]).set_index("rank")


ranking(cathode_side)

# %% [markdown]
# LiNbO3, the coating used in most argyrodite | NMC cells, comes out on top: its window reaches past
# 4.3 V, and its worst reaction, with the electrolyte at 4.3 V, is the electrolyte's own oxidation.
#
# ## Ranking anode interlayers
#
# On Li metal the interlayer must be stable at 0 V (window down to 0 V) and not react with the
# electrolyte.

# %%
anode_candidates = ["Li3N", "LiF", "Li2O", "LiI", "LiCl", "Li3P", "Li2S"]
if QUICK:
    anode_candidates = anode_candidates[:4]
anode_side = screen_candidates(anode_candidates, ELECTROLYTE, ANODE, diagrams, ANODE_RANGE)
write_csv(anode_side, OUT / "anode_interlayers.csv")
plot_screening(anode_side, OUT / "anode_interlayers.png")
ranking(anode_side)

# %% [markdown]
# The halides, being decomposition products of the electrolyte, do not react with it: their only
# "reaction" is the argyrodite's own metastability. Li2O, Li3P and Li3N are stable on Li but react with
# the electrolyte (to Li2S and LiCl with Li3PO4, P or P3N5).
#
# ## Windows against operating ranges

# %%
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

names = list(windows)
fig, ax = plt.subplots(figsize=(6, 0.5 + 0.35 * len(names)))
for row, name in enumerate(names):
    low, high = windows[name].reduction_limit_V, min(windows[name].oxidation_limit_V, 6.0)
    ax.barh(row, high - low, left=low, color="tab:blue")
ax.axvspan(*CATHODE_RANGE, color="tab:red", alpha=0.15, label="cathode range")
ax.axvline(0.0, color="tab:green", lw=3, label="Li metal")
ax.set_yticks(range(len(names)), names)
ax.invert_yaxis()
ax.set_xlim(-0.1, 6.0)
ax.set_xlabel("Stability window (V vs Li/Li+)")
ax.legend(fontsize=8, loc="upper right")
fig.tight_layout()
fig.savefig(OUT / "windows.png", dpi=120)
print(f"{diagrams.builds} phase diagrams built; files: {sorted(p.name for p in OUT.iterdir())}")
