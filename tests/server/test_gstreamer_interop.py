"""Independent WebRTC stacks on both ends: GStreamer's webrtcbin (libnice, its own DTLS),
or FFmpeg's WHIP muxer, sends H.264 over WHIP, and GStreamer plays the avatar over WHEP
(`benchmarks.interop`, inside a network namespace of its own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import pytest

from benchmarks import interop

ROOT = Path(__file__).resolve().parents[2]
WHY = interop.unavailable()


@pytest.mark.skipif(WHY is not None, reason=f"GStreamer interop: {WHY}")
def test_gstreamer_whip_client_to_gstreamer_whep_player(pose_models, tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.interop", "--seconds", "6", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=400,
        env={**os.environ, "DANCENOW_POSE_MODELS": str(pose_models)})
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    result = json.loads(next(x for x in done.stdout.splitlines() if x.startswith("{")))
    assert result["whip"]["stream"] and "/whip/resource/" in result["whip"]["resource"]
    whep = result["whep"]
    assert "error" not in whep and whep["frames"] >= 30, result
    assert whep["fps"] > 5, result  # a stream, not a few stray frames
    assert result["sent"] and result["sent"] > whep["frames"] / 2
    # the server's own view: it put out at least what the player decoded
    assert result["server"] is not None, result  # /stats answered at the player's end
    assert result["server"]["frames_out"] >= whep["frames"], result
    text = (tmp_path / "interop.md").read_text()
    assert "| player frames |" in text and "| fps in | fps out |" in text


@pytest.mark.skipif(WHY is not None, reason=f"GStreamer interop: {WHY}")
@pytest.mark.skipif("whip" not in av.formats_available,
                    reason="this PyAV's FFmpeg has no WHIP muxer")
def test_ffmpeg_whip_muxer_to_gstreamer_whep_player(pose_models, tmp_path) -> None:
    """FFmpeg's WHIP muxer (PyAV's FFmpeg 8) with a P-256 certificate reaches the server,
    and the avatar of its stream plays at a GStreamer WHEP player."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.interop", "--sender", "ffmpeg", "--seconds", "6",
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=400,
        env={**os.environ, "DANCENOW_POSE_MODELS": str(pose_models)})
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    result = json.loads(next(x for x in done.stdout.splitlines() if x.startswith("{")))
    assert result["sender"] == "ffmpeg" and result["stream"], result
    whep = result["whep"]
    assert "error" not in whep and whep["frames"] >= 30 and whep["fps"] > 5, result
    assert result["sent"] and result["sent"] > whep["frames"] / 2, result
    assert "FFmpeg WHIP client" in (tmp_path / "interop-ffmpeg.md").read_text()
