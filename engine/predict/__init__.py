"""Pose prediction: the live avatar's pose extrapolated forward by the end-to-end delay,
so that it moves with the performer instead of behind.

* `PosePredictor`: the per-stream entry point (extrapolate, choose the horizon, limit);
* `KinematicPredictor`: per-joint polynomial extrapolation (`base.Extrapolator`);
* `HorizonControl`: the horizon, capped and backed off from the predictions' errors;
* `BodyLimits`: bone lengths and joint-angle ranges imposed on predicted poses.
"""

from engine.predict.base import Extrapolator
from engine.predict.horizon import HorizonControl
from engine.predict.kinematic import KinematicPredictor
from engine.predict.limits import BodyLimits
from engine.predict.predictor import METHODS, PosePredictor, make_extrapolator

__all__ = ["METHODS", "BodyLimits", "Extrapolator", "HorizonControl", "KinematicPredictor",
           "PosePredictor", "make_extrapolator"]
