"""`dancenow synth` camera options (dancenow/commands/synth.py): sizes, framings, placement,
a second actor, and one-line errors for bad values."""

from __future__ import annotations

import numpy as np
import pytest

from dancenow.cli import main
from engine.keypoints import LM, KeypointTrack


def test_camera_options_write_both_ground_truths(tmp_path) -> None:
    out = tmp_path / "desk.mp4"
    assert main(["-q", "synth", "--size", "320x180", "--framing", "desk", "--place-x", "0.4",
                 "--second-actor", "target", "--second-motion", "sidestep", "--seconds", "0.4",
                 "--fps", "5", "-o", str(out)]) == 0
    main_track = KeypointTrack.load(tmp_path / "desk.kp.npz")
    second = KeypointTrack.load(tmp_path / "desk.second.kp.npz")
    assert main_track.size == second.size == (320, 180) and len(main_track) == len(second) == 2
    knees = [LM["left_knee"], LM["right_knee"]]
    assert (main_track.keypoints[:, knees, 2] == 0).all()
    hips = main_track.keypoints[:, [LM["left_hip"], LM["right_hip"]], 0].mean(axis=1)
    assert np.abs(hips - 0.4 * 320).max() < 0.1 * 320  # the dance steps sideways
    assert not np.allclose(second.keypoints[..., 0], main_track.keypoints[..., 0], atol=20)


@pytest.mark.parametrize("args,size", [
    (["--width", "320", "--framing", "zoom"], (320, 180)),
    (["--height", "240", "--width", "180"], (180, 240)),
    (["--size", "96"], (96, 96)),
])
def test_frame_size_options(tmp_path, args, size) -> None:
    out = tmp_path / "clip.y4m"
    assert main(["-q", "synth", *args, "--seconds", "0.2", "--fps", "5", "-o", str(out)]) == 0
    assert KeypointTrack.load(tmp_path / "clip.kp.npz").size == size
    assert out.read_bytes().startswith(f"YUV4MPEG2 W{size[0]} H{size[1]} ".encode())


@pytest.mark.parametrize("args,needle", [
    (["--size", "641x360"], "even"),
    (["--size", "640x361"], "even"),
    (["--size", "big"], "--size must be N or WxH"),
    (["--size", "640x360", "--width", "640"], "either as --size or as --width"),
    (["--framing", "wide"], "unknown framing"),
    (["--place-x", "1.5"], "--place-x"),
    (["--second-actor", "performer"], "another actor"),
    (["--second-actor", "nobody"], "unknown actor"),
    (["--second-actor", "target", "--second-place-x", "-0.2"], "--second-place-x"),
    (["--second-motion", "wave"], "need --second-actor"),
    (["--keypoints", "x.kp.npz", "--framing", "desk"], "--framing cannot be used"),
])
def test_bad_values_exit_2_with_one_line(tmp_path, capsys, args, needle) -> None:
    assert main(["-q", "synth", *args, "-o", str(tmp_path / "x.mp4")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dancenow synth: error:")
    assert needle in lines[0]
    assert not (tmp_path / "x.mp4").exists()


def test_help_explains_the_camera_options(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["synth", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for needle in ("--size N|WxH", "1280x720", "--framing", "desk: a laptop webcam",
                   "zoom:", "1.5 s zooming in", "--place-x", "--second-actor",
                   ".second.kp.npz", "visibility 0"):
        assert needle in text, needle
