"""Screening coating / interlayer candidates between an electrolyte and an electrode.

For every candidate: its energy above hull, its stability window vs Li/Li+, and its most negative reaction
energy (eV/atom, over mixing ratio) with the electrolyte and with the electrode, closed and, when a voltage
range is given, Li-open at both ends of it. The convex hulls are built once per chemical system within one
call, in numpy on pymatgen's own qhull input (``ssbkit.interfaces.hulls``), and shared by all candidates that
need them (candidates with the same elements, windows sharing ``candidate + Li``, the Li-open hulls of a system
at each voltage); the numbers, products and reactions equal those of
:func:`~ssbkit.interfaces.stability.stability_window` and :func:`~ssbkit.interfaces.reactions.reaction_profile`.

Ranking rule (best first):

1. candidates whose window covers the voltage range (when one is given) before those that do not;
2. then by the worst (most negative) of their reaction energies, least negative first;
3. then by energy above hull, lowest first (unknown last).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

from pymatgen.entries import Entry

from ssbkit.errors import InputError
from ssbkit.interfaces.entries import EntrySource
from ssbkit.interfaces.phases import PhaseDiagrams, check_voltage_range, elements_of, parse_formula
from ssbkit.interfaces.reactions import ReactionMinimum, reaction_minimum
from ssbkit.interfaces.stability import window_limits
from ssbkit.io import atomic_write, csv_text
from ssbkit.plotting import formula_label, image_path, save_figure
from ssbkit.results import Caveat, Result

NO_REACTION = "none: reacts with neither the electrolyte nor the electrode"  # all reaction energies zero
RANKING_RULE = ("window covers the voltage range first; then worst (most negative) reaction energy, least "
                "negative first; then energy above hull, lowest first")


@dataclass
class CandidateScore(Result):
    """One screened candidate. Energies in eV/atom; voltages in V vs Li/Li+; None where not computed."""

    rank: int
    candidate: str
    energy_above_hull_eV_per_atom: float | None
    reduction_limit_V: float
    oxidation_limit_V: float
    covers_voltage_range: bool | None
    electrolyte_closed_eV_per_atom: float
    electrode_closed_eV_per_atom: float
    electrolyte_open_low_eV_per_atom: float | None
    electrolyte_open_high_eV_per_atom: float | None
    electrode_open_low_eV_per_atom: float | None
    electrode_open_high_eV_per_atom: float | None
    electrolyte_worst_eV_per_atom: float  # most negative of the electrolyte columns
    electrode_worst_eV_per_atom: float  # most negative of the electrode columns
    worst_reaction_energy_eV_per_atom: float
    worst_reaction: str  # the candidate's own reaction, or NO_REACTION
    caveats: list[Caveat] = field(default_factory=list)  # of its window and its reactions, without repeats


@dataclass
class ScreeningResult(Result):
    """Ranked candidates (best first) and how many phase diagrams (hulls) were built for them."""

    electrolyte: str
    electrode: str
    source: str
    voltage_range_V: list[float] | None
    ranking_rule: str
    candidates: list[CandidateScore]
    phase_diagrams_built: int


def _worst(profiles: dict[str, ReactionMinimum | None]) -> tuple[float, str, ReactionMinimum]:
    """Most negative reaction energy with one partner, the label of its condition and its reaction."""
    return min(((p.min_reaction_energy_eV_per_atom, label, p) for label, p in profiles.items()
                if p is not None), key=lambda found: found[0])  # closed is always computed


def screen_candidates(candidates: Sequence[str], electrolyte: str, electrode: str,
                      entries: PhaseDiagrams | EntrySource | Iterable[Entry],
                      voltage_range: tuple[float, float] | None = None, *, progress: bool = False
                      ) -> ScreeningResult:
    """Screen and rank ``candidates`` (formulas) against ``electrolyte`` and ``electrode``.

    ``voltage_range``: (LO, HI) in V vs Li/Li+, finite, LO <= HI, within ``ssbkit.interfaces.phases.VOLTAGE_RANGE_V``.
    Candidates without an entry of their own are analysed as hypothetical phases (E_hull unknown)."""
    if not candidates:
        raise InputError("no candidates to screen")
    if voltage_range is not None:
        voltage_range = check_voltage_range(voltage_range)
    partners = {"electrolyte": parse_formula(electrolyte), "electrode": parse_formula(electrode)}
    seen: set[str] = set()
    for formula in candidates:
        composition = parse_formula(formula)
        for role, partner in partners.items():
            if composition.reduced_composition == partner.reduced_composition:
                raise InputError(f"candidate {formula} is the {role} itself")
        if composition.reduced_formula in seen:
            raise InputError(f"candidate {formula} is listed twice")
        seen.add(composition.reduced_formula)

    diagrams = PhaseDiagrams.of(entries)
    iterator: Iterable[str] = candidates
    if progress:
        from tqdm import tqdm

        iterator = tqdm(candidates, desc="screening", unit="candidate", disable=not sys.stderr.isatty())
    reduced_partners = {role: partner.reduced_composition for role, partner in partners.items()}
    scores = []
    for formula in iterator:
        composition = parse_formula(formula)
        window = window_limits(composition, diagrams)
        per_partner: dict[str, dict[str, ReactionMinimum | None]] = {}
        for role, partner in reduced_partners.items():
            open_to_li = voltage_range is not None and elements_of(partner) != {"Li"}  # Li metal: no Li-open
            per_partner[role] = {"closed": reaction_minimum(composition, partner, diagrams)} | {
                f"{end} ({voltage:g} V)": reaction_minimum(composition, partner, diagrams, voltage=voltage)
                if open_to_li else None
                for end, voltage in zip(("low", "high"), voltage_range or (0.0, 0.0), strict=True)}
        worst = {role: _worst(profiles) for role, profiles in per_partner.items()}
        overall_role = min(worst, key=lambda role: worst[role][0])
        worst_energy, worst_label, worst_profile = worst[overall_role]
        # at zero energy the lowest kink is a mixing end, whose "reaction" is a reactant's own decomposition
        worst_text = f"{worst_label}: {worst_profile.reaction}" if worst_energy < 0 else ""
        reactions = [p for profiles in per_partner.values() for p in profiles.values() if p is not None]

        def energy(role: str, key: str) -> float | None:
            profile = next((p for k, p in per_partner[role].items() if k.startswith(key)), None)
            return None if profile is None else profile.min_reaction_energy_eV_per_atom

        scores.append(CandidateScore(
            rank=0, candidate=window.formula,
            energy_above_hull_eV_per_atom=window.energy_above_hull_eV_per_atom,
            reduction_limit_V=window.reduction_limit_V, oxidation_limit_V=window.oxidation_limit_V,
            covers_voltage_range=None if voltage_range is None else window.covers(*voltage_range),
            electrolyte_closed_eV_per_atom=energy("electrolyte", "closed"),
            electrode_closed_eV_per_atom=energy("electrode", "closed"),
            electrolyte_open_low_eV_per_atom=energy("electrolyte", "low"),
            electrolyte_open_high_eV_per_atom=energy("electrolyte", "high"),
            electrode_open_low_eV_per_atom=energy("electrode", "low"),
            electrode_open_high_eV_per_atom=energy("electrode", "high"),
            electrolyte_worst_eV_per_atom=worst["electrolyte"][0],
            electrode_worst_eV_per_atom=worst["electrode"][0],
            worst_reaction_energy_eV_per_atom=worst_energy,
            worst_reaction=f"with {overall_role}, {worst_text}" if worst_text else NO_REACTION,
            caveats=list(dict.fromkeys(window.caveats + [caveat for p in reactions for caveat in p.caveats]))))

    def sort_key(score: CandidateScore) -> tuple:
        e_hull = score.energy_above_hull_eV_per_atom
        return (score.covers_voltage_range is False, -score.worst_reaction_energy_eV_per_atom,
                math.inf if e_hull is None else e_hull)

    scores.sort(key=sort_key)
    for rank, score in enumerate(scores, start=1):
        score.rank = rank
    return ScreeningResult(
        electrolyte=partners["electrolyte"].reduced_formula, electrode=partners["electrode"].reduced_formula,
        source=diagrams.source_name, voltage_range_V=None if voltage_range is None else list(voltage_range),
        ranking_rule=RANKING_RULE, candidates=scores, phase_diagrams_built=diagrams.builds)


def read_candidates(path: str | os.PathLike) -> list[str]:
    """Candidate formulas from a text file: one per line (or comma-separated); '#' starts a comment."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"candidates file {path} does not exist")
    formulas = []
    for line in path.read_text(encoding="utf-8").splitlines():
        formulas += [f.strip() for f in line.split("#")[0].split(",") if f.strip()]
    if not formulas:
        raise InputError(f"candidates file {path} lists no formulas")
    return formulas


def write_csv(result: ScreeningResult, path: str | os.PathLike) -> Path:
    """Write the ranked table as CSV, atomically (`ssbkit.io.atomic_write`); the caveats column holds their
    codes joined by ``;``."""
    names = [f.name for f in fields(CandidateScore)]
    rows = []
    for row in result.to_dict()["candidates"]:
        row["caveats"] = ";".join(dict.fromkeys(caveat["code"] for caveat in row["caveats"]))
        rows.append(["" if row[name] is None else row[name] for name in names])
    return atomic_write(Path(path), csv_text(names, rows))


def plot_screening(result: ScreeningResult, path: str | os.PathLike) -> Path:
    """Save a bar chart of each candidate's worst reaction energy (eV/atom; green: window covers the range)."""
    from matplotlib.figure import Figure

    path = image_path(path)
    rows = result.candidates
    fig = Figure(figsize=(6.4, 1.6 + 0.35 * len(rows)), layout="constrained")
    ax = fig.add_subplot()
    colours = ["tab:green" if r.covers_voltage_range is not False else "tab:red" for r in rows]
    energies = [r.worst_reaction_energy_eV_per_atom for r in rows]
    ax.barh(range(len(rows)), energies, color=colours)
    ax.set_yticks(range(len(rows)), [formula_label(r.candidate) for r in rows])
    for index, value in enumerate(energies):
        ax.annotate(f"{value:.3f}", (value, index), xytext=(-3, 0), textcoords="offset points", ha="right",
                    va="center", fontsize=7)
    ax.axvline(0.0, color="grey", lw=0.5)
    ax.set_xlim(min(energies + [0.0]) * 1.25 - 0.02, 0.02)
    ax.invert_yaxis()
    ax.set_xlabel("Worst reaction energy (eV/atom); green: window covers the range")
    range_text = "" if result.voltage_range_V is None else ", {:g}-{:g} V vs Li/Li$^+$".format(*result.voltage_range_V)
    ax.set_title(f"Coatings between {formula_label(result.electrolyte)} and {formula_label(result.electrode)}"
                 f"{range_text}", fontsize=10)
    return save_figure(fig, path, dpi=150)
