"""Prepare a target person's video(s) into a training data folder, and read it back.

A data folder holds, for every frame of every source video (in order):

* `frames.u8` / `labels.u8`: raw uint8 `[N, S, S, 3]` arrays (read as memory maps): the
  frame cut through its crop window and resized to S, and its label map;
* `keypoints.npy` float32 `[N, 33, 3]` in those S x S pixels, smoothed; joints outside
  the source frame or barely visible (`engine.keypoints.drop_unseen`) are missing;
* `face_boxes.npy` int32 `[N, 3]` (x0, y0, side; -1 where there is no face);
* `detected.npy`, `split.npy` (0 train, 1 validation), `video.npy` (source index);
* `manifest.json`: sources (each with its crop window, padding colour and framing
  counts: whole-body and cut frames), options, counts, the target's normalization
  statistics and the pose coverage report (`train.coverage`).

Poses are estimated on the whole source frames, whatever their aspect; then one square
crop window centred on the person (`train.crop`) is cut from every frame, padded where
the person does not fit a square inside the frame, so heads, hands and feet are not cut.
Videos of one frame size share their window (taken as one camera: one framing, and the
target's normalization statistics stay those of one camera); it holds the person in all
of their frames.

The last `val_fraction` of each video is held out. Preparing again with the same
inputs and options finds the folder up to date and does nothing; otherwise the folder
is rebuilt beside the old one and swapped in when complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from tqdm import tqdm

from engine.errors import InputError
from engine.face import face_box
from engine.filters import median_smooth
from engine.keypoints import drop_unseen
from engine.normalize import compute_stats
from engine.pose import create_estimator
from engine.skeleton import render_label_map, tensor_to_image
from engine.video import VideoInfo, probe, read_frames
from train.coverage import coverage_report
from train.crop import CropWindow, border_fill, choose_window, cut_window
from train.framing import framing_report, warn_if_cut

log = logging.getLogger(__name__)

FORMAT = "dancenow-data"
VERSION = 3
# 2: face boxes sized from visible face points only
# 3: poses estimated on the whole source frame; one person-centred crop window per frame size
#    (padded where it reaches past the frame); joints outside the source frame or barely
#    visible are missing; per source framing counts; the pose coverage report


@dataclass(frozen=True)
class PrepareOptions:
    size: int = 256  # side of the square frames and label maps, pixels
    max_frames: int | None = None  # per video; None keeps every frame
    smooth: int = 5  # median window over frames for the poses (odd; 1 = off)
    min_person_frames: int = 30  # fewer frames with a person than this is an error
    val_fraction: float = 0.1  # the last part of each video held out for validation
    pose_backend: str = "mediapipe"

    def validate(self) -> None:
        if self.size < 64 or self.size % 16:
            raise InputError(f"--size must be a multiple of 16 and >= 64, got {self.size}")
        if self.max_frames is not None and self.max_frames < 2:
            raise InputError(f"--max-frames must be at least 2, got {self.max_frames}")
        if not 0 < self.val_fraction < 0.5:
            raise InputError(f"the validation fraction must be within (0, 0.5), "
                             f"got {self.val_fraction}")


def _source_entry(path: Path) -> dict:
    st = path.stat()
    return {"path": str(path.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def _signature(sources: list[dict], options: PrepareOptions,
               windows: dict[tuple[int, int], CropWindow]) -> str:
    fixed = sorted([list(size), [w.x0, w.y0, w.side]] for size, w in windows.items())
    blob = json.dumps({"version": VERSION, "sources": sources, "options": asdict(options),
                       **({"windows": fixed} if fixed else {})}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def crop_windows_of(manifest: dict) -> dict[tuple[int, int], CropWindow]:
    """The crop window per source frame size of a prepared data folder's manifest: what
    `prepare(..., windows=)` takes to cut other videos of the same camera the same way."""
    windows: dict[tuple[int, int], CropWindow] = {}
    for src in manifest.get("sources", []):
        if "crop" in src and "frame_size" in src:
            crop = src["crop"]
            windows.setdefault(tuple(src["frame_size"]),
                               CropWindow(int(crop["x0"]), int(crop["y0"]), int(crop["side"])))
    return windows


def read_manifest(root: str | os.PathLike[str]) -> dict:
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise InputError(f"{root} is not a prepared data folder (no manifest.json); "
                         "run `dancenow prepare` first")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise InputError(f"{path} is not a dancenow data manifest")
    return manifest


def _is_up_to_date(out: Path, signature: str) -> bool:
    try:
        manifest = read_manifest(out)
    except InputError:
        return False
    files_ok = all((out / f).is_file() for f in manifest.get("files", {}).values())
    return manifest.get("signature") == signature and files_ok


def _estimate_poses(path: Path, info: VideoInfo, options: PrepareOptions, progress: bool
                    ) -> tuple[np.ndarray, tuple[int, int, int]]:
    """First pass: the raw poses `[T, 33, 3]` on the whole source frames (any aspect), and
    the padding colour: the median over the frames of their border colour (so that a
    fade from black at the start does not decide it)."""
    total = info.frames if options.max_frames is None or info.frames is None else \
        min(info.frames, options.max_frames)
    poses: list[np.ndarray] = []
    fills: list[tuple[int, int, int]] = []
    with create_estimator(options.pose_backend, video=True) as est:
        for i, frame in enumerate(tqdm(read_frames(path), total=total, unit="frame",
                                       desc=f"pose {path.name}", disable=not progress,
                                       leave=False)):
            if options.max_frames is not None and i >= options.max_frames:
                break
            fills.append(border_fill(frame))
            poses.append(est.estimate(frame))
    if not poses:
        raise InputError(f"{path} holds no video frames")
    r, g, b = (int(v) for v in np.median(np.array(fills), axis=0))
    return np.stack(poses), (r, g, b)


def _write_crops(path: Path, window: CropWindow, fill: tuple[int, int, int], count: int,
                 options: PrepareOptions, frames_fh: BinaryIO, progress: bool) -> None:
    """Second pass: the first `count` frames cut through `window`, resized to S, appended
    to `frames_fh`."""
    written = 0
    for frame in tqdm(read_frames(path), total=count, unit="frame", desc=f"crop {path.name}",
                      disable=not progress, leave=False):
        if written == count:
            break
        frames_fh.write(np.ascontiguousarray(cut_window(frame, window, options.size,
                                                        fill)).tobytes())
        written += 1
    if written != count:
        raise InputError(f"{path} gave {written} frames on the second reading, {count} on "
                         "the first: the file changed or decodes unreliably")


@dataclass
class _Measured:
    """A source after the first pass: its poses on the whole frames, before cropping."""

    info: VideoInfo
    poses: np.ndarray  # [T, 33, 3] source pixels, joints not there missing
    fill: tuple[int, int, int]
    framing: dict


def _measure_video(path: Path, options: PrepareOptions, progress: bool) -> _Measured:
    """First pass: poses on the whole frames and the source's framing report."""
    info = probe(path)
    frame_size = (info.width, info.height)
    raw, fill = _estimate_poses(path, info, options, progress)
    framing = framing_report(raw, frame_size)
    warn_if_cut(path.name, framing)
    # Joints outside the source frame or barely visible are missing from here on.
    return _Measured(info, drop_unseen(raw, frame_size), fill, framing)


def _shared_windows(measured: list[_Measured],
                    given: dict[tuple[int, int], CropWindow]) -> list[CropWindow]:
    """One crop window per frame size: videos of one size are taken to come from one
    camera, so they share a window around the person in all of them (the target keeps
    one framing, and its normalization statistics stay those of one camera). A frame size
    in `given` keeps the window given for it."""
    windows: dict[tuple[int, int], CropWindow] = dict(given)
    for m in measured:
        size = (m.info.width, m.info.height)
        if size not in windows:
            if given:
                log.warning("no crop window given for %dx%d videos: they get one of their "
                            "own, framed unlike the data the window came from", *size)
            same = [o.poses for o in measured if (o.info.width, o.info.height) == size]
            windows[size] = choose_window(np.concatenate(same), size)
    return [windows[(m.info.width, m.info.height)] for m in measured]


def _crop_video(path: Path, m: _Measured, window: CropWindow, options: PrepareOptions,
                frames_fh: BinaryIO, progress: bool) -> tuple[np.ndarray, float, dict]:
    """Second pass: frames cut through `window` (appended to `frames_fh`); returns the
    poses in S px, the frame rate and the source's framing entry for the manifest."""
    info = m.info
    frame_size = (info.width, info.height)
    _write_crops(path, window, m.fill, len(m.poses), options, frames_fh, progress)
    entry = {**m.framing, "frame_size": [info.width, info.height],
             "crop": window.to_dict(frame_size), "fill": list(m.fill)}
    log.info("%s: %dx%d, crop window x0=%d y0=%d side=%d; %d of %d frames show the whole "
             "body, %d are cut by the frame", path.name, info.width, info.height, window.x0,
             window.y0, window.side, m.framing["whole_body"], m.framing["frames"],
             m.framing["cut"])
    return window.map_points(m.poses, options.size), info.fps, entry


def prepare(videos: list[str | os.PathLike[str]], out: str | os.PathLike[str],
            options: PrepareOptions | None = None, progress: bool = True,
            windows: dict[tuple[int, int], CropWindow] | None = None) -> dict:
    """Build (or find up to date) the data folder `out` from `videos`; returns the manifest.

    `windows` fixes the crop window of videos of a frame size (`crop_windows_of` another
    data folder's manifest): held-out footage of a target is cut exactly like the data the
    avatar was trained on, so that it is judged in the framing it renders."""
    windows = dict(windows or {})
    options = options or PrepareOptions()
    options.validate()
    paths = [Path(v) for v in videos]
    if not paths:
        raise InputError("give at least one video")
    for p in paths:
        if not p.is_file():
            raise InputError(f"video not found: {p}")
    out = Path(out)
    if out.exists() and not (out.is_dir() and (not any(out.iterdir())
                                               or (out / "manifest.json").is_file())):
        raise InputError(f"{out} exists and is not a data folder: choose another --output "
                         "(nothing there is replaced)")
    sources = [_source_entry(p) for p in paths]
    signature = _signature(sources, options, windows)
    if _is_up_to_date(out, signature):
        log.info("%s is up to date", out)
        return read_manifest(out)
    tmp = out.with_name(f".{out.name}.preparing")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        manifest = _build(paths, sources, signature, tmp, options, progress, windows)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)
    log.info("prepared %s: %d frames (%d train, %d validation)", out, manifest["frames"],
             manifest["counts"]["train"], manifest["counts"]["val"])
    return manifest


def _build(paths: list[Path], sources: list[dict], signature: str, root: Path,
           options: PrepareOptions, progress: bool,
           given: dict[tuple[int, int], CropWindow]) -> dict:
    size = options.size
    all_poses, video_idx, split, fps = [], [], [], []
    measured = [_measure_video(path, options, progress) for path in paths]
    windows = _shared_windows(measured, given)
    with open(root / "frames.u8", "wb") as fh:
        for vi, path in enumerate(paths):
            poses, rate, framing = _crop_video(path, measured[vi], windows[vi], options, fh,
                                               progress)
            fps.append(rate)
            poses = median_smooth(poses, options.smooth) if options.smooth > 1 else poses
            n = len(poses)
            n_val = max(1, int(round(n * options.val_fraction)))
            all_poses.append(poses)
            video_idx.append(np.full(n, vi, np.int16))
            split.append(np.r_[np.zeros(n - n_val, np.uint8), np.ones(n_val, np.uint8)])
            sources[vi] = {**sources[vi], **framing}
    if len(set(round(f, 3) for f in fps)) > 1:
        log.warning("the videos have different frame rates (%s); the data keeps %.3f",
                    ", ".join(f"{f:.3f}" for f in fps), fps[0])
    keypoints = np.concatenate(all_poses).astype(np.float32)
    detected = ~np.isnan(keypoints[:, :, 0]).all(axis=1)
    if detected.sum() < options.min_person_frames:
        raise InputError(f"only {int(detected.sum())} of {len(keypoints)} frames contain a "
                         f"person; need at least {options.min_person_frames}")
    try:
        stats = compute_stats(keypoints[detected])
    except InputError as exc:
        cut = sum(src["cut"] for src in sources)
        raise InputError(f"{exc}; the target's normalization needs frames that show the feet "
                         f"and the head inside the picture ({cut} of {len(keypoints)} frames "
                         "are cut by the video's own frame): film the whole body") from exc
    boxes = np.full((len(keypoints), 3), -1, np.int32)
    label = None
    with open(root / "labels.u8", "wb") as fh:
        for i, pose in enumerate(keypoints):
            label = render_label_map(pose, size, size, out=label)
            fh.write(tensor_to_image(label).tobytes())
            box = face_box(pose, size, size) if detected[i] else None
            if box is not None:
                boxes[i] = box
    np.save(root / "keypoints.npy", keypoints)
    np.save(root / "face_boxes.npy", boxes)
    np.save(root / "detected.npy", detected)
    np.save(root / "split.npy", np.concatenate(split))
    np.save(root / "video.npy", np.concatenate(video_idx))
    split_all = np.concatenate(split)
    coverage = coverage_report(keypoints, np.concatenate(video_idx))
    manifest = {
        "format": FORMAT, "version": VERSION, "signature": signature,
        "size": size, "fps": fps[0], "frames": int(len(keypoints)),
        "sources": sources, "options": asdict(options),
        "counts": {"detected": int(detected.sum()),
                   "train": int(((split_all == 0) & detected).sum()),
                   "val": int(((split_all == 1) & detected).sum()),
                   "faces": int((boxes[:, 2] > 0).sum())},
        "normalization": stats.to_dict(),
        "coverage": coverage,
        "files": {"frames": "frames.u8", "labels": "labels.u8", "keypoints": "keypoints.npy",
                  "face_boxes": "face_boxes.npy", "detected": "detected.npy",
                  "split": "split.npy", "video": "video.npy"},
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


class PreparedData:
    """Read access to a prepared data folder (memory-mapped frames and labels)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.manifest = read_manifest(self.root)
        self.size = int(self.manifest["size"])
        n = int(self.manifest["frames"])
        shape = (n, self.size, self.size, 3)
        try:
            self.frames = np.memmap(self.root / "frames.u8", np.uint8, "r", shape=shape)
            self.labels = np.memmap(self.root / "labels.u8", np.uint8, "r", shape=shape)
            self.keypoints = np.load(self.root / "keypoints.npy")
            self.face_boxes = np.load(self.root / "face_boxes.npy")
            self.detected = np.load(self.root / "detected.npy")
            self.split = np.load(self.root / "split.npy")
            self.video = np.load(self.root / "video.npy")
        except (OSError, ValueError) as exc:
            raise InputError(f"{self.root} is incomplete or damaged ({exc}); prepare it "
                             "again") from exc

    def __len__(self) -> int:
        return len(self.keypoints)

    def indices(self, split: str = "train") -> np.ndarray:
        """Frames with a person in `split` (train | val | all), in order."""
        mask = self.detected.copy()
        if split == "train":
            mask &= self.split == 0
        elif split == "val":
            mask &= self.split == 1
        elif split != "all":
            raise InputError(f"unknown split {split!r}: use train, val or all")
        return np.flatnonzero(mask)

    def pair_indices(self, split: str = "train") -> np.ndarray:
        """Frames t such that t and t + 1 both show a person, in the same video and split."""
        idx = self.indices(split)
        ok = np.isin(idx + 1, idx)
        t = idx[ok]
        return t[self.video[t] == self.video[t + 1]]
