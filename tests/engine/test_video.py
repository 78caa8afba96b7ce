"""Video decoding and the MP4 / Y4M writers."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InputError
from engine.video import Mp4Writer, Y4mWriter, open_writer, probe, read_frames, rgb_to_i420


def _frames(n: int, h: int = 64, w: int = 96) -> list[np.ndarray]:
    out = []
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[:, : w // 2] = (200, (30 + 10 * i) % 256, 40)
        f[:, w // 2 :] = (20, 90, 210)
        out.append(f)
    return out


def test_mp4_roundtrip(tmp_path) -> None:
    frames = _frames(12)
    with Mp4Writer(tmp_path / "x.mp4", 96, 64, 25) as w:
        for f in frames:
            w.write(f)
    info = probe(tmp_path / "x.mp4")
    assert (info.width, info.height) == (96, 64) and info.fps == pytest.approx(25)
    back = list(read_frames(tmp_path / "x.mp4"))
    assert len(back) == 12
    for a, b in zip(frames, back, strict=True):
        assert np.abs(a[8:-8, 8:40].astype(int) - b[8:-8, 8:40]).mean() < 6


def test_y4m_header_and_planes(tmp_path) -> None:
    frames = _frames(3)
    with Y4mWriter(tmp_path / "x.y4m", 96, 64, 30) as w:
        for f in frames:
            w.write(f)
    data = (tmp_path / "x.y4m").read_bytes()
    header = data.split(b"\n", 1)[0].decode()
    assert header.startswith("YUV4MPEG2 ") and " C420" in header and "C420mpeg2" not in header
    assert "W96" in header and "H64" in header and "F30:1" in header
    frame_bytes = 96 * 64 * 3 // 2
    assert len(data) == len(header) + 1 + 3 * (len(b"FRAME\n") + frame_bytes)
    # The decoder reads our Y4M back to the same colours.
    back = list(read_frames(tmp_path / "x.y4m"))
    assert len(back) == 3
    assert np.abs(back[0][10:50, 8:40].astype(int) - frames[0][10:50, 8:40]).mean() < 8


def test_i420_of_grey_is_neutral() -> None:
    y, u, v = rgb_to_i420(np.full((4, 4, 3), 128, np.uint8))
    assert y.shape == (4, 4) and u.shape == (2, 2)
    assert abs(int(u[0, 0]) - 128) <= 1 and abs(int(v[0, 0]) - 128) <= 1


def test_failed_write_leaves_nothing(tmp_path) -> None:
    with pytest.raises(RuntimeError), Mp4Writer(tmp_path / "x.mp4", 96, 64, 25) as w:
        w.write(_frames(1)[0])
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_wrong_frame_size_is_rejected(tmp_path) -> None:
    with Y4mWriter(tmp_path / "x.y4m", 96, 64, 30) as w, pytest.raises(ValueError):
        w.write(np.zeros((10, 10, 3), np.uint8))


def test_bad_inputs(tmp_path) -> None:
    with pytest.raises(InputError, match="not found"):
        list(read_frames(tmp_path / "none.mp4"))
    (tmp_path / "junk.mp4").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(InputError, match="cannot open"):
        list(read_frames(tmp_path / "junk.mp4"))
    with pytest.raises(InputError, match="unsupported"):
        open_writer(tmp_path / "x.avi", 64, 64, 30)
    with pytest.raises(InputError, match="even"):
        Mp4Writer(tmp_path / "x.mp4", 63, 64, 30)


def test_truncated_file_is_an_error_or_keeps_what_decodes(tmp_path) -> None:
    with Mp4Writer(tmp_path / "x.mp4", 96, 64, 25) as w:
        for f in _frames(30):
            w.write(f)
    data = (tmp_path / "x.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    try:
        frames = list(read_frames(tmp_path / "cut.mp4"))
    except InputError:
        return  # unreadable: reported clearly
    assert 0 < len(frames) <= 30
