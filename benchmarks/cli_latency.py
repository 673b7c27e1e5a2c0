"""How long `ssbkit ... --help` takes: each command line runs N times in a fresh interpreter; prints the median
wall and CPU (user + system) seconds and their ratio to a bare ``python -c "import typer"``.

Run: ``python benchmarks/cli_latency.py [--repeat N]``. Target: every ``--help`` under 0.5 s wall on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

BASELINE = ("import typer", [sys.executable, "-c", "import typer"])
HELP_COMMANDS = ["", "entries", "potentials", "build", "diffusion", "neb", "window", "neb run"]


def _timed_run(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of the child) of one run of COMMAND."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   env={**os.environ, "COLUMNS": "120"})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _medians(command: list[str], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds over REPEAT runs, after one untimed warm-up run."""
    _timed_run(command)
    walls, cpus = zip(*(_timed_run(command) for _ in range(repeat)), strict=True)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", "-n", type=int, default=5, help="runs per command line (default 5)")
    repeat = parser.parse_args().repeat

    cases = [BASELINE] + [(f"ssbkit {name} --help".replace("  ", " "),
                           [sys.executable, "-m", "ssbkit", *name.split(), "--help"]) for name in HELP_COMMANDS]
    print(f"median of {repeat} runs; ratio = time / time of `import typer`")
    print(f"{'command':<28} {'wall (s)':>9} {'CPU (s)':>9} {'wall ratio':>11} {'CPU ratio':>10}")
    base_wall = base_cpu = 0.0
    for label, command in cases:
        wall, cpu = _medians(command, repeat)
        if command is BASELINE[1]:
            base_wall, base_cpu = wall, cpu
        print(f"{label:<28} {wall:9.3f} {cpu:9.3f} {wall / base_wall:11.2f} {cpu / base_cpu:10.2f}", flush=True)


if __name__ == "__main__":
    main()
