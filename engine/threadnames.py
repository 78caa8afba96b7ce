"""Native thread names, so `top -H`, `ps -L` and /proc/<pid>/task/*/comm tell the
process's threads apart (Python 3.11 names its threads for Python only).

Linux keeps up to 15 bytes of a name per thread (`prctl(PR_SET_NAME)`); longer names are
cut. Elsewhere naming is skipped.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)
PR_SET_NAME = 15
MAX_NAME_BYTES = 15


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


def set_native_name(name: str) -> None:
    """Name the calling thread `name` (its first 15 bytes) for the operating system."""
    if _LIBC is None:
        return
    raw = name.encode("ascii", "replace")[:MAX_NAME_BYTES]
    if _LIBC.prctl(PR_SET_NAME, ctypes.c_char_p(raw), 0, 0, 0) != 0:
        log.debug("could not name thread %r (errno %d)", name, ctypes.get_errno())


def named_executor(name: str, max_workers: int) -> ThreadPoolExecutor:
    """A thread pool whose threads carry `name`, for Python and for the system."""
    return ThreadPoolExecutor(max_workers, thread_name_prefix=name,
                              initializer=set_native_name, initargs=(name,))
