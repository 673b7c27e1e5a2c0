"""Runner hardening: damaged and empty stores, spec paths that would leave the run directory, and
pool workers that must die with the run's process."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing

import psutil
import pytest
from typer.testing import CliRunner

from ssbkit.errors import InputError
from ssbkit.workflows.runner import load_spec, spec_results

from runner_helpers import ENV, relaxation_spec, wait_for_states, write_spec

SIX_RELAXATIONS = """
tasks:
  - kind: relax
    parameters: {fmax: 0.05}
    product: {atoms: [%s]}
""" % ", ".join(f"{{bulk: {el}, cubic: true, repeat: [2, 2, 2], rattle: 0.05, seed: {i}}}"
                for i, el in enumerate(["Cu", "Cu", "Cu", "Al", "Al", "Al"]))


def invoke(*args: str):
    from ssbkit.cli import app

    return CliRunner().invoke(app, list(args))


def assert_one_line_error(result, *phrases: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for phrase in phrases:
        assert phrase in lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A spec whose six EMT relaxations have run, and the energies they stored."""
    directory = tmp_path_factory.mktemp("finished")
    path = write_spec(directory, SIX_RELAXATIONS)
    # In another process, so that every connection is closed and the store is one file (WAL checkpointed).
    subprocess.run([sys.executable, "-m", "ssbkit", "run", str(path)], env=ENV, check=True, capture_output=True)
    assert not load_spec(path).store_path.with_name("store.sqlite-wal").exists()
    energies = {r.key: r.result["energy"] for r in spec_results(load_spec(path))}
    return path, load_spec(path).store_path.read_bytes(), energies


def restore(path, content: bytes):
    store = load_spec(path).store_path
    store.write_bytes(content)
    return store


def test_garbage_in_the_middle_of_the_store_gives_one_line_and_check_and_export_rescue_the_rest(
        finished_run, tmp_path):
    path, content, energies = finished_run
    store = restore(path, content)
    page = 4096
    middle = (len(content) // 2) // page * page
    with open(store, "r+b") as stream:  # a page in the middle overwritten, as a disk or copy error would
        stream.seek(middle)
        stream.write(b"\xde\xad\xbe\xef" * 256)

    for command in (["status"], ["results"], ["run"]):
        assert_one_line_error(invoke(*command, str(path)), str(store), "is damaged", "--check")

    check = invoke("status", str(path), "--check")
    assert check.exit_code == 1, check.output
    assert "malformed" in check.stdout and "Traceback" not in check.output

    exported = tmp_path / "rows.jsonl"
    export = invoke("status", str(path), "--export", str(exported))
    assert "Traceback" not in export.output
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    assert 1 <= len(rows) <= 6
    for row in rows:  # every exported row is intact: the stored energy of that very task
        assert row["state"] == "done"
        assert row["result"]["energy"] == energies[row["key"]]
    assert export.exit_code == (0 if len(rows) == 6 else 1)


def test_check_names_a_done_task_whose_result_is_not_json_and_export_skips_it(finished_run, tmp_path):
    path, content, energies = finished_run
    store = restore(path, content)
    broken = sorted(energies)[0]
    with closing(sqlite3.connect(store)) as db, db:
        db.execute("UPDATE tasks SET result = '{\"energy\": -3.' WHERE key = ?", (broken,))
        db.execute("PRAGMA ignore_check_constraints = ON")  # as a foreign writer or a flipped byte could
        db.execute("UPDATE tasks SET state = 'finished' WHERE key = ?", (sorted(energies)[1],))

    assert_one_line_error(invoke("results", str(path)), "is damaged")
    check = invoke("status", str(path), "--check")
    assert check.exit_code == 1
    assert broken in check.stdout and "does not parse" in check.stdout
    assert "invalid state 'finished'" in check.stdout
    exported = tmp_path / "rows.jsonl"
    assert invoke("status", str(path), "--export", str(exported)).exit_code == 1
    keys = [json.loads(line)["key"] for line in exported.read_text().splitlines()]
    assert sorted(keys) == sorted(energies)[2:]

    restore(path, content)
    healthy = invoke("status", str(path), "--check")
    assert healthy.exit_code == 0, healthy.output
    assert healthy.stdout == ""


def test_a_zero_byte_store_is_refused_not_taken_for_a_new_one(finished_run):
    path, content, _ = finished_run
    store = restore(path, b"")
    os.utime(store, (time.time() - 60, time.time() - 60))  # truncated a while ago, not being created now
    for command in (["status"], ["results"], ["run"]):
        assert_one_line_error(invoke(*command, str(path)), str(store), "delete it")
    assert store.read_bytes() == b""  # nothing written over it
    restore(path, content)


@pytest.mark.parametrize("line", ["name: ../../escaped", "name: a/b", "run_dir: ../../escaped",
                                  "run_dir: /tmp/ssbkit-escaped-run"])
def test_spec_paths_stay_inside_the_spec_directory(tmp_path, monkeypatch, line):
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")  # the current directory does not hold the escape target either
    directory = tmp_path / "deep" / "specs"
    directory.mkdir(parents=True)
    path = write_spec(directory, line + "\n" + SIX_RELAXATIONS)
    key = line.split(":")[0]
    with pytest.raises(InputError, match=f"'{key}'"):
        load_spec(path)
    assert_one_line_error(invoke("run", str(path)), f"'{key}'")
    assert not (tmp_path / "escaped").exists() and not list(tmp_path.parent.glob("ssbkit-escaped*"))


def test_run_dir_inside_the_spec_directory_or_the_current_directory_is_accepted(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    directory = tmp_path / "specs"
    directory.mkdir()
    assert load_spec(write_spec(directory, "run_dir: out/a\n" + SIX_RELAXATIONS)).run_dir == directory / "out" / "a"
    inside_cwd = write_spec(directory, f"run_dir: {work / 'runs'}\n" + SIX_RELAXATIONS, name="b.yaml")
    assert load_spec(inside_cwd).run_dir == work / "runs"


def test_pool_workers_die_with_a_killed_run(tmp_path):
    path = relaxation_spec(tmp_path, 8, "{fmax: 1.0e-9, steps: 100000}", repeat=4, rattle=0.2)
    run = subprocess.Popen([sys.executable, "-m", "ssbkit", "run", str(path), "--executor", "pool", "--workers", "2"],
                           env=ENV, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_states(path, lambda states: states.count("running") == 2)  # both workers hold a task
    descendants = psutil.Process(run.pid).children(recursive=True)  # forkserver, workers, resource tracker
    assert len(descendants) >= 3, "the pool did not start its workers"
    run.send_signal(signal.SIGKILL)
    run.wait()
    _, alive = psutil.wait_procs(descendants, timeout=10)
    assert not alive, f"orphaned pool processes: {[(p.pid, p.cmdline()) for p in alive]}"
