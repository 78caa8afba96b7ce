"""The held-out data folder of an avatar job: frames that training never sees.

By default the held-out frames are the last 10% of each video: `prepare` already puts
them in its validation split, which training never samples. They are copied out as a
data folder of their own (same format, same crop window and normalization statistics,
every frame in the validation split), which the evaluation and the report read.

Why the end of every video rather than a whole video: every video keeps most of its
motions, clothing and light in training (with a single video there is no other
choice), and the held-out frames are still ones the generator never saw. Held-out
videos named apart (`--heldout`, as `make avatar` does with motions never trained on)
are prepared on their own instead, cut through the training data's crop window (their
own person-centred window would frame the target differently from everything the
generator learned, background included, and judge it on a framing it never renders;
a held-out video of a size the training data lacks gets a window of its own, with a
warning).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from engine.errors import InputError
from train.coverage import coverage_report
from train.data import PreparedData, read_manifest

CHUNK = 256  # frames copied at a time


def _up_to_date(out: Path, signature: str) -> bool:
    try:
        manifest = read_manifest(out)
    except InputError:
        return False
    return manifest.get("heldout_of", {}).get("signature") == signature


def write_heldout(data_dir: Path, out: Path) -> dict:
    """Copy the validation frames of the data folder `data_dir` into `out` (a data
    folder); returns its manifest. Does nothing when `out` is up to date."""
    data = PreparedData(data_dir)
    parent = data.manifest["signature"]
    if _up_to_date(out, parent):
        return read_manifest(out)
    keep = np.flatnonzero(data.split == 1)
    tmp = out.with_name(f".{out.name}.writing")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for name, array in (("frames.u8", data.frames), ("labels.u8", data.labels)):
            with open(tmp / name, "wb") as fh:
                for i in range(0, len(keep), CHUNK):
                    fh.write(np.ascontiguousarray(array[keep[i:i + CHUNK]]).tobytes())
        keypoints = data.keypoints[keep]
        video = data.video[keep]
        detected = data.detected[keep]
        boxes = data.face_boxes[keep]
        np.save(tmp / "keypoints.npy", keypoints)
        np.save(tmp / "face_boxes.npy", boxes)
        np.save(tmp / "detected.npy", detected)
        np.save(tmp / "split.npy", np.ones(len(keep), np.uint8))
        np.save(tmp / "video.npy", video)
        sources = [{**src, "heldout_frames": int((video == i).sum())}
                   for i, src in enumerate(data.manifest["sources"])]
        n_detected = int(detected.sum())
        manifest = {
            **data.manifest,
            "signature": hashlib.sha256(f"heldout:{parent}".encode()).hexdigest(),
            "frames": int(len(keep)), "sources": sources,
            "counts": {"detected": n_detected, "train": 0, "val": n_detected,
                       "faces": int((boxes[:, 2] > 0).sum())},
            "coverage": coverage_report(keypoints, video),
            "heldout_of": {"data": str(Path(data_dir).resolve()), "signature": parent,
                           "rule": "the validation split of each video: its last "
                                   f"{data.manifest['options']['val_fraction']:.0%}"},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return manifest
