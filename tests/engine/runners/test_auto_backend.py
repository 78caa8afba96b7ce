"""The `auto` backend name: OpenVINO where it is installed, else ONNX Runtime (these tests
also run where OpenVINO is missing)."""

from __future__ import annotations

import importlib.util

import pytest

from engine.errors import BackendUnavailable
from engine.runners import available_backends, create_runner
from engine.runners.base import AUTO, resolve_backend

HAS_OPENVINO = importlib.util.find_spec("openvino") is not None


@pytest.fixture()
def no_openvino(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenVINO as if it were not installed, and `auto` chosen again."""
    from engine.runners import base, ov_runner

    def missing() -> None:
        raise ImportError("No module named 'openvino'")

    monkeypatch.setattr(ov_runner, "_openvino", missing)
    base._best_cpu_backend.cache_clear()
    yield
    base._best_cpu_backend.cache_clear()


def test_named_backends_are_kept() -> None:
    assert resolve_backend("ort-cpu") == "ort-cpu"
    assert resolve_backend("ov-cpu") == "ov-cpu"


@pytest.mark.skipif(not HAS_OPENVINO, reason="openvino is not installed")
def test_auto_picks_openvino_where_it_is_installed() -> None:
    assert available_backends()["ov-cpu"] is None
    assert resolve_backend(AUTO) == "ov-cpu"


def test_without_openvino_auto_falls_back_to_onnx_runtime(no_openvino, tiny_onnx) -> None:
    assert "pip install openvino" in available_backends()["ov-cpu"]
    assert resolve_backend(AUTO) == "ort-cpu"
    with create_runner(AUTO, tiny_onnx[0], threads=1) as runner:
        assert runner.backend == "ort-cpu"


def test_a_live_command_asking_for_a_missing_backend_says_what_it_needs(no_openvino) -> None:
    from dancenow.commands.backends import chosen_backends

    assert chosen_backends(AUTO, AUTO) == ("ort-cpu", "ort-cpu")
    with pytest.raises(BackendUnavailable, match="ov-cpu is not available here: needs `pip"):
        chosen_backends("ov-cpu", "mediapipe")


def test_auto_creates_the_chosen_runner(tiny_onnx) -> None:
    with create_runner(AUTO, tiny_onnx[0], threads=1) as runner:
        assert runner.backend == resolve_backend(AUTO)
