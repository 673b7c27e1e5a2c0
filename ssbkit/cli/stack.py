"""The ``stack`` command: every interface of a layered cell at its own potential."""

from pathlib import Path

import typer

from ssbkit.cli.types import Csv, JsonOutput, Offline, Plot, emit_json, print_caveats, print_note, print_table

STACK_FILE_KEYS = ("layers", "anode_potential_V", "cathode_potential_V", "layer_potentials_V", "operating_window_V",
                   "additives", "source", "properties", "mp_band_gaps")


def _index_value(text: str, option: str) -> tuple[int, str]:
    from ssbkit.errors import InputError

    index, sep, value = text.partition("=")
    if not sep or not index.strip().lstrip("-").isdigit():
        raise InputError(f"{option} takes I=VALUE with I a layer index (0 = anode), got {text!r}")
    return int(index), value.strip()


def _layer_potentials(texts: list[str]) -> dict[int, float]:
    from ssbkit.errors import InputError

    potentials = {}
    for text in texts:
        index, value = _index_value(text, "--layer-potential")
        try:
            potentials[index] = float(value)
        except ValueError:
            raise InputError(f"--layer-potential {text!r}: {value!r} is not a voltage (V vs Li/Li+)") from None
    return potentials


def _read_stack_file(path: Path) -> dict:
    """The keys of a stack YAML file (see STACK_FILE_KEYS); InputError for anything else."""
    from ssbkit.errors import InputError
    from ssbkit.io import read_yaml

    document = read_yaml(path, "stack file")
    if not isinstance(document, dict) or "layers" not in document:
        raise InputError(f"stack file {path} must be a mapping with 'layers' (a list of formulas, anode first)")
    unknown = sorted(set(document) - set(STACK_FILE_KEYS))
    if unknown:
        raise InputError(f"stack file {path}: unknown key(s) {', '.join(unknown)}; use {', '.join(STACK_FILE_KEYS)}")
    if not isinstance(document["layers"], list) or not all(isinstance(f, str) for f in document["layers"]):
        raise InputError(f"stack file {path}: 'layers' must be a list of formulas")
    for key in ("layer_potentials_V", "additives"):
        if not isinstance(document.get(key) or {}, dict):
            raise InputError(f"stack file {path}: '{key}' must map layer indices to values")
    return document


def stack(layers: list[str] = typer.Argument(None, help="Layer formulas, anode first, e.g. Li Li6PS5Cl LiCoO2."),
          stack_file: Path | None = typer.Option(None, "--file", "-f",
                                                 help="YAML file with layers, anode_potential_V, cathode_potential_V, "
                                                      "layer_potentials_V, operating_window_V, additives, source, "
                                                      "properties (options given on the command line win)."),
          anode_potential: float | None = typer.Option(None, "--anode-potential",
                                                       help="Anode potential (V vs Li/Li+); default 0."),
          cathode_potential: float | None = typer.Option(None, "--cathode-potential",
                                                         help="Cathode potential (V vs Li/Li+)."),
          layer_potential: list[str] = typer.Option([], "--layer-potential",
                                                    help="I=V: layer I (between the electrodes) at V vs Li/Li+; "
                                                         "repeat per layer."),
          operating_window: str | None = typer.Option(None, "--operating-window",
                                                      help="The cathode's range LO,HI (V vs Li/Li+)."),
          carbon_at: list[int] = typer.Option([], "--carbon-at",
                                              help="Layer index holding carbon (an electronic conductor); repeat."),
          properties: Path | None = typer.Option(None, "--properties",
                                                 help="JSON file of product band gaps and Li conduction, same keys "
                                                      "as ssbkit/data/interphase_properties.json."),
          mp_band_gaps: bool | None = typer.Option(
              None, "--mp-band-gaps/--no-mp-band-gaps",
              help="Look up band gaps the product table lacks at the Materials Project (cached; offline or "
                   "without MP_API_KEY only the cache; default on)."),
          source: str | None = typer.Option(None, "--source", "-s",
                                            help="Entry source(s), comma-separated: mp, experimental, file:PATH, "
                                                 "mlip:[MODEL:]PATH (default mp)."),
          offline: Offline = False, csv_path: Csv = None, plot: Plot = None,
          json_output: JsonOutput = False) -> None:
    """Reactions at every interface of a cell stack, each at its own potential, with the interphases they form.

    Each interface gets its closed (chemical) and Li-open (electrochemical) reaction; the stack implies the
    Li-open one where a layer conducts electrons (a metal, or --carbon-at). Each layer's window is checked
    against the potentials it sees. --csv writes one row per interface; --plot draws the stack.
    """
    from ssbkit.cli.thermo import _entry_source, _voltage_range
    from ssbkit.errors import InputError
    from ssbkit.interfaces.band_gaps import MPBandGaps
    from ssbkit.interfaces.stacks import plot_stack, stack_report, write_csv

    document = _read_stack_file(stack_file) if stack_file is not None else {}
    layers = layers or document.get("layers") or []
    if len(layers) < 2:
        raise InputError(f"a stack needs at least 2 layers (anode to cathode), got {len(layers)}")
    layer_potentials = {**(document.get("layer_potentials_V") or {}), **_layer_potentials(layer_potential)}
    additives = {index: list(names) for index, names in (document.get("additives") or {}).items()}
    for index in carbon_at:
        additives.setdefault(index, []).append("C")
    window = _voltage_range(operating_window) if operating_window is not None else document.get("operating_window_V")
    properties = properties if properties is not None else document.get("properties")
    if properties is not None and stack_file is not None and not Path(properties).is_absolute():
        properties = stack_file.parent / properties
    use_mp = mp_band_gaps if mp_band_gaps is not None else document.get("mp_band_gaps", True)
    if not isinstance(use_mp, bool):
        raise InputError(f"stack file {stack_file}: 'mp_band_gaps' must be true or false, got {use_mp!r}")
    report = stack_report(
        layers, _entry_source(source or document.get("source") or "mp", offline),
        anode_potential_V=anode_potential if anode_potential is not None else document.get("anode_potential_V", 0.0),
        cathode_potential_V=(cathode_potential if cathode_potential is not None
                             else document.get("cathode_potential_V")),
        layer_potentials_V=layer_potentials, operating_window_V=window, additives=additives, properties=properties,
        band_gaps=MPBandGaps(offline=True if offline else None) if use_mp else None)
    if csv_path is not None:
        write_csv(report, csv_path)
    if plot is not None:
        plot_stack(report, plot)
    if json_output:
        emit_json(report)
        return
    print_table(f"Layers ({report.source})", ["#", "layer", "role", "at V", "sees V", "window V", "covers"],
                [[c.index, c.formula + "".join(f" + {a}" for a in c.additives), c.role, c.potential_V,
                  f"{c.seen_min_V:g}-{c.seen_max_V:g}",
                  "n/a (Li metal)" if c.reduction_limit_V is None else
                  f"{c.reduction_limit_V:.2f}-{c.oxidation_limit_V:.2f}",
                  "n/a" if c.covers is None else ("yes" if c.covers else "no")] for c in report.layer_checks])
    for interface in report.interfaces:
        rows = []
        for reaction in (interface.closed, interface.li_open):
            if reaction is None:
                rows.append(["Li-open", "n/a (pure Li layer: the Li reservoir)", "", "", "", ""])
                continue
            implied = "<- implied" if reaction is interface.implied_reaction else ""
            rows.append([reaction.mode if reaction.voltage_V is None else f"{reaction.mode} {reaction.voltage_V:g} V",
                         reaction.energy_eV_per_atom, reaction.mixing_ratio,
                         " + ".join(f"{p.formula} ({p.electronic}, Li {p.li_conduction})" for p in reaction.products)
                         or "-", reaction.interphase, implied])
        tpb = ", triple-phase boundary" if interface.triple_phase_boundary else ""
        print_table(f"Interface {interface.index}: {interface.anode_side} | {interface.cathode_side} at "
                    f"{interface.potential_V:g} V{tpb}", ["reaction", "eV/atom", "x", "products", "interphase", ""],
                    rows)
    seen = {p.formula: p for i in report.interfaces for r in (i.closed, i.li_open) if r is not None
            for p in r.products}
    if seen:
        print_table("Interphase products", ["product", "electronic", "gap eV", "Li", "source"],
                    [[p.formula, p.electronic, "" if p.band_gap_eV is None else p.band_gap_eV, p.li_conduction,
                      p.source] for p in sorted(seen.values(), key=lambda p: p.formula)])
    print_note("Energies: most negative over mixing ratio x (atomic fraction of the anode-side layer). The Li-open "
               "reaction is implied where a layer at the interface conducts electrons (a metal or --carbon-at). "
               f"Product properties: {report.properties_source}; other band gaps: {report.band_gaps_source}.")
    print_caveats(report.caveats)
