"""Label map benchmark: the OpenCV reference against the fused native kernel.

Times, per call, `render_label_map_reference` (OpenCV drawing plus the uint8 -> float16
NCHW conversion) and `render_label_map` (the native kernel writing into a preallocated
tensor, Python wrapper included), plus the bare `engine._native` call, on poses of the
synthetic actors across several motions, at each size. Calls are interleaved pose by
pose, cycling through every order, so all sides see the same machine state. Writes
results/label_map.json and results/label_map.md and prints the table.

    python -m benchmarks.label_map [--frames 300] [--sizes 256 512]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.machine import machine
from benchmarks.report import command_line, write_results
from engine import _native
from engine.skeleton import (
    LabelMapStyle,
    _native_radii,
    _native_tables,
    render_label_map,
    render_label_map_reference,
)
from synth.appearance import get_actor
from synth.body import Camera
from synth.clip import ClipSpec, pose_at
from synth.motions import Tempo

log = logging.getLogger("benchmarks.label_map")

RESULTS = Path(__file__).resolve().parent / "results"
CLIPS = (
    ClipSpec(actor="performer", motion="dance", seed=0),
    ClipSpec(actor="target", motion="kick", seed=1),
    ClipSpec(actor="performer", motion="wave", seed=2),
    ClipSpec(actor="target", motion="turn", seed=3),
    ClipSpec(actor="performer", motion="approach", seed=4),
    ClipSpec(actor="target", motion="sidestep", seed=5),
)
WARMUP_CALLS = 20
Renderer = Callable[[np.ndarray], object]


def poses_for(size: int, count: int) -> list[np.ndarray]:
    """`count` distinct poses `[33, 3]` for a `size` square frame, spread over the clips."""
    poses = []
    for i in range(count):
        spec = CLIPS[i % len(CLIPS)]
        app, cam = get_actor(spec.actor), Camera.for_size(size, size)
        t = (i // len(CLIPS)) * spec.seconds * len(CLIPS) / count
        poses.append(pose_at(app, cam, spec.motion, Tempo.from_seed(spec.seed), t)[0])
    return poses


def renderers(size: int) -> dict[str, Renderer]:
    """The implementations under test, each a function of the keypoints."""
    out = np.empty((1, 3, size, size), np.float16)
    style = LabelMapStyle.for_size(size)
    bones, colors, mids = _native_tables()
    radii = _native_radii(style)

    def kernel_only(kp: np.ndarray) -> None:
        _native.render_label_map(kp, out, bones, colors, radii, mids, 1.0, 1.0, 0.0, 0.0,
                                 style.min_visibility)

    return {
        "reference": lambda kp: render_label_map_reference(kp, size, size),
        "native": lambda kp: render_label_map(kp, size, size, out=out),
        "native kernel call": kernel_only,
    }


def time_calls(funcs: dict[str, Renderer], poses: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Nanoseconds per call for each function, after a warm-up.

    Calls are interleaved pose by pose, cycling through every order of the functions, so
    that each one follows each other equally often (what ran just before decides what is
    left in the caches: the reference's image and conversions evict the output tensor).
    """
    for kp in poses[:WARMUP_CALLS]:
        for func in funcs.values():
            func(kp)
    orders = list(itertools.permutations(funcs))
    times = {name: np.empty(len(poses), np.int64) for name in funcs}
    gc.disable()
    try:
        for i, kp in enumerate(poses):
            for name in orders[i % len(orders)]:
                func = funcs[name]
                start = time.perf_counter_ns()
                func(kp)
                times[name][i] = time.perf_counter_ns() - start
    finally:
        gc.enable()
    return times


def summarize(ns: np.ndarray) -> dict[str, float]:
    return {"median_us": float(np.median(ns)) / 1e3, "p95_us": float(np.percentile(ns, 95)) / 1e3,
            "calls": int(ns.size)}


def bench_size(size: int, frames: int) -> dict[str, object]:
    log.info("size %d: %d poses", size, frames)
    poses = [np.ascontiguousarray(kp, np.float32) for kp in poses_for(size, frames)]
    stats = {name: summarize(ns) for name, ns in time_calls(renderers(size), poses).items()}
    ref, nat = stats["reference"], stats["native"]
    result = {"implementations": stats,
              "speedup_median": ref["median_us"] / nat["median_us"],
              "speedup_p95": ref["p95_us"] / nat["p95_us"]}
    log.info("size %d: reference %.0f us, native %.0f us median: %.1fx", size,
             ref["median_us"], nat["median_us"], result["speedup_median"])
    return result


def markdown(report: dict[str, object]) -> str:
    m = report["machine"]
    lines = [
        "# Label map: OpenCV reference vs fused native kernel",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, numpy {m['numpy']}, "
        f"OpenCV {m['opencv']}",
        "",
        "Per call, microseconds, over distinct poses of the synthetic actors "
        f"({report['frames']} per size, after {WARMUP_CALLS} warm-up calls).",
        "",
        "| size | implementation | median (us) | p95 (us) | speedup (median) | speedup (p95) |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for size, result in report["sizes"].items():
        ref = result["implementations"]["reference"]
        for name, stats in result["implementations"].items():
            speed = (f"{ref['median_us'] / stats['median_us']:.1f}x",
                     f"{ref['p95_us'] / stats['p95_us']:.1f}x")
            if name == "reference":
                speed = ("1.0x", "1.0x")
            lines.append(f"| {size} | {name} | {stats['median_us']:.1f} | {stats['p95_us']:.1f} "
                         f"| {speed[0]} | {speed[1]} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="distinct poses per size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512],
                        help="square output sizes, pixels")
    parser.add_argument("--out-dir", type=Path, default=RESULTS, help="where results go")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    args = parse_args(argv)
    if args.frames <= WARMUP_CALLS:
        raise SystemExit(f"--frames must exceed the {WARMUP_CALLS} warm-up calls")
    report = {"command": command_line("benchmarks.label_map", argv), "machine": machine(),
              "frames": args.frames,
              "sizes": {str(size): bench_size(size, args.frames) for size in args.sizes}}
    write_results(args.out_dir, "label_map", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
