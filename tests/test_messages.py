"""Messages that point at the mistake: unknown keys first with a suggestion, every error of a file at once.

A typo (``revenu = 75e6``) used to be reported as "revenue: required key is
missing ... [+1 more error(s)]", hiding the misspelt key that caused it.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulator.cli import main
from simulator.errors import ScenarioError, UserError
from simulator.model.scenario_file import parse_scenario

USD_TYPO = """
[scenario]
name = "acme"
currency = "USD"

[[companies]]
name = "acme"
revenu = 75e6
valuation = 6.5e9
cash = 1.2e9

[companies.growth]
kapa = 0.5
sigma_revenue = -1
"""


def test_unknown_keys_come_first_with_a_suggestion_and_every_error_is_listed():
    with pytest.raises(ScenarioError) as info:
        parse_scenario(USD_TYPO, source="acme.toml")
    lines = str(info.value).splitlines()
    assert lines == [
        "acme.toml: companies.acme.revenu: unknown key; did you mean revenue? (check the spelling; see "
        "docs/scenario-reference.md)",
        "acme.toml: companies.acme.growth.kapa: unknown key; did you mean kappa? (check the spelling; see "
        "docs/scenario-reference.md)",
        "acme.toml: companies.acme.revenue: required key is missing (allowed: > 0 and <= 1e+16 USD/year)",
        "acme.toml: companies.acme.growth.sigma_revenue = -1: out of range (allowed: >= 0 and <= 10 "
        "1/sqrt(year))",
    ]


def test_an_unknown_key_far_from_every_key_gets_no_suggestion():
    text = USD_TYPO.replace("revenu =", "revenue =").replace("kapa", "zzzzzz").replace("sigma_revenue = -1", "")
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source="acme.toml")
    assert str(info.value) == ("acme.toml: companies.acme.growth.zzzzzz: unknown key (check the spelling; see "
                               "docs/scenario-reference.md)")


def test_the_command_line_prints_every_error_one_line_each(tmp_path, capsys):
    path = tmp_path / "acme.toml"
    path.write_text(USD_TYPO)
    for argv in (["validate", str(path)], ["run", str(path), "--paths", "10", "--quiet"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 4 and all(line.startswith(f"simulator: error: {path}: ") for line in err), err
        assert "did you mean revenue?" in err[0]


def test_a_mistyped_override_is_suggested_too(capsys):
    assert main(["validate", "scenarios/zhipu_base.toml", "--set", "companies.zhipu.growth.kapa=1"]) == 2
    assert "companies.zhipu.growth.kapa: unknown key; did you mean kappa?" in capsys.readouterr().err


def test_messages_show_plain_values_not_numpy_reprs():
    name, value = np.str_("zhipu"), np.float64(0.25)
    message = str(UserError(f"no company {name!r}; value {value!r}, count {np.int64(3)!r}"))
    assert message == "no company 'zhipu'; value 0.25, count 3"


def test_no_message_template_shows_doubled_braces():
    # A "{{" in a plain (non-f) string reaches the user as two braces.
    import ast
    from pathlib import Path

    bad = []
    for path in (Path(__file__).resolve().parents[1] / "simulator").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        formatted = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in formatted
                    and ("{{" in node.value or "}}" in node.value)):
                bad.append(f"{path.name}:{node.lineno}")
    assert not bad, bad
