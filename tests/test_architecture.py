"""The package's structure: layers, import rules, kernel size limits, and a cache that cannot go stale.

Read from the source (``ast``), nothing is imported: a rule broken by a new
module fails here with the file and the line.  The layers, lowest first, and
what each may import, are those of docs/architecture.md.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "simulator"

#: Layers, lowest first: a module may import its own layer and those below it.
LAYERS = ("errors", "warnings", "model", "engines", "results", "runner", "studies", "report", "cli")
RANK = {"errors": 0, "warnings": 0, "model": 1, "engines": 2, "results": 3, "runner": 4, "studies": 5,
        "report": 6, "cli": 7}
MAX_POSITIONAL = 12
MAX_LINES = 800


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, names) of every import in the file, function-level ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module, [a.name for a in node.names]))
    return out


def _internal_targets(module: str, names: list[str]) -> list[str]:
    """The package modules an import statement loads (``from simulator.x import y`` may load ``simulator.x.y``)."""
    targets = []
    if module in MODULES:
        targets.append(module)
    for name in names:
        sub = f"{module}.{name}"
        if sub in MODULES:
            targets.append(sub)
    return [t for t in targets if t.startswith("simulator")]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for _, target, names in _imports(path):
            for t in _internal_targets(target, names):
                if t != module and not module.startswith(t + "."):  # a package's own __init__ is no edge
                    graph[module].add(t)
    return graph


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_layers_import_only_lower_layers():
    bad = []
    for module, path in MODULES.items():
        layer = _layer(module)
        if layer is None or layer not in RANK:
            continue
        for line, target, names in _imports(path):
            for t in _internal_targets(target, names):
                other = _layer(t)
                if other in RANK and RANK[other] > RANK[layer]:
                    bad.append(f"{path.relative_to(ROOT)}:{line}: {layer} imports {t} ({other} is a higher layer)")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(("library", "home"), [("numba", "simulator.engines.kernels"),
                                               ("llvmlite", "simulator.engines.kernels"),
                                               ("argparse", "simulator.cli")])
def test_libraries_stay_in_their_package(library, home):
    bad = [f"{path.relative_to(ROOT)}:{line}"
           for module, path in MODULES.items() if not (module == home or module.startswith(home + "."))
           for line, target, _ in _imports(path) if target == library or target.startswith(library + ".")]
    assert not bad, f"{library} imported outside {home}: " + ", ".join(bad)


def test_no_private_names_of_other_modules():
    bad = []
    for module, path in MODULES.items():
        for line, target, names in _imports(path):
            if not target.startswith("simulator") or target == module:
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {', '.join(private)} from {target}")
    assert not bad, "\n".join(bad)


def test_no_function_takes_more_than_twelve_positional_parameters():
    bad = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = len(node.args.posonlyargs) + len(node.args.args)
                if n > MAX_POSITIONAL:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.name} takes {n}")
    assert not bad, "\n".join(bad)


def test_no_module_over_800_lines():
    bad = [f"{path.relative_to(ROOT)}: {n} lines" for path in MODULES.values()
           if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert not bad, "\n".join(bad)


def test_every_package_says_what_it_owns_and_may_import():
    bad = []
    for module, path in MODULES.items():
        if path.name != "__init__.py" or module == "simulator":
            continue
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if "May import" not in doc:
            bad.append(str(path.relative_to(ROOT)))
    assert not bad, "packages without a docstring saying what they may import: " + ", ".join(bad)


def test_kernel_cache_follows_the_layout_and_the_kernel_sources(tmp_path):
    from simulator.engines import kernels
    from simulator.model.parameters import layout_fingerprint

    today = kernels.cache_fingerprint()
    assert kernels.CACHE_DIR.name == f"kernels-{today}"
    # Any change of the derived layout or of a kernel source names another cache directory.
    assert kernels.cache_fingerprint(layout=layout_fingerprint() + "x") != today
    sources = sorted(Path(kernels.__file__).parent.glob("*.py"))
    edited = tmp_path / sources[0].name
    edited.write_bytes(sources[0].read_bytes() + b"\n# an edit\n")
    assert kernels.cache_fingerprint(sources=[edited, *sources[1:]]) != today
    # The dispatchers were decorated under that directory.
    from simulator.engines.kernels import driver

    assert str(kernels.CACHE_DIR) in str(driver.run_group._cache._cache_path)


def test_a_schema_change_moves_the_kernel_cache(tmp_path):
    # A new parameter in the schema (here a company key added at import) is a new
    # layout, hence a new cache directory: no cached kernel can read stale slots.
    code = (
        "from simulator.engines import kernels as before\n"
        "print(before.CACHE_DIR.name)\n"
    )
    patched = (
        "from pydantic import Field\n"
        "import simulator.model.schema as s\n"
        "field = Field(0.0, description='a new key', json_schema_extra={'units': '1'})\n"
        "field.annotation = float\n"
        "s.Costs.model_fields['new_cost'] = field\n"
        "s.Costs.model_rebuild(force=True)\n"
        "from simulator.engines import kernels as after\n"
        "print(after.CACHE_DIR.name)\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    run = [subprocess.run([sys.executable, "-c", c], capture_output=True, text=True, cwd=ROOT, env=env, check=True)
           for c in (code, patched)]
    names = [r.stdout.strip().splitlines()[-1] for r in run]
    assert names[0] != names[1], names
