"""Avatar bundles: the exported, torch-free form of a trained target person.

A bundle is a folder (see DESIGN.md):

* `manifest.json`: format and version, preset, resolution, precision, one entry per
  model (file, input and output names with shapes, SHA-256, parity measured at export),
  the target's normalization statistics, the label-map style, the model configs, the
  training configs and the evaluation metrics; optionally `poster` (the file name of a
  representative generated frame in the bundle's folder, PNG or JPEG) and `description`
  (one line on what the avatar is and how it scores), which the report writes
  (`train.report`);
* `generator.onnx` (label map + previous frame -> frame) and optionally `face.onnx`
  (label crop + frame crop -> residual); every tensor is float32 NCHW in [-1, 1] at the
  model's boundary, whatever the precision inside;
* optionally `torch/<model>.pt2` (`torch.export` programs, for the `torch` backend);
* `engines/<gpu>-sm<cc>-trt<version>/`: TensorRT engine caches, built on first use.

`load_bundle` checks all of that and says in one line what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InputError
from engine.normalize import NormalizationStats

FORMAT = "dancenow-avatar"
VERSION = 1
MANIFEST = "manifest.json"
MODEL_NAMES = ("generator", "face")
POSTER_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
# The demo avatars committed with the repository (`make avatar` rebuilds both): `demo`
# (cpu-rt), and `demo-live` (cpu-live: the same run thinned to half its residual blocks
# and fine-tuned), which renders a frame in about four fifths of the time for a little
# less quality; `dancenow serve` offers it first.
DEMO_AVATAR = Path(__file__).resolve().parents[1] / "avatars" / "demo"
DEMO_LIVE_AVATAR = DEMO_AVATAR.with_name("demo-live")


@dataclass(frozen=True)
class ModelEntry:
    """One model of a bundle: its file and its fixed input / output shapes."""

    name: str
    file: str
    inputs: dict[str, tuple[int, ...]]
    outputs: dict[str, tuple[int, ...]]
    sha256: str
    torch_file: str | None = None


@dataclass(frozen=True)
class AvatarBundle:
    root: Path
    manifest: dict
    models: dict[str, ModelEntry]

    @property
    def name(self) -> str:
        return str(self.manifest.get("name") or self.root.name)

    @property
    def resolution(self) -> int:
        return int(self.manifest["resolution"])

    @property
    def precision(self) -> str:
        return str(self.manifest["precision"])

    @property
    def temporal(self) -> bool:
        return bool(self.manifest["generator_config"]["temporal"])

    @property
    def face_crop(self) -> int | None:
        face = self.models.get("face")
        return None if face is None else int(face.inputs["label_crop"][-1])

    @property
    def normalization(self) -> NormalizationStats:
        return NormalizationStats(**self.manifest["normalization"])

    @property
    def metrics(self) -> dict | None:
        return self.manifest.get("metrics")

    @property
    def description(self) -> str | None:
        text = self.manifest.get("description")
        return text if isinstance(text, str) and text else None

    @property
    def poster(self) -> Path | None:
        """The poster image, when the manifest names one that is there: a plain file name
        (no folders) with an image suffix (POSTER_TYPES), a file inside the bundle's
        folder; None otherwise."""
        name = self.manifest.get("poster")
        if (not isinstance(name, str) or not name or "\x00" in name
                or Path(name).name != name or name in (".", "..")
                or Path(name).suffix.lower() not in POSTER_TYPES):
            return None
        try:
            path = (self.root / name).resolve()
            inside = path.is_relative_to(self.root.resolve()) and path.is_file()
        except (OSError, ValueError):
            return None
        return path if inside else None

    def model_path(self, name: str, kind: str = "onnx") -> Path:
        """Path of model `name` (`generator` or `face`) as ONNX, or as a torch program."""
        entry = self.models.get(name)
        if entry is None:
            raise InputError(f"avatar {self.root} has no {name} model")
        if kind == "onnx":
            return self.root / entry.file
        if kind == "torch":
            if entry.torch_file is None:
                raise InputError(f"avatar {self.root} was exported without torch programs "
                                 "(export it again without --no-torch)")
            return self.root / entry.torch_file
        raise ValueError(f"unknown model kind {kind!r}")


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_bundle(path: str | os.PathLike[str]) -> bool:
    manifest = Path(path) / MANIFEST
    if not manifest.is_file():
        return False
    try:
        return json.loads(manifest.read_text()).get("format") == FORMAT
    except (ValueError, OSError):
        return False


def _shapes(d: object, what: str) -> dict[str, tuple[int, ...]]:
    if not isinstance(d, dict) or not d:
        raise InputError(f"{what} must be a non-empty object of name -> shape")
    return {str(k): tuple(int(x) for x in v) for k, v in d.items()}


def load_bundle(path: str | os.PathLike[str], verify: bool = False) -> AvatarBundle:
    """Read and check the bundle at `path`; `verify` also checks the files' SHA-256."""
    root = Path(path)
    manifest_path = root / MANIFEST
    if not root.is_dir():
        raise InputError(f"avatar bundle not found: {root} is not a folder")
    if not manifest_path.is_file():
        raise InputError(f"{root} is not an avatar bundle: it has no {MANIFEST} "
                         "(make one with `dancenow export RUN -o AVATAR`)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError as exc:
        raise InputError(f"{manifest_path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"{manifest_path} is not an avatar manifest (format != {FORMAT})")
    if manifest.get("version") != VERSION:
        raise InputError(f"{root} is avatar format version {manifest.get('version')}; this "
                         f"dancenow reads version {VERSION}")
    for key in ("resolution", "precision", "models", "normalization", "generator_config"):
        if key not in manifest:
            raise InputError(f"{manifest_path} lacks {key!r}")
    models = {}
    for name, entry in manifest["models"].items():
        if name not in MODEL_NAMES:
            raise InputError(f"{manifest_path}: unknown model {name!r}")
        try:
            models[name] = ModelEntry(
                name=name, file=str(entry["file"]),
                inputs=_shapes(entry["inputs"], f"{name}.inputs"),
                outputs=_shapes(entry["outputs"], f"{name}.outputs"),
                sha256=str(entry["sha256"]), torch_file=entry.get("torch_file"))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{manifest_path}: model {name!r} is malformed ({exc})") from exc
        file = root / models[name].file
        if not file.is_file():
            raise InputError(f"avatar {root} is incomplete: {file.name} is missing")
        if verify and file_sha256(file) != models[name].sha256:
            raise InputError(f"avatar {root}: {file.name} does not match its manifest "
                             "checksum (corrupt or replaced)")
    if "generator" not in models:
        raise InputError(f"{manifest_path} has no generator model")
    try:
        NormalizationStats(**manifest["normalization"])
    except TypeError as exc:
        raise InputError(f"{manifest_path}: normalization statistics are malformed "
                         f"({exc})") from exc
    return AvatarBundle(root, manifest, models)


def open_runner(bundle: AvatarBundle, name: str, backend: str, **options: object):  # noqa: ANN201
    """A runner (not yet entered) for model `name` of `bundle` on `backend`."""
    from engine.runners.base import create_runner, model_kind

    return create_runner(backend, bundle.model_path(name, model_kind(backend)), **options)
