"""Where the numba engine spends its time: a ``perf`` profile with the kernels named.

Usage::

    python benchmarks/profile_kernels.py [--mode run|sweep] [--paths N] [--threads T] [--seconds S]
        [--scenario scenarios/zhipu_base.toml] [--top 25]

``perf`` cannot name code that numba compiled at run time.  This script runs the
workload in a process whose numba cache is a fresh directory (so numba compiles
the kernels, about half a minute, and keeps their machine code), writes
``/tmp/perf-PID.map`` (address, size, name of every compiled function, from the
object code numba kept), samples the process with ``perf record`` while it runs
``--mode`` (``run``: ``simulator.run`` of ``--paths`` paths; ``sweep``: a 10 x 10 x 4
grid of chip and funding keys with ``--paths`` paths per set), and prints the
functions by share of samples.  Needs ``perf`` and permission to sample the
process (``kernel.perf_event_paranoid`` <= 2 for one's own processes); otherwise
it says so in one line and exits with 2.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ["companies.zhipu.chips.imports_per_month=0:500:10",
         "companies.zhipu.chips.domestic_per_month=100:1000:10",
         "companies.zhipu.funding.backstop_probability=0:1:4"]


def _dispatchers():
    """Every compiled kernel of the package (each kernel module's numba dispatchers)."""
    import importlib
    import pkgutil

    from simulator.engines import kernels

    for info in pkgutil.iter_modules(kernels.__path__):
        module = importlib.import_module(f"{kernels.__name__}.{info.name}")
        for value in vars(module).values():
            if hasattr(value, "overloads") and getattr(value, "py_func", None) is not None:
                yield value


def _demangled(rest: str, parts: int = 2) -> str:
    """The first ``parts`` length-prefixed names of an Itanium-mangled tail ("5lanes9seed_lanesB2..." -> lanes.seed_lanes)."""
    names = []
    while len(names) < parts:
        m = re.match(r"(\d+)", rest)
        if not m:
            break
        n = int(m.group(1))
        names.append(rest[m.end():m.end() + n])
        rest = rest[m.end() + n:]
    return ".".join(names) or rest[:60]


def _perf_map() -> list[tuple[int, int, str]]:
    """(address, size, name) of every function in the object code numba kept for the kernels."""
    entries = []
    for dispatcher in _dispatchers():
        for cres in dispatcher.overloads.values():
            lib = cres.library
            try:
                obj = lib._get_compiled_object()
            except RuntimeError:  # loaded from a cache: no object code kept
                continue
            with tempfile.NamedTemporaryFile(suffix=".o") as f:
                f.write(obj)
                f.flush()
                listing = subprocess.run(["nm", "--defined-only", "-S", f.name], capture_output=True,
                                         text=True, check=False).stdout
            symbols = {}
            for line in listing.splitlines():
                parts = line.split()
                if len(parts) == 4 and parts[2] in "tT":
                    symbols[parts[3]] = (int(parts[0], 16), int(parts[1], 16))
            entry = cres.fndesc.llvm_func_name
            if entry not in symbols:
                continue
            base = lib.get_pointer_to_function(entry) - symbols[entry][0]
            for sym, (offset, size) in symbols.items():
                # Itanium-mangled "...7kernels10operations7operateB4v553...": keep module.function.
                short = _demangled(sym.split("7kernels", 1)[1]) if "7kernels" in sym else sym[:60]
                entries.append((base + offset, size, short))
    return sorted(set(entries))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("run", "sweep"), default="run")
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "zhipu_base.toml"))
    parser.add_argument("--paths", type=int, default=None, help="default: 1,000,000 (run), 10,000 (sweep)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=8.0, help="how long to sample")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    for tool in ("perf", "nm"):
        if shutil.which(tool) is None:
            print(f"profile_kernels: `{tool}` is not installed; nothing measured", file=sys.stderr)
            return 2
    # Before numba is imported: a fresh cache, so the kernels compile and keep their code.
    cache = tempfile.mkdtemp(prefix="numba-profile-")
    os.environ["NUMBA_CACHE_DIR"] = cache

    import simulator
    from simulator.studies.sweep import sweep

    sc = simulator.load_scenario(args.scenario)
    paths = args.paths or (1_000_000 if args.mode == "run" else 10_000)

    def workload(n: int) -> None:
        if args.mode == "run":
            simulator.run(sc, paths=n, seed=1, threads=args.threads)
        else:
            sweep(sc, SWEEP, paths=n, seed=1, threads=args.threads)

    print(f"compiling the kernels into {cache} (about half a minute)...", file=sys.stderr)
    workload(500)
    entries = _perf_map()
    if not entries:
        print("profile_kernels: numba kept no object code to name the kernels; nothing measured", file=sys.stderr)
        return 2
    pid = os.getpid()
    map_path = Path(f"/tmp/perf-{pid}.map")
    map_path.write_text("".join(f"{a:x} {max(size, 1):x} {name}\n" for a, size, name in entries))
    data = Path(cache) / "perf.data"
    perf = subprocess.Popen(["perf", "record", "-q", "-F", "2000", "-p", str(pid), "-o", str(data),
                             "--", "sleep", str(args.seconds)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    while perf.poll() is None:  # the workload again until perf stops sampling
        workload(paths)
    _, err = perf.communicate()
    if perf.returncode != 0 or not data.exists():
        print(f"profile_kernels: perf record failed: {err.strip().splitlines()[-1] if err.strip() else '?'}",
              file=sys.stderr)
        return 2
    report = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", "symbol",
                             "--percent-limit", "0.3", "--stdio"], capture_output=True, text=True, check=False)
    rows = [line for line in report.stdout.splitlines() if line.strip() and not line.startswith("#")]
    print(f"{args.mode} of {sc.scenario.name}, {paths:,} paths, {args.threads} thread(s); "
          f"share of {args.seconds:g} s of samples:")
    for line in rows[:args.top]:
        print(" ", " ".join(line.split()[:1] + line.split()[2:3]))
    map_path.unlink(missing_ok=True)
    shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
