"""Runners: one contract for running a model on any backend.

A runner is a context manager with `infer(feed) -> dict[str, np.ndarray]`, fixed input
and output shapes, output buffers allocated once, and its own per-call timing. Model
code asks `create_runner(backend, model)` and never branches on the backend.
"""

from engine.runners.base import Runner, RunnerUnavailable, available_backends, create_runner

__all__ = ["Runner", "RunnerUnavailable", "available_backends", "create_runner"]
