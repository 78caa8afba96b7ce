"""Prepare a target person's video(s) into a training data folder, and read it back.

A data folder holds, for every frame of every source video (in order):

* `frames.u8` / `labels.u8`: raw uint8 `[N, S, S, 3]` arrays (read as memory maps): the
  frame, centre-cropped to a square and resized to S, and its label map;
* `keypoints.npy` float32 `[N, 33, 3]` in those S x S pixels, smoothed;
* `face_boxes.npy` int32 `[N, 3]` (x0, y0, side; -1 where there is no face);
* `detected.npy`, `split.npy` (0 train, 1 validation), `video.npy` (source index);
* `manifest.json`: sources, options, counts, the target's normalization statistics.

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

import cv2
import numpy as np
from tqdm import tqdm

from engine.errors import InputError
from engine.face import face_box
from engine.filters import median_smooth
from engine.normalize import compute_stats
from engine.pose import create_estimator
from engine.skeleton import render_label_map, tensor_to_image
from engine.video import probe, read_frames

log = logging.getLogger(__name__)

FORMAT = "dancenow-data"
VERSION = 2  # 2: face boxes sized from visible face points only


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


def square_crop(width: int, height: int) -> tuple[int, int, int]:
    """(x0, y0, side) of the centred square crop of a frame."""
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, side


def _source_entry(path: Path) -> dict:
    st = path.stat()
    return {"path": str(path.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def _signature(sources: list[dict], options: PrepareOptions) -> str:
    blob = json.dumps({"version": VERSION, "sources": sources, "options": asdict(options)},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


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


def _process_video(path: Path, options: PrepareOptions, frames_fh,
                   progress: bool) -> tuple[np.ndarray, float]:
    """Decode, crop/resize (frames appended to `frames_fh`) and estimate poses in S px;
    returns the poses and the video's frame rate."""
    info = probe(path)
    x0, y0, side = square_crop(info.width, info.height)
    s = options.size / side
    total = info.frames if options.max_frames is None or info.frames is None else \
        min(info.frames, options.max_frames)
    poses = []
    with create_estimator(options.pose_backend, video=True) as est:
        for i, frame in enumerate(tqdm(read_frames(path), total=total, unit="frame",
                                       desc=f"prepare {path.name}", disable=not progress,
                                       leave=False)):
            if options.max_frames is not None and i >= options.max_frames:
                break
            square = frame[y0:y0 + side, x0:x0 + side]
            pose = est.estimate(square)
            pose[:, :2] *= s
            poses.append(pose)
            small = cv2.resize(square, (options.size, options.size),
                               interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
            frames_fh.write(np.ascontiguousarray(small).tobytes())
    if not poses:
        raise InputError(f"{path} holds no video frames")
    return np.stack(poses), info.fps


def prepare(videos: list[str | os.PathLike[str]], out: str | os.PathLike[str],
            options: PrepareOptions | None = None, progress: bool = True) -> dict:
    """Build (or find up to date) the data folder `out` from `videos`; returns the manifest."""
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
    signature = _signature(sources, options)
    if _is_up_to_date(out, signature):
        log.info("%s is up to date", out)
        return read_manifest(out)
    tmp = out.with_name(f".{out.name}.preparing")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        manifest = _build(paths, sources, signature, tmp, options, progress)
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
           options: PrepareOptions, progress: bool) -> dict:
    size = options.size
    all_poses, video_idx, split, fps = [], [], [], []
    with open(root / "frames.u8", "wb") as fh:
        for vi, path in enumerate(paths):
            poses, rate = _process_video(path, options, fh, progress)
            fps.append(rate)
            poses = median_smooth(poses, options.smooth) if options.smooth > 1 else poses
            n = len(poses)
            n_val = max(1, int(round(n * options.val_fraction)))
            all_poses.append(poses)
            video_idx.append(np.full(n, vi, np.int16))
            split.append(np.r_[np.zeros(n - n_val, np.uint8), np.ones(n_val, np.uint8)])
            sources[vi] = {**sources[vi], "frames": n,
                           "detected": int((~np.isnan(poses[:, :, 0]).all(1)).sum())}
    if len(set(round(f, 3) for f in fps)) > 1:
        log.warning("the videos have different frame rates (%s); the data keeps %.3f",
                    ", ".join(f"{f:.3f}" for f in fps), fps[0])
    keypoints = np.concatenate(all_poses).astype(np.float32)
    detected = ~np.isnan(keypoints[:, :, 0]).all(axis=1)
    if detected.sum() < options.min_person_frames:
        raise InputError(f"only {int(detected.sum())} of {len(keypoints)} frames contain a "
                         f"person; need at least {options.min_person_frames}")
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
    stats = compute_stats(keypoints[detected])
    split_all = np.concatenate(split)
    manifest = {
        "format": FORMAT, "version": VERSION, "signature": signature,
        "size": size, "fps": fps[0], "frames": int(len(keypoints)),
        "sources": sources, "options": asdict(options),
        "counts": {"detected": int(detected.sum()),
                   "train": int(((split_all == 0) & detected).sum()),
                   "val": int(((split_all == 1) & detected).sum()),
                   "faces": int((boxes[:, 2] > 0).sum())},
        "normalization": stats.to_dict(),
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
