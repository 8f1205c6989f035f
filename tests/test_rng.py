"""The kernels' inline random streams give exactly numpy's ``Generator`` variates.

``simulator._kernels`` advances each block's SFC64 state itself (a call into
numba's Generator per variate cost more than the model); these tests pin that
every uniform, normal and Poisson variate, and the state left behind, are the
ones ``numpy.random.Generator(SFC64)`` gives for the same state.
"""

import kernel_helpers as K
import numpy as np
import pytest

from simulator.engines.streams import block_generators, block_states, normalise_seed

N_DRAWS = 100_000


def _generator_and_state(seed):
    gen = np.random.Generator(np.random.SFC64(seed))
    return gen, gen.bit_generator.state["state"]["state"].copy()


@pytest.mark.parametrize("seed", [0, 1, 12345])
@pytest.mark.parametrize(("kind", "lam"), [
    (0, 0.0), (1, 0.0),                                  # uniform, normal
    (2, 0.0), (2, 0.01), (2, 3.5), (2, 9.99),            # Poisson by multiplication
    (2, 10.0), (2, 47.3), (2, 300.0), (2, 5e4),          # Poisson by PTRS
    (3, 10.0), (3, 47.3), (3, 300.0),                    # PTRS with cached constants
])
def test_draws_equal_numpy_generator(seed, kind, lam):
    gen, state = _generator_and_state(seed)
    out = np.empty(N_DRAWS)
    K.fill_draws(state, kind, lam, out)
    if kind == 0:
        expected = gen.random(N_DRAWS)
    elif kind == 1:
        expected = gen.standard_normal(N_DRAWS)
    else:
        expected = gen.poisson(lam, N_DRAWS).astype(np.float64)
    np.testing.assert_array_equal(out, expected)
    # The stream is left exactly where the Generator is: later draws agree too.
    np.testing.assert_array_equal(state, gen.bit_generator.state["state"]["state"])


def test_block_states_are_the_block_generators():
    root = normalise_seed(2024)
    states = block_states(root, 7)
    gens = block_generators(root, 7)
    assert states.shape == (len(gens), 4) and states.dtype == np.uint64
    for stream, gen in enumerate(gens):
        out = np.empty(1000)
        K.fill_draws(states[stream].copy(), 1, 0.0, out)
        np.testing.assert_array_equal(out, gen.standard_normal(1000))
    # Distinct blocks and streams never share a state.
    assert len({tuple(s) for s in np.concatenate([states, block_states(root, 8)])}) == 2 * len(gens)


# Lane streams: the engine advances 64 paths together, each with its own SFC64
# streams seeded from its block's streams (``_kernels.seed_lanes``).
N_LANES = 70  # more than one lane width, and not a multiple of it


def _lane_generators(block_state, n_lanes):
    """numpy Generators holding the states ``seed_lanes`` gives, built independently."""
    block = np.random.SFC64()
    block.state = {"bit_generator": "SFC64", "state": {"state": block_state.copy()},
                   "has_uint32": 0, "uinteger": 0}
    gens = []
    for _ in range(n_lanes):
        a, b, c = block.random_raw(3)
        lane = np.random.SFC64()
        lane.state = {"bit_generator": "SFC64", "state": {"state": np.array([a, b, c, 1], dtype=np.uint64)},
                      "has_uint32": 0, "uinteger": 0}
        lane.random_raw(12)  # numpy's SFC64 seeding: counter 1, then twelve rounds
        gens.append(np.random.Generator(lane))
    return gens


@pytest.mark.parametrize("kind", [0, 1])
def test_lane_draws_equal_numpy_generators(kind):
    state = block_states(normalise_seed(99), 3)[0]
    n_draws = 2_000  # 140,000 normals: every ziggurat branch (tail, wedge) is taken
    out = np.empty((n_draws, N_LANES))
    final = K.fill_lane_draws(state.copy(), kind, N_LANES, n_draws, out)
    for lane, gen in enumerate(_lane_generators(state, N_LANES)):
        expected = gen.random(n_draws) if kind == 0 else gen.standard_normal(n_draws)
        np.testing.assert_array_equal(out[:, lane], expected)
        np.testing.assert_array_equal(final[:, lane], gen.bit_generator.state["state"]["state"])


def test_masked_lane_draws_leave_other_lanes_alone():
    state = block_states(normalise_seed(5), 0)[1]
    n_draws = 300
    out = np.empty((n_draws, N_LANES))
    final = K.fill_lane_draws(state.copy(), 2, N_LANES, n_draws, out)
    for lane, gen in enumerate(_lane_generators(state, N_LANES)):
        on = (lane + np.arange(n_draws)) % 3 != 0
        np.testing.assert_array_equal(out[on, lane], gen.random(int(on.sum())))
        assert np.isnan(out[~on, lane]).all()
        np.testing.assert_array_equal(final[:, lane], gen.bit_generator.state["state"]["state"])


def test_lanes_of_a_block_have_distinct_streams():
    state = block_states(normalise_seed(7), 0)[0]
    out = np.empty((1, 4096))
    final = K.fill_lane_draws(state.copy(), 0, 4096, 1, out)
    assert len({tuple(col) for col in final.T}) == 4096
    assert len(np.unique(out)) == 4096


def test_lane_ptrs_poisson_equals_numpy_generators():
    # Rates across PTRS's range (numpy uses it from 10 up), several per block of lanes.
    lams = np.array([10.0, 12.5, 47.3, 300.0, 412.7, 5e4, 17.0])
    state = block_states(normalise_seed(11), 2)[2]
    n_draws = 400  # ~28,000 draws: the quick acceptance fails for ~14% of them
    out = np.empty((n_draws, N_LANES))
    final = K.fill_lane_poisson(state.copy(), lams, N_LANES, n_draws, out)
    for lane, gen in enumerate(_lane_generators(state, N_LANES)):
        on = (lane + np.arange(n_draws)) % 5 != 0
        expected = [gen.poisson(lams[lane % len(lams)]) for _ in range(int(on.sum()))]
        np.testing.assert_array_equal(out[on, lane], expected)
        assert np.isnan(out[~on, lane]).all()
        np.testing.assert_array_equal(final[:, lane], gen.bit_generator.state["state"]["state"])
