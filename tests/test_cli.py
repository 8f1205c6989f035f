"""The command line: runs, errors as one line with exit code 2, no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import simulator
from simulator.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))


def test_run_writes_results_and_prints_table(tmp_path, capsys):
    out = tmp_path / "zb.nc"
    code = main(["run", str(ROOT / "scenarios" / "zhipu_base.toml"), "--paths", "3000", "--seed", "4",
                 "--out", str(out), "--set", "companies.zhipu.chips.imports_per_month=0"])
    assert code == 0
    text = capsys.readouterr().out
    assert "champion share" in text and "fundamental value" in text
    ds = simulator.open_results(out)
    assert ds.attrs["paths"] == 3000
    assert "imports_per_month=0" in ds.attrs["overrides"]


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_validate_every_shipped_scenario(path, capsys):
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


BAD_CALLS = [
    (["run", "missing.toml"], "missing.toml: no such file"),
    (["run", "{zb}", "--set", "companies.zhipu.chips.imports_per_month=-1"], "imports_per_month"),
    (["run", "{zb}", "--set", "nonsense"], "expected dotted.key=value"),
    (["run", "{zb}", "--paths", "0"], "--paths"),
    (["run", "{zb}", "--paths", "many"], "--paths"),
    (["run", "{zb}", "--engine", "gpu"], "--engine"),
    (["run", "{zb}", "--seed", "-3"], "--seed"),
    (["frobnicate"], "invalid choice"),
    (["validate", "{zb}", "--set", "companies.openai.cash=1"], "no company named 'openai'"),
    (["report", "missing.nc", "--out", "x"], "missing.nc: no such file"),
]


@pytest.mark.parametrize("argv, needle", BAD_CALLS, ids=[" ".join(a)[:40] for a, _ in BAD_CALLS])
def test_bad_calls_exit_2_with_one_line(argv, needle, capsys):
    argv = [a.replace("{zb}", str(ROOT / "scenarios" / "zhipu_base.toml")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert needle in err
    assert "Traceback" not in err


def test_console_script_bad_input_no_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[scenario\nname = 1\n")
    proc = subprocess.run([sys.executable, "-m", "simulator.cli", "run", str(bad)], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "bad.toml: not valid TOML" in proc.stderr
    assert "Traceback" not in proc.stderr
