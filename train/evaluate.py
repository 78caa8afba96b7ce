"""Evaluate a trained run the way the paper does.

Renders the chosen frames from their label maps in order, feeding each generated
frame back as the next one's previous frame (restarting after a gap), applies the face
residual where the run has one, and reports:

* `ssim`, `psnr`: whole frame against the real frame;
* `face_ssim`, `face_psnr`: the same on the face boxes;
* `flicker`: mean |(gen_t - gen_t-1) - (real_t - real_t-1)| in [0, 1] units, the
  frame-to-frame change the real video does not have;
* `pose_distance`: BlazePose run on the generated frames, mean distance of the 12 limb
  joints to the input pose, as a fraction of the image height;
* `redetect_rate` (and `missed_rate`): frames where BlazePose finds the person.

LPIPS needs network weights that are never downloaded; it is reported as null.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity
from tqdm import tqdm

from engine.avatar import AvatarBundle, is_bundle, load_bundle
from engine.errors import InputError
from engine.keypoints import LIMB_JOINTS
from engine.pose import create_estimator
from engine.renderer import AvatarRenderer
from engine.runners.base import resolve_backend
from engine.skeleton import tensor_to_image
from train.data import PreparedData
from train.models import FaceConfig, FaceGenerator, Generator, GeneratorConfig
from train.trainer import checkpoint_path, crop_batch, load_checkpoint, to_tensor

log = logging.getLogger(__name__)

PAPER = {"ssim": 0.898, "face_ssim": 0.830}  # Everybody Dance Now, temporal + face GAN


@dataclass
class TrainedModels:
    generator: Generator
    face: FaceGenerator | None
    stage: str
    step: int


def load_run(run: str | os.PathLike[str], use_face: bool = True,
             stage: str | None = None) -> TrainedModels:
    """The newest trained models of a run: face stage if present, else temporal, else
    global; or exactly the checkpoint of `stage` when one is named."""
    run = Path(run)
    if stage is not None:
        if not checkpoint_path(run, stage).exists():
            raise InputError(f"{run} has no {stage} stage ({checkpoint_path(run, stage).name})")
        stages: tuple[str, ...] = (stage,)
    else:
        stages = ("face", "temporal", "global") if use_face else ("temporal", "global")
    for stage in stages:
        path = checkpoint_path(run, stage)
        if not path.exists():
            continue
        ckpt = load_checkpoint(path)
        g = Generator(GeneratorConfig.from_dict(ckpt["generator_config"]))
        g.load_state_dict(ckpt["generator"])
        face = None
        if stage == "face":
            face = FaceGenerator(FaceConfig.from_dict(ckpt["face_config"]),
                                 g.config.label_channels, g.config.image_channels)
            face.load_state_dict(ckpt["face"])
            face.eval()
        return TrainedModels(g.eval(), face, stage, int(ckpt["step"]))
    raise InputError(f"{run} holds no checkpoint (checkpoint-*.pt): train it first")


MAX_PSNR = 100.0  # identical images: a finite ceiling keeps the JSON valid


def psnr(real: np.ndarray, gen: np.ndarray) -> float:
    """Peak signal-to-noise ratio of uint8 images, dB (at most `MAX_PSNR`)."""
    mse = float(np.mean((real.astype(np.float64) - gen.astype(np.float64)) ** 2))
    return MAX_PSNR if mse == 0 else min(MAX_PSNR, 10.0 * np.log10(255.0 ** 2 / mse))


def _u8(t: torch.Tensor) -> np.ndarray:
    return t.clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).numpy()


def _continues(data: PreparedData, i: int, last: int) -> bool:
    """Whether frame `i` directly follows frame `last` in the same video (no gap)."""
    return i == last + 1 and data.video[i] == data.video[last]


def render_frames(models: TrainedModels, data: PreparedData, indices: np.ndarray,
                  progress: bool = False) -> Iterator[tuple[int, np.ndarray]]:
    """(index, generated uint8 frame) in order, with temporal feedback and the face."""
    g, face = models.generator, models.face
    previous: torch.Tensor | None = None
    last = -2
    with torch.no_grad():
        for i in tqdm(indices, desc="render", unit="frame", disable=not progress, leave=False):
            label = to_tensor(data.labels[i:i + 1], torch.device("cpu"))
            if not _continues(data, i, last):
                previous = None  # a gap: start over from zeros
            out = g(label, previous) if g.config.temporal else g(label)
            previous = out
            last = i
            box = data.face_boxes[i]
            if face is not None and box[2] > 0:
                out = apply_face(face, label, out, box)
            yield int(i), _u8(out)[0]


def apply_face(face: FaceGenerator, label: torch.Tensor, frame: torch.Tensor,
               box: np.ndarray) -> torch.Tensor:
    """`frame` with the face generator's residual added inside `box` (x0, y0, side)."""
    crop = face.config.crop
    lab_c, gen_c = crop_batch(label, box[None], crop), crop_batch(frame, box[None], crop)
    residual = face(lab_c, gen_c)
    x0, y0, side = (int(v) for v in box)
    up = F.interpolate(residual, size=(side, side), mode="bilinear", align_corners=False)
    out = frame.clone()
    region = out[:, :, y0:y0 + side, x0:x0 + side]
    out[:, :, y0:y0 + side, x0:x0 + side] = (region + up).clamp(-1, 1)
    return out


def _face_metrics(gen: np.ndarray, real: np.ndarray, box: np.ndarray) -> tuple[float, float]:
    x0, y0, side = (int(v) for v in box)
    g, r = gen[y0:y0 + side, x0:x0 + side], real[y0:y0 + side, x0:x0 + side]
    return (structural_similarity(g, r, channel_axis=2, data_range=255, win_size=7),
            psnr(r, g))


def render_bundle_frames(renderer: AvatarRenderer, data: PreparedData, indices: np.ndarray,
                         progress: bool = False) -> Iterator[tuple[int, np.ndarray]]:
    """As `render_frames`, through an avatar bundle's runners (any backend)."""
    last = -2
    for i in tqdm(indices, desc="render", unit="frame", disable=not progress, leave=False):
        if not _continues(data, i, last):
            renderer.reset()
        last = i
        label = np.asarray(data.labels[i], dtype=np.float32).transpose(2, 0, 1)[None]
        box = data.face_boxes[i]
        frame = renderer.render(label / 127.5 - 1.0, box if box[2] > 0 else None)
        yield int(i), tensor_to_image(frame)


def evaluate(models: TrainedModels, data: PreparedData, split: str = "val",
             progress: bool = False,
             estimator_factory: Callable[[], object] | None = None) -> dict:
    """Metrics of `models` on `data`'s `split` frames (see the module docstring)."""
    indices = _split_indices(data, split)
    frames = render_frames(models, data, indices, progress)
    return {"split": split, "frames": len(indices), "stage": models.stage, "step": models.step,
            **measure(frames, data, indices, estimator_factory)}


def evaluate_bundle(bundle: AvatarBundle, data: PreparedData, split: str = "val",
                    backend: str = "ort-cpu", progress: bool = False,
                    estimator_factory: Callable[[], object] | None = None,
                    use_face: bool = True) -> dict:
    """Metrics of an avatar bundle run on `backend` (the shipped artefact itself)."""
    indices = _split_indices(data, split)
    if bundle.resolution != data.size:
        raise InputError(f"the avatar renders {bundle.resolution}px but the data is "
                         f"{data.size}px")
    with AvatarRenderer(bundle, backend, use_face=use_face) as renderer:
        frames = render_bundle_frames(renderer, data, indices, progress)
        metrics = measure(frames, data, indices, estimator_factory)
        generator_ms = renderer.generator.times.summary().get("p50_ms")
    source = bundle.manifest.get("source", {})
    return {"split": split, "frames": len(indices), "stage": source.get("stage"),
            "step": source.get("step"), "backend": resolve_backend(backend),
            "precision": bundle.precision,
            "generator_p50_ms": generator_ms, **metrics}


def _split_indices(data: PreparedData, split: str) -> np.ndarray:
    indices = data.indices(split)
    if len(indices) == 0:
        raise InputError(f"split {split!r} of {data.root} has no frames with a person")
    return indices


def measure(frames: Iterator[tuple[int, np.ndarray]], data: PreparedData, indices: np.ndarray,
            estimator_factory: Callable[[], object] | None = None) -> dict:
    """The paper's metrics of generated `frames` ((index, uint8 frame), in order)."""
    h = data.size
    ssim, psnrs, face_ssim, face_psnr, flicker, dist = [], [], [], [], [], []
    found = 0
    prev_gen = prev_real = None
    last = -2
    factory = estimator_factory or (lambda: create_estimator("mediapipe", video=True))
    with factory() as est:
        for i, gen in frames:
            real = np.asarray(data.frames[i])
            ssim.append(structural_similarity(gen, real, channel_axis=2, data_range=255))
            psnrs.append(psnr(real, gen))
            if data.face_boxes[i, 2] > 0:
                fs, fp = _face_metrics(gen, real, data.face_boxes[i])
                face_ssim.append(fs)
                face_psnr.append(fp)
            if not _continues(data, i, last):
                est.reset()
            elif prev_gen is not None:
                d_gen = gen.astype(np.float32) - prev_gen
                d_real = real.astype(np.float32) - prev_real
                flicker.append(float(np.abs(d_gen - d_real).mean() / 255.0))
            prev_gen, prev_real, last = gen.astype(np.float32), real.astype(np.float32), i
            pose = est.estimate(gen)
            if np.isfinite(pose[LIMB_JOINTS, :2]).all():
                found += 1
                truth = data.keypoints[i, LIMB_JOINTS, :2]
                err = np.linalg.norm(pose[LIMB_JOINTS, :2] - truth, axis=1)
                if np.isfinite(err).any():  # the input pose may lack some limb joints
                    dist.append(float(np.nanmean(err)) / h)
    n = len(indices)
    mean = lambda v: float(np.mean(v)) if v else None  # noqa: E731
    return {
        "ssim": mean(ssim), "psnr": mean(psnrs), "face_ssim": mean(face_ssim),
        "face_psnr": mean(face_psnr), "face_frames": len(face_ssim), "flicker": mean(flicker),
        "pose_distance": mean(dist), "redetect_rate": found / n, "missed_rate": 1 - found / n,
        "lpips": None, "lpips_note": "needs LPIPS network weights, which are never downloaded",
        "paper": PAPER,
    }


def evaluate_run(run: str | os.PathLike[str], data_dir: str | os.PathLike[str],
                 split: str = "val", out: str | os.PathLike[str] | None = None,
                 use_face: bool = True, progress: bool = False,
                 backend: str | None = None) -> dict:
    """Evaluate a training run or an avatar bundle; write the metrics as JSON to `out`.

    A bundle runs on `backend` (default ort-cpu); a training run runs in torch."""
    if is_bundle(run):
        bundle = load_bundle(run, verify=True)
        result = evaluate_bundle(bundle, PreparedData(data_dir), split, backend or "ort-cpu",
                                 progress, use_face=use_face)
    else:
        if backend not in (None, "torch"):
            raise InputError(f"{run} is a training run, which evaluates in torch; export it "
                             f"(dancenow export) to evaluate on {backend}")
        models = load_run(run, use_face=use_face)
        data = PreparedData(data_dir)
        if models.generator.config.resolution != data.size:
            raise InputError(f"the run renders {models.generator.config.resolution}px but the "
                             f"data is {data.size}px")
        result = evaluate(models, data, split, progress)
    metrics = {"run": str(Path(run)), "data": str(Path(data_dir)), **result}
    if out is not None:
        out = Path(out)
        tmp = out.with_name(out.name + ".part")
        tmp.write_text(json.dumps(metrics, indent=2))
        os.replace(tmp, out)
    return metrics
