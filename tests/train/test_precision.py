"""Training arithmetic: bfloat16 autocast or float32, chosen by the hardware under `auto`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from engine.errors import InputError
from train import precision
from train.trainer import TrainConfig, Trainer, checkpoint_path, crop_batch, load_checkpoint

CPU = torch.device("cpu")


def test_auto_follows_the_hardware_and_explicit_choices_are_kept() -> None:
    assert precision.resolve("fp32", CPU) == "fp32"
    assert precision.resolve("bf16", CPU) == "bf16"
    native = precision.native_bf16(CPU)
    assert precision.resolve("auto", CPU) == ("bf16" if native else "fp32")
    with pytest.raises(InputError, match="unknown precision 'fp8'"):
        precision.resolve("fp8", CPU)
    with pytest.raises(InputError, match="unknown precision"):
        TrainConfig(precision="half").validate()


def test_bf16_runs_convolutions_in_bfloat16_and_keeps_float32_weights() -> None:
    conv = nn.Conv2d(3, 4, 3)
    x = torch.randn(1, 3, 8, 8)
    with precision.autocast("bf16", CPU):
        y = conv(x)
    assert y.dtype == torch.bfloat16
    assert conv.weight.dtype == torch.float32
    with precision.autocast("fp32", CPU):
        assert conv(x).dtype == torch.float32


def _cfg(**kw) -> TrainConfig:
    base = dict(preset="tiny", stage="temporal", iters=4, batch=2, checkpoint_every=2,
                sample_every=2, log_every=1)
    return TrainConfig(**{**base, **kw})


def test_a_bf16_stage_trains_float32_weights_and_resumes_in_fp32(tiny_data, tmp_path) -> None:
    run = tmp_path / "r"
    trainer = Trainer(tiny_data, run, _cfg(precision="bf16"), progress=False)
    assert trainer.precision == "bf16"
    trainer.run()
    ckpt = load_checkpoint(checkpoint_path(run, "temporal"))
    assert all(w.dtype == torch.float32 for w in ckpt["generator"].values()
               if w.is_floating_point())
    log = [json.loads(line) for line in (run / "train_log-temporal.jsonl").open()]
    assert len(log) == 4 and all(torch.isfinite(torch.tensor(r["l1"])) for r in log)
    assert json.loads((run / "train_config-temporal.json").read_text())["precision"] == "bf16"
    assert (run / "samples" / "temporal-000004.png").is_file()  # bfloat16 frames drawn
    # The arithmetic is not part of what a resume must match: the stage goes on in fp32.
    longer = Trainer(tiny_data, run, _cfg(iters=6, precision="fp32"), resume=True,
                     progress=False)
    assert longer.precision == "fp32" and longer.step == 4
    longer.run()
    assert load_checkpoint(checkpoint_path(run, "temporal"))["step"] == 6


def test_bf16_and_fp32_steps_differ_but_stay_close(tiny_data, tmp_path) -> None:
    weights = {}
    for mode in ("fp32", "bf16"):
        Trainer(tiny_data, tmp_path / mode, _cfg(stage="global", iters=2, precision=mode),
                progress=False).run()
        weights[mode] = load_checkpoint(checkpoint_path(tmp_path / mode, "global"))["generator"]
    diffs = [(weights["fp32"][k] - weights["bf16"][k]).abs().max().item()
             for k in weights["fp32"] if weights["fp32"][k].is_floating_point()]
    assert max(diffs) > 0  # the steps really ran in another arithmetic
    assert max(diffs) < 0.05  # two Adam steps of 2e-4 from the same start


def test_face_crops_of_bfloat16_frames_downscale_in_float32() -> None:
    """A face larger than the crop is downscaled with antialiasing, which has no bfloat16
    kernel: the generator's bfloat16 frames are cropped in float32."""
    frames = torch.rand(2, 3, 64, 64).to(torch.bfloat16)
    with precision.autocast("bf16", CPU):
        crops = crop_batch(frames, np.array([[0, 0, 48], [8, 8, 8]]), 16)
    assert crops.shape == (2, 3, 16, 16) and crops.dtype == torch.float32
    reference = crop_batch(frames.float(), np.array([[0, 0, 48], [8, 8, 8]]), 16)
    assert torch.allclose(crops, reference)


def test_a_bf16_face_stage_trains(tiny_data, tmp_path) -> None:
    run = tmp_path / "r"
    Trainer(tiny_data, run, _cfg(stage="global", iters=2, precision="bf16"), progress=False).run()
    Trainer(tiny_data, run, _cfg(stage="face", iters=2, precision="bf16"), progress=False).run()
    assert load_checkpoint(checkpoint_path(run, "face"))["step"] == 2
