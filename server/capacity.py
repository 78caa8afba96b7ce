"""How many sessions this machine can keep at a live frame rate: measured at start.

A session costs, per frame, its pipeline (pose, label, render, finish: timed by
`engine.pipeline.cost` with every model on one thread) plus its video codecs (the
camera's decoding with aiortc's decoder, the avatar's encoding with the stream's shared
encoder, at the sizes a session uses). One CPU gives 1000 ms a second, so a session at
`fps` frames a second takes `fps * cost_ms / 1000` CPUs. Of the process's CPUs a share (`headroom`)
is counted as usable: the rest goes to the event loop that moves every session's
packets, to Python's own overhead, and to the frame-to-frame swings of each stage. The
capacity is the whole number of sessions that fit, at least one (a machine too slow for
one session at `fps` still serves one, slower; `GET /stats` says so).

On a GPU backend the stages whose models run there (render and finish for the avatar's
backend, pose for the pose backend's) are counted against the GPU instead, with the
same arithmetic (one GPU: 1000 ms a second, each session's frames one after another,
no batching assumed), and the capacity is the smaller of the two.

`measure_capacity` does this once for every avatar served and keeps the dearest;
`Capacity` is what `GET /stats` shows, with how it was found.
"""

from __future__ import annotations

import fractions
import logging
import math
import statistics
import time
from dataclasses import asdict, dataclass

import numpy as np
from aiortc.codecs import depayload, get_decoder, get_encoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from engine.avatar import AvatarBundle
from engine.pipeline import PipelineConfig
from engine.pipeline.affinity import available_cpus
from engine.pipeline.cost import measure_pipeline_ms
from server.broadcast import SharedEncoder
from server.videoframes import video_frame

log = logging.getLogger(__name__)

TARGET_FPS = 25.0  # the frame rate each admitted session must be able to keep
HEADROOM = 0.8  # share of the CPUs counted as usable for pipelines and codecs
CAMERA_SIZE = 480  # pixels: the camera frames a session decodes (the page sends 480p)
TIMED_FRAMES = 20  # frames timed per avatar, after the warm-up
VIDEO_CLOCK = 90_000
CODECS = {"VP8": "video/VP8", "H264": "video/H264"}
GPU_BACKENDS = ("ort-cuda", "ort-trt", "trt")


def device_stages(pipeline: PipelineConfig) -> set[str]:
    """The stages whose models run on a GPU with these backends."""
    stages = set()
    if pipeline.backend in GPU_BACKENDS:
        stages |= {"render", "finish"}
    if pipeline.pose_backend in GPU_BACKENDS:
        stages.add("pose")
    return stages


@dataclass(frozen=True)
class Capacity:
    """The sessions admitted, and how the number was found."""

    sessions: int
    method: str  # "measured" or "configured" (--max-sessions)
    cpus: int = 0
    fps: float = TARGET_FPS
    headroom: float = HEADROOM
    cost_ms: float | None = None  # CPU per frame of the dearest avatar, pipeline + codecs
    gpu_ms: float | None = None  # GPU per frame (GPU backends only)
    cpus_per_session: float | None = None
    avatar: str | None = None  # the dearest avatar
    stages_ms: dict[str, float] | None = None
    measure_seconds: float | None = None
    note: str | None = None

    def to_json(self) -> dict:
        return {k: (round(v, 2) if isinstance(v, float) else v)
                for k, v in asdict(self).items() if v is not None}


def configured(sessions: int) -> Capacity:
    return Capacity(sessions=sessions, method="configured", cpus=len(available_cpus()),
                    note="set with --max-sessions")


def sessions_that_fit(cost_ms: float, cpus: int, fps: float = TARGET_FPS,
                      headroom: float = HEADROOM) -> int:
    """Whole sessions at `fps` whose frames cost `cost_ms` of CPU each, on `cpus` CPUs of
    which `headroom` is usable; at least 1."""
    if cost_ms <= 0 or cpus < 1 or fps <= 0 or not 0 < headroom <= 1:
        raise ValueError(f"cost {cost_ms} ms, {cpus} CPUs, {fps} fps, headroom {headroom}: "
                         "all must be positive (headroom at most 1)")
    return max(1, math.floor(cpus * headroom * 1000.0 / (fps * cost_ms)))


def codec_ms(avatar_size: int, codec: str = "VP8", camera_size: int = CAMERA_SIZE,
             frames: list[np.ndarray] | None = None) -> dict[str, float]:
    """Median ms to decode a camera frame (aiortc's decoder) and to encode an avatar frame
    (the stream's encoder, `server.broadcast`): `decode`, `encode`; `frames` are
    camera-sized RGB images (a performer dancing: moving content costs what a real camera
    does)."""
    if codec not in CODECS:
        raise ValueError(f"codec {codec!r}: use one of {', '.join(CODECS)}")
    params = RTCRtpCodecParameters(mimeType=CODECS[codec], clockRate=VIDEO_CLOCK,
                                   payloadType=96)
    frames = frames or [np.full((camera_size, camera_size, 3), 128, np.uint8)]
    camera_encoder, decoder = get_encoder(params), get_decoder(params)
    avatar_encoder = SharedEncoder(CODECS[codec].lower())
    encode, decode = [], []
    for i, image in enumerate(frames):
        frame = video_frame(image)
        frame.pts, frame.time_base = i * 3000, fractions.Fraction(1, VIDEO_CLOCK)
        payloads, timestamp = camera_encoder.encode(frame, force_keyframe=i == 0)
        data = b"".join(depayload(params, p) for p in payloads)
        start = time.perf_counter()
        decoder.decode(JitterFrame(data=data, timestamp=timestamp))
        decode.append(time.perf_counter() - start)
        avatar = video_frame(np.ascontiguousarray(image[:avatar_size, :avatar_size]))
        avatar.pts, avatar.time_base = frame.pts, frame.time_base
        start = time.perf_counter()
        avatar_encoder.encode(avatar, keyframe=i == 0)
        encode.append(time.perf_counter() - start)
    skip = 1 if len(frames) > 1 else 0  # the first is a keyframe: dearer than the rest
    return {"decode": statistics.median(decode[skip:]) * 1e3,
            "encode": statistics.median(encode[skip:]) * 1e3}


def measure_capacity(avatars: dict[str, AvatarBundle], pipeline: PipelineConfig,
                     codec: str = "VP8", fps: float = TARGET_FPS,
                     headroom: float = HEADROOM, cpus: int | None = None) -> Capacity:
    """Time a session of each avatar on this machine and admit what the dearest allows."""
    from server.loopback import performer_frames

    started = time.perf_counter()
    cpus = cpus or len(pipeline.cpus or available_cpus())
    frames = [image for image, _ in performer_frames(seconds=1.0, size=CAMERA_SIZE, fps=25)]
    dearest: tuple[float, float, str, dict[str, float]] | None = None
    for name, bundle in avatars.items():
        stages = measure_pipeline_ms(bundle, pipeline, frames)
        stages.update(codec_ms(min(bundle.resolution, CAMERA_SIZE), codec,
                               frames=frames[:TIMED_FRAMES]))
        stages.pop("total")
        on_gpu = device_stages(pipeline)
        cost = sum(v for k, v in stages.items() if k not in on_gpu)
        gpu = sum(v for k, v in stages.items() if k in on_gpu)
        log.info("a session of %s costs %.1f ms of CPU%s a frame (%s)", name, cost,
                 f" and {gpu:.1f} ms of GPU" if on_gpu else "",
                 ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
        if dearest is None or cost + gpu > dearest[0] + dearest[1]:
            dearest = (cost, gpu, name, stages)
    if dearest is None:
        raise ValueError("no avatar to measure")
    cost, gpu, name, stages = dearest
    sessions = sessions_that_fit(cost, cpus, fps, headroom)
    if gpu > 0:
        sessions = min(sessions, sessions_that_fit(gpu, 1, fps, headroom))
    per_session = fps * cost / 1000.0
    note = None
    if per_session > cpus * headroom:
        note = (f"one session of {name} needs {per_session:.2f} CPUs at {fps:g} fps, more than "
                f"this machine's {cpus * headroom:.2f} usable: it is served, below {fps:g} fps")
        log.warning("%s", note)
    return Capacity(sessions=sessions, method="measured", cpus=cpus, fps=fps,
                    headroom=headroom, cost_ms=cost, gpu_ms=gpu or None,
                    cpus_per_session=per_session,
                    avatar=name, stages_ms={k: round(v, 2) for k, v in stages.items()},
                    measure_seconds=time.perf_counter() - started, note=note)
