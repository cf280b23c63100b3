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
