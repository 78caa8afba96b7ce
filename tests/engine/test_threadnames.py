"""Threads of a named pool carry their name for the system (Linux), cut to 15 bytes."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from engine.threadnames import named_executor

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="native thread names are read from Linux's /proc")


def _native_name() -> str:
    return Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_text().strip()


def test_a_named_pool_names_its_threads_for_the_system() -> None:
    with named_executor("dancenow-test", 2) as pool:
        names = {pool.submit(_native_name).result() for _ in range(4)}
        python_name = pool.submit(lambda: threading.current_thread().name).result()
    assert names == {"dancenow-test"}
    assert python_name.startswith("dancenow-test")
    assert _native_name() != "dancenow-test"  # the calling thread keeps its own


def test_long_names_are_cut_to_what_linux_keeps() -> None:
    with named_executor("dancenow-a-very-long-name", 1) as pool:
        assert pool.submit(_native_name).result() == "dancenow-a-very"
