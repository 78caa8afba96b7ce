"""The backends a live command runs on: `auto` resolved once, and said in the log."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def chosen_backends(backend: str, pose_backend: str) -> tuple[str, str]:
    """(`backend`, `pose_backend`) with `auto` replaced by the CPU backend it picks here
    (`engine.runners.base.resolve_backend`), logged so the choice is on record."""
    from engine.runners.base import resolve_backend

    chosen = resolve_backend(backend), (pose_backend if pose_backend == "mediapipe"
                                        else resolve_backend(pose_backend))
    log.info("avatar models on %s, pose on %s", *chosen)
    return chosen
