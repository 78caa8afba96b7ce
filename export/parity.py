"""Parity: an exported ONNX model against its float32 torch module on real samples.

The samples are consecutive frames of the run's own data (validation split first): the
generator gets each label map with the torch generator's previous output (zeros for the
first), the face model gets the face crops of the label map and of that output. ONNX
Runtime (CPU) runs the exported graph on exactly those inputs; the largest absolute
difference of each output must stay within the precision's tolerance. A graph with a
dynamic batch axis also runs the samples as one batch (up to its largest), each frame
of which must match torch's output for that frame alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
import torch

from engine.errors import InputError
from export.errors import ExportError
from export.onnx_steps import ExportedModel
from train.data import PreparedData
from train.trainer import crop_batch, to_tensor

log = logging.getLogger(__name__)

TOLERANCE = {"fp32": 1e-3, "fp16": 1e-2}  # max abs error, outputs in [-1, 1]

Feeds = list[tuple[torch.Tensor, ...]]


@dataclass(frozen=True)
class ParityResult:
    model: str
    output: str
    max_abs_error: float
    tolerance: float
    samples: int

    @property
    def ok(self) -> bool:
        return self.max_abs_error <= self.tolerance


def sample_indices(data: PreparedData, count: int) -> np.ndarray:
    """Up to `count` consecutive frames of one video, from the validation split if it has any."""
    for split in ("val", "train"):
        idx = data.indices(split)
        if len(idx):
            start = idx[0]
            run = idx[(idx >= start) & (idx < start + count)]
            return run[data.video[run] == data.video[start]]
    raise InputError(f"{data.root} has no frames with a person to check parity on")


def parity_feeds(data: PreparedData, generator: torch.nn.Module, temporal: bool,
                 face_crop: int | None, count: int = 8) -> dict[str, Feeds]:
    """model name -> list of input tuples, built as the runtime would build them."""
    feeds: dict[str, Feeds] = {"generator": [], "face": []}
    previous = None
    with torch.no_grad():
        for i in sample_indices(data, count):
            label = to_tensor(data.labels[i:i + 1], torch.device("cpu"))
            if temporal:
                previous = torch.zeros_like(label) if previous is None else previous
                feeds["generator"].append((label, previous))
                frame = generator(label, previous)
                previous = frame
            else:
                feeds["generator"].append((label,))
                frame = generator(label)
            box = data.face_boxes[i]
            if face_crop is not None and box[2] > 0:
                feeds["face"].append((crop_batch(label, box[None], face_crop),
                                      crop_batch(frame, box[None], face_crop)))
    return feeds


def check_parity(model: ExportedModel, feeds: Feeds) -> list[ParityResult]:
    """One result per output; raises `ExportError` naming the first output out of tolerance."""
    if not feeds:
        raise ExportError(f"{model.name}: no samples to check parity on")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(model.onnx.SerializeToString(), opts,
                                   providers=["CPUExecutionProvider"])
    names = model.input_names
    worst = dict.fromkeys(model.output_names, 0.0)
    expected_all = []
    with torch.no_grad():
        for inputs in feeds:
            expected = model.module(*inputs)
            expected = expected if isinstance(expected, tuple) else (expected,)
            expected_all.append([e.numpy().astype(np.float64) for e in expected])
            got = session.run(None, {n: t.numpy() for n, t in zip(names, inputs, strict=True)})
            for out_name, e, g in zip(model.output_names, expected_all[-1], got, strict=True):
                worst[out_name] = max(worst[out_name], float(np.max(np.abs(e - g))))
    if model.max_batch > 1 and len(feeds) > 1:
        count = min(len(feeds), model.max_batch)
        batch = {n: np.concatenate([f[i].numpy() for f in feeds[:count]])
                 for i, n in enumerate(names)}
        got = session.run(None, batch)
        for k, out_name in enumerate(model.output_names):
            expected = np.concatenate([e[k] for e in expected_all[:count]])
            worst[out_name] = max(worst[out_name], float(np.max(np.abs(expected - got[k]))))
    tol = TOLERANCE[model.precision]
    results = [ParityResult(model.name, n, e, tol, len(feeds)) for n, e in worst.items()]
    for r in results:
        log.info("parity %s.%s (%s): max abs error %.2e (tolerance %.0e, %d samples)",
                 r.model, r.output, model.precision, r.max_abs_error, tol, r.samples)
        if not r.ok:
            raise ExportError(f"parity check failed for {r.model} output {r.output!r}: max abs "
                              f"error {r.max_abs_error:.3g} > {tol:g} ({model.precision}); "
                              "nothing was written")
    return results
