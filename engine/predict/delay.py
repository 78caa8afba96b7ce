"""A session's end-to-end delay, the horizon `--predict auto` predicts the pose by.

The best figure is the client's own: the page measures glass-to-glass (camera capture to
the avatar frame shown) and sends it about once a second (`measured`). A session without
it (a WHIP client, a player) uses what the server sees, its own latency from a frame's
arrival to its avatar frame leaving (`server_latency`, smoothed), plus a configurable
estimate of the rest (`network_s`: the camera frame's trip in, the avatar's encoding, its
trip out, decoding and display). A client figure older than `stale_s` is dropped.
"""

from __future__ import annotations

import math
import threading

# The live one-euro filter (engine.filters.PoseFilter's defaults) trails a dancing body by
# about this much (benchmarks.prediction: the filtered pose best matches the true pose this
# long before); `auto` predicts that far further, so the avatar catches up with the body,
# not with the filter.
FILTER_LAG_MS = 30.0
DEFAULT_NETWORK_MS = 45.0  # what the aiortc client's round trip adds to the server's latency
SMOOTHING = 0.1  # weight of each new server latency sample


class DelayEstimate:
    """Thread-safe: the server's event loop writes it, the label step reads it."""

    def __init__(self, network_s: float = DEFAULT_NETWORK_MS / 1e3,
                 stale_s: float = 5.0) -> None:
        if not (math.isfinite(network_s) and network_s >= 0):
            raise ValueError(f"network estimate must be >= 0 s, got {network_s!r}")
        self.network_s = network_s
        self.stale_s = stale_s
        self._lock = threading.Lock()
        self._server: float | None = None
        self._client: tuple[float, float] | None = None  # (seconds, when it came)

    def server_latency(self, seconds: float) -> None:
        """One frame's latency from arrival to leaving the pipeline."""
        if not (math.isfinite(seconds) and seconds >= 0):
            return
        with self._lock:
            self._server = (seconds if self._server is None else
                            (1 - SMOOTHING) * self._server + SMOOTHING * seconds)

    def measured(self, seconds: float, now: float) -> None:
        """The client's own end-to-end figure (e.g. its glass-to-glass p50), at `now`."""
        if math.isfinite(seconds) and seconds >= 0:
            with self._lock:
                self._client = (seconds, now)

    def current(self, now: float) -> tuple[float | None, str]:
        """(seconds or None, where it comes from: "client", "server+network" or "none")."""
        with self._lock:
            if self._client is not None and now - self._client[1] <= self.stale_s:
                return self._client[0], "client"
            if self._server is not None:
                return self._server + self.network_s, "server+network"
            return None, "none"
