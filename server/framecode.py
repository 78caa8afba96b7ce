"""A frame number drawn into a video frame, readable after lossy video coding.

The page draws a strip of `BITS` black or white cells into each camera frame it sends
(12 bits of a counter and a 4-bit checksum); the server reads it from the frame it
receives, carries the number through the pipeline, and draws it into the avatar frame
it sends back, where the page reads it again and so knows when that camera frame was
captured. Cells are large (a 40th of the frame's width, so the strip scales with the
frame and survives the encoder scaling it) and are sampled in their middle; a strip
whose checksum fails reads as None.
"""

from __future__ import annotations

import numpy as np

BITS = 16
COUNTER_BITS = 12
WIDTH_PER_CELL = 40  # a cell is 1/40 of the frame's width
MODULO = 1 << COUNTER_BITS


def _checksum(value: int) -> int:
    return (value ^ (value >> 4) ^ (value >> 8) ^ 0b1010) & 0xF


def bits_of(value: int) -> list[int]:
    value %= MODULO
    word = (value << 4) | _checksum(value)
    return [(word >> (BITS - 1 - i)) & 1 for i in range(BITS)]


def cell_size(width: int) -> float:
    return width / WIDTH_PER_CELL


def fits(image: np.ndarray) -> bool:
    """Whether the frame is large enough to carry a readable strip (160 px wide or more)."""
    return cell_size(image.shape[1]) >= 4 and image.shape[0] >= cell_size(image.shape[1])


def draw(image: np.ndarray, value: int) -> np.ndarray:
    """Draw `value`'s strip into the top-left corner of an HxWx3 uint8 image, in place."""
    if not fits(image):
        raise ValueError(f"a {image.shape[1]}x{image.shape[0]} frame is too small for the code")
    cell = cell_size(image.shape[1])
    rows = round(cell)
    for i, bit in enumerate(bits_of(value)):
        image[:rows, round(i * cell):round((i + 1) * cell)] = 255 if bit else 0
    return image


def read(image: np.ndarray) -> int | None:
    """The value drawn by `draw`, or None when the strip is absent or damaged."""
    if not fits(image):
        return None
    cell = cell_size(image.shape[1])
    half = max(int(cell / 4), 1)
    cy = int(cell / 2)
    word = 0
    for i in range(BITS):
        cx = int((i + 0.5) * cell)
        patch = image[cy - half:cy + half + 1, cx - half:cx + half + 1]
        level = float(patch.mean())
        if 70 < level < 185:  # neither black nor white: no code here
            return None
        word = (word << 1) | int(level >= 128)
    value, check = word >> 4, word & 0xF
    return value if _checksum(value) == check else None
