"""Real camera framings, measured on the avatar's own frames: the acceptance criteria of
DESIGN.md's "Real capture conditions".

The synthetic performer is filmed the way real cameras film people (`synth.framing`),
then turned into the avatar by `dancenow render` (`engine.pipeline.offline.render_video`,
its default pose backend) and by the live pipeline (offered in real time, the server's
default pose backend). BlazePose re-detects the pose on every avatar frame. Measures,
with their targets:

1. Desk view (16:9, head to hips), several motions and frame sizes. Legs: the share of
   avatar frames where it stands on both legs, i.e. both ankles are found (visibility >=
   0.5) inside the frame and, on each side, the ankle is below the knee and the knee
   below the hip (>= 95%). Arms: per frame, a uniform scale and a translation (least
   squares) map the performer's true shoulders, elbows and wrists onto the avatar's
   re-detected ones; the mean distance left over the avatar frame's height, median over
   the frames that show all six of the performer's arm joints (<= 0.04).
2. Zoom (whole body -> desk -> whole body): how far the avatar's hips and ankles move
   from one output frame to the next during the zooms (and one second after each), over
   the frame height: max and p99 (never more than 0.03), on the re-detected pose and on
   the engine's own output pose (which leaves out re-detection noise). `dancenow render`
   gets the clip at a webcam's 30 fps, the live pipeline at the rate it keeps up with
   here (`--fps`), so its steps span twice the time.
3. Two people, the performer dancing and another actor idling beside and behind: the
   share of avatar frames whose re-detected limbs the dancer's true pose explains better
   than the other actor's (the same fit over the limb joints both show) (100%).
4. Whole body in a square frame: the legs and arms measures of 1 (no worse than before).

BlazePose now and then takes the avatar's front for its back and exchanges its left and
right joints. Measures 2 and 3 are given both ways: with the labels as found, and with the
left/right labelling that fits best (a pair of joints matched to the previous frame's in
the order that moves it least; a fit to either labelling); the engine's own output pose
needs neither. Frames that miss a target are listed with the engine's mode and output
pose beside the re-detected one, so that a failure can be traced to the engine, the
generator or the re-detection.

    python -m benchmarks.framing [--seconds 3] [--avatars avatars/demo-live avatars/demo]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.machine import machine, reference_ms
from benchmarks.report import command_line, write_results
from engine.avatar import DEMO_AVATAR, DEMO_LIVE_AVATAR, AvatarBundle, load_bundle
from engine.errors import InputError
from engine.keypoints import LIMB_JOINTS, LM, MIRROR, KeypointTrack, keypoints_path_for
from engine.pose import create_estimator
from engine.video import read_frames
from synth.clip import SECOND_TAG, ClipSpec, synth_clip
from synth.framing import ZOOM_TIMING

log = logging.getLogger("benchmarks.framing")
RESULTS = Path(__file__).resolve().parent / "results" / "framing"

TARGET_STANDS = 0.95  # share of avatar frames standing on both legs, at least
TARGET_ARMS = 0.04  # median arm residual, of the frame height, at most
TARGET_STEP = 0.03  # hips' and ankles' movement per frame during a zoom, at most
TARGET_FOLLOW = 1.0  # share of frames that follow the dancer, at least

MIN_ANKLE_VISIBILITY = 0.5
SIDES = ("left", "right")
LEG_PARTS = ("hip", "knee", "ankle")
ARM_JOINTS: tuple[int, ...] = tuple(LM[f"{side}_{part}"] for part in ("shoulder", "elbow", "wrist")
                                    for side in SIDES)
STEP_PAIRS: tuple[tuple[int, int], ...] = ((LM["left_hip"], LM["right_hip"]),
                                           (LM["left_ankle"], LM["right_ankle"]))
SETTLE_SECONDS = 1.0  # after a zoom stops: the engine's mode ease and joints' return
MAX_LISTED = 12  # failing frames listed per run
LARGEST = 3  # largest zoom steps listed per row

# (motion, seed, width, height) of the clips. The desk clips: three motions at a webcam's
# usual small size, one again at 1280x720.
DESK_CLIPS: tuple[tuple[str, int, int, int], ...] = (
    ("wave", 1, 640, 360), ("dance", 2, 640, 360), ("sidestep", 3, 640, 360),
    ("dance", 4, 1280, 720))
ZOOM_CLIP = ("wave", 6, 640, 360)
TWO_CLIP = ("dance", 7, 640, 360)  # a whole-body 16:9 room, the dancer left of centre
FULL_CLIP = ("dance", 5, 512, 512)
ZOOM_TAIL = 1.5  # seconds of the zoom clip after one whole cycle
PARTS = ("desk", "zoom", "two", "full")
PATHS = ("render", "live")


# -- measures on poses -----------------------------------------------------------------------
def leg_failure(pose: np.ndarray, size: int) -> str:
    """Why the avatar does not stand on both legs in `pose` (re-detected, `[33, 3]` in a
    `size` x `size` frame), or "" when it does."""
    for side in SIDES:
        hip, knee, ankle = (pose[LM[f"{side}_{part}"]] for part in LEG_PARTS)
        if not np.isfinite(np.concatenate([hip[:2], knee[:2], ankle[:2]])).all():
            return f"{side} leg not found"
        if ankle[2] < MIN_ANKLE_VISIBILITY:
            return f"{side} ankle visibility {ankle[2]:.2f}"
        if not (0 <= ankle[0] < size and 0 <= ankle[1] < size):
            return f"{side} ankle outside the frame ({ankle[0]:.0f}, {ankle[1]:.0f})"
        if not ankle[1] > knee[1] > hip[1]:
            return (f"{side} leg out of order: hip, knee, ankle rows {hip[1]:.0f}, "
                    f"{knee[1]:.0f}, {ankle[1]:.0f}")
    return ""


def fit_residual(truth: np.ndarray, found: np.ndarray) -> float:
    """Mean distance between `found` (`[N, 2]`) and `truth` (`[N, 2]`) mapped onto it by
    the least-squares uniform scale and translation, in `found`'s units."""
    p = truth.astype(np.float64) - truth.mean(axis=0)
    q = found.astype(np.float64) - found.mean(axis=0)
    spread = float((p * p).sum())
    scale = float((p * q).sum()) / spread if spread > 0 else 0.0
    return float(np.linalg.norm(scale * p - q, axis=1).mean())


def arm_residual(truth: np.ndarray, found: np.ndarray, height: int) -> float | None:
    """The arms' fit residual over the avatar frame's `height`; None when the performer
    does not show all six arm joints, inf when the avatar's are not all found."""
    joints = list(ARM_JOINTS)
    if not (truth[joints, 2] > 0).all():
        return None
    if not np.isfinite(found[joints, :2]).all():
        return float("inf")
    return fit_residual(truth[joints, :2], found[joints, :2]) / height


def follow_residuals(dancer: np.ndarray, other: np.ndarray, found: np.ndarray, height: int,
                     relabel: bool = False) -> tuple[float, float] | None:
    """The fit residuals (over `height`) of the avatar's limbs in `found` from the dancer's
    true pose and from the other actor's, over the limb joints both actors show; None when
    fewer than 4 of them are found. With `relabel`, each residual is the smaller of `found`
    as labelled and with its left and right joints exchanged."""
    variants = [found, found[list(MIRROR)]] if relabel else [found]
    joints = [j for j in LIMB_JOINTS if dancer[j, 2] > 0 and other[j, 2] > 0
              and all(np.isfinite(v[j, :2]).all() for v in variants)]
    if len(joints) < 4:
        return None
    dancer_fit, other_fit = (min(fit_residual(truth[joints, :2], v[joints, :2])
                                 for v in variants) / height for truth in (dancer, other))
    return dancer_fit, other_fit


def frame_steps(poses: np.ndarray, height: int,
                relabel: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per pair of consecutive frames, the largest movement of the hips and ankles over
    `height` (`[T - 1]`, NaN where none of them is found in both frames), and where a
    pair's left and right changed places (`[T - 1]` bool, with `relabel`).

    With `relabel`, each pair (the hips, the ankles) is matched to the previous frame's in
    the order that moves it least."""
    xy = poses[:, :, :2].astype(np.float64)
    steps = np.full(len(xy) - 1, np.nan)
    swapped = np.zeros(len(xy) - 1, dtype=bool)
    for k in range(1, len(xy)):
        moves = []
        for a, b in STEP_PAIRS:
            da = np.linalg.norm(xy[k, a] - xy[k - 1, a])
            db = np.linalg.norm(xy[k, b] - xy[k - 1, b])
            same = np.nanmax([da, db]) if np.isfinite([da, db]).any() else np.nan
            if relabel:
                cross = max(np.linalg.norm(xy[k, a] - xy[k - 1, b]),
                            np.linalg.norm(xy[k, b] - xy[k - 1, a]))
                if np.isfinite(cross) and not cross >= same:
                    swapped[k - 1], same = True, cross
            moves.append(same)
        if np.isfinite(moves).any():
            steps[k - 1] = np.nanmax(moves) / height
    return steps, swapped


def in_transition(t: np.ndarray) -> np.ndarray:
    """Times (seconds) during a zoom of the `zoom` framing, or within `SETTLE_SECONDS` after."""
    z = ZOOM_TIMING
    t = np.asarray(t, dtype=np.float64)
    phase = t % z.period
    zoom_in = (phase >= z.wide) & (phase <= z.wide + z.zoom_in + SETTLE_SECONDS)
    zoom_out = phase >= z.wide + z.zoom_in + z.close
    # the settling second after a zoom out reaches into the next cycle's wide part
    zoom_out |= (phase < SETTLE_SECONDS) & (t >= z.period)
    return zoom_in | zoom_out


def _stats(values: Iterable[float]) -> dict[str, float | None]:
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"max": None, "p99": None, "median": None}
    return {"max": float(v.max()), "p99": float(np.percentile(v, 99)),
            "median": float(np.median(v))}


def _count(items: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def _joint_rows(pose: np.ndarray, joints: Sequence[str]) -> dict[str, list[float]]:
    return {name: [round(float(v), 2) for v in pose[LM[name]]] for name in joints}


LEG_NAMES = tuple(f"{side}_{part}" for side in SIDES for part in LEG_PARTS)


# -- clips and avatar runs ------------------------------------------------------------------
@dataclass
class Clip:
    """A synthesized clip on disk with its ground truth."""

    name: str
    spec: ClipSpec
    path: Path
    truth: np.ndarray  # [T, 33, 3] the performer, source pixels, visibility 0 outside
    second: np.ndarray | None = None  # [T, 33, 3] the second actor, if any


def make_clip(name: str, spec: ClipSpec, folder: Path) -> Clip:
    path = folder / f"{name}.mp4"
    track = synth_clip(spec, path, progress=False)
    second = None
    if spec.second_actor is not None:
        second = KeypointTrack.load(keypoints_path_for(path, SECOND_TAG)).keypoints
    log.info("clip %s: %dx%d at %g fps, %d frames", name, *spec.frame_size, spec.fps,
             len(track))
    return Clip(name, spec, path, track.keypoints, second)


@dataclass
class AvatarRun:
    """The avatar's frames for one clip, re-detected, beside what the engine asked for."""

    path: str  # render | live
    avatar: str
    size: int  # avatar frame side, pixels
    fps: float  # the source's frame rate
    indices: np.ndarray  # [N] source frame of each avatar frame
    found: np.ndarray  # [N, 33, 3] BlazePose on the avatar frames
    engine: np.ndarray  # [N, 33, 3] the pose the engine asked the generator for
    modes: list[str]  # the engine's mode per avatar frame
    frames_in: int = 0
    extra: dict = field(default_factory=dict)


def redetect(frames: Iterable[np.ndarray], detector: str) -> np.ndarray:
    """BlazePose (video mode) on the avatar's frames, `[N, 33, 3]`."""
    with create_estimator(detector, video=True) as est:
        return np.stack([est.estimate(f) for f in frames])


def engine_poses(clip: Clip, bundle: AvatarBundle, pose_backend: str,
                 cache: dict[tuple[str, str], KeypointTrack]) -> tuple[np.ndarray, list[str]]:
    """What `dancenow render` asks the generator for on each frame, and the modes (the
    source's poses are estimated once per clip and pose backend)."""
    from engine.pipeline.offline import RenderOptions, framed_poses
    from engine.pose.video import estimate_video

    key = (clip.name, pose_backend)
    if key not in cache:
        cache[key] = estimate_video(clip.path, backend=pose_backend, progress=False)
    track = cache[key]
    options = RenderOptions(pose_backend=pose_backend)
    framed = framed_poses(track.keypoints, track.size, bundle, options.smooth, track.fps,
                          options)
    return np.stack([f.pose for f in framed]), [f.mode for f in framed]


def render_run(clip: Clip, bundle: AvatarBundle, pose_backend: str, detector: str,
               folder: Path, cache: dict[tuple[str, str], KeypointTrack]) -> AvatarRun:
    """`dancenow render` of the clip, then re-detection on its frames."""
    from engine.pipeline.offline import RenderOptions, render_video

    out = folder / f"{clip.name}.{bundle.name}.avatar.mp4"
    summary = render_video(clip.path, bundle, out, RenderOptions(pose_backend=pose_backend))
    found = redetect(read_frames(out), detector)
    engine, modes = engine_poses(clip, bundle, pose_backend, cache)
    if len(engine) != len(found):
        raise RuntimeError(f"{out}: {len(found)} frames for {len(engine)} poses")
    return AvatarRun("render", bundle.name, bundle.resolution, clip.spec.fps,
                     np.arange(len(found)), found, engine, modes, frames_in=summary["frames"])


def live_run(clip: Clip, bundle: AvatarBundle, pose_backend: str, detector: str,
             pose_models: str | None = None) -> AvatarRun:
    """The clip offered to the live pipeline in real time at its frame rate (`pose_models`:
    the converted BlazePose folder, default the user cache)."""
    from engine.pipeline import LiveFrame, LivePipeline, PipelineConfig
    from engine.pipeline.sources import FramesSource

    frames = list(read_frames(clip.path))
    shown: list[tuple[int, np.ndarray, np.ndarray, str, bool]] = []

    async def sink(frame: LiveFrame) -> None:
        shown.append((frame.index, frame.output, frame.normalized, frame.mode, frame.held))

    config = PipelineConfig(pose_backend=pose_backend, pose_models=pose_models)
    with LivePipeline(bundle, config) as pipe:
        stats = asyncio.run(pipe.run(FramesSource(frames, fps=clip.spec.fps, realtime=True),
                                     sink))
    del frames
    found = redetect((s[1] for s in shown), detector)
    return AvatarRun("live", bundle.name, bundle.resolution, clip.spec.fps,
                     np.array([s[0] for s in shown]), found, np.stack([s[2] for s in shown]),
                     [s[3] for s in shown], frames_in=stats["frames_in"],
                     extra={"dropped": stats["dropped"], "held": sum(s[4] for s in shown)})


# -- measures over runs ---------------------------------------------------------------------
def legs_and_arms(run: AvatarRun, clip: Clip) -> dict:
    """Measures 1 and 4 over one run; the first MAX_LISTED failing frames with the engine's
    mode and output pose beside the re-detected one."""
    fails = [(k, why) for k, pose in enumerate(run.found) if (why := leg_failure(pose, run.size))]
    arms = [arm_residual(clip.truth[i], pose, run.size)
            for i, pose in zip(run.indices, run.found, strict=True)]
    used = np.array([a for a in arms if a is not None], dtype=np.float64)
    listed = []
    for n, (k, why) in enumerate(fails):
        item = {"frame": int(run.indices[k]), "why": why, "mode": run.modes[k]}
        if n < MAX_LISTED:
            item.update(engine=_joint_rows(run.engine[k], LEG_NAMES),
                        found=_joint_rows(run.found[k], LEG_NAMES))
            log.warning("%s %s %s frame %d (%s): %s; engine %s; re-detected %s", clip.name,
                        run.path, run.avatar, item["frame"], item["mode"], why,
                        item["engine"], item["found"])
        listed.append(item)
    return {"frames": len(run.found), "frames_in": run.frames_in,
            "modes": dict(sorted(_count(run.modes).items())),
            "stands": 1.0 - len(fails) / max(len(run.found), 1),
            "arm_median": float(np.median(used)) if used.size else None,
            "arm_p90": float(np.percentile(used, 90)) if used.size else None,
            "arm_frames": int(used.size), "arm_lost": int(np.isinf(used).sum()),
            "leg_failures": listed, **run.extra}


def zoom_steps(poses: np.ndarray, indices: np.ndarray, fps: float, height: int,
               modes: Sequence[str], relabel: bool) -> dict:
    """Measure 2 over one sequence of output poses (`indices`: their source frames)."""
    steps, swapped = frame_steps(poses, height, relabel)
    during = in_transition(indices[1:] / fps)
    ranked = sorted((k for k in np.flatnonzero(during) if np.isfinite(steps[k])),
                    key=lambda k: -steps[k])
    largest = [{"frame": int(indices[k + 1]), "step": float(steps[k]),
                "modes": f"{modes[k]} -> {modes[k + 1]}", "relabelled": bool(swapped[k])}
               for k in ranked[:LARGEST]]
    out = {"pairs": int(during.sum()), "lost": int(np.isnan(steps[during]).sum()),
           "transitions": _stats(steps[during]), "whole_clip": _stats(steps),
           "largest": largest}
    if relabel:
        labelled, _ = frame_steps(poses, height)
        out["as_labelled"] = _stats(labelled[during])
        out["relabelled"] = int(swapped[during].sum())
    return out


def follow(run: AvatarRun, clip: Clip) -> dict:
    """Measure 3 over one run: on the re-detected pose (labels as found, and the best
    labelling) and on the engine's own output pose, with the frames that miss."""
    if clip.second is None:
        raise InputError(f"{clip.name} has no second actor")
    counts = {"follows": 0, "follows_as_labelled": 0, "engine_follows": 0}
    fits, fails = [], []
    for k, i in enumerate(run.indices):
        dancer, other = clip.truth[i], clip.second[i]
        best = follow_residuals(dancer, other, run.found[k], run.size, relabel=True)
        labelled = follow_residuals(dancer, other, run.found[k], run.size)
        engine = follow_residuals(dancer, other, run.engine[k], run.size)
        ok = {"follows": best, "follows_as_labelled": labelled, "engine_follows": engine}
        for name, r in ok.items():
            counts[name] += r is not None and r[0] < r[1]
        if best is not None:
            fits.append(best)
        if not all(r is not None and r[0] < r[1] for r in ok.values()):
            fails.append({"frame": int(i), "mode": run.modes[k], **{
                name: None if r is None else [round(r[0], 4), round(r[1], 4)]
                for name, r in ok.items()}})
    n = max(len(run.indices), 1)
    return {"frames": len(run.indices), "frames_in": run.frames_in,
            **{name: c / n for name, c in counts.items()},
            "dancer_median": float(np.median([f[0] for f in fits])) if fits else None,
            "other_median": float(np.median([f[1] for f in fits])) if fits else None,
            "least_margin": min((f[1] - f[0] for f in fits), default=None),
            "failures": fails, **run.extra}


# -- the benchmark ------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    seconds: float = 3.0  # length of the desk, two-people and whole-body clips
    fps: float = 15.0  # frame rate of those clips and of the live pipeline's zoom source
    zoom_fps: float = 30.0  # frame rate of the zoom clip that `dancenow render` gets
    avatars: tuple[str, ...] = (str(DEMO_LIVE_AVATAR), str(DEMO_AVATAR))
    parts: tuple[str, ...] = PARTS
    paths: tuple[str, ...] = PATHS
    render_pose_backend: str = "mediapipe"  # `dancenow render`'s default
    live_pose_backend: str = "ort-cpu"  # the backend these results were measured on
    detector: str = "mediapipe"  # re-detection on the avatar's frames
    desk_clips: tuple[tuple[str, int, int, int], ...] = DESK_CLIPS


class Bench:
    """One run of the benchmark: its settings, avatars and work folder."""

    def __init__(self, settings: Settings, folder: Path) -> None:
        self.s = settings
        self.folder = folder
        self.bundles = [load_bundle(a, verify=True) for a in settings.avatars]
        self.cache: dict[tuple[str, str], KeypointTrack] = {}

    def clip(self, name: str, motion: str, seed: int, width: int, height: int,
             **kw: object) -> Clip:
        spec = ClipSpec(actor="performer", motion=motion, seed=seed, width=width,
                        height=height, **{"seconds": self.s.seconds, "fps": self.s.fps, **kw})
        return make_clip(f"{name}-{motion}-{width}x{height}-{spec.fps:g}fps", spec,
                         self.folder)

    def run(self, path: str, clip: Clip, bundle: AvatarBundle) -> AvatarRun:
        s = self.s
        if path == "render":
            return render_run(clip, bundle, s.render_pose_backend, s.detector, self.folder,
                              self.cache)
        return live_run(clip, bundle, s.live_pose_backend, s.detector)

    def legs_rows(self, clips: list[Clip], paths: Sequence[str]) -> list[dict]:
        rows = []
        for clip in clips:
            for bundle in self.bundles:
                for path in paths:
                    run = self.run(path, clip, bundle)
                    row = {"clip": clip.name, "path": path, "avatar": bundle.name,
                           **legs_and_arms(run, clip)}
                    log.info("%s %s %s: stands %.1f%%, arm residual median %s", clip.name,
                             path, bundle.name, 100 * row["stands"],
                             _fmt(row["arm_median"], 4))
                    rows.append(row)
        return rows

    def desk(self) -> list[dict]:
        clips = [self.clip("desk", m, seed, w, h, framing="desk")
                 for m, seed, w, h in self.s.desk_clips]
        return self.legs_rows(clips, self.s.paths)

    def zoom(self) -> dict:
        m, seed, w, h = ZOOM_CLIP
        seconds = ZOOM_TIMING.period + ZOOM_TAIL
        rows = []
        for path in self.s.paths:
            fps = self.s.zoom_fps if path == "render" else self.s.fps
            clip = self.clip("zoom", m, seed, w, h, framing="zoom", seconds=seconds, fps=fps)
            for bundle in self.bundles:
                run = self.run(path, clip, bundle)
                base = {"path": path, "avatar": bundle.name, "fps": fps, **run.extra}
                rows.append({**base, "pose": "engine output", "modes": _count(run.modes),
                             **zoom_steps(run.engine, run.indices, fps, run.size, run.modes,
                                          relabel=False)})
                rows.append({**base, "pose": "re-detected",
                             **zoom_steps(run.found, run.indices, fps, run.size, run.modes,
                                          relabel=True)})
                for row in rows[-2:]:
                    log.info("zoom %s %s (%s): max %s, p99 %s, largest %s", path, bundle.name,
                             row["pose"], _fmt(row["transitions"]["max"], 4),
                             _fmt(row["transitions"]["p99"], 4), row["largest"])
        return {"clip": f"zoom-{m}-{w}x{h}", "seconds": seconds, "rows": rows,
                "windows": f"each zoom and the {SETTLE_SECONDS:g} s after it"}

    def two(self) -> list[dict]:
        m, seed, w, h = TWO_CLIP
        clip = self.clip("two", m, seed, w, h, framing="full", place_x=0.4,
                         second_actor="target", second_motion="idle")
        rows = []
        for bundle in self.bundles:
            for path in self.s.paths:
                row = {"clip": clip.name, "path": path, "avatar": bundle.name,
                       **follow(self.run(path, clip, bundle), clip)}
                for f in row["failures"][:MAX_LISTED]:
                    log.warning("two people, %s %s frame %d: %s", path, bundle.name,
                                f["frame"], f)
                rows.append(row)
        return rows

    def full(self) -> list[dict]:
        m, seed, w, h = FULL_CLIP
        return self.legs_rows([self.clip("full", m, seed, w, h, framing="full")], ("render",))


def run_benchmark(s: Settings, folder: Path) -> dict:
    """Every measure of the module docstring: one report section per part, and a verdict."""
    from export.blazepose import ensure_pose_models

    for backend in sorted({s.render_pose_backend, s.live_pose_backend, s.detector}):
        ensure_pose_models(backend)
    bench = Bench(s, folder)
    report: dict[str, object] = {"part_seconds": {}}
    for part in s.parts:
        start = time.perf_counter()
        report[part] = getattr(bench, part)()
        report["part_seconds"][part] = round(time.perf_counter() - start, 1)
    report["verdict"] = verdict(report)
    return report


def verdict(report: dict) -> dict[str, dict]:
    """Each target against the worst row of its part."""
    out: dict[str, dict] = {}

    def add(name: str, worst: float, target: float, higher_is_better: bool) -> None:
        ok = worst >= target if higher_is_better else worst <= target
        out[name] = {"worst": worst, "target": target, "pass": bool(ok),
                     "share": higher_is_better}

    for part in ("desk", "full"):
        if rows := report.get(part):
            add(f"{part}: stands on both legs", min(r["stands"] for r in rows),
                TARGET_STANDS, True)
            add(f"{part}: arm residual (median)",
                max(np.inf if r["arm_median"] is None else r["arm_median"] for r in rows),
                TARGET_ARMS, False)
    if zoom := report.get("zoom"):
        for name, pose, key in (("engine output", "engine output", "transitions"),
                                ("re-detected", "re-detected", "transitions"),
                                ("re-detected, labels as found", "re-detected", "as_labelled")):
            worst = max((np.inf if r[key]["max"] is None else r[key]["max"]
                         for r in zoom["rows"] if r["pose"] == pose), default=np.inf)
            add(f"zoom: hips/ankles step, {name}", worst, TARGET_STEP, False)
    if rows := report.get("two"):
        for name, key in (("re-detected", "follows"),
                          ("re-detected, labels as found", "follows_as_labelled"),
                          ("engine output", "engine_follows")):
            add(f"two people: follows the dancer, {name}", min(r[key] for r in rows),
                TARGET_FOLLOW, True)
    return out


# -- report ---------------------------------------------------------------------------------
def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "—"
    if not np.isfinite(x):
        return "inf"
    return f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _legs_table(rows: list[dict]) -> list[str]:
    lines = ["| clip | path | avatar | frames out / in | modes | stands on both legs | "
             "arm residual median | p90 | arm frames (lost) |",
             "|---|---|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        modes = ", ".join(f"{k} {v}" for k, v in r["modes"].items())
        lines.append(f"| {r['clip']} | {r['path']} | {r['avatar']} | {r['frames']} / "
                     f"{r['frames_in']} | {modes} | {_pct(r['stands'])} | "
                     f"{_fmt(r['arm_median'], 4)} | {_fmt(r['arm_p90'], 4)} | "
                     f"{r['arm_frames']} ({r['arm_lost']}) |")
    return lines


def _zoom_table(zoom: dict) -> list[str]:
    lines = ["| path | avatar | fps | pose | pairs (lost) | max | p99 | largest steps "
             "(frame: step, modes) | labels as found: max | relabelled | whole clip max |",
             "|---|---|---:|---|---:|---:|---:|---|---:|---:|---:|"]
    for r in zoom["rows"]:
        largest = "; ".join(f"{x['frame']}: {x['step']:.3f}, {x['modes']}"
                            + (" (relabelled)" if x["relabelled"] else "")
                            for x in r["largest"])
        labelled = r.get("as_labelled")
        lines.append(f"| {r['path']} | {r['avatar']} | {r['fps']:g} | {r['pose']} | "
                     f"{r['pairs']} ({r['lost']}) | {_fmt(r['transitions']['max'], 4)} | "
                     f"{_fmt(r['transitions']['p99'], 4)} | {largest} | "
                     f"{_fmt(labelled['max'], 4) if labelled else '—'} | "
                     f"{r.get('relabelled', '—')} | {_fmt(r['whole_clip']['max'], 4)} |")
    return lines


def _two_table(rows: list[dict]) -> list[str]:
    lines = ["| clip | path | avatar | frames out / in | follows the dancer (re-detected) | "
             "labels as found | engine output | residual to the dancer (median) | "
             "to the other actor | least margin |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['clip']} | {r['path']} | {r['avatar']} | {r['frames']} / "
                     f"{r['frames_in']} | {_pct(r['follows'])} | "
                     f"{_pct(r['follows_as_labelled'])} | {_pct(r['engine_follows'])} | "
                     f"{_fmt(r['dancer_median'], 4)} | {_fmt(r['other_median'], 4)} | "
                     f"{_fmt(r['least_margin'], 4)} |")
    return lines


def markdown(report: dict) -> str:
    m, s = report["machine"], report["settings"]
    reference = (f"; reference (generator of `{report['reference_avatar']}`, one thread) "
                 f"{report['reference_ms']:.1f} ms" if report.get("reference_ms") else "")
    lines = ["# Real camera framings: the avatar's own frames", "",
             f"Command: `{report['command']}`", "",
             f"Machine: {m['cpu']}, {m['cores']} cores{reference}. Clips of "
             f"{s['seconds']:g} s at {s['fps']:g} fps (the zoom: one cycle and "
             f"{ZOOM_TAIL:g} s, at {s['zoom_fps']:g} fps for `render`, {s['fps']:g} fps live); "
             f"`render` is `dancenow render` (pose `{s['render_pose_backend']}`), `live` the "
             f"live pipeline offered in real time (pose `{s['live_pose_backend']}`); the "
             f"avatar's frames are re-detected with `{s['detector']}`. Time per part (s): "
             + ", ".join(f"{k} {v:g}" for k, v in report["part_seconds"].items()) + ".", "",
             "| target | worst | goal | |", "|---|---:|---:|---|"]
    for name, v in report["verdict"].items():
        worst = _pct(v["worst"]) if v["share"] else _fmt(v["worst"], 4)
        goal = f">= {_pct(v['target'])}" if v["share"] else f"<= {v['target']:.2f}"
        lines.append(f"| {name} | {worst} | {goal} | {'pass' if v['pass'] else '**FAIL**'} |")
    if report.get("desk"):
        lines += ["", "## 1. Desk view (16:9, head to hips)", "", *_legs_table(report["desk"])]
    if zoom := report.get("zoom"):
        lines += ["", f"## 2. Zoom ({zoom['clip']}): hips and ankles per output frame, of the "
                      f"frame height, during {zoom['windows']}", "", *_zoom_table(zoom)]
    if report.get("two"):
        lines += ["", "## 3. Two people: the avatar follows the dancer", "",
                  *_two_table(report["two"])]
        misses = [r for r in report["two"] if r["failures"]]
        if misses:
            lines += ["", "Frames that miss (residuals to the dancer and to the other actor: "
                          "re-detected, labels as found, engine output):", ""]
            for r in misses:
                listed = "; ".join(
                    f"{f['frame']}: " + ", ".join("—" if f[key] is None else
                                                  f"{f[key][0]:.3f}/{f[key][1]:.3f}"
                                                  for key in ("follows", "follows_as_labelled",
                                                              "engine_follows"))
                    for f in r["failures"][:MAX_LISTED])
                lines.append(f"* {r['path']} {r['avatar']}: {listed}")
    if report.get("full"):
        lines += ["", "## 4. Whole body (square frame)", "", *_legs_table(report["full"])]
    failing = [r for part in ("desk", "full") for r in report.get(part) or []
               if r["leg_failures"]]
    if failing:
        lines += ["", "## Frames where the avatar does not stand on both legs", ""]
        for r in failing:
            listed = "; ".join(f"{f['frame']} ({f['mode']}): {f['why']}"
                               for f in r["leg_failures"][:MAX_LISTED])
            lines.append(f"* {r['clip']} {r['path']} {r['avatar']}: {listed}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    d = Settings()
    parser.add_argument("--seconds", type=float, default=d.seconds,
                        help="length of the desk, two-people and whole-body clips")
    parser.add_argument("--fps", type=float, default=d.fps,
                        help="frame rate of those clips and of the live pipeline's zoom source")
    parser.add_argument("--zoom-fps", type=float, default=d.zoom_fps,
                        help="frame rate of the zoom clip that `dancenow render` gets")
    parser.add_argument("--avatars", nargs="+", default=list(d.avatars), help="avatar bundles")
    parser.add_argument("--parts", nargs="+", default=list(d.parts), choices=PARTS,
                        help="measures to run (desk view, zoom, two people, whole body)")
    parser.add_argument("--paths", nargs="+", default=list(d.paths), choices=PATHS,
                        help="`dancenow render`, the live pipeline, or both")
    parser.add_argument("--desk-clips", type=int, default=len(DESK_CLIPS),
                        choices=range(1, len(DESK_CLIPS) + 1), metavar="N",
                        help=f"run the first N of the {len(DESK_CLIPS)} desk clips")
    parser.add_argument("--render-pose-backend", default=d.render_pose_backend,
                        help="pose estimator of `dancenow render`")
    parser.add_argument("--live-pose-backend", default=d.live_pose_backend,
                        help="pose estimator of the live pipeline")
    parser.add_argument("--detector", default=d.detector,
                        help="pose estimator that re-detects the avatar")
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if min(args.seconds, args.fps, args.zoom_fps) <= 0:
        raise InputError("--seconds, --fps and --zoom-fps must be positive")
    settings = Settings(seconds=args.seconds, fps=args.fps, zoom_fps=args.zoom_fps,
                        avatars=tuple(args.avatars), parts=tuple(args.parts),
                        paths=tuple(args.paths), render_pose_backend=args.render_pose_backend,
                        live_pose_backend=args.live_pose_backend, detector=args.detector,
                        desk_clips=DESK_CLIPS[:args.desk_clips])
    report: dict[str, object] = {"command": command_line("benchmarks.framing", argv),
                                 "machine": machine(),
                                 "reference_avatar": Path(settings.avatars[0]).name,
                                 "reference_ms": reference_ms(settings.avatars[0]),
                                 "settings": vars(settings)}
    with tempfile.TemporaryDirectory(prefix="framing-") as tmp:
        report.update(run_benchmark(settings, Path(tmp)))
    write_results(args.out, "framing", report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
