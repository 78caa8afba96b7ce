"""Losses: LSGAN, feature matching, and the VGG loss that only loads local weights."""

from __future__ import annotations

import pytest
import torch

from train import losses


def _feats(value: float) -> list[list[torch.Tensor]]:
    return [[torch.full((1, 4, 8, 8), value), torch.full((1, 1, 4, 4), value)]] * 2


def test_lsgan_targets() -> None:
    assert losses.lsgan_d(_feats(1.0), _feats(0.0)).item() == 0.0
    assert losses.lsgan_d(_feats(0.0), _feats(1.0)).item() == pytest.approx(1.0)
    assert losses.lsgan_g(_feats(1.0)).item() == 0.0
    assert losses.lsgan_g(_feats(0.0)).item() == pytest.approx(1.0)


def test_feature_matching_ignores_scores_and_real_gradients() -> None:
    real = [[torch.ones(1, 4, 8, 8, requires_grad=True), torch.zeros(1, 1, 4, 4)]]
    fake = [[torch.zeros(1, 4, 8, 8, requires_grad=True), torch.ones(1, 1, 4, 4)]]
    loss = losses.feature_matching(real, fake)
    assert loss.item() == pytest.approx(1.0)
    loss.backward()
    assert real[0][0].grad is None and fake[0][0].grad is not None


def test_no_vgg_without_local_weights(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("DANCENOW_VGG19", raising=False)
    assert losses.vgg19_weights_path() is None and losses.maybe_vgg_loss() is None


def test_vgg_loss_loads_torchvision_layout(tmp_path, monkeypatch) -> None:
    torch.manual_seed(0)
    state, ch, idx = {}, 3, 0
    for v in losses._VGG19_LAYOUT:
        if v == "M":
            idx += 1
            continue
        state[f"features.{idx}.weight"] = torch.randn(int(v), ch, 3, 3) * 0.05
        state[f"features.{idx}.bias"] = torch.zeros(int(v))
        ch, idx = int(v), idx + 2
    state["classifier.0.weight"] = torch.zeros(2, 2)  # ignored, as in the real file
    path = tmp_path / "vgg19-test.pth"
    torch.save(state, path)
    monkeypatch.setenv("DANCENOW_VGG19", str(path))
    vgg = losses.maybe_vgg_loss()
    assert vgg is not None
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert vgg(x, x).item() == 0.0
    assert vgg(x, -x).item() > 0.0
    assert not any(p.requires_grad for p in vgg.parameters())
