"""Progress bars over a run's paths (tqdm), shown only for runs longer than a second.

May import: nothing of the package.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

__all__ = ["progress_bar"]


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
