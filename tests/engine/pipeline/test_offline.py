"""Offline rendering: frame rate kept, audio copied, clear errors, nothing partial."""

from __future__ import annotations

import av
import numpy as np
import pytest

from engine.avatar import load_bundle
from engine.errors import InputError
from engine.pipeline.offline import RenderOptions, render_video
from engine.video import Mp4Writer, probe


def _with_audio(video, out) -> None:  # noqa: ANN001
    """`video`'s frames plus a one-second 440 Hz tone."""
    src, dst = av.open(str(video)), av.open(str(out), "w")
    vs = dst.add_stream_from_template(src.streams.video[0])
    audio = dst.add_stream("aac", rate=22050)
    for packet in src.demux(src.streams.video[0]):
        if packet.dts is not None:
            packet.stream = vs
            dst.mux(packet)
    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(22050) / 22050)).astype(np.float32)
    for i in range(0, tone.size, 1024):
        frame = av.AudioFrame.from_ndarray(tone[None, i:i + 1024], format="fltp", layout="mono")
        frame.sample_rate = 22050
        for packet in audio.encode(frame):
            dst.mux(packet)
    for packet in audio.encode():
        dst.mux(packet)
    dst.close()
    src.close()


def test_side_by_side_keeps_rate_and_audio(tiny_bundles, performer_clip, tmp_path) -> None:
    source = tmp_path / "with_audio.mp4"
    _with_audio(performer_clip[0], source)
    out = tmp_path / "out.mp4"
    summary = render_video(source, load_bundle(tiny_bundles["fp32"]), out,
                           RenderOptions(layout="side-by-side"))
    info, src = probe(out), probe(source)
    assert (info.width, info.height) == (3 * 64, 64)
    assert info.fps == pytest.approx(src.fps) and summary["frames"] == src.frames
    with av.open(str(out)) as c:
        assert len(c.streams.audio) == 1 and c.streams.video[0].frames == src.frames
    assert summary["person_frames"] >= 0.9 * summary["frames"]


def test_a_video_without_a_person_writes_nothing(tiny_bundles, tmp_path) -> None:
    empty = tmp_path / "empty.mp4"
    with Mp4Writer(empty, 128, 128, 15) as w:
        for _ in range(10):
            w.write(np.full((128, 128, 3), 120, np.uint8))
    out = tmp_path / "out.mp4"
    with pytest.raises(InputError, match="no person found"):
        render_video(empty, load_bundle(tiny_bundles["fp32"]), out)
    assert list(tmp_path.iterdir()) == [empty]


def test_bad_options(tiny_bundles, performer_clip, tmp_path) -> None:
    bundle = load_bundle(tiny_bundles["fp32"])
    with pytest.raises(InputError, match="layout"):
        render_video(performer_clip[0], bundle, tmp_path / "x.mp4", RenderOptions(layout="grid"))
    with pytest.raises(InputError, match="odd"):
        render_video(performer_clip[0], bundle, tmp_path / "x.mp4", RenderOptions(smooth=4))
    assert not list(tmp_path.iterdir())


def test_a_fixed_prediction_moves_the_poses_ahead_and_auto_leaves_them() -> None:
    from engine.body import standing_pose_at
    from engine.framing import Framed
    from engine.keypoints import LM
    from engine.pipeline.offline import predicted_poses
    from engine.predict.setting import parse_predict

    framed = []
    for i in range(30):
        pose = standing_pose_at(128, 240, 180)
        pose[:, 0] += 3.0 * i  # walking right at 3 px a frame
        framed.append(Framed(pose, "full", held=False, restart=i == 0))
    ahead = predicted_poses(framed, 30.0, parse_predict("100"))
    nose = LM["nose"]
    # 100 ms at 30 fps is 3 frames: 9 px further along
    assert ahead[-1].pose[nose, 0] == pytest.approx(framed[-1].pose[nose, 0] + 9, abs=0.5)
    assert ahead[-1].mode == "full" and ahead is not framed
    for setting in ("auto", "off"):
        assert predicted_poses(framed, 30.0, parse_predict(setting)) is framed
    with pytest.raises(InputError):
        RenderOptions(predict="soon").validate()
