"""A GStreamer peer (webrtcbin, libnice, GStreamer's own DTLS): an independent WebRTC stack
to test WHIP and WHEP against. Runs under the system's Python with PyGObject
(`python3-gi`) and GStreamer 1.22+ (`gstreamer1.0-plugins-bad`, `-good`, `-ugly`,
`gstreamer1.0-nice`, `gstreamer1.0-libav`); it needs nothing of the project.

* `whip URL --file F`: sends the video file F as H.264 (decoded and re-encoded
  constrained-baseline, as OBS sends) to the WHIP endpoint URL; prints
  `{"whip": {"status", "resource", "stream"}}` once answered, then
  `{"sent": frames}` when it stops after `--seconds`, and DELETEs its resource.
* `whep URL`: plays the stream at the WHEP endpoint URL (offers VP8, decodes it); after
  `--seconds` prints `{"frames": n, "fps": x, "first_frame_s": t}`, DELETEs its
  resource and exits.

Both offer once their ICE candidates are gathered (no trickle) and print
`{"error": ...}` and exit 1 on failure.

    python3 benchmarks/gst_peer.py whip http://10.0.0.1:8080/whip --file clip.mp4
    python3 benchmarks/gst_peer.py whep http://10.0.0.1:8080/whep/STREAM --seconds 10
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

SENDONLY = GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY
RECVONLY = GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY


def say(**message: object) -> None:
    print(json.dumps(message), flush=True)


def http(method: str, url: str, body: bytes | None = None, token: str | None = None,
         content_type: str | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=body, method=method)
    if content_type:
        request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as res:
            return res.status, dict(res.headers), res.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


class Peer:
    """One webrtcbin in a pipeline, its offer POSTed once gathering completes."""

    def __init__(self, description: str, url: str, token: str | None) -> None:
        element = Gst.parse_launch(description)
        if isinstance(element, Gst.Pipeline):
            self.pipeline = element
        else:  # a lone element: a pipeline around it
            self.pipeline = Gst.Pipeline.new("peer")
            self.pipeline.add(element)
        self.webrtc = self.pipeline.get_by_name("webrtc")
        self.url = url
        self.token = token
        self.resource: str | None = None
        self.headers: dict = {}
        self.loop = GLib.MainLoop()
        self.failed: str | None = None
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self._on_error)
        self.webrtc.connect("on-negotiation-needed", self._on_negotiation_needed)
        self.webrtc.connect("notify::ice-gathering-state", self._on_gathering)
        self._offered = False

    def _on_error(self, _bus: object, message: Gst.Message) -> None:
        err, debug = message.parse_error()
        self.fail(f"{err.message} ({debug})")

    def fail(self, why: str) -> None:
        if self.failed is None:
            self.failed = why
        self.loop.quit()

    def _on_negotiation_needed(self, _element: object) -> None:
        promise = Gst.Promise.new_with_change_func(self._on_offer, None)
        self.webrtc.emit("create-offer", None, promise)

    def _on_offer(self, promise: Gst.Promise, _data: object) -> None:
        reply = promise.get_reply()
        offer = reply.get_value("offer")
        self.webrtc.emit("set-local-description", offer, Gst.Promise.new())

    def _on_gathering(self, _element: object, _spec: object) -> None:
        state = self.webrtc.get_property("ice-gathering-state")
        if state == GstWebRTC.WebRTCICEGatheringState.COMPLETE and not self._offered:
            self._offered = True
            GLib.idle_add(self._post_offer)

    def _post_offer(self) -> bool:
        sdp = self.webrtc.get_property("local-description").sdp.as_text()
        status, headers, body = http("POST", self.url, sdp.encode(), self.token,
                                     "application/sdp")
        if status != 201:
            self.fail(f"the offer got {status}: {body[:300].decode(errors='replace')}")
            return False
        self.headers = headers
        location = headers.get("Location", "")
        self.resource = urllib.parse.urljoin(self.url, location) if location else None
        ok, message = GstSdp.SDPMessage.new_from_text(body.decode())
        if ok != GstSdp.SDPResult.OK:
            self.fail("the answer is not SDP")
            return False
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER,
                                                        message)
        self.webrtc.emit("set-remote-description", answer, Gst.Promise.new())
        self.answered()
        return False

    def answered(self) -> None:
        """Hook: the answer was set."""

    def _stop(self) -> bool:
        self.loop.quit()
        return False

    def run(self, seconds: float) -> None:
        self.pipeline.set_state(Gst.State.PLAYING)
        GLib.timeout_add(int(seconds * 1000), self.loop.quit)
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, self._stop)
        self.loop.run()
        self.pipeline.set_state(Gst.State.NULL)
        if self.resource:
            http("DELETE", self.resource, token=self.token)


class WhipSender(Peer):
    def __init__(self, url: str, file: str, token: str | None) -> None:
        uri = Gst.filename_to_uri(file)
        super().__init__(
            f'webrtcbin name=webrtc bundle-policy=max-bundle uridecodebin uri="{uri}" ! '
            "videoconvert ! videoscale ! video/x-raw,width=640,height=480 ! videorate ! "
            "video/x-raw,framerate=30/1 ! identity name=counter ! x264enc tune=zerolatency "
            "speed-preset=ultrafast key-int-max=30 bitrate=1500 ! "
            "video/x-h264,profile=constrained-baseline ! h264parse ! "
            "rtph264pay config-interval=-1 pt=102 aggregate-mode=zero-latency ! "
            "application/x-rtp,media=video,encoding-name=H264,payload=102 ! webrtc.",
            url, token)
        self.sent = 0
        self.pipeline.get_by_name("counter").connect("handoff", self._count)
        self.pipeline.get_by_name("counter").set_property("signal-handoffs", True)
        self.pipeline.set_state(Gst.State.READY)
        for i in range(self.webrtc.emit("get-transceivers").len):
            self.webrtc.emit("get-transceiver", i).set_property("direction", SENDONLY)

    def _count(self, *_args: object) -> None:
        self.sent += 1

    def answered(self) -> None:
        say(whip={"resource": self.resource, "stream": self.headers.get("Dancenow-Stream")})


class WhepPlayer(Peer):
    def __init__(self, url: str, token: str | None) -> None:
        super().__init__("webrtcbin name=webrtc bundle-policy=max-bundle", url, token)
        caps = Gst.Caps.from_string("application/x-rtp,media=video,encoding-name=VP8,"
                                    "payload=96,clock-rate=90000")
        self.webrtc.emit("add-transceiver", RECVONLY, caps)
        self.webrtc.connect("pad-added", self._on_pad)
        self.times: list[float] = []  # when each frame was decoded
        self.start = time.monotonic()

    def _on_pad(self, _element: object, pad: Gst.Pad) -> None:
        if pad.direction != Gst.PadDirection.SRC:
            return
        sink = Gst.parse_bin_from_description(
            "queue ! rtpvp8depay ! vp8dec ! videoconvert ! fakesink name=frames sync=false "
            "signal-handoffs=true", True)
        self.pipeline.add(sink)
        sink.sync_state_with_parent()
        sink.get_by_name("frames").connect("handoff", self._count)
        pad.link(sink.get_static_pad("sink"))

    def _count(self, *_args: object) -> None:
        self.times.append(time.monotonic())

    def report(self) -> dict:
        """Frames, and frames per second from one second after the first frame on."""
        if not self.times:
            return {"frames": 0, "fps": 0.0, "first_frame_s": None}
        steady = [t for t in self.times if t >= self.times[0] + 1.0]
        fps = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 and \
            steady[-1] > steady[0] else 0.0
        return {"frames": len(self.times), "fps": round(fps, 2),
                "first_frame_s": round(self.times[0] - self.start, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", choices=("whip", "whep"))
    parser.add_argument("url")
    parser.add_argument("--file", help="the video to send (whip)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--token")
    args = parser.parse_args(argv)
    Gst.init(None)
    if args.role == "whip":
        if not args.file:
            parser.error("whip needs --file")
        peer: Peer = WhipSender(args.url, args.file, args.token)
    else:
        peer = WhepPlayer(args.url, args.token)
    peer.run(args.seconds)
    if peer.failed:
        say(error=peer.failed)
        return 1
    if isinstance(peer, WhipSender):
        say(sent=peer.sent)
    else:
        say(**peer.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
