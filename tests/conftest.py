"""Test-suite configuration.

Hypothesis runs derandomized: each property test draws the same examples on every run and
machine (seeded from the test's name), so CI on a clean clone sees exactly what the last local
run saw, and a failure is reproducible. Set ``HYPOTHESIS_PROFILE=explore`` to draw fresh random
examples (and more of them) when hunting for edge cases.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", max_examples=500, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
