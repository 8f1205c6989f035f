"""Where a command writes when it is not told: one rule for every command (README, "Where outputs go").

- Everything a command writes by default goes under ``results/`` of the current
  folder; nothing goes into ``scenarios/`` (where ``batch scenarios/*.toml`` would
  pick it up) or beside the scenario file.
- ``results/<scenario>.nc`` (``_<kind>`` for a study) holds the scenario as
  written, with its own paths and seed.  A command given options that change the
  numbers (``--set``, ``--paths``, ``--seed``, ``--precision``, the swept or studied
  keys, ...) writes ``results/<scenario>[_<kind>]-<hash>.nc`` instead, where
  ``<hash>`` is the first 8 hex digits of the SHA-256 of those options: each
  question has its own file (a run with ``--set`` no longer replaces the run of
  the scenario as written), and asking the same question again replaces the
  same file with the same numbers.
- ``--out`` writes exactly where it is told.

May import: nothing of the package.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

__all__ = ["RESULTS_DIR", "default_output"]

#: The folder (relative to the current one) every default output goes into.
RESULTS_DIR = Path("results")


def _unset(value) -> bool:
    """An option left at the scenario's own value: None, False or empty (a 0 is a value: ``--seed 0``)."""
    return value is None or value is False or (isinstance(value, (str, list, tuple)) and not value)


def default_output(name: str, options: dict, *, kind: str = "", suffix: str = ".nc") -> Path:
    """``results/<name>[_<kind>][-<hash of options>]<suffix>``.

    Parameters
    ----------
    name : str
        The scenario's name.
    options : dict
        The options that change the numbers, by name; those that are None, empty
        or False are the scenario's own and do not count (0 is a value given).
    kind : str
        What the file holds besides a run (``sweep``, ``morris``, ``calibrated``).
    suffix : str
        The file's extension.
    """
    given = {k: v for k, v in sorted(options.items()) if not _unset(v)}
    stem = f"{name}_{kind}" if kind else name
    if given:
        digest = hashlib.sha256(json.dumps(given, sort_keys=True, default=str).encode()).hexdigest()[:8]
        stem = f"{stem}-{digest}"
    return RESULTS_DIR / f"{stem}{suffix}"
