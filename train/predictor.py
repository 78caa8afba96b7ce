"""Train the learned pose extrapolator (`engine.predict.learned`) and export it to ONNX.

Data. The synthetic actor's training motions (`TRAIN_MOTIONS`; `sidestep` and `dance`
are held out and never trained on) over many seeds (tempo, amplitude, phase, depth) and
camera framings (full / desk / zoom, frame sizes, the actor's place across the frame).
Each clip is "captured" as the live pipeline sees it: at 30 fps with a little timestamp
jitter, or at 15-25 fps with more; the true keypoints at those times get detector-like
noise (Gaussian, `NOISE` of the body height per coordinate), lose the joints outside the
frame or near its edge (`engine.keypoints.drop_unseen`) and pass the one-euro filter
(`engine.filters.PoseFilter`), as in the live label step. For each captured pose and
joint, one horizon `h` is drawn uniformly in 0..`MAX_HORIZON`; the input is the joint's
filtered track resampled onto `K` grid points `GRID_STEP` apart ending at the newest pose,
relative to the newest position and in body heights (`engine.predict.learned` has the
feature code), plus `h`; the target is the TRUE position at `t + h` minus the newest
filtered one, in body heights. So the model learns the filter's lag and the noise as
well as the motion ahead.

Model. One small MLP shared over all joints (a batch of joints per call): it sees one
joint's x and y history together, so curved paths (a wave, a turn) are one pattern and
not two unrelated coordinates, and every joint of every frame is a training sample, so
little data goes a long way and one model serves the 33 landmarks. What the other joints
do is left out on purpose: sharing over joints keeps the model tiny and fast, and whole-
body context is what would let it memorise the six training motions instead of
learning how joints move. The input and output scales are constants in the graph. Two
hidden layers of `HIDDEN` units: about 19k parameters (under 100 KB), some tens of
microseconds per call for all 33 joints on one thread. The window is `K` = 8 grid points
(0.23 s): windows of 10 and 12 points fit the validation seeds a little better but do
worse on the held-out motions' worst cases (95th percentile), i.e. they learn the
training motions' rhythm more than the motion of a joint.

Selection. Held-out seeds of the training motions (`VAL_SEEDS`) pick the best step; the
exported model is then measured on the held-out motions against not predicting and a
constant-velocity fit (`LeastSquaresVelocity`), and the figures go into the metadata.

    python -m train.predictor --out engine/predict/models [--steps N] [--seed S]
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from engine.filters import PoseFilter
from engine.keypoints import LIMB_JOINTS, NUM_LANDMARKS, drop_unseen
from engine.predict.base import Extrapolator
from engine.predict.learned import (
    LearnedPredictor,
    body_height,
    joint_features,
    metadata_path,
    resample_window,
)
from synth.clip import ClipSpec, clip_keypoints

log = logging.getLogger(__name__)

TRAIN_MOTIONS: tuple[str, ...] = ("idle", "wave", "squat", "kick", "turn", "approach")
HELD_OUT_MOTIONS: tuple[str, ...] = ("sidestep", "dance")
TRAIN_SEEDS = 20  # seeds 0..N-1 of every training motion
VAL_SEEDS: tuple[int, ...] = (100, 101, 102)  # training motions, seeds never trained on
EVAL_SEEDS: tuple[int, ...] = (201, 202, 203)  # held-out motions
EVAL_HORIZONS: tuple[float, ...] = (0.07, 0.125)

K = 8  # grid points of the input window
GRID_STEP = 1.0 / 30.0  # seconds between them
MAX_HORIZON = 0.15  # seconds: the longest horizon trained (longer ones are clamped)
NOISE = 0.004  # detector-like noise, fraction of the body height per coordinate
TRUTH_RATE = 120.0  # Hz: true poses in between are interpolated linearly (error < 0.1%)
HIDDEN = 128
MODEL_NAME = "pose-predictor.onnx"
OPSET = 17
WARMUP_S = 0.4  # the first poses of a stream are not scored (filter and window filling)


@dataclass(frozen=True)
class StreamSpec:
    """One synthetic clip as the live pipeline would capture it."""

    motion: str
    seed: int
    fps: float
    jitter: float  # each capture interval is (1 + jitter * U(-1, 1)) / fps
    framing: str
    size: int
    place_x: float
    seconds: float


def sample_spec(motion: str, seed: int, seconds: float) -> StreamSpec:
    """A random capture of `motion` at `seed`: framing, size, place, rate and jitter are
    drawn from a generator seeded by (motion, seed)."""
    rng = np.random.default_rng([sum(map(ord, motion)), seed])
    framing = str(rng.choice(["full", "full", "desk", "zoom"]))
    size = int(2 * rng.integers(160, 541))  # 320..1080 px high
    place_x = float(rng.uniform(0.3, 0.7))
    if rng.random() < 0.5:
        fps, jitter = 30.0, 0.1
    else:
        fps, jitter = float(rng.uniform(15.0, 25.0)), 0.3
    return StreamSpec(motion, seed, fps, jitter, framing, size, place_x, seconds)


@dataclass
class Stream:
    """A captured clip: the filtered poses the predictor sees and the truth around them."""

    spec: StreamSpec
    times: np.ndarray  # [n] capture times, seconds
    filtered: np.ndarray  # [n, 33, 3] noisy, edge-dropped, one-euro filtered
    truth: np.ndarray  # [m, 33, 2] true positions every 1 / truth_rate seconds
    truth_rate: float

    def truth_at(self, t: np.ndarray, joints: np.ndarray | None = None) -> np.ndarray:
        """True positions at times `t` (`[...]`), `[..., 33, 2]`, or `[..., 2]` for one
        joint per time (`joints`, same shape as `t`)."""
        pos = np.asarray(t, dtype=np.float64) * self.truth_rate
        lo = np.clip(np.floor(pos).astype(np.int64), 0, len(self.truth) - 2)
        w = np.clip(pos - lo, 0.0, 1.0)[..., None]
        if joints is None:
            w = w[..., None]
            return self.truth[lo] * (1 - w) + self.truth[lo + 1] * w
        return self.truth[lo, joints] * (1 - w) + self.truth[lo + 1, joints] * w


def make_stream(spec: StreamSpec, noise: float = NOISE, truth_rate: float = TRUTH_RATE,
                seed: int = 0) -> Stream:
    """Capture `spec` (see the module doc); `seed` draws the timestamps and the noise."""
    rng = np.random.default_rng([seed, spec.seed, sum(map(ord, spec.motion))])
    clip = ClipSpec(motion=spec.motion, seconds=spec.seconds + MAX_HORIZON + 0.1,
                    fps=truth_rate, seed=spec.seed, framing=spec.framing, size=spec.size,
                    place_x=spec.place_x)
    kp = clip_keypoints(clip)[:, 0].astype(np.float64)  # [m, 33, 3]
    truth = kp[..., :2]
    heights = np.array([body_height(p) for p in kp])
    intervals = (1.0 + spec.jitter * rng.uniform(-1, 1, int(spec.seconds * spec.fps) + 2)) \
        / spec.fps
    times = rng.uniform(0, 1 / spec.fps) + np.concatenate([[0.0], np.cumsum(intervals)])
    times = times[times <= spec.seconds]
    stream = Stream(spec, times, np.empty((len(times), NUM_LANDMARKS, 3), np.float32),
                    truth, truth_rate)
    pos = times * truth_rate
    lo = np.floor(pos).astype(np.int64)
    seen = np.minimum(kp[lo, :, 2], kp[lo + 1, :, 2])
    xy = stream.truth_at(times)
    sigma = noise * np.interp(pos, np.arange(len(heights)), heights)
    xy = xy + rng.normal(size=xy.shape) * sigma[:, None, None]
    filt = PoseFilter()
    frame_size = clip.frame_size
    for i, t in enumerate(times):
        pose = np.concatenate([xy[i], seen[i, :, None]], axis=1).astype(np.float32)
        stream.filtered[i] = filt(drop_unseen(pose, frame_size), float(t))
    return stream


def window_history(stream: Stream, i: int) -> tuple[np.ndarray, np.ndarray]:
    """(times, xy) of the poses up to `i` that can matter to its window."""
    # The shortest interval is (1 - jitter) / fps: at most this many poses span the window.
    back = int(math.ceil((K - 1) * GRID_STEP * stream.spec.fps / (1.0 - stream.spec.jitter)))
    start = max(0, i - back - 2)
    return stream.times[start:i + 1], stream.filtered[start:i + 1, :, :2]


def stream_samples(stream: Stream, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Training pairs of a stream: features `[N, 2K-1]` and targets `[N, 2]` (see the
    module doc), one random horizon per joint and pose."""
    xs, ys = [], []
    for i in range(len(stream.times)):
        times, xy = window_history(stream, i)
        window = resample_window(times, xy, K, GRID_STEP)
        there = np.flatnonzero(np.isfinite(window).all(axis=(0, 2)))
        scale = body_height(stream.filtered[i])
        if there.size == 0 or not (scale > 0):
            continue
        h = rng.uniform(0.0, MAX_HORIZON, there.size)
        feats = joint_features(window[:, there], scale, 0.0, MAX_HORIZON)
        feats[:, -1] = h / MAX_HORIZON
        target = stream.truth_at(stream.times[i] + h, there) - stream.filtered[i, there, :2]
        xs.append(feats)
        ys.append((target / scale).astype(np.float32))
    if not xs:
        return np.empty((0, 2 * K - 1), np.float32), np.empty((0, 2), np.float32)
    return np.concatenate(xs), np.concatenate(ys)


def build_set(motions: Sequence[str], seeds: Iterable[int], seconds: float, seed: int,
              desc: str, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Features and targets of every (motion, seed) stream."""
    jobs = [(m, s) for m in motions for s in seeds]
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for motion, s in tqdm(jobs, desc=desc, unit="clip", disable=not progress, leave=False):
        x, y = stream_samples(make_stream(sample_spec(motion, s, seconds), seed=seed), rng)
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


class JointMLP(nn.Module):
    """One joint's features -> its offset at the horizon (body heights); the input's and
    output's scales are fixed buffers, so the exported graph takes raw features."""

    def __init__(self, n_in: int, hidden: int, in_scale: np.ndarray, out_scale: float) -> None:
        super().__init__()
        self.register_buffer("in_scale", torch.as_tensor(in_scale, dtype=torch.float32))
        self.register_buffer("out_scale", torch.tensor(float(out_scale)))
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                                 nn.SiLU(), nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * self.in_scale) * self.out_scale


def distance_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance (what the figures report), smooth at zero."""
    return torch.sqrt(((pred - target) ** 2).sum(-1) + 1e-8).mean()


@torch.no_grad()
def evaluate_set(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    err = torch.linalg.vector_norm(model(x) - y, dim=-1)
    model.train()
    return float(err.mean())


def fit(x: np.ndarray, y: np.ndarray, vx: np.ndarray, vy: np.ndarray, steps: int, seed: int,
        batch: int = 2048, lr: float = 3e-3, progress: bool = True) -> tuple[JointMLP, dict]:
    """Train on (x, y), keep the step best on (vx, vy); returns the model and a summary."""
    torch.manual_seed(seed)
    in_std = x.std(axis=0)
    in_scale = 1.0 / np.maximum(in_std, 1e-6)
    in_scale[-1] = 1.0  # the horizon is already 0..1
    out_scale = float(y.std())
    model = JointMLP(x.shape[1], HIDDEN, in_scale, out_scale)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1),
                                                pct_start=0.1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    vxt, vyt = torch.from_numpy(vx), torch.from_numpy(vy)
    gen = torch.Generator().manual_seed(seed)
    best = (evaluate_set(model, vxt, vyt), 0, copy.deepcopy(model.state_dict()))
    every = max(1, min(250, steps // 8))
    bar = tqdm(range(1, steps + 1), desc="train predictor", unit="step", disable=not progress,
               leave=False)
    for step in bar:
        idx = torch.randint(0, len(xt), (batch,), generator=gen)
        loss = distance_loss(model(xt[idx]), yt[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % every == 0 or step == steps:
            val = evaluate_set(model, vxt, vyt)
            bar.set_postfix(loss=f"{loss.item():.4f}", val=f"{val:.4f}")
            if val < best[0]:
                best = (val, step, copy.deepcopy(model.state_dict()))
    model.load_state_dict(best[2])
    model.eval()
    zero = float(torch.linalg.vector_norm(vyt, dim=-1).mean())
    return model, {"val_error": best[0], "val_error_no_prediction": zero, "best_step": best[1],
                   "in_scale": in_scale.tolist(), "out_scale": out_scale}


def export_onnx(model: JointMLP, path: Path) -> None:
    """fp32, opset 17, a dynamic batch of joints."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(33, model.net[0].in_features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (dummy,), str(path), dynamo=False, opset_version=OPSET,
                          input_names=["features"], output_names=["offset"],
                          dynamic_axes={"features": {0: "joints"}, "offset": {0: "joints"}})


class LeastSquaresVelocity:
    """The constant-velocity baseline: per joint, a straight line fitted by least squares
    to its poses of the last `window_s` seconds, read at the horizon."""

    def __init__(self, window_s: float = 0.15) -> None:
        self.window_s = window_s
        self.reset()

    def reset(self) -> None:
        self._times: list[float] = []
        self._poses: list[np.ndarray] = []

    def update(self, pose: np.ndarray, t: float) -> None:
        self._times.append(float(t))
        self._poses.append(np.asarray(pose, dtype=np.float32))
        while self._times[0] < t - self.window_s - 1e-9:
            self._times.pop(0)
            self._poses.pop(0)

    def predict(self, horizon_s: float) -> np.ndarray:
        out = self._poses[-1].copy()
        if horizon_s <= 0 or len(self._times) < 2:
            return out
        t = np.asarray(self._times) - self._times[-1]
        xy = np.stack([p[:, :2] for p in self._poses]).astype(np.float64)  # [n, 33, 2]
        there = np.isfinite(xy).all(axis=(0, 2))
        tc = t - t.mean()
        slope = (tc[:, None, None] * (xy - xy.mean(0))).sum(0) / (tc ** 2).sum()
        at = xy.mean(0) + slope * (horizon_s - t.mean())
        out[there, :2] = at[there]
        return out


def score(stream: Stream, predictors: dict[str, Extrapolator],
          horizons: Sequence[float]) -> dict[str, dict[float, np.ndarray]]:
    """Per predictor and horizon, the limb joints' errors at `t + h` in body heights (the
    true one at `t + h`; the zoom framing changes it), for the joints there in the
    newest pose; the first `WARMUP_S` of the stream are not scored."""
    errors: dict[str, dict[float, list[np.ndarray]]] = {
        name: {h: [] for h in horizons} for name in predictors}
    limbs = np.asarray(LIMB_JOINTS)
    for p in predictors.values():
        p.reset()
    for i, t in enumerate(stream.times):
        for p in predictors.values():
            p.update(stream.filtered[i], float(t))
        if t < stream.times[0] + WARMUP_S:
            continue
        ok = np.isfinite(stream.filtered[i, limbs, :2]).all(axis=1)
        for h in horizons:
            truth = stream.truth_at(np.asarray(t + h))
            height = body_height(truth)
            for name, p in predictors.items():
                d = np.linalg.norm(p.predict(h)[limbs, :2] - truth[limbs], axis=1) / height
                errors[name][h].append(d[ok])
    return {name: {h: np.concatenate(v) for h, v in per.items()} for name, per in errors.items()}


def compare(model: Path, motions: Sequence[str] = HELD_OUT_MOTIONS,
            seeds: Sequence[int] = EVAL_SEEDS, horizons: Sequence[float] = EVAL_HORIZONS,
            seconds: float = 10.0, progress: bool = True) -> dict[str, dict[str, dict]]:
    """p50 / p95 / mean error at `t + h` (body heights, limb joints) on the streams of
    `motions` x `seeds`, for no prediction, a plain constant-velocity fit, the kinematic
    extrapolators as the live pipeline makes them (`engine.predict.predictor`) and the
    learned model."""
    from engine.predict.predictor import make_extrapolator

    predictors: dict[str, Extrapolator] = {"none": NoPrediction(),
                                           "constant_velocity": LeastSquaresVelocity(),
                                           "kinematic": make_extrapolator("kinematic"),
                                           "kinematic2": make_extrapolator("kinematic2"),
                                           "learned": LearnedPredictor(model)}
    errors: dict[str, dict[float, list[np.ndarray]]] = {
        n: {h: [] for h in horizons} for n in predictors}
    jobs = [(m, s) for m in motions for s in seeds]
    for motion, s in tqdm(jobs, desc="compare", unit="clip", disable=not progress, leave=False):
        # A timestamp and noise seed no training stream used.
        stream = make_stream(sample_spec(motion, s, seconds), seed=10_000 + s)
        for name, per in score(stream, predictors, horizons).items():
            for h, e in per.items():
                errors[name][h].append(e)
    table: dict[str, dict[str, dict]] = {}
    for name, per in errors.items():
        table[name] = {}
        for h, parts in per.items():
            e = np.concatenate(parts)
            table[name][f"{h:g}"] = {"p50": float(np.percentile(e, 50)),
                                     "p95": float(np.percentile(e, 95)),
                                     "mean": float(e.mean()), "n": int(e.size)}
    return table


class NoPrediction:
    """The newest pose, whatever the horizon (what the avatar shows without prediction)."""

    def reset(self) -> None:
        self._pose: np.ndarray | None = None

    def update(self, pose: np.ndarray, t: float) -> None:
        self._pose = np.asarray(pose, dtype=np.float32)

    def predict(self, horizon_s: float) -> np.ndarray:
        assert self._pose is not None
        return self._pose.copy()


def train(out: Path, steps: int = 8000, seed: int = 0, train_seeds: int = TRAIN_SEEDS,
          seconds: float = 10.0, val_seeds: Sequence[int] = VAL_SEEDS,
          eval_seeds: Sequence[int] = EVAL_SEEDS, progress: bool = True) -> dict:
    """Build the data, train, export `out/pose-predictor.onnx` and its `.json`, compare
    on the held-out motions (unless `eval_seeds` is empty); returns the metadata."""
    torch.set_num_threads(1)
    started = time.perf_counter()
    seeds = list(range(train_seeds))
    x, y = build_set(TRAIN_MOTIONS, seeds, seconds, seed, "training clips", progress)
    vx, vy = build_set(TRAIN_MOTIONS, val_seeds, seconds, seed + 1, "validation clips",
                       progress)
    log.info("%d training samples, %d validation samples (%.0f s)", len(x), len(vx),
             time.perf_counter() - started)
    model, summary = fit(x, y, vx, vy, steps, seed, progress=progress)
    path = Path(out) / MODEL_NAME
    export_onnx(model, path)
    meta = {
        "k": K, "grid_step": GRID_STEP, "max_horizon": MAX_HORIZON,
        "features": "per joint: its k-1 older grid positions minus the newest, over the body "
                    "height (x0, y0, ..., oldest first), then horizon / max_horizon",
        "output": "the joint at the horizon minus its newest position, over the body height",
        "body_height": "torso length / engine.body.NEUTRAL_TORSO",
        "input_scale": summary["in_scale"], "output_scale": summary["out_scale"],
        "hidden": HIDDEN, "parameters": sum(p.numel() for p in model.parameters()),
        "noise": NOISE, "train_motions": list(TRAIN_MOTIONS), "train_seeds": seeds,
        "val_seeds": list(val_seeds), "held_out_motions": list(HELD_OUT_MOTIONS),
        "steps": steps, "seed": seed, "best_step": summary["best_step"],
        "samples": len(x),
        "val_error": summary["val_error"],
        "val_error_no_prediction": summary["val_error_no_prediction"],
        "capture": "per clip: full, desk or zoom framing, 320..1080 px high, the actor at "
                   "0.3..0.7 of the width; 30 fps with 10% timestamp jitter or 15..25 fps "
                   "with 30%",
        "first_clip": asdict(sample_spec(TRAIN_MOTIONS[0], seeds[0], seconds)),
    }
    meta_path = metadata_path(path)
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    if eval_seeds:
        meta["held_out"] = {"seeds": list(eval_seeds), "joints": "limb joints",
                            "unit": "body heights",
                            "errors": compare(path, seeds=eval_seeds, seconds=seconds,
                                              progress=progress)}
        meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    log.info("wrote %s (%d bytes) and %s in %.0f s; validation error %.4f (no prediction "
             "%.4f)", path, path.stat().st_size, meta_path, time.perf_counter() - started,
             summary["val_error"], summary["val_error_no_prediction"])
    return meta


def _format_table(table: dict[str, dict[str, dict]]) -> str:
    lines = []
    for name, per in table.items():
        cells = ", ".join(f"h={h}s p50 {v['p50']:.4f} p95 {v['p95']:.4f}" for h, v in per.items())
        lines.append(f"  {name:18s} {cells}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m train.predictor", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("engine/predict/models"),
                        help="folder for pose-predictor.onnx and its .json")
    parser.add_argument("--steps", type=int, default=8000, help="training steps")
    parser.add_argument("--seed", type=int, default=0, help="seed of data and weights")
    parser.add_argument("--train-seeds", type=int, default=TRAIN_SEEDS,
                        help="seeds 0..N-1 of every training motion")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per clip")
    parser.add_argument("--no-compare", action="store_true",
                        help="skip the comparison on the held-out motions")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.train_seeds < 1 or not (args.seconds > 1.0):
        parser.error("--steps and --train-seeds must be >= 1, --seconds > 1")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    meta = train(args.out, steps=args.steps, seed=args.seed, train_seeds=args.train_seeds,
                 seconds=args.seconds, eval_seeds=() if args.no_compare else EVAL_SEEDS)
    if "held_out" in meta:
        log.info("held-out motions %s, seeds %s (limb joints, body heights):\n%s",
                 ", ".join(HELD_OUT_MOTIONS), meta["held_out"]["seeds"],
                 _format_table(meta["held_out"]["errors"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
