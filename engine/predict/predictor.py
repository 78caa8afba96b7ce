"""Pose prediction for the live avatar: where the performer will be when the frame shows.

The avatar lags the performer by the pipeline's end-to-end delay. `PosePredictor` takes
each normalized pose and that delay, and returns the pose extrapolated forward by the
horizon `HorizonControl` allows (the delay, capped at `cap_s`, backed off where prediction
does not beat showing the pose as it is), with `BodyLimits` keeping bone lengths and
joint angles plausible.

    predictor = PosePredictor()            # kinematic, order 1; shipped limits
    shown = predictor(pose, t, delay_s)    # per frame; delay_s 0 or None: pose unchanged
"""

from __future__ import annotations

import importlib
import logging
from typing import Literal

import numpy as np

from engine.errors import InputError
from engine.predict.base import Extrapolator
from engine.predict.horizon import HorizonControl
from engine.predict.kinematic import KinematicPredictor
from engine.predict.limits import BodyLimits

log = logging.getLogger(__name__)

METHODS: tuple[str, ...] = ("kinematic", "kinematic2", "learned")
LEARNED_MODULE = "engine.predict.learned"


def make_extrapolator(method: str = "kinematic") -> Extrapolator:
    """A new extrapolator: `kinematic` (constant velocity), `kinematic2` (constant
    acceleration) or `learned` (`engine.predict.learned.LearnedPredictor`)."""
    if method == "kinematic":
        return KinematicPredictor.tuned(1)
    if method == "kinematic2":
        return KinematicPredictor.tuned(2)
    if method == "learned":
        try:
            module = importlib.import_module(LEARNED_MODULE)
        except ModuleNotFoundError as exc:
            if exc.name == LEARNED_MODULE:
                raise InputError("the learned pose predictor is not available in this "
                                 f"build ({LEARNED_MODULE} is missing); use one of "
                                 "kinematic, kinematic2") from None
            raise InputError(f"the learned pose predictor needs the package {exc.name!r}, "
                             "which is not installed") from exc
        return module.LearnedPredictor()
    raise InputError(f"unknown prediction method {method!r}; choose from {', '.join(METHODS)}")


class PosePredictor:
    """Per-stream prediction (one thread at a time); see the module docstring.

    `limits`: the body limits imposed on predictions, `"shipped"` for the engine's own
    ranges, None for none.
    """

    def __init__(self, method: str = "kinematic", cap_s: float = 0.15,
                 limits: BodyLimits | Literal["shipped"] | None = "shipped",
                 extrapolator: Extrapolator | None = None,
                 control: HorizonControl | None = None) -> None:
        self.method = method
        self.extrapolator = extrapolator if extrapolator is not None else make_extrapolator(method)
        self.limits = BodyLimits.shipped() if limits == "shipped" else limits
        self.control = control if control is not None else HorizonControl(cap_s=cap_s)

    def reset(self) -> None:
        self.extrapolator.reset()
        self.control.reset()

    def _limited(self, predicted: np.ndarray, pose: np.ndarray) -> np.ndarray:
        return self.limits.apply(predicted, pose) if self.limits is not None else predicted

    def __call__(self, pose: np.ndarray, t: float, delay_s: float | None) -> np.ndarray:
        """The pose to show for `pose` (captured at `t`) when it reaches the screen
        `delay_s` later."""
        pose = np.asarray(pose, dtype=np.float32)
        self.extrapolator.update(pose, t)
        self.control.update(pose, t)
        full = self.control.capped(delay_s)
        self.control.horizon(delay_s)
        if full <= 0:
            return pose.copy()
        raw = self.extrapolator.predict(full)
        # Every joint moves its back-off's share of the way to the capped horizon's
        # prediction (for constant velocity: predicted that share of the horizon ahead).
        scale = self.control.joint_backoff()
        moved = raw.copy()
        moved[:, :2] = pose[:, :2] + scale[:, None] * (raw[:, :2] - pose[:, :2])
        moved[~np.isfinite(moved[:, :2]).all(1), :2] = pose[~np.isfinite(moved[:, :2]).all(1),
                                                            :2]
        out = self._limited(moved, pose) if scale.any() else pose.copy()
        # The full horizon's prediction is graded even where a joint is backed off, so
        # that its back-off recovers when prediction pays again.
        probe = out if (scale == 1).all() else self._limited(raw, pose)
        self.control.record(t + full, probe, pose)
        return out

    def stats(self) -> dict[str, object]:
        return {"method": self.method, **self.control.stats()}
