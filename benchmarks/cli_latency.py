"""How long users wait for the CLI: each command line runs N times in a fresh interpreter; prints the median
wall and CPU (user + system) seconds.

- ``ssbkit ... --help``: ratio to a bare ``python -c "import typer"``. Target: every ``--help`` under 0.5 s wall
  on an idle machine.
- ``ssbkit window LiNbO3 --source experimental`` and ``ssbkit react LiCoO2 Li2S --source experimental``: ratio to
  a minimal pymatgen script computing the same thing (read pymatgen's experimental enthalpies, build the
  phase diagram, element profile / interfacial reactivity, print). Target: CPU ratio <= 1.2.

Run: ``python benchmarks/cli_latency.py [--repeat N] [--only help|work]``.
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
HELP_COMMANDS = ["", "entries", "potentials", "build", "diffusion", "neb", "window", "adhesion", "kinetics",
                 "neb run", "neb refine", "diffusion run", "build slab", "potentials finetune"]

#: The shared part of the minimal pymatgen scripts: experimental enthalpies as PDEntries, elements at zero.
_PYMATGEN_ENTRIES = """
import gzip, json, sys
from importlib.util import find_spec
from pathlib import Path
from pymatgen.core import Composition, Element
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
folder = Path(find_spec("pymatgen").submodule_search_locations[0])
with gzip.open(folder / "analysis/compatibility/exp_compounds.json.gz", "rt") as handle:
    records = json.load(handle)
entries = [PDEntry(Composition(r["formula"]), r["exp energy"]) for r in records]
entries += [PDEntry(Composition(el), 0.0) for el in {str(e) for x in entries for e in x.composition.elements}]
def within(symbols):
    allowed = {Element(s) for s in symbols}
    return [e for e in entries if set(e.composition.elements) <= allowed]
"""
PYMATGEN_WINDOW = _PYMATGEN_ENTRIES + """
diagram = PhaseDiagram(within(["Li", "Nb", "O"]))
li = diagram.el_refs[Element("Li")].energy_per_atom
for step in diagram.get_element_profile(Element("Li"), Composition("LiNbO3")):
    print(li - step["chempot"], step["evolution"], step["reaction"])
"""
PYMATGEN_REACT = _PYMATGEN_ENTRIES + """
from pymatgen.analysis.interface_reactions import InterfacialReactivity
diagram = PhaseDiagram(within(["Co", "Li", "O", "S"]))
reactivity = InterfacialReactivity(Composition("LiCoO2"), Composition("Li2S"), diagram, norm=True,
                                   use_hull_energy=True)
for kink in reactivity.get_kinks():
    print(*kink[1:4])
"""
WORK_CASES = [
    ("window LiNbO3 --source experimental", ["window", "LiNbO3", "--source", "experimental"], PYMATGEN_WINDOW),
    ("react LiCoO2 Li2S --source experimental", ["react", "LiCoO2", "Li2S", "--source", "experimental"],
     PYMATGEN_REACT),
]


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


def _time_work(repeat: int) -> None:
    """The window/react cases against the minimal pymatgen scripts."""
    print(f"median of {repeat} runs; ratio = ssbkit time / time of the minimal pymatgen script")
    print(f"{'command':<46} {'wall (s)':>9} {'CPU (s)':>9} {'pymatgen CPU':>13} {'CPU ratio':>10}")
    for label, arguments, script in WORK_CASES:
        wall, cpu = _medians([sys.executable, "-m", "ssbkit", *arguments], repeat)
        _, base_cpu = _medians([sys.executable, "-c", script], repeat)
        print(f"ssbkit {label:<39} {wall:9.3f} {cpu:9.3f} {base_cpu:13.3f} {cpu / base_cpu:10.2f}", flush=True)
    print()


def _time_help(repeat: int) -> None:
    """Each --help of HELP_COMMANDS against ``import typer``."""
    cases = [BASELINE] + [(f"ssbkit {name} --help".replace("  ", " "),
                           [sys.executable, "-m", "ssbkit", *name.split(), "--help"]) for name in HELP_COMMANDS]
    print(f"median of {repeat} runs; ratio = time / time of `import typer`")
    print(f"{'command':<36} {'wall (s)':>9} {'CPU (s)':>9} {'wall ratio':>11} {'CPU ratio':>10}")
    base_wall = base_cpu = 0.0
    for label, command in cases:
        wall, cpu = _medians(command, repeat)
        if command is BASELINE[1]:
            base_wall, base_cpu = wall, cpu
        print(f"{label:<36} {wall:9.3f} {cpu:9.3f} {wall / base_wall:11.2f} {cpu / base_cpu:10.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", "-n", type=int, default=5, help="runs per command line (default 5)")
    parser.add_argument("--only", choices=("help", "work"), help="time only the --help commands or only the "
                                                                "window/react cases (default: both)")
    arguments = parser.parse_args()
    repeat = arguments.repeat
    if arguments.only != "help":
        _time_work(repeat)
    if arguments.only != "work":
        _time_help(repeat)


if __name__ == "__main__":
    main()
