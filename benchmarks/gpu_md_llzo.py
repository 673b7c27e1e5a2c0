"""MD throughput of a ~2000-atom LLZO bicrystal with SevenNet-0 on one device, and where the time goes.

Builds the cubic LLZO Sigma 5 (001) twist bicrystal (1920 atoms, ``llzo_grain_boundary``), then prints:

- graph building (``Backend.graph``: neighbour list and graph on the host) against the model call
  (``Backend.evaluate``: forward and backward on the device), seconds per evaluation, median of ``--repeat``;
- NVT MD steps per second through ``ssbkit.workflows.md.run_replicas`` (one replica);
- the same MD with torch-sim 0.3.0 when it is installed (skipped with a note otherwise). Its SevenNet wrapper
  expects sevenn >= 0.11; with older sevenn the two attributes it reads are set first.

    python -m benchmarks.gpu_md_llzo --device cuda --steps 50 [--model sevennet-0]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings


def _synchronise(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def graph_vs_model(atoms, calculator, device: str, repeat: int) -> tuple[float, float]:
    """Median seconds of building one graph and of one batched model call on it."""
    from ssbkit.potentials.backends import backend_for

    backend = backend_for(calculator)
    graph_s, model_s = [], []
    for _ in range(repeat + 1):  # the first round warms up
        _synchronise(device)
        began = time.perf_counter()
        graph = backend.graph(calculator, atoms)
        _synchronise(device)
        built = time.perf_counter()
        backend.evaluate(calculator, [graph])
        _synchronise(device)
        graph_s.append(built - began)
        model_s.append(time.perf_counter() - built)
    return statistics.median(graph_s[1:]), statistics.median(model_s[1:])


def ssbkit_md(atoms, calculator, steps: int) -> float:
    """Steps per second of ssbkit's NVT MD (Langevin, 600 K, 2 fs)."""
    from ssbkit.workflows.md import run_replicas

    with tempfile.TemporaryDirectory() as directory:
        run_replicas([atoms], [600.0], calculator, f"{directory}/warm-up", equilibration_steps=0, production_steps=2,
                     save_every=2, progress=False)
        began = time.perf_counter()
        run_replicas([atoms], [600.0], calculator, f"{directory}/run", equilibration_steps=0,
                     production_steps=steps, save_every=steps, progress=False)
        return steps / (time.perf_counter() - began)


def torch_sim_md(atoms, calculator, device: str, steps: int) -> str:
    """Steps per second of torch-sim's NVT Langevin MD on the same SevenNet model, and its energy of ``atoms``
    against ssbkit's (the same model must give the same number), or why it was skipped."""
    try:
        import torch
        import torch_sim as ts
        from torch_sim.models.sevennet import SevenNetModel
    except ImportError as exc:
        return f"skipped: torch-sim not installed ({exc})"
    from importlib.metadata import version

    import sevenn._keys

    from ssbkit.potentials import predict

    if not hasattr(sevenn._keys, "DATA_MODALITY"):  # sevenn < 0.11 lacks what torch-sim's wrapper reads
        sevenn._keys.DATA_MODALITY = "data_modality"
    if not hasattr(calculator.model, "modal_map"):
        calculator.model.modal_map = None
    try:
        model = SevenNetModel(model=calculator.model, modal=None, device=device)
        their_energy = float(model(ts.initialize_state(atoms, torch.device(device), torch.float32))["energy"][0])
        our_energy = predict([atoms], calculator)[0].energy
        ts.integrate(system=atoms, model=model, integrator=ts.nvt_langevin, n_steps=2, temperature=600.0,
                     timestep=0.002)
        _synchronise(device)
        began = time.perf_counter()
        ts.integrate(system=atoms, model=model, integrator=ts.nvt_langevin, n_steps=steps, temperature=600.0,
                     timestep=0.002)
        _synchronise(device)
        return (f"{steps / (time.perf_counter() - began):.2f} steps/s (torch-sim {version('torch-sim-atomistic')}); "
                f"energy {their_energy:.6f} eV against ssbkit's {our_energy:.6f} eV")
    except Exception as exc:  # an API mismatch with this torch-sim version: report it, do not fail the run
        return f"skipped: torch-sim failed ({type(exc).__name__}: {exc})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="sevennet-0")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    from ssbkit.interfaces.structures.llzo import llzo_grain_boundary
    from ssbkit.potentials import load

    atoms = llzo_grain_boundary().atoms
    calculator = load(args.model, device=args.device, task="md")
    graph_s, model_s = graph_vs_model(atoms, calculator, args.device, args.repeat)
    print(f"LLZO Sigma 5 bicrystal, {len(atoms)} atoms, {args.model} on {args.device}", flush=True)
    print(f"graph building {graph_s:.4f} s, model {model_s:.4f} s per evaluation "
          f"(graph share {graph_s / (graph_s + model_s):.0%})", flush=True)
    print(f"ssbkit MD: {ssbkit_md(atoms, calculator, args.steps):.2f} steps/s", flush=True)
    print(f"torch-sim MD: {torch_sim_md(atoms, calculator, args.device, args.steps)}", flush=True)


if __name__ == "__main__":
    main()
