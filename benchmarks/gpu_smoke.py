"""First minute of a GPU session: every package the device checks need imports, and SevenNet-0 and CHGNet on
the GPU give the CPU's energies and forces for the same cells (float32 on both: agreement within 1e-3 eV
and 1e-3 eV/Å is expected; the reference is the CPU evaluation of the same model in this run).

Exits with 1 when a package the later checks need is missing, so a session can stop early and retry.

    python -m benchmarks.gpu_smoke --device cuda
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import warnings

REQUIRED = ("sevenn.calculator", "chgnet.model", "e3nn.o3", "kinisi", "scipp", "pymatgen.core", "ase", "nbclient",
            "nbformat", "ipykernel", "pymatgen.analysis.diffusion.analyzer")
OPTIONAL = ("torch_sim", "vesin")
DISTRIBUTIONS = {"pymatgen.core": "pymatgen-core", "torch_sim": "torch-sim-atomistic",
                 "pymatgen.analysis.diffusion.analyzer": "pymatgen-analysis-diffusion"}


def versions() -> list[str]:
    """'name version' for each package, or 'name MISSING (error)'; the missing required ones are marked."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    def version(module: str) -> str:
        distribution = DISTRIBUTIONS.get(module, module.split(".")[0])
        try:
            return distribution_version(distribution)
        except PackageNotFoundError:
            return "(version unknown)"
    lines = []
    for name in REQUIRED + OPTIONAL:
        try:
            importlib.import_module(name)
            lines.append(f"{name} {version(name)}")
        except Exception as exc:  # report every failure, then decide
            marker = "REQUIRED " if name in REQUIRED else ""
            lines.append(f"{name} {marker}MISSING ({type(exc).__name__}: {exc})")
    return lines


def cpu_gpu_agreement(model: str, device: str) -> str:
    """Largest energy (eV) and force (eV/Å) differences between CPU and ``device`` for three rattled cells."""
    import numpy as np
    from ase.build import bulk

    from ssbkit.potentials import load, predict

    cells = [bulk("Li", "bcc", a=3.44, cubic=True).repeat(3), bulk("MgO", "rocksalt", a=4.21).repeat(2),
             bulk("W", "bcc", a=3.17, cubic=True).repeat(2)]
    for index, atoms in enumerate(cells):
        atoms.rattle(0.05, seed=index)
    began = time.perf_counter()
    on_device = predict(cells, load(model, device=device))
    device_s = time.perf_counter() - began
    on_cpu = predict(cells, load(model, device="cpu"))
    energy = max(abs(a.energy - b.energy) for a, b in zip(on_device, on_cpu))
    force = max(float(np.abs(a.forces - b.forces).max()) for a, b in zip(on_device, on_cpu))
    return (f"{model}: |E_gpu - E_cpu| <= {energy:.2e} eV, |F_gpu - F_cpu| <= {force:.2e} eV/Å "
            f"({len(cells)} cells, first device call {device_s:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import torch

    print(f"python {sys.version.split()[0]}, torch {torch.__version__}, cuda available {torch.cuda.is_available()}",
          flush=True)
    from ssbkit.potentials._compat import configure_e3nn

    configure_e3nn()  # as ssbkit does before loading a SevenNet model
    lines = versions()
    print("\n".join(lines), flush=True)
    if any("REQUIRED MISSING" in line for line in lines):
        sys.exit(1)
    for model in ("sevennet-0", "chgnet"):
        print(cpu_gpu_agreement(model, args.device), flush=True)


if __name__ == "__main__":
    main()
