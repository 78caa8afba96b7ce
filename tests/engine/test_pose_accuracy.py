"""BlazePose accuracy on the synthetic performer: three motions x 10 s at 512x512, through
mediapipe and through the ONNX-converted models on ONNX Runtime.

Detection in >= 95% of frames, PCK@0.2 >= 0.97 and PCK@0.1 >= 0.80 over the 12 limb
joints, against the clip's ground truth.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from engine.metrics import detection_rate, pck
from engine.pose import create_estimator
from synth.clip import ClipSpec, synthesize

log = logging.getLogger(__name__)

MOTIONS = ("dance", "kick", "squat")



@pytest.mark.slow
@pytest.mark.parametrize("backend", ["mediapipe", "ort-cpu"])
def test_pck_on_synthetic_performer(backend, request) -> None:
    opts = {} if backend == "mediapipe" else {"models_dir": request.getfixturevalue("pose_models")}
    preds, truths = [], []
    for i, motion in enumerate(MOTIONS):
        with create_estimator(backend, video=True, **opts) as est:
            for frame, kp in synthesize(ClipSpec(actor="performer", motion=motion, seconds=10,
                                                 size=512, fps=30, seed=i)):
                preds.append(est.estimate(frame))
                truths.append(kp)
    pred, truth = np.stack(preds), np.stack(truths)
    det, p2, p1 = detection_rate(pred), pck(pred, truth, 0.2), pck(pred, truth, 0.1)
    log.info("%s: detection %.4f, PCK@0.2 %.4f, PCK@0.1 %.4f over %d frames", backend, det, p2,
             p1, len(pred))
    assert det >= 0.95
    assert p2 >= 0.97
    assert p1 >= 0.80
