"""Entry sources: the MP client against a local server that answers like the MP API, the disk cache,
file and experimental sources, source strings, and their errors.

The local server speaks the routes mp-api 0.46 uses for ``MPRester.get_entries_in_chemsys`` with
``thermo_types=["GGA_GGA+U"]`` (read from mp_api/client/mprester.py and core/client.py):
``GET /heartbeat`` -> ``{"db_version", "version", "access_controlled_batch_ids"}``, then
``GET /materials/thermo/?chemsys=Li,O,Li-O&thermo_types=GGA_GGA+U&_fields=entries,thermo_type&_limit=...``
with the key in the ``X-API-KEY`` header -> ``{"data": [{"entries": {"GGA": <entry dict>}, ...}], "meta": ...}``.
"""

from __future__ import annotations

import gzip
import json
import os

from collections.abc import Callable

import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.entries.computed_entries import CompositionEnergyAdjustment, ComputedStructureEntry
from typer.testing import CliRunner

from ssbkit.cli import app
from ssbkit.errors import DataError, InputError
from ssbkit.interfaces import entries as entries_module
from ssbkit.interfaces.entries import (
    CombinedSource,
    EntrySource,
    ExperimentalSource,
    FileSource,
    MPSource,
    SourceOptions,
    parse_source,
    register_source,
    save_entries,
)
from ssbkit.interfaces.stability import stability_window
from mp_stand_in import API_KEY, stand_in_fixture

OXIDE_CORRECTION = -0.687  # eV per O atom, MP2020's oxide anion correction


def _mp_entries() -> list[ComputedStructureEntry]:
    """Li (bcc), O2 (molecule in a box) and antifluorite Li2O, with MP2020-style corrections on Li2O."""
    li = Structure(Lattice.cubic(3.44), ["Li", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    o2 = Structure(Lattice.cubic(10.0), ["O", "O"], [[0, 0, 0], [0.121, 0, 0]])
    li2o = Structure(Lattice.from_parameters(3.27, 3.27, 3.27, 60, 60, 60), ["O", "Li", "Li"],
                     [[0, 0, 0], [0.25, 0.25, 0.25], [0.75, 0.75, 0.75]])
    correction = CompositionEnergyAdjustment(OXIDE_CORRECTION, 1, uncertainty_per_atom=0.0017,
                                            name="MP2020 anion correction (oxide)")
    return [
        ComputedStructureEntry(li, -1.909 * 2, entry_id="mp-135-GGA", parameters={"run_type": "GGA"}),
        ComputedStructureEntry(o2, -4.948 * 2, entry_id="mp-12957-GGA", parameters={"run_type": "GGA"}),
        ComputedStructureEntry(li2o, -14.314, energy_adjustments=[correction], entry_id="mp-1960-GGA",
                               parameters={"run_type": "GGA"}),
    ]


def thermo_documents(entries: list[ComputedStructureEntry]) -> Callable[[dict[str, str]], list[dict]]:
    """The thermo route: the GGA/GGA+U entries of the requested chemical systems."""

    def answer(query: dict[str, str]) -> list[dict]:
        assert query.get("thermo_types") == "GGA_GGA+U"
        wanted = set(query.get("chemsys", "").split(","))
        return [{"entries": {"GGA": e.as_dict()}, "thermo_type": "GGA_GGA+U"} for e in entries
                if "-".join(sorted(e.composition.chemical_system.split("-"))) in wanted]

    return answer


fake_mp = stand_in_fixture(lambda: {"/materials/thermo": thermo_documents(_mp_entries())})


def _cache_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_mp_source_fetches_corrected_entries_and_caches_them(fake_mp, tmp_path):
    endpoint, server = fake_mp()
    source = MPSource(API_KEY, cache_dir=tmp_path, endpoint=endpoint, offline=False)
    entries = source.get_entries(["Li", "O"])
    assert sorted(e.composition.reduced_formula for e in entries) == ["Li", "Li2O", "O2"]
    li2o = next(e for e in entries if e.composition.reduced_formula == "Li2O")
    # The MP2020 correction travels with the entry as served: corrected = raw + adjustment.
    assert li2o.correction == pytest.approx(OXIDE_CORRECTION)
    assert li2o.energy == pytest.approx(-14.314 + OXIDE_CORRECTION)
    thermo_queries = [q for path, q in server.requests if path.startswith("/materials/thermo")]
    assert thermo_queries and set(thermo_queries[0]["chemsys"].split(",")) == {"Li", "O", "Li-O"}
    assert _cache_files(tmp_path) == ["mp/GGA_GGA+U/Li-O.json.gz"]

    # Offline, the cache serves the system and its subsystems without a single request.
    n_requests = len(server.requests)
    offline = MPSource(cache_dir=tmp_path, offline=True)
    cached = offline.get_entries(["O", "Li"])
    assert {e.entry_id for e in cached} == {e.entry_id for e in entries}
    assert next(e for e in cached if e.entry_id == "mp-1960-GGA").energy == pytest.approx(li2o.energy)
    assert [e.composition.reduced_formula for e in offline.get_entries(["Li"])] == ["Li"]
    assert len(server.requests) == n_requests


def test_mp_window_uses_corrected_energies(fake_mp, tmp_path):
    # Hand derivation: Li2O -> 2 Li + 1/2 O2 (no Li2O2 in this set); with the corrected Li2O energy
    # dH = -15.001 - 2(-1.909) - (-4.948) = -6.235 eV/f.u., so the oxidation limit is 6.235/2 = 3.1175 V.
    # Without the -0.687 eV oxide correction it would be 2.774 V: the test tells the two apart.
    endpoint, _ = fake_mp()
    window = stability_window("Li2O", MPSource(API_KEY, cache_dir=tmp_path, endpoint=endpoint, offline=False))
    assert window.oxidation_limit_V == pytest.approx(3.1175, abs=1e-9)
    assert window.reduction_limit_V == 0.0
    assert window.oxidation_products == ["O2"]


def test_offline_names_missing_chemsys_and_never_touches_network(fake_mp, tmp_path, monkeypatch):
    endpoint, server = fake_mp()
    monkeypatch.setenv("SSBKIT_OFFLINE", "1")
    source = MPSource(API_KEY, cache_dir=tmp_path, endpoint=endpoint)
    with pytest.raises(DataError, match=r"Li-O-P .*not in the MP cache.*prefetch Li-O-P"):
        source.get_entries(["P", "Li", "O"])
    assert server.requests == []


def test_missing_key_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="MP_API_KEY"):
        MPSource(cache_dir=tmp_path, offline=False).get_entries(["Li", "O"])


def test_unreachable_api_and_server_errors_leave_no_cache_file(fake_mp, tmp_path):
    endpoint, server = fake_mp()
    port = server.server_address[1]
    server.shutdown()
    server.server_close()  # nothing listens on this port any more
    with pytest.raises(DataError, match=rf"Li-O at http://127.0.0.1:{port}/ failed"):
        MPSource(API_KEY, cache_dir=tmp_path, endpoint=endpoint, offline=False).get_entries(["Li", "O"])
    endpoint, _ = fake_mp(status=500)
    with pytest.raises(DataError, match="Materials Project request for Li-O"):
        MPSource(API_KEY, cache_dir=tmp_path, endpoint=endpoint, offline=False).get_entries(["Li", "O"])
    endpoint, _ = fake_mp()
    with pytest.raises(DataError, match="Materials Project request for Li-O"):
        MPSource("w" * 32, cache_dir=tmp_path, endpoint=endpoint, offline=False).get_entries(["Li", "O"])
    assert _cache_files(tmp_path) == []


def test_corrupted_cache_file_is_reported(fake_mp, tmp_path):
    endpoint, _ = fake_mp()
    source = MPSource(API_KEY, cache_dir=tmp_path, endpoint=endpoint, offline=False)
    path = source.cache_path(["Li", "O"])
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b'[{"@module": "pymatgen.entries.computed_entries", "energy": ')[:-9])
    with pytest.raises(DataError, match=r"corrupt MP cache file .*Li-O\.json\.gz.*delete it"):
        source.get_entries(["Li", "O"])


def test_cache_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "Li-O.json.gz"
    save_entries(_mp_entries(), target)
    before = target.read_bytes()

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        save_entries(_mp_entries()[:1], target)
    assert target.read_bytes() == before  # old file intact
    assert [p.name for p in tmp_path.iterdir()] == ["Li-O.json.gz"]  # no temp file left behind


def test_file_source_round_trip_and_combination(tmp_path):
    path = save_entries(_mp_entries(), tmp_path / "extra.json")
    source = FileSource(path)
    assert sorted(e.composition.reduced_formula for e in source.get_entries(["Li", "O"])) == ["Li", "Li2O", "O2"]
    assert [e.composition.reduced_formula for e in source.get_entries(["O"])] == ["O2"]
    combined = parse_source(f"experimental,file:{path}")
    assert isinstance(combined, CombinedSource) and combined.name == f"experimental,file:{path}"
    with pytest.raises(InputError, match="different energy references"):  # enthalpies of formation vs MP totals
        combined.get_entries(["Li", "O"])
    twice = parse_source(f"file:{path},file:{path}")  # identical copies pool to one set with nothing to report
    assert len(twice.get_entries(["Li", "O"])) == 3 and twice.caveats == []


@pytest.mark.parametrize("content, message", [
    (b"[]", "contains no entries"),
    (b"{not json", "not readable JSON"),
    (b'{"a": 1}', "JSON list"),
    (b'[{"energy": 1.0}]', "not a pymatgen entry dict"),
])
def test_bad_entry_files(tmp_path, content, message):
    path = tmp_path / "entries.json"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        parse_source(f"file:{path}")


def test_source_strings():
    assert parse_source("experimental").name == "experimental"
    assert isinstance(parse_source("mp", SourceOptions(offline=True)), MPSource)
    for spec, message in [("", "empty entry source"), ("nist", "unknown entry source 'nist'"),
                          ("file:", "needs an argument"), ("file:/no/such/file.json", "does not exist"),
                          ("mp,experimental", "different energy references")]:
        with pytest.raises((InputError, DataError), match=message):
            parse_source(spec)


def test_relative_file_paths_follow_base_dir(tmp_path, monkeypatch):
    """Run specs resolve file: sources against the spec folder, the CLI against the working directory."""
    save_entries(_mp_entries(), tmp_path / "extra.json")
    source = parse_source("file:extra.json", SourceOptions(base_dir=tmp_path))
    assert source.name == f"file:{tmp_path / 'extra.json'}"
    with pytest.raises(DataError, match="does not exist"):
        parse_source("file:extra.json")
    monkeypatch.chdir(tmp_path)
    assert parse_source("file:extra.json").name == "file:extra.json"


def test_mlip_prefix_needs_the_workflows_package(monkeypatch):
    """interfaces knows no mlip: ssbkit.workflows registers it; without that import the error says so."""
    import ssbkit.workflows  # noqa: F401

    assert "mlip" in entries_module.source_names()
    monkeypatch.setattr(entries_module, "_FACTORIES",
                        {k: v for k, v in entries_module._FACTORIES.items() if k != "mlip"})
    with pytest.raises(InputError, match="import ssbkit.workflows to use mlip: sources"):
        parse_source("mp,mlip:structures.extxyz")


def test_registered_prefix_joins_source_strings(monkeypatch, tmp_path):
    # How a source such as `mlip` plugs in: a class with `name` and `get_entries`, a factory per prefix.
    class ListSource:
        def __init__(self, path: str):
            self.name = f"custom:{path}"
            self._entries = FileSource(path).get_entries(["Li", "O"])

        def get_entries(self, elements):
            return [e for e in self._entries if {str(el) for el in e.composition.elements} <= set(elements)]

    monkeypatch.setattr(entries_module, "_FACTORIES", dict(entries_module._FACTORIES))  # undone after the test
    monkeypatch.setattr(entries_module, "_NEEDS_ARGUMENT", set(entries_module._NEEDS_ARGUMENT))
    register_source("custom", lambda argument, options: ListSource(argument), needs_argument=True)
    with pytest.raises(InputError, match="needs an argument"):
        parse_source("custom")
    path = save_entries(_mp_entries(), tmp_path / "mine.json.gz")
    source = parse_source(f"custom:{path}")
    assert isinstance(source, EntrySource) and source.name == f"custom:{path}"
    window = stability_window("Li2O", source)
    assert window.oxidation_limit_V == pytest.approx(3.1175, abs=1e-9)  # as from the MP server above


def test_experimental_source_has_elements_at_zero():
    # Reference: pymatgen's exp_compounds.json.gz lists LiI at -2.7992 eV/f.u. (NIST-JANAF/Kubaschewski,
    # -270.1 kJ/mol); the source must pass it through unchanged and put the elements at zero.
    entries = {e.composition.reduced_formula: e for e in ExperimentalSource().get_entries(["Li", "I"])}
    assert set(entries) == {"Li", "I", "LiI"}
    assert entries["Li"].energy == 0.0 and entries["I"].energy == 0.0
    assert entries["LiI"].energy == pytest.approx(-2.79915, abs=1e-5)


def test_prefetch_cli_fills_cache_then_window_runs_offline(fake_mp, monkeypatch, tmp_path):
    endpoint, server = fake_mp()
    monkeypatch.setenv("MP_API_KEY", API_KEY)
    monkeypatch.setenv("MP_API_ENDPOINT", endpoint)
    monkeypatch.setenv("SSBKIT_CACHE_DIR", str(tmp_path))
    runner = CliRunner()
    result = runner.invoke(app, ["entries", "prefetch", "O-Li", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["systems"] == [{"chemsys": "Li-O", "entries": 3,
                                    "path": str(tmp_path / "mp" / "GGA_GGA+U" / "Li-O.json.gz")}]
    server.shutdown()  # compute node: no network from here on
    result = runner.invoke(app, ["window", "Li2O", "--source", "mp", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["oxidation_limit_V"] == pytest.approx(3.1175, abs=1e-9)
    result = runner.invoke(app, ["window", "Li3PS4", "--offline", "--json"])
    assert result.exit_code == 2
    assert "P-Li-S" not in result.output and "Li-P-S is not in the MP cache" in result.output
    result = runner.invoke(app, ["entries", "prefetch", "Li-Qq"])
    assert result.exit_code == 2 and "unknown element 'Qq'" in result.output
