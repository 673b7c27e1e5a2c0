"""Stability windows and reaction energies from the ML-potential entries of several models.

A window computed from ``mlip:`` entries depends on the model that relaxed the structures. Run with a
committee (``-m chgnet -m sevennet-0`` or ``--committee offline`` on ``ssbkit window``/``react``), every
``mlip:`` part of the source is relaxed by each model in turn, and the limits, E_hull and reaction
energies come with their spread (``ssbkit.workflows.committee``), each model's window or profile, and
the caveats of all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ssbkit.errors import InputError
from ssbkit.interfaces.entries import SourceOptions, parse_source
from ssbkit.interfaces.reactions import ReactionProfile, reaction_profile
from ssbkit.interfaces.stability import StabilityWindow, stability_window
from ssbkit.results import Caveat
from ssbkit.workflows.committee import (
    CommitteeResult,
    CommitteeRun,
    CommitteeValue,
    ModelFailure,
    committee_value,
    qualitative_caveat,
    run_committee,
    spread_caveats,
)

#: Below this reaction energy (eV/atom) two phases count as reacting, for the "do they react" question.
REACTS_BELOW_EV_PER_ATOM = -0.001


def source_for_model(source: str, model: str) -> str:
    """``source`` with every ``mlip:`` part relaxed by ``model`` (a model already named there is replaced);
    InputError when there is no ``mlip:`` part, since every model would then give the same answer."""
    parts = [p.strip() for p in source.split(",") if p.strip()]
    if not any(part.startswith("mlip:") for part in parts):
        raise InputError(f"a model committee needs ML-potential entries in the source (mlip:PATH); {source!r} "
                         "has none, so every model would give the same answer")
    for number, part in enumerate(parts):
        if part.startswith("mlip:"):
            named, _, path = part.removeprefix("mlip:").partition(":")
            parts[number] = f"mlip:{model}:{path or named}"
    return ",".join(parts)


def _caveats(run: CommitteeRun[Any], values: Sequence[CommitteeValue]) -> list[Caveat]:
    """Failures, spreads, and every member's own caveats (each once)."""
    own = dict.fromkeys(caveat for result in run.results.values() for caveat in result.caveats)
    return run.failure_caveats() + spread_caveats(values) + list(own)


def _run(models: Sequence[str], source: str, options: SourceOptions | None,
         calculate: Callable[[Any], Any]) -> CommitteeRun[Any]:
    source_for_model(source, models[0] if models else "")  # refuse a source without mlip: before any relaxation
    return run_committee(list(models), lambda model: calculate(parse_source(source_for_model(source, model),
                                                                            options)))


@dataclass
class WindowCommitteeResult(CommitteeResult):
    """A stability window (V vs Li/Li+) per model and the committee's limits and E_hull (eV/atom)."""

    formula: str
    models: list[str]
    windows: dict[str, StabilityWindow]
    failures: list[ModelFailure]
    reduction_limit_V: CommitteeValue
    oxidation_limit_V: CommitteeValue
    energy_above_hull_eV_per_atom: CommitteeValue
    caveats: list[Caveat] = field(default_factory=list)


def window_committee(formula: str, source: str, models: Sequence[str], options: SourceOptions | None = None,
                     *, hypothetical: bool = False, threshold_V: float | None = None) -> WindowCommitteeResult:
    """The window of ``formula`` from ``source`` with its ``mlip:`` entries relaxed by each model.

    ``threshold_V``: the spread of a limit above which the models are said to disagree (default 0.1 V).
    """
    run = _run(models, source, options, lambda entries: stability_window(formula, entries,
                                                                         hypothetical=hypothetical))
    windows = run.results
    reduction = committee_value("reduction limit", "V", {m: w.reduction_limit_V for m, w in windows.items()},
                                threshold_V)
    oxidation = committee_value("oxidation limit", "V", {m: w.oxidation_limit_V for m, w in windows.items()},
                                threshold_V)
    hull = committee_value("energy above hull", "eV/atom",
                           {m: w.energy_above_hull_eV_per_atom for m, w in windows.items()})
    return WindowCommitteeResult(formula=formula, models=list(models), windows=windows, failures=run.failures,
                                 reduction_limit_V=reduction, oxidation_limit_V=oxidation,
                                 energy_above_hull_eV_per_atom=hull,
                                 caveats=_caveats(run, [reduction, oxidation, hull]))


@dataclass
class ReactionCommitteeResult(CommitteeResult):
    """A reaction profile per model and the committee's most negative reaction energy (eV/atom)."""

    reactants: list[str]
    models: list[str]
    profiles: dict[str, ReactionProfile]
    failures: list[ModelFailure]
    min_reaction_energy_eV_per_atom: CommitteeValue
    reacts: dict[str, bool]
    caveats: list[Caveat] = field(default_factory=list)


def reaction_committee(reactant_a: str, reactant_b: str, source: str, models: Sequence[str],
                       options: SourceOptions | None = None, *, voltage: float | None = None,
                       threshold: float | None = None) -> ReactionCommitteeResult:
    """The reaction profile of A + B (closed, or Li-open at ``voltage`` V) with each model's entries; a
    caveat names the models when they disagree about whether the two phases react at all."""
    run = _run(models, source, options, lambda entries: reaction_profile(reactant_a, reactant_b, entries,
                                                                         voltage=voltage))
    profiles = run.results
    energy = committee_value("reaction energy", "eV/atom",
                             {m: p.min_reaction_energy_eV_per_atom for m, p in profiles.items()}, threshold)
    reacts = {m: p.min_reaction_energy_eV_per_atom < REACTS_BELOW_EV_PER_ATOM for m, p in profiles.items()}
    caveats = _caveats(run, [energy])
    if (caveat := qualitative_caveat("whether the phases react",
                                     {m: "yes" if r else "no" for m, r in reacts.items()})) is not None:
        caveats.append(caveat)
    return ReactionCommitteeResult(reactants=[reactant_a, reactant_b], models=list(models), profiles=profiles,
                                   failures=run.failures, min_reaction_energy_eV_per_atom=energy, reacts=reacts,
                                   caveats=caveats)
