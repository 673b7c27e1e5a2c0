"""Property-based fuzzing of the CLI's numeric and formula arguments and of spec parameters: any input either
succeeds or exits 2 with exactly one line on stderr, never a traceback, and a failure writes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ase.build import bulk
from ase.io import write
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cli_helpers import invoke_without_warnings

# derandomize: CI explores the same examples every run (a failure reproduces); widen locally with
# SSBKIT_FUZZ_EXAMPLES=500 to search further.
FUZZ = settings(max_examples=int(os.environ.get("SSBKIT_FUZZ_EXAMPLES", "25")), deadline=None,
                derandomize="SSBKIT_FUZZ_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1e-300, 1e300, -1.0]))
INTS = st.one_of(st.integers(), st.integers(min_value=-3, max_value=12))
FORMULAS = st.one_of(
    st.sampled_from(["Li2O", "LiNbO3", "Li2S", "LiF", "Li6PS5Cl", "Li", "Nb2O5", "Li7La3Zr2O12"]),
    st.sampled_from(["Li1e30O", "Li999999999999P", "Li-3O", "Li0O", "Xx2O", "Li₆PS₅Cl", "LiO)(", "", "  ",
                     "[red]Li", "Li2O;rm", "Li.5O", "Li2O" * 40]),
    st.text(max_size=12),
)


def _listing(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*"))


def _invoke(args: list[str], directory: Path) -> None:
    """Run ``ssbkit ARGS`` in DIRECTORY and check the outcome: success, or exit 2, one stderr line, no file."""
    before = _listing(directory)
    cwd = os.getcwd()
    os.chdir(directory)
    try:
        result = invoke_without_warnings(args, env={"COLUMNS": "100", "SSBKIT_OFFLINE": "1"})
    finally:
        os.chdir(cwd)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    assert result.exit_code in (0, 2), (args, result.exit_code, result.output)
    assert "Traceback" not in result.stderr, (args, result.stderr)
    if result.exit_code == 2:
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert _listing(directory) == before, args


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A directory with two tiny NEB endpoints (Al, one atom moved) and a small bulk file."""
    start = bulk("Al", "fcc", a=4.05, cubic=True)
    end = start.copy()
    end.positions[0] += [0.1, 0.0, 0.0]
    write(tmp_path / "start.extxyz", start)
    write(tmp_path / "end.extxyz", end)
    write(tmp_path / "al.extxyz", start)
    return tmp_path


@FUZZ
@given(formula=FORMULAS)
def test_window_formula(workdir, formula):
    _invoke(["window", formula, "--source", "experimental"], workdir)


@FUZZ
@given(a=FORMULAS, b=FORMULAS, voltage=FLOATS)
@example(a="Li2O", b="0\x1e:", voltage=0.0)  # found: a control character that str.splitlines breaks on
def test_react(workdir, a, b, voltage):
    _invoke(["react", a, b, "--voltage", repr(voltage), "--source", "experimental"], workdir)


@FUZZ
@given(low=FLOATS, high=FLOATS)
def test_screen_voltage_range(workdir, low, high):
    _invoke(["screen", "--electrolyte", "Li2S", "--electrode", "Li", "--candidates", "LiF,Li2O",
             "--voltage-range", f"{low!r},{high!r}", "--source", "experimental"], workdir)


@FUZZ
@given(miller=st.one_of(st.sampled_from(["100", "1,1,0", "10-10", "000", "1,1", "a,b,c", "999"]),
                        st.text(max_size=6)),
       layers=INTS, thickness=st.one_of(st.none(), FLOATS))
def test_build_slab(workdir, miller, layers, thickness):
    args = ["build", "slab", "al.extxyz", "--miller", miller, "--layers", str(layers), "-o", "slab.extxyz"]
    _invoke(args + ([] if thickness is None else ["--thickness", repr(thickness)]), workdir)


@FUZZ
@given(sigma=INTS)
def test_build_gb(workdir, sigma):
    _invoke(["build", "gb", "al.extxyz", "--sigma", str(sigma), "--axis", "001", "--plane", "100",
             "-o", "gb.extxyz"], workdir)


@FUZZ
@given(fmax=FLOATS.filter(lambda value: not 0 < value < 1e6))  # bad numbers only: never run a long NEB
def test_neb_run_fmax(workdir, fmax):
    _invoke(["neb", "run", "start.extxyz", "end.extxyz", "-m", "emt", "--fmax", repr(fmax)], workdir)


@FUZZ
@given(fmax=FLOATS, steps=INTS, lease_s=FLOATS, kind=st.sampled_from(["relax", "singlepoint"]))
def test_spec_parameters(workdir, fmax, steps, lease_s, kind):
    parameters = f"{{fmax: {fmax!r}, steps: {steps}}}" if kind == "relax" else "{}"
    yaml_value = {"nan": ".nan", "inf": ".inf", "-inf": "-.inf"}
    text = (f"model: emt\nstore: {{lease_s: {yaml_value.get(repr(lease_s), repr(lease_s))}}}\n"
            "structures:\n  cu: bulk:Cu\n"
            f"tasks:\n  - kind: {kind}\n    parameters: {parameters}\n    zip: {{atoms: [cu]}}\n")
    for name, value in yaml_value.items():
        text = text.replace(f"fmax: {name}", f"fmax: {value}")
    (workdir / "spec.yaml").write_text(text)
    _invoke(["status", "spec.yaml"], workdir)
