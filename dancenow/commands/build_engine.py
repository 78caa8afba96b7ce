"""Build the TensorRT engines of an avatar bundle ahead of time, and report build times.

Engines are cached in the bundle under engines/<gpu>-sm<cc>-trt<version>/, keyed by each
ONNX file's hash, so the first live frame does not wait for a build. Each model's line
says the precision built, the TensorRT version and the GPU. `--backend ort-trt` warms
ONNX Runtime's TensorRT engine cache instead.
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
    p.add_argument("--precision", default="auto", choices=("auto", "fp16", "fp32"),
                   help="engine precision (trt): auto builds the precision the bundle was "
                        "exported in; TensorRT 10 and 11 build strongly typed networks, so "
                        "another precision needs another export")
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

            built = build_engine(bundle.model_path(name), args.precision, args.force)
            print(f"{name}: {built.describe()}")
        else:
            with open_runner(bundle, name, args.backend) as runner:
                runner.infer({s.name: np.zeros(s.shape, s.dtype) for s in runner.inputs})
            log.info("%s: ort-trt engine ready in %.1f s", name, time.perf_counter() - start)
    return 0
