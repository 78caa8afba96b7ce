"""Run under torchrun by the DDP test: trains the tiny preset and saves this rank's weights."""

from __future__ import annotations

import os
import sys

import torch

from train.trainer import TrainConfig, Trainer


def main() -> None:
    data, run, out = sys.argv[1:4]
    cfg = TrainConfig(preset="tiny", stage="temporal", iters=4, batch=1, checkpoint_every=100,
                      sample_every=100)
    trainer = Trainer(data, run, cfg, progress=False)
    trainer.run()
    rank = int(os.environ["RANK"])
    torch.save(trainer.g.state_dict(), os.path.join(out, f"rank{rank}.pt"))


if __name__ == "__main__":
    main()
