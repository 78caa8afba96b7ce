"""Pictures for the avatar report (`train.report`): training curves, sample grids, and
the image encodings they are stored in.

The curves are drawn with matplotlib's object API on its Agg canvas (no pyplot, no
display, no global backend switch); the grids are plain numpy with OpenCV's text.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from train.trainer import STAGES

log = logging.getLogger(__name__)

NOT_LOSSES = ("step", "lr", "steps_per_s")  # the other columns of a train_log-<stage>.jsonl
GRID_CELL = (128, 256)  # a cell of the sample grid: the frame's size within these, pixels
GRID_GAP = 2  # pixels between cells
HEADER = 22  # pixels of the column titles above the grid
CAPTION = 18  # pixels of the caption strip under each row
SMOOTH_POINTS = 30  # a curve's running mean spans 1/SMOOTH_POINTS of its logged values


@dataclass(frozen=True)
class StageLog:
    """The loss log of one stage of one run: rows of `train_log-<stage>.jsonl`."""

    run: str  # the run folder's name
    stage: str
    rows: list[dict]

    @property
    def steps(self) -> int:
        return int(self.rows[-1]["step"]) if self.rows else 0

    def losses(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """loss name -> (steps, values), for every numeric loss column of the log."""
        names: list[str] = []
        for row in self.rows:
            names += [k for k, v in row.items() if k not in NOT_LOSSES and k not in names
                      and isinstance(v, int | float)]
        out = {}
        for name in names:
            pts = [(r["step"], r[name]) for r in self.rows
                   if isinstance(r.get(name), int | float) and np.isfinite(r[name])]
            if pts:
                steps, values = zip(*pts, strict=True)
                out[name] = (np.asarray(steps, float), np.asarray(values, float))
        return out

    def last(self) -> dict[str, float]:
        """The last logged value of each loss."""
        return {k: float(v[-1]) for k, (_, v) in self.losses().items()}


def read_loss_logs(runs: list[Path]) -> list[StageLog]:
    """The loss logs of `runs`, in the runs' order and each run's stages in training
    order; a run or stage without a log is left out, as are lines that do not parse."""
    logs = []
    for run in runs:
        for stage in STAGES:
            path = Path(run) / f"train_log-{stage}.jsonl"
            if not path.is_file():
                continue
            rows = []
            for line in path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    log.warning("%s: a line that is not JSON, left out", path)
                    continue
                if isinstance(row, dict) and isinstance(row.get("step"), int | float):
                    rows.append(row)
            if rows:
                logs.append(StageLog(Path(run).name, stage, rows))
    return logs


def curves_png(logs: list[StageLog], dpi: int = 80) -> bytes | None:
    """One panel per stage log: each loss against the step (log scale; faint, every logged
    value; solid, their running mean), as PNG bytes; None without logs."""
    if not logs:
        return None
    from matplotlib.figure import Figure  # Agg canvas when saved; pyplot is never loaded

    cols = min(3, len(logs))
    rows = -(-len(logs) // cols)
    fig = Figure(figsize=(4.4 * cols, 3.0 * rows), layout="constrained")
    for k, stage_log in enumerate(logs):
        ax = fig.add_subplot(rows, cols, k + 1)
        for name, (steps, values) in stage_log.losses().items():
            positive = values > 0
            steps, values = steps[positive], values[positive]
            if len(values) < 20:  # a few points: each one shown
                ax.plot(steps, values, label=name, linewidth=1.2, marker="o", markersize=3)
                continue
            line, = ax.plot(steps, values, linewidth=0.6, alpha=0.3)  # every logged value
            w = max(2, len(values) // SMOOTH_POINTS)
            ax.plot(steps[w - 1:], np.convolve(values, np.ones(w) / w, mode="valid"),
                    color=line.get_color(), label=name, linewidth=1.4)
        ax.set_yscale("log")
        ax.set_title(f"{stage_log.run}: {stage_log.stage} ({stage_log.steps} steps)",
                     fontsize=10)
        ax.set_xlabel("step", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, loc="best", ncols=2, framealpha=0.6)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _cell(img: np.ndarray, side: int) -> np.ndarray:
    if img.shape[0] == side and img.shape[1] == side:
        return img
    smaller = img.shape[0] > side
    return cv2.resize(img, (side, side),
                      interpolation=cv2.INTER_AREA if smaller else cv2.INTER_NEAREST)


def _text(img: np.ndarray, text: str, x: int, y: int, scale: float = 0.45) -> None:
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (235, 235, 235), 1,
                cv2.LINE_AA)


def sample_grid(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                captions: list[str]) -> np.ndarray:
    """RGB grid: column titles, then per row label | generated | real (uint8 HxWx3, one
    size) with its caption underneath."""
    side = int(np.clip(rows[0][0].shape[0], *GRID_CELL))
    width = 3 * side + 2 * GRID_GAP
    parts = [np.full((HEADER, width, 3), 24, np.uint8)]
    for c, title in enumerate(("label", "generated", "real")):
        _text(parts[0], title, c * (side + GRID_GAP) + 6, HEADER - 7)
    gap = np.full((side, GRID_GAP, 3), 24, np.uint8)
    for (label, gen, real), caption in zip(rows, captions, strict=True):
        cells = [_cell(label, side), gap, _cell(gen, side), gap, _cell(real, side)]
        parts.append(np.concatenate(cells, axis=1))
        strip = np.full((CAPTION, width, 3), 24, np.uint8)
        _text(strip, caption, 6, CAPTION - 5, 0.4)
        parts.append(strip)
    return np.concatenate(parts, axis=0)


def jpeg_bytes(img: np.ndarray, quality: int = 85, max_side: int | None = None) -> bytes:
    """An RGB uint8 image as JPEG bytes, scaled down to `max_side` if it is larger."""
    if max_side is not None and max(img.shape[:2]) > max_side:
        f = max_side / max(img.shape[:2])
        img = cv2.resize(img, (round(img.shape[1] * f), round(img.shape[0] * f)),
                         interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("the image could not be encoded as JPEG")
    return data.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    """JPEG bytes back to an RGB uint8 image."""
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
                        cv2.COLOR_BGR2RGB)


def data_uri(data: bytes, mime: str) -> str:
    """`data:` URI of an image, for a page that must open without other files."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
