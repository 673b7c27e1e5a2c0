"""``ssbkit diffusion``: Li diffusion from replica MD, and re-analysis of saved trajectories."""

from pathlib import Path

import typer

from ssbkit.cli.types import (
    Device,
    JsonOutput,
    Model,
    TrustModel,
    command_group,
    emit_json,
    print_caveats,
    print_table,
    settings_options,
)
from ssbkit.workflows.md import MDSettings

app = command_group("Li diffusion from replica MD: D(T), activation energy, room-temperature conductivity.")

SPECIES = typer.Option("Li", help="Diffusing species.")
GB_PLANES = typer.Option("", help="Grain-boundary planes, fractional along --gb-axis (e.g. 0,0.5), or 'auto' to "
                                  "take them from the bicrystal's grain array (as `ssbkit build gb` writes it).")
GB_AXIS = typer.Option(2, help="Cell axis normal to the grain boundary (0, 1, 2).")
GB_WIDTH = typer.Option(3.0, help="Half-width (Å) of the grain-boundary region.")


def _grain_boundary(planes: str | None, axis: int, width: float):
    from ssbkit.errors import InputError
    from ssbkit.workflows.diffusion import GrainBoundaryRegion

    if not planes:
        return None
    if planes == "auto":
        return GrainBoundaryRegion(planes=None, axis=axis, width=width)
    try:
        fractions = tuple(float(value) for value in planes.split(","))
    except ValueError as exc:
        raise InputError(f"--gb-planes takes comma-separated fractional coordinates, got {planes!r}") from exc
    return GrainBoundaryRegion(planes=fractions, axis=axis, width=width)


def _diffusion_structure(source: str):
    """A structure file, a reference-structure library name (e.g. Li6PS5Cl), an element or llzo-cubic."""
    from pymatgen.io.ase import AseAtomsAdaptor

    from ssbkit.errors import InputError
    from ssbkit.interfaces.structures.bulk import load_bulk
    from ssbkit.interfaces.structures.references import list_reference_structures, load_reference_structure

    names = sorted(info.name for info in list_reference_structures())
    if not Path(source).exists() and source in names:
        return AseAtomsAdaptor.get_atoms(load_reference_structure(source))
    try:
        return load_bulk(source)
    except InputError as exc:
        raise InputError(f"{exc}, nor a reference structure ({', '.join(names)})") from exc


def _supercell(text: str) -> list[int]:
    from ssbkit.errors import InputError

    try:
        repeat = [int(n) for n in text.split(",")]
    except ValueError as exc:
        raise InputError(f"--supercell takes three integers such as 2,2,2, got {text!r}") from exc
    if len(repeat) != 3 or min(repeat) < 1:
        raise InputError(f"--supercell takes three positive integers such as 2,2,2, got {text!r}")
    return repeat


def _report_diffusion(result, json_output: bool) -> None:
    if json_output:
        emit_json(result)
        return
    rows = []
    for entry in result.per_temperature:
        rows.append([entry.temperature, entry.diffusivity, entry.diffusivity_std, entry.conductivity,
                     entry.duration_ps, "all"])
        rows += [[entry.temperature, region.diffusivity, region.diffusivity_std, "", entry.duration_ps,
                  f"{region.region} ({region.n_ions} {result.species})"] for region in entry.regions]
    print_table(f"{result.species} tracer diffusion",
                ["T (K)", "D (cm²/s)", "± (cm²/s)", "σ (mS/cm)", "production (ps)", "ions"], rows)
    if result.arrhenius is not None:
        fit = result.arrhenius
        error = "n/a" if fit.activation_energy_std is None else f"{fit.activation_energy_std:.3f}"
        typer.echo(f"Ea = {fit.activation_energy:.3f} ± {error} eV; at {fit.temperature:g} K: "
                   f"D = {fit.diffusivity:.3g} cm²/s, σ = {fit.conductivity:.3g} mS/cm")
    else:
        reason = "; ".join(c.message for c in result.caveats if c.code == "no-extrapolation")
        typer.echo(f"σ({result.target_temperature:g} K): not extrapolated: {reason}")
    for note in result.notes:
        typer.echo(f"note: {note}")
    for name, path in result.plots.items():
        typer.echo(f"{name} plot: {path}")
    print_caveats(result.caveats)


@app.command("run")
@settings_options(MDSettings)
def run(
    structure: str = typer.Argument(..., help="Structure file (CIF, POSCAR, extxyz with a grain array for "
                                    "bicrystals), a reference-structure name (Li6PS5Cl, ...), an element, "
                                    "or llzo-cubic."),
    temperatures: list[float] = typer.Option(..., "--temperature", "-t", help="Temperature (K); repeat."),
    model: Model = "chgnet",
    device: Device = "auto",
    supercell: str = typer.Option("1,1,1", help="Repeat the cell, e.g. 2,2,2."),
    settings: MDSettings = None,
    gb_planes: str = GB_PLANES,
    gb_axis: int = GB_AXIS,
    gb_width: float = GB_WIDTH,
    out: str = typer.Option("diffusion", help="Directory for trajectories, plots and diffusion.json."),
    trust_model: TrustModel = False,
    json_output: JsonOutput = False,
) -> None:
    """NVT MD (Langevin or Nose-Hoover) at all temperatures at once (one batched model call per step),
    then D(T), Arrhenius Ea and extrapolated 300 K conductivity."""
    from ssbkit.potentials import load
    from ssbkit.workflows.diffusion import diffusion, write_result

    grain_boundary = _grain_boundary(gb_planes, gb_axis, gb_width)
    atoms = _diffusion_structure(structure).repeat(_supercell(supercell))
    calculator = load(model, device=device, task="md", trust_model=trust_model)
    result = diffusion(atoms, calculator, None, out, settings, grain_boundary=grain_boundary,
                       progress=not json_output)
    write_result(result, Path(out) / "diffusion.json")
    _report_diffusion(result, json_output)


@app.command("analyze")
def analyze(
    directory: str = typer.Argument(..., help="Directory with replica*.extxyz from `ssbkit diffusion run`."),
    species: str = SPECIES,
    gb_planes: str = GB_PLANES,
    gb_axis: int = GB_AXIS,
    gb_width: float = GB_WIDTH,
    json_output: JsonOutput = False,
) -> None:
    """Re-analyse saved replica trajectories (also those of a run stopped early); writes
    diffusion.json and the plots next to them."""
    from ssbkit.workflows.diffusion import diffusion_from_trajectories, write_result

    paths = sorted(Path(directory).glob("replica*.extxyz"))
    result = diffusion_from_trajectories(paths, species, _grain_boundary(gb_planes, gb_axis, gb_width),
                                         plot_directory=directory)
    write_result(result, Path(directory) / "diffusion.json")
    _report_diffusion(result, json_output)
