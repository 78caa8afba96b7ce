"""Model and training presets: `cpu-rt` (real time on 2 CPU cores), `cpu-live` (cpu-rt thinned
for a browser on the same cores), `balanced`, `hd`, `tiny` (smoke tests)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from engine.errors import InputError
from train.models import DiscriminatorConfig, FaceConfig, GeneratorConfig


@dataclass(frozen=True)
class Preset:
    name: str
    generator: GeneratorConfig
    face: FaceConfig
    discriminator: DiscriminatorConfig
    batch: int = 4  # frames (or frame pairs) per step
    iters: int = 10000  # default training length, steps
    description: str = ""
    notes: dict = field(default_factory=dict)


_CPU_RT = Preset(
    name="cpu-rt",
    # ONNX Runtime, 256x256 with the temporal input: about 18 ms per frame on one CPU
    # core (benchmarks/runners.py), so pose and render each fit on a core of their own
    # at 30 frames/s. The network works at 128x128 (io_stride 2): the full-resolution
    # convolutions of the pix2pixHD layout cost a third of the time for little benefit
    # at 256 px, and its 7x7 outer convolutions and reflection padding triple the rest.
    generator=GeneratorConfig(resolution=256, ngf=16, n_downsample=3, n_blocks=4,
                              max_channels=256, outer_kernel=3, padding="zeros",
                              io_stride=2),
    face=FaceConfig(crop=48, ngf=16, n_downsample=2, n_blocks=2),
    # Small discriminators keep a training step under a second on 2 CPU cores.
    discriminator=DiscriminatorConfig(ndf=16, n_layers=3, num_d=2, max_channels=64),
    batch=1, iters=4000,
    description="256x256, small enough for ONNX Runtime to render >= 30 frames/s on 2 "
                "CPU cores",
)


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        name="tiny",
        generator=GeneratorConfig(resolution=64, ngf=8, n_downsample=2, n_blocks=1,
                                  max_channels=32, outer_kernel=3, padding="zeros",
                                  io_stride=2),  # the layout of cpu-rt
        face=FaceConfig(crop=16, ngf=8, n_downsample=1, n_blocks=1),
        discriminator=DiscriminatorConfig(ndf=8, n_layers=2, num_d=2, max_channels=32),
        batch=2, iters=50,
        description="64x64 smoke-test size: checks a data folder and the whole training "
                    "path in seconds",
    ),
    "cpu-rt": _CPU_RT,
    # cpu-rt with half its residual blocks: about a fifth less time per frame, which a
    # browser on the same two cores needs. It is fine-tuned from a trained cpu-rt run
    # (dancenow train --init-from), which keeps all its layers but two of the four
    # blocks, rather than trained from scratch.
    "cpu-live": replace(_CPU_RT, name="cpu-live",
                        generator=replace(_CPU_RT.generator, n_blocks=2), iters=2500,
                        description="cpu-rt thinned to 2 residual blocks and fine-tuned "
                                    "from a cpu-rt run (--init-from): the live demo's "
                                    "generator"),
    "balanced": Preset(
        name="balanced",
        generator=GeneratorConfig(resolution=256, ngf=32, n_downsample=4, n_blocks=6,
                                  max_channels=512),
        face=FaceConfig(crop=64, ngf=32, n_downsample=2, n_blocks=3),
        discriminator=DiscriminatorConfig(ndf=64, n_layers=3, num_d=2, max_channels=512),
        batch=4, iters=40000,
        description="256x256 at higher capacity: a fast GPU, or a patient CPU",
    ),
    "hd": Preset(
        name="hd",
        generator=GeneratorConfig(resolution=512, ngf=64, n_downsample=4, n_blocks=9,
                                  max_channels=1024),
        face=FaceConfig(crop=128, ngf=64, n_downsample=3, n_blocks=5),
        discriminator=DiscriminatorConfig(ndf=64, n_layers=3, num_d=3, max_channels=512),
        batch=4, iters=100000,
        description="512x512 with pix2pixHD's global-generator widths, for GPUs",
    ),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}") from None
