"""``ssbkit entries``: fill the offline MP cache, make entries from structures."""

from pathlib import Path
from typing import Any

import typer

from ssbkit.cli.types import (
    Committee,
    Device,
    JsonOutput,
    Models,
    TrustModel,
    checked_output,
    command_group,
    emit_json,
    print_caveats,
    print_table,
)

app = command_group("Entry sources: fill the offline cache, make entries from structures.")


@app.command("prefetch")
def prefetch(chemsys: list[str] = typer.Argument(..., help="Chemical systems, e.g. Li-P-S-Cl Li-Co-O."),
             band_gaps: bool = typer.Option(False, "--band-gaps",
                                            help="Also cache the MP band gaps of every material in these systems "
                                                 "(for ssbkit stack offline)."),
             json_output: JsonOutput = False) -> None:
    """Download MP entries for chemical systems (and their subsystems) into the cache, for offline runs."""
    import sys

    from tqdm import tqdm

    from ssbkit.interfaces.band_gaps import MPBandGaps
    from ssbkit.interfaces.entries import MPSource, parse_chemsys

    systems = [parse_chemsys(text) for text in chemsys]
    mp = MPSource(offline=False)
    gaps = MPBandGaps(offline=False) if band_gaps else None
    rows = []
    for elements in tqdm(systems, desc="prefetch", unit="chemsys", disable=json_output or not sys.stderr.isatty()):
        entries = mp.fetch(elements)
        rows.append({"chemsys": "-".join(elements), "entries": len(entries), "path": str(mp.cache_path(elements))})
        if gaps is not None:
            rows[-1]["band_gaps"] = len(gaps.fetch_chemsys(elements))
    if json_output:
        emit_json({"cache_dir": str(mp.cache_root), "systems": rows})
        return
    print_table(f"MP entries cached in {mp.cache_root}", ["chemsys", "entries", "file"]
                + (["band gaps"] if gaps is not None else []),
                [[r["chemsys"], r["entries"], r["path"]] + ([r["band_gaps"]] if gaps is not None else [])
                 for r in rows])


@app.command("from-structures")
def from_structures(
    files: list[Path] = typer.Argument(..., help="Structure files (CIF, POSCAR, extxyz, pymatgen JSON) or folders."),
    output: Path = typer.Option(..., "-o", "--output", callback=checked_output,
                                help="Entries file to write (.json or .json.gz)."),
    models: Models = ["chgnet"],
    committee: Committee = None,
    entries_model: str | None = typer.Option(None, "--entries-model",
                                             help="With several models: whose entries to write (default: the "
                                                  "first model)."),
    device: Device = "auto",
    mp2020: bool | None = typer.Option(None, "--mp2020/--no-mp2020",
                                       help="Add MP2020 corrections (default: decided per model)."),
    formation_energies: bool = typer.Option(
        False, "--formation-energies",
        help="Write formation energies (elements at 0) to combine with the experimental source."),
    fmax: float = typer.Option(0.05, "--fmax", help="Force threshold of the relaxation (eV/Å)."),
    steps: int = typer.Option(500, "--steps", help="Maximum relaxation steps."),
    trust_model: TrustModel = False,
    json_output: JsonOutput = False,
) -> None:
    """Relax structures with an ML potential and write entries on the Materials Project energy scale.

    With several models (-m A -m B or --committee offline): each structure's formation energy from every
    model, the committee's mean ± standard deviation and a caveat where the models differ by more than
    0.025 eV/atom; the entries of the first model (or --entries-model) are written, with every model's
    value in their data. A model that fails is reported and the others go on; the exit code is then 1.
    """
    import sys

    from ssbkit.interfaces.entries import save_entries
    from ssbkit.potentials import load
    from ssbkit.workflows.committee import committee_models
    from ssbkit.workflows.ml_entries import (
        entries_from_structures,
        formation_energy_committee,
        formation_energy_entries,
        read_structures,
    )

    names = committee_models(committee if committee is not None else models, functional="PBE/PBE+U")
    named = [pair for path in files for pair in read_structures(path)]
    structures, labels = [s for _, s in named], [n for n, _ in named]
    progress = sys.stderr.isatty() and not json_output
    result = None

    def load_model(name: str) -> Any:
        return load(name, device=device, trust_model=trust_model)

    if len(names) == 1:
        entries = entries_from_structures(structures, load_model(names[0]), names=labels,
                                          mp2020_corrections=mp2020, fmax=fmax, steps=steps, progress=progress)
    else:
        result = formation_energy_committee(structures, names, load_model, names=labels, entries_model=entries_model,
                                            mp2020_corrections=mp2020, fmax=fmax, steps=steps, progress=progress)
        entries = result.entries
    save_entries(formation_energy_entries(entries) if formation_energies else entries, output)
    columns = ["name", "formula", "formation_energy_eV_per_atom", "relax_steps", "volume_change"]
    rows = [[e.data["name"], e.composition.reduced_formula, e.data["formation_energy_per_atom"],
             e.data["relax_steps"], e.data["volume_change"]] for e in entries]
    if result is None:
        if json_output:
            emit_json({"output": str(output), "model": entries[0].data["model"],
                       "entries": [dict(zip(columns, row, strict=True)) for row in rows]})
        else:
            print_table(f"Entries from {names[0]} -> {output}",
                        ["name", "formula", "E_form (eV/atom)", "steps", "volume change"], rows)
        return
    if json_output:
        emit_json({"output": str(output), "model": result.entries_model, "models": result.models,
                   "entries": [dict(zip(columns, row, strict=True)) | {"committee": r.formation_energy}
                               for row, r in zip(rows, result.rows, strict=True)],
                   "failures": result.failures, "caveats": result.caveats})
    else:
        finished = [m for m in result.models if m not in {f.model for f in result.failures}]
        print_table(f"Formation energies (eV/atom) from {', '.join(finished)}; entries of {result.entries_model} "
                    f"-> {output}", ["name", "formula", "committee", *finished],
                    [[r.name, r.formula, r.formation_energy.summary(),
                      *(r.formation_energy.values[m] for m in finished)] for r in result.rows])
        print_caveats(result.caveats)
    if result.failures:
        raise typer.Exit(1)
