"""The backends a live command runs on (`serve`, `worker`, `demo`): their two options,
and `auto` resolved once, checked, and said in the log."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_backend_arguments(p: argparse.ArgumentParser, models: str, pose_help: str) -> None:
    """`--backend` (the runner of `models`) and `--pose-backend` (`pose_help`), both
    `auto` by default."""
    from engine.pose import estimator_names

    p.add_argument("--backend", default="auto",
                   help=f"runner of {models}: auto (ov-cpu where OpenVINO is installed, in "
                        "bfloat16 where the CPU has it, else ort-cpu), ort-cpu, ov-cpu, "
                        "ort-cuda, ort-trt, trt, torch")
    p.add_argument("--pose-backend", default="auto", choices=estimator_names(), help=pose_help)


def chosen_backends(backend: str, pose_backend: str) -> tuple[str, str]:
    """(`backend`, `pose_backend`) with `auto` replaced by the CPU backend it picks here
    (`engine.runners.base.resolve_backend`), logged so the choice is on record."""
    from engine.errors import BackendUnavailable
    from engine.runners.base import available_backends, resolve_backend
    from engine.runners.ov_runner import cpu_has_bf16

    chosen = resolve_backend(backend), (pose_backend if pose_backend == "mediapipe"
                                        else resolve_backend(pose_backend))
    status = available_backends()
    for name in chosen:
        if status.get(name):
            raise BackendUnavailable(f"backend {name} is not available here: {status[name]}")
    precision = (f" (OpenVINO in {'bfloat16' if cpu_has_bf16() else 'float32'})"
                 if "ov-cpu" in chosen else "")
    log.info("avatar models on %s, pose on %s%s", *chosen, precision)
    return chosen


def ready_backends(args: argparse.Namespace) -> None:
    """`args.backend` and `args.pose_backend` chosen (`chosen_backends`), and the pose
    models converted if the pose backend needs them."""
    from export.blazepose import ensure_pose_models

    args.backend, args.pose_backend = chosen_backends(args.backend, args.pose_backend)
    ensure_pose_models(args.pose_backend)
