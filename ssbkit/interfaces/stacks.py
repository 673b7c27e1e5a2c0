"""Whole-cell stacks: every interface of a layered cell at the Li potential it sees.

Layers run from anode to cathode. Potentials are V vs Li/Li+. Each layer has a potential: the anode's for the
first layer, the cathode's for the last (the anode's when no cathode potential is given), the one the user gives
for a layer in between, else the anode's. The interface between layers ``i`` and ``i + 1`` sees the potential
of layer ``i + 1`` when that layer is the cathode (with a cathode potential given) or has a potential of its
own, else the potential of layer ``i``.

At each interface two reactions are reported (:func:`~ssbkit.interfaces.reactions.reaction_profile`): the
chemical one (closed system) and the electrochemical one (open to Li at the interface's potential). The
electrochemical reaction needs electrons at the interface, so the stack implies it only when one of the two
layers conducts electrons: an elemental metal or all-metal alloy, or a layer holding an electronic-conductor
additive (carbon in a composite cathode: the triple-phase boundary). A pure Li layer is the reservoir itself:
its interfaces react in the closed system only.

The predicted products are classified by electronic character (``insulating`` for a band gap >= 1 eV,
``semiconducting`` below, ``metallic`` for a zero gap) and Li-ion conduction (``conducts``, ``blocks``,
``unknown``). The band gap comes from, in this order: the product table (``ssbkit/data/interphase_properties.json``
with sourced values, updated by an optional user file with the same keys), the Materials Project
(:class:`~ssbkit.interfaces.band_gaps.MPBandGaps`, cached; only when one is passed), the rule that elemental
metals and all-metal alloys are metallic; else the character is ``unknown``. Li conduction comes from the table
only. The interphase they form is ``passivating`` when every product
is insulating (its growth stops), ``mixed-conducting`` when some product conducts electrons and some product
conducts Li (it keeps growing), ``not-passivating`` when some product conducts electrons but none is known to
conduct Li (it does not block electrons; whether it grows depends on ion transport the table does not know),
``unknown`` otherwise and ``none`` when the layers do not react.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pymatgen.core import Element
from pymatgen.entries import Entry

from ssbkit.errors import DataError, InputError
from ssbkit.interfaces.band_gaps import BandGap, MPBandGaps
from ssbkit.interfaces.entries import EntrySource
from ssbkit.interfaces.phases import PhaseDiagrams, check_voltage, check_voltage_range, elements_of, parse_formula
from ssbkit.interfaces.reactions import ReactionProfile, reaction_profile
from ssbkit.interfaces.stability import stability_window
from ssbkit.io import atomic_write, csv_text
from ssbkit.plotting import formula_label, image_path, save_figure
from ssbkit.results import Caveat, Result

INSULATING_GAP_EV = 1.0  # band gap (eV) from which a product counts as an electronic insulator
LI_CONDUCTION = ("conducts", "blocks", "unknown")
PASSIVATING, MIXED_CONDUCTING, UNKNOWN, NO_INTERPHASE = "passivating", "mixed-conducting", "unknown", "none"
NOT_PASSIVATING = "not-passivating"
CLOSED, LI_OPEN = "closed", "Li-open"
UNKNOWN_CHARACTER = "unknown-character"  # caveat: some product has no known band gap
PROPERTY_KEYS = ("band_gap_eV", "band_gap_source", "li_conduction", "li_conduction_source")


@dataclass
class InterphaseProduct(Result):
    """One reaction product with its electronic character (band gap in eV) and Li-ion conduction."""

    formula: str
    electronic: str  # insulating, semiconducting, metallic or unknown
    band_gap_eV: float | None
    li_conduction: str  # conducts, blocks or unknown
    source: str  # where the electronic character and the Li conduction come from


@dataclass
class InterfaceReaction(Result):
    """The most negative reaction at one interface (eV/atom, over mixing ratio), closed or Li-open."""

    mode: str  # closed or Li-open
    voltage_V: float | None  # V vs Li/Li+ for Li-open; None for closed
    energy_eV_per_atom: float
    mixing_ratio: float  # atomic fraction of the anode-side layer
    reaction: str
    products: list[InterphaseProduct]  # without the Li reservoir of a Li-open reaction
    interphase: str  # passivating, mixed-conducting, not-passivating, unknown or none (no reaction)
    caveats: list[Caveat] = field(default_factory=list)


@dataclass
class StackInterface(Result):
    """The interface between layers ``index`` and ``index + 1``: both reactions and the one the stack implies."""

    index: int
    anode_side: str
    cathode_side: str
    potential_V: float  # V vs Li/Li+
    closed: InterfaceReaction
    li_open: InterfaceReaction | None  # None next to a pure Li layer (the Li reservoir itself)
    implied: str  # closed or Li-open: Li-open when a layer at the interface conducts electrons
    triple_phase_boundary: bool  # Li-open implied only because of an electronic-conductor additive

    @property
    def implied_reaction(self) -> InterfaceReaction:
        """The reaction the stack implies at this interface."""
        return self.li_open if self.implied == LI_OPEN and self.li_open is not None else self.closed


@dataclass
class LayerCheck(Result):
    """One layer's own stability window (V vs Li/Li+) against the potentials it sees."""

    index: int
    formula: str
    role: str  # anode, interlayer or cathode (electrodes exchange Li by design)
    potential_V: float
    seen_min_V: float
    seen_max_V: float
    reduction_limit_V: float | None  # None for pure Li (the reference electrode)
    oxidation_limit_V: float | None  # inf (null in JSON) when it never releases Li
    covers: bool | None  # whether the window covers [seen_min_V, seen_max_V]; None for pure Li
    additives: list[str]
    electronic_conductor: bool  # all-metal layer or one holding an electronic-conductor additive
    caveats: list[Caveat] = field(default_factory=list)


@dataclass
class StackReport(Result):
    """Every interface and layer of a stack, anode first."""

    layers: list[str]
    source: str
    anode_potential_V: float
    cathode_potential_V: float | None
    operating_window_V: list[float] | None
    layer_checks: list[LayerCheck]
    interfaces: list[StackInterface]
    properties_source: str
    band_gaps_source: str  # where band gaps missing from the product table were looked up
    caveats: list[Caveat] = field(default_factory=list)  # every caveat of the stack, without repeats


def load_interphase_properties(path: str | os.PathLike | None = None) -> dict[str, dict]:
    """Band gaps and Li conduction per product (reduced formula): the shipped table, updated with ``path``'s
    (a JSON file ``{"products": {formula: {band_gap_eV, band_gap_source, li_conduction,
    li_conduction_source}}}``). InputError for an unreadable or malformed user file."""
    shipped = json.loads(resources.files("ssbkit.data").joinpath("interphase_properties.json").read_text("utf-8"))
    table = _property_table(shipped, "the shipped interphase table")
    if path is not None:
        path = Path(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"properties file {path} is not readable JSON: {exc}") from exc
        table.update(_property_table(document, f"properties file {path}"))
    return table


def _property_table(document: object, what: str) -> dict[str, dict]:
    """The checked ``products`` mapping of a properties document, keyed by reduced formula."""
    products = document.get("products") if isinstance(document, dict) else None
    if not isinstance(products, dict):
        raise InputError(f"{what} needs a 'products' object mapping formulas to {', '.join(PROPERTY_KEYS)}")
    table = {}
    for formula, row in products.items():
        if not isinstance(row, dict) or set(row) - set(PROPERTY_KEYS):
            raise InputError(f"{what}: {formula!r} must be an object with keys among {', '.join(PROPERTY_KEYS)}")
        gap = row.get("band_gap_eV")
        if gap is not None and (isinstance(gap, bool) or not isinstance(gap, (int, float)) or not gap >= 0
                                or not math.isfinite(gap)):
            raise InputError(f"{what}: band_gap_eV of {formula} must be a number >= 0 (eV) or null, got {gap!r}")
        if row.get("li_conduction", "unknown") not in LI_CONDUCTION:
            raise InputError(f"{what}: li_conduction of {formula} must be one of {', '.join(LI_CONDUCTION)}")
        table[parse_formula(formula).reduced_formula] = row
    return table


def _all_metal(formula: str) -> bool:
    return all(Element(symbol).is_metal for symbol in elements_of(parse_formula(formula)))


def electronic_character(band_gap_eV: float) -> str:
    """``metallic`` for a zero gap, ``semiconducting`` below ``INSULATING_GAP_EV``, else ``insulating``."""
    if band_gap_eV <= 0:
        return "metallic"
    return "insulating" if band_gap_eV >= INSULATING_GAP_EV else "semiconducting"


def product_character(formula: str, properties: Mapping[str, dict],
                      band_gap: BandGap | None = None) -> InterphaseProduct:
    """Electronic character and Li conduction of one product: the band gap from ``properties``
    (:func:`load_interphase_properties`), else from ``band_gap`` (the Materials Project's), else metallic for
    elemental metals and all-metal alloys, else unknown."""
    reduced = parse_formula(formula).reduced_formula
    row = properties.get(reduced, {})
    gap = row.get("band_gap_eV")
    if gap is not None:
        electronic = electronic_character(gap)
        sources = [f"band gap: {row.get('band_gap_source') or 'no source given'}"]
    elif band_gap is not None and band_gap.known:
        gap = band_gap.band_gap_eV
        electronic = electronic_character(gap)
        sources = [f"band gap: {band_gap.source}"]
    elif _all_metal(reduced):
        electronic = "metallic"
        sources = ["metallic: elemental metal or all-metal alloy"]
    else:
        electronic = "unknown"
        sources = [f"band gap {band_gap.source if band_gap is not None else 'unknown: not in the table'}"]
    li_conduction = row.get("li_conduction", "unknown")
    if li_conduction != "unknown":
        sources.append(f"Li conduction: {row.get('li_conduction_source') or 'no source given'}")
    return InterphaseProduct(formula=reduced, electronic=electronic, band_gap_eV=None if gap is None else float(gap),
                             li_conduction=li_conduction, source="; ".join(sources) or "not in the table")


def interphase_character(products: Sequence[InterphaseProduct]) -> str:
    """``mixed-conducting`` if some product conducts electrons (metallic or semiconducting) and some product
    conducts Li; ``not-passivating`` if some product conducts electrons and none is known to conduct Li;
    ``passivating`` if every product is insulating; else ``unknown`` (``none``: no products)."""
    if not products:
        return NO_INTERPHASE
    if any(p.electronic in ("metallic", "semiconducting") for p in products):
        return MIXED_CONDUCTING if any(p.li_conduction == "conducts" for p in products) else NOT_PASSIVATING
    if all(p.electronic == "insulating" for p in products):
        return PASSIVATING
    return UNKNOWN


def _product_formulas(profile: ReactionProfile) -> list[str]:
    """Products of a reaction that releases energy, without the Li reservoir of a Li-open one."""
    if profile.min_reaction_energy_eV_per_atom >= 0:
        return []
    return [p for p in profile.products if not (profile.voltage_V is not None and p == "Li")]


def _interface_reaction(profile: ReactionProfile, properties: Mapping[str, dict],
                        gaps: Mapping[str, BandGap]) -> InterfaceReaction:
    reacts = profile.min_reaction_energy_eV_per_atom < 0
    products = [product_character(p, properties, gaps.get(parse_formula(p).reduced_formula))
                for p in _product_formulas(profile)]
    return InterfaceReaction(
        mode=CLOSED if profile.voltage_V is None else LI_OPEN, voltage_V=profile.voltage_V,
        energy_eV_per_atom=profile.min_reaction_energy_eV_per_atom, mixing_ratio=round(profile.mixing_ratio, 12),
        reaction=profile.reaction if reacts else "no reaction", products=products,
        interphase=interphase_character(products), caveats=list(profile.caveats))


def _layer_potentials(count: int, anode: float, cathode: float | None,
                      given: Mapping[int, float]) -> list[float]:
    potentials = [anode] * count
    if cathode is not None:
        potentials[-1] = cathode
    for index, voltage in given.items():
        potentials[index] = voltage
    return potentials


def _check_inputs(layers: Sequence[str], anode: float, cathode: float | None,
                  layer_potentials: Mapping[int, float], operating_window: Sequence[float] | None,
                  additives: Mapping[int, Sequence[str]]) -> tuple[float, float | None, dict[int, float],
                                                                      tuple[float, float] | None]:
    if len(layers) < 2:
        raise InputError(f"a stack needs at least 2 layers (anode to cathode), got {len(layers)}")
    for index, formula in enumerate(layers):
        try:
            parse_formula(formula)
        except InputError as exc:
            raise InputError(f"layer {index} ({formula}): {exc}") from None
    for index in range(len(layers) - 1):
        if parse_formula(layers[index]).reduced_composition == parse_formula(layers[index + 1]).reduced_composition:
            raise InputError(f"layers {index} and {index + 1} are both {layers[index]}: merge them into one layer")
    anode = check_voltage(anode, "anode potential")
    if cathode is not None:
        cathode = check_voltage(cathode, "cathode potential")
    window = None
    if operating_window is not None:
        window = check_voltage_range(operating_window, "operating window")
        if cathode is None:
            cathode = window[1]
    if cathode is not None and anode > cathode:
        raise InputError(f"anode potential {anode:g} V is above the cathode potential {cathode:g} V vs Li/Li+")
    checked = {}
    for index, voltage in layer_potentials.items():
        if not isinstance(index, int) or not 0 < index < len(layers) - 1:
            raise InputError(f"layer potentials are for layers between the electrodes (1..{len(layers) - 2}), "
                             f"got layer {index!r}")
        checked[index] = check_voltage(voltage, f"potential of layer {index} ({layers[index]})")
    for index, names in additives.items():
        if not isinstance(index, int) or not 0 <= index < len(layers):
            raise InputError(f"additives at layer {index!r}: the stack has layers 0..{len(layers) - 1}")
        if names and _all_metal(layers[index]):
            raise InputError(f"layer {index} ({layers[index]}) is a metal and conducts electrons already: an "
                             f"electronic-conductor additive ({', '.join(names)}) cannot apply there")
        for name in names:
            try:
                parse_formula(name)
            except InputError as exc:
                raise InputError(f"additive at layer {index} ({layers[index]}): {exc}") from None
    return anode, cathode, checked, window


def _check_placeable(layers: Sequence[str], diagrams: PhaseDiagrams) -> None:
    """InputError naming the layer unless the entries hold its elements and a phase of its composition."""
    for index, formula in enumerate(layers):
        composition = parse_formula(formula)
        try:
            diagram = diagrams.closed(elements_of(composition))
        except DataError as exc:
            raise InputError(f"layer {index} ({formula}): {exc}") from None
        if not any(e.composition.reduced_composition == composition.reduced_composition for e in diagram.all_entries):
            raise InputError(f"layer {index} ({formula}) has no entry of its composition in {diagrams.source_name}")


def stack_report(layers: Sequence[str], entries: PhaseDiagrams | EntrySource | Iterable[Entry], *,
                 anode_potential_V: float = 0.0, cathode_potential_V: float | None = None,
                 layer_potentials_V: Mapping[int, float] | None = None,
                 operating_window_V: Sequence[float] | None = None,
                 additives: Mapping[int, Sequence[str]] | None = None,
                 properties: Mapping[str, dict] | str | os.PathLike | None = None,
                 band_gaps: MPBandGaps | None = None) -> StackReport:
    """Closed and Li-open reactions at every interface of ``layers`` (anode to cathode, formulas) and each
    layer's window against the potentials it sees (V vs Li/Li+).

    ``layer_potentials_V``: {layer index: V} for layers between the electrodes. ``operating_window_V``: the
    cathode's range (LO, HI); the layers at the cathode-side interface must cover it, and the cathode potential
    defaults to HI. ``additives``: {layer index: ["C", ...]} electronic conductors mixed into a layer.
    ``properties``: a product table (:func:`load_interphase_properties`) or the path of a user file.
    ``band_gaps``: where to look up the band gaps of products the table lacks (None: nowhere).
    """
    layer_potentials_V = dict(layer_potentials_V or {})
    additives = {index: list(names) for index, names in (additives or {}).items()}
    anode, cathode, given, window = _check_inputs(layers, anode_potential_V, cathode_potential_V,
                                                  layer_potentials_V, operating_window_V, additives)
    table = properties if isinstance(properties, Mapping) else load_interphase_properties(properties)
    properties_source = ("user table" if isinstance(properties, Mapping)
                         else "ssbkit/data/interphase_properties.json" + (f" + {properties}" if properties else ""))
    diagrams = PhaseDiagrams.of(entries)
    _check_placeable(layers, diagrams)
    formulas = [parse_formula(f).reduced_formula for f in layers]
    potentials = _layer_potentials(len(formulas), anode, cathode, given)
    conductors = [_all_metal(f) or bool(additives.get(i)) for i, f in enumerate(formulas)]
    last = len(formulas) - 1

    profiles = []
    for index in range(last):
        right = index + 1
        own_right = (right == last and cathode is not None) or right in given
        potential = potentials[right] if own_right else potentials[index]
        pair = formulas[index], formulas[right]
        has_li_metal = any(elements_of(parse_formula(f)) == {"Li"} for f in pair)
        profiles.append((index, potential, reaction_profile(*pair, diagrams),
                         None if has_li_metal else reaction_profile(*pair, diagrams, voltage=potential)))
    products = {parse_formula(p).reduced_formula for *_, closed, li_open in profiles
                for profile in (closed, li_open) if profile is not None for p in _product_formulas(profile)}
    untabled = sorted(p for p in products if table.get(p, {}).get("band_gap_eV") is None)
    gaps = band_gaps.get(untabled) if band_gaps is not None and untabled else {}

    interfaces = []
    for index, potential, closed, li_open in profiles:
        right = index + 1
        wired = conductors[index] or conductors[right]
        bare_metal = _all_metal(formulas[index]) or _all_metal(formulas[right])
        interfaces.append(StackInterface(
            index=index, anode_side=formulas[index], cathode_side=formulas[right], potential_V=potential,
            closed=_interface_reaction(closed, table, gaps),
            li_open=None if li_open is None else _interface_reaction(li_open, table, gaps),
            implied=LI_OPEN if li_open is not None and wired else CLOSED,
            triple_phase_boundary=li_open is not None and wired and not bare_metal))

    checks = []
    for index, formula in enumerate(formulas):
        touching = [i for i in interfaces if i.index in (index - 1, index)]
        seen = [potentials[index]] + [i.potential_V for i in touching]
        if window is not None and any(i.index == last - 1 for i in touching):
            seen += list(window)
        role = "anode" if index == 0 else "cathode" if index == last else "interlayer"
        low, high = min(seen), max(seen)
        if elements_of(parse_formula(formula)) == {"Li"}:
            limits, covers, caveats = (None, None), None, []
        else:
            own = stability_window(formula, diagrams)
            limits, covers, caveats = (own.reduction_limit_V, own.oxidation_limit_V), own.covers(low, high), own.caveats
        checks.append(LayerCheck(index=index, formula=formula, role=role, potential_V=potentials[index],
                                 seen_min_V=low, seen_max_V=high, reduction_limit_V=limits[0],
                                 oxidation_limit_V=limits[1], covers=covers, additives=additives.get(index, []),
                                 electronic_conductor=conductors[index], caveats=list(caveats)))

    every = [c for check in checks for c in check.caveats]
    every += [c for i in interfaces for r in (i.closed, i.li_open) if r is not None for c in r.caveats]
    unknown = sorted({p.formula for i in interfaces for r in (i.closed, i.li_open) if r is not None
                      for p in r.products if p.electronic == "unknown"})
    if unknown:
        every.append(Caveat(UNKNOWN_CHARACTER, f"no band gap known for {', '.join(unknown)}: their electronic "
                            "character is unknown; give it in a properties file or prefetch MP band gaps "
                            "(ssbkit entries prefetch CHEMSYS --band-gaps)"))
    band_gaps_source = "none" if band_gaps is None else f"Materials Project (cache {band_gaps.cache_root})"
    return StackReport(layers=formulas, source=diagrams.source_name, anode_potential_V=anode,
                       cathode_potential_V=cathode, operating_window_V=None if window is None else list(window),
                       layer_checks=checks, interfaces=interfaces, properties_source=properties_source,
                       band_gaps_source=band_gaps_source, caveats=list(dict.fromkeys(every)))


def _products_text(reaction: InterfaceReaction | None) -> str:
    if reaction is None:
        return "n/a"
    return " + ".join(f"{p.formula} ({p.electronic})" for p in reaction.products) or "-"


CSV_COLUMNS = ["interface", "anode_side", "cathode_side", "potential_V", "implied", "triple_phase_boundary",
               "closed_eV_per_atom", "closed_mixing_ratio", "closed_products", "closed_interphase",
               "li_open_eV_per_atom", "li_open_mixing_ratio", "li_open_products", "li_open_interphase"]


def write_csv(report: StackReport, path: str | os.PathLike) -> Path:
    """Write one row per interface (both reactions; products joined by ``+``) as CSV, atomically."""
    rows = []
    for i in report.interfaces:
        row = [i.index, i.anode_side, i.cathode_side, i.potential_V, i.implied, i.triple_phase_boundary]
        for reaction in (i.closed, i.li_open):
            row += (["", "", "", ""] if reaction is None else
                    [reaction.energy_eV_per_atom, reaction.mixing_ratio,
                     "+".join(p.formula for p in reaction.products), reaction.interphase])
        rows.append(row)
    return atomic_write(Path(path), csv_text(CSV_COLUMNS, rows))


def plot_stack(report: StackReport, path: str | os.PathLike) -> Path:
    """Save the stack as bands (anode left), each interface coloured by its implied reaction energy (eV/atom)
    with the products and their electronic character written at it."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    path = image_path(path)
    count = len(report.layers)
    fig = Figure(figsize=(2.3 * count + 1.5, 5.6), layout="constrained")
    ax = fig.add_subplot()
    energies = [i.implied_reaction.energy_eV_per_atom for i in report.interfaces]
    norm = Normalize(vmin=min(energies + [-0.05]), vmax=0.0)
    cmap = colormaps["RdYlGn"]
    for check in report.layer_checks:
        ax.axvspan(check.index, check.index + 1, ymin=0.45, ymax=0.95, color="tab:blue" if check.electronic_conductor
                   else "lightsteelblue", alpha=0.35)
        label = formula_label(check.formula) + ("\n+ " + ", ".join(check.additives) if check.additives else "")
        ax.text(check.index + 0.5, 0.82, label, ha="center", va="center", fontsize=10, weight="bold")
        window = ("" if check.reduction_limit_V is None else
                  f"window {check.reduction_limit_V:.2f}-{check.oxidation_limit_V:.2f} V\n"
                  f"{'covers' if check.covers else 'does not cover'} {check.seen_min_V:g}-{check.seen_max_V:g} V")
        ax.text(check.index + 0.5, 0.6, f"{check.role} at {check.potential_V:g} V\n{window}", ha="center",
                va="center", fontsize=7)
    for interface, energy in zip(report.interfaces, energies, strict=True):
        x = interface.index + 1
        ax.axvline(x, ymin=0.45, ymax=0.95, color=cmap(norm(energy)), lw=6)
        reaction = interface.implied_reaction
        products = "\n".join(f"{formula_label(p.formula)} ({p.electronic})" for p in reaction.products) or "none"
        tpb = ", triple-phase" if interface.triple_phase_boundary else ""
        ax.text(x, 0.42, f"{interface.implied}{tpb} at {interface.potential_V:g} V\n{energy:.3f} eV/atom\n"
                         f"{products}\ninterphase: {reaction.interphase}", ha="center", va="top", fontsize=7)
    colorbar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, orientation="horizontal", fraction=0.05,
                            pad=0.02)
    colorbar.set_label("Implied reaction energy at the interface (eV/atom)")
    ax.set_xlim(0, count)
    ax.set_ylim(0.0, 1.0)
    ax.axis("off")
    ax.set_title(f"Stack, anode to cathode ({report.source}); dark bands conduct electrons", fontsize=10)
    return save_figure(fig, path, dpi=150)
