"""Start-up: a command imports only what it uses (the speed itself is measured by benchmarks/startup.py).

Each command runs as the console script does (``main()`` reading ``sys.argv``)
in a fresh interpreter, which then lists the heavy libraries it holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("dask", "distributed", "scipy.stats", "scipy.linalg", "xarray", "numba", "matplotlib", "SALib", "tomlkit",
         "simulator.engines.dispatch")

_CHILD = """
import json, sys
from simulator.cli import main
heavy = json.loads(sys.argv[2])
sys.argv = ["simulator", *json.loads(sys.argv[1])]
code = main()
print(json.dumps({"code": code, "loaded": sorted(m for m in heavy if sys.modules.get(m))}))
"""


def _loaded(argv: list[str]) -> set[str]:
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(argv), json.dumps(HEAVY)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, out.stderr
    return set(result["loaded"])


@pytest.mark.parametrize(("argv", "allowed"), [
    (["validate", "scenarios/zhipu_base.toml"], set()),
    (["docs", "--check"], set()),
    (["run", "scenarios/zhipu_base.toml", "--paths", "300", "--quiet", "--out", "{tmp}/r.nc"],
     {"xarray", "numba", "simulator.engines.dispatch"}),
], ids=lambda v: v[0] if isinstance(v, list) else "")
def test_a_command_imports_only_what_it_uses(argv, allowed, tmp_path):
    loaded = _loaded([a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert loaded <= allowed, loaded - allowed


def test_the_run_is_bit_identical_with_the_libraries_hidden(tmp_path):
    # The console script hides dask from xarray and scipy's BLAS from numba: nothing the run computes changes.
    argv = ["run", "scenarios/zhipu_base.toml", "--paths", "2000", "--seed", "3", "--quiet", "--out"]
    _loaded([*argv, str(tmp_path / "a.nc")])
    from simulator.cli import main

    assert main([*argv, str(tmp_path / "b.nc")]) == 0
    import simulator

    a, b = (simulator.open_results(tmp_path / f"{x}.nc") for x in "ab")
    for ds in (a, b):
        ds.attrs.pop("created")
    import xarray as xr

    xr.testing.assert_identical(a, b)
