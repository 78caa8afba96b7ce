"""The paper's ablation: global generator only / + temporal smoothing / + face GAN.

Evaluates each stage's checkpoint on the same prepared frames and writes `quality.json`
and `quality.md` under benchmarks/results/. Usage (after `make avatar`, whose run holds
the global, temporal and face stages; --global-run names a global stage trained in
another folder):

    python -m benchmarks.quality --data out/avatar/heldout --split all --run out/avatar/run
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

from benchmarks.report import command_line
from engine.timing import cpu_model
from train.data import PreparedData
from train.evaluate import PAPER, evaluate, load_run

log = logging.getLogger("benchmarks.quality")
RESULTS = Path(__file__).resolve().parent / "results"
COLUMNS = ("ssim", "psnr", "face_ssim", "flicker", "pose_distance", "redetect_rate")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="prepared frames to evaluate on")
    parser.add_argument("--split", default="all", choices=("val", "train", "all"))
    parser.add_argument("--run", required=True, help="run with the temporal and face stages")
    parser.add_argument("--global-run", help="run with the global stage (default: --run)")
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    data = PreparedData(args.data)
    variants = (("global only", args.global_run or args.run, "global"),
                ("+ temporal", args.run, "temporal"), ("+ temporal + face", args.run, "face"))
    rows = []
    for name, run, stage in variants:
        started = time.perf_counter()
        models = load_run(run, stage=stage)
        metrics = evaluate(models, data, args.split)
        metrics.update(variant=name, run=run, seconds=round(time.perf_counter() - started, 1))
        log.info("%s: %s", name, {k: metrics[k] for k in COLUMNS})
        rows.append(metrics)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = command_line("benchmarks.quality", argv)
    (out / "quality.json").write_text(json.dumps({"command": command, "rows": rows,
                                                  "paper": PAPER}, indent=2))
    lines = [
        "# Quality: the paper's ablation on the synthetic target actor",
        "",
        f"Command: `{command}`",
        "",
        f"Data: `{args.data}` (split `{args.split}`, {rows[0]['frames']} frames, "
        f"{data.size}x{data.size}): motions of the target actor that training never saw. "
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, CPU only.",
        "",
        "| variant | stage (step) | SSIM | PSNR dB | face SSIM | flicker | pose distance "
        "(x height) | re-detection |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['stage']} ({r['step']}) | {r['ssim']:.4f} | "
                     f"{r['psnr']:.2f} | {r['face_ssim']:.4f} | {r['flicker']:.4f} | "
                     f"{r['pose_distance']:.4f} | {100 * r['redetect_rate']:.1f}% |")
    lines += ["", f"Paper (real dancers, 512 px, temporal + face): body SSIM {PAPER['ssim']}, "
              f"face SSIM {PAPER['face_ssim']}."]
    (out / "quality.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
