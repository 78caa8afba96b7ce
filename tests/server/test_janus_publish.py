"""`--publish` to a media server nobody here wrote: Janus Gateway's VideoRoom behind a small
WHIP front end, with an aiortc subscriber pulling the stream from Janus
(`benchmarks.janus_whip`, inside a network namespace of its own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import janus_whip

ROOT = Path(__file__).resolve().parents[2]
WHY = janus_whip.unavailable()


@pytest.mark.skipif(WHY is not None, reason=f"Janus interop: {WHY}")
def test_a_published_stream_reaches_a_janus_videoroom_subscriber(pose_models,
                                                                 tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.janus_whip", "--seconds", "6", "--out",
         str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=400,
        env={**os.environ, "DANCENOW_POSE_MODELS": str(pose_models)})
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    result = json.loads(next(x for x in done.stdout.splitlines() if x.startswith("{")))
    assert "error" not in result, result
    subscriber = result["subscriber"]
    assert "error" not in subscriber and subscriber["frames"] >= 30, result
    assert subscriber["fps"] > 5, result  # a stream, not a few stray frames
    published = result["published"][0]
    assert published["state"] == "publishing" and published["frames_sent"] > 0, result
    assert result["frames_sent"] > 0, result
    # the publisher's POST made one Janus publisher; its DELETE at the end removed it
    assert result["whip"] == {"posts": 1, "deletes": 1, "left_open": 0, "errors": []}, result
    assert result["rooms_left"] == [], result  # the stream's room went with it
    assert "| publisher frames sent |" in (tmp_path / "janus.md").read_text()
