"""The `torch` backend's form of a model: a `torch.export` program saved in the bundle.

The program carries the graph and the trained weights, so the runtime's `torch` runner
loads it without the training code (and may compile it, or move it to a GPU in half
precision). The input and output names travel inside the archive, as in the ONNX file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from engine.runners.torch_runner import NAMES_FILE
from export.onnx_steps import ExportedModel


def saved_program(model: ExportedModel, folder: str | os.PathLike[str]) -> Path:
    """`model`'s float32 module exported with `torch.export` to `folder/torch/<name>.pt2`."""
    path = Path(folder) / "torch" / f"{model.name}.pt2"
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        program = torch.export.export(model.module, model.example)
    tmp = path.with_name(f".{path.stem}.part.pt2")
    names = {"inputs": model.input_names, "outputs": model.output_names}
    torch.export.save(program, str(tmp), extra_files={NAMES_FILE: json.dumps(names)})
    os.replace(tmp, path)
    return path
