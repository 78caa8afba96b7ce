"""The server's peer connections: ICE servers checked and told in Link headers, and the
DTLS role taken only where an offer leaves it open."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCSessionDescription

from engine.errors import InputError
from server.peer import IceServer, new_peer_connection, take_dtls_server_role


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
