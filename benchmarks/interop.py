"""A WHIP client nobody here wrote -> `dancenow serve` -> GStreamer WHEP player, inside a
network namespace of its own. The client is GStreamer's webrtcbin (`--sender gstreamer`,
the default) or FFmpeg's WHIP muxer (`--sender ffmpeg`, `benchmarks/ffmpeg_peer.py`).

libnice (GStreamer's ICE) never gathers loopback candidates and aioice (aiortc's) never
gathers 127.0.0.1, so the peers meet on a veth pair inside a namespace this command makes
(`unshare -n`, root only; nothing in it is routed anywhere): 10.77.0.1 and 10.77.0.2.
There the synthetic performer, as an H.264 file re-encoded constrained-baseline (as OBS
sends), goes to `/whip`; a GStreamer player receives the avatar from `/whep/<stream>` for
`--seconds` and counts the frames it decodes. FFmpeg's muxer does not show the answer's
headers, so its stream is found in the server's `/stats` (the run's server has a token).

Prints one JSON object: the stream, the frames the sender sent, the player's frames,
frames per second and time to its first frame, and any error. Results with `--out`:
`interop.json` and `.md` (`interop-ffmpeg.*` for FFmpeg).

    python -m benchmarks.interop [--sender gstreamer|ffmpeg] [--seconds 10] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import netns

log = logging.getLogger("benchmarks.interop")
ROOT = Path(__file__).resolve().parents[1]
GST_PYTHON = "/usr/bin/python3"  # the system's Python, with PyGObject
NETNS_SETUP = netns.veth_setup(("dn0", "dn1"), ("10.77.0.1", "10.77.0.2"))
HOST = "10.77.0.1"
TOKEN = "interop-token"  # the run's server token (the namespace reaches nothing else)
SENDER_NAMES = {"gstreamer": "GStreamer", "ffmpeg": "FFmpeg"}
SENDER_NOTES = {
    "gstreamer": "The sender is GStreamer webrtcbin (libnice, its own DTLS), re-encoding "
                 "the synthetic performer as H.264 constrained-baseline at 640x480, 30 fps.",
    "ffmpeg": "The sender is FFmpeg 8's WHIP muxer (PyAV's build, GnuTLS DTLS) with an "
              "ECDSA P-256 certificate (`benchmarks/ffmpeg_peer.py`), re-encoding the "
              "synthetic performer as H.264 constrained-baseline at its own 480x480, 30 fps.",
}
SENDERS = tuple(SENDER_NAMES)


def unavailable() -> str | None:
    """Why the interop run cannot happen here (None when it can)."""
    why = netns.unavailable()
    if why:
        return why
    probe = subprocess.run(
        [GST_PYTHON, "-c", "import gi; gi.require_version('GstWebRTC', '1.0'); "
         "from gi.repository import Gst, GstWebRTC; Gst.init(None); "
         "assert Gst.ElementFactory.find('webrtcbin') and "
         "Gst.ElementFactory.find('x264enc') and Gst.ElementFactory.find('vp8dec') and "
         "Gst.ElementFactory.find('nicesrc')"],
        capture_output=True, text=True, timeout=60) if Path(GST_PYTHON).exists() else None
    if probe is None or probe.returncode != 0:
        return ("needs GStreamer 1.22+ with PyGObject (apt install python3-gi "
                "gir1.2-gst-plugins-bad-1.0 gstreamer1.0-plugins-bad gstreamer1.0-plugins-good "
                "gstreamer1.0-plugins-ugly gstreamer1.0-nice gstreamer1.0-libav)")
    return None


def _lines(proc: subprocess.Popen, timeout: float) -> dict:
    """The next JSON line of `proc` within `timeout` seconds."""
    import select

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if not line:
                break
            return json.loads(line)
    raise TimeoutError(f"no answer from {proc.args[:3]} within {timeout:.0f} s")


def _sender(kind: str, url: str, clip: Path, seconds: float) -> subprocess.Popen:
    if kind == "gstreamer":
        command = [GST_PYTHON, str(ROOT / "benchmarks" / "gst_peer.py"), "whip", url]
    else:
        command = [sys.executable, "-m", "benchmarks.ffmpeg_peer", url]
    return subprocess.Popen([*command, "--file", str(clip), "--seconds", str(seconds),
                             "--token", TOKEN], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def _sessions(url: str) -> list[dict]:
    """The server's sessions from `/stats` (none when it does not answer in time)."""
    import urllib.request

    request = urllib.request.Request(f"{url}stats",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as res:
            return json.loads(res.read())["sessions"]
    except (OSError, ValueError) as exc:  # a busy server answers on the next poll
        log.info("/stats: %s", exc)
        return []


def _stream_of_the_session(url: str, sender: subprocess.Popen, timeout: float) -> str | None:
    """The stream of the server's one session once its video arrives (from `/stats`);
    None when the sender has given up or `timeout` seconds passed."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and sender.poll() is None:
        live = [s for s in _sessions(url) if s.get("frames_in")]
        if live:
            return live[0]["stream"]
        time.sleep(0.5)
    return None


SERVER_FIELDS = ("fps_in", "fps_out", "frames_in", "frames_out", "dropped", "decoder_shed",
                 "stale_skipped", "stream_encode_ms", "frames_sent")


def _server_view(url: str, stream: str) -> dict | None:
    """Where the session's frames went, from the server's side: its input and output rates
    over the last seconds, the frames it dropped (pipeline slots, the decoder's backlog,
    stale frames) and each stage's p50 ms."""
    session = next((s for s in _sessions(url) if s.get("stream") == stream), None)
    if session is None:
        return None
    view = {k: session.get(k) for k in SERVER_FIELDS}
    view["stages_p50_ms"] = {name: round(v["p50_ms"], 1) for name, v in
                             (session.get("stages") or {}).items() if v}
    return view


def inside(seconds: float, env: dict[str, str], sender_kind: str = "gstreamer") -> dict:
    """The run itself, in the namespace."""
    from benchmarks.reliability import serving
    from synth.clip import ClipSpec, synth_clip

    result: dict = {"seconds": seconds, "sender": sender_kind}
    with tempfile.TemporaryDirectory(prefix="dancenow-interop-") as tmp:
        clip = Path(tmp) / "performer.mp4"
        synth_clip(ClipSpec(actor="performer", motion="dance", seconds=seconds + 25,
                            size=480, fps=30, seed=3), clip, progress=False)
        with serving(["--max-sessions", "1", "--token", TOKEN], env=env,
                     host=HOST) as server:
            sender = _sender(sender_kind, f"{server.url}whip", clip, seconds + 20)
            try:
                if sender_kind == "gstreamer":
                    answered = _lines(sender, 60)
                    if "error" in answered:
                        return {**result, **answered}
                    result["whip"] = answered["whip"]
                    stream = answered["whip"]["stream"]
                else:
                    stream = _stream_of_the_session(server.url, sender, 60)
                if stream is not None:
                    result["stream"] = stream
                    time.sleep(3.0)  # the session's pipeline warms up
                    player = subprocess.run(
                        [GST_PYTHON, str(ROOT / "benchmarks" / "gst_peer.py"), "whep",
                         f"{server.url}whep/{stream}", "--seconds", str(seconds),
                         "--token", TOKEN],
                        capture_output=True, text=True, timeout=seconds + 60)
                    lines = [json.loads(x) for x in player.stdout.splitlines() if x.strip()]
                    result["whep"] = lines[-1] if lines else {"error": player.stderr[-500:]}
                    result["server"] = _server_view(server.url, stream)
            finally:
                sender.terminate()
                try:
                    out, _ = sender.communicate(timeout=20)
                except subprocess.TimeoutExpired:
                    sender.kill()
                    out, _ = sender.communicate()
            said = [json.loads(x) for x in out.splitlines() if x.strip().startswith("{")]
            result["sent"] = next((x["sent"] for x in said if "sent" in x), None)
            if "stream" not in result:
                result["error"] = next((x["error"] for x in said if "error" in x),
                                       "no video arrived within 60 s")
    return result


def markdown(report: dict) -> str:
    r = report["result"]
    whep = r.get("whep") or {}
    return "\n".join([
        f"# Interop: {SENDER_NAMES[r.get('sender', 'gstreamer')]} WHIP client -> dancenow "
        "-> GStreamer WHEP player", "",
        f"`{report['command']}`", "",
        f"{SENDER_NOTES[r.get('sender', 'gstreamer')]} The player is GStreamer webrtcbin "
        "(libnice, its own DTLS); both peers are in a network namespace (veth pair); the "
        "server sends VP8.", "",
        "| player frames | player fps | first frame after | error |", "|---|---|---|---|",
        f"| {whep.get('frames')} | {whep.get('fps')} | {whep.get('first_frame_s')} s | "
        f"{whep.get('error') or r.get('error') or '-'} |", "",
        *_server_table(r.get("server"))])


def _server_table(view: dict | None) -> list[str]:
    if not view:
        return []
    stages = ", ".join(f"{k} {v}" for k, v in view["stages_p50_ms"].items())
    return ["The server's side at the player's end (rates over its last seconds):", "",
            "| fps in | fps out | frames in / out | dropped in the pipeline | shed by the "
            "decoder | stale skipped | encode ms a frame | stage p50 ms |",
            "|---|---|---|---|---|---|---|---|",
            f"| {view['fps_in']} | {view['fps_out']} | {view['frames_in']} / "
            f"{view['frames_out']} | {view['dropped']} | {view['decoder_shed']} | "
            f"{view['stale_skipped']} | {view['stream_encode_ms']} | {stages} |", ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sender", choices=SENDERS, default="gstreamer",
                        help="the WHIP client: GStreamer's webrtcbin or FFmpeg's WHIP muxer")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", help="write interop.json and .md here (interop-ffmpeg.* "
                                      "for --sender ffmpeg)")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    if args.inside:
        print(json.dumps(inside(args.seconds, {}, args.sender)), flush=True)
        return 0
    why = unavailable()
    if why:
        print(json.dumps({"error": why}))
        return 2
    result = netns.run_inside(NETNS_SETUP, "benchmarks.interop",
                              ["--seconds", str(args.seconds), "--sender", args.sender],
                              timeout=args.seconds + 300)
    print(json.dumps(result))
    if args.out:
        from benchmarks.report import command_line, write_results

        report = {"command": command_line("benchmarks.interop", argv), "result": result}
        name = "interop" if args.sender == "gstreamer" else f"interop-{args.sender}"
        write_results(args.out, name, report, markdown(report))
    whep = result.get("whep") or {}
    return 0 if whep.get("frames") and not whep.get("error") else 1


if __name__ == "__main__":
    sys.exit(main())
