"""The avatar report: how a trained avatar scores, what it lacks, and what it cost.

`write_report` writes into an avatar bundle's folder:

* `report.html`: one page that opens from disk with nothing else (CSS inline, images as
  `data:` URIs, no script, no other address): the held-out metrics against the bars
  below, a grid of held-out samples (label | generated | real), the loss curves of every
  stage, the pose coverage of the training footage and what it lacks
  (`train.coverage`), the time each step of the job took, and the bundle's speed here;
* `report.md`: the same as markdown, its pictures under `report/`;
* `poster.jpg`: the held-out frame whose SSIM is the median of all, at most 256 px;

and adds `poster` (that file's name) and `description` (one line: resolution, preset,
training time and footage, held-out SSIM) to `manifest.json`. The models and their
checksums are untouched, so `load_bundle(verify=True)` still passes.

The bars are what the committed demo avatars meet on held-out motions
(benchmarks/results/quality.md, README "Measured here": `demo` and `demo-live`), each
rounded outwards from the weaker of the two.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from skimage.metrics import structural_similarity

from engine.avatar import MANIFEST, AvatarBundle, load_bundle
from engine.errors import InputError
from engine.renderer import AvatarRenderer
from engine.timing import cpu_model
from train.coverage import coverage_report
from train.data import PreparedData, read_manifest
from train.evaluate import evaluate_bundle, render_bundle_frames
from train.report_html import MetricRow, Report, render_html, render_markdown
from train.report_plots import (
    curves_png,
    decode_jpeg,
    jpeg_bytes,
    read_loss_logs,
    sample_grid,
)
from train.report_speed import WARMUP, measure_speed
from train.trainer import STAGES

log = logging.getLogger(__name__)

POSTER = "poster.jpg"
POSTER_SIDE = 256  # the poster's largest side, pixels
ASSETS = "report"  # the markdown's pictures, beside report.md
SAMPLE_ROWS = 4  # held-out frames spread over the data, then the worst one


@dataclass(frozen=True)
class Bar:
    """A held-out metric's bar: `value >= bar` (higher is better) or `value <= bar`."""

    key: str
    label: str
    higher: bool
    bar: float
    fmt: str
    demo: str  # `demo` / `demo-live` on the held-out motions

    def passes(self, value: float | None) -> bool | None:
        if value is None or not np.isfinite(value):
            return None
        return value >= self.bar if self.higher else value <= self.bar

    def row(self, value: float | None) -> MetricRow:
        shown = "-" if value is None else self.fmt.format(value)
        return MetricRow(self.label, shown, f"{'>=' if self.higher else '<='} "
                         f"{self.fmt.format(self.bar)}", self.demo, self.passes(value))


BARS = (
    Bar("ssim", "SSIM", True, 0.88, "{:.3f}", "0.904 / 0.889"),
    Bar("psnr", "PSNR (dB)", True, 26.5, "{:.2f}", "27.09 / 26.93"),
    Bar("face_ssim", "face SSIM", True, 0.70, "{:.3f}", "0.731 / 0.728"),
    Bar("flicker", "flicker", False, 0.012, "{:.4f}", "0.0104 / 0.0112"),
    Bar("pose_distance", "pose distance (x height)", False, 0.010, "{:.4f}", "0.0078 / 0.0080"),
    Bar("redetect_rate", "re-detection", True, 0.99, "{:.1%}", "100% / 100%"),
)


@dataclass
class HeldoutFrames:
    """The bundle's frames of the held-out data: per frame its SSIM and a JPEG."""

    indices: np.ndarray
    ssim: np.ndarray
    jpegs: list[bytes]

    def median_position(self) -> int:
        return int(np.argsort(self.ssim)[len(self.ssim) // 2])


def render_heldout(bundle: AvatarBundle, data: PreparedData, split: str = "all",
                   backend: str = "ort-cpu") -> HeldoutFrames:
    """Every `split` frame of `data` through the bundle, in order with temporal feedback
    (as `evaluate_bundle` renders them), kept as JPEG with its SSIM against the real one."""
    indices = data.indices(split)
    if len(indices) == 0:
        raise InputError(f"split {split!r} of {data.root} has no frames with a person")
    ssim, jpegs = [], []
    with AvatarRenderer(bundle, backend) as renderer:
        for i, gen in render_bundle_frames(renderer, data, indices):
            real = np.asarray(data.frames[i])
            ssim.append(structural_similarity(gen, real, channel_axis=2, data_range=255))
            jpegs.append(jpeg_bytes(gen, quality=95))
    return HeldoutFrames(indices, np.asarray(ssim), jpegs)


def samples(frames: HeldoutFrames, data: PreparedData) -> tuple[np.ndarray, list[str]]:
    """The sample grid (RGB) and its row captions: SAMPLE_ROWS frames spread evenly over
    the held-out data, then the one with the lowest SSIM."""
    n = len(frames.indices)
    picks = sorted({int(p) for p in (np.arange(SAMPLE_ROWS) + 0.5) * n / SAMPLE_ROWS})
    worst = int(np.argmin(frames.ssim))
    rows, captions = [], []
    for p in picks + ([worst] if worst not in picks else []):
        i = int(frames.indices[p])
        rows.append((np.asarray(data.labels[i]), decode_jpeg(frames.jpegs[p]),
                     np.asarray(data.frames[i])))
        tag = "lowest SSIM, " if p == worst else ""
        captions.append(f"{tag}video {int(data.video[i])} frame {i}: "
                        f"SSIM {frames.ssim[p]:.3f}")
    return sample_grid(rows, captions), captions


def training_data(runs: list[Path], bundle: AvatarBundle) -> Path | None:
    """The data folder the runs were trained on (their train_config-*.json, else the
    bundle's source), where it is still there."""
    named = []
    for run in runs:
        for path in sorted(Path(run).glob("train_config-*.json")):
            try:
                named.append(json.loads(path.read_text()).get("data"))
            except (OSError, ValueError):
                continue
    named.append((bundle.manifest.get("source") or {}).get("data"))
    for name in named:
        if isinstance(name, str) and (Path(name) / "manifest.json").is_file():
            return Path(name)
    return None


def data_coverage(root: Path) -> dict:
    """A data folder's pose coverage: from its manifest, else from its keypoints."""
    manifest = read_manifest(root)
    if isinstance(manifest.get("coverage"), dict):
        return manifest["coverage"]
    data = PreparedData(root)
    return coverage_report(data.keypoints, data.video)


def training_seconds(stage_seconds: dict[str, float]) -> float:
    """The time of the steps that trained (a training stage's name among their words)."""
    return sum(v for k, v in stage_seconds.items()
               if set(re.split(r"[^a-z]+", k.lower())) & set(STAGES))


def describe(bundle: AvatarBundle, stage_seconds: dict[str, float], videos: int | None,
             metrics: dict) -> str:
    """One line: `256 px, cpu-live, trained 62 min on 3 videos; held-out SSIM 0.912` (three
    decimals: 0.897 is not 0.90)."""
    parts = [f"{bundle.resolution} px"]
    if bundle.manifest.get("preset"):
        parts.append(str(bundle.manifest["preset"]))
    seconds = training_seconds(stage_seconds)
    if seconds > 0:
        text = f"trained {round(seconds / 60)} min" if seconds >= 60 else \
            f"trained {seconds:.0f} s"
        if videos:
            text += f" on {videos} video{'s' if videos != 1 else ''}"
        parts.append(text)
    line = ", ".join(parts)
    if isinstance(metrics.get("ssim"), int | float):
        line += f"; held-out SSIM {metrics['ssim']:.3f}"
    return line


def _write(path: Path, data: bytes | str) -> None:
    tmp = path.with_name(path.name + ".part")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


def _other_metrics(metrics: dict) -> list[tuple[str, str]]:
    out = []
    for key, label, fmt in (("face_psnr", "face PSNR", "{:.2f} dB"), ("frames", "frames", "{}"),
                            ("split", "split", "{}"), ("stage", "stage", "{}"),
                            ("step", "step", "{}"), ("backend", "backend", "{}")):
        if metrics.get(key) is not None:
            out.append((label, fmt.format(metrics[key])))
    return out


def write_report(bundle_dir: Path, runs: list[Path], heldout: Path,
                 stage_seconds: dict[str, float], metrics: dict | None = None, *,
                 split: str = "all", backend: str = "ort-cpu",
                 speed_calls: int = 50) -> Path:
    """Write the report, the poster and the manifest's poster and description into the
    bundle at `bundle_dir` (see the module docstring); returns report.html's path.

    `runs`: the training runs in stage order (their loss logs); `heldout`: a prepared
    data folder of motions training never saw (its `split` frames give the samples, the
    poster and, when `metrics` is None, the metrics through `evaluate_bundle` on
    `backend`); `stage_seconds`: wall time per step of the job."""
    bundle_dir, runs, heldout = Path(bundle_dir), [Path(r) for r in runs], Path(heldout)
    bundle = load_bundle(bundle_dir, verify=True)
    data = PreparedData(heldout)
    if bundle.resolution != data.size:
        raise InputError(f"the avatar renders {bundle.resolution}px but {heldout} is "
                         f"{data.size}px")
    if metrics is None:
        log.info("evaluating %s on %s", bundle_dir, heldout)
        metrics = evaluate_bundle(bundle, data, split, backend)
    log.info("rendering the held-out frames for the samples and the poster")
    frames = render_heldout(bundle, data, split, backend)
    poster = jpeg_bytes(decode_jpeg(frames.jpegs[frames.median_position()]), quality=85,
                        max_side=POSTER_SIDE)
    grid, captions = samples(frames, data)
    logs = read_loss_logs(runs)
    train_dir = training_data(runs, bundle)
    coverage_root = train_dir or heldout
    coverage = data_coverage(coverage_root)
    source = (f"training footage ({train_dir})" if train_dir else
              f"held-out footage ({heldout}; the training data was not found)")
    videos = len(read_manifest(train_dir).get("sources", [])) if train_dir else None
    real = [np.asarray(data.frames[i]) for i in frames.indices[:32]]
    speed = measure_speed(bundle, real, backend, speed_calls)
    description = describe(bundle, stage_seconds, videos, metrics)

    facts = [("preset", bundle.manifest.get("preset") or "-"),
             ("resolution", f"{bundle.resolution} px"), ("precision", bundle.precision),
             ("models", ", ".join(bundle.models)), ("held-out data", str(heldout)),
             ("runs", ", ".join(str(r) for r in runs) or "-"),
             ("written", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))]
    files = {"poster": POSTER, "samples": f"{ASSETS}/samples.jpg"}
    curves = curves_png(logs)
    if curves is not None:
        files["curves"] = f"{ASSETS}/curves.png"
    samples_jpeg = jpeg_bytes(grid, quality=85)
    report = Report(
        name=bundle.name, description=description, facts=facts,
        metric_rows=[b.row(metrics.get(b.key)) for b in BARS],
        other_metrics=_other_metrics(metrics), sample_captions=captions,
        samples_jpeg=samples_jpeg, curves_png=curves, logs=logs, coverage=coverage,
        coverage_source=source, stage_seconds=dict(stage_seconds), speed=speed,
        speed_note=(f"{cpu_model()}, {os.cpu_count()} CPUs: one call per frame, {speed_calls} "
                    f"timed calls after {WARMUP} warm-up calls, ONNX Runtime's own thread count; "
                    f"pose on {len(real)} held-out frames of {data.size} px."),
        poster_jpeg=poster, files=files)

    (bundle_dir / ASSETS).mkdir(exist_ok=True)
    _write(bundle_dir / POSTER, poster)
    _write(bundle_dir / files["samples"], samples_jpeg)
    if curves is not None:
        _write(bundle_dir / files["curves"], curves)
    else:  # no logs now: no curves from an earlier report either
        (bundle_dir / ASSETS / "curves.png").unlink(missing_ok=True)
    _write(bundle_dir / "report.md", render_markdown(report))
    html_path = bundle_dir / "report.html"
    _write(html_path, render_html(report))
    manifest = json.loads((bundle_dir / MANIFEST).read_text())
    manifest.update(poster=POSTER, description=description)
    _write(bundle_dir / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    load_bundle(bundle_dir, verify=True)  # still a valid bundle
    met, measured = report.bars_met
    log.info("wrote %s (%d of %d bars met; %s)", html_path, met, measured, description)
    return html_path
