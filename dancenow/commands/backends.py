"""The backends a live command runs on: `auto` resolved once, and said in the log."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


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
