"""Sample grids written during training: one row per sample, label | generated | real."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch


def save_sample_grid(path: Path, label: torch.Tensor, generated: torch.Tensor,
                     real: torch.Tensor, max_rows: int = 4) -> Path:
    """Write a PNG grid of up to `max_rows` samples (tensors `[B, 3, H, W]` in [-1, 1])."""
    rows = []
    for i in range(min(max_rows, label.shape[0])):
        cells = [t[i].detach().float().cpu().clamp(-1, 1).add(1).mul(127.5).round()
                 .byte().permute(1, 2, 0).numpy() for t in (label, generated, real)]
        rows.append(np.concatenate(cells, axis=1))
    grid = np.concatenate(rows, axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part.png")
    cv2.imwrite(str(tmp), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    tmp.replace(path)
    return path
