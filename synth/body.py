"""Body proportions, joint angles and forward kinematics to BlazePose's 33 landmarks.

World frame: X to the image's right, Y up, Z toward the camera; the ground is Y = 0.
A body at yaw 0 faces the camera, so its left side is at +X. Lengths are metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.keypoints import LM, NUM_LANDMARKS


@dataclass(frozen=True)
class Proportions:
    """Bone lengths and limb radii of one actor (metres)."""

    hip_width: float = 0.18  # between the hip joints
    shoulder_width: float = 0.36  # between the shoulder joints
    torso: float = 0.50  # mid-hip to mid-shoulder
    neck: float = 0.17  # mid-shoulder to the head's centre
    head_radius: float = 0.105
    upper_arm: float = 0.29
    forearm: float = 0.25
    hand: float = 0.08  # wrist to index fingertip
    thigh: float = 0.43
    shin: float = 0.42
    ankle_height: float = 0.075
    heel: float = 0.05  # ankle to heel, backwards
    toe: float = 0.17  # ankle to toe tip, forwards
    arm_radius: float = 0.045
    leg_radius: float = 0.068
    waist_half_width: float = 0.14  # half width of the torso at the waist

    @property
    def hip_height(self) -> float:
        return self.ankle_height + self.shin + self.thigh

    @property
    def height(self) -> float:
        return self.hip_height + self.torso + self.neck + self.head_radius * 1.15


@dataclass
class Limb:
    """Angles of one arm or leg (radians).

    `abd` swings the limb out sideways (0 = hanging down, pi/2 = horizontal, pi = up);
    `flex` swings it toward the camera. The distal segment has its own pair, relative
    to the proximal one (`bend_abd` adds to `abd`, `bend_flex` to `flex`).
    """

    abd: float = 0.0
    flex: float = 0.0
    bend_abd: float = 0.0
    bend_flex: float = 0.0


@dataclass
class PoseParams:
    """Everything that places one actor in one frame."""

    x: float = 0.0  # root (mid-hip) position across the floor
    depth: float = 3.6  # distance of the root from the camera
    lift: float = 0.0  # height of the lowest foot above the ground (jumps)
    yaw: float = 0.0  # turn about the vertical axis; positive turns the body's left away
    lean: float = 0.0  # upper-body side lean (frontal plane), positive toward body-left
    bend: float = 0.0  # upper-body forward bend toward the camera
    head_tilt: float = 0.0  # head roll, positive toward body-left
    head_turn: float = 0.0  # head yaw relative to the body
    left_arm: Limb = field(default_factory=Limb)
    right_arm: Limb = field(default_factory=Limb)
    left_leg: Limb = field(default_factory=Limb)
    right_leg: Limb = field(default_factory=Limb)


def _direction(abd: float, flex: float, side: float) -> np.ndarray:
    """Unit vector for a limb hanging down, swung out by `abd` and forward by `flex`."""
    return np.array([side * np.sin(abd) * np.cos(flex), -np.cos(abd) * np.cos(flex),
                     np.sin(flex)])


def _rot_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


# Face landmarks in the head's frame, in units of the head radius (x body-left, y up,
# z forward).
_FACE = {
    "nose": (0.0, -0.10, 1.00),
    "left_eye_inner": (0.17, 0.22, 0.88),
    "left_eye": (0.32, 0.24, 0.84),
    "left_eye_outer": (0.46, 0.23, 0.76),
    "right_eye_inner": (-0.17, 0.22, 0.88),
    "right_eye": (-0.32, 0.24, 0.84),
    "right_eye_outer": (-0.46, 0.23, 0.76),
    "left_ear": (0.80, 0.05, 0.0),
    "right_ear": (-0.80, 0.05, 0.0),
    "mouth_left": (0.24, -0.45, 0.86),
    "mouth_right": (-0.24, -0.45, 0.86),
}


def forward_kinematics(body: Proportions, pose: PoseParams) -> tuple[np.ndarray, dict]:
    """World positions `[33, 3]` of the landmarks, plus extra points for drawing.

    The extras (`head_center`, `head_up`, `head_forward`, `neck`) let the renderer place
    the head; the feet are put on the ground (or `lift` above it).
    """
    pts = np.zeros((NUM_LANDMARKS, 3))
    body_rot = _rot_y(pose.yaw)
    upper_rot = body_rot @ _rot_z(pose.lean) @ _rot_x(pose.bend)

    def put(name: str, local: np.ndarray, rot: np.ndarray, origin: np.ndarray) -> np.ndarray:
        p = origin + rot @ local
        pts[LM[name]] = p
        return p

    root = np.zeros(3)
    # Legs: hips on the pelvis, then knee, ankle and the foot.
    for side_name, sign, limb in (("left", 1.0, pose.left_leg), ("right", -1.0, pose.right_leg)):
        hip = put(f"{side_name}_hip", np.array([sign * body.hip_width / 2, 0, 0]), body_rot, root)
        thigh_dir = _direction(limb.abd, limb.flex, sign)
        knee = hip + body_rot @ (thigh_dir * body.thigh)
        pts[LM[f"{side_name}_knee"]] = knee
        shin_dir = _direction(limb.abd + limb.bend_abd, limb.flex + limb.bend_flex, sign)
        ankle = knee + body_rot @ (shin_dir * body.shin)
        pts[LM[f"{side_name}_ankle"]] = ankle
        # The foot stays level and points forward (toes out a little).
        splay = sign * 0.15
        foot_fwd = body_rot @ np.array([np.sin(splay), 0.0, np.cos(splay)])
        down = np.array([0.0, -body.ankle_height * 0.8, 0.0])
        pts[LM[f"{side_name}_heel"]] = ankle + down - foot_fwd * body.heel
        pts[LM[f"{side_name}_foot_index"]] = ankle + down + foot_fwd * body.toe

    # Upper body from the root.
    mid_shoulder = root + upper_rot @ np.array([0.0, body.torso, 0.0])
    for side_name, sign, limb in (("left", 1.0, pose.left_arm), ("right", -1.0, pose.right_arm)):
        shoulder = put(f"{side_name}_shoulder", np.array([sign * body.shoulder_width / 2, 0, 0]),
                       upper_rot, mid_shoulder)
        elbow = shoulder + upper_rot @ (_direction(limb.abd, limb.flex, sign) * body.upper_arm)
        pts[LM[f"{side_name}_elbow"]] = elbow
        fore_dir = upper_rot @ _direction(limb.abd + limb.bend_abd, limb.flex + limb.bend_flex,
                                          sign)
        wrist = elbow + fore_dir * body.forearm
        pts[LM[f"{side_name}_wrist"]] = wrist
        # Fingers continue the forearm; pinky toward the outside, thumb toward the front.
        side_axis = np.cross(fore_dir, upper_rot @ np.array([0.0, 0.0, 1.0]))
        if np.linalg.norm(side_axis) < 1e-6:
            side_axis = upper_rot @ np.array([1.0, 0.0, 0.0])
        side_axis = side_axis / np.linalg.norm(side_axis) * sign
        pts[LM[f"{side_name}_index"]] = wrist + fore_dir * body.hand
        pts[LM[f"{side_name}_pinky"]] = (wrist + fore_dir * body.hand * 0.85
                                         + side_axis * body.hand * 0.3)
        pts[LM[f"{side_name}_thumb"]] = (wrist + fore_dir * body.hand * 0.55
                                         - side_axis * body.hand * 0.35)

    head_rot = upper_rot @ _rot_z(pose.head_tilt) @ _rot_y(pose.head_turn)
    head_center = mid_shoulder + head_rot @ np.array([0.0, body.neck, 0.0])
    for name, (fx, fy, fz) in _FACE.items():
        pts[LM[name]] = head_center + head_rot @ (np.array([fx, fy, fz]) * body.head_radius)

    extras = {
        "head_center": head_center,
        "head_up": head_rot @ np.array([0.0, 1.0, 0.0]),
        "head_forward": head_rot @ np.array([0.0, 0.0, 1.0]),
        "neck": mid_shoulder,
    }
    # Put the lowest foot point on the ground, then place the root in the room.
    foot_ids = [LM[n] for n in ("left_heel", "right_heel", "left_foot_index",
                                "right_foot_index")]
    ground = pts[foot_ids, 1].min()
    offset = np.array([pose.x, pose.lift - ground, -pose.depth])
    pts += offset
    extras = {k: (v + offset if k in ("head_center", "neck") else v) for k, v in extras.items()}
    return pts, extras


@dataclass(frozen=True)
class Camera:
    """Pinhole camera at height `height` looking horizontally along -Z.

    The principal point (where the world's X = 0 line and the horizon cross) sits at
    column `center * width` and row `horizon * height_px`. Zooming and shifting the
    image plane (`synth.framing`) changes `focal`, `center` and `horizon` only.
    """

    width: int = 512
    height_px: int = 512
    focal: float = 716.0  # pixels, for a 512-pixel frame; scaled with the frame
    height: float = 1.0  # metres above the floor
    horizon: float = 0.49  # image row of the horizon, as a fraction of the frame height
    center: float = 0.5  # image column of X = 0, as a fraction of the frame width

    @classmethod
    def for_size(cls, width: int, height: int) -> Camera:
        """The standard camera of a frame: the reference picture scaled to its height."""
        return cls(width=width, height_px=height, focal=cls.focal * height / 512.0)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates `[N, 2]` and depths `[N]` of world points `[N, 3]`."""
        depth = -points[:, 2]
        u = self.width * self.center + self.focal * points[:, 0] / depth
        v = self.horizon * self.height_px - self.focal * (points[:, 1] - self.height) / depth
        return np.stack([u, v], axis=1), depth

    def scale_at(self, depth: float) -> float:
        """Pixels per metre at a depth."""
        return self.focal / depth
