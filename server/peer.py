"""The peer connections the server makes, configured alike for the page, WHIP and WHEP.

* ICE servers: only those configured (`--ice-server`); aiortc would otherwise ask a public
  STUN server, and a server reachable at its own address needs none.
* DTLS role: an offer that leaves the role open (`a=setup:actpass`, as browsers, OBS and
  GStreamer send) gets an answer in which the server is the DTLS server
  (`a=setup:passive`). As DTLS client aiortc offers only ECDHE-ECDSA cipher suites, which
  a peer with an RSA certificate (GStreamer 1.22's webrtcbin) cannot take; as DTLS server
  it meets any client. An offer that chose its role (FFmpeg's WHIP muxer offers
  `a=setup:passive`) keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpSender,
    RTCRtpTransceiver,
)

from engine.errors import InputError

ICE_SCHEMES = ("stun:", "turn:", "turns:")


@dataclass(frozen=True)
class IceServer:
    url: str  # stun:host[:port], turn:host[:port][?transport=udp|tcp], turns:...
    username: str | None = None  # for turn(s) only
    credential: str | None = None

    def __post_init__(self) -> None:
        if not self.url.startswith(ICE_SCHEMES) or any(c in self.url for c in '<>"\r\n '):
            raise InputError(f"an ICE server is stun:, turn: or turns: host[:port], got "
                             f"{self.url!r}")
        if self.url.startswith("turn") and not (self.username and self.credential):
            raise InputError(f"{self.url}: a TURN server needs a username and a credential")
        if any(c in (self.username or "") + (self.credential or "") for c in '"\r\n'):
            raise InputError("a TURN username or credential cannot hold quotes or newlines")

    def rtc(self) -> RTCIceServer:
        return RTCIceServer(urls=self.url, username=self.username, credential=self.credential)

    def link(self) -> str:
        """This server as a `Link` header value (RFC 9725 section 4.6)."""
        value = f'<{self.url}>; rel="ice-server"'
        if self.username and self.credential:
            value += (f'; username="{self.username}"; credential="{self.credential}"; '
                      'credential-type="password"')
        return value


def new_peer_connection(ice_servers: tuple[IceServer, ...] = ()) -> RTCPeerConnection:
    """A peer connection that uses exactly `ice_servers` (none: host candidates only)."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[s.rtc() for s in ice_servers]))


def take_dtls_server_role(pc: RTCPeerConnection) -> None:
    """Be the DTLS server where the remote offer left the role open (call after
    `setRemoteDescription(offer)`, before `createAnswer`). An offer that chose a role
    keeps it: FFmpeg's WHIP muxer offers `a=setup:passive` (it is the DTLS server), and the
    answer must then be the client. aiortc keeps the role on its DTLS transports (a
    private attribute, "auto" while open)."""
    from aiortc.sdp import SessionDescription

    remote = pc.remoteDescription
    if remote is None or not any(m.dtls is not None and m.dtls.role == "auto"
                                 for m in SessionDescription.parse(remote.sdp).media):
        return
    transports = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    for transport in transports:
        if getattr(transport, "_role", None) == "auto":
            transport._set_role("server")


def prefer_codec(pc: RTCPeerConnection, sender: RTCRtpSender, codec: str) -> None:
    """Send `codec` (e.g. "VP8") on `sender` when the remote offer takes it; otherwise
    leave the choice to the offer's order (a player that offers H.264 alone gets H.264)."""
    wanted = f"video/{codec}".lower()
    remote = pc.remoteDescription.sdp.lower() if pc.remoteDescription else ""
    if f" {codec.lower()}/90000" not in remote:
        return
    codecs = only_codec(codec)
    transceiver = _transceiver_of(pc, sender)
    if transceiver is not None and any(c.mimeType.lower() == wanted for c in codecs):
        transceiver.setCodecPreferences(codecs)
        _keep_negotiated(transceiver, wanted)


def only_codec(codec: str) -> list[RTCRtpCodecCapability]:
    """aiortc's video capabilities for `codec` (e.g. "H264") and retransmission alone:
    codec preferences that offer or answer nothing else."""
    wanted = f"video/{codec}".lower()
    return [c for c in RTCRtpSender.getCapabilities("video").codecs
            if c.mimeType.lower() in (wanted, "video/rtx")]


def _keep_negotiated(transceiver: object, wanted: str) -> None:
    """aiortc settles a transceiver's codecs (its private `_codecs`, what the answer
    lists and the sender sends first) when the remote offer is set, before preferences
    set afterwards can count: keep `wanted` and its retransmission codec of those."""
    negotiated = getattr(transceiver, "_codecs", None)
    if not negotiated:
        return
    chosen = [c for c in negotiated if c.mimeType.lower() == wanted]
    if not chosen:
        return
    types = {c.payloadType for c in chosen}
    rtx = [c for c in negotiated if c.mimeType.lower() == "video/rtx"
           and int(c.parameters.get("apt", -1)) in types]
    transceiver._codecs = chosen + rtx


def sent_codec(answer_sdp: str, mid: str | None = None) -> str:
    """The video codec an answer settles on ("video/vp8", ...) for the section of `mid`
    (a transceiver's; None: the first video section): that section's first codec."""
    from aiortc.sdp import SessionDescription

    for media in SessionDescription.parse(answer_sdp).media:
        if media.kind == "video" and media.rtp.codecs and mid in (None, media.rtp.muxId):
            return media.rtp.codecs[0].mimeType.lower()
    where = "" if mid is None else f" in its section {mid!r}"
    raise ValueError(f"the answer has no video codec{where}")


def _transceiver_of(pc: RTCPeerConnection, sender: RTCRtpSender) -> RTCRtpTransceiver | None:
    return next((t for t in pc.getTransceivers() if t.sender is sender), None)


def sender_mid(pc: RTCPeerConnection, sender: RTCRtpSender) -> str | None:
    """The media section (mid) `sender` sends on, once negotiated."""
    transceiver = _transceiver_of(pc, sender)
    return None if transceiver is None else transceiver.mid


def offer_codec_first(transceiver: object, codec: str) -> None:
    """Offer `codec` (e.g. "VP8") first on `transceiver`, the others after it."""
    wanted = f"video/{codec}".lower()
    codecs = RTCRtpSender.getCapabilities("video").codecs
    ordered = sorted(codecs, key=lambda c: c.mimeType.lower() != wanted)
    transceiver.setCodecPreferences(ordered)
