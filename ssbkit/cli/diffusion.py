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
from ssbkit.workflows.settings import START_LAG_FS, MDSettings

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


def _diffusion_structures(source: str, repeat: list[int]):
    """One structure (see :func:`_diffusion_structure`) repeated, or an ensemble: a folder of
    ``<configuration>.extxyz`` files (as ``ssbkit build ensemble`` writes them), each repeated."""
    from ssbkit.errors import InputError
    from ssbkit.io import read_structure

    folder = Path(source)
    if not folder.is_dir():
        return _diffusion_structure(source).repeat(repeat)
    members = []
    for path in sorted(folder.glob("*.extxyz")):
        atoms = read_structure(path)
        atoms.info.setdefault("configuration", path.stem)
        members.append(atoms.repeat(repeat))
    if not members:
        raise InputError(f"{folder} holds no ensemble members (*.extxyz)")
    return members


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
    _report_transport(result)
    for note in result.notes:
        typer.echo(f"note: {note}")
    for name, path in result.plots.items():
        typer.echo(f"{name} plot: {path}")
    print_caveats(result.caveats)


def _report_transport(result) -> None:
    """The kinisi table (per temperature, configuration and region) and the ensemble Arrhenius fit."""
    rows = []
    for entry in result.per_temperature:
        labelled = [("all", entry.transport)] + [(region.region, region.transport) for region in entry.regions]
        for label, t in labelled:
            if t is not None:
                rows.append([entry.temperature, entry.configuration or "", label, t.tracer_diffusivity_cm2_s,
                             t.tracer_diffusivity_std_cm2_s, t.charge_diffusivity_cm2_s, t.charge_diffusivity_std_cm2_s,
                             t.haven_ratio, t.haven_ratio_std, t.conductivity_mS_cm, t.conductivity_std_mS_cm])
        if entry.boundary_to_bulk is not None:
            ratio = entry.boundary_to_bulk
            typer.echo(f"{entry.temperature:g} K {entry.configuration or ''}: boundary/bulk-like D_tracer "
                       f"{ratio.tracer_diffusivity_ratio:.3g} ± {ratio.tracer_diffusivity_ratio_std:.2g}, σ "
                       f"{ratio.conductivity_ratio:.3g} ± {ratio.conductivity_ratio_std:.2g}")
    if rows:
        print_table("kinisi: tracer and charge diffusion, Haven ratio",
                    ["T (K)", "configuration", "ions", "D* (cm²/s)", "±", "Dσ (cm²/s)", "±", "Haven", "±",
                     "σ (mS/cm)", "±"], rows)
    fit = result.ensemble_arrhenius
    if fit is not None:
        spread = ("" if fit.activation_energy_configuration_spread_eV is None else
                  f", configuration spread {fit.activation_energy_configuration_spread_eV:.3f} eV")
        sigma = ("not extrapolated (see caveats)" if fit.conductivity_mS_cm is None else
                 f"{fit.conductivity_mS_cm:.3g} ± {fit.conductivity_std_mS_cm:.2g} mS/cm")
        typer.echo(f"ensemble ({fit.n_configurations} configurations): Ea = {fit.activation_energy_eV:.3f} ± "
                   f"{fit.activation_energy_std_eV:.3f} eV{spread}; Haven ratio {fit.haven_ratio:.2f} ± "
                   f"{fit.haven_ratio_std:.2f}; σ({fit.target_temperature_K:g} K) = {sigma}")


@app.command("run")
@settings_options(MDSettings)
def run(
    structure: str = typer.Argument(..., help="Structure file (CIF, POSCAR, extxyz with a grain array for "
                                    "bicrystals), a reference-structure name (Li6PS5Cl, ...), an element, "
                                    "llzo-cubic, or an ensemble folder of <configuration>.extxyz files "
                                    "(configurations x temperatures run together)."),
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
    atoms = _diffusion_structures(structure, _supercell(supercell))
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
    start_lag_fs: float = typer.Option(START_LAG_FS, min=0.0, help="Shortest lag time (fs) of the kinisi fits."),
    json_output: JsonOutput = False,
) -> None:
    """Re-analyse saved replica trajectories (also those of a run stopped early); writes
    diffusion.json and the plots next to them."""
    from ssbkit.workflows.diffusion import diffusion_from_trajectories, write_result

    paths = sorted(Path(directory).glob("replica*.extxyz"))
    result = diffusion_from_trajectories(paths, species, _grain_boundary(gb_planes, gb_axis, gb_width),
                                         plot_directory=directory, start_lag_fs=start_lag_fs)
    write_result(result, Path(directory) / "diffusion.json")
    _report_diffusion(result, json_output)
