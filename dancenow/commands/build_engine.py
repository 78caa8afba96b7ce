"""Build the TensorRT engines of an avatar bundle ahead of time, and report build times.

Engines are cached in the bundle under engines/<gpu>-sm<cc>-trt<version>/, keyed by each
ONNX file's hash, so the first live frame does not wait for a build. `--backend ort-trt`
warms ONNX Runtime's TensorRT engine cache instead.
"""

from __future__ import annotations

import argparse
import logging
import time

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("avatar", metavar="AVATAR", help="avatar bundle folder (dancenow export)")
    p.add_argument("--backend", default="trt", choices=("trt", "ort-trt"),
                   help="which TensorRT path to build for")
    p.add_argument("--precision", default="fp16", choices=("fp16", "fp32"),
                   help="engine precision (trt)")
    p.add_argument("--force", action="store_true", help="rebuild even when cached")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from engine.avatar import load_bundle, open_runner
    from engine.errors import BackendUnavailable
    from engine.runners import available_backends

    bundle = load_bundle(args.avatar, verify=True)
    why = available_backends()[args.backend]
    if why:
        raise BackendUnavailable(f"backend {args.backend} is not available here: {why}")
    for name in bundle.models:
        start = time.perf_counter()
        if args.backend == "trt":
            from engine.runners.trt_runner import build_engine

            path, seconds = build_engine(bundle.model_path(name), args.precision, args.force)
            state = f"built in {seconds:.1f} s" if seconds else "already cached"
            log.info("%s: %s (%s)", name, path, state)
        else:
            with open_runner(bundle, name, args.backend) as runner:
                runner.infer({s.name: np.zeros(s.shape, s.dtype) for s in runner.inputs})
            log.info("%s: ort-trt engine ready in %.1f s", name, time.perf_counter() - start)
    return 0
