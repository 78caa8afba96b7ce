"""Training: losses fall, checkpoints resume exactly, runs are deterministic, DDP agrees."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.errors import InputError
from train.trainer import TrainConfig, Trainer, checkpoint_path, load_checkpoint


def _cfg(**kw) -> TrainConfig:
    # float32 on every machine (auto would be bfloat16 on AMX CPUs: tests/train/test_precision)
    base = dict(preset="tiny", stage="temporal", iters=6, batch=2, checkpoint_every=3,
                sample_every=3, log_every=1, precision="fp32")
    return TrainConfig(**{**base, **kw})


def _weights(run: Path, stage: str = "temporal") -> dict[str, torch.Tensor]:
    return load_checkpoint(checkpoint_path(run, stage))["generator"]


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_losses_decrease_on_a_tiny_model(tiny_data, tmp_path) -> None:
    Trainer(tiny_data, tmp_path / "r", _cfg(iters=60, lr=1e-3, sample_every=30),
            progress=False).run()
    log = [json.loads(line) for line in (tmp_path / "r" / "train_log-temporal.jsonl").open()]
    assert len(log) == 60
    first = sum(r["l1"] for r in log[:10]) / 10
    last = sum(r["l1"] for r in log[-10:]) / 10
    assert last < 0.7 * first, (first, last)
    assert sorted(p.name for p in (tmp_path / "r" / "samples").iterdir()) == [
        "temporal-000030.png", "temporal-000060.png"]
    ckpt = load_checkpoint(checkpoint_path(tmp_path / "r", "temporal"))
    assert ckpt["step"] == 60 and ckpt["generator_config"]["temporal"] is True
    assert ckpt["data"]["normalization"]["close"] > 0  # the target's statistics travel along
    assert not list((tmp_path / "r").glob("*.part"))


class _Crash(Exception):
    pass


def test_resume_equals_an_uninterrupted_run(tiny_data, tmp_path) -> None:
    Trainer(tiny_data, tmp_path / "full", _cfg(), progress=False).run()
    # Crash during step 5: the step-3 checkpoint survives, step 4's work is lost.
    crashing = Trainer(tiny_data, tmp_path / "cut", _cfg(), progress=False)
    real_step, done = crashing._step, []

    def step(idx):  # noqa: ANN001, ANN202
        if len(done) == 4:
            raise _Crash
        done.append(idx)
        return real_step(idx)

    crashing._step = step
    with pytest.raises(_Crash):
        crashing.run()
    assert load_checkpoint(checkpoint_path(tmp_path / "cut", "temporal"))["step"] == 3
    resumed = Trainer(tiny_data, tmp_path / "cut", _cfg(), resume=True, progress=False)
    assert resumed.step == 3
    resumed.run()
    full = load_checkpoint(checkpoint_path(tmp_path / "full", "temporal"))
    cut = load_checkpoint(checkpoint_path(tmp_path / "cut", "temporal"))
    for key in ("generator", "d", "dt"):
        assert _same(full[key], cut[key]), key
    assert _same(full["opt_g"]["state"][0], cut["opt_g"]["state"][0])
    # The log holds each step once, the lost step included only after it was redone.
    log = tmp_path / "cut" / "train_log-temporal.jsonl"
    steps = [json.loads(line)["step"] for line in log.open()]
    assert steps == list(range(1, 7))


def test_same_seed_same_weights_other_seed_other_weights(tiny_data, tmp_path) -> None:
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        Trainer(tiny_data, tmp_path / name, _cfg(iters=3, seed=seed), progress=False).run()
    assert _same(_weights(tmp_path / "a"), _weights(tmp_path / "b"))
    assert not _same(_weights(tmp_path / "a"), _weights(tmp_path / "c"))


def test_existing_run_needs_resume_and_the_same_settings(tiny_data, tmp_path) -> None:
    Trainer(tiny_data, tmp_path / "r", _cfg(iters=3), progress=False).run()
    with pytest.raises(InputError, match="--resume"):
        Trainer(tiny_data, tmp_path / "r", _cfg(iters=3), progress=False)
    with pytest.raises(InputError, match="different batch"):
        Trainer(tiny_data, tmp_path / "r", _cfg(iters=3, batch=1), resume=True, progress=False)


def test_a_finished_stage_can_be_extended_but_not_an_unfinished_one(tiny_data, tmp_path) -> None:
    Trainer(tiny_data, tmp_path / "r", _cfg(iters=3), progress=False).run()
    longer = Trainer(tiny_data, tmp_path / "r", _cfg(iters=5), resume=True, progress=False)
    assert longer.step == 3
    longer.run()
    assert load_checkpoint(checkpoint_path(tmp_path / "r", "temporal"))["step"] == 5
    # Asking a finished stage for fewer steps than it has is a no-op, not an error.
    before = _weights(tmp_path / "r")
    Trainer(tiny_data, tmp_path / "r", _cfg(iters=3), resume=True, progress=False).run()
    assert load_checkpoint(checkpoint_path(tmp_path / "r", "temporal"))["step"] == 5
    assert _same(before, _weights(tmp_path / "r"))
    assert json.loads((tmp_path / "r" / "train_config-temporal.json").read_text()
                      )["config"]["iters"] == 5
    crashing = Trainer(tiny_data, tmp_path / "u", _cfg(iters=6), progress=False)
    for _ in range(3):
        crashing._step(crashing._batch())
        crashing.step += 1
    crashing._save()
    with pytest.raises(InputError, match="different iters"):
        Trainer(tiny_data, tmp_path / "u", _cfg(iters=9), resume=True, progress=False)


def test_global_and_face_stages(tiny_data, tmp_path) -> None:
    run = tmp_path / "r"
    with pytest.raises(InputError, match="no trained generator"):
        Trainer(tiny_data, run, _cfg(stage="face"), progress=False)
    Trainer(tiny_data, run, _cfg(stage="global", iters=3), progress=False).run()
    assert load_checkpoint(checkpoint_path(run, "global"))["generator_config"]["temporal"] is False
    Trainer(tiny_data, run, _cfg(stage="face", iters=3), progress=False).run()
    face = load_checkpoint(checkpoint_path(run, "face"))
    assert "face" in face and face["face_config"]["crop"] == 16
    # The face stage keeps the generator it was trained on, untouched.
    assert _same(face["generator"], _weights(run, "global"))
    # Each stage keeps its own log and settings.
    for stage in ("global", "face"):
        assert len((run / f"train_log-{stage}.jsonl").read_text().splitlines()) == 3
        assert (run / f"train_config-{stage}.json").is_file()


def test_data_and_preset_sizes_must_match(tiny_data, tmp_path) -> None:
    with pytest.raises(InputError, match="prepare with --size 256"):
        Trainer(tiny_data, tmp_path / "r", _cfg(preset="cpu-rt"), progress=False)


@pytest.mark.slow
def test_two_process_ddp_ends_with_identical_weights(tiny_data, tmp_path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    worker = Path(__file__).with_name("ddp_worker.py")
    res = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", "29517", str(worker), str(tiny_data), str(tmp_path / "run"),
         str(tmp_path)], capture_output=True, text=True, timeout=300, env=env,
        cwd=Path(__file__).resolve().parents[2])
    assert res.returncode == 0, res.stderr[-2000:]
    w0 = torch.load(tmp_path / "rank0.pt")
    w1 = torch.load(tmp_path / "rank1.pt")
    assert _same(w0, w1)
    assert _same(w0, _weights(tmp_path / "run"))  # rank 0 wrote the checkpoint
    initial = Trainer(tiny_data, tmp_path / "fresh", _cfg(), progress=False).g.state_dict()
    assert not _same(w0, initial)  # and training moved the weights


def test_temporal_stage_starts_from_the_runs_global_stage(tiny_data, tmp_path) -> None:
    run = tmp_path / "r"
    Trainer(tiny_data, run, _cfg(stage="global", iters=3), progress=False).run()
    global_weights = _weights(run, "global")
    warm = Trainer(tiny_data, run, _cfg(iters=2), progress=False)
    cold = Trainer(tiny_data, tmp_path / "cold", _cfg(iters=2), progress=False)
    started = warm.g.state_dict()
    for name, value in global_weights.items():
        if started[name].shape == value.shape:
            assert torch.equal(started[name], value), name
        else:  # the first convolution: the previous-frame channels start at zero
            assert torch.equal(started[name][:, :3], value)
            assert not started[name][:, 3:].any()
    assert not _same(cold.g.state_dict(), started)
    no_warm = Trainer(tiny_data, tmp_path / "r2", _cfg(iters=2, warm_start=False),
                      progress=False)
    assert _same(no_warm.g.state_dict(), cold.g.state_dict())


def test_temporal_stage_refuses_an_unfinished_global_stage(tiny_data, tmp_path) -> None:
    run = tmp_path / "r"
    partial = Trainer(tiny_data, run, _cfg(stage="global", iters=6), progress=False)
    partial._step(partial._batch())
    partial.step += 1
    partial._save()
    with pytest.raises(InputError, match="stopped at step 1 of 6"):
        Trainer(tiny_data, run, _cfg(iters=2), progress=False)


@pytest.fixture
def tiny_three_blocks(monkeypatch) -> str:
    """A preset like `tiny` with three residual blocks, to thin down to `tiny`'s one."""
    from dataclasses import replace

    from train.presets import PRESETS

    tiny = PRESETS["tiny"]
    monkeypatch.setitem(PRESETS, "tiny-3", replace(
        tiny, name="tiny-3", generator=replace(tiny.generator, n_blocks=3)))
    return "tiny-3"


def test_a_stage_starts_from_another_runs_generator_thinned(tiny_data, tmp_path,
                                                           tiny_three_blocks) -> None:
    from train.models import Generator, GeneratorConfig, load_thinned

    source = tmp_path / "big"
    Trainer(tiny_data, source, _cfg(preset=tiny_three_blocks, iters=2), progress=False).run()
    ckpt = load_checkpoint(checkpoint_path(source, "temporal"))
    thin = Trainer(tiny_data, tmp_path / "thin", _cfg(init_from=str(source), iters=2),
                   progress=False)
    expected = Generator(thin.g_config)
    assert load_thinned(expected, ckpt["generator"],
                        GeneratorConfig.from_dict(ckpt["generator_config"])) == [0]
    assert _same(thin.g.state_dict(), expected.state_dict())
    assert _same(thin.d.state_dict(), ckpt["d"]) and _same(thin.dt.state_dict(), ckpt["dt"])
    thin.run()
    trained = load_checkpoint(checkpoint_path(tmp_path / "thin", "temporal"))
    assert trained["generator_config"]["n_blocks"] == 1 and trained["step"] == 2
    # A global stage starts from the other run's global stage only.
    with pytest.raises(InputError, match="no global checkpoint"):
        Trainer(tiny_data, tmp_path / "g", _cfg(stage="global", init_from=str(source)),
                progress=False)


def test_starting_from_another_run_refuses_what_it_cannot_use(tiny_data, tmp_path,
                                                             tiny_three_blocks) -> None:
    with pytest.raises(InputError, match="no temporal or global checkpoint"):
        Trainer(tiny_data, tmp_path / "r", _cfg(init_from=str(tmp_path)), progress=False)
    with pytest.raises(InputError, match="face stage trains on top"):
        Trainer(tiny_data, tmp_path / "r", _cfg(stage="face", init_from=str(tmp_path)),
                progress=False)
    with pytest.raises(InputError, match="names the run being trained"):
        Trainer(tiny_data, tmp_path / "r", _cfg(init_from=str(tmp_path / "r")), progress=False)
    partial = Trainer(tiny_data, tmp_path / "p", _cfg(iters=6), progress=False)
    partial._step(partial._batch())
    partial.step += 1
    partial._save()
    with pytest.raises(InputError, match="stopped at step 1 of 6"):
        Trainer(tiny_data, tmp_path / "r", _cfg(init_from=str(tmp_path / "p")), progress=False)
    small = tmp_path / "small"
    Trainer(tiny_data, small, _cfg(iters=1), progress=False).run()
    with pytest.raises(InputError, match="cannot start from .* fewer than the 3 wanted"):
        Trainer(tiny_data, tmp_path / "r", _cfg(preset=tiny_three_blocks, init_from=str(small)),
                progress=False)


def _distance_to(teacher: torch.nn.Module, trainer: Trainer) -> float:
    """Mean |generator - teacher| over a batch of training pairs, frame t from zeros and
    frame t+1 from the generator's frame t (the teacher given the same inputs)."""
    idx = trainer.pool[:4]
    lab0, _ = trainer._frames(idx)
    lab1, _ = trainer._frames(idx + 1)
    with torch.no_grad():
        fake0 = trainer.g(lab0)
        fake1 = trainer.g(lab1, fake0)
        return float((fake0 - teacher(lab0)).abs().mean()
                     + (fake1 - teacher(lab1, fake0)).abs().mean())


def test_distillation_keeps_the_generator_near_the_one_it_started_from(
        tiny_data, tmp_path, tiny_three_blocks) -> None:
    source = tmp_path / "big"
    Trainer(tiny_data, source, _cfg(preset=tiny_three_blocks, iters=4), progress=False).run()
    # The same thinned start and the same batches (same seed); one of them also learns
    # from the three-block generator's output. A high learning rate moves both far.
    alone, distilled = (
        Trainer(tiny_data, tmp_path / name, _cfg(init_from=str(source), iters=12, lr=2e-3,
                                                 lambda_distill=weight), progress=False)
        for name, weight in (("alone", 0.0), ("distilled", 500.0)))
    teacher = distilled.teacher
    assert alone.teacher is None and teacher is not None
    assert teacher.config.n_blocks == 3 and not teacher.training
    start = _distance_to(teacher, alone)
    assert start > 0 and start == pytest.approx(_distance_to(teacher, distilled))
    alone.run()
    distilled.run()
    assert _distance_to(teacher, distilled) < 0.7 * _distance_to(teacher, alone)
    last = {name: json.loads((tmp_path / name / "train_log-temporal.jsonl").read_text()
                             .splitlines()[-1]) for name in ("alone", "distilled")}
    assert last["distilled"]["distill"] > 0 and "distill" not in last["alone"]


def test_distillation_needs_a_run_to_learn_from_and_the_same_weight_to_resume(
        tiny_data, tmp_path) -> None:
    with pytest.raises(InputError, match="give --init-from"):
        _cfg(lambda_distill=10.0).validate()
    with pytest.raises(InputError, match="must not be negative"):
        _cfg(lambda_distill=-1.0).validate()
    source = tmp_path / "src"
    Trainer(tiny_data, source, _cfg(iters=2), progress=False).run()
    run = tmp_path / "r"
    partial = Trainer(tiny_data, run, _cfg(init_from=str(source), lambda_distill=10.0),
                      progress=False)
    partial._step(partial._batch())
    partial.step += 1
    partial._save()
    with pytest.raises(InputError, match="different lambda_distill"):
        Trainer(tiny_data, run, _cfg(init_from=str(source)), resume=True, progress=False)
    other = tmp_path / "other"
    shutil.copytree(source, other)
    with pytest.raises(InputError, match="give the same --init-from"):
        Trainer(tiny_data, run, _cfg(init_from=str(other), lambda_distill=10.0), resume=True,
                progress=False)
    Trainer(tiny_data, run, _cfg(init_from=str(source), lambda_distill=10.0), resume=True,
            progress=False).run()
    assert load_checkpoint(checkpoint_path(run, "temporal"))["step"] == 6
    log = (run / "train_log-temporal.jsonl").read_text().splitlines()
    assert all("distill" in json.loads(line) for line in log)  # the resumed steps too


def test_a_checkpoint_from_before_distillation_resumes_without_it(tiny_data, tmp_path) -> None:
    run = tmp_path / "r"
    partial = Trainer(tiny_data, run, _cfg(), progress=False)
    partial._step(partial._batch())
    partial.step += 1
    partial._save()
    path = checkpoint_path(run, "temporal")
    ckpt = load_checkpoint(path)
    del ckpt["train_config"]["lambda_distill"]  # as written before distillation existed
    torch.save(ckpt, path)
    source = tmp_path / "src"
    Trainer(tiny_data, source, _cfg(iters=2), progress=False).run()
    with pytest.raises(InputError, match="different lambda_distill"):
        Trainer(tiny_data, run, _cfg(init_from=str(source), lambda_distill=10.0),
                resume=True, progress=False)
    Trainer(tiny_data, run, _cfg(), resume=True, progress=False).run()
    assert load_checkpoint(path)["step"] == 6


def test_a_deadline_shortens_the_stage_and_a_resume_continues_the_shorter_one(
        tiny_data: Path, tmp_path: Path) -> None:
    import time

    heard: list[int] = []
    cfg = _cfg(iters=400, log_every=5)
    trainer = Trainer(tiny_data, tmp_path / "r", cfg, progress=False,
                      finish_by=time.time() + 1.0, on_shorten=heard.append)
    trainer.run()
    # 400 steps of even the tiny preset take longer than the second it was given
    assert heard and trainer.cfg.iters == heard[-1] < 400
    assert trainer.step == trainer.cfg.iters
    ckpt = torch.load(checkpoint_path(tmp_path / "r", "temporal"), weights_only=False)
    assert ckpt["train_config"]["iters"] == trainer.step  # finished at its new length
    # the same stage asked for its new length again is done; without a deadline nothing
    # is shortened
    again = Trainer(tiny_data, tmp_path / "r", _cfg(iters=heard[-1], log_every=5),
                    resume=True, progress=False)
    assert again.finished_already
    free = Trainer(tiny_data, tmp_path / "free", _cfg(iters=30, log_every=5), progress=False)
    free.run()
    assert free.step == 30


def test_a_deadline_with_time_to_spare_lengthens_the_stage_up_to_its_ceiling(
        tiny_data: Path, tmp_path: Path) -> None:
    import time

    heard: list[int] = []
    # 60 tiny steps take a few seconds: ten minutes leave room for every step allowed
    trainer = Trainer(tiny_data, tmp_path / "r", _cfg(iters=60, log_every=5), progress=False,
                      finish_by=time.time() + 600, on_shorten=heard.append, max_iters=90)
    trainer.run()
    assert heard == [90] and trainer.step == trainer.cfg.iters == 90
    ckpt = torch.load(checkpoint_path(tmp_path / "r", "temporal"), weights_only=False)
    assert ckpt["train_config"]["iters"] == 90
    # without a ceiling the length asked for is the most it runs
    plain = Trainer(tiny_data, tmp_path / "plain", _cfg(iters=60, log_every=5),
                    progress=False, finish_by=time.time() + 600)
    plain.run()
    assert plain.step == 60
