"""Hypothesis settings for the whole suite.

Under CI (`CI` set, as `.ci/run` does) the examples are derandomized: every CI run checks
the same examples, so a red CI always means a change broke something, never that a new random
draw found an old bug. Locally the draws stay random (with Hypothesis's example database),
so running the tests keeps exploring.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
