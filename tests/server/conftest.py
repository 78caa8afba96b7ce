"""Fixtures for the server tests: the Firefox driver of `benchmarks.firefox_bidi`."""

from __future__ import annotations

import pytest

from benchmarks.firefox_bidi import FIREFOX, Firefox


@pytest.fixture()
def firefox() -> type[Firefox]:
    """The `Firefox` driver class (an async context manager); skips without Firefox."""
    if FIREFOX is None:
        pytest.skip("Firefox is not installed (apt install firefox-esr)")
    return Firefox
