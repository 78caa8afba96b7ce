"""The whole live chain on this machine: pipelined against sequential, in one run.

A synthetic performer clip is offered to the live pipeline in real time (at its frame
rate; frames the pipeline is too busy for are dropped), and the sustained output frame
rate and the capture-to-output latency are measured. Then the same clip is offered
faster than any stage can go (`--saturate-fps`), which gives the pipeline's throughput.
In the same run, the same steps (fresh instances, each model free to use every CPU) are
called one after another per frame as fast as they go: the sequential baseline. The
pipelining gain is the ratio of the two throughputs (a real-time source caps the
pipelined rate at its own frame rate, so that rate alone cannot show a gain).

    python -m benchmarks.pipeline [--avatar avatars/demo] [--backend ort-cpu] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import machine, reference_ms
from benchmarks.report import command_line, write_results
from engine.avatar import DEMO_AVATAR, AvatarBundle, load_bundle
from engine.pipeline import LiveFrame, LivePipeline, PipelineConfig
from engine.pipeline.affinity import RENDER_CPUS
from engine.pipeline.sources import FramesSource
from engine.pipeline.steps import run_sequential
from engine.predict.setting import predict_argument
from engine.timing import summarize_ms

log = logging.getLogger("benchmarks.pipeline")
RESULTS = Path(__file__).resolve().parent / "results"
WARMUP_FRAMES = 15


def performer_frames(seconds: float, fps: float, size: int) -> list[np.ndarray]:
    from synth.clip import ClipSpec, synthesize

    spec = ClipSpec(actor="performer", motion="dance", seconds=seconds, size=size, fps=fps,
                    seed=11)
    return [frame for frame, _ in synthesize(spec)]


def _pipelined(bundle: AvatarBundle, config: PipelineConfig, frames: list[np.ndarray],
               fps: float) -> dict:
    out_times: list[float] = []

    async def sink(frame: LiveFrame) -> None:
        out_times.append(time.perf_counter())

    with LivePipeline(bundle, config) as pipe:
        asyncio.run(pipe.run(FramesSource(frames[:WARMUP_FRAMES], fps, realtime=False), sink))
        out_times.clear()
        stats = asyncio.run(pipe.run(FramesSource(frames, fps, realtime=True), sink))
    span = out_times[-1] - out_times[0] if len(out_times) > 1 else float("nan")
    return {"output_fps": (len(out_times) - 1) / span, "input_fps": fps,
            "frames_in": stats["frames_in"], "frames_out": stats["frames_out"],
            "dropped": stats["dropped"], "errors": stats["errors"],
            "latency_ms": stats["latency"], "stages_ms": stats["stages"],
            "predict": stats.get("predict")}


def _sequential(bundle: AvatarBundle, config: PipelineConfig, frames: list[np.ndarray],
                fps: float) -> dict:
    # The fair baseline: one step at a time, each model free to use every CPU.
    config = dataclasses.replace(config, pin_threads=False, pose_threads=None,
                                 render_threads=None)
    with LivePipeline(bundle, config) as pipe:  # fresh steps, called in this thread
        run_sequential(frames[:WARMUP_FRAMES], pipe.steps, fps)
        result = run_sequential(frames, pipe.steps, fps)
    lat = summarize_ms(result["latency_s"])
    return {"output_fps": result["output_fps"],
            "latency_ms": {"p50_ms": lat["p50_ms"], "p95_ms": lat["p95_ms"]}}


def bench_pipeline(bundle: AvatarBundle, config: PipelineConfig, seconds: float = 20.0,
                   fps: float = 30.0, size: int = 512, saturate_fps: float = 120.0) -> dict:
    frames = performer_frames(seconds, fps, size)
    live = _pipelined(bundle, config, frames, fps)
    saturated = _pipelined(bundle, config, frames, saturate_fps)
    seq = _sequential(bundle, config, frames, fps)
    log.info("pipelined %.1f fps (p50 %.1f ms), saturated %.1f fps, sequential %.1f fps",
             live["output_fps"], live["latency_ms"]["p50_ms"], saturated["output_fps"],
             seq["output_fps"])
    return {"avatar": bundle.name, "backend": config.backend,
            "pose_backend": config.pose_backend, "seconds": seconds, "source_fps": fps,
            "frame_size": size, **{k: live[k] for k in ("output_fps", "latency_ms")},
            "pipelined": live, "saturated": {**saturated, "input_fps": saturate_fps},
            "sequential": seq, "throughput_fps": saturated["output_fps"],
            "sequential_output_fps": seq["output_fps"],
            "speedup": saturated["output_fps"] / seq["output_fps"]}


def markdown(report: dict) -> str:
    m, r = report["machine"], report
    live, sat, seq = r["pipelined"], r["saturated"], r["sequential"]
    lines = ["# Live pipeline on this machine", "", f"Command: `{r['command']}`", "",
             f"Machine: {m['cpu']}, {m['cores']} cores. Avatar `{r['avatar']}` on "
             f"`{r['backend']}`, pose on `{r['pose_backend']}`; a {r['frame_size']} px "
             f"synthetic performer offered at {r['source_fps']:.0f} fps for "
             f"{r['seconds']:.0f} s." + (
                 f" Reference: the avatar's generator alone on one thread took "
                 f"{r['reference_ms']:.1f} ms just before (the machine's speed then)."
                 if r.get("reference_ms") is not None else ""), "",
             "| mode | output fps | latency p50 ms | latency p95 ms | dropped |",
             "|---|---:|---:|---:|---:|",
             f"| pipelined (real-time source) | {live['output_fps']:.1f} | "
             f"{live['latency_ms']['p50_ms']:.1f} | {live['latency_ms']['p95_ms']:.1f} | "
             f"{live['dropped']} of {live['frames_in']} |",
             f"| pipelined (source at {sat['input_fps']:.0f} fps: throughput) | "
             f"{sat['output_fps']:.1f} | {sat['latency_ms']['p50_ms']:.1f} | "
             f"{sat['latency_ms']['p95_ms']:.1f} | {sat['dropped']} of {sat['frames_in']} |",
             f"| sequential (same steps, as fast as they go) | {seq['output_fps']:.1f} | "
             f"{seq['latency_ms']['p50_ms']:.1f} | {seq['latency_ms']['p95_ms']:.1f} | — |",
             "", f"Pipelining gain: **{r['speedup']:.2f}x** throughput (pipelined with the "
             "source saturating it, against sequential).", "",
             "Per-stage time in the pipeline (ms, p50 / p95):", "",
             "| stage | p50 | p95 |", "|---|---:|---:|"]
    for name, s in live["stages_ms"].items():
        if s:
            lines.append(f"| {name} | {s['p50_ms']:.1f} | {s['p95_ms']:.1f} |")
    if (predict := live.get("predict")) and predict.get("setting") != "off":
        lines += ["", f"Pose prediction `{predict['setting']}` (its cost is in the label "
                  f"stage): horizon {predict.get('horizon_ms', 0):.0f} ms at the end, from "
                  f"the delay {predict.get('delay_ms')} ms ({predict.get('delay_source')})."]
    return "\n".join(lines) + "\n"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--avatar", default=str(DEMO_AVATAR), help="avatar bundle")
    p.add_argument("--backend", default="ort-cpu", help="runner of the avatar's models")
    p.add_argument("--pose-backend", default="ort-cpu",
                   help="pose estimator (mediapipe, or a Runner backend)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of the source")
    p.add_argument("--fps", type=float, default=30.0, help="source frame rate")
    p.add_argument("--saturate-fps", type=float, default=120.0,
                   help="source frame rate of the throughput run (above any stage's rate)")
    p.add_argument("--size", type=int, default=512, help="source frame size, pixels")
    p.add_argument("--render-threads", type=int,
                   help="generator threads (default: one per render CPU)")
    p.add_argument("--render-cpus", default="others", choices=RENDER_CPUS,
                   help="render on the CPUs pose leaves free, or on all of them")
    p.add_argument("--pose-threads", type=int, default=1, help="ONNX pose threads")
    p.add_argument("--predict", type=predict_argument, default="auto", metavar="auto|off|MS",
                   help="pose prediction as `dancenow serve --predict` (auto: by the "
                        "pipeline's latency plus the network estimate; default auto)")
    p.add_argument("--json", metavar="OUT", help="also write the report here")


def run_report(args: argparse.Namespace, command: str) -> dict:
    from engine.errors import InputError

    if args.seconds <= 0 or args.fps <= 0 or args.saturate_fps <= 0:
        raise InputError("--seconds, --fps and --saturate-fps must be positive")
    bundle = load_bundle(args.avatar, verify=True)
    from export.blazepose import ensure_pose_models

    ensure_pose_models(args.pose_backend)
    config = PipelineConfig(backend=args.backend, pose_backend=args.pose_backend,
                            render_threads=args.render_threads, pose_threads=args.pose_threads,
                            render_cpus=args.render_cpus, predict=args.predict)
    report = {"command": command, "machine": machine(),
              "reference_ms": reference_ms(args.avatar),
              **bench_pipeline(bundle, config, args.seconds, args.fps, args.size,
                               args.saturate_fps)}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    report = run_report(args, command_line("benchmarks.pipeline", argv))
    write_results(args.out, "pipeline", report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
