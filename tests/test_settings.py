"""Settings dataclasses: type, range and choice checks, YAML mappings, keyword overrides, the runner's
parameter validation when a spec is read, and defaults equal to the function defaults they replaced."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from ssbkit.errors import InputError
from ssbkit.settings import REQUIRED, apply_overrides, setting, settings_from_mapping, validate
from ssbkit.workflows.adhesion import AdhesionSettings
from ssbkit.workflows.kinds import KINDS, ReactTaskSettings, ScreenTaskSettings, ThermoTaskSettings
from ssbkit.workflows.md import MDSettings
from ssbkit.workflows.neb import NEBSettings, neb
from ssbkit.workflows.relax import RelaxSettings, relax
from ssbkit.workflows.runner import load_spec
from ssbkit.workflows.runner.spec import RunSettings

from runner_helpers import STRUCTURES, write_spec


@dataclass(frozen=True, kw_only=True)
class Example:
    """One field of every supported kind."""

    force: float = setting(0.05, help="A force (eV/Å).", unit="eV/Å", minimum=0, exclusive_minimum=True)
    count: int = setting(3, help="A count.", minimum=1, maximum=10)
    index: int | None = setting(None, help="An index.", minimum=0)
    flag: bool = setting(False, help="A switch.")
    name: str = setting("a", help="A choice.", choices=("a", "b"))
    temperatures: tuple[float, ...] = setting(REQUIRED, help="Temperatures (K).", unit="K", minimum=0,
                                              exclusive_minimum=True)
    window: tuple[float, float] | None = setting(None, help="A range (V).", unit="V")

    def __post_init__(self) -> None:
        validate(self)


def example(**values):
    return Example(**({"temperatures": (300.0,)} | values))


def test_metadata_holds_exactly_the_keys_the_cli_reads():
    for cls in (Example, RelaxSettings, NEBSettings, MDSettings, AdhesionSettings, ScreenTaskSettings, RunSettings):
        for field in dataclasses.fields(cls):
            assert set(field.metadata) == {"help", "unit", "minimum", "maximum", "exclusive_minimum", "choices"}
            assert field.metadata["help"], f"{cls.__name__}.{field.name} has no help"
    fmax = {f.name: f for f in dataclasses.fields(NEBSettings)}["fmax"].metadata
    assert (fmax["unit"], fmax["minimum"], fmax["exclusive_minimum"]) == ("eV/Å", 0, True)
    assert {f.name: f for f in dataclasses.fields(NEBSettings)}["optimizer"].metadata["choices"] == (
        "FIRE", "BFGS", "MDMin")


@pytest.mark.parametrize("values, message", [
    ({"force": -1}, "force = -1 is out of range: expected > 0 eV/Å"),
    ({"force": 0.0}, "force = 0.0 is out of range: expected > 0 eV/Å"),
    ({"force": "abc"}, "force = 'abc': expected finite float > 0 eV/Å"),
    ({"force": None}, "force = None: expected finite float"),
    ({"force": float("nan")}, "force = nan: expected finite float"),
    ({"force": float("inf")}, "force = inf: expected finite float"),
    ({"force": True}, "force = True: expected finite float"),
    ({"count": 2.5}, "count = 2.5: expected int >= 1 and <= 10"),
    ({"count": True}, "count = True: expected int"),
    ({"count": "3"}, "count = '3': expected int"),  # text is a number only in YAML mappings
    ({"count": 0}, "count = 0 is out of range: expected >= 1 and <= 10"),
    ({"count": 11}, "count = 11 is out of range: expected >= 1 and <= 10"),
    ({"index": -1}, "index = -1 is out of range: expected >= 0"),
    ({"index": 1.5}, "index = 1.5: expected int or null >= 0"),
    ({"flag": 1}, "flag = 1: expected bool"),
    ({"flag": "yes"}, "flag = 'yes': expected bool"),
    ({"name": "c"}, "unknown name 'c'; choose from a, b"),
    ({"temperatures": ()}, "temperatures = (): expected a non-empty list"),
    ({"temperatures": 300.0}, "temperatures = 300.0: expected a non-empty list"),
    ({"temperatures": [300, 0]}, "temperatures[1] = 0 is out of range: expected > 0 K"),
    ({"temperatures": [300, "hot"]}, "temperatures[1] = 'hot': expected finite float > 0 K"),
    ({"window": [1.0]}, "window = [1.0]: expected a list of 2"),
])
def test_invalid_values_name_the_field_the_value_and_what_is_allowed(values, message):
    with pytest.raises(InputError, match="^" + re.escape(f"Example: {message}")) as caught:
        example(**values)
    assert "\n" not in str(caught.value)


def test_valid_values_are_normalised():
    settings = example(force=1, count=4.0, index=np.int64(2), flag=np.bool_(True), temperatures=[300, 600.5],
                       window=np.array([0.0, 1.5]))
    assert settings == Example(force=1.0, count=4, index=2, flag=True, temperatures=(300.0, 600.5), window=(0.0, 1.5))
    assert type(settings.force) is float and type(settings.count) is int and type(settings.index) is int
    assert type(settings.temperatures) is tuple and all(type(t) is float for t in settings.temperatures)
    assert example(index=None, window=None).index is None
    assert hash(settings)  # frozen, hashable
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.force = 2.0  # type: ignore[misc]


def test_mappings_coerce_yaml_values_and_name_unknown_or_missing_parameters():
    settings = settings_from_mapping(Example, {"force": "1e-3", "count": 300.0 / 100, "temperatures": [300, "1e3"],
                                               "window": [0, 1]}, "here")
    assert (settings.force, settings.count, settings.temperatures, settings.window) == (
        0.001, 3, (300.0, 1000.0), (0.0, 1.0))
    with pytest.raises(InputError, match=r"^here: unknown parameters \['speed'\]; it takes parameters force, count, "
                                         r"index, flag, name, temperatures, window$"):
        settings_from_mapping(Example, {"speed": 1, "temperatures": [300]}, "here")
    with pytest.raises(InputError, match=r"^here: missing parameters \['temperatures'\]$"):
        settings_from_mapping(Example, {}, "here")
    with pytest.raises(InputError, match="^here: force = 'abc': expected finite float > 0 eV/Å$"):
        settings_from_mapping(Example, {"force": "abc", "temperatures": [300]}, "here")
    with pytest.raises(InputError, match="^here: force = '-1' is out of range"):
        settings_from_mapping(Example, {"force": "-1", "temperatures": [300]}, "here")
    with pytest.raises(InputError, match="^here: parameters are a mapping"):
        settings_from_mapping(Example, [1, 2], "here")  # type: ignore[arg-type]


def test_keyword_overrides_build_or_replace_settings():
    assert apply_overrides(NEBSettings, None, {"fmax": 0.03}) == NEBSettings(fmax=0.03)
    base = NEBSettings(n_images=3)
    assert apply_overrides(NEBSettings, base, {}) is base
    assert apply_overrides(NEBSettings, base, {"fmax": 0.03}) == NEBSettings(n_images=3, fmax=0.03)
    with pytest.raises(TypeError, match="fmx"):
        apply_overrides(NEBSettings, None, {"fmx": 0.03})
    with pytest.raises(TypeError, match="must be NEBSettings"):
        apply_overrides(NEBSettings, RelaxSettings(), {"fmax": 0.03})
    with pytest.raises(InputError, match="NEBSettings: fmax = -1"):
        apply_overrides(NEBSettings, base, {"fmax": -1})


def test_functions_take_settings_or_keyword_overrides_alike():
    atoms = bulk("Cu", cubic=True)
    atoms.rattle(0.05, seed=1)
    by_keyword = relax(atoms, EMT(), fmax=0.02, optimizer="BFGS")
    by_settings = relax(atoms, EMT(), RelaxSettings(fmax=0.02, optimizer="BFGS"))
    assert by_keyword.energy == by_settings.energy and by_keyword.steps == by_settings.steps
    with pytest.raises(InputError, match="RelaxSettings: steps = 0 is out of range"):
        relax(atoms, EMT(), steps=0)
    with pytest.raises(TypeError, match="fmx"):
        relax(atoms, EMT(), fmx=0.1)
    with pytest.raises(InputError, match="NEBSettings: fmax = -1"):  # before any model call
        neb(atoms, atoms, EMT(), fmax=-1)


def test_defaults_are_the_previous_function_defaults():
    """The numbers below are the keyword defaults that relax(), neb(), run_replicas()/diffusion(),
    adhesion()/surface_energy() and the spec reader had before the settings classes existed."""
    assert dataclasses.asdict(RelaxSettings()) == {"fmax": 0.05, "steps": 500, "relax_cell": False,
                                                   "optimizer": "FIRE"}
    assert dataclasses.asdict(NEBSettings()) == {
        "n_images": 5, "fmax": 0.05, "steps": 500, "climb": True, "spring_constant": 0.1, "optimizer": "FIRE",
        "relax_endpoints": True, "endpoint_fmax": 0.02, "endpoint_steps": 500, "moving_index": None,
        "site_tolerance": 0.5, "minimum_depth": 0.01, "same_site_distance": 0.3, "resolve_minima": False,
        "relax_radius_A": None}  # added later: None relaxes the whole cell, as before
    assert dataclasses.asdict(MDSettings(temperatures=(600.0,))) == {
        "temperatures": (600.0,), "timestep": 2.0, "friction": 0.002, "thermostat": "langevin", "tdamp": 100.0,
        "equilibration_steps": 1000, "production_steps": 10000, "save_every": 10, "species": "Li",
        "target_temperature": 300.0, "seed": 0, "min_distance": 0.5, "max_energy_rise": 2.0,
        "min_species_count": 8, "min_width_over_cutoff": 2.0, "min_hops": 3.0, "max_temperature_deviation": 0.05,
        "start_lag_fs": 1000.0}  # added later: the kinisi fits' start, as fixed before
    assert dataclasses.asdict(AdhesionSettings()) == {"relax_positions": True, "relax_bulk": True, "fmax": 0.05,
                                                      "steps": 300}
    assert dataclasses.asdict(ThermoTaskSettings()) == {"source": "mp", "offline": None}
    assert dataclasses.asdict(ReactTaskSettings()) == {"source": "mp", "offline": None, "voltage": None}
    assert dataclasses.asdict(RunSettings()) == {"batch_size": None, "retries": 0, "journal_mode": "wal",
                                                 "lease_s": 300.0, "trust_model": False}
    with pytest.raises(TypeError, match="temperatures"):
        MDSettings()  # type: ignore[call-arg]  # temperatures have no default, as before


def test_every_kind_declares_its_parameters_by_a_settings_class():
    """The parameter names each kind accepted before, now the fields of its settings class (md-diffusion
    also takes run_replicas' stability limits, min_distance and max_energy_rise)."""
    names = {name: tuple(f.name for f in dataclasses.fields(kind.settings)) if kind.settings else ()
             for name, kind in KINDS.items()}
    assert names["relax"] == ("fmax", "steps", "relax_cell", "optimizer")
    assert names["singlepoint"] == ()
    assert names["adhesion"] == ("relax_positions", "relax_bulk", "fmax", "steps")
    assert names["neb"] == ("n_images", "fmax", "steps", "climb", "spring_constant", "optimizer", "relax_endpoints",
                            "endpoint_fmax", "endpoint_steps", "moving_index", "site_tolerance", "minimum_depth",
                            "same_site_distance", "resolve_minima", "relax_radius_A")
    assert names["md-diffusion"] == ("temperatures", "timestep", "friction", "thermostat", "tdamp",
                                     "equilibration_steps", "production_steps", "save_every", "species",
                                     "target_temperature", "seed", "min_distance", "max_energy_rise",
                                     "min_species_count", "min_width_over_cutoff", "min_hops",
                                     "max_temperature_deviation", "start_lag_fs")
    assert names["window"] == ("source", "offline")
    assert names["react"] == ("source", "offline", "voltage")
    assert set(names["screen"]) == {"source", "offline", "candidates", "voltage_range"}


TASK = """
tasks:
  - kind: relax
    inputs: {atoms: cu}
  - kind: relax
    product: {atoms: [al]}
    parameters: {PARAMETERS}
"""


@pytest.mark.parametrize("parameters, message", [
    ("{fmax: -1}", "fmax = -1 is out of range: expected > 0 eV/Å"),
    ("{steps: 0}", "steps = 0 is out of range: expected >= 1"),
    ("{fmax: abc}", "fmax = 'abc': expected finite float > 0 eV/Å"),
    ("{fmax: .nan}", "fmax = nan: expected finite float"),
    ("{fmax: .inf}", "fmax = inf: expected finite float"),
    ("{steps: 2.5}", "steps = 2.5: expected int"),
    ("{relax_cell: 1}", "relax_cell = 1: expected bool"),
    ("{optimizer: GPMin}", "unknown optimizer 'GPMin'; choose from FIRE, BFGS, LBFGS"),
    ("{temperature: 300}", "unknown parameters ['temperature']; it takes parameters fmax, steps, relax_cell, "
                           "optimizer"),
])
def test_bad_task_parameters_are_refused_when_the_spec_is_read(tmp_path, parameters, message):
    path = write_spec(tmp_path, STRUCTURES + TASK.replace("{PARAMETERS}", parameters))
    with pytest.raises(InputError, match=re.escape(f"batch.yaml: tasks[1] (kind relax): {message}")):
        load_spec(path)
    assert not (tmp_path / "runs").exists()  # nothing ran, no store was made


@pytest.mark.parametrize("body, message", [
    ("store: {lease_s: -5}\n", "lease_s = -5 is out of range: expected > 0 s"),
    ("store: {lease_s: .nan}\n", "lease_s = nan: expected finite float"),
    ("store: {journal_mode: truncate}\n", "unknown journal_mode 'truncate'; choose from wal, delete"),
    ("retries: -1\n", "retries = -1 is out of range: expected >= 0"),
    ("batch_size: 0\n", "batch_size = 0 is out of range: expected >= 1"),
    ("batch_size: many\n", "batch_size = 'many': expected int or null >= 1"),
])
def test_bad_run_settings_are_refused_when_the_spec_is_read(tmp_path, body, message):
    with pytest.raises(InputError, match=re.escape(message)):
        load_spec(write_spec(tmp_path, body + STRUCTURES + TASK.replace("{PARAMETERS}", "{}")))


def test_parameters_of_every_kind_are_checked(tmp_path):
    bodies = {
        "kind: neb\n    inputs: {initial: cu, final: cu}\n    parameters: {n_images: 0}": "n_images = 0",
        "kind: md-diffusion\n    inputs: {atoms: cu}\n    parameters: {temperatures: [300, -5]}":
            "temperatures[1] = -5 is out of range",
        "kind: md-diffusion\n    inputs: {atoms: cu}\n    parameters: {timestep: 1.0}":
            "missing parameters ['temperatures']",
        "kind: adhesion\n    inputs: {interface: cu}\n    parameters: {relax_bulk: maybe}": "relax_bulk = 'maybe'",
        "kind: singlepoint\n    inputs: {atoms: cu}\n    parameters: {fmax: 0.1}": "takes no parameters",
        "kind: window\n    inputs: {formula: LiI}\n    parameters: {offline: 2}": "offline = 2: expected bool or null",
        "kind: react\n    inputs: {reactant_a: Li, reactant_b: LiI}\n    parameters: {voltage: low}": "voltage = 'low'",
        "kind: screen\n    inputs: {electrolyte: LiI, electrode: Li}\n    parameters: {candidates: []}":
            "candidates = []: expected a non-empty list",
        "kind: screen\n    inputs: {electrolyte: LiI, electrode: Li}\n    parameters: "
        "{candidates: [Li3N], voltage_range: [0, 1, 2]}": "voltage_range = [0, 1, 2]: expected a list of 2",
    }
    for task, message in bodies.items():
        path = write_spec(tmp_path, STRUCTURES + "model: emt\ntasks:\n  - " + task + "\n")
        with pytest.raises(InputError, match=r"tasks\[0\].*" + re.escape(message)):
            load_spec(path)


def test_task_parameters_keep_the_mapping_as_written(tmp_path):
    """Keys hash the parameters as the spec wrote them (the validated, coerced values are not stored),
    so stores made before validation existed are reused."""
    path = write_spec(tmp_path, STRUCTURES + """
model: emt
store: {lease_s: 60}
retries: 2
tasks:
  - kind: relax
    inputs: {atoms: cu}
    parameters: {fmax: 1e-3, steps: 10}
  - kind: md-diffusion
    inputs: {atoms: cu}
    parameters: {temperatures: [300]}
""")
    spec = load_spec(path)
    assert spec.tasks[0].parameters == {"fmax": "1e-3", "steps": 10}  # YAML 1.1 reads 1e-3 as text
    assert spec.tasks[1].parameters == {"temperatures": [300]}
    assert (spec.lease_s, spec.retries, spec.batch_size, spec.journal_mode) == (60.0, 2, None, "wal")
