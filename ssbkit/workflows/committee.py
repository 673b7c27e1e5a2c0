"""Committees of potentials: one quantity from several models, its spread, and where the models disagree.

A committee runs the same calculation with several models (``-m chgnet -m sevennet-0`` or
``committee_models("offline")``), records a model that fails with its reason and goes on with the
others, and summarises each scalar quantity as a ``CommitteeValue``: per-model values, mean, sample
standard deviation, min-max spread and a flag when the spread exceeds a stated threshold.
Qualitative disagreement (which site is the minimum, whether a hop exists, the sign of a reaction or
adsorption energy) is reported as a ``Caveat`` naming each model's answer.

The spread is a lower bound on the error, not an error bar: the offline models (CHGNet, SevenNet-0,
SevenNet-l3i5; CHGNet-r2SCAN started from CHGNet's MPtrj weights) share MPtrj (PBE/PBE+U) and its biases, among them soft surfaces and
barriers. Measured example: Li in bcc W, T-T hop, CHGNet 0.000 eV and SevenNet-0 0.056 eV (a spread of
0.06 eV) against 0.28 eV from DFT (Wang et al., Adv. Mater. 2025).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from ssbkit.errors import InputError, SsbkitError
from ssbkit.results import Caveat, Result

R = TypeVar("R")

#: Spread (max - min) above which a committee is flagged as disagreeing, per unit.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "eV": 0.05,          # barriers, reaction and adsorption energies
    "eV/atom": 0.025,    # formation and relaxed energies
    "J/m^2": 0.1,        # surface and adhesion energies
    "Å": 0.05,           # lattice parameters, distances
    "Å^3/atom": 0.5,     # volumes
    "V": 0.1,            # voltages vs Li/Li+
    "cm^2/s": math.nan,  # diffusivities: compared on a log scale, see log_spread
}

#: The committee models that ship with the default install: weights in the chgnet and sevenn wheels. Three are
#: trained on MPtrj (PBE/PBE+U); chgnet-r2scan is CHGNet transfer-learned to r2SCAN, a different functional, so
#: its absolute energies are on another scale (fine for barriers, relaxations, surface energies; not for
#: entries pooled with MP's).
OFFLINE_COMMITTEE: tuple[str, ...] = ("chgnet", "sevennet-0", "sevennet-l3i5", "chgnet-r2scan")

SPREAD_IS_A_LOWER_BOUND = ("the committee spread is a lower bound on the error: these models share their MPtrj "
                           "(PBE/PBE+U) training data and its biases, e.g. Li in bcc W: 0.00 and 0.06 eV from "
                           "CHGNet and SevenNet-0 against 0.28 eV from DFT")

CODE_MODELS_DISAGREE = "models-disagree"          # the spread of a quantity exceeds its threshold
CODE_QUALITATIVE = "models-disagree-qualitative"  # models give different answers to a yes/no or which-site question
CODE_MODEL_FAILED = "model-failed"                # a committee member failed; the others went on
CODE_LOWER_BOUND = "committee-spread-lower-bound"  # reminder that shared training data bias all members alike
CODE_MPTRJ_SOFTENING = "mptrj-softening"         # an MPtrj-trained model: surfaces and barriers come out soft
CODE_REFERENCE = "reference-difference"           # a published value is attached: the difference from it

MPTRJ_SOFTENING = ("universal potentials trained on MPtrj are known to underestimate surface energies and barriers "
                   "(softened potential energy surface; e.g. CHGNet W(110) 2.31 and Li(110) 0.32 J/m² against PBE "
                   "3.2-3.3 and 0.45-0.5 J/m²); treat these values as lower estimates")


def committee_models(selection: str | Sequence[str], *, functional: str | None = None) -> list[str]:
    """Model names of a committee: ``"offline"`` for every offline model, or a list of names.

    ``functional`` (e.g. "PBE/PBE+U", for entries pooled with the Materials Project's) keeps only the offline
    models whose energies reproduce that functional (``ModelCard.functional``).
    """
    if isinstance(selection, str):
        if selection == "offline":
            if functional is None:
                return list(OFFLINE_COMMITTEE)
            from ssbkit.potentials.registry import card

            return [name for name in OFFLINE_COMMITTEE if card(name).functional == functional]
        raise InputError(f"unknown committee {selection!r}; use 'offline' or name the models (-m A -m B)")
    names = list(dict.fromkeys(selection))
    if not names:
        raise InputError("a committee needs at least one model")
    return names


def trained_on_mptrj(calculator: object) -> bool:
    """Whether a calculator from ``ssbkit.potentials.load`` was trained on MPtrj (its card's ``training_data``)."""
    card = getattr(calculator, "ssbkit_card", None)
    return card is not None and "mptrj" in str(card.training_data).lower()


def mptrj_caveat(models: Sequence[str]) -> Caveat:
    """The ``mptrj-softening`` caveat for results computed with MODELS (all trained on MPtrj)."""
    return Caveat(CODE_MPTRJ_SOFTENING, f"{', '.join(models)}: {MPTRJ_SOFTENING}")


@dataclass
class ModelFailure(Result):
    """A committee member that could not finish, and why."""

    model: str
    reason: str


@dataclass
class CommitteeValue(Result):
    """One quantity from several models, in ``unit``: per-model values, mean, sample standard deviation,
    min and max, spread (max - min), and ``disagree`` when the spread exceeds ``threshold``."""

    quantity: str
    unit: str
    values: dict[str, float]
    n_models: int
    mean: float | None
    std: float | None
    minimum: float | None
    maximum: float | None
    spread: float | None
    threshold: float
    disagree: bool

    def summary(self, digits: int = 3) -> str:
        """One line, e.g. ``0.028 ± 0.040 eV (2 models, disagree)``."""
        if self.mean is None:
            return "n/a (no model finished)"
        if self.n_models == 1:
            return f"{self.mean:.{digits}f} {self.unit} (1 model)"
        verdict = ", disagree" if self.disagree else ""
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f} {self.unit} ({self.n_models} models{verdict})"


def committee_value(quantity: str, unit: str, values: Mapping[str, float | None],
                    threshold: float | None = None) -> CommitteeValue:
    """Summarise per-model values (None or non-finite values are left out) of one quantity."""
    finite = {model: float(v) for model, v in values.items() if v is not None and math.isfinite(float(v))}
    limit = DEFAULT_THRESHOLDS.get(unit, math.nan) if threshold is None else float(threshold)
    if not finite:
        return CommitteeValue(quantity, unit, {}, 0, None, None, None, None, None, limit, False)
    array = np.array(list(finite.values()))
    std = float(array.std(ddof=1)) if len(array) > 1 else 0.0
    spread = float(array.max() - array.min())
    return CommitteeValue(quantity=quantity, unit=unit, values=finite, n_models=len(finite),
                          mean=float(array.mean()), std=std, minimum=float(array.min()),
                          maximum=float(array.max()), spread=spread, threshold=limit,
                          disagree=bool(len(array) > 1 and math.isfinite(limit) and spread > limit))


def qualitative_caveat(question: str, answers: Mapping[str, str]) -> Caveat | None:
    """A caveat when models give different answers to ``question`` (e.g. "the stable site"), else None."""
    if len(set(answers.values())) < 2:
        return None
    named = ", ".join(f"{model}: {answer}" for model, answer in answers.items())
    return Caveat(CODE_QUALITATIVE, f"models disagree about {question} ({named})")


def spread_caveats(values: Sequence[CommitteeValue]) -> list[Caveat]:
    """One caveat per quantity whose spread exceeds its threshold, and the lower-bound reminder."""
    caveats = [Caveat(CODE_MODELS_DISAGREE,
                      f"{v.quantity}: models differ by {v.spread:.3g} {v.unit} (threshold {v.threshold:g} "
                      f"{v.unit}): " + ", ".join(f"{m} {x:.3f}" for m, x in v.values.items()))
               for v in values if v.disagree]
    if any(v.n_models > 1 for v in values):
        caveats.append(Caveat(CODE_LOWER_BOUND, SPREAD_IS_A_LOWER_BOUND))
    return caveats


class CommitteeResult(Result):
    """Mixin for committee results, dataclasses with a ``failures`` list of :class:`ModelFailure`."""

    failures: list[ModelFailure]

    @property
    def complete(self) -> bool:
        """True when every member finished."""
        return not self.failures


@dataclass
class CommitteeRun(CommitteeResult, Generic[R]):
    """Per-model results of one calculation, and the members that failed (with their reasons)."""

    results: dict[str, R]
    failures: list[ModelFailure] = field(default_factory=list)

    def failure_caveats(self) -> list[Caveat]:
        """One ``model-failed`` caveat per failed member."""
        return [Caveat(CODE_MODEL_FAILED, f"{f.model} failed: {f.reason}") for f in self.failures]


def run_committee(models: Sequence[str], calculate: Callable[[str], R],
                  on_failure: Callable[[str, Exception], None] | None = None) -> CommitteeRun[R]:
    """Run ``calculate(model)`` for every model; an ``SsbkitError`` (a model that cannot load, lacks an
    element, or whose calculation cannot go on) is recorded and the others go on."""
    run: CommitteeRun[R] = CommitteeRun(results={})
    for model in models:
        try:
            run.results[model] = calculate(model)
        except SsbkitError as exc:
            run.failures.append(ModelFailure(model, str(exc)))
            if on_failure is not None:
                on_failure(model, exc)
    return run
