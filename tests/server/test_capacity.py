"""Admission by measured capacity: the arithmetic, the measurement on real models and
codecs, what `GET /stats` says, and the CPUs each admitted session gets."""

from __future__ import annotations

import math

import pytest

from engine.avatar import load_bundle
from engine.pipeline import PipelineConfig
from server.app import CAPACITY, MANAGER, ServeConfig, create_app
from server.capacity import (
    HEADROOM,
    TARGET_FPS,
    Capacity,
    codec_ms,
    configured,
    device_stages,
    measure_capacity,
    sessions_that_fit,
)
from server.loopback import LoopbackClient, performer_frames
from server.session import SessionOptions


def test_sessions_that_fit_the_cpus() -> None:
    # 40 ms a frame at 25 fps is one CPU a session; 80 % of 8 CPUs holds 6 of them.
    assert sessions_that_fit(40.0, 8, fps=25, headroom=0.8) == 6
    assert sessions_that_fit(10.0, 2, fps=25, headroom=0.8) == 6  # 3.2 CPUs... of 1.6
    assert sessions_that_fit(10.0, 64, fps=30, headroom=1.0) == 213
    # A machine too slow for one session still serves one (slower).
    assert sessions_that_fit(500.0, 2) == 1
    for bad in ((0.0, 2), (10.0, 0)):
        with pytest.raises(ValueError, match="positive"):
            sessions_that_fit(*bad)
    with pytest.raises(ValueError, match="headroom"):
        sessions_that_fit(10.0, 2, headroom=1.5)


def test_gpu_backends_move_their_stages_off_the_cpus() -> None:
    assert device_stages(PipelineConfig(backend="ort-cpu", pose_backend="ort-cpu")) == set()
    assert device_stages(PipelineConfig(backend="trt", pose_backend="ort-cpu")) == {
        "render", "finish"}
    assert device_stages(PipelineConfig(backend="ort-cuda", pose_backend="ort-cuda")) == {
        "render", "finish", "pose"}


def test_codecs_are_timed_with_aiortcs_own() -> None:
    frames = [f for f, _ in performer_frames(seconds=0.5, size=128, fps=12)]
    for codec in ("VP8", "H264"):
        times = codec_ms(64, codec, frames=frames)
        assert set(times) == {"decode", "encode"}
        assert all(0 < t < 1000 for t in times.values()), times
    with pytest.raises(ValueError, match="codec"):
        codec_ms(64, "AV1")


def test_capacity_is_measured_from_the_dearest_avatar(tiny_bundles, pose_models) -> None:
    avatars = {p: load_bundle(path) for p, path in tiny_bundles.items()}
    pipeline = PipelineConfig(pose_backend="ort-cpu", pose_models=str(pose_models))
    for cpus in (64,):  # a big server's CPU count, the models timed on this machine
        capacity = measure_capacity(avatars, pipeline, cpus=cpus)
        assert capacity.method == "measured" and capacity.avatar in avatars
        assert set(capacity.stages_ms) == {"pose", "label", "render", "finish", "decode",
                                           "encode"}
        assert capacity.cost_ms == pytest.approx(sum(capacity.stages_ms.values()), rel=0.01)
        expected = max(1, math.floor(cpus * HEADROOM * 1000 / (TARGET_FPS * capacity.cost_ms)))
        assert capacity.sessions == expected
        assert capacity.cpus_per_session == pytest.approx(TARGET_FPS * capacity.cost_ms / 1000)
        shown = capacity.to_json()
        assert shown["sessions"] == expected and shown["cpus"] == cpus
        assert capacity.gpu_ms is None and "gpu_ms" not in shown
    with pytest.raises(ValueError, match="no avatar"):
        measure_capacity({}, pipeline)


def test_stats_say_how_the_capacity_was_found_and_503_past_it(run_app, tiny_bundles) -> None:
    bundle = load_bundle(tiny_bundles["fp16"])
    measured = Capacity(sessions=1, method="measured", cpus=2, cost_ms=61.5,
                        cpus_per_session=1.54, avatar=bundle.name)
    app = create_app(ServeConfig(
        avatars={bundle.name: bundle}, max_sessions=measured.sessions, capacity=measured,
        session=SessionOptions(pipeline=PipelineConfig(pose_backend="mediapipe"))))
    frames = [f for f, _ in performer_frames()]

    async def body(http, app) -> None:  # noqa: ANN001
        stats = await (await http.get("/stats")).json()
        assert stats["capacity"] == measured.to_json() and stats["max_sessions"] == 1
        first, second = LoopbackClient(frames), LoopbackClient(frames)
        camera = LoopbackClient(frames, direction="sendonly")  # a WHIP client's
        try:
            res = await http.post("/offer", json=await first.offer())
            assert res.status == 200
            await first.answer(await res.json())
            res = await http.post("/offer", json=await second.offer())
            assert res.status == 503 and "busy" in (await res.json())["error"]
            assert int(res.headers["Retry-After"]) > 0
            res = await http.post("/whip", data=(await camera.offer())["sdp"],
                                  headers={"Content-Type": "application/sdp"})
            assert res.status == 503 and int(res.headers["Retry-After"]) > 0
        finally:
            for client in (first, second, camera):
                await client.close()

    run_app(app, body)


def test_without_a_measurement_the_capacity_is_the_configured_one(tiny_bundles) -> None:
    bundle = load_bundle(tiny_bundles["fp16"])
    app = create_app(ServeConfig(avatars={bundle.name: bundle}, max_sessions=3))
    assert app[CAPACITY] == configured(3) and app[CAPACITY].method == "configured"


def test_sessions_get_disjoint_cpus_where_there_are_enough(tiny_bundles) -> None:
    bundle = load_bundle(tiny_bundles["fp16"])
    # The pipelines' CPUs as a 16-CPU machine's (nothing is pinned until a session
    # starts, so the plan is checked without one).
    many = PipelineConfig(cpus=tuple(range(16)))
    app = create_app(ServeConfig(avatars={bundle.name: bundle}, max_sessions=4,
                                 session=SessionOptions(pipeline=many)))
    pool = app[MANAGER].cpu_sets
    leases = [pool.lease(f"s{i}") for i in range(4)]
    assert all(lease is not None and len(lease) == 4 for lease in leases)
    assert len({c for lease in leases for c in lease}) == 16
    few = create_app(ServeConfig(avatars={bundle.name: bundle}, max_sessions=4,
                                 session=SessionOptions(pipeline=PipelineConfig(cpus=(0, 1)))))
    assert few[MANAGER].cpu_sets.lease("s0") is None  # 4 sessions on 2 CPUs share them
