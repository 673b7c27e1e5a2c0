"""The package layout as a rule: imports only go down (cli -> workflows -> interfaces -> potentials -> foundation),
the runner knows task kinds only through ``ssbkit.workflows.kinds``, module-level imports form no cycle, and
only the CLI prints or touches pyplot.

The source is read with ``ast`` (nothing is imported), so every import counts: module-level, inside functions,
``import x`` and ``from x import y``, relative ones resolved against the importing module's package.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "ssbkit"

FOUNDATION_MODULES = {"errors", "results", "io", "config", "settings", "data", "plotting", "logs"}  # plotting: saves Figures
LAYERS = ("foundation", "potentials", "interfaces", "workflows", "runner", "cli")
ALLOWED = {
    "foundation": {"foundation"},
    "potentials": {"foundation", "potentials"},
    "interfaces": {"foundation", "potentials", "interfaces"},
    "workflows": {"foundation", "potentials", "interfaces", "workflows", "runner"},
    "runner": {"foundation", "runner"},
    "cli": set(LAYERS),
}
RUNNER_MAY_ALSO_IMPORT = {"ssbkit.workflows.kinds"}  # the task-kind registry, its one door to the physics


@dataclass(frozen=True)
class Import:
    """One import of an ssbkit module: ``source`` imports ``target`` at ``path:line``."""

    source: str
    target: str
    path: Path
    line: int
    module_level: bool  # runs when ``source`` is imported (not inside a function, not under TYPE_CHECKING)

    def where(self) -> str:
        return f"{_shown(self.path)}:{self.line}: {self.source} -> {self.target}"


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it."""
    try:
        return str(path.relative_to(PACKAGE_DIR.parent))
    except ValueError:
        return str(path)


def module_files(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under ``package_dir`` (packages by their __init__)."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def layer_of(module: str) -> str | None:
    """The layer a dotted ssbkit module name belongs to; None for a module outside the layout."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in FOUNDATION_MODULES:
        return "foundation"
    if parts[1] in ("cli", "__main__"):
        return "cli"
    if parts[1] == "workflows" and len(parts) > 2 and parts[2] == "runner":
        return "runner"
    if parts[1] in ("potentials", "interfaces", "workflows"):
        return parts[1]
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _ImportCollector(ast.NodeVisitor):
    def __init__(self, module: str, path: Path, is_package: bool, modules: set[str], root: str):
        self.module, self.path, self.modules, self.root = module, path, modules, root
        self.package = module if is_package else module.rpartition(".")[0]
        self.depth = 0  # > 0 inside a function body or a TYPE_CHECKING block
        self.found: list[Import] = []

    def _deferred(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _deferred

    def visit_If(self, node: ast.If):
        if _is_type_checking(node.test):
            self.depth += 1
            for child in node.body:
                self.visit(child)
            self.depth -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def _add(self, target: str, node: ast.stmt):
        imp = Import(self.module, target, self.path, node.lineno, self.depth == 0)
        if (target == self.root or target.startswith(self.root + ".")) and imp not in self.found:
            self.found.append(imp)

    def visit_Import(self, node: ast.Import):
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom):
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        for alias in node.names:
            submodule = f"{prefix}.{alias.name}"
            self._add(submodule if submodule in self.modules else prefix, node)


def collect_imports(package_dir: Path) -> list[Import]:
    """Every import of a module of the package, from every file of the package."""
    files = module_files(package_dir)
    found = []
    for module, path in files.items():
        collector = _ImportCollector(module, path, path.name == "__init__.py", set(files), package_dir.name)
        collector.visit(ast.parse(path.read_text(), filename=str(path)))
        found += collector.found
    return found


def layer_violations(imports: list[Import], files: dict[str, Path]) -> list[str]:
    """One line per import that goes the wrong way (or per module outside the layout)."""
    problems = [f"{_shown(path)}: {module} belongs to no layer"
                for module, path in files.items() if layer_of(module) is None]
    for imp in imports:
        source, target = layer_of(imp.source), layer_of(imp.target)
        if source is None or target is None:
            if target is None:
                problems.append(f"{imp.where()} (target belongs to no layer)")
            continue
        if target in ALLOWED[source] or (source == "runner" and imp.target in RUNNER_MAY_ALSO_IMPORT):
            continue
        allowed = ", ".join(sorted(ALLOWED[source]) + (sorted(RUNNER_MAY_ALSO_IMPORT) if source == "runner" else []))
        problems.append(f"{imp.where()} ({source} may import only {allowed})")
    return problems


def find_cycle(imports: list[Import]) -> list[Import] | None:
    """A cycle of module-level imports (as the imports that close it), or None; depth-first search."""
    edges: dict[str, list[Import]] = {}
    for imp in imports:
        if imp.module_level and imp.source != imp.target:
            edges.setdefault(imp.source, []).append(imp)
    state: dict[str, str] = {}  # "open" while on the current path, "done" once fully explored
    path: list[Import] = []

    def visit(module: str) -> list[Import] | None:
        state[module] = "open"
        for imp in edges.get(module, []):
            if state.get(imp.target) == "open":  # back to a module on the current path: a cycle
                start = next(i for i, step in enumerate(path) if step.source == imp.target)
                return path[start:] + [imp]
            if imp.target not in state:
                path.append(imp)
                if cycle := visit(imp.target):
                    return cycle
                path.pop()
        state[module] = "done"
        return None

    for module in sorted(edges):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def plotting_and_printing(package_dir: Path) -> list[str]:
    """Calls of print() or matplotlib.use(), and imports of matplotlib.pyplot, outside the CLI."""
    problems = []
    for module, path in module_files(package_dir).items():
        if layer_of(module) == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            where = f"{_shown(path)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id == "print":
                    problems.append(f"{where}: print() (return the data; the CLI prints)")
                if (isinstance(func, ast.Attribute) and func.attr == "use" and isinstance(func.value, ast.Name)
                        and func.value.id in ("matplotlib", "mpl")):
                    problems.append(f"{where}: matplotlib.use() (build a matplotlib.figure.Figure instead)")
            elif isinstance(node, ast.Import):
                problems += [f"{where}: import {a.name}" for a in node.names if a.name == "matplotlib.pyplot"]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                if node.module == "matplotlib.pyplot":
                    problems.append(f"{where}: from matplotlib.pyplot import ...")
                if node.module == "matplotlib":
                    problems += [f"{where}: from matplotlib import {a.name}" for a in node.names
                                 if a.name in ("pyplot", "use")]
    return problems


# --- the rules, on ssbkit -------------------------------------------------------------------------------


def test_imports_only_go_down():
    problems = layer_violations(collect_imports(PACKAGE_DIR), module_files(PACKAGE_DIR))
    assert not problems, "imports against the layer order:\n" + "\n".join(problems)


def test_module_level_imports_have_no_cycle():
    cycle = find_cycle(collect_imports(PACKAGE_DIR))
    assert cycle is None, "import cycle:\n" + "\n".join(imp.where() for imp in cycle)


def test_only_the_cli_prints_or_uses_pyplot():
    problems = plotting_and_printing(PACKAGE_DIR)
    assert not problems, "\n".join(problems)


# --- the checker itself, on a made-up package with known faults -------------------------------------------


@pytest.fixture
def toy_package(tmp_path) -> Path:
    files = {
        "__init__.py": "from ssbkit.errors import Oops\n",
        "errors.py": "class Oops(Exception):\n    pass\n",
        "potentials/__init__.py": "from . import registry\n",
        "potentials/registry.py": "from ..errors import Oops\n",
        "interfaces/__init__.py": "",
        "interfaces/entries.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                  "    from ssbkit.interfaces.phases import Diagram\n"
                                  "def mlip():\n    from ssbkit.workflows import ml_entries\n"),
        "interfaces/phases.py": "import ssbkit.interfaces.entries\n",
        "workflows/__init__.py": "",
        "workflows/ml_entries.py": "from ssbkit.interfaces.entries import mlip\nimport ssbkit.workflows.a\n",
        "workflows/a.py": "from .b import x\n",
        "workflows/b.py": "from . import c\n",
        "workflows/c.py": "import ssbkit.workflows.a\nprint('hi')\nimport matplotlib\nmatplotlib.use('Agg')\n",
        "workflows/runner/__init__.py": "from .store import Store\nfrom ..relax import relax\n",
        "workflows/runner/store.py": ("from ssbkit.workflows.kinds import KINDS\n"
                                      "def main():\n    from ssbkit.cli import app\n"),
        "workflows/kinds.py": "",
        "workflows/relax.py": "",
        "cli.py": "import matplotlib.pyplot as plt\nfrom ssbkit.workflows.runner import store\nprint(1)\n",
        "utils.py": "",
    }
    root = tmp_path / "ssbkit"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_checker_finds_the_faults_of_a_toy_package(toy_package):
    imports = collect_imports(toy_package)
    arrows = {(i.source, i.target, i.module_level) for i in imports}
    assert ("ssbkit.potentials", "ssbkit.potentials.registry", True) in arrows  # from . import module
    assert ("ssbkit.potentials.registry", "ssbkit.errors", True) in arrows  # from .. import
    assert ("ssbkit.interfaces.entries", "ssbkit.workflows.ml_entries", False) in arrows  # inside a function
    assert ("ssbkit.interfaces.entries", "ssbkit.interfaces.phases", False) in arrows  # TYPE_CHECKING only

    problems = layer_violations(imports, module_files(toy_package))
    flagged = sorted(p.split(": ", 1)[1].split(" (")[0] for p in problems)
    assert flagged == ["ssbkit.interfaces.entries -> ssbkit.workflows.ml_entries",
                       "ssbkit.utils belongs to no layer",
                       "ssbkit.workflows.runner -> ssbkit.workflows.relax",
                       "ssbkit.workflows.runner.store -> ssbkit.cli"]
    assert any(p.startswith(f"{toy_package / 'interfaces' / 'entries.py'}:5: ") for p in problems)  # file:line

    cycle = find_cycle(imports)
    assert [(i.source, i.target) for i in cycle] == [("ssbkit.workflows.a", "ssbkit.workflows.b"),
                                                     ("ssbkit.workflows.b", "ssbkit.workflows.c"),
                                                     ("ssbkit.workflows.c", "ssbkit.workflows.a")]
    assert len(plotting_and_printing(toy_package)) == 2  # print and matplotlib.use in c.py; cli.py may


def test_no_cycle_when_the_back_edge_is_deferred(toy_package):
    (toy_package / "workflows" / "c.py").write_text("def later():\n    import ssbkit.workflows.a\n")
    assert find_cycle(collect_imports(toy_package)) is None
