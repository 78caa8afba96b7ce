"""Export a trained run as an avatar bundle that the runtime loads without torch.

Exports the run's newest generator (and its face model) to ONNX with fixed input
shapes (or a dynamic batch axis with --max-batch, for sessions batched on a GPU),
simplifies and checks the graphs, checks parity against torch on real frames of the
run's data (max abs error <= 1e-3 in fp32, <= 1e-2 in fp16; a failure stops the export,
names the output and writes nothing), and writes the bundle folder: manifest.json,
generator.onnx, face.onnx and torch/*.pt2 for the torch backend.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from export.bundle import ExportOptions
    from export.onnx_steps import PRECISIONS

    d = ExportOptions()
    p.add_argument("run", metavar="RUN", help="training run folder (dancenow train -o RUN)")
    p.add_argument("-o", "--output", required=True, metavar="AVATAR",
                   help="avatar bundle folder to write")
    p.add_argument("--precision", default=d.precision, choices=PRECISIONS,
                   help="arithmetic inside the graphs (inputs and outputs stay float32)")
    p.add_argument("--opset", type=int, default=d.opset, help="ONNX opset version")
    p.add_argument("--data", metavar="DATA",
                   help="the run's data folder, if it moved since training (parity samples "
                        "and the target's normalization statistics come from it)")
    p.add_argument("--parity-samples", type=int, default=d.parity_samples, metavar="N",
                   help="consecutive frames checked against torch")
    p.add_argument("--name", help="the avatar's display name (default: the folder's name)")
    p.add_argument("--no-torch", action="store_true",
                   help="skip the torch.export programs (the torch backend then cannot run "
                        "this bundle)")
    p.add_argument("--max-batch", type=int, default=d.max_batch, metavar="N",
                   help="export the models with a dynamic batch axis taking 1 to N frames, "
                        "so that sessions sharing a GPU run in one batch (default 1: fixed "
                        "shapes)")
    p.add_argument("--force", action="store_true", help="replace an existing bundle")


def run(args: argparse.Namespace) -> int:
    from engine.errors import InputError
    from export.bundle import ExportOptions, export_avatar

    if args.parity_samples < 1:
        raise InputError("--parity-samples must be at least 1")
    if args.max_batch < 1:
        raise InputError("--max-batch must be at least 1")
    options = ExportOptions(precision=args.precision, opset=args.opset,
                            parity_samples=args.parity_samples,
                            torch_programs=not args.no_torch, name=args.name,
                            data=args.data, force=args.force, max_batch=args.max_batch)
    bundle = export_avatar(args.run, args.output, options)
    for name, entry in bundle.manifest["models"].items():
        worst = max(p["max_abs_error"] for p in entry["parity"])
        log.info("%s: %s, parity max abs error %.2e", name, entry["file"], worst)
    log.info("avatar bundle written: %s", bundle.root)
    return 0
