"""Procedural dances: each motion maps time (seconds) to the actor's `PoseParams`.

Timing follows a beat (96-124 bpm, drawn from the seed), movements ease in and out,
and several motions travel toward and away from the camera, which is what global
pose normalization has to undo.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.errors import InputError
from synth.body import Limb, PoseParams

TAU = 2.0 * np.pi
MID_DEPTH = 3.6  # metres; the body fills about two thirds of the frame height here


@dataclass(frozen=True)
class Tempo:
    """Random but reproducible variation of a motion, drawn from the seed."""

    beat: float  # seconds per beat
    amp: float  # amplitude multiplier
    phase: float  # radians
    side: float  # +1 or -1: which side leads
    depth: float  # base depth of the root

    @classmethod
    def from_seed(cls, seed: int) -> Tempo:
        rng = np.random.default_rng(seed)
        return cls(beat=60.0 / rng.uniform(96, 124), amp=rng.uniform(0.85, 1.15),
                   phase=rng.uniform(0, TAU), side=float(rng.choice([-1.0, 1.0])),
                   depth=MID_DEPTH + rng.uniform(-0.2, 0.2))


def ease(x: float) -> float:
    """Smoothstep of x clipped to 0..1."""
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def bump(t: float, period: float, phase: float = 0.0) -> float:
    """0..1 smooth periodic pulse: 0 at the start of each period, 1 in the middle."""
    return 0.5 - 0.5 * np.cos(TAU * t / period + phase)


def _rest_arm(t: float, k: Tempo, sign: float) -> Limb:
    """Arms hanging a little away from the body, elbows soft, breathing slightly."""
    sway = 0.04 * np.sin(TAU * t / (4 * k.beat) + k.phase + sign)
    return Limb(abd=0.18 + sway, flex=0.05, bend_abd=-0.05, bend_flex=0.25)


def _stand_leg(spread: float = 0.06) -> Limb:
    return Limb(abd=spread, flex=0.0, bend_abd=0.0, bend_flex=-0.02)


def idle(t: float, k: Tempo) -> PoseParams:
    shift = np.sin(TAU * t / (8 * k.beat) + k.phase)
    return PoseParams(
        x=0.07 * shift * k.amp, depth=k.depth + 0.15 * np.sin(TAU * t / 12.0),
        lean=-0.04 * shift, head_tilt=0.05 * np.sin(TAU * t / (6 * k.beat)),
        head_turn=0.15 * np.sin(TAU * t / 9.0 + k.phase),
        left_arm=_rest_arm(t, k, 1.0), right_arm=_rest_arm(t, k, -1.0),
        left_leg=_stand_leg(0.06 + 0.03 * shift), right_leg=_stand_leg(0.06 - 0.03 * shift),
    )


def wave(t: float, k: Tempo) -> PoseParams:
    # Lead arm waves, then the other, then both: 4 bars each.
    bar = 8 * k.beat
    section = int(t // bar) % 3
    env = ease((t % bar) / (0.6 * k.beat)) * ease((bar - t % bar) / (0.6 * k.beat))
    swing = np.sin(TAU * t / k.beat + k.phase)
    lead_left = k.side > 0
    active = {"left": section == 2 or (section == 0) == lead_left,
              "right": section == 2 or (section == 1) == lead_left}
    arms = {}
    for name, sign in (("left", 1.0), ("right", -1.0)):
        rest = _rest_arm(t, k, sign)
        e = env if active[name] else 0.0
        arms[name] = Limb(
            abd=rest.abd + e * (1.75 + 0.15 * swing * sign - rest.abd),
            flex=rest.flex + e * 0.15,
            bend_abd=rest.bend_abd + e * (0.9 + 0.45 * k.amp * swing - rest.bend_abd),
            bend_flex=rest.bend_flex * (1 - e),
        )
    bounce = bump(t, k.beat, k.phase)
    return PoseParams(
        x=0.04 * np.sin(TAU * t / (4 * k.beat)), depth=k.depth + 0.1 * np.sin(TAU * t / 10.0),
        lean=-0.05 * swing * env, head_tilt=0.06 * swing * env,
        left_arm=arms["left"], right_arm=arms["right"],
        left_leg=Limb(abd=0.08, flex=0.1 * bounce, bend_flex=-0.2 * bounce),
        right_leg=Limb(abd=0.08, flex=0.1 * bounce, bend_flex=-0.2 * bounce),
    )


def squat(t: float, k: Tempo) -> PoseParams:
    period = 4 * k.beat
    s = bump(t, period, k.phase) ** 1.5 * min(k.amp, 1.0)
    bounce = 0.25 * bump(t, k.beat) * (1 - s)
    d = s + bounce
    arm = Limb(abd=0.25 + 0.1 * d, flex=0.1 + 1.25 * s, bend_abd=-0.1, bend_flex=0.2 + 0.2 * s)
    leg = Limb(abd=0.12 + 0.12 * d, flex=1.15 * d, bend_abd=-0.05 * d, bend_flex=-2.0 * d)
    return PoseParams(
        x=0.03 * np.sin(TAU * t / (8 * k.beat)), depth=k.depth - 0.1 * np.sin(TAU * t / 14.0),
        bend=0.35 * d, head_tilt=0.03 * np.sin(TAU * t / period),
        left_arm=arm, right_arm=Limb(arm.abd, arm.flex, arm.bend_abd, arm.bend_flex),
        left_leg=leg, right_leg=Limb(leg.abd, leg.flex, leg.bend_abd, leg.bend_flex),
    )


def sidestep(t: float, k: Tempo) -> PoseParams:
    period = 4 * k.beat
    phase = TAU * t / period + k.phase
    x = 0.32 * k.amp * np.sin(phase) * k.side
    # The leg on the side we travel toward opens during the step.
    velocity = np.cos(phase) * k.side
    open_left = max(velocity, 0.0)
    open_right = max(-velocity, 0.0)
    clap = bump(t, 2 * k.beat, k.phase)
    arms = [Limb(abd=0.35 + 0.9 * clap, flex=0.25 + 0.3 * clap, bend_abd=0.5 * clap,
                 bend_flex=0.3) for _ in range(2)]
    return PoseParams(
        x=x, depth=k.depth + 0.35 * np.sin(TAU * t / 9.0), lift=0.02 * bump(t, k.beat),
        lean=0.06 * velocity, head_tilt=-0.05 * velocity,
        left_arm=arms[0], right_arm=arms[1],
        left_leg=Limb(abd=0.07 + 0.28 * open_left, bend_flex=-0.3 * open_left),
        right_leg=Limb(abd=0.07 + 0.28 * open_right, bend_flex=-0.3 * open_right),
    )


def kick(t: float, k: Tempo) -> PoseParams:
    period = 4 * k.beat
    n = int((t + k.phase) // period)
    local = ((t + k.phase) % period) / period
    kick_left = (n % 2 == 0) == (k.side > 0)
    side_kick = (n // 2) % 2 == 0
    chamber = ease(local / 0.25) * ease((0.8 - local) / 0.15)
    extend = ease((local - 0.2) / 0.15) * ease((0.6 - local) / 0.15)
    leg_up = Limb(
        abd=(0.06 + 0.95 * extend * k.amp) if side_kick else 0.06 + 0.1 * chamber,
        flex=(0.5 * chamber) if side_kick else (0.9 * chamber + 0.5 * extend),
        bend_flex=-1.6 * chamber * (1 - extend),
    )
    leg_stand = Limb(abd=0.04, flex=0.08 * chamber, bend_flex=-0.15 * chamber)
    arm_out = Limb(abd=0.5 + 0.8 * chamber, flex=0.15, bend_abd=0.2 * chamber, bend_flex=0.3)
    return PoseParams(
        x=0.05 * np.sin(TAU * t / (8 * k.beat)), depth=k.depth + 0.2 * np.sin(TAU * t / 11.0),
        lean=(-0.12 if kick_left else 0.12) * extend * side_kick,
        left_arm=arm_out, right_arm=Limb(arm_out.abd, arm_out.flex, arm_out.bend_abd,
                                         arm_out.bend_flex),
        left_leg=leg_up if kick_left else leg_stand,
        right_leg=leg_stand if kick_left else leg_up,
    )


def turn(t: float, k: Tempo) -> PoseParams:
    period = 8 * k.beat
    yaw = 0.85 * k.amp * np.sin(TAU * t / period + k.phase)
    bounce = bump(t, k.beat)
    arm = Limb(abd=1.1 + 0.2 * bounce, flex=0.2, bend_abd=0.3, bend_flex=0.4)
    return PoseParams(
        x=0.05 * np.sin(TAU * t / period), depth=k.depth + 0.15 * np.sin(TAU * t / 13.0),
        yaw=yaw, head_turn=-0.3 * yaw,
        left_arm=arm, right_arm=Limb(arm.abd, arm.flex, arm.bend_abd, arm.bend_flex),
        left_leg=Limb(abd=0.1, flex=0.12 * bounce, bend_flex=-0.25 * bounce),
        right_leg=Limb(abd=0.1, flex=0.12 * bounce, bend_flex=-0.25 * bounce),
    )


def approach(t: float, k: Tempo) -> PoseParams:
    # Walk toward the camera and back again over 8 seconds.
    depth = MID_DEPTH + 0.1 + 0.75 * np.sin(TAU * t / 8.0 + k.phase)
    speed = abs(np.cos(TAU * t / 8.0 + k.phase))
    stride = np.sin(TAU * t / (2 * k.beat))
    swing_l, swing_r = 0.35 * stride * speed, -0.35 * stride * speed
    return PoseParams(
        x=0.1 * np.sin(TAU * t / 16.0), depth=depth, lean=0.03 * stride * speed,
        left_arm=Limb(abd=0.2, flex=-swing_l * 0.9, bend_flex=0.3),
        right_arm=Limb(abd=0.2, flex=-swing_r * 0.9, bend_flex=0.3),
        left_leg=Limb(abd=0.05, flex=swing_l, bend_flex=-0.5 * max(swing_l, 0.0) * 2),
        right_leg=Limb(abd=0.05, flex=swing_r, bend_flex=-0.5 * max(swing_r, 0.0) * 2),
    )


def dance(t: float, k: Tempo) -> PoseParams:
    """A mix: alternating arm pumps, bounce on the beat, steps, turns and depth drift."""
    beat = t / k.beat
    pump = np.sin(TAU * beat / 4 + k.phase)
    bounce = bump(t, k.beat)
    up_l, up_r = max(pump, 0.0) ** 1.5, max(-pump, 0.0) ** 1.5
    step = np.sin(TAU * beat / 8 + k.phase)
    return PoseParams(
        x=0.22 * step * k.amp, depth=MID_DEPTH + 0.45 * np.sin(TAU * t / 10.0 + k.phase),
        yaw=0.35 * np.sin(TAU * beat / 16), lean=0.05 * pump, head_tilt=0.06 * pump,
        left_arm=Limb(abd=0.3 + 2.0 * up_l, flex=0.2, bend_abd=0.5 * up_l, bend_flex=0.5),
        right_arm=Limb(abd=0.3 + 2.0 * up_r, flex=0.2, bend_abd=0.5 * up_r, bend_flex=0.5),
        left_leg=Limb(abd=0.1 + 0.12 * max(step, 0), flex=0.25 * bounce, bend_flex=-0.5 * bounce),
        right_leg=Limb(abd=0.1 + 0.12 * max(-step, 0), flex=0.25 * bounce,
                       bend_flex=-0.5 * bounce),
    )


MotionFn = Callable[[float, Tempo], PoseParams]

MOTIONS: dict[str, tuple[MotionFn, str]] = {
    "idle": (idle, "standing, swaying gently, looking around"),
    "wave": (wave, "waving one arm, then the other, then both"),
    "squat": (squat, "slow squats with a bounce on the beat"),
    "sidestep": (sidestep, "stepping side to side with claps"),
    "kick": (kick, "alternating side and front kicks"),
    "turn": (turn, "turning left and right with arms out"),
    "approach": (approach, "walking toward the camera and back"),
    "dance": (dance, "arm pumps, bounces, steps and half turns"),
}


def motion_names() -> list[str]:
    return list(MOTIONS)


def get_motion(name: str) -> MotionFn:
    try:
        return MOTIONS[name][0]
    except KeyError:
        raise InputError(f"unknown motion {name!r}; choose from {', '.join(MOTIONS)}") from None
