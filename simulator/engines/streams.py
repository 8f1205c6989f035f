"""Random streams: one set of generators per fixed-size block of paths.

Paths are split into fixed-size blocks.  Block ``b`` of a run seeded with
``SeedSequence(entropy, spawn_key=k)`` owns four streams (diffusion, events,
supply, funding), the children ``SeedSequence(entropy, spawn_key=(*k, b, j))``
driving ``SFC64`` bit generators; each path of the block gets four SFC64
streams of its own, seeded from the block's in path order (the kernels'
``lanes.seed_lanes``).  A fifth child, ``(*k, b, 4)``, draws the block's
uncertain inputs (:mod:`simulator.model.uncertain`).  A block's draws
therefore depend only on the seed and the block index, never on threads,
processes or how many blocks run together, and the same seed gives
bit-identical results however the work is split.

May import: :mod:`simulator.errors`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["N_STREAMS", "RANDOM_STREAMS", "STREAM_NAMES", "UNCERTAIN_STREAM", "block_generators",
           "block_states", "normalise_seed"]

#: Random streams spawned for each block of paths, in the order the kernels index them.
STREAM_NAMES = ("diffusion", "events", "supply", "funding")
N_STREAMS = len(STREAM_NAMES)
#: Stream index of the per-path draws of uncertain inputs within a block (after the engine's four).
UNCERTAIN_STREAM = N_STREAMS


#: How the random streams are laid out, for the provenance of every result.
RANDOM_STREAMS = (
    "numpy SFC64 per block and stream: SeedSequence(entropy, spawn_key=(*key, block, stream)); each path's "
    "streams are SFC64s seeded with the next three outputs of its block's streams (counter 1, twelve rounds); "
    "streams: " + ", ".join(STREAM_NAMES))


def normalise_seed(seed) -> np.random.SeedSequence:
    """The root ``SeedSequence`` of a run from an int, SeedSequence, Generator or None.

    ``None`` draws fresh entropy from the operating system; it is recorded in the
    results (``seed_entropy``) so the run can be repeated.
    """
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is not None and not isinstance(seed, (int, np.integer, np.random.Generator)):
        raise ValueError(f"seed: {seed!r} is not an int, SeedSequence, Generator or None")
    if isinstance(seed, (int, np.integer)) and int(seed) < 0:
        raise ValueError(f"seed: {seed} must be >= 0")
    root = np.random.default_rng(seed).bit_generator.seed_seq
    return np.random.SeedSequence(root.entropy, spawn_key=tuple(root.spawn_key))


def block_generators(root: np.random.SeedSequence, block: int) -> list[np.random.Generator]:
    """The four generators (diffusion, events, supply, funding) of one block."""
    return [
        np.random.Generator(np.random.SFC64(np.random.SeedSequence(
            root.entropy, spawn_key=(*root.spawn_key, int(block), j))))
        for j in range(N_STREAMS)
    ]


def block_states(root: np.random.SeedSequence, block: int) -> np.ndarray:
    """SFC64 states (uint64, shape (4 streams, 4 words)) of the block's four generators.

    The kernels advance these states inline with numpy's own algorithms, so a
    stream gives exactly the variates its ``numpy.random.Generator`` would.
    """
    return np.stack([g.bit_generator.state["state"]["state"] for g in block_generators(root, block)])
