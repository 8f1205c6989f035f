"""Nothing overwritten or left behind by surprise: every default output goes under results/, one file per question.

``run --set`` and ``run --precision`` used to overwrite ``results/<scenario>.nc``;
``calibrate`` without ``--out`` wrote into ``scenarios/``, where
``batch scenarios/*.toml`` then picked it up.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import simulator
from simulator.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "scenarios").mkdir()
    shutil.copy(ROOT / "scenarios" / "zhipu_base.toml", tmp_path / "scenarios" / "zhipu_base.toml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_no_file_is_written_outside_the_chosen_places(workdir, capsys):
    before = _files(workdir)
    sc = "scenarios/zhipu_base.toml"
    commands = [
        ["run", sc, "--quiet"],
        ["run", sc, "--quiet", "--set", "companies.zhipu.chips.imports_per_month=0"],
        ["run", sc, "--quiet", "--precision", "0.05", "--target", "zhipu.collapse@36"],
        ["run", sc, "--quiet", "--paths", "2000"],
        ["calibrate", sc, "--target", "zhipu.collapse@36=0.8", "--param", "companies.zhipu.growth.long_run=0:2",
         "--paths", "1000", "--replicates", "0"],
        ["sweep", sc, "--param", "companies.zhipu.chips.imports_per_month=0:400:2", "--paths", "300", "--quiet"],
        ["sensitivity", sc, "--method", "oat", "--param", "companies.zhipu.growth.long_run=0.2:0.5",
         "--paths", "300", "--quiet"],
        ["implied", sc, "--paths", "500", "--replicates", "0", "--param", "companies.zhipu.growth.initial",
         "--range", "0:6"],
        ["validate", sc],
    ]
    for argv in commands:
        main(argv)  # implied may say no value reaches the price (exit 2): it writes nothing either way
    out = capsys.readouterr().out
    after = _files(workdir)
    new = sorted(set(after) - set(before))
    assert all(name.startswith("results/") for name in new), new
    assert {k: v for k, v in after.items() if k in before} == before  # scenarios/ untouched
    runs = sorted(n for n in new if n.startswith("results/zhipu_base") and n.endswith(".nc") and "_" not in
                  n.removeprefix("results/zhipu_base"))
    # The run as written, with --set, with --precision and with --paths: four files, none replaced.
    assert len(runs) == 4 and "results/zhipu_base.nc" in runs, runs
    assert simulator.open_results(workdir / "results/zhipu_base.nc").attrs["paths"] == 100_000
    assert any(n.startswith("results/zhipu_base_calibrated-") and n.endswith(".toml") for n in new), new
    for name in new:
        assert name.split("/", 1)[1] in out or name.endswith(".toml"), name  # each command says where it wrote


def test_the_same_question_names_the_same_file(workdir, capsys):
    argv = ["run", "scenarios/zhipu_base.toml", "--quiet", "--paths", "500", "--seed", "3",
            "--set", "companies.zhipu.growth.kappa=0.4"]
    assert main(argv) == 0
    assert main(argv) == 0
    assert main([*argv[:-1], "companies.zhipu.growth.kappa=0.5"]) == 0
    assert len(list((workdir / "results").glob("zhipu_base-*.nc"))) == 2
    lines = [line for line in capsys.readouterr().out.splitlines() if "results:" in line]
    assert lines[0].split("results: ")[1] == lines[1].split("results: ")[1] != lines[2].split("results: ")[1]


def test_a_zero_given_is_an_option_given():
    # --seed 0, --set key=0, --replicates 0 change the numbers: they name their own file, never the
    # scenario's own results/<name>.nc (0 == False in Python, which once made them "not given").
    from simulator.cli.outputs import default_output

    plain = default_output("x", {"seed": None, "set": [], "paths": None, "engine": False})
    assert plain.name == "x.nc"
    for options in ({"seed": 0}, {"replicates": 0}, {"paths": 0.0}, {"set": ["a.b=0"]}):
        named = default_output("x", options)
        assert named.name.startswith("x-") and named != plain, options
    assert default_output("x", {"seed": 0}) != default_output("x", {"seed": 1})
