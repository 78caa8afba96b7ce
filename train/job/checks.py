"""Input checks of an avatar job, before any training: one clear line each.

Before preparing, each video is probed and a few frames spread over it are decoded
(seeking, not reading it all) and given to BlazePose:

* too short: each video at least `MIN_VIDEO_SECONDS`, all of them together at least
  `MIN_TOTAL_SECONDS` (an error that says how much is needed);
* nobody in view in any of the sampled frames (an error);
* the person cut by the video's frame in most sampled frames (an error; `train.framing`
  decides what "cut" is);
* a moving camera (a warning only: the method assumes a static camera, whose
  background stays put): corners of the background, outside the person's box, tracked
  over half a second at a few moments; the camera moved when they moved (their median
  shift over 1% of the width) at a third of those moments or more. A plain wall gives
  too few corners to tell, and then nothing is said.

After preparing, the same framing rules on every frame (`check_prepared`), and the
output folders: their nearest existing folder must take a file (`check_writable`).
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from engine.errors import InputError
from engine.keypoints import visible_mask
from engine.pose import PoseEstimator, create_estimator
from engine.video import probe
from train.framing import framing_report

log = logging.getLogger(__name__)

MIN_VIDEO_SECONDS = 1.0  # each video
MIN_TOTAL_SECONDS = 5.0  # all the videos together
GOOD_TOTAL_SECONDS = 60.0  # under this, a warning: a good avatar needs minutes
PERSON_SAMPLES = 8  # frames per video given to BlazePose
CUT_MOST = 0.5  # a share of cut frames (of those with a person) above this is an error
MOTION_SAMPLES = 6  # frame pairs per video for the camera's motion
MOTION_GAP_S = 0.5  # seconds between the frames of a pair
MOVING_SHARE = 0.01  # background moved by more than this share of the frame's width...
MOVING_PAIRS = 1 / 3  # ...in at least this share of the pairs where it could be measured
BOX_MARGIN = 0.15  # the person's box grown by this share of its size before masking


@dataclass(frozen=True)
class VideoScan:
    """What the checks found in one video."""

    path: str
    seconds: float
    fps: float
    frames: int
    frame_size: tuple[int, int]
    sampled: int  # frames given to BlazePose
    with_person: int  # of them, frames with a person
    cut_share: float  # of the frames with a person, the share cut by the video's frame
    camera_moved: float | None  # share of the checked moments where the background moved
    pose_seconds: float  # BlazePose's time per frame here

    def to_dict(self) -> dict:
        return asdict(self)


def check_writable(folder: Path, what: str) -> None:
    """Raise `InputError` unless `folder` can be created (or written) here."""
    probe_at = folder
    while not probe_at.exists():
        if probe_at.parent == probe_at:
            break
        probe_at = probe_at.parent
    if not probe_at.is_dir():
        raise InputError(f"cannot write the {what} {folder}: {probe_at} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=probe_at):
            pass
    except OSError as exc:
        raise InputError(f"cannot write the {what} {folder}: {probe_at} is not writable "
                         f"({exc.strerror or exc})") from exc


def _duration(container: av.container.InputContainer, stream: av.video.VideoStream,
              fps: float, frames: int | None) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return (frames or 0) / fps


def frames_at(path: Path, times: list[float]) -> tuple[float, list[np.ndarray]]:
    """(duration in seconds, the RGB frames nearest each of `times`, in the same order)."""
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot open {path} as a video: {exc}") from exc
    out: list[np.ndarray] = []
    with container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 30)
        duration = _duration(container, stream, rate, stream.frames or None)
        start = stream.start_time or 0
        try:
            for t in times:
                container.seek(start + int(max(t, 0.0) / stream.time_base), stream=stream,
                               backward=True)
                frame = None
                for frame in container.decode(stream):
                    if frame.time is None or frame.time >= t - 0.5 / rate:
                        break
                if frame is not None:
                    out.append(frame.to_ndarray(format="rgb24"))
        except av.error.FFmpegError as exc:
            raise InputError(f"cannot decode {path}: {exc}") from exc
    return duration, out


def _person_box(pose: np.ndarray, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) around the visible joints, grown by the margin, or None."""
    seen = visible_mask(pose, size)
    if not seen.any():
        return None
    xy = pose[seen, :2]
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    grow = BOX_MARGIN * max(x1 - x0, y1 - y0) + 8
    w, h = size
    return (int(max(0, x0 - grow)), int(max(0, y0 - grow - 0.1 * (y1 - y0))),
            int(min(w, x1 + grow)), int(min(h, y1 + grow)))


def background_motion(a: np.ndarray, b: np.ndarray, boxes: list) -> float | None:
    """Median displacement (pixels) of background corners from frame `a` to frame `b`,
    outside `boxes`; None where the background has too few corners to tell."""
    gray_a = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
    gray_b = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
    mask = np.full(gray_a.shape, 255, np.uint8)
    for box in boxes:
        if box is not None:
            x0, y0, x1, y1 = box
            mask[y0:y1, x0:x1] = 0
    corners = cv2.goodFeaturesToTrack(gray_a, maxCorners=200, qualityLevel=0.01,
                                      minDistance=8, mask=mask)
    if corners is None or len(corners) < 8:
        return None
    moved, status, _ = cv2.calcOpticalFlowPyrLK(gray_a, gray_b, corners, None)
    ok = status.ravel() == 1
    if ok.sum() < 8:
        return None
    return float(np.median(np.linalg.norm((moved - corners).reshape(-1, 2)[ok], axis=1)))


def scan_video(path: Path, estimator: PoseEstimator) -> VideoScan:
    """Probe `path` and sample it (see the module docstring)."""
    info = probe(path)
    size = (info.width, info.height)
    container_seconds, _ = frames_at(path, [])
    seconds = container_seconds or (info.frames or 0) / info.fps
    frames = info.frames or int(round(seconds * info.fps))
    if seconds < MIN_VIDEO_SECONDS:
        raise InputError(f"{path} is {seconds:.1f} s long; each video needs at least "
                         f"{MIN_VIDEO_SECONDS:.0f} s")
    times = [(i + 0.5) * seconds / PERSON_SAMPLES for i in range(PERSON_SAMPLES)]
    _, sampled = frames_at(path, times)
    if not sampled:
        raise InputError(f"{path}: no frame could be decoded")
    started = time.perf_counter()
    poses = np.stack([estimator.estimate(f) for f in sampled])
    pose_seconds = (time.perf_counter() - started) / max(len(sampled), 1)
    person = visible_mask(poses, size).any(axis=1)
    if not person.any():
        raise InputError(f"{path}: no person found in {len(sampled)} frames sampled across "
                         f"its {seconds:.1f} s; the avatar learns from one person filmed "
                         "whole, in view")
    framing = framing_report(poses, size)
    if framing["cut_share"] > CUT_MOST:
        raise InputError(f"{path}: the person is cut off by the frame in "
                         f"{framing['cut']} of {framing['detected']} sampled frames; film "
                         "the whole body, head to feet, inside the picture")
    motion = _camera_motion(path, seconds, estimator, size)
    return VideoScan(str(path), seconds, info.fps, frames, size, len(sampled),
                     int(person.sum()), framing["cut_share"], motion, pose_seconds)


def _camera_motion(path: Path, seconds: float, estimator: PoseEstimator,
                   size: tuple[int, int]) -> float | None:
    """The share of the checked moments where the background moved by more than
    `MOVING_SHARE` of the width in `MOTION_GAP_S` (None where none could be measured)."""
    gap = min(MOTION_GAP_S, seconds / 4)
    starts = [(i + 1) * (seconds - gap) / (MOTION_SAMPLES + 1) for i in range(MOTION_SAMPLES)]
    times = [t for s in starts for t in (s, s + gap)]
    _, frames = frames_at(path, times)
    shifts = []
    for a, b in zip(frames[::2], frames[1::2], strict=False):
        boxes = [_person_box(estimator.estimate(f), size) for f in (a, b)]
        shift = background_motion(a, b, boxes)
        if shift is not None:
            shifts.append(shift / size[0])
    return float(np.mean(np.array(shifts) > MOVING_SHARE)) if shifts else None


def check_videos(paths: list[Path], heldout: list[Path] | None = None) -> list[VideoScan]:
    """Scan every video (training ones, then held-out ones); raise `InputError` on bad
    input, warn on a moving camera or little footage."""
    scans = []
    with create_estimator("mediapipe", video=False) as est:
        for path in [*paths, *(heldout or [])]:
            if not path.is_file():
                raise InputError(f"video not found: {path}")
            scans.append(scan_video(path, est))
    train_seconds = sum(s.seconds for s in scans[:len(paths)])
    if train_seconds < MIN_TOTAL_SECONDS:
        raise InputError(f"the videos hold {train_seconds:.1f} s of footage; an avatar needs "
                         f"at least {MIN_TOTAL_SECONDS:.0f} s (a good one, a few minutes)")
    if train_seconds < GOOD_TOTAL_SECONDS:
        log.warning("the videos hold %.0f s of footage: enough to run, but a good avatar "
                    "needs a few minutes of the person moving in every way a performer will",
                    train_seconds)
    for s in scans:
        if s.camera_moved is not None and s.camera_moved >= MOVING_PAIRS:
            log.warning("%s: the camera seems to move (the background shifted at %.0f%% of "
                        "the moments checked); the avatar assumes a static camera: put it "
                        "on a stand", Path(s.path).name, 100 * s.camera_moved)
    return scans


def check_prepared(manifest: dict) -> None:
    """The framing rules on every prepared frame: no video without a person, none with the
    person cut off in most frames."""
    for src in manifest["sources"]:
        name = Path(src["path"]).name
        if src.get("detected", 1) == 0:
            raise InputError(f"{name}: no person found in any of its {src['frames']} frames")
        if src.get("cut_share", 0.0) > CUT_MOST:
            raise InputError(f"{name}: the person is cut off by the frame in {src['cut']} of "
                             f"{src['detected']} frames; film the whole body, head to feet, "
                             "inside the picture")


def pose_seconds(scans: list[VideoScan]) -> float:
    """BlazePose's time per frame here, from the scans (their median)."""
    return float(np.median([s.pose_seconds for s in scans])) if scans else 0.03


def total_frames(scans: list[VideoScan]) -> int:
    return int(sum(s.frames for s in scans))
