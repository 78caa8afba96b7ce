"""The `torch` backend's form of a model: a `torch.export` program saved in the bundle.

The program carries the graph and the trained weights, so the runtime's `torch` runner
loads it without the training code (and may compile it, or move it to a GPU in half
precision). The input and output names travel inside the archive, as in the ONNX file,
with the largest batch of a model exported with a dynamic batch axis.
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
    example, dynamic = model.example, None
    if model.max_batch > 1:
        # A size-1 example would fix the axis at 1 (torch.export specializes 0 and 1).
        example = tuple(torch.cat([x, x]) for x in model.example)
        batch = torch.export.Dim("batch", min=1, max=model.max_batch)
        dynamic = tuple({0: batch} for _ in example)
    with torch.no_grad():
        program = torch.export.export(model.module, example, dynamic_shapes=dynamic)
    tmp = path.with_name(f".{path.stem}.part.pt2")
    names = {"inputs": model.input_names, "outputs": model.output_names}
    if model.max_batch > 1:
        names["max_batch"] = model.max_batch
    torch.export.save(program, str(tmp), extra_files={NAMES_FILE: json.dumps(names)})
    os.replace(tmp, path)
    return path
