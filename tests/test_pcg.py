"""The inline PCG64 stream of the relocation kernels draws NumPy's numbers, bit for bit."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from metrosim._kernels import pcg


@njit(cache=False)
def _draws(stream, n):
    out = np.empty(n)
    for i in range(n):
        out[i] = pcg.uniform(stream)
    return out


@njit(cache=False)
def _shuffle(stream, x):
    pcg.shuffle(stream, x)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**63),
    skip=st.integers(0, 50),
    n=st.integers(0, 300),
    size=st.integers(0, 200),
    jit=st.booleans(),
)
def test_stream_draws_and_shuffles_as_the_generator(seed, skip, n, size, jit):
    """Doubles, then a shuffle (32-bit bounded draws, one output split in two), then doubles
    again: equal to the Generator's own, and the Generator ends in the same state."""
    ref = np.random.default_rng(seed)
    ref.random(skip)
    mine = np.random.default_rng(seed)
    mine.random(skip)
    if skip % 2:  # a pending 32-bit half carried in and out
        ref.integers(0, 7, dtype=np.uint32)
        mine.integers(0, 7, dtype=np.uint32)
    stream = pcg.stream_of(mine)
    draws = _draws if jit else (lambda s, k: np.array([pcg.uniform(s) for _ in range(k)]))
    shuffle = _shuffle if jit else pcg.shuffle
    np.testing.assert_array_equal(draws(stream, n), ref.random(n))
    x, y = np.arange(size), np.arange(size)
    shuffle(stream, x)
    ref.shuffle(y)
    np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(draws(stream, 5), ref.random(5))
    pcg.restore(mine, stream)
    assert mine.bit_generator.state == ref.bit_generator.state
    assert mine.random() == ref.random()


def test_other_bit_generators_are_passed_through():
    assert pcg.stream_of(np.random.Generator(np.random.Philox(3))) is None
    assert pcg.stream_of(np.random.Generator(np.random.PCG64DXSM(3))) is None
    rng = np.random.Generator(np.random.MT19937(5))
    ref = np.random.Generator(np.random.MT19937(5))
    assert pcg.uniform(rng) == ref.random()


@njit(cache=False)
def _intervals(stream, max_val, n):
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        out[i] = pcg._interval(stream, max_val)
    return out


@pytest.mark.parametrize(
    "max_val",
    [0, 1, 2, 3, 4, 7, 8, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**53 + 1, 2**63 - 1],
)
@pytest.mark.parametrize("pending", [False, True], ids=["even", "half-pending"])
def test_interval_is_numpys_masked_rejection(max_val, pending):
    """Bounded draws in [0, max_val] by masked rejection, 32-bit (buffered halves) up to
    2**32 - 1 and 64-bit above: NumPy's ``random_interval`` (what shuffle draws), which is
    also the masked path of the legacy ``RandomState.randint``; ranges of size 1 and 2**k
    included; jitted and pure Python alike, and the same end state."""
    ref = np.random.RandomState(np.random.PCG64(max_val + 11))
    if pending:  # a 32-bit half left over, carried into the stream
        ref.randint(0, 7, dtype=np.uint32)
    mine = np.random.default_rng(0)
    mine.bit_generator.state = ref._bit_generator.state
    stream = pcg.stream_of(mine)
    py_stream = stream.copy()
    got = _intervals(stream, max_val, 300)
    py = [pcg._py_interval(py_stream, max_val) for _ in range(300)]
    np.testing.assert_array_equal(got, ref.randint(0, max_val + 1, 300, dtype=np.uint64))
    np.testing.assert_array_equal(py, got)
    np.testing.assert_array_equal(py_stream, stream)
    pcg.restore(mine, stream)
    assert mine.bit_generator.state == ref._bit_generator.state
