"""Convert the BlazePose models that mediapipe ships into ONNX, once, for every Runner.

`convert_pose_models(folder)` reads `pose_detection.tflite` and
`pose_landmark_full.tflite` from the installed mediapipe package (without importing
it), converts them with `export.tflite_to_onnx`, checks that ONNX Runtime loads them,
and writes them with a `manifest.json` naming their sources and checksums. Converting
again when the folder already holds models of the same sources does nothing.

The landmark model keeps only the outputs the engine reads, under readable names
(`LANDMARK_OUTPUTS`): its segmentation mask (256x256) and world landmarks are cut off
together with the layers that only they need, which is about 40% of its time on a CPU.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from engine.avatar import file_sha256
from engine.errors import InputError
from engine.pose.blazepose import (
    DETECTOR_FILE,
    LANDMARK_FILE,
    LANDMARK_OUTPUTS,
    default_models_dir,
)
from export.errors import ExportError

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

SOURCES = {DETECTOR_FILE: "modules/pose_detection/pose_detection.tflite",
           LANDMARK_FILE: "modules/pose_landmark/pose_landmark_full.tflite"}
MANIFEST = "manifest.json"
CONVERSION = 2  # bump when the conversion changes, so cached models are converted again
# The landmark model's TFLite outputs the engine reads, told apart by their shapes.
LANDMARK_OUTPUT_SHAPES = {"landmarks": (1, 195), "pose_flag": (1, 1),
                          "heatmap": (1, 64, 64, 39)}


def _dims(value: onnx.ValueInfoProto) -> tuple[int, ...]:
    return tuple(d.dim_value for d in value.type.tensor_type.shape.dim)


def keep_landmark_outputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """The landmark model cut down to `LANDMARK_OUTPUTS` (named so), without the layers
    that only the other outputs need."""
    import onnx.utils

    by_shape = {_dims(o): o.name for o in model.graph.output}
    old_names = []
    for name in LANDMARK_OUTPUTS:
        shape = LANDMARK_OUTPUT_SHAPES[name]
        if shape not in by_shape:
            raise ExportError(f"the landmark model has no {name} output of shape {shape}; "
                              f"its outputs are {sorted(by_shape)}")
        old_names.append(by_shape[shape])
    cut = onnx.utils.Extractor(model).extract_model([i.name for i in model.graph.input],
                                                    old_names)
    renamed = dict(zip(old_names, LANDMARK_OUTPUTS, strict=True))
    for node in cut.graph.node:
        node.output[:] = [renamed.get(o, o) for o in node.output]
        node.input[:] = [renamed.get(i, i) for i in node.input]
    for out in cut.graph.output:
        out.name = renamed.get(out.name, out.name)
    onnx.checker.check_model(cut)
    return cut


def mediapipe_root() -> Path:
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("converting the pose models needs the BlazePose files that "
                         "`pip install mediapipe==0.10.14` ships")
    return Path(next(iter(spec.submodule_search_locations)))


def convert_pose_models(folder: str | os.PathLike[str] | None = None,
                        force: bool = False) -> dict[str, Path]:
    """ONNX file name -> path, converting into `folder` (default: the user cache) if needed."""
    import onnx  # the converter's dependencies load only when there is converting to do

    from export.tflite_to_onnx import convert_tflite

    folder = Path(folder) if folder else default_models_dir()
    root = mediapipe_root()
    sources = {name: root / rel for name, rel in SOURCES.items()}
    for path in sources.values():
        if not path.is_file():
            raise InputError(f"mediapipe's model {path} is missing")
    wanted = {name: file_sha256(src) for name, src in sources.items()}
    manifest_path = folder / MANIFEST
    if not force and manifest_path.is_file() and all((folder / n).is_file() for n in wanted):
        try:
            manifest = json.loads(manifest_path.read_text())
            if manifest.get("sources") == wanted and manifest.get("conversion") == CONVERSION:
                return {name: folder / name for name in wanted}
        except ValueError:
            pass
    folder.mkdir(parents=True, exist_ok=True)
    for name, src in sources.items():
        model = convert_tflite(src)
        if name == LANDMARK_FILE:
            model = keep_landmark_outputs(model)
        tmp = folder / f".{name}.part"
        onnx.save(model, str(tmp))
        os.replace(tmp, folder / name)
        log.info("converted %s -> %s", src.name, folder / name)
    manifest_path.write_text(json.dumps({"sources": wanted, "converter": "tflite_to_onnx",
                                         "conversion": CONVERSION,
                                         "landmark_outputs": list(LANDMARK_OUTPUTS)},
                                        indent=2) + "\n")
    return {name: folder / name for name in wanted}


def ensure_pose_models(backend: str) -> None:
    """Make sure pose `backend` can start: mediapipe needs nothing, a Runner backend needs
    the converted models in the default folder (converted now if missing or stale)."""
    if backend != "mediapipe":
        convert_pose_models()
