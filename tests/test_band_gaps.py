"""Materials Project band gaps (``ssbkit.interfaces.band_gaps``) against a local server that answers like the MP API.

The server speaks the routes mp-api 0.46 uses for ``MPRester.materials.summary.search(formula=[...] or
chemsys=[...], deprecated=False, fields=[...])`` (read from mp_api/client/routes/materials/summary.py and
core/client.py): ``GET /heartbeat``, then ``GET /materials/summary/?formula=LiF,LiCl&deprecated=False&_fields=
material_id,formula_pretty,band_gap,energy_above_hull&_limit=...`` with the key in ``X-API-KEY`` ->
``{"data": [{...}], "meta": {"total_doc": n}}``; the thermo route for entries is the one of test_thermo_entries.
The served documents are this file's own (two LiF polymorphs, so that the lowest-energy one must be chosen).
"""

from __future__ import annotations

import json

import pytest
from pymatgen.analysis.phase_diagram import PDEntry
from pymatgen.core import Composition
from typer.testing import CliRunner

from ssbkit.cli import app
from ssbkit.errors import DataError
from ssbkit.interfaces.band_gaps import MPBandGaps
from ssbkit.interfaces.stacks import PASSIVATING, stack_report
from mp_stand_in import API_KEY, stand_in_fixture
from test_thermo_entries import _mp_entries, thermo_documents

SUMMARY = [
    {"material_id": "mp-1138", "formula_pretty": "LiF", "band_gap": 8.72, "energy_above_hull": 0.0},
    {"material_id": "mp-9999", "formula_pretty": "LiF", "band_gap": 6.10, "energy_above_hull": 0.05},
    {"material_id": "mp-22905", "formula_pretty": "LiCl", "band_gap": 6.33, "energy_above_hull": 0.0},
    {"material_id": "mp-1960", "formula_pretty": "Li2O", "band_gap": 5.0, "energy_above_hull": 0.0},
    {"material_id": "mp-135", "formula_pretty": "Li", "band_gap": 0.0, "energy_above_hull": 0.0},
]


def summary_documents(query: dict[str, str]) -> list[dict]:
    """The summary route: this file's documents of the requested formulas or chemical systems."""
    formulas, systems = query.get("formula"), query.get("chemsys")
    return [d for d in SUMMARY
            if (formulas and d["formula_pretty"] in formulas.split(","))
            or (systems and Composition(d["formula_pretty"]).chemical_system in systems.split(","))]


fake_mp = stand_in_fixture(lambda: {"/materials/summary": summary_documents,
                                    "/materials/thermo": thermo_documents(_mp_entries())})


def _summary_requests(server) -> list[dict]:
    return [q for path, q in server.requests if path == "/materials/summary"]


def test_fetches_lowest_polymorph_and_serves_it_from_the_cache(fake_mp, tmp_path):
    endpoint, server = fake_mp()
    gaps = MPBandGaps(API_KEY, cache_dir=tmp_path, endpoint=endpoint, offline=False).get(["LiF", "Li2Cl2", "F2Xe"])
    assert list(gaps) == ["LiF", "LiCl", "XeF2"]
    assert (gaps["LiF"].band_gap_eV, gaps["LiF"].material_id) == (8.72, "mp-1138")  # not the 0.05 eV/atom one
    assert "mp-1138" in gaps["LiF"].source and "GGA" in gaps["LiF"].source
    assert gaps["LiCl"].band_gap_eV == 6.33
    assert gaps["XeF2"].band_gap_eV is None and "not in the Materials Project" in gaps["XeF2"].source
    (query,) = _summary_requests(server)
    assert set(query["formula"].split(",")) == {"LiF", "LiCl", "XeF2"} and query["deprecated"] == "False"
    assert sorted(p.name for p in (tmp_path / "mp" / "band_gaps").iterdir()) == ["LiCl.json", "LiF.json",
                                                                              "XeF2.json"]
    # Cache hit, online or offline: no request, the same values (XeF2 stays "not in MP", asked once).
    for offline in (False, True):
        again = MPBandGaps(API_KEY, cache_dir=tmp_path, endpoint=endpoint, offline=offline).get(["FLi", "XeF2"])
        assert again["LiF"] == gaps["LiF"] and again["XeF2"] == gaps["XeF2"]
    assert len(_summary_requests(server)) == 1


def test_offline_or_keyless_and_not_cached_is_unknown_without_a_request(fake_mp, tmp_path, monkeypatch):
    endpoint, server = fake_mp()
    (gap,) = MPBandGaps(API_KEY, cache_dir=tmp_path, endpoint=endpoint, offline=True).get(["LiF"]).values()
    assert gap.band_gap_eV is None and gap.source == "unknown: not in the band-gap cache and offline"
    monkeypatch.setenv("SSBKIT_OFFLINE", "yes")
    assert not MPBandGaps(API_KEY, cache_dir=tmp_path, endpoint=endpoint).get(["LiF"])["LiF"].known
    monkeypatch.delenv("SSBKIT_OFFLINE")
    keyless = MPBandGaps(cache_dir=tmp_path, endpoint=endpoint, offline=False).get(["LiF"])["LiF"]
    assert keyless.source == "unknown: not in the band-gap cache and no MP_API_KEY"
    assert server.requests == []
    with pytest.raises(DataError, match="offline"):
        MPBandGaps(API_KEY, cache_dir=tmp_path, endpoint=endpoint, offline=True).fetch(["LiF"])


def test_failing_server_is_a_clear_error_and_caches_nothing(fake_mp, tmp_path):
    endpoint, _ = fake_mp(status=500)
    with pytest.raises(DataError, match=r"Materials Project request for band gaps of LiF at http://127\.0\.0\.1"):
        MPBandGaps(API_KEY, cache_dir=tmp_path, endpoint=endpoint, offline=False).get(["LiF"])
    endpoint, server = fake_mp()
    server.shutdown()
    server.server_close()  # nothing listens any more
    with pytest.raises(DataError, match="band gaps of LiF.* failed"):
        MPBandGaps(API_KEY, cache_dir=tmp_path, endpoint=endpoint, offline=False).get(["LiF"])
    assert not (tmp_path / "mp" / "band_gaps").exists()


def test_corrupt_cache_file_is_named(tmp_path):
    gaps = MPBandGaps(API_KEY, cache_dir=tmp_path, offline=True)
    gaps.cache_root.mkdir(parents=True)
    gaps.cache_path("LiF").write_text('{"formula": "LiF", "band_gap_eV": ')
    with pytest.raises(DataError, match=r"corrupt band-gap cache file .*LiF\.json"):
        gaps.get(["LiF"])


def test_stack_takes_table_first_then_mp_then_metal_rule(fake_mp, tmp_path):
    """Hand-built Li-F-Cl: 2 Li + ClF -> LiF + LiCl (-9.5 eV over 4 atoms). LiF keeps the table's measured
    14.2 eV (Piacentini et al. 1976) over MP's 8.72 eV; LiCl, not in the table, takes MP's 6.33 eV: both
    insulating, so the interphase passivates. Without MP, LiCl is unknown and a caveat says so."""
    entries = [PDEntry(Composition(f), e) for f, e in
               [("Li", 0.0), ("F2", 0.0), ("Cl2", 0.0), ("ClF", -0.5), ("LiF", -6.0), ("LiCl", -4.0)]]
    endpoint, _ = fake_mp()
    report = stack_report(["Li", "ClF"], entries,
                          band_gaps=MPBandGaps(API_KEY, cache_dir=tmp_path, endpoint=endpoint, offline=False))
    products = {p.formula: p for p in report.interfaces[0].closed.products}
    assert products["LiF"].band_gap_eV == 14.2 and "Piacentini" in products["LiF"].source
    assert products["LiCl"].band_gap_eV == 6.33 and "mp-22905" in products["LiCl"].source
    assert report.interfaces[0].closed.interphase == PASSIVATING
    assert "Materials Project" in report.band_gaps_source
    without = stack_report(["Li", "ClF"], entries)
    assert {p.formula: p.electronic for p in without.interfaces[0].closed.products} == {
        "LiCl": "unknown", "LiF": "insulating"}
    assert without.interfaces[0].closed.interphase == "unknown"
    assert any(c.code == "unknown-character" and "LiCl" in c.message for c in without.caveats)


def test_prefetch_band_gaps_then_stack_offline(fake_mp, tmp_path, monkeypatch):
    endpoint, server = fake_mp()
    monkeypatch.setenv("MP_API_KEY", API_KEY)
    monkeypatch.setenv("MP_API_ENDPOINT", endpoint)
    monkeypatch.setenv("SSBKIT_CACHE_DIR", str(tmp_path))
    runner = CliRunner()
    result = runner.invoke(app, ["entries", "prefetch", "Li-O", "--band-gaps", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["systems"]
    assert row["chemsys"] == "Li-O" and row["band_gaps"] == 2  # Li and Li2O are in Li-O and its subsystems
    (query,) = _summary_requests(server)
    assert set(query["chemsys"].split(",")) == {"Li", "O", "Li-O"}
    server.shutdown()  # no network from here on
    gaps = MPBandGaps(offline=True).get(["Li2O"])
    assert gaps["Li2O"].band_gap_eV == 5.0 and gaps["Li2O"].material_id == "mp-1960"
