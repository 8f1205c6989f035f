"""Random streams: one set of generators per fixed-size block of paths.

Paths are split into fixed-size blocks.  Block ``b`` of a run seeded with
``SeedSequence(entropy, spawn_key=k)`` owns five engine streams (diffusion,
events, supply, funding, market), the children ``SeedSequence(entropy,
spawn_key=(*k, b, j))`` driving ``SFC64`` bit generators; each path of the
block gets five SFC64 streams of its own, seeded from the block's in path
order (the kernels' ``lanes.seed_lanes``).  The child ``(*k, b, 4)`` draws the
block's uncertain inputs (:mod:`simulator.model.uncertain`); the market stream
(MODEL.md step 9, drawn only with competition on) came later and is child
``(*k, b, 5)``, so that no earlier stream moved.  A block's draws therefore
depend only on the seed and the block index, never on threads, processes or
how many blocks run together, and the same seed gives bit-identical results
however the work is split.

May import: :mod:`simulator.errors`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["N_STREAMS", "RANDOM_STREAMS", "STREAM_NAMES", "STREAM_SPAWN", "UNCERTAIN_STREAM", "block_generators",
           "block_states", "normalise_seed"]

#: Random streams spawned for each block of paths, in the order the kernels index them.
STREAM_NAMES = ("diffusion", "events", "supply", "funding", "market")
N_STREAMS = len(STREAM_NAMES)
#: Spawn index of the per-path draws of uncertain inputs within a block (after the engine's first four).
UNCERTAIN_STREAM = 4
#: Spawn index of each engine stream: the market stream (competition, MODEL.md step 9) was added
#: after the uncertain inputs' stream, so it takes the next index and no existing stream moved.
STREAM_SPAWN = (0, 1, 2, 3, 5)


#: How the random streams are laid out, for the provenance of every result.
RANDOM_STREAMS = (
    "numpy SFC64 per block and stream: SeedSequence(entropy, spawn_key=(*key, block, stream)); each path's "
    "streams are SFC64s seeded with the next three outputs of its block's streams (counter 1, twelve rounds); "
    "streams: " + ", ".join(f"{name} {j}" for name, j in zip(STREAM_NAMES, STREAM_SPAWN, strict=True))
    + f" ({UNCERTAIN_STREAM}: uncertain inputs)")


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
    """The five generators (diffusion, events, supply, funding, market) of one block."""
    return [
        np.random.Generator(np.random.SFC64(np.random.SeedSequence(
            root.entropy, spawn_key=(*root.spawn_key, int(block), j))))
        for j in STREAM_SPAWN
    ]


def block_states(root: np.random.SeedSequence, block: int) -> np.ndarray:
    """SFC64 states (uint64, shape (5 streams, 4 words)) of the block's five generators.

    The kernels advance these states inline with numpy's own algorithms, so a
    stream gives exactly the variates its ``numpy.random.Generator`` would.
    """
    return np.stack([g.bit_generator.state["state"]["state"] for g in block_generators(root, block)])
