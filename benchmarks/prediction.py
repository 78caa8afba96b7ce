"""Pose prediction, offline: how much of the end-to-end delay it hides, and at what cost.

The synthetic performer's TRUE keypoints (`synth.clip.clip_keypoints`, 120 fps, linearly
interpolated in between) are sampled at a webcam's rate with capture-time jitter (2 ms),
given detector-like noise (Gaussian, `--noise` of the body height per coordinate; a
joint drops out with probability 1% per frame, a whole frame with 0.5%), smoothed by
`engine.filters.PoseFilter` as the live pipeline does, then predicted by
`engine.predict.PosePredictor` (capped at 150 ms, backed off, shipped body limits) `D`
plus the filter's lag (`engine.predict.delay.FILTER_LAG_MS`) ahead, as `--predict auto`
does live. Per
frame, measured over the 12 limb joints, as fractions of the body height (ankle to nose):

* error: mean distance between the output pose and the TRUE pose at `t + D`, p50 and p95
  over frames, against no prediction (the filtered pose at `t`);
* jerkiness: mean |second difference| of the limb joints per frame (the true motion's
  own is given for reference);
* sudden stop: the motion freezes at its fastest moment; overshoot is how far past the
  frozen position (along each joint's last direction of motion) the output goes, the
  largest over limb joints; settle is the time from the stop until the output stays
  within 2% of the height of the frozen pose (mean over limb joints).

Clips: seeds 301..303 (used nowhere else: not by the limits, the tuning, nor the
learned model's training, selection or evaluation) of every motion; the defaults (window,
damping, order) were tuned with `--tune` on seeds 1..3 of the training motions (idle,
wave, squat, kick, turn, approach) only, and the held-out motions sidestep and dance are
reported on their own. The joint-angle ranges (`engine/predict/limits.json`) come from
all motions at seeds 0..4. Methods: kinematic (order 1), kinematic2 (order 2), kinematic
without body limits, and learned where its model is there (`train.predictor` trains it on
the training motions only, so sidestep and dance are held out for it too).

    python -m benchmarks.prediction [--seconds 8]
    python -m benchmarks.prediction --tune   # results/prediction-tuning.*
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.machine import machine
from benchmarks.report import command_line, write_results
from engine.errors import InputError
from engine.filters import PoseFilter
from engine.keypoints import LIMB_JOINTS, LM
from engine.predict import BodyLimits, KinematicPredictor, PosePredictor, make_extrapolator
from engine.predict.delay import FILTER_LAG_MS
from synth.clip import ClipSpec, clip_keypoints
from synth.motions import motion_names

log = logging.getLogger("benchmarks.prediction")
RESULTS = Path(__file__).resolve().parent / "results"

TRAINING = ("idle", "wave", "squat", "kick", "turn", "approach")
HELD_OUT = ("sidestep", "dance")
TUNE_SEEDS = (1, 2, 3)
EVAL_SEEDS = (301, 302, 303)  # used nowhere else (train.predictor: 0..11, 100..102, 201..203)
DELAYS = (0.07, 0.125)
LAG_S = FILTER_LAG_MS / 1e3  # predicted this much further, as live (auto)
TRUTH_FPS = 120.0
JITTER_S = 0.002
JOINT_DROP, FRAME_DROP = 0.01, 0.005
WARMUP_S = 0.5  # frames before this are not measured
STOP_MOTIONS = ("wave", "kick", "dance")
STOP_WINDOW = (2.0, 3.5)  # the stop falls at the fastest moment within this span, s
STOP_HOLD_S = 1.5
SETTLE_FRACTION = 0.02
LIMBS = list(LIMB_JOINTS)


@dataclass
class Truth:
    """True keypoints on a fine grid: `kp` `[N, 33, 3]` at `TRUTH_FPS`."""

    kp: np.ndarray
    height: float  # body height, pixels

    def at(self, t: np.ndarray) -> np.ndarray:
        """Linear interpolation `[len(t), 33, 2]`, clamped to the clip."""
        pos = np.clip(np.asarray(t) * TRUTH_FPS, 0, len(self.kp) - 1)
        i = np.minimum(pos.astype(int), len(self.kp) - 2)
        f = (pos - i)[:, None, None]
        xy = self.kp[..., :2].astype(np.float64)
        return xy[i] * (1 - f) + xy[i + 1] * f


def truth(motion: str, seed: int, seconds: float) -> Truth:
    kp = clip_keypoints(ClipSpec(motion=motion, seconds=seconds, fps=TRUTH_FPS, seed=seed))[:, 0]
    ankles = kp[:, [LM["left_ankle"], LM["right_ankle"]], :2].mean(1)
    height = float(np.median(np.linalg.norm(kp[:, LM["nose"], :2] - ankles, axis=1)))
    return Truth(kp, height)


def capture(tr: Truth, fps: float, seconds: float, noise: float,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Capture times and detected poses `[n, 33, 3]`: noisy, with dropouts."""
    times = np.arange(0.0, seconds, 1.0 / fps)
    times = np.sort(times + np.clip(rng.normal(0, JITTER_S, times.size), -0.008, 0.008))
    times = times[times >= 0]
    poses = np.ones((times.size, 33, 3), np.float32)
    poses[..., :2] = tr.at(times) + rng.normal(0, noise * tr.height, (times.size, 33, 2))
    drop = rng.random((times.size, 33)) < JOINT_DROP
    drop |= (rng.random(times.size) < FRAME_DROP)[:, None]
    poses[drop, :2] = np.nan
    poses[drop, 2] = 0.0
    return times, poses


def filtered(times: np.ndarray, poses: np.ndarray) -> np.ndarray:
    filt = PoseFilter()
    return np.stack([filt(p, float(t)) for t, p in zip(times, poses, strict=True)])


Method = Callable[[], PosePredictor]


def methods() -> tuple[dict[str, Method], dict[str, str]]:
    """The predictors compared, and those left out with the reason."""
    found: dict[str, Method] = {
        "kinematic": lambda: PosePredictor("kinematic"),
        "kinematic2": lambda: PosePredictor("kinematic2"),
        "kinematic, no limits": lambda: PosePredictor("kinematic", limits=None),
    }
    skipped = {}
    try:
        make_extrapolator("learned")
        found["learned"] = lambda: PosePredictor("learned")
    except InputError as exc:
        skipped["learned"] = str(exc)
        log.warning("learned predictor left out: %s", exc)
    return found, skipped


def predicted(make: Method, times: np.ndarray, smooth: np.ndarray, delay: float
              ) -> tuple[np.ndarray, float, float]:
    """The predictor's outputs, its median time per call (microseconds) and its mean
    back-off."""
    predictor = make()
    out = np.empty_like(smooth)
    spent = np.empty(len(times))
    backoff = np.empty(len(times))
    for i, (t, pose) in enumerate(zip(times, smooth, strict=True)):
        start = time.perf_counter()
        out[i] = predictor(pose, float(t), delay)
        spent[i] = time.perf_counter() - start
        backoff[i] = predictor.control.backoff
    return out, float(np.median(spent)) * 1e6, float(backoff.mean())


def limb_error(out: np.ndarray, target: np.ndarray, height: float) -> np.ndarray:
    """Per frame: mean limb-joint distance over the height (NaN where none is there)."""
    d = np.linalg.norm(out[:, LIMBS, :2] - target[:, LIMBS, :2], axis=-1)
    with np.errstate(invalid="ignore"):
        n = np.isfinite(d).sum(1)
        return np.where(n > 0, np.nansum(d, 1) / np.maximum(n, 1), np.nan) / height


def jerkiness(xy: np.ndarray, height: float) -> float:
    """Mean |second difference| of the limb joints per frame, over the height."""
    acc = np.linalg.norm(xy[2:, LIMBS, :2] - 2 * xy[1:-1, LIMBS, :2] + xy[:-2, LIMBS, :2], axis=-1)
    return float(np.nanmean(acc)) / height


def _summary(errors: list[np.ndarray], jerks: list[float],
             backoffs: list[float] | None) -> dict[str, float]:
    e = np.concatenate(errors)
    e = e[np.isfinite(e)]
    return {"p50": float(np.percentile(e, 50)), "p95": float(np.percentile(e, 95)),
            "mean": float(e.mean()), "jerk": float(np.mean(jerks)), "frames": int(e.size),
            "backoff": float(np.mean(backoffs)) if backoffs else 1.0}


def accuracy(groups: dict[str, Sequence[str]], seeds: Sequence[int], fps: float, seconds: float,
             noise: float, makers: dict[str, Method], rng: np.random.Generator
             ) -> dict[str, object]:
    """Errors and jerkiness per group, delay and method (`none`: no prediction)."""
    results: dict[str, object] = {}
    for group, motions in groups.items():
        errs: dict[tuple[float, str], list[np.ndarray]] = {}
        jerks: dict[tuple[float, str], list[float]] = {}
        true_jerk: list[float] = []
        cost: dict[str, list[float]] = {}
        backoffs: dict[tuple[float, str], list[float]] = {}
        for motion, seed in itertools.product(motions, seeds):
            tr = truth(motion, seed, seconds + 0.3)
            times, poses = capture(tr, fps, seconds, noise, rng)
            smooth = filtered(times, poses)
            keep = times >= WARMUP_S
            true_jerk.append(jerkiness(tr.at(times[keep]), tr.height))
            for delay in DELAYS:
                target = tr.at(times + delay)
                outs = {"none": smooth}
                for name, make in makers.items():
                    outs[name], us, backoff = predicted(make, times, smooth, delay + LAG_S)
                    cost.setdefault(name, []).append(us)
                    backoffs.setdefault((delay, name), []).append(backoff)
                for name, out in outs.items():
                    errs.setdefault((delay, name), []).append(
                        limb_error(out[keep], target[keep], tr.height))
                    jerks.setdefault((delay, name), []).append(jerkiness(out[keep], tr.height))
        results[group] = {
            "motions": list(motions), "true_jerk": float(np.mean(true_jerk)),
            "call_us": {name: float(np.median(v)) for name, v in cost.items()},
            "delays": {f"{int(round(d * 1000))}": {
                name: _summary(errs[(d, name)], jerks[(d, name)], backoffs.get((d, name)))
                for (dd, name) in errs if dd == d} for d in DELAYS}}
        log.info("%s at %g fps done", group, fps)
    return results


def stop_truth(motion: str, seed: int) -> tuple[Truth, float]:
    """A motion frozen at its fastest moment within STOP_WINDOW; the stop's time."""
    tr = truth(motion, seed, STOP_WINDOW[1] + STOP_HOLD_S + 0.5)
    xy = tr.kp[:, LIMBS, :2]
    speed = np.linalg.norm(np.diff(xy, axis=0), axis=-1).mean(1)
    lo, hi = (int(s * TRUTH_FPS) for s in STOP_WINDOW)
    i = lo + int(np.argmax(speed[lo:hi]))
    kp = tr.kp.copy()
    kp[i + 1:] = kp[i]
    return Truth(kp, tr.height), i / TRUTH_FPS


def stops(seeds: Sequence[int], fps: float, noise: float, makers: dict[str, Method],
          rng: np.random.Generator) -> dict[str, object]:
    """Overshoot and settling after a sudden stop, per delay and method."""
    over: dict[tuple[float, str], list[float]] = {}
    settle: dict[tuple[float, str], list[float]] = {}
    for motion, seed in itertools.product(STOP_MOTIONS, seeds):
        tr, t_stop = stop_truth(motion, seed)
        seconds = t_stop + STOP_HOLD_S
        times, poses = capture(tr, fps, seconds, noise, rng)
        smooth = filtered(times, poses)
        frozen = tr.kp[-1, LIMBS, :2].astype(np.float64)
        before = tr.at(np.array([t_stop - 0.05]))[0, LIMBS]
        direction = frozen - before
        norm = np.linalg.norm(direction, axis=1, keepdims=True)
        moving = norm[:, 0] > 1e-3 * tr.height
        direction = direction / np.maximum(norm, 1e-9)
        for delay in DELAYS:
            outs = {"none": smooth}
            for name, make in makers.items():
                outs[name], _, _ = predicted(make, times, smooth, delay + LAG_S)
            after = times + delay >= t_stop  # outputs meant for after the stop
            for name, out in outs.items():
                xy = out[after][:, LIMBS, :2].astype(np.float64)
                past = np.einsum("tjc,jc->tj", xy - frozen, direction)[:, moving]
                over.setdefault((delay, name), []).append(
                    float(np.nanmax(past, initial=0.0)) / tr.height)
                dist = np.nanmean(np.linalg.norm(xy - frozen, axis=-1), axis=1) / tr.height
                bad = np.flatnonzero(dist > SETTLE_FRACTION)  # frames without limbs: no verdict
                t_after = times[after]
                settled = (t_after[bad[-1] + 1] if bad.size and bad[-1] + 1 < t_after.size
                           else (t_after[0] if not bad.size else math.inf))
                settle.setdefault((delay, name), []).append(float(settled + delay - t_stop))
    return {f"{int(round(d * 1000))}": {
        name: {"overshoot_p50": float(np.median(over[(d, name)])),
               "overshoot_max": float(np.max(over[(d, name)])),
               "settle_s_p50": float(np.median(settle[(d, name)])),
               "settle_s_max": float(np.max(settle[(d, name)])),
               "stops": len(over[(d, name)])}
        for (dd, name) in over if dd == d} for d in DELAYS}


def timings(rng: np.random.Generator, noise: float) -> dict[str, float]:
    """Median microseconds per frame of the parts alone, on a dance at 30 fps."""
    tr = truth("dance", EVAL_SEEDS[0], 6.3)
    times, poses = capture(tr, 30.0, 6.0, noise, rng)
    smooth = filtered(times, poses)
    out: dict[str, float] = {}
    for order in (1, 2):
        ex = KinematicPredictor.tuned(order)
        spent = []
        for t, pose in zip(times, smooth, strict=True):
            start = time.perf_counter()
            ex.update(pose, float(t))
            ex.predict(0.1)
            spent.append(time.perf_counter() - start)
        out[f"kinematic order {order}: update + predict"] = float(np.median(spent)) * 1e6
    limits = BodyLimits.shipped()
    spent = []
    for pose in smooth:
        start = time.perf_counter()
        limits.apply(pose, pose)
        spent.append(time.perf_counter() - start)
    out["body limits: apply"] = float(np.median(spent)) * 1e6
    return out


# -- tuning -----------------------------------------------------------------------------

# The choice: of the settings within 2% of the best mean error, the least jerky.
CHOICE_SLACK = 0.02
TUNE_GRID: tuple[dict[str, float], ...] = (
    *({"order": 1, "window_s": w, "damping_s": d}
      for w in (0.07, 0.1, 0.15, 0.2, 0.3) for d in (0.1, 0.2, 0.4, 0.8, math.inf)),
    *({"order": 2, "window_s": w, "damping_s": d, "accel_gain": g}
      for w in (0.15, 0.2) for d in (0.2, 0.4) for g in (0.25, 0.5, 1.0)),
)


def tune(seconds: float, noise: float, rng: np.random.Generator,
         grid: Sequence[dict[str, float]] = TUNE_GRID) -> dict[str, object]:
    """Mean error (over the height) of the bare extrapolator on the training motions'
    tuning seeds, per setting of `KinematicPredictor`, averaged over the delays."""
    streams = []
    for motion, seed in itertools.product(TRAINING, TUNE_SEEDS):
        tr = truth(motion, seed, seconds + 0.3)
        times, poses = capture(tr, 30.0, seconds, noise, rng)
        keep = times >= WARMUP_S
        streams.append((tr, times, filtered(times, poses), keep))
    rows = []
    none = np.mean([np.nanmean(limb_error(s[keep], tr.at(times + d)[keep], tr.height))
                    for tr, times, s, keep in streams for d in DELAYS])
    none_jerk = np.mean([jerkiness(s[keep], tr.height) for tr, times, s, keep in streams])
    for params in grid:
        errs, jerks = [], []
        for tr, times, smooth, keep in streams:
            ex = KinematicPredictor(**params)  # type: ignore[arg-type]
            outs = {d: np.empty_like(smooth) for d in DELAYS}
            for i, (t, pose) in enumerate(zip(times, smooth, strict=True)):
                ex.update(pose, float(t))
                for d in DELAYS:
                    outs[d][i] = ex.predict(d)
            errs += [np.nanmean(limb_error(outs[d][keep], tr.at(times + d)[keep], tr.height))
                     for d in DELAYS]
            jerks += [jerkiness(outs[d][keep], tr.height) for d in DELAYS]
        stored = {k: (v if math.isfinite(v) else None) for k, v in params.items()}  # JSON
        rows.append({**stored, "mean_error": float(np.mean(errs)),
                     "vs_none": float(np.mean(errs) / none), "jerk": float(np.mean(jerks)),
                     "jerk_vs_none": float(np.mean(jerks) / none_jerk)})
        log.info("%s: %.4f", params, rows[-1]["mean_error"])
    rows.sort(key=lambda r: r["mean_error"])
    chosen = {}
    for order in {int(r["order"]) for r in rows}:
        mine = [r for r in rows if r["order"] == order]
        near = [r for r in mine if r["mean_error"] <= (1 + CHOICE_SLACK) * mine[0]["mean_error"]]
        chosen[str(order)] = min(near, key=lambda r: r["jerk"])
    return {"none_mean_error": float(none), "rows": rows, "chosen": chosen,
            "motions": list(TRAINING), "seeds": list(TUNE_SEEDS)}


# -- report -----------------------------------------------------------------------------

def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Pose prediction: hiding the end-to-end delay",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, numpy {m['numpy']}; "
        f"ran in {report['wall_s']:.0f} s (us/call: the predictor's median time per frame, "
        "limits and back-off included)",
        "",
        f"Synthetic performer, seeds {report['seeds']}, {report['seconds']} s per clip; "
        f"noise {100 * report['noise']:.1f}% of the body height per coordinate, "
        f"{100 * JOINT_DROP:.0f}% joint and {100 * FRAME_DROP:.1f}% frame dropouts, "
        f"{1000 * JITTER_S:.0f} ms capture jitter; one-euro filter, then the predictor "
        "(cap 150 ms, back-off, shipped body limits). Errors are the mean limb-joint distance "
        "to the true pose at t + D, in % of the body height; jerk is the mean |second "
        "difference| per frame, % of the height. Training motions: "
        f"{', '.join(TRAINING)}; held out from tuning: {', '.join(HELD_OUT)}.",
        "",
    ]
    if report["skipped"]:
        for name, why in report["skipped"].items():
            lines += [f"Left out: {name} ({why}).", ""]
    for fps_key, groups in report["accuracy"].items():
        lines += [f"## Error at {fps_key} fps", "",
                  "| motions | D (ms) | method | p50 % | p95 % | p50 vs none | p95 vs none "
                  "| jerk % | jerk vs none | back-off | us/call |",
                  "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for group, res in groups.items():
            for d, per in res["delays"].items():
                base = per["none"]
                for name, s in per.items():
                    us = res["call_us"].get(name)
                    lines.append(
                        f"| {group} | {d} | {name} | {_pct(s['p50'])} | {_pct(s['p95'])} "
                        f"| {s['p50'] / base['p50']:.2f} | {s['p95'] / base['p95']:.2f} "
                        f"| {_pct(s['jerk'])} "
                        f"| {s['jerk'] / base['jerk']:.2f} | {s['backoff']:.2f} | "
                        f"{'' if us is None else f'{us:.0f}'} |")
        lines += ["", "True motion's own jerk (%): " + ", ".join(
            f"{g} {_pct(r['true_jerk'])}" for g, r in groups.items()), ""]
    lines += ["## Sudden stop (30 fps)", "",
              f"Motions {', '.join(STOP_MOTIONS)} frozen at their fastest moment. Overshoot "
              "(% of the height, largest over limb joints; the noise alone shows as some), "
              f"settle time (s) until within {100 * SETTLE_FRACTION:.0f}% of the frozen pose.",
              "",
              "| D (ms) | method | overshoot p50 % | overshoot max % | settle p50 (s) "
              "| settle max (s) |",
              "|---:|---|---:|---:|---:|---:|"]
    for d, per in report["stop"].items():
        for name, s in per.items():
            lines.append(f"| {d} | {name} | {_pct(s['overshoot_p50'])} "
                         f"| {_pct(s['overshoot_max'])} | {s['settle_s_p50']:.2f} "
                         f"| {s['settle_s_max']:.2f} |")
    lines += ["", "## Time per frame (median, microseconds)", "", "| part | us |",
              "|---|---:|"]
    lines += [f"| {name} | {us:.0f} |" for name, us in report["timing_us"].items()]
    return "\n".join(lines) + "\n"


def tuning_markdown(report: dict) -> str:
    tun = report["tuning"]
    lines = ["# Pose prediction: tuning the kinematic extrapolator", "",
             f"Command: `{report['command']}`", "",
             f"Training motions ({', '.join(tun['motions'])}), seeds {tun['seeds']}, "
             f"{report['seconds']} s per clip at 30 fps, the benchmark's noise and the "
             "one-euro filter; the bare extrapolator (no limits, no back-off) at D = "
             f"{', '.join(str(d) for d in report['delays_ms'])} ms. Mean limb-joint error "
             "against the true pose at t + D, % of the body height; without prediction: "
             f"{_pct(tun['none_mean_error'])} %. Jerk: mean |second difference| of the limb "
             "joints against that of the filtered poses. Chosen (`engine.predict.kinematic."
             f"TUNED`): of the settings within {100 * CHOICE_SLACK:.0f}% of the best error, "
             "the least jerky:", ""]
    for order, r in tun["chosen"].items():
        lines.append(f"* order {order}: window {r['window_s']} s, damping {r['damping_s']} s"
                     + (f", accel gain {r['accel_gain']}" if "accel_gain" in r else "")
                     + f" (error {r['vs_none']:.3f} of none, jerk {r['jerk_vs_none']:.2f}x)")
    lines += ["", "Best six of each order by error:", "",
             "| order | window (s) | damping (s) | accel gain | mean error % | vs none "
             "| jerk vs none |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for order in (1, 2):
        for r in [r for r in tun["rows"] if r["order"] == order][:6]:
            damping = "none" if r["damping_s"] is None else r["damping_s"]
            lines.append(f"| {r['order']} | {r['window_s']} | {damping} "
                         f"| {r.get('accel_gain', '')} | {_pct(r['mean_error'])} "
                         f"| {r['vs_none']:.3f} | {r['jerk_vs_none']:.2f} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per clip")
    parser.add_argument("--noise", type=float, default=0.004,
                        help="detector noise, fraction of the body height per coordinate")
    parser.add_argument("--tune", action="store_true",
                        help="instead, grid-search the extrapolator's settings on the tuning "
                             "seeds (results/prediction-tuning.*)")
    parser.add_argument("--out-dir", type=Path, default=RESULTS, help="where results go")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    args = parse_args(argv)
    if set(TRAINING) | set(HELD_OUT) != set(motion_names()):
        raise SystemExit("the motion corpus changed: update TRAINING / HELD_OUT")
    rng = np.random.default_rng(2026)
    command = command_line("benchmarks.prediction", argv)
    if args.tune:
        report = {"command": command, "machine": machine(), "seconds": args.seconds,
                  "noise": args.noise, "delays_ms": [int(round(d * 1000)) for d in DELAYS],
                  "tuning": tune(args.seconds, args.noise, rng)}
        write_results(args.out_dir, "prediction-tuning", report, tuning_markdown(report))
        return 0
    makers, skipped = methods()
    groups = {"training": TRAINING, **{m: (m,) for m in HELD_OUT}}
    start = time.perf_counter()
    report = {
        "command": command, "machine": machine(),
        "seeds": list(EVAL_SEEDS), "seconds": args.seconds, "noise": args.noise,
        "delays_ms": [int(round(d * 1000)) for d in DELAYS], "skipped": skipped,
        "accuracy": {
            "30": accuracy(groups, EVAL_SEEDS, 30.0, args.seconds, args.noise, makers, rng),
            "20": accuracy({"all": TRAINING + HELD_OUT}, EVAL_SEEDS[:1], 20.0, args.seconds,
                           args.noise, makers, rng)},
        "stop": stops(EVAL_SEEDS, 30.0, args.noise, makers, rng),
        "timing_us": timings(rng, args.noise)}
    report["wall_s"] = time.perf_counter() - start
    write_results(args.out_dir, "prediction", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
