"""The training loop: stages, losses, checkpoints, exact resume, samples, DDP.

Stages (one checkpoint each in the run folder):

* `global`: a single-frame generator (no temporal input) and multi-scale discriminators;
* `temporal`: the generator also sees its previous output; each step generates frame t
  from zeros, then frame t+1 conditioned on it, and a temporal discriminator judges the
  two consecutive (label, image) pairs;
* `face`: a face generator adds a residual to the face crop of the (frozen) trained
  generator's output, with its own patch discriminator.

A new temporal stage starts from the run's global generator; a new global or temporal
stage can instead start from another run's (`init_from`), thinned to fewer residual
blocks when the preset has fewer: a faster generator fine-tuned from a trained one.
Such a stage can also learn from that generator as it is (`lambda_distill`): an L1 loss
to its output on the same input, beside the loss to the real frame (knowledge
distillation: the thinner network imitates the wider one, whose output it can reach).

A step runs in `precision` (`train.precision`): `auto` is bfloat16 autocast where the
hardware multiplies it natively (AMX, sm80+), float32 elsewhere; the weights and the
checkpoints are float32 either way.

Checkpoints are written atomically (temporary file, then rename) every
`checkpoint_every` steps and at the end, and hold the model configs, weights,
optimizer states, the step and every random state, so `resume` continues exactly
(bit for bit on the CPU; CUDA kernels are not made deterministic).
Under `torchrun`, models are wrapped in DistributedDataParallel; rank 0 writes.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from engine.errors import InputError
from train import losses
from train import precision as step_precision
from train.data import PreparedData
from train.models import (
    DiscriminatorConfig,
    FaceConfig,
    FaceGenerator,
    Generator,
    GeneratorConfig,
    MultiscaleDiscriminator,
    load_thinned,
    widened_to_temporal,
)
from train.presets import get_preset
from train.samples import save_sample_grid

log = logging.getLogger(__name__)

STAGES = ("global", "temporal", "face")
DEADLINE_MIN_STEPS = 50  # steps the pace is measured over before a deadline changes a stage
DEADLINE_SLACK = 0.02  # a stage's length changes only by more than this share of it


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "cpu-rt"  # model sizes (see train.presets)
    stage: str = "temporal"  # global | temporal | face
    iters: int = 8000  # total steps of this stage
    batch: int = 4  # samples (frames or frame pairs) per step and process
    lr: float = 2e-4  # Adam learning rate, constant for the first half, then linear to 0
    beta1: float = 0.5  # Adam beta1
    lambda_l1: float = 50.0  # weight of the L1 reconstruction loss
    lambda_face_l1: float = 25.0  # extra L1 on the face box (a small part of a full-body frame)
    lambda_fm: float = 10.0  # weight of the discriminator feature-matching loss
    lambda_vgg: float = 10.0  # weight of the VGG loss (only when weights are on disk)
    lambda_temporal: float = 1.0  # weight of the temporal discriminator's adversarial loss
    warm_start: bool = True  # a new temporal stage starts from the run's global stage, if any
    # a new global or temporal stage starts from this other run's trained generator (its
    # temporal stage, else its global one), thinned to this preset's residual blocks
    init_from: str | None = None
    # weight of the L1 loss to the `init_from` generator's own output (distillation);
    # 0 trains on the real frames alone
    lambda_distill: float = 0.0
    # arithmetic of a step: auto | fp32 | bf16 (train.precision); not part of what a resume
    # must match
    precision: str = "auto"
    seed: int = 0  # everything random derives from it
    checkpoint_every: int = 500  # steps between checkpoints
    sample_every: int = 500  # steps between sample grids
    log_every: int = 25  # steps between lines in train_log-<stage>.jsonl

    def validate(self) -> None:
        if self.stage not in STAGES:
            raise InputError(f"unknown stage {self.stage!r}; choose from {', '.join(STAGES)}")
        get_preset(self.preset)
        for name in ("iters", "batch", "checkpoint_every", "sample_every", "log_every"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1")
        if self.init_from is not None and self.stage == "face":
            raise InputError("the face stage trains on top of its run's generator; start the "
                             "global or temporal stage from another run instead")
        step_precision.check(self.precision)
        if self.lambda_distill < 0:
            raise InputError("lambda_distill must not be negative")
        if self.lambda_distill > 0 and self.init_from is None:
            raise InputError("distillation learns from the generator the stage starts from: "
                             "give --init-from")


def saved_setting(train_config: dict, key: str) -> object:
    """A setting of a checkpoint's `train_config`; checkpoints written before distillation
    have no `lambda_distill`, and trained without it."""
    if key == "lambda_distill":
        return train_config.get(key, 0.0)
    return train_config[key]


def _same_path(a: str | None, b: str | None) -> bool:
    return (a is None) == (b is None) and (a is None or Path(a).resolve() == Path(b).resolve())


def checkpoint_path(run: Path, stage: str) -> Path:
    return run / f"checkpoint-{stage}.pt"


def is_finished(ckpt: dict) -> bool:
    """Whether a checkpoint reached the length its stage was trained for."""
    return int(ckpt["step"]) >= ckpt["train_config"]["iters"]


def _require_finished(ckpt: dict, path: Path, hint: str) -> None:
    """A checkpoint another stage or run starts from must be finished; `hint` says how."""
    if not is_finished(ckpt):
        raise InputError(f"{path} stopped at step {ckpt['step']} of "
                         f"{ckpt['train_config']['iters']}: {hint}")


def save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".part")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as exc:
        raise InputError(f"cannot read checkpoint {path}: {exc}") from exc


def to_tensor(batch_u8: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 `[B, H, W, 3]` -> float `[B, 3, H, W]` in [-1, 1]."""
    t = torch.from_numpy(np.array(batch_u8, dtype=np.uint8, copy=True)).to(device)
    return t.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def crop_batch(images: torch.Tensor, boxes: np.ndarray, size: int) -> torch.Tensor:
    """Square crops `[B, C, size, size]` of `images` at integer boxes (x0, y0, side), in
    float32 (antialiased downscaling has no bfloat16 kernel)."""
    crops = []
    for img, (x0, y0, side) in zip(images, boxes, strict=True):
        patch = img[:, y0:y0 + side, x0:x0 + side].unsqueeze(0).float()
        crops.append(F.interpolate(patch, size=(size, size), mode="bilinear",
                                   align_corners=False, antialias=side > size))
    return torch.cat(crops)


def training_device(local_rank: int = 0) -> torch.device:
    """Where a training process runs: its CUDA GPU where there is one, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


class _Distributed:
    """Process-group bookkeeping for torchrun (a no-op in a single process)."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if self.world > 1 and not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def device(self) -> torch.device:
        device = training_device(self.local_rank)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        return device

    def wrap(self, module: nn.Module) -> nn.Module:
        if self.world > 1 and any(p.requires_grad for p in module.parameters()):
            return nn.parallel.DistributedDataParallel(module)
        return module

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _unwrap(m: nn.Module) -> nn.Module:
    return m.module if isinstance(m, nn.parallel.DistributedDataParallel) else m


def _lr_at(cfg: TrainConfig, step: int) -> float:
    half = cfg.iters // 2
    if step < half:
        return cfg.lr
    return cfg.lr * max(0.0, 1.0 - (step - half) / max(cfg.iters - half, 1))


def _random_state() -> dict:
    return {"torch": torch.get_rng_state(), "python": random.getstate()}


def _set_random_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])


class Trainer:
    """Trains one stage of a run; `run()` returns the path of the final checkpoint."""

    def __init__(self, data_dir: str | os.PathLike[str], run_dir: str | os.PathLike[str],
                 config: TrainConfig, resume: bool = False, progress: bool = True,
                 finish_by: float | None = None,
                 on_shorten: Callable[[int], None] | None = None,
                 max_iters: int | None = None) -> None:
        """`finish_by` (a `time.time()`): where the stage's steps, at its pace so far
        (every step since it started or resumed, so that a passing slowdown moves it
        little), would end later, it is shortened to the steps that fit; where they would
        end clearly earlier, it is lengthened to the steps that fit, up to `max_iters`
        (default: the length asked for). The learning rate schedule follows the new
        length; `on_shorten` hears every new length."""
        config.validate()
        self.cfg = config
        self.finish_by = finish_by
        self.on_shorten = on_shorten
        self.asked_iters = config.iters
        # a deadline never lengthens a stage past this
        self.max_iters = max(config.iters, max_iters or config.iters)
        self.run_dir = Path(run_dir)
        self.data_dir = Path(data_dir)
        self.progress = progress
        self.dist = _Distributed()
        self.device = self.dist.device()
        self.precision = step_precision.resolve(config.precision, self.device)
        self.data = PreparedData(self.data_dir)
        self.preset = get_preset(config.preset)
        if self.data.size != self.preset.generator.resolution:
            raise InputError(f"the data is {self.data.size}x{self.data.size} but preset "
                             f"{config.preset} renders {self.preset.generator.resolution}: "
                             f"prepare with --size {self.preset.generator.resolution}")
        self.ckpt_path = checkpoint_path(self.run_dir, config.stage)
        if self.ckpt_path.exists() and not resume:
            raise InputError(f"{self.ckpt_path} exists: pass --resume to continue it, or "
                             "choose another run folder")
        if self.dist.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.step = 0
        self.finished_already = False
        self.pool = (self.data.pair_indices("train") if config.stage != "global"
                     else self.data.indices("train"))
        if config.stage == "face":
            self.pool = self.pool[self.data.face_boxes[self.pool + 1, 2] > 0]
        if len(self.pool) == 0:
            raise InputError(f"{self.data_dir} has no training samples for stage "
                             f"{config.stage}")
        checkpoint = load_checkpoint(self.ckpt_path) if resume and self.ckpt_path.exists() \
            else None
        self._build(checkpoint)
        # the other run's checkpoint, read once: to start from, to learn from, or both
        init = self._init_checkpoint(Path(config.init_from)) if config.init_from is not None \
            and (checkpoint is None or config.lambda_distill > 0) else None
        if checkpoint is None and init is not None:
            self._start_from_run(*init)
        elif checkpoint is None and config.stage == "temporal" and config.warm_start:
            self._warm_start_from_global()
        self.teacher = self._load_teacher(*init) if config.lambda_distill > 0 else None
        self.rng = np.random.default_rng([config.seed, self.dist.rank])
        if checkpoint is not None:
            self._load(checkpoint)
        self.vgg = losses.maybe_vgg_loss()
        if self.vgg is not None:
            self.vgg.to(self.device)

    # -- models -------------------------------------------------------------------------
    def _build(self, checkpoint: dict | None = None) -> None:
        torch.manual_seed(self.cfg.seed)
        random.seed(self.cfg.seed)
        cfg, p = self.cfg, self.preset
        self.g_config: GeneratorConfig = replace(p.generator, temporal=cfg.stage != "global")
        self.d_config: DiscriminatorConfig = p.discriminator
        self.face_config: FaceConfig = p.face
        lab, img = self.g_config.label_channels, self.g_config.image_channels
        if cfg.stage == "face":
            self.frozen = self._load_trained_generator(checkpoint).to(self.device).eval()
            self.frozen.requires_grad_(False)
            self.g = FaceGenerator(self.face_config, lab, img).to(self.device)
            self.d = MultiscaleDiscriminator(lab + img, replace(self.d_config, num_d=1)
                                             ).to(self.device)
            self.dt = None
        else:
            self.g = Generator(self.g_config).to(self.device)
            self.d = MultiscaleDiscriminator(lab + img, self.d_config).to(self.device)
            self.dt = (MultiscaleDiscriminator(2 * (lab + img), self.d_config).to(self.device)
                       if cfg.stage == "temporal" else None)
        self.g_ddp = self.dist.wrap(self.g)
        self.d_ddp = self.dist.wrap(self.d)
        self.dt_ddp = self.dist.wrap(self.dt) if self.dt is not None else None
        d_params = list(self.d.parameters()) + (list(self.dt.parameters()) if self.dt else [])
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
        self.opt_d = torch.optim.Adam(d_params, lr=cfg.lr, betas=(cfg.beta1, 0.999))

    def _warm_start_from_global(self) -> None:
        """Start the temporal generator and the per-frame discriminator from the run's
        global checkpoint, when there is one (the temporal discriminator starts fresh)."""
        path = checkpoint_path(self.run_dir, "global")
        if not path.exists():
            return
        ckpt = load_checkpoint(path)
        if ckpt.get("preset") != self.preset.name:
            raise InputError(f"{path} was trained with preset {ckpt.get('preset')}, not "
                             f"{self.preset.name}: train the temporal stage in another run "
                             "folder or with the same preset")
        _require_finished(ckpt, path, "finish it with --stage global --resume before the "
                                      "temporal stage starts from it")
        try:
            load_thinned(self.g, ckpt["generator"],
                         GeneratorConfig.from_dict(ckpt["generator_config"]))
            self.d.load_state_dict(ckpt["d"])
        except (ValueError, RuntimeError) as exc:
            raise InputError(f"cannot start the temporal stage from {path}: {exc}") from exc
        log.info("temporal stage starts from the global generator at step %d (%s)",
                 ckpt["step"], path)

    def _init_checkpoint(self, run: Path) -> tuple[Path, dict]:
        """The finished checkpoint of another run that this stage starts from: its
        temporal stage (for a temporal stage), else its global one."""
        if run.resolve() == self.run_dir.resolve():
            raise InputError(f"--init-from names the run being trained ({run})")
        stages = ("temporal", "global") if self.cfg.stage == "temporal" else ("global",)
        path = next((checkpoint_path(run, s) for s in stages
                     if checkpoint_path(run, s).exists()), None)
        if path is None:
            raise InputError(f"{run} has no {' or '.join(stages)} checkpoint to start from")
        ckpt = load_checkpoint(path)
        _require_finished(ckpt, path, "finish it before starting another run from it")
        return path, ckpt

    def _load_teacher(self, path: Path, ckpt: dict) -> Generator:
        """The `init_from` generator as it was trained (not thinned), frozen: the stage's
        distillation target. A global one is widened to take the previous frame as
        `load_thinned` does, so it answers the same input as the stage's generator."""
        config = GeneratorConfig.from_dict(ckpt["generator_config"])
        state = ckpt["generator"]
        try:
            if self.g_config.temporal and not config.temporal:
                state, config = widened_to_temporal(state, config)
            teacher = Generator(config)
            teacher.load_state_dict(state)
        except (ValueError, RuntimeError) as exc:
            raise InputError(f"cannot distil from {path}: {exc}") from exc
        if config.resolution != self.g_config.resolution:
            raise InputError(f"cannot distil from {path}: it renders {config.resolution}px, "
                             f"the stage {self.g_config.resolution}px")
        log.info("distilling from %s (%d residual blocks, weight %g)", path, config.n_blocks,
                 self.cfg.lambda_distill)
        return teacher.to(self.device).eval().requires_grad_(False)

    def _start_from_run(self, path: Path, ckpt: dict) -> None:
        """Start the generator (thinned to this preset's residual blocks) and, where their
        shapes match, the discriminators from another run's finished temporal or global
        stage (`path`, read as `ckpt`; see `load_thinned`)."""
        try:
            kept = load_thinned(self.g, ckpt["generator"],
                                GeneratorConfig.from_dict(ckpt["generator_config"]))
        except (ValueError, RuntimeError) as exc:
            raise InputError(f"cannot start from {path}: {exc}") from exc
        same_d = ckpt.get("discriminator_config") == self.d_config.to_dict()
        if same_d:
            self.d.load_state_dict(ckpt["d"])
            if self.dt is not None and "dt" in ckpt:
                self.dt.load_state_dict(ckpt["dt"])
        log.info("%s stage starts from %s at step %d (residual blocks %s kept%s)",
                 self.cfg.stage, path, ckpt["step"], kept,
                 ", discriminators too" if same_d else "; discriminators start fresh")

    def _load_trained_generator(self, face_checkpoint: dict | None) -> Generator:
        """The generator under the face stage: the one a resumed face checkpoint was trained
        on, else the run's temporal (or global) generator."""
        sources = [("face checkpoint", face_checkpoint)] if face_checkpoint else []
        for stage in ("temporal", "global"):
            path = checkpoint_path(self.run_dir, stage)
            if path.exists():
                sources.append((stage, None))
        for name, ckpt in sources:
            ckpt = ckpt or load_checkpoint(checkpoint_path(self.run_dir, name))
            g = Generator(GeneratorConfig.from_dict(ckpt["generator_config"]))
            g.load_state_dict(ckpt["generator"])
            self.g_config = g.config
            log.info("face stage on top of the %s generator", name)
            return g
        raise InputError(f"{self.run_dir} has no trained generator: train the temporal (or "
                         "global) stage before the face stage")

    # -- checkpoints --------------------------------------------------------------------
    def _state(self) -> dict:
        state = {
            "format": "dancenow-checkpoint", "stage": self.cfg.stage, "step": self.step,
            "world_size": self.dist.world,
            "train_config": asdict(self.cfg), "preset": self.preset.name,
            "generator_config": self.g_config.to_dict(),
            "discriminator_config": self.d_config.to_dict(),
            "face_config": self.face_config.to_dict(),
            "data": {"path": str(self.data_dir.resolve()),
                     "signature": self.data.manifest.get("signature"),
                     "size": self.data.size,
                     "normalization": self.data.manifest["normalization"]},
            "d": self.d.state_dict(), "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": {**_random_state(), "numpy": self.rng.bit_generator.state},
        }
        if self.cfg.stage == "face":
            state["face"] = self.g.state_dict()
            state["generator"] = self.frozen.state_dict()
        else:
            state["generator"] = self.g.state_dict()
        if self.dt is not None:
            state["dt"] = self.dt.state_dict()
        return state

    def _load(self, ckpt: dict) -> None:
        if ckpt.get("stage") != self.cfg.stage:
            raise InputError(f"{self.ckpt_path} belongs to stage {ckpt.get('stage')}")
        saved = ckpt["train_config"]
        finished = is_finished(ckpt)
        extending = finished and self.cfg.iters > saved["iters"]
        self.finished_already = finished and self.cfg.iters <= saved["iters"]
        if self.finished_already:
            log.info("%s is already trained to step %d (asked for %d): nothing to do",
                     self.ckpt_path, ckpt["step"], self.cfg.iters)
        if extending:
            log.info("extending the finished %s stage from %d to %d steps (the learning rate "
                     "schedule restarts over the new length)", self.cfg.stage, saved["iters"],
                     self.cfg.iters)
        same_length = () if finished else ("iters",)  # a finished stage may change it
        for key in ("preset", "batch", "lr", "seed", "lambda_distill") + same_length:
            if saved_setting(saved, key) != getattr(self.cfg, key):
                raise InputError(f"--resume with a different {key} ({getattr(self.cfg, key)} "
                                 f"vs {saved_setting(saved, key)} in the checkpoint) would not "
                                 "continue the same run (a finished stage can be extended with "
                                 "more --iters)")
        if self.cfg.lambda_distill > 0 and not _same_path(saved.get("init_from"),
                                                          self.cfg.init_from):
            raise InputError(f"--resume distilling from {self.cfg.init_from}, but the checkpoint "
                             f"learnt from {saved.get('init_from')}: give the same --init-from")
        if ckpt["data"].get("signature") != self.data.manifest.get("signature"):
            raise InputError(f"{self.data_dir} is not the data {self.ckpt_path} was trained on")
        if ckpt.get("world_size", 1) != self.dist.world:
            raise InputError(f"the checkpoint was written by {ckpt.get('world_size', 1)} "
                             f"process(es); resume it with the same number")
        self.g.load_state_dict(ckpt["face"] if self.cfg.stage == "face" else ckpt["generator"])
        self.d.load_state_dict(ckpt["d"])
        if self.dt is not None:
            self.dt.load_state_dict(ckpt["dt"])
        self.opt_g.load_state_dict(ckpt["opt_g"])
        self.opt_d.load_state_dict(ckpt["opt_d"])
        self.step = int(ckpt["step"])
        _set_random_state(ckpt["rng"])
        if self.dist.world == 1:
            self.rng.bit_generator.state = ckpt["rng"]["numpy"]
        else:  # each rank replays its own sampling stream up to the step
            for _ in range(self.step):
                self._batch()
        log.info("resumed %s at step %d", self.ckpt_path, self.step)

    def _save(self) -> None:
        if self.dist.main:
            save_atomic(self._state(), self.ckpt_path)

    # -- one step -----------------------------------------------------------------------
    def _batch(self) -> np.ndarray:
        return np.sort(self.pool[self.rng.integers(0, len(self.pool), self.cfg.batch)])

    def _frames(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return (to_tensor(self.data.labels[idx], self.device),
                to_tensor(self.data.frames[idx], self.device))

    def _freeze_discriminators(self, frozen: bool) -> None:
        for d in (self.d, self.dt):
            if d is not None:
                d.requires_grad_(not frozen)

    def _d_step(self, real: list[torch.Tensor], fake: list[torch.Tensor],
                disc: nn.Module) -> torch.Tensor:
        loss = 0.0
        for r, f in zip(real, fake, strict=True):
            loss = loss + losses.lsgan_d(disc(r), disc(f.detach()))
        return loss

    def _g_adv(self, real: list[torch.Tensor], fake: list[torch.Tensor],
               disc: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        adv, fm = 0.0, 0.0
        for r, f in zip(real, fake, strict=True):
            with torch.no_grad():
                real_feats = disc(r)
            fake_feats = disc(f)
            adv = adv + losses.lsgan_g(fake_feats)
            fm = fm + losses.feature_matching(real_feats, fake_feats)
        return adv, fm

    def _step(self, idx: np.ndarray) -> dict[str, float]:
        cfg = self.cfg
        if cfg.stage == "face":
            return self._face_step(idx)
        lab0, img0 = self._frames(idx)
        if cfg.stage == "global":
            fake = [self.g_ddp(lab0)]
            labels, reals, frames = [lab0], [img0], [idx]
        else:
            lab1, img1 = self._frames(idx + 1)
            fake0 = self.g_ddp(lab0, torch.zeros_like(img0))
            fake1 = self.g_ddp(lab1, fake0)
            fake, labels, reals = [fake0, fake1], [lab0, lab1], [img0, img1]
            frames = [idx, idx + 1]
        real_in = [torch.cat([lab, im], 1) for lab, im in zip(labels, reals, strict=True)]
        fake_in = [torch.cat([lab, f], 1) for lab, f in zip(labels, fake, strict=True)]
        # Discriminators.
        self.opt_d.zero_grad(set_to_none=True)
        loss_d = self._d_step(real_in, fake_in, self.d_ddp)
        if self.dt_ddp is not None:
            real_seq = torch.cat(real_in, 1)
            fake_seq = torch.cat(fake_in, 1)
            loss_d = loss_d + self._d_step([real_seq], [fake_seq], self.dt_ddp)
        loss_d.backward()
        self.opt_d.step()
        # Generator (the discriminators only pass gradients through to their inputs).
        self.opt_g.zero_grad(set_to_none=True)
        self._freeze_discriminators(True)
        adv, fm = self._g_adv(real_in, fake_in, self.d)
        out = {}
        if self.dt is not None:
            adv_t, fm_t = self._g_adv([torch.cat(real_in, 1)], [torch.cat(fake_in, 1)],
                                      self.dt)
            adv = adv + cfg.lambda_temporal * adv_t
            fm = fm + fm_t
            out["g_temporal"] = adv_t.item()
        l1 = sum(F.l1_loss(f, r) for f, r in zip(fake, reals, strict=True))
        loss_g = adv + cfg.lambda_fm * fm + cfg.lambda_l1 * l1
        if self.teacher is not None:
            distill = sum(F.l1_loss(f, t) for f, t in zip(fake, self._teacher_frames(labels, fake),
                                                          strict=True))
            loss_g = loss_g + cfg.lambda_distill * distill
            out["distill"] = float(distill.detach())
        if cfg.lambda_face_l1 > 0:
            face_l1 = sum(self._face_l1(f, r, i) for f, r, i in zip(fake, reals, frames,
                                                                     strict=True))
            loss_g = loss_g + cfg.lambda_face_l1 * face_l1
            out["face_l1"] = float(face_l1.detach())
        if self.vgg is not None:
            vgg = sum(self.vgg(f, r) for f, r in zip(fake, reals, strict=True))
            loss_g = loss_g + cfg.lambda_vgg * vgg
            out["vgg"] = vgg.item()
        loss_g.backward()
        self._freeze_discriminators(False)
        self.opt_g.step()
        self._last_sample = (labels[-1], fake[-1].detach().float(), reals[-1])
        return {"d": loss_d.item(), "g_adv": adv.item(), "fm": fm.item(), "l1": l1.item(), **out}

    def _teacher_frames(self, labels: list[torch.Tensor], fake: list[torch.Tensor]
                        ) -> list[torch.Tensor]:
        """The teacher's frames for the same inputs as the generator's: each label, and in
        a temporal stage the generator's own previous frame (zeros for the first)."""
        with torch.no_grad():
            return [self.teacher(lab, fake[i - 1].detach() if i else None)
                    for i, lab in enumerate(labels)]

    def _face_l1(self, fake: torch.Tensor, real: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        """L1 between the face crops of `fake` and `real` (zero when no frame has a face)."""
        boxes = self.data.face_boxes[idx]
        has_face = boxes[:, 2] > 0
        if not has_face.any():
            return fake.new_zeros(())
        keep = torch.from_numpy(np.flatnonzero(has_face)).to(fake.device)
        crop = self.face_config.crop
        return F.l1_loss(crop_batch(fake.index_select(0, keep), boxes[has_face], crop),
                         crop_batch(real.index_select(0, keep), boxes[has_face], crop))

    def _face_step(self, idx: np.ndarray) -> dict[str, float]:
        cfg, crop = self.cfg, self.face_config.crop
        lab0, _ = self._frames(idx)
        lab1, img1 = self._frames(idx + 1)
        with torch.no_grad():
            prev = self.frozen(lab0) if self.g_config.temporal else None
            gen = self.frozen(lab1, prev) if self.g_config.temporal else self.frozen(lab1)
        boxes = self.data.face_boxes[idx + 1]
        lab_c, gen_c, real_c = (crop_batch(t, boxes, crop) for t in (lab1, gen, img1))
        refined = torch.clamp(gen_c + self.g_ddp(lab_c, gen_c), -1.0, 1.0)
        real_in, fake_in = torch.cat([lab_c, real_c], 1), torch.cat([lab_c, refined], 1)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d = self._d_step([real_in], [fake_in], self.d_ddp)
        loss_d.backward()
        self.opt_d.step()
        self.opt_g.zero_grad(set_to_none=True)
        self._freeze_discriminators(True)
        adv, fm = self._g_adv([real_in], [fake_in], self.d)
        l1 = F.l1_loss(refined, real_c)
        loss_g = adv + cfg.lambda_fm * fm + cfg.lambda_l1 * l1
        if self.vgg is not None:
            loss_g = loss_g + cfg.lambda_vgg * self.vgg(refined, real_c)
        loss_g.backward()
        self._freeze_discriminators(False)
        self.opt_g.step()
        self._last_sample = (lab_c, refined.detach().float(), real_c)
        return {"d": loss_d.item(), "g_adv": adv.item(), "fm": fm.item(), "l1": l1.item(),
                "l1_before": F.l1_loss(gen_c, real_c).item()}

    # -- the loop -----------------------------------------------------------------------
    def run(self) -> Path:
        cfg = self.cfg
        if self.finished_already:
            self.dist.close()
            return self.ckpt_path
        if self.dist.main:
            (self.run_dir / f"train_config-{cfg.stage}.json").write_text(json.dumps(
                {"stage": cfg.stage, "config": asdict(cfg), "data": str(self.data_dir),
                 "precision": self.precision}, indent=2))
        log.info("%s stage: steps in %s on %s", cfg.stage, self.precision, self.device)
        bar = tqdm(total=cfg.iters, initial=self.step, desc=f"train {cfg.stage}", unit="step",
                   disable=not (self.progress and self.dist.main))
        log_path = self.run_dir / f"train_log-{cfg.stage}.jsonl"
        if self.dist.main:
            self._truncate_log(log_path)
        started = time.perf_counter()
        first_step = self.step
        pace = (started, self.step)  # the time and step the pace is measured from
        try:
            while self.step < cfg.iters:
                lr = _lr_at(cfg, self.step)
                for opt in (self.opt_g, self.opt_d):
                    for group in opt.param_groups:
                        group["lr"] = lr
                with step_precision.autocast(self.precision, self.device):
                    stats = self._step(self._batch())
                self.step += 1
                bar.update(1)
                bar.set_postfix({k: f"{v:.3f}" for k, v in stats.items()}, refresh=False)
                if self.dist.main and (self.step % cfg.log_every == 0 or self.step == cfg.iters):
                    rate = (self.step - first_step) / (time.perf_counter() - started)
                    with open(log_path, "a") as fh:
                        fh.write(json.dumps({"step": self.step, "lr": lr, "steps_per_s": rate,
                                             **stats}) + "\n")
                if self.dist.main and self.step % cfg.sample_every == 0:
                    save_sample_grid(self.run_dir / "samples" /
                                     f"{cfg.stage}-{self.step:06d}.png", *self._last_sample)
                if self.finish_by is not None and self.step % cfg.log_every == 0:
                    self._fit_deadline(pace, bar)
                    cfg = self.cfg
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.iters:
                    self._save()
        except BaseException:
            bar.close()
            self.dist.close()  # no barrier: the other ranks may be stuck in a collective
            raise
        bar.close()
        self.dist.barrier()
        self.dist.close()
        return self.ckpt_path

    def _fit_deadline(self, pace: tuple[float, int], bar: tqdm) -> tuple[float, int]:
        """Fit the stage's length to `finish_by` at its pace since `pace` (the time and
        step it started from); returns `pace` unchanged."""
        now, (since, from_step) = time.perf_counter(), pace
        if self.step - from_step < DEADLINE_MIN_STEPS:
            return pace
        per_step = (now - since) / (self.step - from_step)
        fits = self.step + max(int((self.finish_by - time.time()) / per_step), 1)
        target = max(min(fits, self.max_iters), self.step + 1)
        # lengthening takes a clearer margin than shortening, so the length does not
        # swing back and forth around the deadline
        margin = DEADLINE_SLACK * (1 if target < self.cfg.iters else 3) * self.asked_iters
        if abs(target - self.cfg.iters) > margin:
            old = self.cfg.iters
            self.cfg = replace(self.cfg, iters=target)
            bar.total = self.cfg.iters
            log.warning("%s stage: %.2f s a step so far; %s from %d to %d steps to end in "
                        "its time", self.cfg.stage, per_step,
                        "shortened" if target < old else "lengthened", old, target)
            if self.on_shorten is not None:
                self.on_shorten(self.cfg.iters)
        return pace

    def _truncate_log(self, path: Path) -> None:
        """Drop log lines past the step being resumed from (they are about to be redone)."""
        if not path.exists():
            return
        kept = [line for line in path.read_text().splitlines()
                if line.strip() and json.loads(line)["step"] <= self.step]
        path.write_text("".join(line + "\n" for line in kept))
