"""Committees: spread statistics, failures that do not stop the others, site disagreement, NEB committee."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atom
from ase.build import bulk
from ase.calculators.emt import EMT

from ssbkit.errors import InputError, ModelError
from ssbkit.interfaces.structures.sites import make_vacancy, site_kind
from ssbkit.workflows.committee import (
    CODE_LOWER_BOUND,
    CODE_MODEL_FAILED,
    CODE_MODELS_DISAGREE,
    CODE_QUALITATIVE,
    committee_models,
    committee_value,
    qualitative_caveat,
    run_committee,
)
from ssbkit.workflows.neb import neb
from ssbkit.workflows.neb_committee import neb_committee


def test_committee_value_statistics_by_hand():
    # The measured Li-in-W T-T barriers (CHGNet 0.000, SevenNet-0 0.056 eV): mean 0.028, sample standard
    # deviation 0.056/sqrt(2) = 0.0396, spread 0.056 eV > 0.05 eV threshold.
    value = committee_value("barrier", "eV", {"chgnet": 0.0, "sevennet-0": 0.056})
    assert value.mean == pytest.approx(0.028)
    assert value.std == pytest.approx(0.056 / math.sqrt(2))
    assert value.spread == pytest.approx(0.056)
    assert value.disagree
    assert value.summary() == "0.028 ± 0.040 eV (2 models, disagree)"
    close = committee_value("barrier", "eV", {"a": 0.30, "b": 0.32, "c": None})
    assert not close.disagree and close.n_models == 2
    assert committee_value("barrier", "eV", {}).summary() == "n/a (no model finished)"


def test_committee_selection():
    assert committee_models("offline") == ["chgnet", "sevennet-0", "sevennet-l3i5", "chgnet-r2scan"]
    # MP-scale entries need PBE/PBE+U energies: the r2SCAN checkpoint stays out of that committee.
    assert committee_models("offline", functional="PBE/PBE+U") == ["chgnet", "sevennet-0", "sevennet-l3i5"]
    assert committee_models(["chgnet", "chgnet", "emt"]) == ["chgnet", "emt"]
    with pytest.raises(InputError):
        committee_models("everything")


def test_failed_member_is_recorded_and_the_others_go_on():
    def calculate(model: str) -> float:
        if model == "broken":
            raise ModelError("weights not found")
        return 1.0

    run = run_committee(["a", "broken", "b"], calculate)
    assert run.results == {"a": 1.0, "b": 1.0}
    assert [(f.model, f.reason) for f in run.failures] == [("broken", "weights not found")]
    assert [c.code for c in run.failure_caveats()] == [CODE_MODEL_FAILED]


def test_site_kind_in_bcc_w_matches_geometry():
    # Geometry of bcc (a = 3.165 Å): the T site (1/2, 1/4, 0) has 4 W at a*sqrt(5)/4; the O site (1/2, 0, 0)
    # has 2 W at a/2 and 4 at a/sqrt(2).
    a = 3.165
    host = bulk("W", "bcc", a=a, cubic=True).repeat(2)
    tetrahedral, octahedral = host.copy(), host.copy()
    tetrahedral.append(Atom("Li", [a / 2, a / 4, 0]))
    octahedral.append(Atom("Li", [a / 2, 0, 0]))
    assert site_kind(tetrahedral, len(host)) == "tetrahedral"
    assert site_kind(octahedral, len(host)) == "octahedral"
    caveat = qualitative_caveat("the stable site", {"chgnet": "octahedral", "sevennet-0": "tetrahedral"})
    assert caveat.code == CODE_QUALITATIVE
    assert caveat.message == "models disagree about the stable site (chgnet: octahedral, sevennet-0: tetrahedral)"
    assert qualitative_caveat("the stable site", {"a": "tetrahedral", "b": "tetrahedral"}) is None


def test_neb_committee_equals_direct_runs_and_records_a_failure(tmp_path):
    # Reference: each member's barrier from a direct neb() call with the same calculator and settings.
    host = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    vacant = make_vacancy(host, 0)  # atom 0 (at the origin) removed; atoms shift down by one index
    neighbour = int(np.argmin(np.linalg.norm(vacant.positions - [1.805, 1.805, 0.0], axis=1)))
    start, end = vacant.copy(), vacant.copy()
    end.positions[neighbour] = [0.0, 0.0, 0.0]
    calculators = {"emt": EMT(), "emt-asap": EMT(asap_cutoff=True)}

    def load(model: str):
        if model not in calculators:
            raise ModelError(f"unknown model {model}")
        return calculators[model]

    options = {"n_images": 3, "fmax": 0.05, "steps": 200, "moving_index": neighbour}
    result = neb_committee(start, end, ["emt", "missing", "emt-asap"], load, options, output_dir=tmp_path,
                           reference_barrier=0.70, reference_source="EMT-level test value")
    assert set(result.results) == {"emt", "emt-asap"}
    assert [f.model for f in result.failures] == ["missing"]
    for model, calculator in calculators.items():
        direct = neb(start, end, calculator, **options)
        assert result.barrier.values[model] == pytest.approx(direct.barrier, abs=1e-6)
    assert result.barrier.n_models == 2
    assert result.barrier.spread == pytest.approx(abs(result.barrier.values["emt"]
                                                      - result.barrier.values["emt-asap"]))
    # The lowest point is an endpoint, a lattice site next to the vacancy: within 1.5 x the nearest distance fcc
    # has 12 + 6 neighbours (a/sqrt(2), a), one of them the vacancy: 17. Both members agree: no site caveat.
    assert result.stable_site == {"emt": "17-fold", "emt-asap": "17-fold"}
    codes = [c.code for c in result.caveats]
    assert CODE_QUALITATIVE not in codes
    assert "mptrj-softening" not in codes  # EMT is not an MPtrj-trained potential
    assert CODE_MODEL_FAILED in codes and CODE_LOWER_BOUND in codes and "reference-difference" in codes
    assert (CODE_MODELS_DISAGREE in codes) == result.barrier.disagree
    assert result.difference_from_reference_eV == pytest.approx(result.barrier.mean - 0.70)
    assert result.plot_file.is_file() and (tmp_path / "emt" / "neb_profile.png").is_file()


@pytest.mark.slow
def test_li_in_w_tt_committee_flags_the_site_disagreement(tmp_path):
    # Measured before (CHGNet 0.3.0, SevenNet-0, small W cell): CHGNet's T-T path dips 0.10 eV below the
    # tetrahedral endpoints because it puts Li at the octahedral site; SevenNet-0 keeps T. DFT: 0.28 eV
    # (Wang et al., Adv. Mater. 2025), attached to the study as its reference.
    from ssbkit.interfaces.structures.hop_studies import build_study
    from ssbkit.potentials import load

    study = build_study("w-bulk-tt")
    result = neb_committee(study.initial, study.final, ["chgnet", "sevennet-0"],
                           lambda model: load(model, device="cpu", task="neb"),
                           {"moving_index": study.moving_index, "resolve_minima": False},
                           reference_barrier=study.reference_barrier, output_dir=tmp_path)
    assert result.complete
    assert result.stable_site == {"chgnet": "octahedral", "sevennet-0": "tetrahedral"}
    messages = [c.message for c in result.caveats]
    assert "models disagree about the stable site (chgnet: octahedral, sevennet-0: tetrahedral)" in messages
    assert result.barrier.values["chgnet"] > 0.05  # the energy span out of the O site, not a bare 0.000
    assert result.difference_from_reference_eV < 0


def test_headline_barrier_is_the_largest_climb_along_the_path():
    from ssbkit.workflows.neb import headline_barrier

    # By hand: endpoints at 0 eV, an interior minimum at -0.10 eV between maxima at 0.00 and +0.02 eV: the
    # endpoints are not the lowest sites, so the barrier is 0.02 - (-0.10) = 0.12 eV, not the forward 0.02 eV.
    assert headline_barrier([0.0, 0.0, -0.10, 0.02, 0.0]) == pytest.approx(0.12)
    # A plain hop: the forward barrier.
    assert headline_barrier([0.0, 0.2, 0.3, 0.2, 0.05]) == pytest.approx(0.3)
    # A trap past the saddle is left by a smaller climb (0.1 - (-0.2) = 0.3 eV), so the forward 0.3 eV stands.
    assert headline_barrier([0.0, 0.3, -0.2, 0.1, 0.0]) == pytest.approx(0.3)


def test_headline_barrier_is_continuous_as_an_intermediate_minimum_deepens():
    # The CHGNet along hop 913 -> 862 of the relaxed LLZO boundary (docs/neb.md): intermediate minimum at
    # -0.074 eV (12 Å region) and -0.111 eV (14 Å), final at -0.087 eV, saddle 0.338 eV above the initial
    # state. The barrier used to jump from 0.338 to 0.425 eV as the minimum crossed the final's energy; the
    # climb out of the minimum moves exactly as much as the minimum does.
    from ssbkit.workflows.neb import headline_barrier

    depths = np.linspace(-0.05, -0.12, 71)
    barriers = np.array([headline_barrier([0.0, 0.02, depth, 0.338, -0.087]) for depth in depths])
    assert np.max(np.abs(np.diff(barriers))) <= np.max(np.abs(np.diff(depths))) + 1e-12
    assert headline_barrier([0.0, 0.02, -0.074, 0.338, -0.087]) == pytest.approx(0.412)
    assert headline_barrier([0.0, 0.02, -0.111, 0.338, -0.087]) == pytest.approx(0.449)


def test_neb_study_cli_goes_on_past_a_failed_model_and_exits_1():
    # CHGNet finishes the Li vacancy hop; an unknown model fails at load. The study reports both, exit code 1.
    import json

    from typer.testing import CliRunner

    from ssbkit.cli import app

    outcome = CliRunner().invoke(app, ["neb", "study", "li-vacancy", "-m", "chgnet", "-m", "no-such-model",
                                       "--images", "3", "--steps", "100", "--device", "cpu", "--json"])
    assert outcome.exit_code == 1
    document = json.loads(outcome.stdout)
    committee = document["committee"]
    assert [r["model"] for r in document["results"]] == ["chgnet"]
    assert [f["model"] for f in committee["failures"]] == ["no-such-model"]
    assert committee["barrier"]["values"]["chgnet"] == pytest.approx(document["results"][0]["barrier"])
    assert committee["caveats"][0]["code"] == CODE_MODEL_FAILED
