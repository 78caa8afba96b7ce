"""Write an avatar bundle from a trained run (format: engine.avatar).

Every model goes `onnx_from_checkpoint -> simplified -> checked`, is checked for parity
against torch on samples of the run's data, then saved. Everything is written into a
staging folder beside the destination and moved into place only when all of it
passed, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.avatar import FORMAT, MANIFEST, VERSION, AvatarBundle, file_sha256, load_bundle
from engine.errors import InputError
from engine.skeleton import LabelMapStyle
from export.onnx_steps import (
    DEFAULT_OPSET,
    checked,
    onnx_from_checkpoint,
    reference_modules,
    saved,
    shapes,
    simplified,
)
from export.parity import check_parity, parity_feeds
from train.data import PreparedData
from train.evaluate import load_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportOptions:
    precision: str = "fp32"  # fp32 | fp16 (inside the graph; inputs and outputs stay fp32)
    opset: int = DEFAULT_OPSET  # ONNX opset
    parity_samples: int = 8  # consecutive frames of the run's data checked against torch
    torch_programs: bool = True  # also save torch.export programs for the torch backend
    name: str | None = None  # the avatar's display name (default: the folder's name)
    data: str | None = None  # the run's data folder, when it has moved since training
    force: bool = False  # replace an existing bundle
    max_batch: int = 1  # > 1: models with a dynamic batch axis (GPU sessions batched)


def _run_info(run: Path) -> tuple[dict, str | None]:
    """(stage -> training config, the data folder they name)."""
    configs, data = {}, None
    for path in sorted(run.glob("train_config-*.json")):
        info = json.loads(path.read_text())
        configs[info["stage"]] = info["config"]
        data = data or info.get("data")
    return configs, data


def _run_metrics(run: Path) -> dict | None:
    found = {p.stem: json.loads(p.read_text()) for p in sorted(run.glob("*metrics*.json"))}
    return found or None


def export_avatar(run: str | os.PathLike[str], out: str | os.PathLike[str],
                  options: ExportOptions | None = None) -> AvatarBundle:
    """Export `run` to the bundle folder `out`; returns the loaded bundle."""
    options = options or ExportOptions()
    run, out = Path(run), Path(out)
    if out.exists() and not options.force:
        raise InputError(f"{out} exists: choose another folder or pass --force to replace it")
    trained = load_run(run)
    configs, data_dir = _run_info(run)
    data_dir = options.data or data_dir
    if data_dir is None:
        raise InputError(f"{run} does not say which data it was trained on: pass --data")
    data = PreparedData(data_dir)
    cfg = trained.generator.config
    if data.size != cfg.resolution:
        raise InputError(f"{data_dir} is {data.size}px but the run renders {cfg.resolution}px")
    modules = reference_modules(trained)
    face_crop = trained.face.config.crop if trained.face is not None else None
    feeds = parity_feeds(data, modules["generator"][0], cfg.temporal, face_crop,
                         options.parity_samples)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.part")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        entries = {}
        for name in modules:
            model = checked(simplified(onnx_from_checkpoint(
                run, name, options.precision, options.opset, modules, options.max_batch)))
            parity = check_parity(model, feeds[name])
            model = saved(model, staging)
            inputs, outputs = shapes(model)
            entries[name] = {"file": model.path.name, "inputs": inputs, "outputs": outputs,
                             "sha256": file_sha256(model.path), "steps": list(model.steps),
                             "parity": [asdict(p) for p in parity]}
            if options.max_batch > 1:  # shapes above are one frame's
                entries[name]["max_batch"] = options.max_batch
            if options.torch_programs:
                from export.torch_program import saved_program

                entries[name]["torch_file"] = str(
                    saved_program(model, staging).relative_to(staging))
            log.info("exported %s (%s, %d bytes)", name, options.precision,
                     model.path.stat().st_size)
        manifest = {
            "format": FORMAT, "version": VERSION, "name": options.name or out.name,
            "preset": configs.get(trained.stage, {}).get("preset"),
            "resolution": cfg.resolution, "precision": options.precision,
            "opset": options.opset, "layout": "NCHW", "value_range": [-1.0, 1.0],
            "models": entries,
            "normalization": data.manifest["normalization"],
            "label_map": asdict(LabelMapStyle.for_size(cfg.resolution)),
            "generator_config": trained.generator.config.to_dict(),
            "face_config": trained.face.config.to_dict() if trained.face else None,
            "source": {"run": str(run), "stage": trained.stage, "step": trained.step,
                       "data": str(data_dir)},
            "training": configs,
            "metrics": _run_metrics(run),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return load_bundle(out, verify=True)
