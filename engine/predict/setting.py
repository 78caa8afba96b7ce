"""`--predict auto|off|MS`: how far ahead the avatar's pose is predicted.

* `auto`: by the session's end-to-end delay (`delay.DelayEstimate`), capped;
* `off`: never (the avatar shows the pose of the frame it was drawn from);
* a number of milliseconds (0 to the cap): always that far ahead.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from engine.errors import InputError

DEFAULT_METHOD = "kinematic"  # the extrapolator of engine.predict.predictor (see README)
CAP_MS = 150.0  # no horizon is longer: past it, a dancer's next move is a guess
MODES = ("auto", "off", "fixed")


@dataclass(frozen=True)
class PredictSetting:
    mode: str = "off"  # auto | off | fixed
    fixed_ms: float = 0.0  # the horizon of "fixed"

    @property
    def enabled(self) -> bool:
        return self.mode == "auto" or (self.mode == "fixed" and self.fixed_ms > 0)

    def requested_s(self, delay_s: float | None) -> float:
        """The horizon asked for, given the session's delay (seconds; None: unknown),
        before the cap and the predictor's back-off."""
        if self.mode == "fixed":
            return self.fixed_ms / 1e3
        if self.mode == "auto" and delay_s is not None and math.isfinite(delay_s):
            return max(0.0, delay_s)
        return 0.0

    def __str__(self) -> str:
        return f"{self.fixed_ms:g}" if self.mode == "fixed" else self.mode


def parse_predict(value: object) -> PredictSetting:
    """`"auto"`, `"off"` or milliseconds (a number, or its text) -> the setting; anything
    else is an InputError that says what is accepted."""
    if isinstance(value, PredictSetting):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("auto", "off"):
            return PredictSetting(text)
        if text.endswith("ms"):
            text = text[:-2].strip()
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"predict must be auto, off or milliseconds (0 to {CAP_MS:g}), "
                             f"got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"predict must be auto, off or milliseconds (0 to {CAP_MS:g}), "
                         f"got {value!r}")
    ms = float(value)
    if not math.isfinite(ms) or not 0 <= ms <= CAP_MS:
        raise InputError(f"a prediction horizon is 0 to {CAP_MS:g} ms, got {value!r}")
    return PredictSetting("fixed", ms) if ms > 0 else PredictSetting("off")


def predict_argument(text: str) -> str:
    """The `--predict` option's type (serve, render, bench pipeline): its text, checked."""
    try:
        return str(parse_predict(text))
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
