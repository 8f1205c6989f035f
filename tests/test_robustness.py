"""Nothing a user types can crash, hang or quietly corrupt the simulator (issue 15).

One test per class of bad input or fault: sizes against memory on every command that
takes one, option values, files of every wrong kind, output paths, far-tail
truncations, correlations on plain numbers, signals during a write, damaged
checkpoints, results edited in place, amounts that leave float64's range, and silent
adjustments; then a property test that drives the command line with random option
values.  Every error is one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import simulator
from simulator.cli import main
from simulator.errors import ScenarioError, UserError
from simulator.model.scenario_file import parse_scenario
from simulator.runner import memory
from simulator.runner.prepared import prepare_run
from simulator.warnings import SimulatorWarning

ROOT = Path(__file__).resolve().parents[1]
ZB = str(ROOT / "scenarios" / "zhipu_base.toml")
GROWTH = "companies.zhipu.growth.long_run"
#: The memory the size tests pretend the machine has: what fits is then the same everywhere.
MACHINE = 2e9


def _error_line(capsys) -> str:
    """The one error line of a command that exited 2 (warnings and notes may precede it)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("simulator: error:")]
    assert len(errors) == 1, err
    return errors[0]


@pytest.fixture
def small_machine(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: MACHINE)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Results of each kind, and files of each wrong kind."""
    folder = tmp_path_factory.mktemp("files")
    run = folder / "run.nc"
    simulator.save_results(simulator.run(ZB, paths=300, seed=1), run)
    assert main(["sweep", ZB, "--param", f"{GROWTH}=0:1:2", "--paths", "200", "--out", str(folder / "sweep.nc"),
                 "--quiet"]) == 0
    assert main(["sensitivity", ZB, "--method", "oat", "--param", f"{GROWTH}=0:1", "--paths", "200", "--out",
                 str(folder / "oat.nc"), "--quiet"]) == 0
    (folder / "folder.nc").mkdir()
    (folder / "empty.nc").write_bytes(b"")
    (folder / "text.nc").write_text("not netcdf\n")
    (folder / "truncated.nc").write_bytes(run.read_bytes()[:4000])
    (folder / "netcdf3.nc").write_bytes(b"CDF\x01" + b"\0" * 60)
    return folder


# --------------------------------------------------------------------------- 1. sizes against memory

SIZES = [  # (argv, the option the message must name)
    (["run", ZB, "--paths", "1e11"], "--paths"),
    (["run", ZB, "--paths", "1e7", "--keep-paths", "1e7"], "--keep-paths"),
    (["run", ZB, "--precision", "0.001", "--max-paths", "1e11"], "--max-paths"),
    (["batch", ZB, "--out", "{tmp}/b", "--paths", "1e7", "--keep-paths", "1e7"], "--keep-paths"),
    (["batch", ZB, "--out", "{tmp}/b", "--paths", "1e9", "--block-size", "1e9"], "--block-size"),
    (["sweep", ZB, "--param", f"{GROWTH}=0:1:100000000", "--paths", "100"], "--param grid points"),
    (["sweep", ZB, "--param", f"{GROWTH}=0:1:100000", "--param", "companies.zhipu.growth.initial=0:1:100000",
      "--paths", "100"], "--param grid points"),
    (["sweep", ZB, "--param", f"{GROWTH}=0:1:3", "--paths", "1e11"], "--paths"),
    (["sensitivity", ZB, "--method", "sobol", "--samples", "4194304", "--param", f"{GROWTH}=0:1",
      "--param", "companies.zhipu.growth.initial=0:1"], "--samples"),
    (["sensitivity", ZB, "--method", "morris", "--samples", "10000000", "--param", f"{GROWTH}=0:1",
      "--param", "companies.zhipu.growth.initial=0:1"], "--samples"),
    (["sensitivity", ZB, "--method", "oat", "--param", f"{GROWTH}=0:1", "--paths", "1e11"], "--paths"),
    (["calibrate", ZB, "--target", "zhipu.champion@36=0.5", "--param", f"{GROWTH}=0:1", "--paths", "1e11",
      "--out", "{tmp}/c.toml"], "--paths"),
    (["implied", ZB, "--paths", "1e11"], "--paths"),
]


def _forbid_simulation(monkeypatch, before: str) -> None:
    """Make any simulation fail the test: ``before`` says what must come first."""
    def no_work(*args, **kwargs):
        raise AssertionError(f"simulated before {before}")

    # Every module that imports simulate by name; imported first: one imported while dispatch is patched
    # would keep no_work after the test (precision did, and a later `run --precision` failed).
    modules = ("simulator.engines.dispatch", "simulator.runner.prepared", "simulator.runner.distributed",
               "simulator.studies.precision")
    for module in modules:
        importlib.import_module(module)
    for module in modules:
        monkeypatch.setattr(f"{module}.simulate", no_work)


@pytest.mark.parametrize("argv, option", SIZES, ids=[" ".join(a[:1] + a[2:])[:50] for a, _ in SIZES])
def test_sizes_beyond_memory_are_refused_in_one_line_before_any_work(argv, option, tmp_path, capsys, small_machine,
                                                                     monkeypatch):
    _forbid_simulation(monkeypatch, "the sizes were checked")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    line = _error_line(capsys)
    assert re.search(rf"{re.escape(option)} [\d,]+: .* needs about [\d.]+ [kMGT]B of memory \(.*\) but "
                     rf"[\d.]+ GB is available; (at most [\d,]+ fit|the rest alone)", line), line


def test_streaming_paths_are_not_refused_and_threads_are_a_size(small_machine):
    # 10^9 paths need no memory per path (their per-block moments are 74 MB): accepted.
    prepare_run(ZB, paths=10**9)
    with pytest.raises(UserError, match=r"--threads 100,000: .*\(histograms .* at most [\d,]+ fit"):
        simulator.run(ZB, paths=100, threads=100_000)
    with pytest.raises(UserError, match=r"--keep-paths 50,000,000: .* at most [\d,]+ fit"):
        simulator.run(ZB, paths=50_000_000, keep_paths=50_000_000)


def _parts(prepared) -> dict[str, float]:
    needs, _ = prepared.memory_needs()
    parts: dict[str, float] = {}
    for need in needs:
        parts[need.what] = parts.get(need.what, 0.0) + need.bytes
    return parts


def test_memory_estimate_counts_what_the_engine_allocates():
    """The estimate grows with each size as the arrays do (exact byte counts, not a measurement)."""
    from simulator.model import quantities as Q

    base = prepare_run(ZB, paths=10**6)
    parts, kept = _parts(base), _parts(prepare_run(ZB, paths=10**6, keep_paths=1000))
    n_months = base.plan.n_months + 1
    # Kept paths: the engine's float32 array of every variable and month, the Dataset's
    # recorded months, and each path's month of failure.
    assert kept["kept paths"] == 1000 * (Q.N_VARS * (n_months + base.plan.recorded_months.size) * 4 + 8)
    assert parts["kept paths"] == 0
    # Per-block moments double with the paths (two copies of 3 moments of 2 + horizons values per block).
    double = _parts(prepare_run(ZB, paths=2 * 10**6))
    n_blocks = -(-10**6 // base.block_size)
    per_block = 2 * (2 + base.plan.horizons.size) * 3 * 8 + 16
    assert parts["per-block moments"] == n_blocks * per_block
    assert double["per-block moments"] == -(-2 * 10**6 // base.block_size) * per_block
    assert double["histograms"] == parts["histograms"]


# --------------------------------------------------------------------------- 2. options


@pytest.mark.parametrize("text, value", [("1e6", 1_000_000), ("1_000_000", 1_000_000), ("1.5e3", 1500),
                                         ("1000000", 1_000_000), ("2E+2", 200)])
def test_sizes_accept_integral_numbers_in_any_notation(text, value):
    from simulator.cli.options import parse_whole_number

    assert parse_whole_number(text) == value


BAD_OPTIONS = [
    (["run", ZB, "--paths", "1.5"], "--paths: '1.5' is not a whole number"),
    (["run", ZB, "--paths", "1e99999999"], "--paths: '1e99999999' is far too large"),
    (["run", ZB, "--paths", "1e13"], "must be <= 100,000,000,000 (the range of scenario.paths)"),
    (["run", ZB, "--paths", "nan"], "--paths: 'nan' is not a whole number"),
    (["run", ZB, "--seed", str(2**128)], f"must be <= {2**128 - 1} (the range of scenario.seed)"),
    (["run", ZB, "--keep-paths", "-1"], "--keep-paths: -1 must be >= 0"),
    (["run", ZB, "--precision", "nan"], "--precision: 'nan' is not a finite number"),
    (["batch", ZB, "--out", "x", "--checkpoint-every", "inf"], "--checkpoint-every: 'inf' is not a finite number"),
    (["batch", ZB, "--out", "x", "--block-size", "0"], "--block-size: 0 must be >= 1"),
    (["sensitivity", ZB, "--method", "sobol", "--samples", "0"], "--samples: 0 must be >= 1"),
    (["calibrate", ZB, "--target", "zhipu.champion@36=0.5", "--param", f"{GROWTH}=0:1", "--replicates", "x"],
     "--replicates: 'x' is not a whole number"),
    (["batch", ZB, "--out", "x", "--scheduler", "garbage"], "cannot connect to the dask scheduler garbage"),
    (["batch", ZB, "--out", "x", "--cluster", "local:0"], "'local:0' is not local:N with N >= 1"),
    (["implied", ZB, "--company", "nobody"], "--company 'nobody': no such company (known: zhipu)"),
    (["run", ZB, "--set", "scenario.seed=-1"], f"scenario.seed = -1: out of range (allowed: >= 0 and <= {2**128 - 1})"),
]


@pytest.mark.parametrize("argv, needle", BAD_OPTIONS, ids=[" ".join(a[2:])[:40] for a, _ in BAD_OPTIONS])
def test_bad_option_values_are_one_line(argv, needle, capsys):
    assert main(argv) == 2
    assert needle in _error_line(capsys)


def test_seeds_agree_between_the_command_line_and_the_file(tmp_path, capsys):
    big = 2**64  # was accepted by --seed and refused in a file
    text = Path(ZB).read_text().replace("seed = 20260001", f"seed = {big}")
    assert f"seed = {big}" in text
    sc = parse_scenario(text, source="big.toml")
    assert sc.scenario.seed == big
    # A recorded seed_entropy (128 bits) can be given back, in the file or on the command line.
    ds = simulator.run(ZB, paths=200, seed=None)
    entropy = int(ds.attrs["seed_entropy"])
    again = parse_scenario(text.replace(f"seed = {big}", f"seed = {entropy}"), source="again.toml")
    np.testing.assert_array_equal(simulator.run(again, paths=200)["outcome_count"], ds["outcome_count"])
    assert main(["run", ZB, "--paths", "200", "--seed", str(entropy), "--out", str(tmp_path / "a.nc"),
                 "--quiet"]) == 0
    np.testing.assert_array_equal(simulator.open_results(tmp_path / "a.nc")["outcome_count"], ds["outcome_count"])
    with pytest.raises(ScenarioError, match=r"scenario.seed = .*out of range"):
        parse_scenario(text.replace(f"seed = {big}", f"seed = {2**128}"), source="huge.toml")
    with pytest.raises(ScenarioError, match=r"seed: .* must be >= 0 and <= "):
        prepare_run(ZB, seed=2**128)


def test_threads_above_the_cores_run_on_the_cores_with_one_note(tmp_path, capsys):
    from simulator.engines.dispatch import max_threads

    out = tmp_path / "a.nc"
    assert main(["run", ZB, "--paths", "300", "--seed", "1", "--threads", "1000", "--out", str(out), "--quiet"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line]
    assert notes == [f"simulator: note: --threads 1,000: this process may use {max_threads()} core"
                     f"{'s' if max_threads() > 1 else ''}; running on {max_threads()} (results do not depend on "
                     "the thread count)"]


# --------------------------------------------------------------------------- 3. files

WRONG_FILES = {
    "missing.nc": "no such file",
    "folder.nc": "is a folder",
    "empty.nc": "is empty",
    "text.nc": "is not a NetCDF file",
    "truncated.nc": "the file is truncated",
    "netcdf3.nc": "is a NetCDF-3 file",
}
FILE_COMMANDS = {  # command line with {f} the file argument, and the kinds of result it refuses
    "report": (["report", "{f}", "--out", "{tmp}/rep"], ()),
    "compare a": (["compare", "{f}", "{run}"], ("sweep.nc", "oat.nc")),
    "compare b": (["compare", "{run}", "{f}"], ("sweep.nc", "oat.nc")),
    "attribute": (["attribute", "{f}"], ("sweep.nc", "oat.nc")),
    "given-data": (["sensitivity", "{f}", "--method", "delta"], ("sweep.nc", "oat.nc")),
}
FILE_CASES = [(cmd, name) for cmd, (_, kinds) in FILE_COMMANDS.items() for name in (*WRONG_FILES, *kinds)]


@pytest.mark.parametrize("command, name", FILE_CASES, ids=[f"{c}-{n}" for c, n in FILE_CASES])
def test_wrong_files_are_one_line_naming_the_path(command, name, files, tmp_path, capsys):
    argv, _ = FILE_COMMANDS[command]
    path = files / name
    argv = [a.format(f=path, run=files / "run.nc", tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    line = _error_line(capsys)
    assert f"simulator: error: {path}: " in line, line
    assert "expected" in line, line
    if name in WRONG_FILES:
        assert WRONG_FILES[name] in line, line
    else:
        assert re.search(r"a (sweep|sensitivity) result", line), line


@pytest.mark.parametrize("command", ["run", "validate", "sweep", "calibrate", "implied", "batch"])
@pytest.mark.parametrize("name, needle", [("folder.nc", "it is a folder"), ("run.nc", "not a text file"),
                                          ("missing.toml", "no such file"), ("empty.nc", "required key")])
def test_wrong_scenario_files_are_one_line(command, name, needle, files, tmp_path, capsys):
    path = files / name
    extra = {"sweep": ["--param", f"{GROWTH}=0:1:2"], "batch": ["--out", str(tmp_path / "b")],
             "calibrate": ["--target", "zhipu.champion@36=0.5", "--param", f"{GROWTH}=0:1"]}.get(command, [])
    assert main([command, str(path), *extra]) == 2
    line = _error_line(capsys)
    assert str(path) in line and needle in line, line


@pytest.mark.parametrize("name", [n for n in WRONG_FILES if n != "truncated.nc"])
def test_open_results_says_what_was_expected(name, files):
    from simulator.results.io import open_results

    with pytest.raises(UserError) as err:
        open_results(files / name, expected="a sweep result")
    assert str(err.value).startswith(f"{files / name}: {WRONG_FILES[name]}")
    assert "(expected a sweep result" in str(err.value)
    with pytest.raises(UserError, match=re.escape("(expected a results .nc file written by simulator")):
        open_results(files / name)


def test_a_results_file_without_a_checksum_opens(tmp_path):
    # Written by xarray alone (or by a version before checksums): nothing to leave out, nothing to verify.
    import xarray as xr

    from simulator.results.io import open_results, verify_checksum

    xr.Dataset({"v": (("x",), np.arange(3.0))}).to_netcdf(tmp_path / "old.nc", engine="h5netcdf")
    assert verify_checksum(tmp_path / "old.nc") is None
    assert open_results(tmp_path / "old.nc")["v"].values.tolist() == [0.0, 1.0, 2.0]


def test_an_unreadable_or_damaged_results_file_is_one_short_line(files, tmp_path, monkeypatch):
    import builtins

    import xarray as xr

    from simulator.results import io

    with pytest.raises(UserError) as err:
        io.open_results(files / "truncated.nc")
    assert str(err.value) == (f"{files / 'truncated.nc'}: cannot be read: the file is truncated (an interrupted "
                              f"copy or download?) (expected {io.EXPECTED})")
    # The library's reason on one line (its spaces and line breaks folded), cut to 120 characters.
    run = files / "run.nc"
    for reason, said in [("bad  header\n  at block 7", "bad header at block 7"),
                         ("x" * 120, "x" * 120), ("y" * 121, "y" * 117 + "...")]:
        def damaged(*args, reason=reason, **kwargs):
            raise OSError(reason)

        monkeypatch.setattr(xr, "open_dataset", damaged)
        with pytest.raises(UserError) as err:
            io.open_results(run)
        assert str(err.value) == f"{run}: cannot be read: {said} (expected {io.EXPECTED})"
    monkeypatch.undo()
    # Tests run as root, who reads every file: a file this user may not read is simulated.
    real_open = builtins.open

    def denied(file, *args, **kwargs):
        if Path(file) == run:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", denied)
    with pytest.raises(UserError) as err:
        io.open_results(run)
    assert str(err.value) == f"{run}: cannot read it (Permission denied)"


def test_check_output_names_the_option_and_the_folder_it_cannot_write(tmp_path, monkeypatch):
    from simulator.results import io

    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "dir").mkdir()
    with pytest.raises(UserError, match=f"^{re.escape(f'--out {tmp_path}/dir')}: is a folder; give a file name$"):
        io.check_output(tmp_path / "dir")
    with pytest.raises(UserError, match=f"^{re.escape(f'--csv {tmp_path}/file.txt')}: is a file; give a folder$"):
        io.check_output(tmp_path / "file.txt", folder=True, option="--csv")
    deep = tmp_path / "file.txt" / "a" / "b" / "r.nc"  # the nearest existing parent, two levels up, is a file
    with pytest.raises(UserError, match=f"^{re.escape(f'{deep}: {tmp_path}/file.txt is a file, not a folder')}$"):
        io.check_output(deep, option="")
    assert io.check_output(tmp_path / "new" / "deeper" / "r.nc") == tmp_path / "new" / "deeper" / "r.nc"

    # Tests run as root, who may write anywhere: a folder without write permission is simulated.
    def no_write_into(*folders):
        monkeypatch.setattr(io.os, "access", lambda p, mode: not (Path(p) in folders and mode & (os.W_OK | os.X_OK)))

    no_write_into(tmp_path / "dir")
    with pytest.raises(UserError, match=f"^{re.escape(f'--out {tmp_path}/dir/r.nc: cannot write into {tmp_path}/dir')} "
                                        r"\(permission denied\)$"):
        io.check_output(tmp_path / "dir" / "r.nc")
    with pytest.raises(UserError, match="cannot write into"):  # an existing folder given as the folder itself
        io.check_output(tmp_path / "dir", folder=True)
    assert io.check_output(tmp_path / "other", folder=True) == tmp_path / "other"  # its parent is writable
    no_write_into(tmp_path)
    assert io.check_output(tmp_path / "dir", folder=True) == tmp_path / "dir"  # only dir itself is written into


def test_compare_refuses_a_study_result_from_python(files):
    sweep = simulator.open_results(files / "sweep.nc")
    run = simulator.open_results(files / "run.nc")
    from simulator.studies.compare import compare

    with pytest.raises(UserError, match="compare: a is not the results of one run \\(a sweep result\\)"):
        compare(sweep, run)


# --------------------------------------------------------------------------- 4. outputs

OUTPUTS = [
    ["run", ZB, "--paths", "100", "--out", "{dir}"],
    ["run", ZB, "--paths", "100", "--out", "{file}/x.nc"],
    ["run", ZB, "--paths", "100", "--out", "{tmp}/ok.nc", "--report", "{file}"],
    ["sweep", ZB, "--param", f"{GROWTH}=0:1:2", "--paths", "100", "--out", "{dir}"],
    ["sensitivity", ZB, "--method", "oat", "--param", f"{GROWTH}=0:1", "--paths", "100", "--out", "{dir}"],
    ["calibrate", ZB, "--target", "zhipu.champion@36=0.5", "--param", f"{GROWTH}=0:1", "--out", "{dir}"],
    ["batch", ZB, "--paths", "100", "--out", "{file}"],
    ["batch", ZB, "--paths", "100", "--out", "{tmp}/b", "--keep-paths", "5", "--zarr", "{file}"],
    ["compare", "{run}", "{run}", "--out", "{dir}"],
    ["attribute", ZB, "--out", "{dir}"],
    ["report", "{run}", "--out", "{file}"],
    ["docs", "--output", "{dir}"],
    ["run", ZB, "--paths", "100", "--out", "{tmp}/ok.nc", "--csv", "{file}"],
    ["sweep", ZB, "--param", f"{GROWTH}=0:1:2", "--paths", "100", "--out", "{tmp}/ok.nc", "--csv", "{file}"],
    ["sensitivity", ZB, "--method", "oat", "--param", f"{GROWTH}=0:1", "--paths", "100", "--out", "{tmp}/ok.nc",
     "--csv", "{file}"],
    ["export", "{run}", "--csv", "{file}"],
    ["discover", str(ROOT / "scenarios" / "zhipu_uncertain.toml"), "--outcome", "zhipu.champion@36", "--paths", "1000",
     "--out", "{dir}"],
]


@pytest.mark.parametrize("argv", OUTPUTS, ids=[" ".join(a[:1] + a[-2:]) for a in OUTPUTS])
def test_outputs_are_checked_before_any_work(argv, files, tmp_path, capsys, monkeypatch):
    _forbid_simulation(monkeypatch, "the output path was checked")
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    argv = [a.format(dir=tmp_path / "dir", file=tmp_path / "file", tmp=tmp_path, run=files / "run.nc")
            for a in argv]
    assert main(argv) == 2
    line = _error_line(capsys)
    assert re.search(r"--(out|report|zarr|output|csv) \S+: (is a folder|is a file|\S+ is a file, not a folder)", line)
    assert ".tmp" not in line


def test_a_failed_rename_names_the_users_path(tmp_path):
    ds = simulator.run(ZB, paths=100, seed=1)
    target = tmp_path / "taken.nc"
    target.mkdir()
    with pytest.raises(UserError, match=rf"^{re.escape(str(target))}: is a folder"):
        simulator.save_results(ds, target)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------- 5. uncertain inputs

TAILS = [  # (table, the truncated normal of the value, or of its log for a lognormal)
    ('{dist = "normal", mean = 0.5, sd = 0.05, low = 0.8, high = 1.0}', stats.truncnorm(6, 10, 0.5, 0.05), False),
    ('{dist = "normal", mean = 0.0, sd = 0.5, low = 0.0}', stats.truncnorm(0, np.inf, 0.0, 0.5), False),
    ('{dist = "truncnormal", mean = 1.0, sd = 0.01, low = 0.5, high = 0.6}',
     stats.truncnorm(-50, -40, 1.0, 0.01), False),
    ('{dist = "lognormal", median = 0.1, sigma = 0.2, low = 0.5}',
     stats.truncnorm((np.log(0.5) - np.log(0.1)) / 0.2, np.inf, np.log(0.1), 0.2), True),
]


@pytest.mark.parametrize("table, ref, log", TAILS, ids=["upper-tail", "half-normal", "far-lower-tail", "lognormal"])
def test_far_tail_truncations_are_sampled_like_scipy(table, ref, log):
    from simulator.engines.input_draws import draw_inputs

    sc = parse_scenario(_UNC_BASE + f"[companies.growth]\nkappa = {table}\n", source="tail.toml")
    (spec,) = sc.uncertain.inputs
    n = 20_000
    x = draw_inputs(sc.uncertain, np.random.SeedSequence(5), 0, n)[:, 0]
    assert np.all(np.isfinite(x))
    y = np.log(x) if log else x
    lo, hi = ref.support()
    assert np.all((y >= lo - 1e-12) & (y <= hi + 1e-12))
    # Kolmogorov-Smirnov at the 0.1% level for n draws, and the mean within 4 standard errors.
    d = stats.kstest(y, ref.cdf).statistic
    assert d < 1.95 / np.sqrt(n), d
    assert abs(y.mean() - ref.mean()) < 4 * ref.std() / np.sqrt(n)
    # The validated scenario holds the median, and the support is finite and inside the bounds.
    median = float(np.exp(ref.median())) if log else float(ref.median())
    assert sc.companies[0].growth.kappa == pytest.approx(median, rel=1e-9)
    assert all(np.isfinite(spec.support))


_UNC_BASE = """
[scenario]
name = "unc"
horizon_months = 12
paths = 500
seed = 3

[[companies]]
name = "a"
revenue = 1e9
valuation = 1e10
cash = 1e9
"""


def test_a_correlation_naming_a_plain_number_is_an_error(recwarn):
    head = _UNC_BASE + ('[companies.growth]\nlong_run = { dist = "uniform", low = 0.1, high = 0.6 }\n'
                        "kappa = 0.5\n")
    corr = '[[correlations]]\na = "companies.a.growth.long_run"\nb = "companies.a.growth.kappa"\nrho = 0.5\n'
    with pytest.raises(ScenarioError, match=r"c\.toml: correlations\.0: companies\.a\.growth\.kappa is a plain "
                                            r"number in the file, not a distribution"):
        parse_scenario(head + corr, source="c.toml")
    # Pinning an uncertain key by --set drops its correlation, said in one line.
    both = head.replace("kappa = 0.5", 'kappa = { dist = "uniform", low = 0.1, high = 1.0 }')
    with pytest.warns(SimulatorWarning, match=r"companies\.a\.growth\.kappa is pinned to a number by --set; "
                                              r"the correlation .* is dropped"):
        sc = parse_scenario(both + corr, source="c.toml", overrides=["companies.a.growth.kappa=0.3"])
    assert sc.uncertain.correlations == ()


# --------------------------------------------------------------------------- 6. faults

_SLOW_WRITE = """
import sys, time
import xarray as xr
from simulator.cli.main import main
write = xr.Dataset.to_netcdf
def slow(self, *args, **kwargs):
    write(self, *args, **kwargs)
    print("writing", flush=True)
    time.sleep(120)
xr.Dataset.to_netcdf = slow
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGKILL],
                         ids=lambda s: s.name)
def test_a_signal_during_a_write_leaves_no_temporary_file(sig, tmp_path):
    simulator.run(ZB, paths=64)  # compiled kernels for the child
    out = tmp_path / "res" / "a.nc"
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITE, "run", ZB, "--paths", "300", "--out", str(out),
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"  # the temporary file is written, not yet renamed
    tmps = [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]
    assert len(tmps) == 1 and tmps[0].name.startswith(".a.nc.") and str(proc.pid) in tmps[0].name
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        assert tmps[0].exists()  # nothing runs on SIGKILL: the next write into the folder removes it
        simulator.save_results(simulator.run(ZB, paths=100), out.parent / "b.nc")
    else:
        assert proc.returncode == 128 + sig, err
        assert err.strip().splitlines()[-1] in (
            f"simulator: terminated ({sig.name}); nothing half-written is left", "simulator: interrupted")
    assert sorted(p.name for p in out.parent.iterdir()) == (["b.nc"] if sig == signal.SIGKILL else [])


def test_a_temporary_file_of_a_live_process_is_kept(tmp_path):
    from simulator.results.files import remove_stale_temporaries

    # A live writer of our own (not the parent: a wrong signal must hit nothing but this child).
    # SIGHUP's default restored: under nohup (mutation runs) the child would inherit it ignored.
    writer = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGHUP, "
                               "signal.SIG_DFL); time.sleep(60)"])
    try:
        live = tmp_path / f".x.nc.{_host()}.{writer.pid}.abcdefgh.tmp"
        dead = tmp_path / f".x.nc.{_host()}.{_dead_pid()}.abcdefgh.tmp"
        old = tmp_path / ".y.nc.abcdefgh.tmp"
        young = tmp_path / ".z.nc.abcdefgh.tmp"
        elsewhere = tmp_path / f".w.nc.otherhost.{writer.pid}.abcdefgh.tmp"  # another host's: by age
        # This process's own, not (or not yet) registered: another of its threads may be writing it.
        mine = tmp_path / f".v.nc.{_host()}.{os.getpid()}.abcdefgh.tmp"
        for p in (live, dead, old, young, elsewhere, mine):
            p.write_text("partial")
        for p in (old, elsewhere):
            os.utime(p, (time.time() - 2 * 86_400,) * 2)
        assert sorted(remove_stale_temporaries(tmp_path)) == sorted([dead, old, elsewhere])
        assert live.exists() and young.exists() and mine.exists()
        with pytest.raises(subprocess.TimeoutExpired):  # asking whether it lives sent it no signal
            writer.wait(timeout=1.0)
    finally:
        writer.kill()
        writer.wait()


def test_a_temporary_file_of_another_users_live_process_is_kept(tmp_path, monkeypatch):
    # Tests run as root here, where every process may be signalled: another user's is simulated.
    from simulator.results import files

    def not_permitted(pid, sig):
        raise PermissionError(1, "Operation not permitted")

    theirs = tmp_path / f".x.nc.{_host()}.{_dead_pid()}.abcdefgh.tmp"
    theirs.write_text("partial")
    monkeypatch.setattr(files.os, "kill", not_permitted)
    assert files.remove_stale_temporaries(tmp_path) == [] and theirs.exists()


def test_a_temporary_file_naming_no_process_is_stale_only_after_a_day(tmp_path, monkeypatch):
    from simulator.results import files

    old = tmp_path / ".y.nc.abcdefgh.tmp"
    old.write_text("partial")
    os.utime(old, (1_000_000.0, 1_000_000.0))
    monkeypatch.setattr(files.time, "time", lambda: 1_000_000.0 + 86_400.0)  # exactly a day: kept
    assert files.remove_stale_temporaries(tmp_path) == [] and old.exists()
    monkeypatch.setattr(files.time, "time", lambda: 1_000_000.0 + 86_400.5)
    assert files.remove_stale_temporaries(tmp_path) == [old] and not old.exists()


def test_a_signal_after_a_temporary_file_vanished_removes_the_others(tmp_path):
    from simulator.results.files import atomic_file, remove_own_temporaries

    with pytest.raises(UserError, match="cannot write"):
        with atomic_file(tmp_path / "a.nc") as f1, atomic_file(tmp_path / "b.nc") as f2:
            f1.write(b"a")
            f2.write(b"b")
            first, second = sorted(tmp_path.glob("*.tmp"))
            first.unlink()  # removed by someone else
            remove_own_temporaries()  # no error for the missing one; the other one goes
            assert not second.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("hostname", "in_name"), [
    ("Lab-7.example.COM", "Lab-7-example-COM"), ("x" * 40, "x" * 32), ("", "host"), ("实验室", "---")])
def test_a_temporary_file_names_this_host_in_safe_characters(tmp_path, monkeypatch, hostname, in_name):
    # The host is part of the name (a folder shared between machines): letters, digits, "_" and "-" only,
    # at most 32 of them, so that the name parses back into name, host and process.
    from simulator.results import files

    monkeypatch.setattr(files.socket, "gethostname", lambda: hostname)
    with files.atomic_file(tmp_path / "r.nc") as fh:
        (tmp,) = tmp_path.glob("*.tmp")
        assert tmp.name.startswith(f".r.nc.{in_name}.{os.getpid()}.")
        fh.write(b"x")


def test_stale_temporaries_that_cannot_be_removed_are_left_without_error(tmp_path, monkeypatch):
    from simulator.results import files

    dead = tmp_path / f".x.nc.{_host()}.{_dead_pid()}.abcdefgh.tmp"
    dead.write_text("partial")
    real_unlink = Path.unlink

    def refused(self, *args, **kwargs):
        if self == dead:
            raise PermissionError(13, "Permission denied", str(self))
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", refused)
    assert files.remove_stale_temporaries(tmp_path) == [] and dead.exists()

    def unreadable(self, pattern):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "glob", unreadable)
    assert files.remove_stale_temporaries(tmp_path) == []


def test_a_write_that_cannot_be_renamed_over_its_target_says_why(tmp_path, monkeypatch):
    import errno

    from simulator.results import files

    (tmp_path / "taken").mkdir()
    with pytest.raises(UserError, match=f"^{re.escape(str(tmp_path / 'taken'))}: cannot write there \\(it is a folder\\)$"):
        files.write_text_atomic(tmp_path / "taken", "x")
    for exc, reason in [(OSError(errno.EXDEV, "Invalid cross-device link"), "Invalid cross-device link"),
                        (OSError("no reason given by the system"), "no reason given by the system")]:
        def refused(src, dst, exc=exc):
            raise exc

        monkeypatch.setattr(files.os, "replace", refused)
        with pytest.raises(UserError, match=f"^{re.escape(str(tmp_path / 'r.md'))}: cannot write there "
                                            f"\\({re.escape(reason)}\\)$"):
            files.write_text_atomic(tmp_path / "r.md", "x")
        assert list(tmp_path.glob("*.tmp")) == []  # nothing half-written is left


def test_a_folder_that_cannot_be_synced_does_not_fail_the_write(tmp_path, monkeypatch):
    # Some file systems refuse to open or sync a folder: the rename has happened, the file is whole.
    from simulator.results import files

    real_open = os.open

    def no_folders(path, flags, *args, **kwargs):
        if Path(path).is_dir():
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(files.os, "open", no_folders)
    assert files.write_text_atomic(tmp_path / "r.md", "whole").read_text() == "whole"


def test_a_signal_while_the_write_registers_its_temporary_file_does_not_hang():
    # The SIGTERM handler removes this process's temporary files under the lock the writes hold
    # for a moment; a signal in that moment runs the handler in the same (main) thread.
    import threading

    from simulator.results import files

    done = threading.Event()

    def in_the_window():
        with files._OWN_LOCK:  # what a write holds while it registers its temporary file
            files.remove_own_temporaries()  # what the signal handler calls
        done.set()

    worker = threading.Thread(target=in_the_window, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert done.is_set(), "remove_own_temporaries deadlocked on a lock its own thread holds"


def test_on_a_signal_this_process_removes_only_the_temporaries_it_writes(tmp_path):
    """What the SIGTERM/SIGHUP handler calls: every temporary this process is writing goes, in any
    folder, and nothing else; the files they were to replace keep their old content."""
    from simulator.results.files import atomic_file, remove_own_temporaries

    (tmp_path / "a").mkdir()
    old = tmp_path / "a" / "x.nc"
    old.write_bytes(b"old")
    other = tmp_path / "a" / ".x.nc.otherhost.1234.abcdefgh.tmp"  # another (recent) writer's
    other.write_text("partial")
    # The inner write ends first: its rename finds its temporary gone, and the outer one is abandoned.
    with pytest.raises(UserError, match=re.escape(f"{tmp_path / 'b' / 'y.csv'}: cannot write")):
        with atomic_file(old) as f1, atomic_file(tmp_path / "b" / "y.csv", "w") as f2:
            f1.write(b"new")
            f2.write("new")
            mine = sorted(p for p in tmp_path.rglob("*.tmp") if p != other)
            assert len(mine) == 2
            remove_own_temporaries()
            assert not any(p.exists() for p in mine)
            assert other.exists()
    assert old.read_bytes() == b"old" and not (tmp_path / "b" / "y.csv").exists()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(["x.nc", other.name])
    remove_own_temporaries()  # none left to remove: nothing else goes
    assert other.exists()


def _host() -> str:
    import socket

    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:32] or "host"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _checkpoint_of(tmp_path: Path) -> tuple[Path, bytes]:
    """A real checkpoint of narrative_flip (a batch interrupted after its first group)."""
    from simulator.runner.distributed import prepare_job
    from simulator.studies.batch import save_checkpoint

    job = prepare_job(ROOT / "scenarios" / "narrative_flip.toml", paths=20_000, seed=7)
    job.start()
    group = job.pending_groups(2)[0]
    from simulator.runner.distributed import simulate_group

    job.absorb(group, simulate_group(job.layout, job.plan, **job.task_kwargs(group)))
    path = tmp_path / "tally.npz"
    save_checkpoint(path, job)
    return path, path.read_bytes()


def _complete_checkpoint(tmp_path: Path) -> Path:
    """A checkpoint of narrative_flip after all its blocks, the last one partial (2,500 paths in blocks of
    1,000), with 10 kept paths."""
    from simulator.runner.distributed import prepare_job, simulate_group
    from simulator.studies.batch import save_checkpoint

    job = prepare_job(ROOT / "scenarios" / "narrative_flip.toml", paths=2500, seed=7, block_size=1000, keep_paths=10)
    job.start()
    for group in job.pending_groups(2):
        job.absorb(group, simulate_group(job.layout, job.plan, **job.task_kwargs(group)))
    save_checkpoint(tmp_path / "tally.npz", job)
    return tmp_path / "tally.npz"


CHECKPOINT_DAMAGE = {  # what is changed in the arrays, and the reason given
    "counts": (lambda a: a.update(counts=a["counts"][..., :2]), "outcome counts of shape (1, 1, 4, 2)"),
    "blocks 2-D": (lambda a: a.update(block_ids=a["block_ids"].reshape(3, 1)), "block list does not fit the run"),
    "block twice": (lambda a: a.update(block_ids=np.array([0, 0, 2])), "block list does not fit the run"),
    "block past the end": (lambda a: a.update(block_ids=np.array([0, 1, 3])), "block list does not fit the run"),
    "moments": (lambda a: a.update(fv_blocks=a["fv_blocks"][:2]), "moments do not match the block list"),
    "path count": (lambda a: a.update(n_paths=np.array([2499])), "path count does not match the block list"),
    "path counts": (lambda a: a.update(n_paths=np.array([2500, 0])), "path count does not match the block list"),
    "no kept paths": (lambda a: a.pop("job_kept"), "kept paths missing or unexpected"),
    "fewer kept paths": (lambda a: a.update(job_kept=a["job_kept"][:, :5]), "kept paths of another size"),
    "no failure months": (lambda a: a.pop("job_fail_month"), "kept paths of another size"),
    "recorded outcomes": (lambda a: a.update(job_path_outcome=np.zeros((5, 1, 4), np.int8)),
                          "recorded outcomes of another size"),
}


@pytest.mark.parametrize("damage", list(CHECKPOINT_DAMAGE))
def test_a_checkpoint_that_does_not_fit_its_run_says_what_does_not(damage, tmp_path):
    from simulator.runner.distributed import prepare_job
    from simulator.studies.batch import load_checkpoint

    path = _complete_checkpoint(tmp_path)

    def fresh():
        job = prepare_job(ROOT / "scenarios" / "narrative_flip.toml", paths=2500, seed=7, block_size=1000,
                          keep_paths=10)
        job.start()
        return job

    reasons = []
    job = fresh()
    assert load_checkpoint(path, job, on_damaged=reasons.append) and reasons == []  # the whole run, as written
    assert job.paths_done == 2500 and job.kept.shape[1] == 10
    with np.load(path) as data:
        assert job.tally.blocks_done == int(data["blocks_done"]) == 3
    with np.load(path) as data:
        arrays = dict(data)
    change, reason = CHECKPOINT_DAMAGE[damage]
    change(arrays)
    np.savez(path, **arrays)
    job = fresh()
    assert not load_checkpoint(path, job, on_damaged=reasons.append)
    assert reasons == [reason] and job.tally is None


@pytest.mark.parametrize(("error", "reason"), [
    (None, "the file is empty"),
    (ValueError("bad  zip\n  header " + "z" * 200), ("bad zip header " + "z" * 200)[:100]),
    (OSError(""), "OSError")])
def test_an_unreadable_checkpoint_gives_the_reason_in_one_short_line(tmp_path, monkeypatch, error, reason):
    from simulator.runner.distributed import prepare_job
    from simulator.studies import batch

    job = prepare_job(ROOT / "scenarios" / "narrative_flip.toml", paths=2500, seed=7)
    job.start()
    path = tmp_path / "tally.npz"
    if error is None:
        path.write_bytes(b"")
    else:
        path.write_bytes(b"PK\x03\x04 not really")

        def unreadable(*args, **kwargs):
            raise error

        monkeypatch.setattr(batch.np, "load", unreadable)
    reasons = []
    assert not batch.load_checkpoint(path, job, on_damaged=reasons.append)
    assert reasons == [reason]


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "wrong arrays"])
def test_a_damaged_checkpoint_is_discarded_with_one_line_and_recomputed(damage, tmp_path, capsys):
    source, good = _checkpoint_of(tmp_path)
    out = tmp_path / "out"
    partial = out / ".partial" / "narrative_flip"
    partial.mkdir(parents=True)
    if damage == "wrong arrays":
        with np.load(source) as data:
            arrays = dict(data)
        arrays["block_ids"] = arrays["block_ids"] + 10_000  # blocks the run does not have
        np.savez(partial / "tally.npz", **arrays)
    else:
        (partial / "tally.npz").write_bytes({"empty": b"", "truncated": good[: len(good) // 2],
                                             "garbage": os.urandom(4096)}[damage])
    argv = ["batch", str(ROOT / "scenarios" / "narrative_flip.toml"), "--out", str(out), "--paths", "20000",
            "--seed", "7", "--quiet"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    warnings = [line for line in err.splitlines() if line.startswith("simulator: warning:")]
    assert len(warnings) == 1 and "damaged checkpoint" in warnings[0] and "recomputed" in warnings[0], err
    clean = tmp_path / "clean"
    assert main([*argv[:3], str(clean), *argv[4:]]) == 0
    ours, theirs = simulator.open_results(out / "narrative_flip.nc"), simulator.open_results(
        clean / "narrative_flip.nc")
    np.testing.assert_array_equal(ours["outcome_count"], theirs["outcome_count"])
    assert main(argv) == 0  # and the next run skips it
    assert "up to date" in capsys.readouterr().out


def test_a_result_edited_in_place_is_recomputed(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["batch", str(ROOT / "scenarios" / "narrative_flip.toml"), "--out", str(out), "--paths", "3000",
            "--seed", "7", "--quiet"]
    assert main(argv) == 0
    result = out / "narrative_flip.nc"
    true_p = float(simulator.open_results(result)["probability"].values.flat[0])
    size = result.stat().st_size
    with h5py.File(result, "r+") as fh:  # one probability changed, same size, attributes untouched
        values = fh["probability"][...]
        values.flat[0] = 0.123
        fh["probability"][...] = values
    assert result.stat().st_size == size
    capsys.readouterr()
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "do not match the checksum" in captured.err and "narrative_flip is recomputed" in captured.err
    assert "done: narrative_flip" in captured.out
    again = simulator.open_results(result)
    assert float(again["probability"].values.flat[0]) == true_p
    import csv

    with open(out / "summary.csv", newline="") as fh:
        (row,) = csv.DictReader(fh)
    column = f"p_{again['outcome'].values[0]}_{int(again['horizon'].values[0])}m"
    assert float(row[column]) == true_p
    from simulator.results.io import verify_checksum

    assert verify_checksum(result) is True



@pytest.mark.parametrize("slab", [1, 100, 4096])
def test_the_checksum_read_in_slabs_is_the_whole_files(tmp_path, monkeypatch, slab):
    # Variables are read in slabs along their first dimension (memory stays bounded): the value is
    # the one a single read gives (files written earlier verify), and a change in any slab is seen.
    import xarray as xr

    from simulator.results import io

    ds = xr.Dataset({"big": (("path", "company", "month"), np.arange(60 * 3 * 7, dtype=np.float64).reshape(60, 3, 7)),
                     "codes": (("path",), np.arange(60, dtype=np.int8)),
                     "names": (("output",), np.asarray([f"zhipu.champion@{m}" for m in range(40)], dtype=object)),
                     "none": (("empty", "company"), np.zeros((0, 3))),
                     "scalar": ((), 1.5)})
    result = io.save_results(ds, tmp_path / "r.nc")
    with h5py.File(result, "r") as fh:
        stored = fh.attrs["content_sha256"]
    stored = stored.decode() if isinstance(stored, bytes) else str(stored)
    monkeypatch.setattr(io, "_SLAB_BYTES", slab)
    assert io.content_checksum(result) == stored
    assert io.verify_checksum(result) is True
    for name in ("big", "names"):
        with h5py.File(result, "r+") as fh:  # the last row changed
            original = fh[name][...]
            values = original.copy()
            values[-1] = b"zhipu.collapse@39" if name == "names" else values[-1] + 1.0
            fh[name][...] = values
        assert io.verify_checksum(result) is False, name
        with h5py.File(result, "r+") as fh:
            fh[name][...] = original
        assert io.verify_checksum(result) is True, name

#: The checksum of the file :func:`_checksum_fixture` writes, as today's algorithm computes it.  The
#: checksum is part of the file format: a results file written by an earlier version must still verify,
#: so a change to what the checksum covers (or how) must fail here, not only in files already on disk.
_PINNED_CHECKSUM = "fdd8f7f6159c54d5f46da464b4769e7cec32874c6efde1ece05b9c4b72c97510"


def _checksum_fixture(path: Path) -> Path:
    """A small NetCDF file written with h5netcdf alone (no xarray encoding that a new version could change):
    numbers with attributes of each kind (text, numpy scalar, numpy array, a private ``_`` one), text
    values, an empty and a scalar variable."""
    import h5netcdf

    with h5netcdf.File(path, "w") as fh:
        fh.dimensions = {"path": 4, "company": 2, "output": 3, "empty": 0}
        v = fh.create_variable("values", ("path", "company"), data=np.arange(8, dtype=np.float64).reshape(4, 2))
        v.attrs["units"] = "CNY"
        v.attrs["scale"] = np.float64(0.5)
        v.attrs["levels"] = np.array([0.05, 0.95])
        v.attrs["_private"] = 7  # not covered: the library's own bookkeeping attributes start with "_"
        names = np.array(["zhipu.champion@12", "zhipu.collapse@12", "zhipu.contested@12"], dtype=object)
        fh.create_variable("names", ("output",), dtype=h5py.string_dtype(), data=names).attrs["long_name"] = "output"
        fh.create_variable("none", ("empty", "company"), data=np.zeros((0, 2)))
        fh.create_variable("scalar", (), data=np.float64(1.5))
    return path


@pytest.mark.parametrize("slab", [1, 16, 2**25])
def test_the_checksum_of_a_known_file_is_pinned(tmp_path, monkeypatch, slab):
    from simulator.results import io

    path = _checksum_fixture(tmp_path / "f.nc")
    monkeypatch.setattr(io, "_SLAB_BYTES", slab)
    assert io.content_checksum(path) == _PINNED_CHECKSUM
    # A private attribute is not content; any other is.
    with h5py.File(path, "r+") as fh:
        fh["values"].attrs["_private"] = 8
    assert io.content_checksum(path) == _PINNED_CHECKSUM
    with h5py.File(path, "r+") as fh:
        fh["values"].attrs["scale"] = np.float64(0.25)
    assert io.content_checksum(path) != _PINNED_CHECKSUM


def _slab_fixture(path: Path) -> Path:
    import h5netcdf

    with h5netcdf.File(path, "w") as fh:
        fh.dimensions = {"path": 5, "company": 3, "one": 1, "output": 3}
        fh.create_variable("codes", ("path",), data=np.arange(5, dtype=np.int8))  # a row of 1 byte
        fh.create_variable("wide", ("path", "company", "one"), data=np.arange(15.0).reshape(5, 3, 1))  # 24 bytes
        names = np.array(["zhipu.champion@12", "zhipu.collapse@12", "zhipu.contested@12"], dtype=object)
        fh.create_variable("names", ("output",), dtype=h5py.string_dtype(), data=names)  # counted as 64 bytes each
    return path


@pytest.mark.parametrize(("name", "slab", "rows"), [
    ("codes", 1, [1, 1, 1, 1, 1]), ("codes", 2, [2, 2, 1]), ("wide", 48, [2, 2, 1]), ("wide", 23, [1] * 5),
    ("names", 128, [2, 1]), ("names", 2**25, [3])])
def test_the_checksum_reads_a_variable_in_slabs_of_the_set_size(tmp_path, monkeypatch, name, slab, rows):
    # Memory stays bounded: a slab is as many rows as fit in _SLAB_BYTES (at least one), a row's size
    # counted from its elements (64 bytes for a text value, whose length the file does not say).
    import h5netcdf

    from simulator.results import io

    path = _slab_fixture(tmp_path / "f.nc")
    monkeypatch.setattr(io, "_SLAB_BYTES", slab)
    with h5netcdf.File(path, "r") as fh:
        var = fh.variables[name]
        slabs = list(io._slabs(var))
        whole = var[...]
    assert [len(s) for s in slabs] == rows
    assert np.array_equal(np.concatenate(slabs), whole)


def test_large_numeric_variables_are_stored_compressed(tmp_path):
    # Kept paths make files of gigabytes: numbers are compressed (gzip level 4) from 1,025 values up;
    # text and small variables are not (nothing to gain, and a reader pays for it).
    import xarray as xr

    from simulator.results.io import open_results, save_results

    ds = xr.Dataset({"large": (("x",), np.zeros(1025)), "counts": (("x",), np.zeros(1025, dtype=np.int32)),
                     "small": (("y",), np.zeros(1024)), "names": (("x",), np.asarray(["a"] * 1025, dtype=object))})
    path = save_results(ds, tmp_path / "r.nc")
    with h5py.File(path, "r") as fh:
        assert [(fh[n].compression, fh[n].compression_opts) for n in ("large", "counts")] == [("gzip", 4)] * 2
        assert fh["small"].compression is None and fh["names"].compression is None
    back = open_results(path)
    for name in ds.data_vars:
        assert np.array_equal(back[name].values, ds[name].values)


def test_a_dataset_opened_with_its_checksum_is_saved_with_a_new_one(tmp_path):
    # xarray's own open_dataset keeps the file's checksum among the attributes: saving the Dataset
    # elsewhere, changed, must not carry the old one over, nor take it from the caller's Dataset.
    import xarray as xr

    from simulator.results.io import CHECKSUM_ATTR, save_results, verify_checksum

    first = save_results(xr.Dataset({"v": (("x",), np.arange(3.0))}), tmp_path / "a.nc")
    with xr.open_dataset(first, engine="h5netcdf") as opened:
        ds = opened.load()
    old = ds.attrs[CHECKSUM_ATTR]
    ds["v"] = ds["v"] + 1.0
    second = save_results(ds, tmp_path / "b.nc")
    assert verify_checksum(second) is True
    assert ds.attrs[CHECKSUM_ATTR] == old  # the caller's Dataset is as it was


# --------------------------------------------------------------------------- 7. numerical range

OVERFLOW = """
[scenario]
name = "over"
horizon_months = 1200
paths = 300
seed = 1

[[companies]]
name = "a"
revenue = 1e9
valuation = 1e10
cash = 1e12

[companies.growth]
initial = 20
long_run = 20
kappa = 0

[companies.chips]
enabled = false

[companies.costs]
opex = 1e6
"""


def test_amounts_beyond_float64_are_said_once_with_the_key_that_drove_them(tmp_path, capsys):
    sc = parse_scenario(OVERFLOW, source="over.toml")
    with pytest.warns(SimulatorWarning) as caught:
        ds = simulator.run(sc)
    ours = [w for w in caught if issubclass(w.category, SimulatorWarning)]
    assert len(ours) == 1
    message = str(ours[0].message)
    assert re.search(r"revenue_quantile.* fundamental_value.* of company a are not finite: .* the largest exponent "
                     r"is companies\.a\.growth\.initial \(initial = 20 over 100 years: e\^2000\)", message), message
    assert ds.attrs["out_of_range"] in message
    # On the command line: one warning line, exit 0, the attribute in the file.
    path = tmp_path / "over.toml"
    path.write_text(OVERFLOW)
    assert main(["run", str(path), "--out", str(tmp_path / "o.nc"), "--quiet"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("simulator: warning: over:")]
    assert len(err) == 1 and err[0].startswith("simulator: warning: over: revenue_quantile"), err
    assert "out_of_range" in simulator.open_results(tmp_path / "o.nc").attrs


# --------------------------------------------------------------------------- 8. silent adjustments


def test_kept_paths_above_the_paths_are_said(tmp_path, capsys):
    assert main(["run", ZB, "--paths", "100", "--keep-paths", "1000", "--out", str(tmp_path / "a.nc"),
                 "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["simulator: warning: --keep-paths 1,000: the run has 100 paths; keeping all 100"]
    assert simulator.open_results(tmp_path / "a.nc").sizes["path"] == 100


# --------------------------------------------------------------------------- the command line, at random

_VALID_COUNT = st.one_of(st.integers(1, 400).map(str), st.integers(1, 4).map(lambda k: f"{k}e2"),
                        st.integers(1, 4).map(lambda k: f"{k}_00"))
# Mostly valid (the commands then run), sometimes anything.
_COUNT = st.one_of(_VALID_COUNT, _VALID_COUNT, _VALID_COUNT, st.sampled_from(
    ["0", "-5", "1.5", "nan", "inf", "1e13", "1e99999999", "12abc", "", "0x10", "٣", "1e-3", "+7"]))
_FLOAT = st.one_of(st.floats(-1, 2, allow_nan=False).map(repr), st.floats(-1, 2, allow_nan=False).map(repr),
                   st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.sampled_from(["", "abc", "1e400", "-0", "0.5", "1_0"]))


@st.composite
def _argv(draw, tmp: str) -> list[str]:
    command = draw(st.sampled_from(["run", "sweep", "sensitivity", "batch", "validate", "report", "compare"]))
    argv = [command]
    if command in ("report", "compare"):
        argv += [draw(st.sampled_from([f"{tmp}/run.nc", f"{tmp}/missing.nc", tmp, ZB]))]
        if command == "compare":
            argv += [f"{tmp}/run.nc"]
        else:
            argv += ["--out", f"{tmp}/rep"]
        return argv
    argv.append(ZB)
    if command == "batch":
        argv += ["--out", f"{tmp}/batch"]
    if command != "validate":
        argv += ["--paths", draw(_COUNT)]
        if draw(st.booleans()):
            argv += ["--seed", draw(st.one_of(st.integers(0, 2**64).map(str), st.integers(-3, 2**130).map(str),
                                              _COUNT))]
        if draw(st.booleans()):
            argv += ["--threads", draw(_COUNT)]
        if draw(st.booleans()):
            argv += ["--engine", draw(st.sampled_from(["numba", "numpy", "gpu"]))]
    if command in ("run", "batch") and draw(st.booleans()):
        argv += ["--keep-paths", draw(_COUNT)]
    if command == "batch" and draw(st.booleans()):
        argv += [draw(st.sampled_from(["--block-size", "--blocks-per-task"])), draw(_COUNT)]
    if command == "batch" and draw(st.booleans()):
        argv += ["--checkpoint-every", draw(_FLOAT)]
    if command == "sweep":
        n = draw(st.one_of(st.integers(0, 4).map(str), st.sampled_from(["1e9", "x", "-2", "100000000000"])))
        lo, hi = draw(_FLOAT), draw(_FLOAT)
        argv += ["--param", draw(st.sampled_from([f"{GROWTH}={lo}:{hi}:{n}", f"{GROWTH}={lo},{hi}",
                                                  f"nonsense={lo}:{hi}", f"{GROWTH}", f"{GROWTH}={lo}:{hi}:{n}:log"]))]
    if command == "sensitivity":
        method = draw(st.sampled_from(["oat", "morris", "sobol", "delta", "nope"]))
        argv += ["--method", method, "--param", f"{GROWTH}={draw(_FLOAT)}:{draw(_FLOAT)}",
                 "--param", "companies.zhipu.growth.initial=0:1"]
        if draw(st.booleans()):
            argv += ["--samples", draw(st.sampled_from(["4", "64", "63", "0", "1e30", "x"]))]
    if draw(st.booleans()):
        argv += ["--set", f"{GROWTH}={draw(_FLOAT)}"]
    if command in ("run", "sweep", "sensitivity"):
        argv += ["--out", f"{tmp}/{command}.nc", "--quiet"]
    if command == "batch":
        argv += ["--quiet"]
    return argv


@settings(max_examples=60, deadline=timedelta(seconds=60), derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_command_lines_end_in_exit_0_or_one_error_line(data, files, capsys):
    argv = data.draw(_argv(str(files)))
    # Valid counts are at most 400 paths: every accepted command line is a small job.
    code = main(argv)
    err = capsys.readouterr().err
    assert code in (0, 2), (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    errors = [line for line in err.splitlines() if line.startswith("simulator: error:")]
    if code == 2:
        assert len(errors) == 1, (argv, err)
    assert all(line.startswith("simulator: ") for line in err.splitlines() if line), (argv, err)


def test_results_json_attribute_keeps_its_form(files):
    # The checksum is the file's: an opened Dataset does not carry it, a saved one gets a new one.
    ds = simulator.open_results(files / "run.nc")
    assert "content_sha256" not in ds.attrs
    assert json.loads(ds.attrs["seed_spawn_key"]) == []


def test_a_failed_dask_connection_leaves_no_default_client(tmp_path):
    # distributed registers a Client as dask's default before it connects: a failed
    # `--scheduler garbage` used to leave one behind, and every later xarray write in the
    # process then waited on a distributed lock at that address (a ValueError from dask).
    import distributed

    from simulator.errors import DaskError
    from simulator.runner.distributed import dask_client

    with pytest.raises(DaskError, match="cannot connect to the dask scheduler garbage"):
        with dask_client(scheduler="garbage", timeout=2):
            pass
    with pytest.raises(ValueError, match="No clients found"):
        distributed.default_client()
    ds = simulator.run(ZB, paths=100, seed=1)
    simulator.save_results(ds, tmp_path / "after.nc")
    assert simulator.open_results(tmp_path / "after.nc")["outcome_count"].sum() > 0
