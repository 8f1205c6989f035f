"""``--param`` specs of sweeps: what each form gives, and the one line each mistake gets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.errors import ScenarioError, UserError
from simulator.model.parameters import build_layout
from simulator.model.scenario_file import load_scenario
from simulator.studies.sweep import parse_sweep_spec

ROOT = Path(__file__).resolve().parents[1]
G = "companies.zhipu.growth.initial"
CUT = "sector.events.export_control_escalation.import_cut"

#: spec -> (count, low, high, log, the values listed or None, the values swept)
GOOD = {
    f"{G}=1:1:1": (1, 1.0, 1.0, False, None, [1.0]),
    f"{G}=1_0:2_0:2": (2, 10.0, 20.0, False, None, [10.0, 20.0]),
    f"{G}=1e-3:1:3:log": (3, 1e-3, 1.0, True, None, [1e-3, 10 ** -1.5, 1.0]),
    f"{G}=0.5:1.5": (11, 0.5, 1.5, False, None, list(np.linspace(0.5, 1.5, 11))),
    f"{G}= 2 , 0.5 ,": (2, 0.0, 0.0, False, [2.0, 0.5], [2.0, 0.5]),
    f"{G}=3": (1, 0.0, 0.0, False, [3.0], [3.0]),
    f"{CUT}.low=0:1:3": (3, 0.0, 1.0, False, None, [0.0, 0.5, 1.0]),  # both ends of [0, 1] allowed
    f"{CUT}.high=0,1": (2, 0.0, 0.0, False, [0.0, 1.0], [0.0, 1.0]),
}

BAD = {
    f"{G}=1,2,1": (UserError, "a value is repeated"),
    f"{G}=,": (UserError, "no values"),
    f"{G}=a": (UserError, "'a' is not a number"),
    f"{G}=x:2": (UserError, "'x' is not a number"),
    f"{G}=1:x": (UserError, "'x' is not a number"),
    f"{G}=1:2,3": (UserError, "'1:2' is not a number"),  # a comma makes it a list
    f"{G}=inf": (UserError, "'inf' is not a number"),
    f"{G}=1e999": (UserError, "'1e999' is not a finite number"),
    f"{G}=1:2:3:4:5": (UserError, "expected LO:HI, LO:HI:N or LO:HI:N:log"),
    f"{G}=1:2:x": (UserError, "N = 'x' must be a whole number of points"),
    f"{G}=1:2:3:lin": (UserError, "the fourth field can only be 'log'"),
    f"{G}=2:1": (UserError, "LO (2) is above HI (1)"),
    f"{G}=1:1:2": (UserError, "N = 2 points do not fit LO = 1, HI = 1 (N >= 2 for a range, 1 when LO = HI)"),
    f"{G}=1:2:1": (UserError, "N = 1 points do not fit LO = 1, HI = 2 (N >= 2 for a range, 1 when LO = HI)"),
    f"{G}=1:2:0": (UserError, "N = 0 points do not fit LO = 1, HI = 2 (N >= 2 for a range, 1 when LO = HI)"),
    f"{G}=0:1:3:log": (UserError, "a log sweep needs LO > 0"),
    f"{CUT}.low=-1:1": (ScenarioError, f"{CUT}.low = -1: out of range (allowed: >= 0 and <= 1)"),
    f"{CUT}.high=0.2,1.5": (ScenarioError, f"{CUT}.high = 1.5: out of range (allowed: >= 0 and <= 1)"),
    f"{CUT}=0.5,1.2": (ScenarioError, f"{CUT} = 1.2: out of range (allowed: >= 0 and <= 1)"),
    "companies.zhipu.chips.enabled=0,1": (ScenarioError, "companies.zhipu.chips.enabled is a switch (true/false), "
                                          "not a number to vary; compare both settings with --set instead"),
    # A company key named like an event's effect (cash, opex) keeps the company's own bounds.
    "companies.zhipu.costs.opex=-5,1": (ScenarioError, f"{ROOT / 'scenarios' / 'zhipu_base.toml'}: "
                                        "companies.zhipu.costs.opex = -5.0: out of range (allowed: >= 0 and "
                                        "<= 1e+16 CNY/year)"),
    f"{G}=-1e9:1": (ScenarioError, f"{ROOT / 'scenarios' / 'zhipu_base.toml'}: {G} = -1000000000.0: out of range "
                                   "(allowed: >= -5 and <= 20 1/year)"),
}

#: Not PATH=SPEC at all: the message quotes what was given.
MALFORMED = {
    f"{G}=": "expected PATH=LO:HI",
    "=1:2": "expected PATH=LO:HI",
    "nothing": "expected PATH=LO:HI (a dotted key, e.g. companies.zhipu.chips.imports_per_month=0:500)",
}


@pytest.fixture(scope="module")
def base():
    scenario = load_scenario(ROOT / "scenarios" / "zhipu_base.toml")
    return scenario, build_layout(scenario)


@pytest.mark.parametrize("text", list(GOOD))
def test_each_form_of_a_sweep_spec(text, base):
    spec = parse_sweep_spec(text, *base)
    count, low, high, log, listed, values = GOOD[text]
    assert (spec.path, spec.where, spec.count, spec.low, spec.high, spec.log) == (
        text.partition("=")[0], f"--param {text}", count, low, high, log)
    assert (spec.listed is None) == (listed is None)
    if listed is not None:
        assert spec.listed.dtype == np.float64 and spec.listed.tolist() == listed
    np.testing.assert_allclose(spec.values(), values, rtol=1e-15)


@pytest.mark.parametrize("text", list(BAD))
def test_each_mistake_in_a_sweep_spec_is_one_line(text, base):
    kind, message = BAD[text]
    with pytest.raises(kind) as err:
        parse_sweep_spec(text, *base)
    assert str(err.value) == f"--param {text}: {message}"


@pytest.mark.parametrize("text", list(MALFORMED))
def test_a_param_that_is_not_path_equals_spec(text, base):
    with pytest.raises(UserError) as err:
        parse_sweep_spec(text, *base)
    assert str(err.value) == f"--param {text!r}: {MALFORMED[text]}"


def test_a_value_may_hold_an_equals_sign_only_after_the_key(base):
    # The key ends at the first "=": a spec with another one is not a number.
    with pytest.raises(UserError, match=r"'1=2' is not a number$"):
        parse_sweep_spec(f"{G}=1=2", *base)


def test_a_sweep_dataset_describes_itself_like_a_run():
    """The grid's Dataset: every variable of a plain run, over the swept keys' dimensions, with the run's
    units and descriptions; the run's own coordinates but no internal 'set'; what was swept recorded."""
    import json

    import simulator
    from simulator.studies.sweep import sweep

    source = ROOT / "scenarios" / "zhipu_base.toml"
    ds = sweep(source, [f"{G}=0.5,1.5"], paths=200, seed=1, quantiles=False)
    run = simulator.run(source, paths=200, seed=1)
    assert "set" not in ds.coords and "set" not in ds.dims
    assert ds.attrs["study"] == "sweep" and ds.attrs["title"] == "Sweep of scenario zhipu_base"
    assert json.loads(ds.attrs["swept_parameters"]) == [{"path": G, "values": [0.5, 1.5]}]
    shared = [name for name in run.data_vars if name in ds.data_vars]
    assert len(shared) > 10
    for name in shared:
        assert ds[name].attrs == run[name].attrs, name
        assert ds[name].dims[:1] == (G,) or ds[name].dims == run[name].dims, name
    for name in ("company", "horizon", "outcome", "bound"):
        np.testing.assert_array_equal(ds[name].values, run[name].values)
        assert ds[name].attrs == run[name].attrs, name


def test_a_sweep_takes_its_grid_and_overrides_in_each_form(capsys):
    """A mapping of values is the same grid as its text; overrides apply to a file and to a loaded scenario
    alike; without progress=True nothing is printed."""
    import xarray as xr

    from simulator.studies.sweep import sweep

    source = ROOT / "scenarios" / "zhipu_base.toml"
    kw = {"paths": 200, "seed": 1, "quantiles": False}
    as_text = sweep(source, [f"{G}=0.5,1.5"], **kw)
    as_mapping = sweep(source, {G: np.array([[0.5], [1.5]])}, **kw)
    for ds in (as_text, as_mapping):
        for clock in ("created", "seconds"):  # when and how long: not results
            ds.attrs.pop(clock, None)
    xr.testing.assert_identical(as_mapping, as_text)
    cash = {"companies.zhipu.cash": 11e9}
    from_file = sweep(source, [f"{G}=0.5,1.5"], overrides=cash, **kw)
    from_scenario = sweep(load_scenario(source), [f"{G}=0.5,1.5"], overrides=cash, **kw)
    for name in ("outcome_count", "fundamental_value"):
        np.testing.assert_array_equal(from_file[name].values, from_scenario[name].values)
    assert not np.array_equal(from_file["fundamental_value"].values, as_text["fundamental_value"].values)
    assert capsys.readouterr().err == ""


def test_a_sweep_runs_with_the_engine_block_size_and_memory_it_is_given():
    """The engine and block size reach the run (and are recorded); a memory budget that fits less than one
    set splits the grid into more kernel calls and changes no number."""
    from simulator.studies.sweep import sweep

    source = ROOT / "scenarios" / "zhipu_base.toml"
    grid = [f"{G}=0.5,1,1.5,2"]
    kw = {"paths": 256, "seed": 1, "quantiles": False}
    numpy_run = sweep(source, grid, engine="numpy", block_size=64, **kw)
    assert (numpy_run.attrs["engine"], numpy_run.attrs["block_size"]) == ("numpy", 64)
    whole = sweep(source, grid, **kw)
    assert whole.attrs["sets_per_kernel_batch"] == 4
    split = sweep(source, grid, max_memory=1.0, **kw)  # room for less than one set: one set a call
    assert split.attrs["sets_per_kernel_batch"] == 1 and split.attrs["kernel_calls"] >= 4
    np.testing.assert_array_equal(split["outcome_count"].values, whole["outcome_count"].values)
