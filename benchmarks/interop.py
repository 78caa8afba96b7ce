"""GStreamer WHIP client -> `dancenow serve` -> GStreamer WHEP player, inside a network
namespace of its own.

libnice (GStreamer's ICE) never gathers loopback candidates and aioice (aiortc's) never
gathers 127.0.0.1, so the peers meet on a veth pair inside a namespace this command makes
(`unshare -n`, root only; nothing in it is routed anywhere): 10.77.0.1 and 10.77.0.2.
There the synthetic performer, as an H.264 file re-encoded constrained-baseline by
`benchmarks/gst_peer.py` (as OBS sends), goes to `/whip`; a GStreamer player receives the
avatar from `/whep/<stream>` for `--seconds` and counts the frames it decodes.

Prints one JSON object: the WHIP answer, the frames the sender sent, the player's frames,
frames per second and time to its first frame, and any error. Results with `--out`:
`interop.json` and `.md`.

    python -m benchmarks.interop [--seconds 10] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger("benchmarks.interop")
ROOT = Path(__file__).resolve().parents[1]
GST_PYTHON = "/usr/bin/python3"  # the system's Python, with PyGObject
NETNS_SETUP = ("ip link set lo up && ip link add dn0 type veth peer name dn1 && "
               "ip addr add 10.77.0.1/24 dev dn0 && ip addr add 10.77.0.2/24 dev dn1 && "
               "ip link set dn0 up && ip link set dn1 up")
HOST = "10.77.0.1"


def unavailable() -> str | None:
    """Why the interop run cannot happen here (None when it can)."""
    if os.geteuid() != 0:
        return "needs root for a network namespace (unshare -n)"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"needs {tool} (util-linux, iproute2)"
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        return "cannot make a network namespace here (unshare -n failed)"
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


def inside(seconds: float, env: dict[str, str]) -> dict:
    """The run itself, in the namespace."""
    from benchmarks.reliability import serving
    from synth.clip import ClipSpec, synth_clip

    result: dict = {"seconds": seconds}
    with tempfile.TemporaryDirectory(prefix="dancenow-interop-") as tmp:
        clip = Path(tmp) / "performer.mp4"
        synth_clip(ClipSpec(actor="performer", motion="dance", seconds=seconds + 25,
                            size=480, fps=30, seed=3), clip, progress=False)
        with serving(["--max-sessions", "1"], env=env, host=HOST) as server:
            sender = subprocess.Popen(
                [GST_PYTHON, str(ROOT / "benchmarks" / "gst_peer.py"), "whip",
                 f"{server.url}whip", "--file", str(clip), "--seconds", str(seconds + 20)],
                stdout=subprocess.PIPE, text=True)
            try:
                answered = _lines(sender, 60)
                if "error" in answered:
                    return {**result, **answered}
                result["whip"] = answered["whip"]
                time.sleep(3.0)  # the session's pipeline warms up
                player = subprocess.run(
                    [GST_PYTHON, str(ROOT / "benchmarks" / "gst_peer.py"), "whep",
                     f"{server.url}whep/{answered['whip']['stream']}",
                     "--seconds", str(seconds)],
                    capture_output=True, text=True, timeout=seconds + 60)
                lines = [json.loads(x) for x in player.stdout.splitlines() if x.strip()]
                result["whep"] = lines[-1] if lines else {"error": player.stderr[-500:]}
            finally:
                sender.terminate()
                try:
                    out, _ = sender.communicate(timeout=20)
                except subprocess.TimeoutExpired:
                    sender.kill()
                    out, _ = sender.communicate()
            sent = [json.loads(x) for x in out.splitlines() if x.strip()]
            result["sent"] = next((x.get("sent") for x in sent if "sent" in x), None)
    return result


def markdown(report: dict) -> str:
    r = report["result"]
    whep = r.get("whep") or {}
    return "\n".join([
        "# Interop: GStreamer WHIP client -> dancenow -> GStreamer WHEP player", "",
        f"`{report['command']}`", "",
        "GStreamer webrtcbin (libnice, its own DTLS) on both ends, in a network namespace "
        "(veth pair); the sender re-encodes the synthetic performer as H.264 "
        "constrained-baseline at 640x480, 30 fps; the server sends VP8.", "",
        "| player frames | player fps | first frame after | error |", "|---|---|---|---|",
        f"| {whep.get('frames')} | {whep.get('fps')} | {whep.get('first_frame_s')} s | "
        f"{whep.get('error') or r.get('error') or '-'} |", ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", help="write interop.json and .md here")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    if args.inside:
        print(json.dumps(inside(args.seconds, {})), flush=True)
        return 0
    why = unavailable()
    if why:
        print(json.dumps({"error": why}))
        return 2
    command = f"{NETNS_SETUP} && exec {sys.executable} -m benchmarks.interop --inside " \
              f"--seconds {args.seconds}"
    done = subprocess.run(["unshare", "-n", "bash", "-c", command], cwd=ROOT,
                          capture_output=True, text=True, timeout=args.seconds + 300)
    lines = [x for x in done.stdout.splitlines() if x.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"error": done.stderr[-2000:]}
    print(json.dumps(result))
    if args.out:
        from benchmarks.report import command_line, write_results

        report = {"command": command_line("benchmarks.interop", argv), "result": result}
        write_results(args.out, "interop", report, markdown(report))
    whep = result.get("whep") or {}
    return 0 if whep.get("frames") and not whep.get("error") else 1


if __name__ == "__main__":
    sys.exit(main())
