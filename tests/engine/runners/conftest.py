"""Fixtures of the runner tests: a tiny generator exported to ONNX."""

from __future__ import annotations

import warnings

import pytest
import torch

from train.models import Generator
from train.presets import get_preset


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Generator]:
    """(path, module): the `tiny` preset's temporal generator (seeded weights) as ONNX."""
    torch.manual_seed(0)
    g = Generator(get_preset("tiny").generator).eval()
    path = tmp_path_factory.mktemp("onnx") / "g.onnx"
    dummy = (torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(g, dummy, str(path), dynamo=False, opset_version=17,
                          input_names=["label", "previous"], output_names=["frame"])
    return str(path), g
