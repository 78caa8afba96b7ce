"""Trickle ICE fragments (RFC 8840) of WHIP/WHEP PATCH bodies: parsed, bounded, refused
with reasons."""

from __future__ import annotations

import pytest

from engine.errors import InputError
from server import trickle

HOST = "1 1 udp 2130706431 192.0.2.7 50000 typ host"


def test_a_fragment_gives_credentials_candidates_per_mid_and_the_end() -> None:
    text = (f"a=ice-ufrag:abcd\r\na=ice-pwd:secretsecretsecret\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0"
            f"\r\na=mid:0\r\na=candidate:{HOST}\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
            f"a=mid:1\r\na=candidate:2 1 tcp 1518280447 192.0.2.7 9 typ host tcptype "
            "active\r\na=end-of-candidates\r\n")
    fragment = trickle.parse_fragment(text)
    assert (fragment.ufrag, fragment.pwd) == ("abcd", "secretsecretsecret")
    assert [mid for mid, _ in fragment.candidates] == ["0", "1"]
    assert fragment.candidates[0][1] == HOST and fragment.end_of_candidates


@pytest.mark.parametrize(("text", "reason"), [
    ("a=candidate:1 1 udp 1", "malformed candidate"),
    ("a=candidate:1 1 udp 1 192.0.2.7 99999 typ host", "malformed candidate"),
    ("a=candidate:1 1 sctp 1 192.0.2.7 9 typ host", "unknown candidate transport"),
    ("hello", "not an SDP fragment line"),
    ("a=candidate:" + HOST + "\r\n" * 1 + "x" * trickle.MAX_FRAGMENT, "over"),
    ("".join(f"a=candidate:{HOST}\r\n" for _ in range(trickle.MAX_CANDIDATES + 1)),
     "more than"),
])
def test_bad_fragments_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        trickle.parse_fragment(text)


def test_the_remote_ufrag_is_read_from_a_description() -> None:
    assert trickle.remote_ufrag("v=0\r\na=ice-ufrag:xyz\r\na=ice-ufrag:other\r\n") == "xyz"
    assert trickle.remote_ufrag("v=0\r\n") is None
