"""The batcher shared by sessions: windows, latest-wins, splitting, padding, errors,
shutdown; which backends share it; the registry; the renderer built on it."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.avatar import DEMO_AVATAR, load_bundle
from engine.errors import InputError
from engine.pipeline import sharing
from engine.renderer import AvatarRenderer
from engine.runners import create_runner
from engine.runners.base import Runner, TensorSpec, batch_sizes_up_to
from engine.runners.batching import Batcher, BatcherClosed
from engine.runners.shared import (
    BatcherRegistry,
    SharedRunner,
    batching_device,
    open_shared_runner,
    uses_shared_batcher,
)
from engine.runners.torch_runner import NAMES_FILE

SHAPE = (1, 3, 8, 8)
LONG_MS = 5000.0  # a window that only an early close ends within a test


class Mix(torch.nn.Module):
    """frame = 2 * label + previous: each output tells which inputs made it."""

    def forward(self, label: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        return 2 * label + previous


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`Mix` as a torch.export program with a dynamic batch axis of up to 8."""
    path = tmp_path_factory.mktemp("batching") / "mix.pt2"
    example = (torch.zeros(2, *SHAPE[1:]), torch.zeros(2, *SHAPE[1:]))
    batch = torch.export.Dim("batch", min=1, max=8)
    exported = torch.export.export(Mix(), example, dynamic_shapes=({0: batch}, {0: batch}))
    names = {"inputs": ["label", "previous"], "outputs": ["frame"], "max_batch": 8}
    torch.export.save(exported, str(path), extra_files={NAMES_FILE: json.dumps(names)})
    return path


class FixedSizes(Runner):
    """frame = 2 * label + previous in numpy, for batches of 1, 2 or 4 only; fails on NaN."""

    backend = "fake"

    def __init__(self, sizes: tuple[int, ...] = (1, 2, 4)) -> None:
        super().__init__()
        self.sizes, self.calls, self.exited = sizes, [], False

    def _load(self) -> None:
        self.inputs = [TensorSpec(n, SHAPE, np.dtype(np.float32)) for n in ("label", "previous")]
        self.outputs = [TensorSpec("frame", SHAPE, np.dtype(np.float32))]
        self.batch_sizes = self.sizes

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls.append(feed["label"].shape[0])
        if np.isnan(feed["label"]).any():
            raise RuntimeError("NaN in the label map")
        return {"frame": 2 * feed["label"] + feed["previous"]}

    def _release(self) -> None:
        self.exited = True


def _feed(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: rng.uniform(-1, 1, SHAPE).astype(np.float32) for n in ("label", "previous")}


def _expected(feed: dict[str, np.ndarray]) -> np.ndarray:
    return 2 * feed["label"] + feed["previous"]


def test_each_session_gets_its_own_frame_from_the_torch_runner(program) -> None:
    feeds = [_feed(i) for i in range(4)]
    with create_runner("torch", program, device="cpu") as alone:
        assert alone.batch_sizes == batch_sizes_up_to(8)
        singles = [alone.infer(f)["frame"].copy() for f in feeds]
    with Batcher(lambda: create_runner("torch", program, device="cpu"), LONG_MS) as batcher:
        assert batcher.sizes == batch_sizes_up_to(8)
        sessions = [batcher.session() for _ in feeds]
        futures = [s.submit(f) for s, f in zip(sessions, feeds, strict=True)]
        outcomes = [f.result(timeout=10) for f in futures]
    for outcome, single, feed in zip(outcomes, singles, feeds, strict=True):
        assert outcome.batch == 4 and not outcome.superseded  # one batch, closed early
        assert outcome.outputs["frame"].shape == SHAPE
        np.testing.assert_allclose(outcome.outputs["frame"], single, atol=1e-6)
        np.testing.assert_allclose(outcome.outputs["frame"], _expected(feed), atol=1e-6)


def test_a_lone_frame_waits_at_most_the_window() -> None:
    with Batcher(FixedSizes, window_ms=30) as batcher:
        waiting, idle = batcher.session(), batcher.session()  # idle never submits
        start = time.perf_counter()
        outcome = waiting.submit(_feed(0)).result(timeout=5)
        elapsed = time.perf_counter() - start
        assert outcome.batch == 1
        assert 0.025 <= outcome.waited_s <= 0.25 and elapsed < 0.5
        stats = batcher.stats()
        idle.close()
    assert stats["batches"] == 1 and stats["batch_sizes"] == {"1": 1}
    assert stats["window_wait"]["p50_ms"] >= 25 and stats["inference"] is not None


def test_the_window_closes_early_when_every_session_or_the_largest_batch_is_there() -> None:
    with Batcher(FixedSizes, LONG_MS) as batcher:
        a, b = batcher.session(), batcher.session()
        start = time.perf_counter()
        fa, fb = a.submit(_feed(1)), b.submit(_feed(2))
        assert fa.result(timeout=2).batch == 2 and fb.result(timeout=2).batch == 2
        assert time.perf_counter() - start < 1.0
    with Batcher(FixedSizes, LONG_MS, max_batch=2) as batcher:  # 2 of 3 sessions: full
        sessions = [batcher.session() for _ in range(3)]
        futures = [s.submit(_feed(i)) for i, s in enumerate(sessions[:2])]
        assert [f.result(timeout=2).batch for f in futures] == [2, 2]


def test_a_newer_frame_supersedes_the_pending_one() -> None:
    with Batcher(FixedSizes, LONG_MS) as batcher:
        a, b = batcher.session(), batcher.session()
        old, new = _feed(1), _feed(2)
        first = a.submit(old)
        second = a.submit(new)
        outcome = first.result(timeout=1)  # at once: an outcome, not an error
        assert outcome.superseded and outcome.outputs is None
        other = b.submit(_feed(3))
        got = second.result(timeout=2)
        assert got.batch == 2 and not got.superseded
        np.testing.assert_allclose(got.outputs["frame"], _expected(new))
        assert other.result(timeout=2).batch == 2
        assert batcher.stats()["superseded"] == 1


def test_batches_are_padded_to_the_sizes_the_runner_takes() -> None:
    runner = FixedSizes((1, 2, 4))
    with Batcher(lambda: runner, LONG_MS) as batcher:
        sessions = [batcher.session() for _ in range(3)]
        feeds = [_feed(i) for i in range(3)]
        outcomes = [f.result(timeout=2) for f in [s.submit(x) for s, x in
                                                  zip(sessions, feeds, strict=True)]]
        assert runner.calls == [4]
        for outcome, feed in zip(outcomes, feeds, strict=True):
            assert (outcome.batch, outcome.padded) == (3, 4)
            np.testing.assert_allclose(outcome.outputs["frame"], _expected(feed))
        assert batcher.stats()["padded_sizes"] == {"4": 1}


def test_a_model_of_fixed_shapes_runs_one_frame_per_call() -> None:
    runner = FixedSizes(None)
    with Batcher(lambda: runner, LONG_MS) as batcher:
        sessions = [batcher.session() for _ in range(3)]
        futures = [s.submit(_feed(i)) for i, s in enumerate(sessions)]
        assert [f.result(timeout=2).batch for f in futures] == [1, 1, 1]
    assert runner.calls == [1, 1, 1]


def test_errors_reach_the_waiter_of_the_frame_that_caused_them() -> None:
    with Batcher(FixedSizes, LONG_MS) as batcher:
        sessions = [batcher.session() for _ in range(3)]
        with pytest.raises(InputError, match="shape"):  # a wrong feed fails its own submit
            sessions[0].submit({"label": np.zeros((1, 3, 4, 4)), "previous": np.zeros(SHAPE)})
        bad = _feed(1)
        bad["label"][0, 0, 0, 0] = np.nan
        feeds = [_feed(0), bad, _feed(2)]
        futures = [s.submit(f) for s, f in zip(sessions, feeds, strict=True)]
        np.testing.assert_allclose(futures[0].result(timeout=2).outputs["frame"],
                                   _expected(feeds[0]))
        with pytest.raises(RuntimeError, match="NaN"):
            futures[1].result(timeout=2)
        np.testing.assert_allclose(futures[2].result(timeout=2).outputs["frame"],
                                   _expected(feeds[2]))
        assert batcher.stats()["failed"] == 1


def test_closing_releases_the_waiters_and_the_runner() -> None:
    runner = FixedSizes()
    batcher = Batcher(lambda: runner, LONG_MS).start()
    a, _ = batcher.session(), batcher.session()
    pending = a.submit(_feed(0))
    batcher.close()
    with pytest.raises(BatcherClosed):
        pending.result(timeout=2)
    with pytest.raises(BatcherClosed):
        a.submit(_feed(1))
    assert runner.exited and runner.calls == []
    batcher.close()  # twice is fine


def test_coroutines_await_their_frames() -> None:
    async def main(batcher: Batcher) -> list:
        sessions = [batcher.session() for _ in range(3)]
        return await asyncio.gather(*(s.infer_async(_feed(i)) for i, s in enumerate(sessions)))

    with Batcher(FixedSizes, LONG_MS) as batcher:
        outcomes = asyncio.run(main(batcher))
    assert [o.batch for o in outcomes] == [3, 3, 3]
    for i, outcome in enumerate(outcomes):
        np.testing.assert_allclose(outcome.outputs["frame"], _expected(_feed(i)))


def test_only_gpu_backends_share_a_batcher() -> None:
    def gpu() -> bool:
        return True

    def cpu_only() -> bool:
        return False

    assert batching_device("ort-cuda") == "cuda" and batching_device("trt") == "cuda"
    assert batching_device("torch", "cuda") == "cuda"
    assert batching_device("torch", "auto", gpu) == "cuda"
    assert batching_device("torch", "auto", cpu_only) is None
    assert not uses_shared_batcher("torch", "cpu", gpu)
    for backend in ("ort-cpu", "ort-trt"):
        assert not uses_shared_batcher(backend, "cuda", gpu)


def test_sessions_share_one_batcher_per_model_and_device(program) -> None:
    registry = BatcherRegistry(window_ms=LONG_MS)
    runners = [SharedRunner("torch", program, "cuda", registry, device="cpu")
               for _ in range(2)]
    feeds = [_feed(5), _feed(6)]
    with runners[0], runners[1]:
        assert len(registry) == 1 and runners[0].batcher is runners[1].batcher
        assert runners[0].inputs[0].shape == SHAPE
        results = [None, None]

        def call(i: int) -> None:
            results[i] = runners[i].infer(feeds[i])["frame"]

        threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        for got, feed in zip(results, feeds, strict=True):
            np.testing.assert_allclose(got, _expected(feed), atol=1e-6)
        assert registry.stats()[0]["batch_sizes"] == {"2": 1}
        other = SharedRunner("torch", program, "cuda:1", registry, device="cpu")
        assert registry.key("cuda:1", "torch", program, {}) != \
            registry.key("cuda", "torch", program, {})
        del other
    assert len(registry) == 0  # the last user closed it
    assert not isinstance(open_shared_runner("torch", program, "cpu"), SharedRunner)


def test_cpu_renderers_keep_their_own_models_and_gpu_ones_share(monkeypatch) -> None:
    bundle = load_bundle(DEMO_AVATAR)
    own = sharing.open_renderer(bundle, "ort-cpu", use_face=False, threads=1)
    assert not isinstance(own.generator, SharedRunner)
    assert sharing.batching_stats(own) is None
    # As on a GPU backend, with the CPU's runner behind the shared batcher.
    monkeypatch.setattr(sharing, "batching_device", lambda backend, device: "cuda")
    registry = BatcherRegistry(window_ms=2.0)
    label = np.random.default_rng(0).uniform(-1, 1, (1, 3, bundle.resolution,
                                                     bundle.resolution)).astype(np.float32)
    with AvatarRenderer(bundle, "ort-cpu", use_face=False, threads=1) as reference:
        expected = [reference.generate(label), reference.generate(label)]
    shared = [sharing.open_renderer(bundle, "ort-cpu", use_face=False, registry=registry,
                                    threads=1) for _ in range(2)]
    with shared[0], shared[1]:
        assert isinstance(shared[0].generator, SharedRunner) and len(registry) == 1
        for step in range(2):  # each keeps its own previous frame
            for renderer in shared:
                np.testing.assert_allclose(renderer.generate(label), expected[step],
                                           atol=1e-5)
        assert sharing.batching_stats(shared[0])[0]["frames"] == 4
    assert len(registry) == 0
