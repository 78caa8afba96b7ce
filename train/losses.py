"""GAN losses: least-squares adversarial, discriminator feature matching, L1, and a VGG19
perceptual loss that is used only when VGG19 weights are already on disk (never
downloaded)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

Features = list[list[torch.Tensor]]  # per scale, per layer; the last layer is the score


def lsgan_d(real: Features, fake: Features) -> torch.Tensor:
    """Discriminator: real scores toward 1, fake toward 0 (mean over scales)."""
    loss = sum(F.mse_loss(r[-1], torch.ones_like(r[-1])) + F.mse_loss(f[-1], torch.zeros_like(
        f[-1])) for r, f in zip(real, fake, strict=True))
    return 0.5 * loss / len(real)


def lsgan_g(fake: Features) -> torch.Tensor:
    """Generator: fake scores toward 1."""
    return sum(F.mse_loss(f[-1], torch.ones_like(f[-1])) for f in fake) / len(fake)


def feature_matching(real: Features, fake: Features) -> torch.Tensor:
    """L1 between the discriminator's intermediate features of real and fake inputs."""
    total, count = 0.0, 0
    for r_scale, f_scale in zip(real, fake, strict=True):
        for r, f in zip(r_scale[:-1], f_scale[:-1], strict=True):
            total = total + F.l1_loss(f, r.detach())
            count += 1
    return total / max(count, 1)


_VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                 512, 512, 512, 512)
_VGG_TAPS = (1, 6, 11, 20, 29)  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
_VGG_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)  # as pix2pixHD


def vgg19_weights_path() -> Path | None:
    """Where local VGG19 weights are, if anywhere: $DANCENOW_VGG19, else torch's cache."""
    env = os.environ.get("DANCENOW_VGG19")
    if env:
        return Path(env) if Path(env).is_file() else None
    cache = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
    found = sorted((cache / "hub" / "checkpoints").glob("vgg19-*.pth"))
    return found[0] if found else None


class VGGLoss(nn.Module):
    """Perceptual loss on VGG19 features (torchvision's `vgg19` state-dict layout)."""

    def __init__(self, weights: Path) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch = 3
        for v in _VGG19_LAYOUT:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(ch, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                ch = int(v)
        self.features = nn.Sequential(*layers[: _VGG_TAPS[-1] + 1])
        state = torch.load(weights, map_location="cpu", weights_only=True)
        own = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        own = {k: v for k, v in own.items() if int(k.split(".")[0]) <= _VGG_TAPS[-1]}
        self.features.load_state_dict(own)
        self.requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((x + 1) / 2 - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _VGG_TAPS:
                out.append(x)
        return out

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        loss = 0.0
        for w, f, r in zip(_VGG_WEIGHTS, self._taps(fake), self._taps(real), strict=True):
            loss = loss + w * F.l1_loss(f, r.detach())
        return loss


def maybe_vgg_loss() -> VGGLoss | None:
    """A VGG loss when local weights exist, else None (logged once)."""
    path = vgg19_weights_path()
    if path is None:
        log.info("no local VGG19 weights: training without the perceptual loss")
        return None
    log.info("perceptual loss with VGG19 weights from %s", path)
    return VGGLoss(path)
