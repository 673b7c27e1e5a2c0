"""The settings of the workflows that run a model, one frozen dataclass each, in a module that imports no
physics: the CLI builds its options from these classes (``ssbkit.cli.types.settings_options``) without importing
numpy-heavy workflow modules, so ``--help`` stays fast. Each workflow module imports its class from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ssbkit.settings import REQUIRED, setting, validate

NEB_OPTIMIZERS = ("FIRE", "BFGS", "MDMin")  # class names in ase.optimize
THERMOSTATS = ("langevin", "nose-hoover")
ROOM_TEMPERATURE = 300.0  # K
MIN_HOPS = 3.0  # hops of the shortest site distance the MSD must reach before D is a diffusion coefficient
MAX_TEMPERATURE_DEVIATION = 0.05  # largest relative deviation of the mean kinetic temperature from the target
START_LAG_FS = 1000.0  # fs: the kinisi fits start at this lag, past the vibrational (ballistic) MSD


@dataclass(frozen=True, kw_only=True)
class AdhesionSettings:
    """How :func:`ssbkit.workflows.adhesion.adhesion` and ``surface_energy`` evaluate the slabs and bulks."""

    relax_positions: bool = setting(True, help="Relax positions of the interface, film and substrate (slab).")
    relax_bulk: bool = setting(True, help="Relax the bulk references (positions and cell).")
    fmax: float = setting(0.05, help="Force convergence (eV/Å).", unit="eV/Å", minimum=0, exclusive_minimum=True)
    steps: int = setting(300, help="Largest number of optimizer steps.", minimum=1)

    def __post_init__(self) -> None:
        validate(self)



@dataclass(frozen=True, kw_only=True)
class KineticsSettings:
    """How :func:`ssbkit.workflows.kinetics.kinetics` finds hops, runs the NEBs and Hessians, and the kMC."""

    mechanism: str = setting("interstitial", help="Interstitial Li, or vacancy-mediated hops.",
                             choices=("interstitial", "vacancy"))
    species: str = setting("Li", help="The diffusing element.")
    temperatures: tuple[float, ...] = setting((300.0, 400.0, 500.0, 600.0), help="Temperatures (K).", unit="K",
                                              minimum=0, exclusive_minimum=True)
    full: bool = setting(False, help="Named hosts: production-size cells instead of small ones.")
    max_length: float = setting(3.3, help="Host files: longest hop (Å).", unit="Å", minimum=0, exclusive_minimum=True)
    supercell_min_length: float = setting(9.0, help="Smallest width (Å) of the NEB supercells (host files) and "
                                          "of the vacancy-formation cell.", unit="Å",
                                          minimum=0, exclusive_minimum=True)
    n_images: int = setting(5, help="Interior NEB images.", minimum=1)
    neb_fmax: float = setting(0.05, help="NEB convergence: largest force (eV/Å).", unit="eV/Å", minimum=0,
                              exclusive_minimum=True)
    neb_steps: int = setting(300, help="Most NEB optimizer steps.", minimum=1)
    hessian: str = setting("partial", help="Hessian: the moving atom and its neighbours, or every free atom.",
                           choices=("partial", "full"))
    hessian_cutoff: float = setting(3.2, help="Partial Hessian: atoms within this distance (Å) of the moving atom.",
                                    unit="Å", minimum=0)
    displacement: float = setting(0.01, help="Finite-difference displacement (Å).", unit="Å", minimum=0,
                                  exclusive_minimum=True)
    imaginary_threshold: float = setting(0.1, help="Modes below minus this frequency (THz) count as imaginary.",
                                         unit="THz", minimum=0)
    bad_saddle: str = setting("error", help="A saddle without exactly one imaginary mode: stop, or go on with a "
                              "caveat (the lowest mode taken as the reaction coordinate).", choices=("error", "caveat"))
    vacancy_formation_energy: float | None = setting(None, help="Vacancy mechanism: E_f (eV); default: computed "
                                                     "with the model.", unit="eV")
    correlation_factor: float | None = setting(None, help="Vacancy mechanism: tracer correlation factor; default: "
                                               "bcc 0.727, fcc/hcp 0.781.", minimum=0, maximum=1)
    kmc_walkers: int = setting(2000, help="kMC walkers per temperature.", minimum=16)
    kmc_steps: int = setting(2000, help="kMC jumps per walker.", minimum=1)
    seed: int = setting(0, help="kMC random seed.", minimum=0)

    def __post_init__(self) -> None:
        validate(self)



@dataclass(frozen=True, kw_only=True)
class MDSettings:
    """How :func:`ssbkit.workflows.md.run_replicas` runs NVT MD and :func:`ssbkit.workflows.diffusion.diffusion`
    analyses it."""

    temperatures: tuple[float, ...] = setting(REQUIRED, help="Temperatures (K), one replica each.", unit="K",
                                              minimum=0, exclusive_minimum=True)
    timestep: float = setting(2.0, help="Time step (fs).", unit="fs", minimum=0, exclusive_minimum=True)
    friction: float = setting(0.002, help="Langevin friction (1/fs); 0.002 = 500 fs relaxation time.",
                              unit="1/fs", minimum=0, exclusive_minimum=True)
    thermostat: str = setting("langevin", help="langevin or nose-hoover (chain of 3).", choices=THERMOSTATS)
    tdamp: float = setting(100.0, help="Nose-Hoover thermostat period (fs).", unit="fs",
                           minimum=0, exclusive_minimum=True)
    equilibration_steps: int = setting(1000, help="Equilibration steps (not analysed).", minimum=0)
    production_steps: int = setting(10000, help="Production steps.", minimum=1)
    save_every: int = setting(10, help="Save a frame every N steps.", minimum=1)
    species: str = setting("Li", help="Diffusing species.")
    target_temperature: float = setting(ROOM_TEMPERATURE, help="Temperature (K) the Arrhenius fit extrapolates to.",
                                        unit="K", minimum=0, exclusive_minimum=True)
    seed: int = setting(0, help="Random seed for velocities and the thermostat.", minimum=0)
    min_distance: float = setting(0.5, help="Atoms closer than this (Å) mean unstable dynamics; 0: no check.",
                                  unit="Å", minimum=0)
    max_energy_rise: float = setting(2.0, help="Potential energy rise (eV/atom) above the start that means "
                                     "unstable dynamics.", unit="eV/atom", minimum=0, exclusive_minimum=True)
    min_species_count: int = setting(8, help="Fewest atoms of the diffusing species the cell must hold.", minimum=1)
    min_width_over_cutoff: float = setting(2.0, help="Smallest perpendicular cell width over the model's cutoff "
                                           "radius (2 = minimum image); 0: no check.", minimum=0)
    min_hops: float = setting(MIN_HOPS, help="Fewest hops (MSD over the squared shortest site distance) at every "
                              "temperature for D(T) to be extrapolated.", minimum=0)
    max_temperature_deviation: float = setting(MAX_TEMPERATURE_DEVIATION, help="Relative deviation of the mean "
                                               "kinetic temperature from the target that raises a caveat.",
                                               minimum=0, exclusive_minimum=True)
    start_lag_fs: float = setting(START_LAG_FS, help="Shortest lag time (fs) of the kinisi fits: past the "
                                  "vibrational MSD, below half the production.", unit="fs",
                                  minimum=0, exclusive_minimum=True)

    def __post_init__(self) -> None:
        validate(self)



@dataclass(frozen=True, kw_only=True)
class NEBSettings:
    """How :func:`ssbkit.workflows.neb.neb` relaxes the endpoints, optimizes the band and checks the path."""

    n_images: int = setting(5, help="Interior images of the band.", minimum=1)
    fmax: float = setting(0.05, help="Convergence: largest NEB force (eV/Å).", unit="eV/Å",
                          minimum=0, exclusive_minimum=True)
    steps: int = setting(500, help="Most band optimizer steps.", minimum=1)
    climb: bool = setting(True, help="Climbing image: the highest image climbs to the saddle point.")
    spring_constant: float = setting(0.1, help="Spring constant between images (eV/Å²).", unit="eV/Å²",
                                     minimum=0, exclusive_minimum=True)
    optimizer: str = setting("FIRE", help="ASE optimizer of the band.", choices=NEB_OPTIMIZERS)
    relax_endpoints: bool = setting(True, help="Relax the endpoints (positions, fixed cell) first.")
    endpoint_fmax: float = setting(0.02, help="Endpoint relaxation convergence: largest force (eV/Å).",
                                   unit="eV/Å", minimum=0, exclusive_minimum=True)
    endpoint_steps: int = setting(500, help="Most optimizer steps per endpoint relaxation.", minimum=1)
    moving_index: int | None = setting(None, help="Index of the hopping atom (default: the atom that moves "
                                       "most between the endpoints).", minimum=0)
    site_tolerance: float = setting(0.5, help="How far (Å) the moving atom may relax away from where it was "
                                    "placed before a warning.", unit="Å", minimum=0)
    minimum_depth: float = setting(0.01, help="Depth (eV) from which an interior minimum splits the path "
                                   "into segments.", unit="eV", minimum=0)
    same_site_distance: float = setting(0.3, help="Relaxed endpoints whose moving atom lies closer than this "
                                        "(Å) relaxed into one site: an error.", unit="Å", minimum=0)
    resolve_minima: bool = setting(False, help="Re-run the NEB between relaxed intermediate minima.")
    relax_radius_A: float | None = setting(None, help="Hold atoms farther than this (Å) from the hop's midpoint "
                                           "fixed (None: relax the whole cell).", unit="Å", minimum=0,
                                           exclusive_minimum=True)

    def __post_init__(self) -> None:
        validate(self)



@dataclass(frozen=True, kw_only=True)
class RefineSettings:
    """How :func:`ssbkit.workflows.refine.refine_barrier` chooses configurations and decides it has converged."""

    rounds: int = setting(4, help="Most fine-tuning rounds.", minimum=1)
    tolerance: float = setting(0.02, help="Convergence: barrier change between rounds and largest difference "
                               "between ML and reference energies along the path (eV).", unit="eV", minimum=0,
                               exclusive_minimum=True)
    rattles: int = setting(2, help="Rattled copies of each path image labelled per round.", minimum=0)
    rattle_amplitude: float = setting(0.04, help="Standard deviation of the rattle displacements (Å).", unit="Å",
                                      minimum=0)
    committee_rattles: int = setting(4, help="Extra rattles of the image where the committee disagrees most.",
                                     minimum=0)
    seed: int = setting(0, help="Seed of the rattles.", minimum=0)
    from_base: bool = setting(True, help="Fine-tune the initial model on every label so far in each round (rather "
                              "than the previous round's model), so no round inherits an earlier fit.")
    reference_endpoints: bool = setting(False, help="Relax the endpoints with the reference first (to half "
                                        "reference_neb_fmax) and keep them through every round: the ML CI-NEB "
                                        "runs between the reference's minima, and each relaxation step is a label.")
    reference_neb: bool = setting(False, help="Finish with a reference CI-NEB started from the refined ML path.")
    reference_neb_images: int = setting(3, help="Interior images of the reference CI-NEB.", minimum=1)
    reference_neb_fmax: float = setting(0.05, help="Reference CI-NEB convergence: largest NEB force (eV/Å).",
                                        unit="eV/Å", minimum=0, exclusive_minimum=True)
    reference_neb_steps: int = setting(200, help="Most reference CI-NEB optimizer steps.", minimum=1)

    def __post_init__(self) -> None:
        validate(self)
