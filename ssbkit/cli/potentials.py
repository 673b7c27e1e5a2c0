"""``ssbkit potentials``: list, check, compare and fit ML interatomic potentials."""

from pathlib import Path
from typing import Annotated, Any

import typer

from ssbkit.cli.types import (
    Committee,
    Device,
    JsonOutput,
    Model,
    Reference,
    ReferenceSettings,
    TrustModel,
    checked_output,
    command_group,
    emit_json,
    print_committee,
    print_table,
    read_atoms,
    settings_options,
)
from ssbkit.potentials.settings import FineTuneSettings

app = command_group("ML interatomic potentials: list, check, compare, fit, fine-tune, label.")


@app.command("list")
def list_potentials(json_output: JsonOutput = False) -> None:
    """List the registered models with their model cards."""
    from ssbkit.potentials import CARDS
    from ssbkit.potentials.registry import mace_cache_path

    def weights(card: Any) -> str:
        if card.offline:
            return "in wheel"
        return "cached" if mace_cache_path(card.url).is_file() else "download"

    if json_output:
        emit_json(list(CARDS.values()))
        return
    print_table("Potentials (also mace:PATH for a local MACE file; --json for full cards)",
                ["name", "version", "training data", "licence", "elements", "weights"],
                [[c.name, c.version, c.training_data, c.license, c.elements, weights(c)]
                 for c in CARDS.values()])


@app.command("check")
def check(
    structure: Path = typer.Argument(..., help="Structure file (CIF, POSCAR, extxyz, ...)."),
    model: Model = "chgnet",
    device: Device = "auto",
    trust_model: TrustModel = False,
    json_output: JsonOutput = False,
) -> None:
    """Say whether MODEL covers every element of STRUCTURE and time one evaluation.

    Exits with code 1 when an element is not covered.
    """
    from ssbkit.potentials.assess import check_model

    result = check_model(read_atoms(structure), model, device=device, trust_model=trust_model)
    if json_output:
        emit_json(result)
    elif result.covered:
        print_table(f"{result.model} on {result.formula} ({result.n_atoms} atoms)", ["quantity", "value"], [
            ["elements covered", "all"], ["load time (s)", result.load_seconds],
            ["first evaluation (s)", result.first_evaluation_seconds],
            ["evaluation (s)", result.seconds_per_evaluation],
            ["energy (eV/atom)", result.energy_per_atom], ["max force (eV/Å)", result.max_force]])
    else:
        typer.echo(f"{result.model} does not cover: {', '.join(result.missing_elements)}")
    if not result.covered:
        raise typer.Exit(1)


@app.command("compare")
def compare(
    structure: Path = typer.Argument(..., help="Structure file (CIF, POSCAR, extxyz, ...)."),
    models: str = typer.Option("chgnet,sevennet-0", "--models", help="Comma-separated model names."),
    committee: Committee = None,
    fmax: float = typer.Option(0.05, help="Relaxation force threshold (eV/Å)."),
    steps: int = typer.Option(300, help="Maximum relaxation steps."),
    relax_cell: bool = typer.Option(True, "--relax-cell/--fixed-cell", help="Relax the cell too."),
    device: Device = "auto",
    trust_model: TrustModel = False,
    json_output: JsonOutput = False,
) -> None:
    """Relax STRUCTURE with each model and report the spread between them.

    A model that fails is reported and the others go on; the exit code is then 1.
    """
    import sys

    from ssbkit.potentials import load
    from ssbkit.workflows.committee import committee_models
    from ssbkit.workflows.compare import compare_models

    names = committee_models(committee if committee is not None else
                             [m.strip() for m in models.split(",") if m.strip()])
    result = compare_models(read_atoms(structure), names,
                            lambda model: load(model, device=device, task="relax", trust_model=trust_model),
                            fmax=fmax, steps=steps, relax_cell=relax_cell,
                            progress=not json_output and sys.stderr.isatty())
    if json_output:
        emit_json(result)
    else:
        _print_comparison(result)
    if result.failures:
        raise typer.Exit(1)


def _print_comparison(result: Any) -> None:
    rows = [[o.model, o.energy_per_atom, o.max_force, o.relaxed_energy_per_atom,
             *o.lattice[:3], o.volume_per_atom, "yes" if o.converged else f"no ({o.steps} steps)"]
            for o in result.outcomes]
    s = {key: "-" if value is None else value for key, value in result.spread.items()}
    rows.append(["spread (max-min)", s["energy_per_atom"], s["max_force"], s["relaxed_energy_per_atom"],
                 s["a"], s["b"], s["c"], s["volume_per_atom"], ""])
    print_table(f"{result.formula}: input E, max force; relaxed E, lattice", [
        "model", "E (eV/atom)", "max F (eV/Å)", "relaxed E (eV/atom)", "a (Å)", "b (Å)", "c (Å)",
        "V (Å³/atom)", "converged"], rows)
    print_committee(result.committee.values(), result.failures, result.caveats)


@app.command("fit")
def fit(
    data: Path = typer.Argument(..., help="Labelled structures (extxyz with energies and forces)."),
    output: Path = typer.Option(Path("mace-fit"), "--output", "-o", help="Output directory."),
    foundation: str | None = typer.Option(None, help="MACE model to fine-tune (name or mace:PATH)."),
    epochs: int = typer.Option(50, help="Training epochs."),
    batch_size: int = typer.Option(4, help="Structures per training batch."),
    valid_fraction: float = typer.Option(0.2, help="Fraction held out for validation."),
    channels: int = typer.Option(32, help="MACE channels (from scratch only)."),
    max_l: int = typer.Option(1, "--max-L", help="Equivariant message order (from scratch only)."),
    r_max: float = typer.Option(5.0, help="Cutoff radius in Å (from scratch only)."),
    interactions: int = typer.Option(2, help="Message-passing layers (from scratch only)."),
    correlation: int = typer.Option(3, help="Body order minus one (from scratch only)."),
    energy_key: str = typer.Option("energy", help="info key of energies when the file has no calculator."),
    forces_key: str = typer.Option("forces", help="arrays key of forces when the file has no calculator."),
    device: Device = "auto",
    dtype: str = typer.Option("float64", help="float64 or float32."),
    seed: int = typer.Option(0, help="Random seed for the split and the initial weights."),
    trust_model: TrustModel = False,
    json_output: JsonOutput = False,
) -> None:
    """Train (or fine-tune) a MACE model on DATA; write the model and a parity report."""
    from ssbkit.potentials.fit import MaceArchitecture, fit_mace

    architecture = MaceArchitecture(channels=channels, max_L=max_l, r_max=r_max,
                                    num_interactions=interactions, correlation=correlation)
    result = fit_mace(data, output, foundation=foundation, epochs=epochs, batch_size=batch_size,
                      valid_fraction=valid_fraction, architecture=architecture, device=device,
                      dtype=dtype, seed=seed, energy_key=energy_key, forces_key=forces_key,
                      verbose=not json_output, trust_model=trust_model)
    if json_output:
        emit_json(result)
        return
    print_table(f"MACE fit: {result.model_path}", ["set", "structures", "energy MAE (eV/atom)",
                                                   "force MAE (eV/Å)"], [
        ["train", result.n_train, result.train_energy_mae, result.train_force_mae],
        ["valid", result.n_valid, result.valid_energy_mae, result.valid_force_mae]])
    typer.echo(f"parity report: {result.report_path}, plot: {result.plot_path}")


STRUCTURE_FILES = typer.Argument(help="Structure files; every frame of each is a configuration.")


@app.command("label")
def label(
    files: Annotated[list[Path], STRUCTURE_FILES],
    reference: Reference,
    reference_settings: ReferenceSettings = None,
    output: Annotated[Path, typer.Option("--output", "-o", callback=checked_output,
                                         help="Labels file (extxyz: energy, forces, stress).")] = Path("labels.extxyz"),
    json_output: JsonOutput = False,
) -> None:
    """Reference single points (energy, forces, stress) on every configuration of FILES, written as extxyz.

    A configuration whose calculation fails (e.g. SCF non-convergence) is reported and the others go on; the
    exit code is then 1.
    """
    import sys

    from ssbkit.errors import CalculationError
    from ssbkit.io import read_structures
    from ssbkit.workflows.reference import label_configurations, load_reference_settings

    frames = [atoms for path in files for _, atoms in read_structures(path)]
    result = label_configurations(frames, reference, load_reference_settings(reference_settings),
                                  progress=sys.stderr.isatty() and not json_output)
    if not result.successful:
        raise CalculationError(f"reference {reference} failed on every configuration: {result.labels[0].error}")
    result.write_extxyz(output)
    if json_output:
        emit_json({"output": output, "n_labels": len(result.successful), "n_failed": len(result.failed),
                   "reference": result.reference,
                   "labels": [{k: v for k, v in label.to_dict().items() if k != "atoms"} for label in result.labels]})
    else:
        print_table(f"{reference} labels -> {output} ({result.reference.code_version})",
                    ["configuration", "atoms", "energy (eV)", "max force (eV/Å)", "time (s)", "error"],
                    [[i, len(item.atoms), item.energy_eV,
                      None if item.forces_eV_per_A is None else float(abs(item.forces_eV_per_A).max()),
                      item.wall_time_s, item.error or ""] for i, item in enumerate(result.labels)])
    for i, failed in enumerate(result.labels):
        if failed.error:
            typer.echo(f"configuration {i} failed: {failed.error}", err=True)
    if result.failed:
        raise typer.Exit(1)


@app.command("vasp-inputs")
def vasp_inputs(
    files: Annotated[list[Path], STRUCTURE_FILES],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for one VASP input folder per "
                                         "configuration (created).")] = Path("vasp-inputs"),
    input_set: Annotated[str, typer.Option("--input-set", help="pymatgen input set: MPStaticSet, MPRelaxSet, "
                                           "MPScanStaticSet or MatPESStaticSet.")] = "MPStaticSet",
    json_output: JsonOutput = False,
) -> None:
    """Write every configuration of FILES as VASP inputs (pymatgen input set), to label them elsewhere."""
    from ssbkit.io import read_structures
    from ssbkit.workflows.labels import write_vasp_inputs

    frames = [atoms for path in files for _, atoms in read_structures(path)]
    result = write_vasp_inputs(frames, output, input_set)
    if json_output:
        emit_json(result)
        return
    typer.echo(f"{len(result.directories)} {input_set} input folders in {output}")
    if not result.potcar_written:
        typer.echo("no POTCAR directory configured (PMG_VASP_PSP_DIR): each folder has POTCAR.spec instead", err=True)


@app.command("finetune")
@settings_options(FineTuneSettings)
def finetune(
    base: Annotated[str, typer.Option("--base", help="Model to fine-tune: chgnet, sevennet-0, a MACE "
                                      "name, chgnet:PATH, sevennet:PATH or mace:PATH.")],
    labels: Annotated[list[Path], typer.Option("--labels", help="Labelled structures (extxyz with energies and "
                                               "forces); repeat for several files.")],
    output: Annotated[Path, typer.Option("--output", "-o", callback=checked_output,
                                         help="Model file to write (its card goes to MODEL.card.json).")],
    reference: Annotated[str | None, typer.Option("--reference", help="Reference the labels came from, recorded "
                                                  "in the model card.")] = None,
    reference_settings: ReferenceSettings = None,
    device: Device = "cpu",  # declares FineTuneSettings.device's option (settings_options)
    settings: FineTuneSettings = None,
    trust_model: TrustModel = False,
    json_output: JsonOutput = False,
) -> None:
    """Fine-tune a pretrained potential on reference labels, with a held-out parity check before and after.

    A fine-tune that makes held-out errors worse is refused (no model written) and the exit code is 1.
    """
    from ssbkit.potentials.finetune import fine_tune

    recorded = None
    if reference is not None:
        from ssbkit.workflows.reference import load_reference_settings, reference_info

        recorded = reference_info(reference, load_reference_settings(reference_settings)).to_dict()
    result = fine_tune(base, labels, output, settings, reference=recorded, trust_model=trust_model)
    if json_output:
        emit_json(result)
    else:
        print_table(f"fine-tuning {base} ({result.n_train} training, {result.n_valid} held-out labels, "
                    f"{result.epochs_run} epochs)", ["set", "model", "energy MAE (meV/atom)", "force MAE (meV/Å)"],
                    [[split, name, errors[split].energy_mae_meV_per_atom, errors[split].force_mae_meV_per_A]
                     for split in ("train", "valid") for name, errors in (("base", result.before),
                                                                          ("fine-tuned", result.after))])
        typer.echo(result.message, err=not result.accepted)
        if result.accepted:
            typer.echo(f"model: {result.model}  card: {result.card_path}  parity plot: {result.plot_path}")
    if not result.accepted:
        raise typer.Exit(1)
