"""Checks of what clients send, before the server acts on it.

Every check raises `InputError` with a reason the client can read; nothing here touches
a session or a peer connection. The JSON checks bound nesting and numbers, the SDP check
makes sure an offer is one a peer connection can answer (a video section with a codec the
server decodes, ICE credentials, a DTLS fingerprint, RTCP mux, bounded size) so that no
peer or pipeline is made for an offer that would fail.
"""

from __future__ import annotations

import json
import math
from typing import Any

from engine.errors import InputError

MAX_JSON_DEPTH = 16  # the routes' bodies are two levels deep
MAX_SDP = 64 * 1024  # characters of an offer's SDP (a browser's is 3-10 kB)
MAX_MEDIA = 8  # media sections in an offer (the page sends 2)
MAX_SAMPLES = 1000  # glass-to-glass samples in one POST /stats
MAX_SAMPLE_MS = 1e9
DECODABLE_VIDEO = ("video/vp8", "video/h264")
MAX_STATIC_NAME = 1024  # characters of a /static/ path
MAX_NAME_PART = 255  # characters of one of its components


def _refuse_constant(name: str) -> Any:  # noqa: ANN401 - json's parse_constant hook
    raise InputError(f"the body holds {name}, which is not a JSON number")


def _depth(value: object, limit: int) -> int:
    """Nesting depth of a decoded JSON value, iteratively; stops just past `limit`."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def parse_json_object(text: str) -> dict:
    """The body as a JSON object nested at most `MAX_JSON_DEPTH` levels; InputError if not."""
    try:
        body = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise InputError(f"the body is nested too deeply (at most {MAX_JSON_DEPTH} levels)"
                         ) from exc
    except ValueError as exc:  # JSONDecodeError, and ints past Python's digit limit
        raise InputError(f"the body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InputError("the body must be a JSON object")
    if _depth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise InputError(f"the body is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
    return body


def optional_string(body: dict, key: str) -> str | None:
    """`body[key]` when it is a string, None when absent or null; InputError otherwise."""
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise InputError(f"{key!r} must be a string")
    return value


def latency_samples(value: object) -> list[float]:
    """Glass-to-glass samples: a bounded list of finite numbers (not booleans), in ms."""
    if not isinstance(value, list):
        raise InputError("glass_to_glass_ms must be a list of numbers")
    if len(value) > MAX_SAMPLES:
        raise InputError(f"glass_to_glass_ms holds more than {MAX_SAMPLES} samples")
    samples = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise InputError("glass_to_glass_ms must be a list of numbers")
        if isinstance(item, int) and abs(item) > MAX_SAMPLE_MS:
            raise InputError(f"a glass_to_glass_ms sample is out of range ({MAX_SAMPLE_MS:g})")
        number = float(item)
        if not math.isfinite(number) or abs(number) > MAX_SAMPLE_MS:
            raise InputError(f"a glass_to_glass_ms sample is out of range ({MAX_SAMPLE_MS:g})")
        samples.append(number)
    return samples


def static_name(name: str) -> bool:
    """Whether a /static/ file name is one the file system can be asked about."""
    if not name or len(name) > MAX_STATIC_NAME or "\x00" in name:
        return False
    return all(len(part) <= MAX_NAME_PART for part in name.split("/"))


VIDEO_DIRECTIONS = {"send": ("sendrecv", "sendonly"),  # the client sends its camera
                    "receive": ("sendrecv", "recvonly")}  # the client plays the avatar


def check_offer_sdp(sdp: str, video: str = "send") -> None:
    """Refuse an offer's SDP that a peer connection could not answer (InputError).

    `video` is what the offer's video must do: "send" (a camera; WHIP and the page) or
    "receive" (a player; WHEP)."""
    from aiortc.codecs import CODECS
    from aiortc.rtcpeerconnection import find_common_codecs
    from aiortc.sdp import SessionDescription

    if len(sdp) > MAX_SDP:
        raise InputError(f"the offer's SDP is over {MAX_SDP} characters")
    sections = sum(1 for line in sdp.splitlines() if line.startswith("m="))
    if sections > MAX_MEDIA:
        raise InputError(f"the offer has {sections} media sections (at most {MAX_MEDIA})")
    try:  # aiortc's parser asserts on malformed lines rather than raising ValueError
        parsed = SessionDescription.parse(sdp)
    except (AssertionError, ValueError, KeyError, IndexError, TypeError, AttributeError,
            StopIteration) as exc:
        raise InputError(f"malformed offer SDP ({type(exc).__name__}: {exc})") from exc
    if not any(m.kind == "video" for m in parsed.media):
        raise InputError("the offer has no video: send the camera's track" if video == "send"
                         else "the offer has no video to receive the avatar on")
    if not any(m.kind == "video" and m.direction in VIDEO_DIRECTIONS[video]
               for m in parsed.media):
        raise InputError("the offer's video is not sent (a=sendonly or a=sendrecv)"
                         if video == "send" else
                         "the offer's video does not receive (a=recvonly or a=sendrecv)")
    mids = [m.rtp.muxId for m in parsed.media]
    if not all(mids) or len(set(mids)) != len(mids):
        raise InputError("every media section of the offer needs its own a=mid")
    for group in parsed.group:
        if not set(group.items) <= set(mids):
            raise InputError(f"the offer's a=group:{group.semantic} names unknown a=mid")
    decodable = False
    for media in parsed.media:
        label = f"the offer's {media.kind} section"
        if media.kind not in ("audio", "video", "application"):
            raise InputError(f"{label}: unknown media kind")
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise InputError(f"{label} lacks a=ice-ufrag or a=ice-pwd")
        if media.dtls is None or not media.dtls.fingerprints:
            raise InputError(f"{label} lacks a=fingerprint")
        if media.msid is not None and " " in media.msid and len(media.msid.split()) != 2:
            raise InputError(f"{label} has a malformed a=msid")
        if media.kind == "application":
            if media.sctp_port is None and media.sctpmap == {}:
                raise InputError(f"{label} lacks a=sctp-port")
            continue
        if media.direction not in ("sendrecv", "sendonly", "recvonly", "inactive"):
            raise InputError(f"{label} lacks its direction (a=sendrecv, ...)")
        if not media.rtcp_mux:
            raise InputError(f"{label} lacks a=rtcp-mux")
        if not media.rtp.codecs:
            raise InputError(f"{label} has no codec (a=rtpmap)")
        common = find_common_codecs(CODECS[media.kind], media.rtp.codecs)
        if not common:
            raise InputError(f"{label} has no codec the server supports")
        if media.kind == "video" and any(c.mimeType.lower() in DECODABLE_VIDEO
                                         for c in common):
            decodable = True
    if not decodable:
        raise InputError("the offer's video has no codec the server decodes (VP8 or H264)")
