"""The server's peer connections: ICE servers checked and told in Link headers, and the
DTLS role taken only where an offer leaves it open."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from aiortc import RTCSessionDescription

from engine.errors import InputError
from server.loopback import LoopbackClient
from server.peer import (
    IceServer,
    new_peer_connection,
    prefer_codec,
    sent_codec,
    take_dtls_server_role,
)


def test_ice_servers_are_checked_and_become_link_headers() -> None:
    assert IceServer("stun:stun.example.org:3478").link() == \
        '<stun:stun.example.org:3478>; rel="ice-server"'
    turn = IceServer("turn:turn.example.org", "u", "p").link()
    assert 'username="u"; credential="p"; credential-type="password"' in turn
    for bad in ("http://x", "stun:a b", 'stun:x"y'):
        with pytest.raises(InputError, match="stun:, turn: or turns:"):
            IceServer(bad)
    with pytest.raises(InputError, match="username and a credential"):
        IceServer("turn:turn.example.org")


def test_the_server_is_dtls_server_only_where_the_offer_leaves_the_role_open(
        offer_sdp) -> None:
    async def answer_setup(setup: str) -> str:
        pc = new_peer_connection()
        sdp = offer_sdp.replace("a=setup:actpass", f"a=setup:{setup}")
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        take_dtls_server_role(pc)
        await pc.setLocalDescription(await pc.createAnswer())
        lines = {ln for ln in pc.localDescription.sdp.splitlines()
                 if ln.startswith("a=setup:")}
        await pc.close()
        return lines.pop()

    assert asyncio.run(answer_setup("actpass")) == "a=setup:passive"  # browsers, OBS, GStreamer
    assert asyncio.run(answer_setup("passive")) == "a=setup:active"  # FFmpeg's WHIP muxer
    assert asyncio.run(answer_setup("active")) == "a=setup:passive"


def test_the_preferred_codec_is_sent_when_the_offer_takes_it(offer_sdp) -> None:
    """The offer lists VP8 and H.264 (aiortc's order: VP8 first); the server's preference
    decides what the answer sends, and an offer without it keeps its own choice."""
    from aiortc.mediastreams import VideoStreamTrack

    async def answered(codec: str, sdp: str) -> tuple[str, str]:
        pc = new_peer_connection()
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        prefer_codec(pc, pc.addTrack(VideoStreamTrack()), codec)
        await pc.setLocalDescription(await pc.createAnswer())
        answer = pc.localDescription.sdp
        await pc.close()
        return sent_codec(answer), answer

    assert " VP8/90000" in offer_sdp and " H264/90000" in offer_sdp
    assert asyncio.run(answered("VP8", offer_sdp))[0] == "video/vp8"
    codec, answer = asyncio.run(answered("H264", offer_sdp))
    assert codec == "video/h264" and " VP8/90000" not in answer
    assert "rtx/90000" in answer.lower()  # retransmission kept for what is sent

    async def vp8_offer() -> str:
        client = LoopbackClient([np.zeros((64, 64, 3), np.uint8)], codec="VP8")
        sdp = (await client.offer())["sdp"]
        await client.close()
        return sdp

    vp8_only = asyncio.run(vp8_offer())
    assert " H264/90000" not in vp8_only
    assert asyncio.run(answered("H264", vp8_only))[0] == "video/vp8"


def test_the_codec_is_read_from_the_senders_own_section() -> None:
    """An offer with two video sections, H.264 only then VP8 only, the server sending on
    the second: its codec is that section's, not the first's."""
    from aiortc import RTCPeerConnection
    from aiortc.mediastreams import VideoStreamTrack
    from aiortc.rtcrtpsender import RTCRtpSender

    from server.peer import sender_mid

    async def main() -> tuple[str, str, str | None]:
        offerer = RTCPeerConnection()
        codecs = RTCRtpSender.getCapabilities("video").codecs
        for wanted in ("video/h264", "video/vp8"):
            transceiver = offerer.addTransceiver("video", direction="recvonly")
            transceiver.setCodecPreferences(
                [c for c in codecs if c.mimeType.lower() in (wanted, "video/rtx")])
        await offerer.setLocalDescription(await offerer.createOffer())
        pc = new_peer_connection()
        await pc.setRemoteDescription(offerer.localDescription)
        second = pc.getTransceivers()[1]
        second.sender.replaceTrack(VideoStreamTrack())
        second.direction = "sendonly"
        await pc.setLocalDescription(await pc.createAnswer())
        answer = pc.localDescription.sdp
        mid = sender_mid(pc, second.sender)
        await pc.close()
        await offerer.close()
        return sent_codec(answer), sent_codec(answer, mid), mid

    first, own, mid = asyncio.run(main())
    assert mid == "1"
    assert (first, own) == ("video/h264", "video/vp8")
    with pytest.raises(ValueError, match="section '7'"):
        sent_codec("v=0\r\n", "7")
