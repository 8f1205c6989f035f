"""Studies out of the box: the shipped uncertain scenario, sensitivity on its uncertain inputs without --param,
and default outputs that no input can move left out with a note."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import simulator
from simulator.cli import main

ROOT = Path(__file__).resolve().parents[1]
FILE = ROOT / "scenarios" / "zhipu_uncertain.toml"


def test_the_uncertain_scenario_is_zhipu_base_with_sourced_distributions():
    sc = simulator.load_scenario(FILE)
    base = simulator.load_scenario(ROOT / "scenarios" / "zhipu_base.toml")
    names = sc.uncertain.names
    assert len(names) >= 4 and sc.uncertain.correlations
    text = FILE.read_text()
    for line in text.splitlines():
        if "dist =" in line:  # every distribution says where its range comes from
            assert re.search(r"#.*(CALIBRATION|seed 00[04])", line), line
    # Everything else is zhipu_base's: the medians stand where the distributions are.
    from simulator.model.parameters import build_layout

    a, b = build_layout(sc), build_layout(base)
    moved = {k for k, slots in a.paths.items() if [a.theta[s] for s in slots] != [b.theta[s] for s in slots]}
    assert moved <= set(names), moved - set(names)


def test_sensitivity_without_param_screens_the_uncertain_inputs(tmp_path, capsys):
    out = tmp_path / "m.nc"
    # With zhipu_base's revenue per card (pinned by --set) the chips cap revenue far below what a
    # champion at 700B needs (P/S <= 100): no path of any evaluation is a champion.
    pin = "companies.zhipu.chips.revenue_per_card=2.2e5"
    assert main(["sensitivity", str(FILE), "--paths", "1000", "--samples", "4", "--set", pin, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    ds = simulator.open_results(out)
    sc = simulator.load_scenario(FILE, overrides=[pin])
    assert ds.attrs["method"] == "morris"
    assert sorted(map(str, ds["parameter"].values)) == sorted(sc.uncertain.names)
    assert "companies.zhipu.chips.revenue_per_card" not in sc.uncertain.names
    # P(champion) is 0 on every path of every evaluation: left out, with a note saying so.
    assert [str(o) for o in ds["output"].values] == ["zhipu.collapse@36"]
    notes = json.loads(ds.attrs["notes"])
    assert any(n.startswith("zhipu.champion@36 is the same on all 1,000 paths") for n in notes)
    assert "note: zhipu.champion@36 is the same on all" in text


@pytest.mark.parametrize("method", ["oat", "sobol"])
def test_other_methods_take_the_uncertain_inputs_too(method, tmp_path):
    argv = ["sensitivity", str(FILE), "--method", method, "--paths", "500", "--quiet", "--out", str(tmp_path / "s.nc")]
    if method == "sobol":
        argv += ["--samples", "64"]
    assert main(argv) == 0
    ds = simulator.open_results(tmp_path / "s.nc")
    assert ds.sizes["parameter"] == len(simulator.load_scenario(FILE).uncertain.names)


def test_an_output_asked_for_is_kept_even_when_constant(tmp_path):
    assert main(["sensitivity", str(FILE), "--method", "oat", "--paths", "500", "--quiet", "--output",
                 "zhipu.champion@36", "--out", str(tmp_path / "s.nc")]) == 0
    assert [str(o) for o in simulator.open_results(tmp_path / "s.nc")["output"].values] == ["zhipu.champion@36"]


def test_given_data_and_attribute_run_from_one_run_of_it(tmp_path, capsys):
    run = tmp_path / "u.nc"
    pin = "companies.zhipu.chips.revenue_per_card=2.2e5"  # no champion (see above): the default outputs are collapse
    assert main(["run", str(FILE), "--paths", "3000", "--quiet", "--set", pin, "--out", str(run)]) == 0
    assert main(["sensitivity", str(run), "--out", str(tmp_path / "g.nc")]) == 0  # a results file: given data
    ds = simulator.open_results(tmp_path / "g.nc")
    assert {"rbd_fast_S1", "delta", "pawn_median"} <= set(ds.variables)
    assert [str(o) for o in ds["output"].values] == ["zhipu.collapse@36"]
    assert main(["attribute", str(run)]) == 0
    out = capsys.readouterr().out
    assert "companies.zhipu.chips.domestic_per_month" in out and "nan" not in out


def test_a_study_without_seed_repeats_bit_for_bit():
    from simulator.studies.sensitivity import sensitivity

    runs = [sensitivity(FILE, method="morris", paths=300, samples=4) for _ in range(2)]
    for ds in runs:
        ds.attrs.pop("seconds")
    import xarray as xr

    xr.testing.assert_identical(runs[0], runs[1])
