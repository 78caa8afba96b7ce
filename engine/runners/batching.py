"""A batcher shared by sessions for one model: their frames run as one batch.

Sessions submit a feed of one frame (arrays with batch dimension 1, e.g. the
generator's label map and that session's previous output) and wait for that frame's
outputs, from any thread (`submit` returns a `concurrent.futures.Future`), or from a
coroutine (`await infer_async`); the live pipeline's stages run their step in an
executor thread and simply block on the future.

* Window: the first pending frame opens a window of at most `window_ms` (measured from
  when it was submitted, so a frame that arrived while the model was busy runs as soon
  as the model is free). The window closes early once every registered session has a
  frame pending, or the largest batch the runner takes is reached.
* Latest frame per session: a newer frame of a session replaces its pending one, whose
  waiter gets a `BatchOutcome` with `superseded=True` (an outcome, not an error).
* Batch sizes: the runner's own (`Runner.batch_sizes`); a batch is padded (with copies
  of its last frame) up to the next size the runner takes, and the outputs are split
  back, each session getting its own copy of its frame. A model of fixed shapes runs
  one frame per call: the sessions still share one model, one call at a time.
* One inference at a time: a single worker thread opens the runner, runs every batch
  and closes it (it owns the runner's CUDA context and stream). A collecting thread
  forms the batches; it never touches the runner.
* Errors: a feed of the wrong names or shapes fails its own `submit`; a batch whose
  inference fails is run again frame by frame, so the error reaches the waiter of the
  frame that caused it (an error that every frame hits reaches each of them).
* `close()` releases pending waiters with `BatcherClosed`, lets a running batch finish,
  then closes the runner in its thread.
* `stats()`: batch sizes, window waits and inference times (for /stats).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass
from types import TracebackType

import numpy as np

from engine.errors import InputError
from engine.runners.base import Runner, TensorSpec
from engine.threadnames import named_executor
from engine.timing import summarize_ms

log = logging.getLogger(__name__)

DEFAULT_WINDOW_MS = 5.0


class BatcherClosed(RuntimeError):
    """The batcher was closed before this frame ran (or a frame came after it closed)."""


@dataclass(frozen=True)
class BatchOutcome:
    """What became of one submitted frame."""

    outputs: dict[str, np.ndarray] | None  # the frame's outputs (batch 1, the caller's own)
    superseded: bool = False  # a newer frame of the same session replaced it; it never ran
    batch: int = 0  # frames in the batch it ran in
    padded: int = 0  # the batch size the runner ran (>= batch)
    waited_s: float = 0.0  # from submit to the start of its batch


@dataclass
class _Pending:
    session: int
    feed: dict[str, np.ndarray]
    future: Future
    submitted: float


class BatchStats:
    """Per-batch statistics of one batcher (the last `keep` batches)."""

    def __init__(self, keep: int = 1000) -> None:
        self.batches = self.frames = self.superseded = self.failed = 0
        self._sizes: deque[int] = deque(maxlen=keep)
        self._padded: deque[int] = deque(maxlen=keep)
        self._wait: deque[float] = deque(maxlen=keep)
        self._infer: deque[float] = deque(maxlen=keep)

    def batch(self, size: int, padded: int, wait_s: float, infer_s: float) -> None:
        self.batches += 1
        self.frames += size
        self._sizes.append(size)
        self._padded.append(padded)
        self._wait.append(wait_s)
        self._infer.append(infer_s)

    def snapshot(self) -> dict:
        def pct(samples: deque[float]) -> dict[str, float] | None:
            if not samples:
                return None
            s = summarize_ms(samples)
            return {"p50_ms": s["p50_ms"], "p95_ms": s["p95_ms"]}

        sizes = list(self._sizes)
        return {"batches": self.batches, "frames": self.frames,
                "superseded": self.superseded, "failed": self.failed,
                "mean_batch": float(np.mean(sizes)) if sizes else None,
                "batch_sizes": {str(k): v for k, v in sorted(Counter(sizes).items())},
                "padded_sizes": {str(k): v for k, v in sorted(Counter(self._padded).items())},
                "window_wait": pct(self._wait), "inference": pct(self._infer)}


class Batcher:
    """Batches the frames of several sessions for one model (see the module doc).

        with Batcher(lambda: create_runner("torch", path, device="cuda")) as batcher:
            session = batcher.session()
            outcome = session.submit({"label": label, "previous": previous}).result()
    """

    def __init__(self, open_runner: Callable[[], Runner], window_ms: float = DEFAULT_WINDOW_MS,
                 max_batch: int | None = None, name: str = "model") -> None:
        """`open_runner` makes the runner (not yet entered; the worker thread enters it);
        `max_batch` caps the batch below the runner's largest."""
        if window_ms < 0:
            raise InputError(f"the batching window must be at least 0 ms, got {window_ms}")
        if max_batch is not None and max_batch < 1:
            raise InputError(f"the largest batch must be at least 1, got {max_batch}")
        self.name = name
        self.window_s = window_ms / 1000
        self._open_runner = open_runner
        self._cap = max_batch
        self._runner: Runner | None = None
        self._pool = named_executor("dancenow-batch", 1)
        self._cond = threading.Condition()
        self._pending: dict[int, _Pending] = {}
        self._sessions: set[int] = set()
        self._next_session = 0
        self._closed = False
        self._started = False
        self._collector: threading.Thread | None = None
        self.sizes: tuple[int, ...] = (1,)
        self.inputs: list[TensorSpec] = []
        self.outputs: list[TensorSpec] = []
        self._stats = BatchStats()

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> Batcher:
        """Open the runner in the worker thread and start collecting frames."""
        if self._started:
            return self
        if self._closed:
            raise BatcherClosed(f"batcher {self.name} is closed")
        try:
            self._pool.submit(self._open).result()
        except BaseException:
            self._pool.shutdown(wait=True)
            self._closed = True
            raise
        self._started = True
        self._collector = threading.Thread(target=self._collect, daemon=True,
                                           name=f"dancenow-batch-{self.name}")
        self._collector.start()
        log.info("batcher %s: batches of %s, window %.1f ms", self.name,
                 ", ".join(map(str, self.sizes)), self.window_s * 1000)
        return self

    def _open(self) -> None:
        runner = self._open_runner().__enter__()
        self._runner = runner
        self.inputs, self.outputs = list(runner.inputs), list(runner.outputs)
        sizes = runner.batch_sizes or (1,)
        if self._cap is not None:
            sizes = tuple(s for s in sizes if s <= self._cap) or (sizes[0],)
        self.sizes = tuple(sorted(sizes))

    def close(self) -> None:
        """Release pending waiters (`BatcherClosed`), finish a running batch, close the
        runner in its thread."""
        with self._cond:
            if self._closed and not self._started:
                return
            self._closed = True
            released = list(self._pending.values())
            self._pending.clear()
            self._cond.notify_all()
        for p in released:
            if p.future.set_running_or_notify_cancel():
                p.future.set_exception(BatcherClosed(f"batcher {self.name} closed before the "
                                                     "frame ran"))
        if self._collector is not None:
            self._collector.join()
            self._collector = None
        if self._started:
            self._started = False
            runner, self._runner = self._runner, None
            if runner is not None:
                self._pool.submit(runner.__exit__, None, None, None).result()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> Batcher:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def max_batch(self) -> int:
        return self.sizes[-1]

    @property
    def closed(self) -> bool:
        return self._closed

    # -- sessions ------------------------------------------------------------------------
    def session(self) -> BatchSession:
        """Register a session: the window closes early once every registered session has
        a frame pending."""
        with self._cond:
            if self._closed:
                raise BatcherClosed(f"batcher {self.name} is closed")
            sid = self._next_session
            self._next_session += 1
            self._sessions.add(sid)
        return BatchSession(self, sid)

    def _unregister(self, session: int) -> None:
        with self._cond:
            self._sessions.discard(session)
            self._cond.notify_all()  # the others may now be all there is

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    def submit(self, session: int, feed: dict[str, np.ndarray]) -> Future:
        """Queue one frame of `session`; the future gives its `BatchOutcome`. A pending
        frame of the same session is superseded. InputError for a wrong feed."""
        if not self._started:
            raise BatcherClosed(f"batcher {self.name} is not running")
        frame = self._check(feed)
        future: Future = Future()
        pending = _Pending(session, frame, future, time.perf_counter())
        with self._cond:
            if self._closed:
                raise BatcherClosed(f"batcher {self.name} is closed")
            older = self._pending.pop(session, None)
            self._pending[session] = pending
            if older is not None:
                self._stats.superseded += 1
            self._cond.notify_all()
        if older is not None and older.future.set_running_or_notify_cancel():
            older.future.set_result(BatchOutcome(None, superseded=True))
        return future

    async def infer_async(self, session: int, feed: dict[str, np.ndarray]) -> BatchOutcome:
        """`submit`, awaited from a coroutine."""
        return await asyncio.wrap_future(self.submit(session, feed))

    def _check(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The feed as the batcher's own float arrays of one frame each."""
        names = {s.name for s in self.inputs}
        if set(feed) != names:
            raise InputError(f"batcher {self.name} expects inputs {sorted(names)}, got "
                             f"{sorted(feed)}")
        out = {}
        for spec in self.inputs:
            arr = np.asarray(feed[spec.name])
            if arr.shape != spec.shape:
                raise InputError(f"input {spec.name!r} must have shape {list(spec.shape)}, "
                                 f"got {list(arr.shape)}")
            out[spec.name] = np.array(arr, dtype=spec.dtype)  # a copy: the caller may reuse it
        return out

    def stats(self) -> dict:
        """Batch sizes, window waits and inference times, for /stats."""
        return {"model": self.name, "sessions": self.session_count,
                "window_ms": self.window_s * 1000, "batch_sizes_supported": list(self.sizes),
                **self._stats.snapshot()}

    # -- collecting and running ----------------------------------------------------------
    def _ready(self, deadline: float) -> bool:
        """Whether the pending frames should run now (called with the lock held)."""
        if len(self._pending) >= self.max_batch:
            return True
        if self._sessions and self._sessions <= self._pending.keys():
            return True
        return time.perf_counter() >= deadline

    def _take(self) -> list[_Pending] | None:
        """The next batch, once its window closes (None once closed)."""
        with self._cond:
            while True:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return None
                deadline = min(p.submitted for p in self._pending.values()) + self.window_s
                while self._pending and not self._closed and not self._ready(deadline):
                    self._cond.wait(max(deadline - time.perf_counter(), 0.0))
                if self._closed:
                    return None
                oldest = sorted(self._pending.values(), key=lambda p: p.submitted)
                batch = []
                for p in oldest[:self.max_batch]:
                    del self._pending[p.session]
                    if p.future.set_running_or_notify_cancel():  # False: the caller gave up
                        batch.append(p)
                if batch:
                    return batch

    def _collect(self) -> None:
        while (batch := self._take()) is not None:
            self._run(batch)

    def _run(self, batch: list[_Pending]) -> None:
        start = time.perf_counter()
        size = next(s for s in self.sizes if s >= len(batch))
        job = self._pool.submit(self._infer, [p.feed for p in batch], size)
        wait([job])
        seconds = time.perf_counter() - start
        error = job.exception()
        if error is None:
            self._stats.batch(len(batch), size, start - batch[0].submitted, seconds)
            for p, outputs in zip(batch, job.result(), strict=True):
                p.future.set_result(BatchOutcome(outputs, False, len(batch), size,
                                                 start - p.submitted))
            return
        if len(batch) == 1:
            self._stats.failed += 1
            batch[0].future.set_exception(error)
            return
        log.warning("batcher %s: a batch of %d failed (%s); running its frames one by one",
                    self.name, len(batch), error)
        for p in batch:
            alone = self._pool.submit(self._infer, [p.feed], self.sizes[0])
            wait([alone])
            if (err := alone.exception()) is not None:
                self._stats.failed += 1
                p.future.set_exception(err)
            else:
                self._stats.batch(1, self.sizes[0], start - p.submitted,
                                  time.perf_counter() - start)
                p.future.set_result(BatchOutcome(alone.result()[0], False, 1, self.sizes[0],
                                                 start - p.submitted))

    def _infer(self, feeds: list[dict[str, np.ndarray]], size: int) -> list[dict[str, np.ndarray]]:
        """Run `feeds` as one batch padded to `size` (in the worker thread); each frame's
        outputs, copied out of the runner's buffers."""
        runner = self._runner
        if runner is None:
            raise BatcherClosed(f"batcher {self.name} is closed")
        if len(feeds) == 1 and size == 1:
            out = runner.infer(feeds[0])
            return [{k: v.copy() for k, v in out.items()}]
        pad = size - len(feeds)
        batch = {}
        for spec in self.inputs:
            frames = [f[spec.name] for f in feeds]
            if pad:
                frames.append(np.repeat(frames[-1], pad, axis=0))
            batch[spec.name] = np.concatenate(frames)
        out = runner.infer(batch)
        return [{k: v[i:i + 1].copy() for k, v in out.items()} for i in range(len(feeds))]


class BatchSession:
    """One session's use of a batcher: its frames replace each other (latest wins)."""

    def __init__(self, batcher: Batcher, session: int) -> None:
        self.batcher = batcher
        self.id = session
        self._closed = False

    def submit(self, feed: dict[str, np.ndarray]) -> Future:
        return self.batcher.submit(self.id, feed)

    async def infer_async(self, feed: dict[str, np.ndarray]) -> BatchOutcome:
        return await self.batcher.infer_async(self.id, feed)

    def close(self) -> None:
        """Unregister (a pending frame still runs)."""
        if not self._closed:
            self._closed = True
            self.batcher._unregister(self.id)

    def __enter__(self) -> BatchSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
