"""Motion lag through `dancenow serve`: how far the avatar trails the performer, with and
without pose prediction, measured from the motion itself.

For each motion, a synthetic performer whose true poses are known goes to a `dancenow
serve` (its own process) from an aiortc client (`benchmarks.lag_client`, its own
process), which switches the session's prediction off and on in turns (`--block`
seconds each, the first `--settle` of each left out) and posts its own round trips as
the page posts its glass-to-glass. The pose is then found again on every avatar frame
that came back (BlazePose, `--detector`), and `benchmarks.motion_align` gives, per
setting: the motion lag (the time shift that best aligns the avatar's motion with the
performer's true motion at the moment each frame arrived), the error at that moment
(p50 and p95, fraction of the body height), and the smoothness (joint acceleration and
the frames' temporal roughness). The motions default to ones the predictor was neither
trained nor tuned on (`dance`, `sidestep`) and a trained-on motion with a new seed.

    python -m benchmarks.motion_lag [--motions dance:41 sidestep:42 kick:43]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.machine import machine
from benchmarks.motion_align import TrueMotion, measure, true_height
from benchmarks.reliability import serving
from benchmarks.report import command_line, write_results
from engine.avatar import DEMO_LIVE_AVATAR, load_bundle
from engine.keypoints import LIMB_JOINTS
from engine.pose import create_estimator
from engine.predict.predictor import METHODS
from engine.predict.setting import DEFAULT_METHOD
from engine.runners.base import resolve_backend

log = logging.getLogger("benchmarks.motion_lag")
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CLIENT_TIMEOUT_S = 300.0


def motion_argument(text: str) -> tuple[str, int]:
    """`--motions` items: MOTION[:SEED] (seed 41 by default)."""
    name, _, seed = text.partition(":")
    try:
        return name, int(seed or 41)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MOTION[:SEED], got {text!r}") from None


def redetect(images: list[np.ndarray], detector: str) -> np.ndarray:
    """BlazePose on each avatar frame on its own (image mode: no tracking and no smoothing
    across frames, which would lag the motion measured), `[N, 33, 3]`."""
    with create_estimator(detector, video=False) as estimator:
        return np.stack([estimator.estimate(image) for image in images])


def block_masks(arrivals: np.ndarray, blocks: list, settle: float) -> dict[str, np.ndarray]:
    """Per setting, the frames that arrived in its blocks, `settle` s after each began."""
    masks: dict[str, np.ndarray] = {}
    for begin, end, setting in blocks:
        inside = (arrivals >= begin + settle) & (arrivals <= end)
        masks[setting] = masks.get(setting, np.zeros(len(arrivals), bool)) | inside
    return masks


def drawn_poses(data: dict) -> np.ndarray:
    """The limb joints `[N, 12, 2]` of the pose each received avatar frame was drawn from
    (the server sends it with the frame's code while the overlay is on; NaN where none
    came)."""
    by_code = {int(c): i for i, c in enumerate(data["drawn_codes"]) if c >= 0}
    out = np.full((len(data["arrivals"]), len(LIMB_JOINTS), 2), np.nan)
    for j, code in enumerate(data["codes"]):
        if (i := by_code.get(int(code))) is not None:
            out[j] = data["drawn"][i][list(LIMB_JOINTS)]
    return out


def analyze(data: dict, detector: str, settle: float) -> dict:
    """The figures of one client run (`benchmarks.lag_client`'s npz, loaded), for the pose
    found again on the avatar frames (`redetected`: what a viewer sees) and for the pose
    they were drawn from (`drawn`: the engine's own, without the generator's and the
    detector's errors)."""
    arrivals, images = data["arrivals"], list(data["images"])
    blocks = json.loads(str(data["blocks"]))[1:]  # the warm-up block is not measured
    samples = json.loads(str(data["samples"]))
    motion = TrueMotion.from_timeline(data["sent_times"], data["sent_counts"], data["truth"])
    groups = block_masks(arrivals, blocks, settle)
    reference = "off" if "off" in groups else next(iter(groups))
    height = true_height(data["truth"])
    found = redetect(images, detector)[:, LIMB_JOINTS, :2].astype(np.float64)
    result = {"redetected": measure(motion, height, arrivals, found, groups, images,
                                    reference=reference),
              "drawn": measure(motion, height, arrivals, drawn_poses(data), groups,
                               reference=reference)}
    trips = data["round_trips"]
    trip_groups = block_masks(trips[:, 0], blocks, settle) if len(trips) else {}
    result["settings"] = {}
    for setting in groups:
        rt = trips[trip_groups[setting], 1] if setting in trip_groups else []
        horizons = [s["predict"]["horizon_ms"] for s in samples
                    if s["setting"] == setting and s.get("predict")]
        result["settings"][setting] = {
            "round_trip_p50_ms": round(float(np.median(rt)) * 1e3, 1) if len(rt) else None,
            "horizon_ms_p50": round(float(np.median(horizons)), 1) if horizons else None}
    result["received_fps"] = round((len(arrivals) - 1) / (arrivals[-1] - arrivals[0]), 1)
    return result


def run_client(url: str, motion: str, seed: int, args: argparse.Namespace,
               out: Path) -> dict:
    command = [sys.executable, "-m", "benchmarks.lag_client", url, "--motion", motion,
               "--seed", str(seed), "--blocks", str(args.blocks), "--block", str(args.block),
               "--warmup", str(args.warmup), "--settings", *args.settings,
               "--size", str(args.size), "--out", str(out)]
    if not args.report_delay:
        command.append("--no-report-delay")
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          timeout=CLIENT_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"the client failed ({done.returncode}): "
                           f"{(done.stdout + done.stderr)[-1500:]}")
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


VIEWS = ("drawn", "redetected")
FIGURES = ("lag_ms", "error_p50", "error_p95", "acceleration_mean", "roughness_mean")
RATIOS = ("error_p50", "error_p95", "acceleration_mean", "roughness_mean")


def _mean(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return round(float(np.mean(values)), 5) if values else None


def settings_table(results: list[dict], settings: list[str]) -> dict:
    """Per setting, the means of `FIGURES` over `results` (one per motion, each setting ->
    its figures), and each setting's ratios to `off`."""
    table = {s: {k: _mean([r.get(s, {}).get(k) for r in results]) for k in FIGURES}
             for s in settings}
    if "off" in table:
        base = table["off"]
        for s in settings:
            if s != "off":
                table[s]["vs_off"] = {k: (round(table[s][k] / base[k], 3)
                                          if table[s][k] is not None and base[k] else None)
                                      for k in RATIOS}
    return table


def summarize(runs: list[dict], settings: list[str]) -> dict:
    """Per view and setting, the means over the motions, and each setting's ratios to
    `off`."""
    summary: dict[str, dict] = {view: settings_table([r[view] for r in runs], settings)
                                for view in VIEWS}
    summary["settings"] = {s: {k: _mean([r["settings"].get(s, {}).get(k) for r in runs])
                               for k in ("round_trip_p50_ms", "horizon_ms_p50")}
                           for s in settings}
    return summary


def _cell(v: object, digits: int = 4) -> str:
    return "—" if v is None else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))


def _view_table(report: dict, view: str) -> list[str]:
    lines = ["| motion | setting | frames | lag ms | error p50 | error p95 | acceleration "
             "| roughness |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for run in report["runs"]:
        for s in report["settings"]:
            r = run[view].get(s, {})
            lines.append(f"| {run['motion']}:{run['seed']} | {s} | {r.get('frames', 0)} | "
                         f"{_cell(r.get('lag_ms'), 0)} | {_cell(r.get('error_p50'))} | "
                         f"{_cell(r.get('error_p95'))} | {_cell(r.get('acceleration_mean'))} "
                         f"| {_cell(r.get('roughness_mean'), 5)} |")
    for s, r in report["summary"][view].items():
        lines.append(f"| **mean** | {s} | | {_cell(r['lag_ms'], 0)} | {_cell(r['error_p50'])} "
                     f"| {_cell(r['error_p95'])} | {_cell(r['acceleration_mean'])} | "
                     f"{_cell(r['roughness_mean'], 5)} |")
    for s, r in report["summary"][view].items():
        if "vs_off" in r:
            v = r["vs_off"]
            lines += ["", f"`{s}` against `off`: error p50 x{_cell(v['error_p50'], 2)}, "
                      f"p95 x{_cell(v['error_p95'], 2)}, acceleration "
                      f"x{_cell(v['acceleration_mean'], 2)}"
                      + (f", roughness x{_cell(v['roughness_mean'], 2)}"
                         if v["roughness_mean"] is not None else "") + "."]
    return lines


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = ["# Motion lag through `dancenow serve` (aiortc client)", "",
             f"Command: `{report['command']}`", "",
             f"Machine: {m['cpu']}, {m['cores']} cores. Avatar `{report['avatar']}`; server "
             f"`--predict auto --predict-method {report['method']}`, models on "
             f"`{report.get('backend', 'ort-cpu')}`. The client switches "
             f"the prediction per block of {report['block']} clip frames (the first "
             f"{report['settle']:g} s of each left out), each setting seeing the same motion, "
             "and "
             + ("posts its round trips as the page posts its glass-to-glass." if
                report["report_delay"] else "posts no delay (server latency + network "
                "estimate)."), "",
             "Lag: the time shift that best aligns the avatar's motion with the performer's "
             "true motion at the moment each frame arrived. Error: the avatar's pose against "
             "the true pose at that moment (mean of the 12 limb joints, fraction of the body "
             "height). Acceleration: the second difference of the avatar's joints per frame "
             "(fraction of height). Roughness: mean absolute second difference of the frames' "
             "pixels, a flicker measure that needs no reference video.", "",
             "| setting | round trip p50 ms | horizon p50 ms |", "|---|---:|---:|"]
    for s, r in report["summary"]["settings"].items():
        lines.append(f"| {s} | {_cell(r['round_trip_p50_ms'], 0)} | "
                     f"{_cell(r['horizon_ms_p50'], 0)} |")
    lines += ["", "## The pose each frame was drawn from (the engine's; no generator or "
              "detector error)", ""] + _view_table(report, "drawn")
    lines += ["", f"## The pose found again on the avatar frames ({report['detector']}, "
              "what a viewer sees)", ""] + _view_table(report, "redetected")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--motions", nargs="+", type=motion_argument,
                        default=[("dance", 41), ("sidestep", 42), ("kick", 43)],
                        metavar="MOTION[:SEED]", help="the performer's motions")
    parser.add_argument("--avatar", default=str(DEMO_LIVE_AVATAR), help="avatar bundle")
    parser.add_argument("--settings", nargs="+", default=["off", "auto"],
                        help="prediction settings compared, in turns")
    parser.add_argument("--blocks", type=int, default=10,
                        help="blocks per motion (10: each setting sees the clip once)")
    parser.add_argument("--block", type=int, default=120,
                        help="clip frames per block (an odd number of them per 600-frame "
                             "clip)")
    parser.add_argument("--settle", type=float, default=1.0,
                        help="seconds left out at the start of each block")
    parser.add_argument("--warmup", type=int, default=120,
                        help="clip frames before the blocks")
    parser.add_argument("--size", type=int, default=320, help="camera frame side, pixels")
    parser.add_argument("--detector", default="mediapipe",
                        help="pose estimator that finds the pose on the avatar frames")
    parser.add_argument("--no-report-delay", dest="report_delay", action="store_false",
                        help="the client posts no round trips: auto predicts by the "
                             "server's latency plus its network estimate")
    parser.add_argument("--backend", default="auto",
                        help="the server's --backend and --pose-backend (default: auto, as "
                             "`dancenow serve`)")
    parser.add_argument("--method", default=DEFAULT_METHOD, choices=METHODS,
                        help="the server's --predict-method")
    parser.add_argument("--server-option", action="append", default=[], metavar="OPT",
                        help="extra `dancenow serve` option (repeat; e.g. --network-ms=60)")
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    parser.add_argument("--stem", default="motion_lag", help="results file name")
    parser.add_argument("--keep", metavar="DIR",
                        help="keep each motion's recording (lag_client's npz) in DIR")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    options = ["--avatar", args.avatar, "--backend", args.backend, "--pose-backend",
               args.backend, "--max-sessions", "1",
               "--predict", "auto", "--predict-method", args.method, *args.server_option]
    runs = []
    with tempfile.TemporaryDirectory(prefix="dancenow-lag-") as tmp, serving(options) as server:
        keep = Path(args.keep or tmp)
        keep.mkdir(parents=True, exist_ok=True)
        for motion, seed in args.motions:
            log.info("%s (seed %d): streaming", motion, seed)
            data = run_client(server.url, motion, seed, args, keep / f"{motion}-{seed}.npz")
            log.info("%s: finding the pose on %d avatar frames", motion, len(data["arrivals"]))
            result = analyze(data, args.detector, args.settle)
            runs.append({"motion": motion, "seed": seed, **result})
            log.info("%s: %s", motion, {s: result["drawn"].get(s) for s in args.settings})
    report = {"command": command_line("benchmarks.motion_lag", argv), "machine": machine(),
              "avatar": load_bundle(args.avatar).name, "settings": args.settings,
              "block": args.block, "settle": args.settle, "report_delay": args.report_delay,
              "detector": args.detector, "method": args.method,
              "backend": resolve_backend(args.backend), "runs": runs,
              "summary": summarize(runs, args.settings)}
    write_results(args.out, args.stem, report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
