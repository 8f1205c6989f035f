"""Per-path draws of uncertain inputs (keys given as distributions), from each block's own stream.

Block ``b`` of a run seeded with ``SeedSequence(entropy, spawn_key=k)`` draws its
paths' inputs from ``SeedSequence(entropy, spawn_key=(*k, b, 4))`` (after the
engine's four streams), so the draws depend only on the seed and the block,
never on threads or processes, and every parameter set of a sweep sees the
same draws path by path (common random numbers).  Draws are standard normals,
correlated through a factor of the copula's normal correlation matrix, mapped
to uniforms by the normal CDF and to values by each input's inverse CDF
(:class:`simulator.model.uncertain.UncertainSet`).

May import: :mod:`simulator.model` and :mod:`simulator.engines.streams`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from simulator.engines.streams import UNCERTAIN_STREAM
from simulator.model.parameters import ParameterLayout
from simulator.model.uncertain import UncertainSet

__all__ = ["draw_inputs", "draw_uniforms", "input_callback", "recorded_draws"]

#: ``uncertain(block, first_path, n) -> (theta slots, values (n, slots))``: what the engines call.
InputCallback = Callable[[int, int, int], tuple[np.ndarray, np.ndarray]]


def draw_uniforms(unc: UncertainSet, root: np.random.SeedSequence, block: int, n: int) -> np.ndarray:
    """Copula uniforms of the ``n`` paths of ``block``, shape (n, inputs)."""
    gen = np.random.Generator(np.random.SFC64(np.random.SeedSequence(
        root.entropy, spawn_key=(*root.spawn_key, int(block), UNCERTAIN_STREAM))))
    z = gen.standard_normal((n, len(unc.inputs)))
    if unc.normal_factor is not None:
        z = z @ unc.normal_factor.T
    from scipy import special  # here, not at import: a run without uncertain inputs never needs scipy

    return special.ndtr(z)


def draw_inputs(unc: UncertainSet, root: np.random.SeedSequence, block: int, n: int) -> np.ndarray:
    """The input values of the ``n`` paths of ``block``, shape (n, inputs)."""
    return unc.values(draw_uniforms(unc, root, block, n))


def input_callback(unc: UncertainSet | None, layout: ParameterLayout, root: np.random.SeedSequence, *,
                   exclude: Sequence[str] = ()) -> InputCallback | None:
    """The engines' ``uncertain(block, first_path, n)`` callback, or None when nothing is drawn.

    Parameters
    ----------
    unc : UncertainSet or None
        The scenario's uncertain inputs.
    layout : ParameterLayout
        The scenario's layout (dotted path -> theta slots).
    root : SeedSequence
        The run's root seed (the draws' stream hangs off it).
    exclude : sequence of str
        Inputs held fixed by the caller (e.g. swept or sampled by a sensitivity
        study); they are not overridden per path.
    """
    if not unc:
        return None
    keep = [j for j, spec in enumerate(unc.inputs) if spec.path not in set(exclude)]
    if not keep:
        return None
    slots: list[int] = []
    columns: list[int] = []
    for j in keep:
        for slot in layout.slots(unc.inputs[j].path):
            slots.append(slot)
            columns.append(j)
    slot_arr = np.asarray(slots, dtype=np.int64)
    col_arr = np.asarray(columns, dtype=np.int64)

    def uncertain(block: int, first: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        # All inputs are drawn (so the copula and the stream stay the same
        # whichever are excluded); only the kept ones are returned.
        del first
        return slot_arr, np.ascontiguousarray(draw_inputs(unc, root, block, n)[:, col_arr])

    return uncertain


def recorded_draws(unc: UncertainSet, root: np.random.SeedSequence, n: int, *,
                   block_size: int) -> np.ndarray:
    """The draws of the first ``n`` paths, shape (n, inputs), regenerated from the seed."""
    out = np.empty((n, len(unc)))
    for b in range(-(-n // block_size)):
        first = b * block_size
        m = min(block_size, n - first)
        out[first:first + m] = draw_inputs(unc, root, b, m)
    return out
