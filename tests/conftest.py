"""Test-suite configuration.

Hypothesis runs derandomized: each property test draws the same examples on every run and
machine (seeded from the test's name), so CI on a clean clone sees exactly what the last local
run saw, and a failure is reproducible. Set ``HYPOTHESIS_PROFILE=explore`` to draw fresh random
examples (and more of them) when hunting for edge cases.
"""

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", max_examples=500, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _damage_file(path, how: str) -> None:
    """Damage a cache file in place: ``truncate``, ``flip`` 16 bytes, ``garbage`` or ``empty``."""
    data = bytearray(path.read_bytes())
    if how == "truncate":
        data = data[: len(data) // 2]
    elif how == "flip":
        mid = len(data) // 2
        data[mid : mid + 16] = bytes(b ^ 0xFF for b in data[mid : mid + 16])
    elif how == "garbage":
        data = bytearray(b"not a zip file" * 100)
    else:
        data = bytearray()
    path.write_bytes(bytes(data))


@pytest.fixture
def damage_file():
    """The function that damages a cache file (for the cache tests)."""
    return _damage_file


def _same_bits_with_1_and_2_threads(fn) -> list:
    """Call ``fn()`` (a list of arrays) with 1 and with 2 numba threads; assert the bits are
    the same and return the 1-thread result. The thread count is restored afterwards."""
    import numba
    import numpy as np

    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = fn()
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = fn()
    finally:
        numba.set_num_threads(before)
    assert len(one) == len(two)
    for x, y in zip(one, two, strict=True):
        np.testing.assert_array_equal(np.asarray(x).view(np.uint8), np.asarray(y).view(np.uint8))
    return one


@pytest.fixture
def same_bits_with_1_and_2_threads():
    """The function that runs a kernel with 1 and 2 numba threads and compares the bits."""
    return _same_bits_with_1_and_2_threads
