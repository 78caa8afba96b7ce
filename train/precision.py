"""The arithmetic a training step runs in: float32, or bfloat16 autocast.

Under bfloat16 autocast the convolutions and matrix products run in bfloat16 while the
weights, the optimizer state, the normalizations and the losses stay float32, so a
checkpoint is the same whichever was used (and a run may resume in the other). It pays
only where the hardware multiplies bfloat16 natively: a CPU with AMX tiles (Intel Xeon
4th generation and later) or a CUDA GPU of compute capability 8.0 or later. There
`auto` chooses it; elsewhere `auto` is float32, which is always correct.

On this project's 2-core Xeon with AMX, a `cpu-rt` global step took 0.149–0.166 s in
bfloat16 against 0.225–0.234 s in float32 (README, "Training in bfloat16").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from engine.errors import InputError

PRECISIONS = ("auto", "fp32", "bf16")


def native_bf16(device: torch.device) -> bool:
    """Whether `device` multiplies bfloat16 in hardware (AMX on a CPU, sm80+ on CUDA)."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":
        # the CPU has AMX tiles and the kernel lets this process use them
        tiles = getattr(torch.cpu, "_is_amx_tile_supported", None)
        allowed = getattr(torch.cpu, "_init_amx", None)
        return bool(tiles is not None and allowed is not None and tiles() and allowed())
    return False


def check(precision: str) -> None:
    """An `InputError` unless `precision` is one of `PRECISIONS`."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose from "
                         f"{', '.join(PRECISIONS)}")


def resolve(precision: str, device: torch.device) -> str:
    """`fp32` or `bf16`: what `precision` (one of `PRECISIONS`) means on `device`."""
    check(precision)
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    """Run the enclosed training step in `precision` (already resolved). Weights are cast
    afresh at every use (no cast cache): a step updates the discriminators' weights in
    place before the generator's pass reads them."""
    if precision == "bf16":
        with torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False):
            yield
    else:
        yield
