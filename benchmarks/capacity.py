"""What a session costs and how many fit: the cost table of the README.

For each avatar, what `dancenow serve` measures at start (`server.capacity`): each
stage's milliseconds per frame on one thread, the codecs', their sum, the CPUs a session
takes at 25 fps, the sessions per CPU core (with the server's headroom) and what this
machine admits. `--repeat` measures each avatar several times in turns and keeps the
median cost (the machine's speed drifts from minute to minute).

Results: `results/capacity.json` and `.md`.

    python -m benchmarks.capacity [--avatar PATH ...] [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from benchmarks.machine import machine, reference_ms
from benchmarks.report import command_line, write_results
from engine.avatar import DEMO_AVATAR, DEMO_LIVE_AVATAR, load_bundle
from engine.pipeline import PipelineConfig
from server.capacity import HEADROOM, TARGET_FPS, measure_capacity

log = logging.getLogger("benchmarks.capacity")
RESULTS = Path(__file__).resolve().parent / "results"
STAGES = ("pose", "label", "render", "finish", "decode", "encode")


def row(name: str, runs: list[dict]) -> dict:
    """The median run of one avatar (by cost) and what follows from its cost."""
    runs = sorted(runs, key=lambda r: r["cost_ms"])
    median = runs[len(runs) // 2]
    cost = median["cost_ms"]
    per_core = HEADROOM * 1000.0 / (TARGET_FPS * cost)
    return {"avatar": name, "stages_ms": median["stages_ms"], "cost_ms": cost,
            "costs_ms": [r["cost_ms"] for r in runs],
            "cpus_per_session": TARGET_FPS * cost / 1000.0,
            "sessions_per_core": per_core, "admitted_here": median["sessions"]}


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"# What a session costs ({m['cores']} cores, {m['cpu']})", "",
             f"`{report['command']}`", "",
             f"Per frame, each model on one thread (`server.capacity`, as `dancenow serve` "
             f"measures at start), median of {report['repeat']} run(s) per avatar; codecs: "
             "decoding a 480 px camera frame and encoding the avatar frame with aiortc's VP8. "
             f"Sessions per core: at {TARGET_FPS:g} fps with {HEADROOM:.0%} of each core "
             f"usable. Reference: the first avatar's generator alone on one thread, "
             f"{report['reference_ms']:.1f} ms just before.", "",
             "| avatar | " + " | ".join(f"{s} ms" for s in STAGES) +
             " | total ms | CPUs per session | sessions per core | admitted here |",
             "|---|" + "---:|" * (len(STAGES) + 4)]
    for r in report["avatars"]:
        lines.append(f"| {r['avatar']} | " +
                     " | ".join(f"{r['stages_ms'][s]:.1f}" for s in STAGES) +
                     f" | {r['cost_ms']:.1f} | {r['cpus_per_session']:.2f} | "
                     f"{r['sessions_per_core']:.2f} | {r['admitted_here']} |")
    return "\n".join(lines + [""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--avatar", action="append",
                        help="avatar bundle (repeat; default: both demo avatars)")
    parser.add_argument("--repeat", type=int, default=3, help="measurements per avatar")
    parser.add_argument("--pose-backend", default="ort-cpu")
    parser.add_argument("--pose-models", help="folder of the converted BlazePose models")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    bundles = [load_bundle(p) for p in (args.avatar or [DEMO_LIVE_AVATAR, DEMO_AVATAR])]
    pipeline = PipelineConfig(pose_backend=args.pose_backend, pose_models=args.pose_models,
                              pose_threads=1)
    reference = reference_ms(bundles[0].root)
    runs: dict[str, list[dict]] = {b.name: [] for b in bundles}
    for _ in range(args.repeat):
        for bundle in bundles:  # in turns, so drift touches every avatar alike
            capacity = measure_capacity({bundle.name: bundle}, pipeline)
            runs[bundle.name].append(capacity.to_json())
    report = {"command": command_line("benchmarks.capacity", argv), "machine": machine(),
              "repeat": args.repeat, "reference_ms": reference,
              "avatars": [row(name, r) for name, r in runs.items()]}
    for r in report["avatars"]:
        log.info("%s: %.1f ms a frame (%s), %.2f sessions per core", r["avatar"], r["cost_ms"],
                 ", ".join(f"{c:.1f}" for c in r["costs_ms"]), r["sessions_per_core"])
    write_results(args.out, "capacity", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
