"""Command line: ``simulator run|validate|report|export|calibrate|implied|compare|batch|sweep|sensitivity|attribute|discover|docs``.

Every user error ends in one line on stderr naming the file, the dotted key,
the value and the allowed range, and exit code 2; never a traceback.  Each
command is one module of this package with ``register(subparsers) -> {name:
handler}``; handlers import what they use when they run, so the command line
starts fast.

May import: every layer below :mod:`simulator.cli`.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Sequence

from simulator.cli import (
    attribute,
    batch,
    calibrate,
    compare,
    discover,
    docs,
    export,
    implied,
    report,
    run,
    sensitivity,
    sweep,
    validate,
)
from simulator.cli.options import EXIT_INTERRUPTED, EXIT_USAGE, Parser
from simulator.errors import UserError

__all__ = ["build_parser", "main"]

#: The commands, in the order ``simulator --help`` lists them.
COMMANDS = (run, validate, report, export, calibrate, implied, compare, batch, sweep, sensitivity, attribute, discover,
            docs)


def build_parser() -> tuple[Parser, dict]:
    """The argument parser of the ``simulator`` command and its handlers by command name."""
    parser = Parser(prog="simulator", description="Monte Carlo scenario simulator for the valuation "
                    "of AI companies. See README.md and docs/scenario-reference.md.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    handlers: dict = {}
    for command in COMMANDS:
        handlers.update(command.register(sub))
    return parser, handlers


#: Options whose value is a range ``LO:HI`` that may start with a minus sign (``--range -1:2``).
RANGE_OPTIONS = ("--range",)
_NEGATIVE_RANGE = re.compile(r"^-[0-9.][0-9.eE+-]*:[0-9.eE+-]+$")


def _join_negative_ranges(argv: Sequence[str]) -> list[str]:
    """``--range -1:2`` as ``--range=-1:2``: argparse would take a value starting with "-" for an option."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in RANGE_OPTIONS and _NEGATIVE_RANGE.match(arg):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


#: The commands that may use dask (a cluster) or libraries that may import it; the others never do.
DASK_COMMANDS = ("batch", "discover")
#: The commands that run the kernels (given a scenario file); ``sensitivity`` of a results file does not.
KERNEL_COMMANDS = ("run", "sweep", "sensitivity", "calibrate", "implied", "attribute")


def _lighten_start(args) -> None:
    """Keep a command from importing libraries it never uses (about 1 s of a 2 s run).

    - With dask installed, xarray imports ``dask.array`` when it makes its first
      variable and ``dask.distributed`` when it writes a NetCDF file, for arrays that
      are never dask's: dask is hidden from the commands that never use it.
    - numba checks for scipy's BLAS the first time it loads compiled code, which
      imports ``scipy.linalg`` (0.3 s); the kernels do no linear algebra, so scipy's
      BLAS is hidden while they load, and nothing else sees the difference.

    Only in the console script's own process (``main()`` without arguments), which
    ends with the command: a Python session calling :func:`main` keeps both.
    """
    if args.command not in DASK_COMMANDS and "dask" not in sys.modules:
        sys.modules["dask"] = None  # import dask -> ImportError: xarray takes dask as absent
    target = getattr(args, "scenario", None) or getattr(args, "results", None)
    if (args.command in KERNEL_COMMANDS and getattr(args, "engine", "numba") == "numba"
            and str(target).endswith(".toml") and "simulator.engines.kernels" not in sys.modules
            and "scipy.linalg" not in sys.modules):
        from simulator.engines.dispatch import import_kernels

        sys.modules["scipy.linalg.cython_blas"] = None  # numba: no BLAS (none needed)
        try:
            import_kernels()
        finally:
            del sys.modules["scipy.linalg.cython_blas"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``simulator`` console script; returns the exit code."""
    with warnings.catch_warnings():
        # Every warning is one line on stderr (the library's SimulatorWarning says what was adjusted
        # or what went out of range); the test suite's "warnings are errors" does not apply here.
        from simulator.warnings import SimulatorWarning

        warnings.simplefilter("default", SimulatorWarning)
        warnings.showwarning = _show_warning
        return _main(argv)


class _Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: unwound like Ctrl-C, so temporary files go and batches checkpoint."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum, frame) -> None:
    files = sys.modules.get("simulator.results.files")  # not imported: no file is being written
    if files is not None:
        files.remove_own_temporaries()
    raise _Terminated(signum)


def _install_signal_handlers() -> dict:
    """Handle SIGTERM and SIGHUP while a command runs (main thread only); returns the previous handlers."""
    import signal
    import threading

    previous = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            previous[signum] = signal.signal(signum, _on_signal)
    return previous


def _main(argv: Sequence[str] | None) -> int:
    import signal

    previous = _install_signal_handlers()
    try:
        parser, handlers = build_parser()
        args = parser.parse_args(_join_negative_ranges(sys.argv[1:] if argv is None else argv))
        _clamp_threads(args)
        if argv is None:
            _lighten_start(args)
        if getattr(args, "quiet", False) or getattr(args, "engine", "numba") != "numba":
            return handlers[args.command](args)
        from simulator.warnings import compile_notice

        # A first run compiles the kernels for a while: say so, rather than seem to hang.
        with compile_notice(lambda message: print(f"simulator: {message}", file=sys.stderr, flush=True)):
            return handlers[args.command](args)
    except _Terminated as exc:
        print(f"simulator: terminated ({signal.Signals(exc.signum).name}); nothing half-written is left",
              file=sys.stderr)
        return 128 + exc.signum
    except UserError as exc:
        # Every error of a scenario file at once, one line each; any other error is one line.
        for line in str(exc).splitlines() or [""]:
            print(f"simulator: error: {_one_line(line)}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        # The memory checks (simulator.runner.memory) come first; this is the last resort.
        print("simulator: error: out of memory; use fewer paths, kept paths, grid points or samples",
              file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("simulator: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        name = f"{exc.filename}: " if exc.filename else ""
        print(f"simulator: error: {name}{_one_line(str(exc.strerror or exc))}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print a warning as one line: ``simulator: warning: ...``."""
    from simulator.warnings import SimulatorWarning

    label = "" if issubclass(category, SimulatorWarning) else f"{category.__name__}: "
    print(f"simulator: warning: {label}{_one_line(str(message))}", file=file or sys.stderr)


def _clamp_threads(args) -> None:
    """``--threads`` (and ``--cluster local:N``) above the cores this process may use runs on those
    cores, said in one line.

    Results never depend on the thread count or the workers; threads beyond the
    cores only cost memory (a histogram and a workspace each), worker processes
    beyond them memory and start-up time, so the run goes on rather than stops.
    """
    cluster = getattr(args, "cluster", None)
    local = bool(cluster) and cluster.startswith("local:") and cluster[6:].isdigit()
    threads = getattr(args, "threads", None)
    if not threads and not local:
        return  # nothing to clamp: no need to import the engines (numpy, the schema) for it
    from simulator.engines.dispatch import max_threads

    if local and int(cluster[6:]) > max_threads():
        cores = max_threads()
        print(f"simulator: note: --cluster {cluster}: this process may use {cores} core"
              f"{'s' if cores > 1 else ''}; starting {cores} worker processes (results do not depend on them)",
              file=sys.stderr)
        args.cluster = f"local:{cores}"
    if not threads:
        return
    cores = max_threads()
    if threads > cores:
        print(f"simulator: note: --threads {threads:,}: this process may use {cores} core"
              f"{'s' if cores > 1 else ''}; running on {cores} (results do not depend on the thread count)",
              file=sys.stderr)
        args.threads = cores


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
