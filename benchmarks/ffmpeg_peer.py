"""FFmpeg's WHIP muxer (the one in PyAV's FFmpeg 8) as a WHIP client: a video file
re-encoded as H.264 constrained-baseline, sent at 30 frames a second (its frames one
after another, whatever the file's own rate) to a WHIP endpoint.

The DTLS certificate is the pitfall. FFmpeg makes its own when it is given none, and the
GnuTLS build (PyAV's wheels, many Linux builds) makes it on the P-224 curve, which
OpenSSL 4 (aiortc's DTLS client; FFmpeg's muxer is always the DTLS server) no longer
accepts: the handshake ends with an `illegal_parameter` alert after the server's key
exchange. The muxer takes a certificate of its own (`cert_file`, `key_file`), so by
default this client makes an ECDSA P-256 one, the curve every WebRTC stack takes
(RFC 8827); `--certificate ffmpeg` leaves FFmpeg to make its own, to show the failure.

Prints JSON lines: `{"sent": frames, "seconds": s}` at the end, or `{"error": ...}`.

    python -m benchmarks.ffmpeg_peer URL --file clip.mp4 [--seconds 10] [--token T]
"""

from __future__ import annotations

import argparse
import datetime
import fractions
import json
import logging
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import av
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

FPS = 30
TIME_BASE = fractions.Fraction(1, FPS)  # the frames' own (the source's is not theirs)
STOP = threading.Event()  # set by SIGTERM: stop sending, DELETE the resource, report


def write_p256_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed ECDSA P-256 certificate and its key as PEM files in `folder`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dancenow-ffmpeg-peer")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def send(url: str, clip: Path, seconds: float, options: dict[str, str]) -> int:
    """Send `clip`'s frames (looped) at `FPS` for `seconds`, or until SIGTERM; returns the
    frames sent."""
    out = av.open(url, "w", format="whip", options=options)
    try:
        stream = out.add_stream("libx264", rate=FPS)
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "bframes": "0"}
        stream.codec_context.profile = "Baseline"
        stream.codec_context.gop_size = FPS  # a keyframe a second, as OBS is set to send
        sent, start = 0, time.monotonic()
        while time.monotonic() - start < seconds and not STOP.is_set():
            with av.open(str(clip)) as source:
                for frame in source.decode(video=0):
                    if sent == 0:
                        stream.width, stream.height = frame.width, frame.height
                    frame = frame.reformat(format="yuv420p")
                    frame.pts, frame.time_base = sent, TIME_BASE
                    # the source's own frame types (I/P/B) are not this encoder's to follow
                    frame.pict_type = av.video.frame.PictureType.NONE
                    for packet in stream.encode(frame):
                        out.mux(packet)
                    if sent == 0:  # the first write connected (ICE, DTLS): the clock starts
                        start = time.monotonic()
                    sent += 1
                    delay = start + sent / FPS - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    if time.monotonic() - start >= seconds or STOP.is_set():
                        break
        if sent:  # the encoder opened: what it still holds
            for packet in stream.encode(None):
                out.mux(packet)
    finally:
        out.close()  # DELETEs the WHIP resource
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the WHIP endpoint, e.g. http://HOST:PORT/whip")
    parser.add_argument("--file", required=True, type=Path, help="the video to send")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--token", help="bearer token of the endpoint")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="FFmpeg's own log from VERBOSE up (else warnings and errors)")
    parser.add_argument("--certificate", choices=("p256", "ffmpeg"), default="p256",
                        help="the DTLS certificate: a P-256 one made here (default) or "
                             "the one FFmpeg makes itself")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: STOP.set())
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        stream=sys.stderr,
                        format="%(name)s: %(message)s")
    level = av.logging.VERBOSE if args.verbose else av.logging.WARNING
    av.logging.set_level(level)
    av.logging.set_libav_level(level)
    if "whip" not in av.formats_available:
        print(json.dumps({"error": "this PyAV's FFmpeg has no WHIP muxer (FFmpeg 8 or later "
                                   "has one)"}), flush=True)
        return 1
    options = {"handshake_timeout": "10000", "pkt_size": "1200"}
    if args.token:
        options["authorization"] = args.token
    with tempfile.TemporaryDirectory(prefix="dancenow-ffmpeg-peer-") as tmp:
        if args.certificate == "p256":
            cert, key = write_p256_certificate(Path(tmp))
            options |= {"cert_file": str(cert), "key_file": str(key)}
        start = time.monotonic()
        try:
            sent = send(args.url, args.file, args.seconds, options)
        except (OSError, ValueError, av.FFmpegError) as exc:
            print(json.dumps({"error": str(exc).strip()}), flush=True)
            return 1
    print(json.dumps({"sent": sent, "seconds": round(time.monotonic() - start, 2)}),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
