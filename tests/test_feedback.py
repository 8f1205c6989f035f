"""Feedback on long work: a word before the kernels compile, compile time kept out of the paths' time,
and progress bars on every command that simulates for a while."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import ClassVar

import pytest

import simulator
from simulator.cli import main
from simulator.engines import dispatch
from simulator.engines import kernels as K
from simulator.warnings import compile_notice

ZB = Path(__file__).resolve().parents[1] / "scenarios" / "zhipu_base.toml"


@pytest.fixture
def cold_kernels(monkeypatch):
    """The kernels as a first run finds them: not loaded, not cached; compiling takes 1.5 s."""
    real = K.load_for

    def slow_load(*args):
        time.sleep(1.5)
        real(*args)

    monkeypatch.setattr(K, "is_loaded", lambda: False)
    monkeypatch.setattr(K, "is_cached", lambda: False)
    monkeypatch.setattr(K, "load_for", slow_load)


def test_a_first_run_says_it_compiles_and_keeps_that_time_out_of_the_paths_time(cold_kernels, tmp_path, capsys):
    assert main(["run", str(ZB), "--paths", "500", "--out", str(tmp_path / "r.nc")]) == 0
    out, err = capsys.readouterr()
    assert f"simulator: compiling the kernels (first run only, ~{dispatch.COMPILE_SECONDS} s)" in err
    m = re.search(r"500 paths in ([0-9.]+) s \(numba; kernels compiled or loaded in ([0-9.]+) s more\)", out)
    assert m, out
    assert float(m.group(1)) < 1.5 <= float(m.group(2))


def test_no_word_when_the_kernels_are_cached_or_quiet(tmp_path, capsys, monkeypatch):
    assert main(["run", str(ZB), "--paths", "500", "--out", str(tmp_path / "r.nc")]) == 0
    assert "compiling" not in capsys.readouterr().err
    monkeypatch.setattr(K, "is_loaded", lambda: False)
    monkeypatch.setattr(K, "is_cached", lambda: False)
    assert main(["run", str(ZB), "--paths", "500", "--quiet", "--out", str(tmp_path / "r.nc")]) == 0
    assert "compiling" not in capsys.readouterr().err


def test_the_engine_times_the_simulation_without_the_compilation(cold_kernels):
    before = dispatch.kernel_load_seconds()
    said = []
    with compile_notice(said.append):
        ds = simulator.run(ZB, paths=500, seed=1)
    assert said == [f"compiling the kernels (first run only, ~{dispatch.COMPILE_SECONDS} s)"]
    assert dispatch.kernel_load_seconds() - before >= 1.5
    assert ds.attrs["paths"] == 500


class _Bar:
    """A stand-in for tqdm that records what a bar was told."""

    made: ClassVar[list[_Bar]] = []

    def __init__(self, *args, **kwargs):
        self.kwargs, self.total, self.postfix = kwargs, 0, []
        _Bar.made.append(self)

    def update(self, n):
        self.total += n

    def set_postfix_str(self, text, refresh=True):
        self.postfix.append(text)

    def close(self):
        pass


@pytest.fixture
def bars(monkeypatch):
    import tqdm.auto

    _Bar.made = []
    monkeypatch.setattr(tqdm.auto, "tqdm", _Bar)
    return _Bar.made


@pytest.mark.parametrize("argv", [
    ["calibrate", str(ZB), "--target", "zhipu.collapse@36=0.8", "--param", "companies.zhipu.growth.long_run=0:2",
     "--paths", "500", "--replicates", "1"],
    ["implied", str(ZB), "--paths", "500", "--replicates", "0", "--param", "companies.zhipu.growth.initial",
     "--range", "0:6", "--set", "companies.zhipu.chips.enabled=false"],
    ["sweep", str(ZB), "--param", "companies.zhipu.growth.long_run=0:1:3", "--paths", "300"],
    ["sensitivity", str(ZB), "--method", "oat", "--param", "companies.zhipu.growth.long_run=0.2:0.5",
     "--paths", "300"],
    ["run", str(ZB), "--paths", "300"],
], ids=lambda argv: argv[0])
def test_every_simulating_command_shows_a_progress_bar(argv, bars, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(argv)
    assert bars and all(b.kwargs.get("unit") == "path" for b in bars), argv[0]
    assert sum(b.total for b in bars) >= 300
    if argv[0] == "calibrate":
        assert bars[0].postfix[:2] == ["seed 1 of 2", "seed 2 of 2"]
