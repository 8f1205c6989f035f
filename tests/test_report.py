"""Figures and the one-page report: every figure type draws, numbers match the Dataset, no network."""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
import xarray as xr
from matplotlib.colors import to_rgb

import simulator
from simulator.cli import main
from simulator.errors import ReportError
from simulator.model.parameters import parameter_units
from simulator.report import figures as plots
from simulator.report.assumptions import scenario_assumptions
from simulator.report.kinds import from_batch_summary, result_kind
from simulator.report.writer import write_report
from simulator.studies.sensitivity import sensitivity
from simulator.studies.sweep import sweep

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"

RUN_FIGURES = {  # file stem in the report -> figure function
    "valuation_fan": plots.valuation_fan,
    "outcome_probabilities": plots.outcome_probabilities,
    "valuation_distribution": plots.valuation_distribution,
    "survival": plots.survival_curve,
    "revenue_capacity": plots.revenue_capacity,
    "valuation_decomposition": plots.valuation_decomposition,
    "any_champion": plots.any_champion,
    "champion_count": plots.champion_count,
    "market_shares": plots.market_shares,
}
#: Figures of several companies, and the one that needs competition on (MODEL.md step 9).
MULTI_COMPANY = ("any_champion", "champion_count")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def zhipu_ds():
    return simulator.run(SCENARIOS / "zhipu_base.toml", paths=2000, seed=1)


@pytest.fixture(scope="module")
def sector_ds():
    # Kept paths switch the valuation distribution to a true histogram.
    return simulator.run(SCENARIOS / "sector_portfolio.toml", paths=2000, seed=1, keep_paths=60)


@pytest.fixture(scope="module")
def competing_ds():
    # The portfolio sharing a 40B market with the platforms: the share fan and the joint outcomes.
    return simulator.run(SCENARIOS / "sector_portfolio.toml", paths=3000, seed=1,
                         overrides=["sector.competition.enabled=true", "sector.market_size=40e9"])


@pytest.fixture(scope="module")
def competing_report(competing_ds, tmp_path_factory):
    return write_report(competing_ds, tmp_path_factory.mktemp("competing_report"))


@pytest.fixture(scope="module")
def zhipu_report(zhipu_ds, tmp_path_factory):
    out = tmp_path_factory.mktemp("zhipu_report")
    return write_report(zhipu_ds, out)


@pytest.fixture(scope="module")
def sector_report(sector_ds, tmp_path_factory):
    out = tmp_path_factory.mktemp("sector_report")
    return write_report(sector_ds, out)


PARAMS = ["companies.zhipu.chips.imports_per_month", "sector.events.export_control_escalation.hazard_per_year",
          "companies.zhipu.narrative.long_run"]


def tornado_ds() -> xr.Dataset:
    ds = xr.Dataset({"low": ("parameter", [0.10, 0.25, 0.05]), "high": ("parameter", [0.30, 0.15, 0.40]),
                     "base": ((), 0.2), "low_value": ("parameter", [0.0, 0.5, 0.5]),
                     "high_value": ("parameter", [500.0, 2.0, 2.0])},
                    coords={"parameter": PARAMS}, attrs={"scenario_name": "zhipu_base", "output": "zhipu.collapse@36"})
    ds["low"].attrs["units"] = "1"
    return ds


def sobol_ds() -> xr.Dataset:
    return xr.Dataset({"S1": ("parameter", [0.5, 0.1, 0.2]), "ST": ("parameter", [0.6, 0.15, 0.3]),
                       "S1_conf": ("parameter", [0.05] * 3), "ST_conf": ("parameter", [0.04] * 3)},
                      coords={"parameter": PARAMS}, attrs={"scenario_name": "zhipu_base", "output": "zhipu.champion@36"})


def sweep_ds() -> xr.Dataset:
    a, b = np.linspace(0, 500, 4), np.linspace(0.2, 2.0, 3)
    p = np.random.default_rng(0).dirichlet([1, 1, 1], size=(1, 2, 3, 4)).transpose(0, 1, 4, 2, 3)
    return xr.Dataset({"probability": (("company", "horizon", "outcome", PARAMS[1], PARAMS[0]), p)},
                      coords={"company": ["zhipu"], "horizon": [12, 36], "outcome": ["champion", "contested", "collapse"],
                              PARAMS[1]: b, PARAMS[0]: a}, attrs={"scenario_name": "zhipu_base"})


def batch_ds() -> xr.Dataset:
    p = np.random.default_rng(1).dirichlet([1, 1, 1], size=(2, 2, 2))
    p[1, 1] = np.nan  # the second scenario has no second company
    ci = np.stack([np.clip(p - 0.02, 0, 1), np.clip(p + 0.02, 0, 1)], axis=-1)
    return xr.Dataset({"probability": (("scenario", "company", "horizon", "outcome"), p),
                       "probability_ci": (("scenario", "company", "horizon", "outcome", "bound"), ci)},
                      coords={"scenario": ["zhipu_base", "export_controls"], "company": ["zhipu", "minimax"],
                              "horizon": [12, 36], "outcome": ["champion", "contested", "collapse"],
                              "bound": ["low", "high"]})


def _check_png(path: Path, fig) -> None:
    """A readable, non-empty PNG of the figure's size at plots.DPI."""
    assert path.is_file() and path.stat().st_size > 5000, path
    image = mpimg.imread(path)
    width, height = fig.get_size_inches() * plots.DPI
    assert image.shape[:2] == (round(height), round(width)), (path.name, image.shape)
    assert image.shape[1] == round(plots.WIDTH * plots.DPI)
    assert float(image[..., :3].std()) > 0.02, f"{path.name} looks blank"


# --------------------------------------------------------------------------- figures


@pytest.mark.parametrize("stem", list(RUN_FIGURES))
@pytest.mark.parametrize("which", ["zhipu", "sector", "competing"])
def test_every_run_figure_is_drawn(which, stem, request):
    ds = request.getfixturevalue(f"{which}_ds")
    report = request.getfixturevalue(f"{which}_report")
    needs = {"any_champion": "any_champion", "champion_count": "champion_count_probability",
             "market_shares": "market_share_quantile"}.get(stem)
    if needs is not None and needs not in ds:
        assert not (report.parent / f"{stem}.png").exists()
        with pytest.raises(ReportError, match=needs):
            RUN_FIGURES[stem](ds)
        return
    fig = RUN_FIGURES[stem](ds)  # the report drew it from the same Dataset; compare sizes
    _check_png(report.parent / f"{stem}.png", fig)
    svg = (report.parent / f"{stem}.svg").read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg


@pytest.mark.parametrize("name, make, draw, count", [
    ("tornado", tornado_ds, plots.sensitivity_tornado, 1),
    ("sobol", sobol_ds, plots.sensitivity_sobol, 1),
    ("sweep", sweep_ds, plots.sweep_heatmap, 2),  # P(champion) and P(collapse) of the one company
    ("batch", batch_ds, plots.batch_summary, 1),
])
def test_study_figures_and_reports(name, make, draw, count, tmp_path):
    ds = make()
    assert result_kind(ds) == name
    html_path = write_report(ds, tmp_path)
    pngs = sorted(tmp_path.glob("*.png"))
    assert len(pngs) == count
    _check_png(pngs[0], draw(ds))
    assert html_path.read_text(encoding="utf-8").count("data:image/png;base64,") == count


def test_distribution_caption_says_how_it_was_drawn(zhipu_ds, sector_ds, zhipu_report, sector_report):
    assert plots.distribution_mode(zhipu_ds) == "quantiles"
    assert plots.distribution_mode(sector_ds) == "histogram"
    assert "drawn from the Dataset's quantiles" in (zhipu_report.parent / "report.md").read_text()
    assert "histogram of the valuation at each horizon over the 60 kept paths" in \
        (sector_report.parent / "report.md").read_text()


def test_unlimited_capacity_is_left_out_with_a_note():
    ds = simulator.run(SCENARIOS / "schwartz_moon_amazon.toml", paths=300, seed=1)
    capacity = ds["capacity_quantile"].values
    assert (np.isinf(capacity) | (capacity == 0)).all()  # chips off: unlimited, 0 after failure
    fig = plots.revenue_capacity(ds)
    titles = [ax.get_title() for ax in fig.axes]
    assert any("capacity unlimited" in t for t in titles)


def test_styles_differ_in_lightness_not_only_hue():
    def luminance(colour):
        r, g, b = to_rgb(colour)
        return 0.299 * r + 0.587 * g + 0.114 * b

    lum = sorted(luminance(s["color"]) for s in plots.OUTCOME_STYLE.values())
    assert min(np.diff(lum)) > 0.15
    assert len({s["hatch"] for s in plots.OUTCOME_STYLE.values()}) == 3
    assert len({str(s["linestyle"]) for s in plots.SERIES_STYLE}) == len(plots.SERIES_STYLE)
    assert len({s["marker"] for s in plots.SERIES_STYLE}) == len(plots.SERIES_STYLE)


def test_amount_ticks_use_currency_suffixes():
    assert plots.short_amount(7e11) == "700B"
    assert plots.short_amount(1.2e12) == "1.2T"
    assert plots.short_amount(2e10) == "20B"
    assert plots.short_amount(2.5e9, "CNY") == "2.5B CNY"


# --------------------------------------------------------------------------- missing variables


@pytest.mark.parametrize("draw, variable", [
    (plots.valuation_fan, "valuation_quantile"),
    (plots.outcome_probabilities, "probability_ci"),
    (plots.valuation_distribution, "valuation_quantile"),
    (plots.survival_curve, "survival_ci"),
    (plots.revenue_capacity, "capacity_quantile"),
    (plots.valuation_decomposition, "fundamental_value"),
    (plots.any_champion, "any_champion"),
    (plots.champion_count, "champion_count_probability_ci"),
    (plots.market_shares, "market_share_quantile"),
    (plots.sensitivity_tornado, "low"),
    (plots.sensitivity_sobol, "ST_conf"),
    (plots.sweep_lines, "probability_ci"),
    (plots.sensitivity_morris, "mu_star_conf"),
    (plots.sensitivity_given_data, "rbd_fast_S1"),
    (plots.attribution_shifts, "median_shift_ci"),
])
def test_missing_variable_gives_one_line_report_error(zhipu_ds, draw, variable):
    ds = zhipu_ds.drop_vars([v for v in (variable,) if v in zhipu_ds.variables])
    with pytest.raises(ReportError) as info:
        draw(ds)
    message = str(info.value)
    assert variable in message and "\n" not in message
    assert isinstance(info.value, ValueError)


def test_write_report_names_missing_variables(zhipu_ds, tmp_path):
    with pytest.raises(ReportError, match=r"fundamental_value_ci, narrative_premium") as info:
        write_report(zhipu_ds.drop_vars(["fundamental_value_ci", "narrative_premium"]), tmp_path)
    assert "\n" not in str(info.value)
    with pytest.raises(ReportError, match="probability"):
        write_report(xr.Dataset(), tmp_path)


def test_report_without_quantiles_skips_those_figures(zhipu_ds, tmp_path):
    ds = zhipu_ds.drop_vars([v for v in zhipu_ds.data_vars if v.endswith("_quantile")])
    write_report(ds, tmp_path)
    assert not (tmp_path / "valuation_fan.png").exists()
    assert (tmp_path / "outcome_probabilities.png").exists()
    assert "Not drawn (the Dataset lacks their variables): Valuation fan chart" in (tmp_path / "report.md").read_text()


# --------------------------------------------------------------------------- report.md numbers


_PCT = r"(\d+(?:\.\d+)?)%"
_CI_CELL = re.compile(rf"{_PCT} \[{_PCT}, {_PCT}\]")


def _close_pct(text: str, value: float) -> bool:
    """A printed percentage matches a probability to within half its last digit."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(float(text) - 100 * value) <= 0.5 * 10 ** -decimals + 1e-9


def _amount_value(text: str) -> tuple[float, float]:
    """Value and tolerance of an amount such as ``955M CNY`` (three significant digits)."""
    match = re.fullmatch(r"(-?\d+(?:\.\d+)?)([KMBT]?)(?: [A-Z]{3})?", text.strip())
    assert match, text
    factor = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}[match.group(2)]
    digits = match.group(1)
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return float(digits) * factor, 0.5 * 10 ** -decimals * factor


def _md_tables(text: str, header_start: str) -> list[list[list[str]]]:
    """Every Markdown table whose header row starts with ``| header_start``, as lists of cells."""
    tables, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"| {header_start} |"):
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append([c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]])
            tables.append(rows)
    return tables


@pytest.mark.parametrize("which", ["zhipu", "sector"])
def test_report_md_probabilities_match_dataset(which, request):
    ds = request.getfixturevalue(f"{which}_ds")
    md = (request.getfixturevalue(f"{which}_report").parent / "report.md").read_text(encoding="utf-8")
    tables = _md_tables(md, "month | champion")
    companies = [str(c) for c in ds["company"].values]
    assert len(tables) == len(companies)
    checked = 0
    for company, rows in zip(companies, tables, strict=True):
        assert [int(r[0]) for r in rows] == [int(h) for h in ds["horizon"].values]
        for row in rows:
            h = int(row[0])
            for cell, outcome in zip(row[1:4], ("champion", "contested", "collapse"), strict=True):
                p, lo, hi = ds.sim.outcome(company, h, outcome)
                got = _CI_CELL.fullmatch(cell)
                assert got, cell
                assert _close_pct(got.group(1), p) and _close_pct(got.group(2), lo) and _close_pct(got.group(3), hi)
                checked += 1
            share = float(ds["champion_share"].sel(company=company, horizon=h))
            got = _CI_CELL.fullmatch(row[4])
            if got:
                assert _close_pct(got.group(1), share)
            else:
                assert row[4].startswith("n/a") and math.isnan(share)
    assert checked == 3 * len(companies) * ds.sizes["horizon"]
    if "any_champion" in ds:
        (rows,) = _md_tables(md, "month | P(at least one champion)")
        for row in rows:
            got = _CI_CELL.fullmatch(row[1])
            assert _close_pct(got.group(1), float(ds["any_champion"].sel(horizon=int(row[0]))))


def test_report_md_joint_outcomes_and_shares_match_dataset(competing_ds, competing_report):
    ds = competing_ds
    md = (competing_report.parent / "report.md").read_text(encoding="utf-8")
    (rows,) = _md_tables(md, "month | k = 0")
    assert [int(r[0]) for r in rows] == [int(h) for h in ds["horizon"].values]
    for row in rows:
        for k, cell in enumerate(row[1:]):
            sel = {"horizon": int(row[0]), "champions": k}
            got = _CI_CELL.fullmatch(cell)
            lo, hi = (float(x) for x in ds["champion_count_probability_ci"].sel(sel).values)
            assert got and _close_pct(got.group(1), float(ds["champion_count_probability"].sel(sel)))
            assert _close_pct(got.group(2), lo) and _close_pct(got.group(3), hi)
    (pairs,) = _md_tables(md, "pair | champion correlation")
    assert len(pairs) == 6  # four companies
    last = int(ds["horizon"].values[-1])
    for row in pairs:
        a, b = row[0].split(" - ")
        value = float(ds["collapse_correlation"].sel(horizon=last, company=a, rival=b))
        assert float(row[2].split(" ")[0]) == pytest.approx(value, abs=5e-4)
    (shares,) = _md_tables(md, " | start")
    names = [*(str(c) for c in ds["company"].values), "platforms"]
    assert [r[0] for r in shares[:len(names)]] == names
    platforms = float(ds["platform_share_quantile"].sel(month=last, quantile=0.5))
    assert _close_pct(shares[len(names) - 1][-1].split(" ")[0].rstrip("%"), platforms)
    assert "required, P(reached)" in md and "market_shares.png" in md and "champion_count.png" in md


@pytest.mark.parametrize("which", ["zhipu", "sector"])
def test_report_md_valuation_numbers_match_dataset(which, request):
    ds = request.getfixturevalue(f"{which}_ds")
    md = (request.getfixturevalue(f"{which}_report").parent / "report.md").read_text(encoding="utf-8")
    (rows,) = _md_tables(md, "company | valuation V0")
    assert [r[0] for r in rows] == [str(c) for c in ds["company"].values]
    for row in rows:
        sel = ds.sel(company=row[0])
        v0, tol = _amount_value(row[1])
        assert abs(v0 - float(sel["valuation_start"])) <= tol
        for cell, name in ((row[4], "fundamental_value"), (row[5], "business_value")):
            cell_text = re.fullmatch(r"(.+?) \[(.+?), (.+?)\]", cell)
            for text, value in zip(cell_text.groups(), [float(sel[name]), *sel[f"{name}_ci"].values.astype(float)],
                                   strict=True):
                got, tol = _amount_value(text)
                assert abs(got - value) <= tol, (name, text, value)
        premium, tol = _amount_value(row[6])
        assert abs(premium - float(sel["narrative_premium"])) <= tol
        assert _close_pct(row[7].rstrip("%"), float(sel["narrative_premium_share"]))
    (rows,) = _md_tables(md, "company | month | 5%")
    for row in rows[:3]:
        q = ds["valuation_quantile"].sel(company=row[0], month=int(row[1]))
        got, tol = _amount_value(row[3])
        assert abs(got - float(q.sel(quantile=0.5))) <= tol


def test_report_md_assumptions_and_provenance(zhipu_ds, zhipu_report):
    md = (zhipu_report.parent / "report.md").read_text(encoding="utf-8")
    (rows,) = _md_tables(md, "parameter | value | source / comment")
    by_path = {r[0]: r for r in rows}
    assert by_path["companies.zhipu.growth.kappa"][1] == "0.5"
    assert by_path["companies.zhipu.growth.kappa"][2].startswith("assumption: excess growth halves")
    assert by_path["companies.zhipu.valuation"][1] == "700e9"
    assert by_path["sector.events.export_control_escalation.import_cut"][1] == "[0.3, 0.8]"
    assert "GLM-5" in by_path["companies.zhipu.events.model_release.outcomes.top3.name"][2]
    assert "this run: 2,000 paths" in by_path["scenario.paths"][2]
    (defaults,) = _md_tables(md, "parameter | value | source")
    listed = {r[0] for r in rows} | {r[0] for r in defaults}
    assert all(r[2] == "default" for r in defaults)
    # Every key of the effective scenario is in one table or the other.
    from simulator.report.figures.common import flatten_json as _flatten_json

    for path in _flatten_json(json.loads(zhipu_ds.attrs["scenario_json"])):
        pieces = path.split(".")
        assert any(".".join(pieces[:k]) in listed for k in range(1, len(pieces) + 1)), path
    for key in ("scenario_hash", "seed_entropy", "engine", "simulator_version", "created"):
        assert str(zhipu_ds.attrs[key]) in md
    assert f"{zhipu_ds.attrs['paths']:,}" in md


def test_report_html_is_self_contained(competing_report):
    text = competing_report.read_text(encoding="utf-8")
    # No network reference of any kind: no remote src/href, stylesheet, font, script or import.
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", text, re.IGNORECASE)
    assert not re.search(r"url\(|@import|<script|<link|<iframe", text, re.IGNORECASE)
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    pngs = sorted(competing_report.parent.glob("*.png"))
    assert len(embedded) == len(pngs) == len(RUN_FIGURES)
    assert sorted(base64.b64decode(e) for e in embedded) == sorted(p.read_bytes() for p in pngs)
    md = (competing_report.parent / "report.md").read_text(encoding="utf-8")
    for p in pngs:
        assert f"({p.name})" in md


# --------------------------------------------------------------------------- scenario comments


def test_scenario_assumptions_parser_edge_cases():
    text = '''
# a file comment
[scenario]
name = "x#y"            # a '#' inside a string is not a comment
horizons = [
  6, 12,   # short
  36,
]

[[companies]]
revenue = 1e9           # set before the name
name = "acme"
narrative.sigma = 0.2   # a dotted key

[companies.growth]      # the growth table
initial = 0.5

[[companies.events]]
name = "launch"
outcomes = [
  # the good branch
  { name = "good", probability = 0.4, narrative = { mean = 0.5, sd = 0.1 } },
  { name = "bad", probability = 0.6 },  # the bad branch
]
'''
    rows = {a.path: a for a in scenario_assumptions(text)}
    assert rows["scenario.name"].value == '"x#y"' and rows["scenario.name"].comment.startswith("a '#'")
    assert rows["scenario.horizons"].value == "[6, 12, 36]"
    assert rows["companies.acme.revenue"].comment == "set before the name"
    assert rows["companies.acme.narrative.sigma"].value == "0.2"
    assert rows["companies.acme.growth"].comment == "the growth table"
    assert rows["companies.acme.growth.initial"].value == "0.5"
    assert rows["companies.acme.events.launch.outcomes.good.narrative.sd"].value == "0.1"
    assert rows["companies.acme.events.launch.outcomes.good.probability"].comment == "(as above)"
    assert rows["companies.acme.events.launch.outcomes.good.name"].comment == "the good branch"
    assert rows["companies.acme.events.launch.outcomes.bad.name"].comment == "the bad branch"


def test_overrides_and_defaults_are_marked(zhipu_ds):
    effective = json.loads(zhipu_ds.attrs["scenario_json"])
    effective["companies"][0]["chips"]["imports_per_month"] = 0.0
    rows = {a.path: a for a in scenario_assumptions(zhipu_ds.attrs["scenario_text"], json.dumps(effective))}
    row = rows["companies.zhipu.chips.imports_per_month"]
    assert (row.origin, row.value) == ("override", "0")
    assert "file: 100" in row.comment
    assert rows["companies.zhipu.chips.cards"].origin == "file"  # 10_000 == 10000.0
    assert rows["sector.events.security_breach.cash"].origin == "default"
    # An event with outcomes carries its effects in its branches: no direct-effect defaults.
    assert "companies.zhipu.events.model_release.cash" not in rows


# --------------------------------------------------------------------------- command line


def test_cli_report_on_a_saved_file(zhipu_ds, tmp_path, capsys):
    results = simulator.save_results(zhipu_ds, tmp_path / "zb.nc")
    out = tmp_path / "report"
    assert main(["report", str(results), "--out", str(out)]) == 0
    assert f"report: {out / 'report.html'}" in capsys.readouterr().out
    for name in ("report.html", "report.md", "valuation_fan.png", "valuation_fan.svg", "survival.png"):
        assert (out / name).stat().st_size > 0, name


def test_cli_report_on_a_dataset_missing_variables(zhipu_ds, tmp_path, capsys):
    results = simulator.save_results(zhipu_ds.drop_vars(["narrative_premium"]), tmp_path / "bad.nc")
    assert main(["report", str(results), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "narrative_premium" in err and "Traceback" not in err


def test_report_from_a_batch_summary_lists_every_scenario(tmp_path):
    """``simulator report results/summary.nc`` shows every scenario at its own horizons.

    The Amazon scenario runs 300 months, the others 36: at the batch's last
    horizon the 36-month scenarios have no numbers, and none may vanish.
    """
    from simulator.cli import main as cli_main

    root = Path(__file__).resolve().parents[1] / "scenarios"
    out = tmp_path / "batch"
    names = ["zhipu_base", "narrative_flip", "schwartz_moon_amazon"]
    assert cli_main(["batch", *(str(root / f"{n}.toml") for n in names),
                     "--out", str(out), "--paths", "500", "--quiet"]) == 0
    assert cli_main(["report", str(out / "summary.nc"), "--out", str(tmp_path / "rep")]) == 0
    png = tmp_path / "rep" / "batch_summary.png"
    assert png.exists() and png.stat().st_size > 10_000
    md = (tmp_path / "rep" / "report.md").read_text()
    assert md.startswith("# Report: batch of 3 scenarios\n")
    key_numbers = md.split("## Key numbers")[1].split("## Figures")[0]
    table = [line for line in key_numbers.splitlines() if line.startswith("| ")][1:]  # no header
    rows = {(cells[0], int(cells[2])) for line in table for cells in [[c.strip() for c in line.strip("|").split("|")]]}
    summary = simulator.open_results(out / "summary.nc")
    for name in names:
        expected = {int(h) for h in simulator.open_results(out / f"{name}.nc")["horizon"].values}
        assert {h for n, h in rows if n == name} == expected, name
    assert "n/a" not in "\n".join(table)
    fig = plots.batch_summary(from_batch_summary(summary))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sorted(labels) == sorted(["zhipu_base / zhipu (36 m)", "narrative_flip / zhipu (36 m)",
                                     "schwartz_moon_amazon / amazon (300 m)"])


# --------------------------------------------------------------------------- every result kind the tool makes

ONE_KEY = PARAMS[1]  # sector.events.export_control_escalation.hazard_per_year
THIRD_KEY = "companies.zhipu.narrative.long_run"
STUDIED = [f"{PARAMS[0]}=0:500", f"{ONE_KEY}=0.5:2", "companies.zhipu.growth.initial=0.4:0.9"]
OUTPUTS = ["zhipu.champion@36", "zhipu.collapse@36"]


@pytest.fixture(scope="module")
def sweep1_ds():
    # Four companies on one axis: their lines must differ in line style and marker.
    return sweep(SCENARIOS / "sector_portfolio.toml", [f"{ONE_KEY}=0.5:2:4"], paths=400, seed=1, quantiles=False)


@pytest.fixture(scope="module")
def sweep3_ds():
    return sweep(SCENARIOS / "zhipu_base.toml", [f"{PARAMS[0]}=0:500:3", f"{ONE_KEY}=0.5:2:2", f"{THIRD_KEY}=0:1:3"],
                 paths=300, seed=1, quantiles=False)


@pytest.fixture(scope="module")
def oat_ds():
    return sensitivity(SCENARIOS / "zhipu_base.toml", method="oat", params=STUDIED[:2], paths=400, seed=1,
                       outputs=OUTPUTS)


@pytest.fixture(scope="module")
def morris_ds():
    return sensitivity(SCENARIOS / "zhipu_base.toml", method="morris", params=STUDIED, samples=4, paths=400, seed=1,
                       outputs=OUTPUTS)


@pytest.fixture(scope="module")
def given_ds(uncertain_toml):
    return sensitivity(uncertain_toml, method="given-data", paths=3000, seed=1, outputs=OUTPUTS)


@pytest.fixture(scope="module")
def attribution_ds(uncertain_toml, tmp_path_factory):
    out = tmp_path_factory.mktemp("attribution") / "attribution.nc"
    assert main(["attribute", str(uncertain_toml), "--paths", "3000", "--seed", "1", "--out", str(out), "--quiet"]) == 0
    return simulator.open_results(out)


def _per_output(draw):
    return {f"{draw.__name__}_{o}": (draw, {"output": o}) for o in OUTPUTS}


@pytest.mark.parametrize("fixture, kind, figures", [
    ("sweep1_ds", "sweep", {"sweep": (plots.sweep_lines, {})}),
    ("sweep3_ds", "sweep", {f"sweep_zhipu_{o}": (plots.sweep_heatmap, {"outcome": o}) for o in ("champion", "collapse")}),
    ("oat_ds", "tornado", {f"tornado_{o.replace('.', '_').replace('@', '_')}": (plots.sensitivity_tornado, {"output": o})
                           for o in OUTPUTS}),
    ("morris_ds", "morris", {f"morris_{o.replace('.', '_').replace('@', '_')}": (plots.sensitivity_morris, {"output": o})
                             for o in OUTPUTS}),
    ("given_ds", "given-data", {f"given_data_{o.replace('.', '_').replace('@', '_')}":
                                (plots.sensitivity_given_data, {"output": o}) for o in OUTPUTS}),
    ("attribution_ds", "attribution", {"attribution_zhipu": (plots.attribution_shifts, {"company": "zhipu"})}),
])
def test_cli_report_draws_every_result_kind(fixture, kind, figures, request, tmp_path):
    ds = request.getfixturevalue(fixture)
    assert result_kind(ds) == kind
    results = simulator.save_results(ds, tmp_path / "result.nc")
    out = tmp_path / "report"
    assert main(["report", str(results), "--out", str(out)]) == 0
    assert sorted(p.stem for p in out.glob("*.png")) == sorted(figures)
    md = (out / "report.md").read_text(encoding="utf-8")
    for stem, (draw, kwargs) in figures.items():
        _check_png(out / f"{stem}.png", draw(ds, **kwargs))
        assert f"({stem}.png)" in md and (out / f"{stem}.svg").stat().st_size > 0
    assert (out / "report.html").read_text(encoding="utf-8").count("data:image/png;base64,") == len(figures)
    assert sorted(simulator.figures(ds)) == sorted(figures)  # a notebook gets the report's figures


@pytest.mark.parametrize("fixture, variable", [
    ("sweep1_ds", "probability_ci"),
    ("sweep3_ds", "probability"),
    ("oat_ds", "base"),
    ("morris_ds", "mu_star_conf"),
    ("given_ds", "delta_conf"),
    ("attribution_ds", "median_shift_ci"),
])
def test_cli_report_names_the_missing_variable_of_each_kind(fixture, variable, request, tmp_path, capsys):
    results = simulator.save_results(request.getfixturevalue(fixture).drop_vars(variable), tmp_path / "bad.nc")
    capsys.readouterr()
    assert main(["report", str(results), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and variable in err and "Traceback" not in err, err


def _probability_cells(cells, point, outcomes=("champion", "contested", "collapse")) -> int:
    """Check "p% [lo%, hi%]" cells against a grid point's probability and interval; return how many."""
    for cell, outcome in zip(cells, outcomes, strict=True):
        got = _CI_CELL.fullmatch(cell)
        assert got, cell
        p = float(point["probability"].sel(outcome=outcome))
        lo, hi = (float(x) for x in point["probability_ci"].sel(outcome=outcome).values)
        assert _close_pct(got.group(1), p) and _close_pct(got.group(2), lo) and _close_pct(got.group(3), hi), cell
    return len(cells)


def test_one_key_sweep_lines_and_table_match_the_dataset(sweep1_ds, tmp_path):
    ds = sweep1_ds
    companies = [str(c) for c in ds["company"].values]
    values = ds[ONE_KEY].values
    h = int(ds["horizon"].values[-1])
    fig = plots.sweep_lines(ds)
    champion_panel = fig.axes[0]
    lines = {ln.get_label(): ln for ln in champion_panel.lines if ln.get_label() in companies}
    assert sorted(lines) == sorted(companies)
    for company, line in lines.items():
        np.testing.assert_allclose(line.get_xdata(), values)
        np.testing.assert_allclose(line.get_ydata(), ds["probability"].sel(company=company, horizon=h,
                                                                           outcome="champion").values)
    # Greyscale: no two companies share a line style or a marker.
    assert len({str(ln.get_linestyle()) for ln in lines.values()}) == len(companies)
    assert len({ln.get_marker() for ln in lines.values()}) == len(companies)
    assert any(ONE_KEY in ax.get_xlabel().replace("\n", "") and "1/year" in ax.get_xlabel() for ax in fig.axes)

    write_report(ds, tmp_path)
    (rows,) = _md_tables((tmp_path / "report.md").read_text(encoding="utf-8"), f"{ONE_KEY} | company")
    assert len(rows) == values.size * len(companies)
    checked = 0
    for row in rows:
        (j,) = np.flatnonzero(np.isclose(values, float(row[0])))
        point = ds.isel({ONE_KEY: j}).sel(company=row[1], horizon=h)
        checked += _probability_cells(row[2:5], point)
        share = float(point["champion_share"])
        got = _CI_CELL.fullmatch(row[5])
        assert _close_pct(got.group(1), share) if got else (row[5] == "n/a" and math.isnan(share))
    assert checked == 3 * len(rows)


def test_three_key_sweep_holds_the_other_keys_at_a_stated_slice(sweep3_ds, tmp_path):
    ds = sweep3_ds
    assert plots.sweep_slice(ds) == {THIRD_KEY: 0.5}  # the middle of 0, 0.5, 1

    def cells(value: float) -> np.ndarray:
        return ds["probability"].sel(company="zhipu", horizon=36, outcome="collapse").sel(
            {THIRD_KEY: value}).transpose(PARAMS[0], ONE_KEY).values

    assert not np.allclose(cells(0.5), cells(1.0))  # else the slice test below could not fail
    fig = plots.sweep_heatmap(ds, outcome="collapse")
    assert f"{THIRD_KEY} = 0.5" in fig.axes[0].get_title().replace("\n", " ")
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), cells(0.5))
    other = plots.sweep_heatmap(ds, outcome="collapse", fixed={THIRD_KEY: 1.0})
    np.testing.assert_allclose(other.axes[0].images[0].get_array(), cells(1.0))
    with pytest.raises(ReportError, match=r"0\.25 is not a swept value") as info:
        plots.sweep_heatmap(ds, fixed={THIRD_KEY: 0.25})
    assert "\n" not in str(info.value)

    write_report(ds, tmp_path)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert f"({THIRD_KEY} = 0.5)" in md
    (rows,) = _md_tables(md, f"{PARAMS[0]} | {ONE_KEY} | {THIRD_KEY} | company")
    assert len(rows) == 3 * 2 * 3  # every grid point, not only the drawn slice
    for row in rows:
        point = ds.sel({PARAMS[0]: float(row[0]), ONE_KEY: float(row[1]), THIRD_KEY: float(row[2])},
                       method="nearest").sel(company=row[3], horizon=36)
        _probability_cells(row[4:7], point)


@pytest.mark.parametrize("top", [0.004, 0.015, 0.3])
def test_heatmap_colour_bar_and_cell_labels_carry_the_decimals_they_need(top):
    ds = sweep_ds()
    champion = np.random.default_rng(2).uniform(0.0, top, size=ds["probability"].shape[3:])
    champion.flat[0] = top  # the scale ends at the largest value
    ds["probability"].loc[{"outcome": "champion"}] = champion
    fig = plots.sweep_heatmap(ds)
    fig.canvas.draw()
    bar = fig.axes[1]
    low, high = bar.get_ylim()
    shown = [(t, label.get_text()) for t, label in zip(bar.yaxis.get_majorticklocs(), bar.get_yticklabels(),
                                                        strict=True) if low - 1e-12 <= t <= high + 1e-12]
    ticks, labels = zip(*shown, strict=True)
    assert len(labels) >= 3
    assert len(set(labels)) == len(labels), labels  # whole percents gave 0%, 0%, 1%, 1% below 2%
    for tick, label in zip(ticks, labels, strict=True):
        assert float(label.rstrip("%")) == pytest.approx(100 * tick, abs=1e-9), (tick, label)
    decimals = 0 if top >= 0.1 else 1 if top >= 0.01 else 2
    values = ds["probability"].sel(company="zhipu", horizon=36, outcome="champion").values.ravel()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == values.size
    for text in texts:
        assert len(text.split(".")[1]) == decimals if decimals else "." not in text
    assert sorted(float(t) for t in texts) == pytest.approx(sorted(100 * values), abs=0.5 * 10.0 ** -decimals)


def test_morris_report_ranks_and_numbers_match_the_dataset(morris_ds, tmp_path):
    write_report(morris_ds, tmp_path)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    tables = _md_tables(md, "rank | parameter | mu* ± 95%")
    assert len(tables) == len(OUTPUTS)
    moved = 0
    for output, rows in zip(OUTPUTS, tables, strict=True):
        sub = morris_ds.sel(output=output)
        mu_star = sub["mu_star"].values
        assert [r[1] for r in rows] == [str(p) for p in sub["parameter"].values[np.argsort(-mu_star, kind="stable")]]
        for row in rows:
            p = sub.sel(parameter=row[1])
            got = re.fullmatch(r"(\d+(?:\.\d+)?) pp ± (\d+(?:\.\d+)?) pp", row[2])
            assert got, row[2]
            assert _close_pct(got.group(1), float(p["mu_star"])) and _close_pct(got.group(2), float(p["mu_star_conf"]))
            assert _close_pct(row[4].removesuffix(" pp"), float(p["sigma"]))
        moved += bool(np.any(mu_star > 0))
    assert moved  # at least one output moves, so the numbers checked are not all zeros
    for note in json.loads(morris_ds.attrs["notes"]):
        assert note in md


def test_given_data_report_ranks_and_numbers_match_the_dataset(given_ds, tmp_path):
    write_report(given_ds, tmp_path)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    tables = _md_tables(md, "rank | input | RBD-FAST S1 ± 95%")
    assert len(tables) == len(OUTPUTS)

    def close(text: str, value: float) -> bool:  # three decimals
        return abs(float(text) - value) <= 0.0005 + 1e-12

    for output, rows in zip(OUTPUTS, tables, strict=True):
        sub = given_ds.sel(output=output)
        order = np.argsort(-sub["rbd_fast_S1"].values, kind="stable")
        assert [r[1] for r in rows] == [str(p) for p in sub["parameter"].values[order]]
        for row in rows:
            p = sub.sel(parameter=row[1])
            for cell, var in zip(row[2:5], ("rbd_fast_S1", "delta", "delta_S1"), strict=True):
                value, conf = cell.split(" ± ")
                assert close(value, float(p[var])) and close(conf, float(p[f"{var}_conf"])), (var, cell)
            pawn = re.fullmatch(r"(\S+) \[(\S+), (\S+)\]", row[5])
            assert all(close(pawn.group(k), float(p[v])) for k, v in
                       ((1, "pawn_median"), (2, "pawn_minimum"), (3, "pawn_maximum")))
    explained = re.search(r"\*\*zhipu\.collapse@36\*\*, .*? explain (\d+(?:\.\d+)?)% of the per-path", md)
    assert explained and _close_pct(explained.group(1), float(given_ds["explained_share"].sel(output=OUTPUTS[1])))


def test_attribution_report_numbers_match_the_dataset(attribution_ds, tmp_path):
    ds = attribution_ds
    write_report(ds, tmp_path)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    (rows,) = _md_tables(md, "input | median (all paths) | champion shift [95%]")
    h = int(ds["horizon"].values[-1])
    assert sorted(r[0] for r in rows) == sorted(str(i) for i in ds["input"].values)
    numbers = 0
    for row in rows:
        sub = ds.sel(input=row[0], company="zhipu", horizon=h)
        for cell, outcome in zip(row[2:5], ("champion", "contested", "collapse"), strict=True):
            shift = float(sub["median_shift"].sel(outcome=outcome))
            if math.isnan(shift):
                assert cell == "n/a (no paths)"
                continue
            got = re.fullmatch(r"([+-]\d+\.\d\d) \[([+-]\d+\.\d\d), ([+-]\d+\.\d\d)\]", cell)
            assert got, cell
            lo, hi = (float(x) for x in sub["median_shift_ci"].sel(outcome=outcome).values)
            assert all(abs(float(got.group(k)) - v) <= 0.005 + 1e-12 for k, v in ((1, shift), (2, lo), (3, hi)))
            numbers += 1
    assert numbers >= len(rows)  # contested and collapse happen in these runs


def test_the_units_of_a_key_follow_the_scenario_schema():
    assert parameter_units(PARAMS[0]) == "cards/month"
    assert parameter_units(ONE_KEY) == "1/year"
    assert parameter_units("companies.zhipu.cash", "CNY") == "CNY"
    assert parameter_units("companies.zhipu.events.model_release.outcomes.top3.demand.mean") == "log"
    assert parameter_units("companies.zhipu.chips") == ""  # a table, not a key
    assert parameter_units("no.such.key") == ""


def test_tick_decimals_write_every_tick_exactly():
    assert plots.tick_decimals([0.0, 0.2, 0.4, 0.6]) == 0
    assert plots.tick_decimals([0.0, 0.002, 0.004]) == 1
    assert plots.tick_decimals([0.0, 0.0025, 0.005, 0.0075]) == 2
    fmt = plots.ScaledTicks()
    fmt.set_locs([0.0, 0.0025, 0.005])
    assert [fmt(x) for x in (0.0, 0.0025, 0.005)] == ["0.00%", "0.25%", "0.50%"]
