"""Mutation testing by hand (not in CI): how many planted bugs does the test suite catch?

Two parts:

- **Pure-Python modules** (``results``, ``io``, ``batch``, ``studies``): mutmut plants its
  one-line mutants (operators, constants, arguments, ...) in the group's modules and runs, for
  each mutant, the tests of the group's selection that cover the mutated function.  Each group
  runs in its own scratch copy of the repository (``--workdir``), with a ``[tool.mutmut]`` table
  written into that copy's ``pyproject.toml`` only.
- **Kernel mutants**: a short hand-written list of bugs in the numba kernels (the narrative's
  pull, the funding logistic, the tax base, ...) and the two shared-code bugs issue 20 names (the
  champion share counting contested paths as decided, the batch's up-to-date check ignoring the
  seed).  Each is applied to its own copy and the kernel test selection is run with a fresh
  numba cache (a kernel edit means a full compile, about a minute on 2 cores).

It prints, per group, the mutants killed, survived, without covering tests and timed out, and
the score: killed / (all - judged equivalent).  Mutants judged equivalent (no test can tell
them apart from the original) are listed with the reason in ``tools/mutation_equivalent.txt``
(``name  # reason`` lines); docs/testing.md records the measured scores.

Usage::

    python tools/mutation.py --group results io batch studies kernels   # all (hours on 2 cores)
    python tools/mutation.py --group batch --workdir /tmp/mut            # one group
    python tools/mutation.py --group kernels --only tax_base             # one kernel mutant
    python tools/mutation.py --group calibrate --workdir /tmp/mut --again   # survivors vs today's tests and code
    python tools/mutation.py --group calibrate --workdir /tmp/mut --show    # live and judged mutants, with diffs

Needs the ``mutation`` extra (``pip install -e '.[mutation]'``).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT_FILE = Path(__file__).with_name("mutation_equivalent.txt")
COPY = ("simulator", "tests", "scenarios", "docs", "README.md", "pyproject.toml")


@dataclass(frozen=True)
class Group:
    """Modules to mutate and the tests that judge them."""

    modules: tuple[str, ...]
    tests: tuple[str, ...]
    #: A pytest ``-k`` expression: tests whose subprocesses or dask workers import the unmutated
    #: package (they cannot see a mutant, only cost time) are left out.
    keyword: str = ""
    #: Lines not mutated (regular expressions): the text of log lines, progress bars and
    #: Dataset descriptions, which no number depends on.
    skip: tuple[str, ...] = ()
    #: Mutant names to run (fnmatch patterns; default: every mutant of the modules).
    only: tuple[str, ...] = ()


#: The tests of each group are those that exercise its modules and run in this process (mutmut
#: forks it for each mutant); for each mutant mutmut runs the ones among them that call the mutated
#: function, fastest first, up to the first failure.  On 2 shared cores a survivor costs the whole
#: selection, so the selections are lean: tests that only repeat what another already checks at
#: higher cost (coverage replications, the 10^6-path merge) are left out by ``keyword``.
GROUPS = {
    # The robustness tests of files (temporaries, checksums, wrong files, output paths) run in this process;
    # the signal-during-a-write tests' writers are child processes, and the random command lines only repeat them.
    "io": Group(("simulator/results/io.py", "simulator/results/files.py"),
                ("tests/test_results.py", "tests/test_batch_identity.py", "tests/test_robustness.py"),
                "not signal_during and not random_command_lines and not far_tail and not sizes and not bad_option "
                "and not threads and not correlation and not beyond_float64 and not dask"),
    "results": Group(("simulator/results/dataset.py", "simulator/results/statistics.py",
                      "simulator/results/targets.py"),
                     ("tests/test_derived_numbers.py", "tests/test_results.py",
                      "tests/test_sensitivity.py::test_vectorised_builder_matches_build_dataset"), "",
                     (r"\"(title|long_name|interval_method|quantile_method|Conventions)\"",)),
    "studies": Group(("simulator/studies/compare.py", "simulator/studies/precision.py"),
                     ("tests/test_derived_numbers.py", "tests/test_precision_calibration.py",
                      "tests/test_uncertainty.py::test_compare_pairs_runs_with_the_same_distributions",
                      "tests/test_uncertainty.py::test_precision_run_draws_the_distributions",
                      "tests/test_robustness.py::test_compare_refuses_a_study_result_from_python"),
                     # -k matches module names too: the precision tests by their own names.
                     "compare or pair or cli or precision_target or precision_main or precision_run or wilson_half_width", (r"\"long_name\"",)),
    "batch": Group(("simulator/studies/batch.py",),
                   ("tests/test_batch_identity.py", "tests/test_batch.py",
                    "tests/test_uncertainty.py::test_batch_with_distributions_equals_run_and_tracks_them",
                    "tests/test_robustness.py::test_a_damaged_checkpoint_is_discarded_with_one_line_and_recomputed",
                    "tests/test_robustness.py::test_a_checkpoint_that_does_not_fit_its_run_says_what_does_not",
                    "tests/test_robustness.py::test_an_unreadable_checkpoint_gives_the_reason_in_one_short_line",
                    "tests/test_robustness.py::test_a_result_edited_in_place_is_recomputed"),
                   "not sigkill and not distributed and not merged and not memory and not zarr_in_chunks "
                   "and not summary",
                   (r"^\s*log\(", r"\bsay\(", r"tqdm", r"\bbar_\w+\.", r"\blong_name\b|\"title\""),
                   # The batch's logic (identity, checkpoints, the plan), not its plumbing (locks,
                   # fsync, the log file, progress bars, the command line); the summary is its own group.
                   ("*batch.x__result_identity__*", "*batch.x__identity_text__*", "*batch.x_load_checkpoint__*",
                    "*batch.x_save_checkpoint__*", "*batch.x__recorded_seed__*", "*batch.x__plan_jobs__*",
                    "*batch.x__kept_complete__*", "*batch.x__checkpoint_problem__*", "*batch.x__intact__*",
                    "*batch.xǁBatchReportǁexit_code__*")),
    # The batch's summary table, judged by the test that reads it back against each result.
    "summary": Group(("simulator/studies/batch.py",),
                     ("tests/test_batch_identity.py::test_the_batch_summary_holds_each_results_numbers",
                      "tests/test_batch_identity.py::test_the_summary_files_of_edge_cases"),
                     "", (r"\blong_name\b|\"title\"",),
                     ("*batch.x_summary_rows__*", "*batch.x_write_summary__*", "*batch.x_summary_dataset__*",
                      "*batch.x__read_summary_subset__*", "*batch.x__summary_subset__*")),
    # The sweep's table, its spec parser's messages and its memory checks are judged by the formatting,
    # message and robustness tests (those that run in this process; the random command lines only repeat them).
    "sweep": Group(("simulator/studies/sweep.py",),
                   ("tests/test_derived_numbers.py", "tests/test_sensitivity.py", "tests/test_formatting.py",
                    "tests/test_messages.py", "tests/test_robustness.py", "tests/test_sweep_spec.py",
                    "tests/test_sweep_sets.py"),
                   "not distributed and not random_command_lines and not signal_during and not far_tail and not dask",
                   # The progress bar's plumbing and the title's text, as in the other groups.
                   (r"\"long_name\"", r"\bprogress\(", r"\btqdm\(", r"= bar\.update", r"\"title\"",
                    r"progress: bool = False")),
    # The rest of the studies, one group each: sensitivity (OAT, Morris, Sobol, the given-data
    # methods, attribution), calibration (calibrate, implied value, what binds, the scenario editor
    # that writes the calibrated value) and scenario discovery (PRIM, CART, the data they read).
    "sensitivity": Group(("simulator/studies/sensitivity.py", "simulator/studies/sensitivity_outputs.py",
                          "simulator/studies/attribution.py", "simulator/studies/given_data.py"),
                         ("tests/test_sensitivity.py", "tests/test_sensitivity_methods.py",
                          "tests/test_uncertain_scenario.py", "tests/test_uncertainty.py", "tests/test_derived_numbers.py",
                          "tests/test_formatting.py", "tests/test_messages.py",
                          "tests/test_robustness.py", "tests/test_figures_content.py"),
                         "not distributed and not random_command_lines and not signal_during and not far_tail "
                         "and not dask and not batch",
                         (r"\"long_name\"", r"\bprogress\(", r"\"description\""),
                         # The numbers each method reports (OAT, Morris, Sobol, the given-data methods,
                         # attribution), not the tables, the option parsing or the study's set-up: 3,040
                         # mutants in all are more than a session's hours on 2 cores.
                         ("*sensitivity.x__oat__*", "*sensitivity.x__morris__*", "*sensitivity.x__sobol__*",
                          "*sensitivity.x__evaluate__*", "*sensitivity.x__finish__*", "*sensitivity.x__pair_var__*",
                          "*sensitivity.x__thetas__*", "*attribution.x_attribute__*", "*attribution.x__median_ci__*",
                          "*given_data.x_given_data__*", "*given_data.x__binary_delta__*")),
    "calibrate": Group(("simulator/studies/calibrate.py", "simulator/studies/binding.py",
                        "simulator/studies/scenario_edit.py"),
                       ("tests/test_precision_calibration.py", "tests/test_implied.py", "tests/test_scenario_edit.py",
                        "tests/test_calibrate_solver.py",
                        "tests/test_uncertainty.py", "tests/test_derived_numbers.py", "tests/test_competition.py",
                        "tests/test_formatting.py", "tests/test_messages.py", "tests/test_robustness.py"),
                       "not distributed and not random_command_lines and not signal_during and not far_tail "
                       "and not dask and not batch",
                       (r"\"long_name\"", r"\bprogress\(")),
    "discovery": Group(("simulator/studies/discovery.py", "simulator/studies/discovery_data.py"),
                       ("tests/test_discovery.py", "tests/test_discovery_rules.py", "tests/test_formatting.py",
                        "tests/test_messages.py", "tests/test_robustness.py"),
                       "not distributed and not random_command_lines and not signal_during and not far_tail "
                       "and not dask and not batch",
                       (r"\"long_name\"", r"\bprogress\(")),
}


@dataclass(frozen=True)
class KernelMutant:
    """A one-line bug: ``old`` replaced by ``new`` (exactly once) in ``path``."""

    name: str
    path: str
    old: str
    new: str
    what: str


KERNEL_MUTANTS = (
    KernelMutant("narrative_sign", "simulator/engines/kernels/diffusion.py",
                 "(S[cs + NARRATIVE + i] - lr_n) * S[cs + NARRATIVE_DECAY + i]",
                 "(lr_n - S[cs + NARRATIVE + i]) * S[cs + NARRATIVE_DECAY + i]",
                 "the company narrative pulled away from its long run"),
    KernelMutant("funding_logistic", "simulator/engines/kernels/funding.py",
                 "prob = 1.0 / (1.0 + fast_exp(-x))", "prob = 1.0 / (1.0 + fast_exp(x))",
                 "the raise probability falls with the narrative"),
    KernelMutant("tax_base", "simulator/engines/kernels/operations.py",
                 "P[cp + COMPANY.costs.tax_rate + i] * (op - used)", "P[cp + COMPANY.costs.tax_rate + i] * op",
                 "tax on the profit before the loss carry-forward"),
    KernelMutant("interest_dropped", "simulator/engines/kernels/operations.py",
                 "+ P[cp + COMPANY.costs.interest_rate + i] * cash * dt", "+ 0.0 * cash * dt",
                 "no interest on cash"),
    KernelMutant("depreciation_halved", "simulator/engines/kernels/chips.py",
                 "(1.0 - P[cp + COMPANY.chips.depreciation + i] * dt)",
                 "(1.0 - 0.5 * P[cp + COMPANY.chips.depreciation + i] * dt)", "cards retired at half the rate"),
    KernelMutant("price_to_sales_flipped", "simulator/engines/kernels/outcomes.py",
                 "logv - logr <= sec[LOG_MAX_PRICE_TO_SALES + i]", "logv - logr >= sec[LOG_MAX_PRICE_TO_SALES + i]",
                 "a champion needs a price-to-sales above the cap"),
    KernelMutant("equity_not_floored", "simulator/engines/kernels/outcomes.py",
                 "equity = max(value, 0.0) * discount", "equity = value * discount",
                 "no limited liability in the equity value"),
    KernelMutant("backstop_inverted", "simulator/engines/kernels/funding.py",
                 "saved = short and u < P[cp + COMPANY.funding.backstop_probability + i]",
                 "saved = short and u > P[cp + COMPANY.funding.backstop_probability + i]",
                 "the state saves with 1 - backstop_probability"),
    KernelMutant("champion_share_counts_contested", "simulator/results/dataset.py",
                 "share = np.where(decided > 0, champ / np.maximum(decided, 1), np.nan)",
                 "share = np.where(decided > 0, champ / np.maximum(counts.sum(axis=-1), 1), np.nan)",
                 "shared code: the champion share's denominator counts contested paths as decided"),
    KernelMutant("batch_ignores_seed", "simulator/studies/batch.py",
                 "if not force and _result_identity(result) == job.identity() and _kept_complete(job):",
                 "if not force and {k: v for k, v in (_result_identity(result) or {}).items() if k != 'seed_entropy'}"
                 " == {k: v for k, v in job.identity().items() if k != 'seed_entropy'} and _kept_complete(job):",
                 "shared code: the batch's up-to-date check ignores the seed"),
)
#: The tests a kernel mutant must fail (stopping at the first failure).  tests/test_golden.py is left
#: out: it pins the counts, so it fails on any change at all; the question is whether a test with
#: an independent truth sees the bug.
KERNEL_TESTS = ("tests/test_derived_numbers.py", "tests/test_analytic_limits_more.py",
                "tests/test_limits.py", "tests/test_fundamental_value.py", "tests/test_engines_paths.py",
                "tests/test_batch.py")


def _copy_repo(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
        else:
            shutil.copy2(src, dest / name)
    shared = ROOT.parent / "shared"  # MODEL.md beside the repository, as the tests expect
    for beside in (dest.parent / "shared", dest / "shared"):  # mutmut runs the tests in dest/mutants
        if shared.is_dir() and not beside.exists():
            beside.symlink_to(shared)


def _equivalents() -> dict[str, str]:
    out = {}
    if EQUIVALENT_FILE.is_file():
        for line in EQUIVALENT_FILE.read_text(encoding="utf-8").splitlines():
            name, _, reason = line.partition("#")
            if name.strip():
                out[name.strip()] = reason.strip()
    return out


def _status(dest: Path, mutmut: str) -> dict[str, str]:
    listing = subprocess.run([mutmut, "results", "--all", "true"], cwd=dest, capture_output=True, text=True,
                             check=False).stdout
    status = {}
    for line in listing.splitlines():
        key, _, value = line.strip().rpartition(": ")
        if key:
            status[key] = value
    return status


def _write_config(dest: Path, group: Group) -> None:
    """The copy's ``pyproject.toml``: the repository's, with the group's ``[tool.mutmut]`` table."""
    table = ("\n[tool.mutmut]\n"
             'source_paths = ["simulator"]\n'
             f"only_mutate = {json.dumps(list(group.modules))}\n"
             f"pytest_add_cli_args_test_selection = {json.dumps(list(group.tests))}\n"
             f"pytest_add_cli_args = {json.dumps(['-p', 'no:cacheprovider', '-q', '-x', *(['-k', group.keyword] if group.keyword else [])])}\n"
             'also_copy = ["scenarios", "docs", "README.md"]\n'
             f"do_not_mutate_patterns = {json.dumps(list(group.skip))}\n")
    (dest / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text(encoding="utf-8") + table, encoding="utf-8")


def run_group(name: str, workdir: Path, mutmut: str, *, again: bool = False) -> dict:
    """mutmut over one group in its own copy; returns its counts and surviving mutants.

    ``again``: keep the group's copy and its verdicts, bring in today's tests and run the
    mutants that survived (after tests were added for them).
    """
    group = GROUPS[name]
    dest = workdir / name / "repo"
    if again:
        shutil.rmtree(dest / "tests")
        shutil.copytree(ROOT / "tests", dest / "tests", ignore=shutil.ignore_patterns("__pycache__"))
        _write_config(dest, group)  # today's test selection too
        # Today's package too (mutmut makes the mutants of a changed module again); verdicts of mutants that
        # were killed before are kept unless their function changed (mutmut compares each function's hash).
        shutil.copytree(ROOT / "simulator", dest / "simulator", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
        # Which tests cover which function is learnt again: the new tests must be among them.
        (dest / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
        start = time.monotonic()
        with open(workdir / name / "mutmut-again.log", "w", encoding="utf-8") as fh:
            # mutmut makes the mutants of a changed function again (their verdicts reset to "not checked")
            # only when it runs, after the first listing: a second pass runs those.
            for wanted in (("survived", "no tests", "not checked"), ("not checked",)):
                names = [k for k, v in _status(dest, mutmut).items() if v in wanted
                         and (not group.only or any(fnmatch.fnmatch(k, pattern) for pattern in group.only))]
                for i in range(0, len(names), 200):  # the command line stays short
                    subprocess.run([mutmut, "run", *names[i:i + 200]], cwd=dest, stdout=fh,
                                   stderr=subprocess.STDOUT, check=False)
        return _summarise(name, group, dest, mutmut, time.monotonic() - start)
    if dest.exists():
        shutil.rmtree(dest)
    _copy_repo(dest)
    _write_config(dest, group)
    start = time.monotonic()
    log = workdir / name / "mutmut.log"
    with open(log, "w", encoding="utf-8") as fh:
        subprocess.run([mutmut, "run", *group.only], cwd=dest, stdout=fh, stderr=subprocess.STDOUT, check=False)
    return _summarise(name, group, dest, mutmut, time.monotonic() - start)


def _summarise(name: str, group: Group, dest: Path, mutmut: str, seconds: float) -> dict:
    status = {k: v for k, v in _status(dest, mutmut).items()
              if not group.only or any(fnmatch.fnmatch(k, pattern) for pattern in group.only)}
    counts = {v: sum(1 for x in status.values() if x == v) for v in set(status.values())}
    survivors = sorted(k for k, v in status.items() if v in ("survived", "no tests", "timeout", "suspicious"))
    return {"group": name, "seconds": round(seconds), "total": sum(counts.values()) - counts.get("not checked", 0),
            "killed": counts.get("killed", 0), "survived": counts.get("survived", 0),
            "no_tests": counts.get("no tests", 0), "timeout": counts.get("timeout", 0),
            "not_checked": counts.get("not checked", 0), "not_killed": survivors, "workdir": str(dest)}


def _mutant_diffs(dest: Path, names: list[str]) -> dict[str, str | None]:
    """Each mutant's change against its function, from mutmut's mutated copies (``mutants/``); None for a
    name that is no mutant of today's code (a changed function renumbers its mutants)."""
    sources: dict[str, dict[str, str]] = {}
    out: dict[str, str | None] = {}
    for name in names:
        module, function = name.rsplit(".", 1)
        if module not in sources:
            text = (dest / "mutants" / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
            lines = text.splitlines()
            sources[module] = {node.name: "\n".join(lines[node.lineno - 1:node.end_lineno])
                               for node in ast.walk(ast.parse(text)) if isinstance(node, ast.FunctionDef)}
        base = function.rsplit("__mutmut_", 1)[0]
        mutated = sources[module].get(function)
        if mutated is None:
            out[name] = None
            continue
        original = sources[module].get(base + "__mutmut_orig", "").replace(base + "__mutmut_orig", base)
        out[name] = "\n".join(list(difflib.unified_diff(original.splitlines(), mutated.replace(function, base)
                                                       .splitlines(), lineterm="", n=0))[3:])
    return out


def show_group(name: str, workdir: Path, mutmut: str) -> None:
    """Print the group's live mutants, then its judged ones with their reasons, each with its diff."""
    group = GROUPS[name]
    dest = workdir / name / "repo"
    equivalent = _equivalents()
    res = _summarise(name, group, dest, mutmut, 0.0)
    modules = {m[:-3].replace("/", ".") for m in group.modules}
    judged = [k for k in equivalent if k.rsplit(".", 1)[0] in modules
              and (not group.only or any(fnmatch.fnmatch(k, pattern) for pattern in group.only))]
    live = [k for k in res["not_killed"] if k not in equivalent]
    diffs = _mutant_diffs(dest, live + judged)
    for k in live:
        print(f"## live {k}\n{diffs[k]}")
    for k in judged:
        status = "killed (no longer judged)" if k not in res["not_killed"] else "judged"
        what = "NO SUCH MUTANT: renumbered or gone" if diffs[k] is None else diffs[k]
        print(f"## {status} {k}\n   # {equivalent[k]}\n{what}")


def run_kernel_mutant(m: KernelMutant, workdir: Path) -> dict:
    """Apply one hand-written mutant to a copy and run the kernel tests (first failure kills it)."""
    dest = workdir / "kernels" / m.name / "repo"
    if dest.exists():
        shutil.rmtree(dest)
    _copy_repo(dest)
    target = dest / m.path
    text = target.read_text(encoding="utf-8")
    if text.count(m.old) != 1:
        return {"name": m.name, "status": f"not applied: the line was found {text.count(m.old)} times"}
    target.write_text(text.replace(m.old, m.new), encoding="utf-8")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(dest.parent / "numba_cache"), "PYTHONPATH": str(dest)}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *KERNEL_TESTS],
                          cwd=dest, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    failed = [line.split(" ")[1] for line in proc.stdout.splitlines() if line.startswith("FAILED ")]
    shutil.rmtree(dest.parent / "numba_cache", ignore_errors=True)
    return {"name": m.name, "what": m.what, "status": "killed" if proc.returncode == 1 else
            ("survived" if proc.returncode == 0 else f"error (pytest exit {proc.returncode})"),
            "by": failed[:1], "seconds": round(seconds)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", nargs="+", default=[*GROUPS, "kernels"], choices=[*GROUPS, "kernels"],
                        help="groups to run, in order (default: all)")
    parser.add_argument("--only", nargs="*", default=None, help="kernel mutants by name (default: all)")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a new temporary one)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--show", action="store_true",
                        help="in an earlier run's --workdir: print the live and judged mutants with their diffs")
    parser.add_argument("--again", action="store_true",
                        help="in an earlier run's --workdir: re-run its survivors against today's tests")
    args = parser.parse_args(argv)
    mutmut = shutil.which("mutmut") or str(Path(sys.executable).with_name("mutmut"))
    if any(g in GROUPS for g in args.group) and not Path(mutmut).exists():
        print("mutation: mutmut is not installed (pip install -e '.[mutation]')", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="simulator-mutation-"))
    workdir.mkdir(parents=True, exist_ok=True)
    equivalent = _equivalents()
    results = []
    for name in args.group:
        if name == "kernels":
            chosen = [m for m in KERNEL_MUTANTS if args.only is None or m.name in args.only]
            rows = []
            for m in chosen:
                row = run_kernel_mutant(m, workdir)
                rows.append(row)
                print(f"kernel mutant {row['name']:<34} {row['status']:<10} {' '.join(row.get('by', []))} "
                      f"({row.get('seconds', 0)} s)", flush=True)
            killed = sum(row["status"] == "killed" for row in rows)
            print(f"kernels: {killed} of {len(rows)} killed", flush=True)
            results.append({"group": "kernels", "mutants": rows, "killed": killed, "total": len(rows)})
            continue
        if args.show:
            show_group(name, workdir, mutmut)
            continue
        res = run_group(name, workdir, mutmut, again=args.again)
        judged = [k for k in res["not_killed"] if k in equivalent]
        live = res["total"] - len(judged)
        res["equivalent"] = judged
        res["score"] = res["killed"] / live if live else float("nan")
        print(f"{name}: {res['total']} mutants, {res['killed']} killed, {res['survived']} survived, "
              f"{res['no_tests']} without covering tests, {res['timeout']} timed out, {len(judged)} judged "
              f"equivalent: {100 * res['score']:.1f}% of the non-equivalent killed ({res['seconds']} s; "
              f"survivors: mutmut show NAME in {res['workdir']})", flush=True)
        results.append(res)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
