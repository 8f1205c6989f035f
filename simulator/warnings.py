"""What the simulator tells its user beside results: warnings (errors in the test suite) and the compile notice.

Imports nothing of the package (the command line reads it before it knows whether a command runs the engines).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

__all__ = ["COMPILE_NOTICE", "SimulatorWarning", "compile_notice"]

#: Who is told, before the kernels are compiled (not when read from the cache), that a first run takes a
#: while; None: nobody (see :func:`compile_notice`).
COMPILE_NOTICE: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar(
    "compile_notice", default=None)


class SimulatorWarning(UserWarning):
    """Something the user should know about a run, e.g. a thin sample."""


@contextlib.contextmanager
def compile_notice(say: Callable[[str], None] | None) -> Iterator[None]:
    """While inside, ``say(message)`` is called before the kernels are compiled (not when read from the cache)."""
    token = COMPILE_NOTICE.set(say)
    try:
        yield
    finally:
        COMPILE_NOTICE.reset(token)
