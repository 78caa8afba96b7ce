"""Generator and discriminator networks (pix2pixHD style), with one config per model.

* `Generator`: the global generator of pix2pixHD. Input: the label map, concatenated
  (when `temporal`) with the previous generated frame, zeros for the first frame.
  Output: an RGB frame in [-1, 1].
* `FaceGenerator`: a small residual generator for the face crop: input the crop of the
  label map and of the generated frame, output a residual added to that crop.
* `MultiscaleDiscriminator`: PatchGAN discriminators at several scales that also return
  their intermediate features (for the feature-matching loss).

Configs are dataclasses saved inside every checkpoint, so export rebuilds the exact
model without guessing. A trained generator can start a new one: widened to see its
previous frame (`temporal_state_from_global`), or thinned to fewer residual blocks
(`load_thinned`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Self

import torch
from torch import nn


class _SavedConfig:
    """Configs travel inside checkpoints as plain dicts; unknown keys are ignored on load."""

    def to_dict(self) -> dict:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict) -> Self:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class GeneratorConfig(_SavedConfig):
    resolution: int = 256  # output height and width, pixels
    label_channels: int = 3  # channels of the label map (RGB stick figure)
    image_channels: int = 3  # channels of the generated frame
    temporal: bool = True  # also condition on the previous generated frame (paper sec. 3.3)
    ngf: int = 16  # channels after the first convolution
    n_downsample: int = 3  # stride-2 convolutions; each doubles the channels (up to the cap)
    n_blocks: int = 6  # residual blocks at the bottleneck
    max_channels: int = 256  # channel cap for the deep layers
    norm: str = "instance"  # instance | batch | none
    outer_kernel: int = 7  # kernel of the first and last convolutions (pix2pixHD: 7)
    padding: str = "reflect"  # reflect (pix2pixHD) | zeros (fuses into the conv at inference)
    upsample: str = "nearest"  # nearest (resize + conv) | transposed (stride-2 transposed conv)
    # 2: the network works at half the resolution from end to end: a stride-2 first
    # convolution (kernel 4) reads the input, and the last convolution writes each output
    # pixel's 2x2 block as 4 channels that a pixel shuffle puts in place. No convolution
    # runs at the full resolution, where few channels use a CPU poorly. 1: pix2pixHD.
    io_stride: int = 1

    @property
    def in_channels(self) -> int:
        """Channels of the network's input: the label map and, when temporal, a frame."""
        return self.label_channels + (self.image_channels if self.temporal else 0)

    def __post_init__(self) -> None:
        if self.io_stride not in (1, 2):
            raise ValueError(f"io_stride must be 1 or 2, not {self.io_stride}")


@dataclass(frozen=True)
class FaceConfig(_SavedConfig):
    crop: int = 64  # side of the square face crop, pixels of the generated frame
    ngf: int = 16  # channels after the first convolution
    n_downsample: int = 2  # stride-2 convolutions
    n_blocks: int = 2  # residual blocks at the bottleneck
    norm: str = "instance"  # instance | batch | none


@dataclass(frozen=True)
class DiscriminatorConfig(_SavedConfig):
    ndf: int = 32  # channels of the first discriminator layer
    n_layers: int = 3  # stride-2 layers per PatchGAN
    num_d: int = 2  # number of scales (each half the previous)
    max_channels: int = 256  # channel cap


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}: use instance, batch or none")


def _conv(cin: int, cout: int, k: int, padding: str, stride: int = 1) -> list[nn.Module]:
    """A k x k convolution that keeps the size (up to the stride), padded as asked."""
    if padding == "reflect":
        return [nn.ReflectionPad2d(k // 2), nn.Conv2d(cin, cout, k, stride=stride)]
    if padding == "zeros":
        return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)]
    raise ValueError(f"unknown padding {padding!r}: use reflect or zeros")


class ResBlock(nn.Module):
    def __init__(self, channels: int, norm: str, padding: str = "reflect") -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv(channels, channels, 3, padding), _norm(norm, channels), nn.ReLU(inplace=True),
            *_conv(channels, channels, 3, padding), _norm(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _encoder_decoder(in_ch: int, out_ch: int, ngf: int, n_down: int, n_blocks: int,
                     max_ch: int, norm: str, outer_kernel: int = 7, padding: str = "reflect",
                     upsample: str = "nearest", io_stride: int = 1) -> nn.Sequential:
    """conv k -> n_down x (conv3 stride 2) -> residual blocks -> n_down x (upsample, conv3)
    -> conv k (no activation).

    With `io_stride` 2 the first convolution is a stride-2 kernel-4 one and the last
    writes `out_ch * 4` channels that a pixel shuffle turns into `out_ch` at twice the size.
    """
    if io_stride == 1:
        stem = _conv(in_ch, ngf, outer_kernel, padding)
    else:
        stem = [nn.Conv2d(in_ch, ngf, 2 * io_stride, stride=io_stride, padding=io_stride // 2)]
    layers: list[nn.Module] = [*stem, _norm(norm, ngf), nn.ReLU(inplace=True)]
    ch = ngf
    for _ in range(n_down):
        nxt = min(ch * 2, max_ch)
        layers += [nn.Conv2d(ch, nxt, 3, stride=2, padding=1), _norm(norm, nxt),
                   nn.ReLU(inplace=True)]
        ch = nxt
    layers += [ResBlock(ch, norm, padding) for _ in range(n_blocks)]
    for i in range(n_down):
        nxt = max(min(ngf * 2 ** (n_down - i - 1), max_ch), ngf)
        if upsample == "nearest":  # resize + conv: no checkerboard artefacts
            layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                       nn.Conv2d(ch, nxt, 3, padding=1)]
        elif upsample == "transposed":  # pix2pixHD's choice; a quarter of the work
            layers += [nn.ConvTranspose2d(ch, nxt, 4, stride=2, padding=1)]
        else:
            raise ValueError(f"unknown upsample {upsample!r}: use nearest or transposed")
        layers += [_norm(norm, nxt), nn.ReLU(inplace=True)]
        ch = nxt
    layers += _conv(ch, out_ch * io_stride ** 2, outer_kernel, padding)
    if io_stride > 1:
        layers.append(nn.PixelShuffle(io_stride))
    return nn.Sequential(*layers)


class Generator(nn.Module):
    """pix2pixHD global generator: (label [, previous frame]) -> frame in [-1, 1]."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        self.net = _encoder_decoder(config.in_channels, config.image_channels, config.ngf,
                                    config.n_downsample, config.n_blocks, config.max_channels,
                                    config.norm, config.outer_kernel, config.padding,
                                    config.upsample, config.io_stride)

    def forward(self, label: torch.Tensor, previous: torch.Tensor | None = None) -> torch.Tensor:
        if self.config.temporal:
            if previous is None:
                previous = torch.zeros(label.shape[0], self.config.image_channels,
                                       *label.shape[2:], dtype=label.dtype, device=label.device)
            x = torch.cat([label, previous], dim=1)
        else:
            x = label
        return torch.tanh(self.net(x))


def temporal_state_from_global(global_state: dict[str, torch.Tensor],
                                temporal: Generator) -> dict[str, torch.Tensor]:
    """A temporal generator's weights that reproduce a global generator's output.

    Every tensor is copied; the first convolution, which sees the previous frame in
    extra input channels, gets zero weights on them. So for any previous frame the new
    generator starts as exactly the global one, and training the temporal stage from
    there only has to learn how to use its past (pix2pixHD's progressive training).
    """
    target = temporal.state_dict()
    if set(target) != set(global_state):
        raise ValueError("the global and temporal generators differ in architecture")
    labels = temporal.config.label_channels
    state = {}
    for name, value in global_state.items():
        want = target[name]
        if value.shape == want.shape:
            state[name] = value.clone()
        elif (value.ndim == 4 and value.shape[1] == labels and want.shape[0] == value.shape[0]
              and want.shape[2:] == value.shape[2:]):
            widened = torch.zeros_like(want)
            widened[:, :labels] = value
            state[name] = widened
        else:
            raise ValueError(f"{name}: the global generator's {tuple(value.shape)} does not "
                             f"fit the temporal generator's {tuple(want.shape)}")
    return state


def evenly_spaced(total: int, wanted: int) -> list[int]:
    """`wanted` of `total` indices, evenly spaced, the first and the last included."""
    if not 0 < wanted <= total:
        raise ValueError(f"cannot keep {wanted} of {total}")
    if wanted == 1:
        return [0]
    return [round(i * (total - 1) / (wanted - 1)) for i in range(wanted)]


def widened_to_temporal(state: dict[str, torch.Tensor], config: GeneratorConfig
                        ) -> tuple[dict[str, torch.Tensor], GeneratorConfig]:
    """A global generator's weights and config as a temporal generator's (see
    `temporal_state_from_global`)."""
    widened = Generator(replace(config, temporal=True))
    return temporal_state_from_global(state, widened), widened.config


def load_thinned(target: Generator, source_state: dict[str, torch.Tensor],
                 source_config: GeneratorConfig) -> list[int]:
    """Load a trained generator into `target`, which may have fewer residual blocks and may
    be temporal where the source is not. Returns the source blocks kept.

    Every layer outside the residual trunk is copied as it is; of the trunk, evenly spaced
    blocks are kept, the first and the last among them. A residual block adds to its
    input, so the thinner network starts close to the trained one and fine-tuning
    recovers the rest (structured pruning). A global source is first widened to a
    temporal one as `temporal_state_from_global` does. Anything else that differs (sizes,
    widths, resolution) is a ValueError.
    """
    if source_config.temporal and not target.config.temporal:
        raise ValueError("a temporal generator cannot start a global one")
    if not source_config.temporal and target.config.temporal:
        source_state, source_config = widened_to_temporal(source_state, source_config)
    source = Generator(source_config)
    source.load_state_dict(source_state)
    src, dst = list(source.net), list(target.net)
    src_blocks = [i for i, m in enumerate(src) if isinstance(m, ResBlock)]
    dst_blocks = [i for i, m in enumerate(dst) if isinstance(m, ResBlock)]
    if len(dst_blocks) > len(src_blocks):
        raise ValueError(f"the source has {len(src_blocks)} residual blocks, fewer than the "
                         f"{len(dst_blocks)} wanted")
    kept = evenly_spaced(len(src_blocks), len(dst_blocks)) if dst_blocks else []
    src_rest = [i for i in range(len(src)) if i not in src_blocks]
    dst_rest = [i for i in range(len(dst)) if i not in dst_blocks]
    if [type(src[i]) for i in src_rest] != [type(dst[i]) for i in dst_rest]:
        raise ValueError("the generators differ beyond their number of residual blocks")
    pairs = [*zip(dst_rest, src_rest, strict=True),
             *((d, src_blocks[k]) for d, k in zip(dst_blocks, kept, strict=True))]
    for d, s in pairs:
        try:
            dst[d].load_state_dict(src[s].state_dict())
        except RuntimeError as exc:
            raise ValueError(f"layer {d} does not fit the source's layer {s}: {exc}") from exc
    return kept


class FaceGenerator(nn.Module):
    """(label crop, generated crop) -> residual; the refined crop is crop + residual."""

    def __init__(self, config: FaceConfig, label_channels: int = 3,
                 image_channels: int = 3) -> None:
        super().__init__()
        self.config = config
        self.net = _encoder_decoder(label_channels + image_channels, image_channels,
                                    config.ngf, config.n_downsample, config.n_blocks, 256,
                                    config.norm)

    def forward(self, label_crop: torch.Tensor, image_crop: torch.Tensor) -> torch.Tensor:
        """The residual to add to `image_crop` (unbounded; callers clamp the sum)."""
        return self.net(torch.cat([label_crop, image_crop], dim=1))


class PatchDiscriminator(nn.Module):
    """A PatchGAN that returns the output of every layer (the last is the score map)."""

    def __init__(self, in_ch: int, ndf: int, n_layers: int, max_ch: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Sequential(nn.Conv2d(in_ch, ndf, 4, 2, 2),
                                                 nn.LeakyReLU(0.2, True))]
        ch = ndf
        for i in range(1, n_layers + 1):
            nxt = min(ch * 2, max_ch)
            stride = 2 if i < n_layers else 1
            blocks.append(nn.Sequential(nn.Conv2d(ch, nxt, 4, stride, 2),
                                        nn.InstanceNorm2d(nxt), nn.LeakyReLU(0.2, True)))
            ch = nxt
        blocks.append(nn.Conv2d(ch, 1, 4, 1, 2))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


class MultiscaleDiscriminator(nn.Module):
    """`num_d` PatchGANs on the input downsampled by 1, 2, 4, ..."""

    def __init__(self, in_ch: int, config: DiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        self.scales = nn.ModuleList(PatchDiscriminator(in_ch, config.ndf, config.n_layers,
                                                       config.max_channels)
                                    for _ in range(config.num_d))
        self.down = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        out = []
        for i, d in enumerate(self.scales):
            if i:
                x = self.down(x)
            out.append(d(x))
        return out


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
