"""Runner specs: product/zip expansion, content-addressed task keys, and the errors a bad spec gets."""

from __future__ import annotations

import numpy as np
import pytest
from ase.io import write
from typer.testing import CliRunner

from ssbkit.cli import app
from ssbkit.errors import SsbkitError
from ssbkit.workflows.runner import load_spec

from runner_helpers import STRUCTURES, rattled, write_spec


def test_product_and_zip_expand_in_order(tmp_path):
    spec = load_spec(write_spec(tmp_path, STRUCTURES + """
tasks:
  - kind: relax
    parameters: {fmax: 0.1}
    product: {atoms: [cu, al], steps: [10, 20]}
  - kind: singlepoint
    zip: {atoms: [cu, al, "bulk:Ni"]}
"""))
    labels = [(t.kind, t.labels["atoms"], t.parameters.get("steps")) for t in spec.tasks]
    assert labels == [("relax", "cu", 10), ("relax", "cu", 20), ("relax", "al", 10), ("relax", "al", 20),
                      ("singlepoint", "cu", None), ("singlepoint", "al", None), ("singlepoint", "bulk:Ni", None)]
    assert [t.index for t in spec.tasks] == list(range(7))
    assert len({t.key for t in spec.tasks}) == 7
    assert spec.tasks[0].parameters == {"fmax": 0.1, "steps": 10}
    np.testing.assert_allclose(spec.tasks[0].inputs["atoms"].positions, rattled("Cu", 1).positions)


def test_keys_follow_content_not_spelling(tmp_path):
    cu = rattled("Cu", 1)
    write(tmp_path / "cu.extxyz", cu)
    noisy = cu.copy()
    noisy.positions += 1e-8  # float noise from a file round trip: below the 1e-4 Å rounding
    write(tmp_path / "noisy.extxyz", noisy)
    moved = cu.copy()
    moved.positions[0, 0] += 1e-3
    write(tmp_path / "moved.extxyz", moved)
    spec = load_spec(write_spec(tmp_path, STRUCTURES + """
tasks:
  - kind: relax
    product: {atoms: [cu, cu.extxyz, noisy.extxyz, moved.extxyz], fmax: [0.05, 0.050000000000001]}
  - kind: relax
    parameters: {fmax: 0.05}
    product: {atoms: [cu], model: [emt, chgnet]}
"""))
    # cu (built), cu.extxyz and noisy.extxyz are one structure, the two fmax values one number:
    # duplicates are dropped, leaving cu, moved, and cu with the other model (emt repeats the first).
    assert [t.labels["atoms"] for t in spec.tasks] == ["cu", "moved.extxyz", "cu"]
    assert spec.tasks[2].model == "chgnet" and spec.tasks[2].labels["model"] == "chgnet"
    assert "model" not in spec.tasks[2].parameters


@pytest.mark.parametrize("body, message", [
    ("tasks:\n  - kind: nope\n    inputs: {atoms: bulk:Cu}\n", "unknown task kind 'nope'"),
    ("tasks:\n  - kind: relax\n    zip: {atoms: [bulk:Cu, bulk:Al], fmax: [0.1]}\n", "equal lengths"),
    ("tasks:\n  - kind: relax\n    inputs: {atoms: missing.cif}\n", "missing.cif not found"),
    ("tasks:\n  - kind: relax\n    inputs: {atoms: bulk:Cu}\n    parameters: {temperature: 300}\n",
     "takes parameters"),
    ("tasks:\n  - kind: relax\n    inputs: {atoms: bulk:Xx}\n", "cannot build structure"),
    ("tasks:\n  - kind: relax\n    parameters: {fmax: 0.1}\n", "needs inputs ['atoms']"),
    ("tasks: 3\n", "needs a 'tasks' list"),
    ("batch_size: many\ntasks: []\n", "expected int"),
    ("store: {journal_mode: truncate}\ntasks: []\n", "journal_mode"),
    ("tasks:\n  - kind: relax\n    model: nomodel\n    inputs: {atoms: bulk:Cu}\n", "unknown model 'nomodel'"),
    # PyYAML's message spans several lines (an excerpt, a caret); the error says where in one (write_spec adds line 1)
    ("tasks:\n  - kind: relax\n   model: emt\n", "not valid YAML: line 4, column 4: expected <block end>, but found "
     r"'<block mapping start>' \(while parsing a block collection\)$"),
    ("tasks: [1, 2\n", "not valid YAML: line 3, column 1: expected ',' or ']'"),
])
def test_bad_specs_are_named(tmp_path, body, message):
    with pytest.raises(SsbkitError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_spec(write_spec(tmp_path, body))


def test_cli_bad_spec_exits_2(tmp_path):
    path = write_spec(tmp_path, "tasks:\n  - kind: nope\n    inputs: {atoms: bulk:Cu}\n")
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2
    assert "unknown task kind" in result.output
    result = CliRunner().invoke(app, ["run", str(path.with_name("absent.yaml"))])
    assert result.exit_code == 2
