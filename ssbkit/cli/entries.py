"""``ssbkit entries``: fill the offline MP cache, make entries from structures."""

from pathlib import Path

import typer

from ssbkit.cli.types import Device, JsonOutput, Model, command_group, emit_json, print_table

app = command_group("Entry sources: fill the offline cache, make entries from structures.")


@app.command("prefetch")
def prefetch(chemsys: list[str] = typer.Argument(..., help="Chemical systems, e.g. Li-P-S-Cl Li-Co-O."),
             json_output: JsonOutput = False) -> None:
    """Download MP entries for chemical systems (and their subsystems) into the cache, for offline runs."""
    import sys

    from tqdm import tqdm

    from ssbkit.interfaces.entries import MPSource, parse_chemsys

    systems = [parse_chemsys(text) for text in chemsys]
    mp = MPSource(offline=False)
    rows = []
    for elements in tqdm(systems, desc="prefetch", unit="chemsys", disable=json_output or not sys.stderr.isatty()):
        entries = mp.fetch(elements)
        rows.append({"chemsys": "-".join(elements), "entries": len(entries), "path": str(mp.cache_path(elements))})
    if json_output:
        emit_json({"cache_dir": str(mp.cache_root), "systems": rows})
        return
    print_table(f"MP entries cached in {mp.cache_root}", ["chemsys", "entries", "file"],
                [[r["chemsys"], r["entries"], r["path"]] for r in rows])


@app.command("from-structures")
def from_structures(
    files: list[Path] = typer.Argument(..., help="Structure files (CIF, POSCAR, extxyz, pymatgen JSON) or folders."),
    output: Path = typer.Option(..., "-o", "--output", help="Entries file to write (.json or .json.gz)."),
    model: Model = "chgnet",
    device: Device = "auto",
    mp2020: bool | None = typer.Option(None, "--mp2020/--no-mp2020",
                                       help="Add MP2020 corrections (default: decided per model)."),
    formation_energies: bool = typer.Option(
        False, "--formation-energies",
        help="Write formation energies (elements at 0) to combine with the experimental source."),
    fmax: float = typer.Option(0.05, "--fmax", help="Force threshold of the relaxation (eV/Å)."),
    steps: int = typer.Option(500, "--steps", help="Maximum relaxation steps."),
    json_output: JsonOutput = False,
) -> None:
    """Relax structures with an ML potential and write entries on the Materials Project energy scale."""
    import sys

    from ssbkit.interfaces.entries import save_entries
    from ssbkit.potentials import load
    from ssbkit.workflows.ml_entries import entries_from_structures, formation_energy_entries, read_structures

    named = [pair for path in files for pair in read_structures(path)]
    calculator = load(model, device=device)
    entries = entries_from_structures([s for _, s in named], calculator, names=[n for n, _ in named],
                                      mp2020_corrections=mp2020, fmax=fmax, steps=steps,
                                      progress=sys.stderr.isatty() and not json_output)
    save_entries(formation_energy_entries(entries) if formation_energies else entries, output)
    columns = ["name", "formula", "formation_energy_eV_per_atom", "relax_steps", "volume_change"]
    rows = [[e.data["name"], e.composition.reduced_formula, e.data["formation_energy_per_atom"],
             e.data["relax_steps"], e.data["volume_change"]] for e in entries]
    if json_output:
        emit_json({"output": str(output), "model": entries[0].data["model"],
                   "entries": [dict(zip(columns, row, strict=True)) for row in rows]})
    else:
        print_table(f"Entries from {model} -> {output}",
                    ["name", "formula", "E_form (eV/atom)", "steps", "volume change"], rows)
