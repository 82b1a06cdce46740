"""Shared test configuration."""

from __future__ import annotations

import os

from hypothesis import settings

# Property tests run a fixed, modest number of examples so the suite stays fast and repeatable.
settings.register_profile("hwpower", max_examples=60, deadline=None, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "hwpower"))
