"""Progress bars over a run's paths (tqdm), shown only for runs longer than a second.

May import: nothing of the package.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

__all__ = ["progress_bar", "study_bar"]


@contextlib.contextmanager
def progress_bar(job, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A tqdm bar over the job's paths (shown for runs longer than a second); yields its update."""
    if not enabled:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=job.paths, unit="path", unit_scale=True, delay=1.0, desc=job.name, leave=False)
    try:
        yield bar.update
    finally:
        bar.close()


@contextlib.contextmanager
def study_bar(desc: str, enabled: bool, *, total: int | None = None, unit: str = "path"):
    """A tqdm bar for a study whose amount of work is not known in advance (``total`` None: a count and a
    rate); yields the bar (``update(n)``, ``set_postfix_str(text)``) or None.  Shown after a second."""
    if not enabled:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit=unit, unit_scale=True, delay=1.0, desc=desc, leave=False)
    try:
        yield bar
    finally:
        bar.close()
