"""How an actor looks: body proportions, colours, clothing pattern, face and room.

Two built-in actors, `target` and `performer`, differ in build, colouring, clothes,
hair and room, so that a transfer between them is visible at a glance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import InputError
from synth.body import Proportions

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Appearance:
    """One actor's looks; every colour is RGB 0..255."""

    name: str
    body: Proportions = field(default_factory=Proportions)
    skin: RGB = (224, 172, 138)
    hair: RGB = (92, 58, 32)
    hair_style: str = "short"  # short | long | bun
    shirt: RGB = (200, 40, 50)
    shirt_pattern: str = "stripes"  # plain | stripes | checks | dots
    pattern_color: RGB = (245, 235, 220)
    pattern_period: float = 0.08  # metres between stripes / checks / dots
    long_sleeves: bool = False
    trousers: RGB = (40, 60, 120)
    shoes: RGB = (30, 30, 30)
    eyes: RGB = (40, 30, 25)
    brows: RGB = (60, 40, 25)
    mouth: RGB = (170, 70, 70)
    wall_top: RGB = (205, 210, 200)
    wall_bottom: RGB = (170, 175, 168)
    floor: RGB = (150, 120, 90)


ACTORS: dict[str, Appearance] = {
    "target": Appearance(
        name="target",
        body=Proportions(),
    ),
    "performer": Appearance(
        name="performer",
        body=Proportions(
            hip_width=0.20, shoulder_width=0.33, torso=0.46, neck=0.16, head_radius=0.10,
            upper_arm=0.27, forearm=0.23, hand=0.075, thigh=0.40, shin=0.39,
            arm_radius=0.040, leg_radius=0.062, waist_half_width=0.13,
        ),
        skin=(150, 100, 70),
        hair=(25, 20, 20),
        hair_style="long",
        shirt=(40, 150, 90),
        shirt_pattern="checks",
        pattern_color=(20, 90, 50),
        pattern_period=0.10,
        long_sleeves=True,
        trousers=(35, 35, 40),
        shoes=(230, 230, 235),
        eyes=(30, 20, 15),
        brows=(25, 20, 20),
        mouth=(120, 50, 50),
        wall_top=(190, 200, 225),
        wall_bottom=(150, 160, 190),
        floor=(110, 110, 105),
    ),
}


def get_actor(name: str) -> Appearance:
    """A built-in actor by name."""
    try:
        return ACTORS[name]
    except KeyError:
        raise InputError(f"unknown actor {name!r}; choose from {', '.join(ACTORS)}") from None
