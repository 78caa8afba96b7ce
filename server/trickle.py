"""Trickle ICE over HTTP for WHIP and WHEP resources (RFC 9725 section 4.3): the body of a
`PATCH` with `application/trickle-ice-sdpfrag` (RFC 8840), parsed and bounded.

A fragment carries the client's ICE credentials, its candidates per media section
(`a=mid`), and perhaps `a=end-of-candidates`. Credentials other than the session's mean an
ICE restart, which the server does not do (the route answers 422).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import InputError

FRAGMENT_TYPE = "application/trickle-ice-sdpfrag"
MAX_FRAGMENT = 16 * 1024  # characters of one PATCH body
MAX_CANDIDATES = 32  # candidates in one PATCH body
MAX_PATCHES = 64  # PATCH requests to one resource over its life


@dataclass
class Fragment:
    ufrag: str | None = None
    pwd: str | None = None
    candidates: list[tuple[str | None, str]] = field(default_factory=list)  # (mid, value)
    end_of_candidates: bool = False


def _check_candidate(value: str) -> None:
    """`value` (after `a=candidate:`) has the fields of RFC 8839: foundation, component,
    transport, priority, address, port, `typ`, type."""
    bits = value.split()
    if len(bits) < 8 or bits[6] != "typ" or not bits[1].isdigit() or not bits[3].isdigit() \
            or not bits[5].isdigit() or int(bits[5]) > 65535:
        raise InputError(f"malformed candidate: {value[:120]!r}")
    if bits[2].lower() not in ("udp", "tcp"):
        raise InputError(f"unknown candidate transport {bits[2][:20]!r}")


def parse_fragment(text: str) -> Fragment:
    """The fragment of a PATCH body; InputError when it is oversized or malformed."""
    if len(text) > MAX_FRAGMENT:
        raise InputError(f"the fragment is over {MAX_FRAGMENT} characters")
    fragment = Fragment()
    mid: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("m="):
            mid = None
        elif line.startswith("a=mid:"):
            mid = line[len("a=mid:"):]
        elif line.startswith("a=ice-ufrag:"):
            fragment.ufrag = line[len("a=ice-ufrag:"):]
        elif line.startswith("a=ice-pwd:"):
            fragment.pwd = line[len("a=ice-pwd:"):]
        elif line.startswith("a=candidate:"):
            value = line[len("a=candidate:"):]
            _check_candidate(value)
            fragment.candidates.append((mid, value))
            if len(fragment.candidates) > MAX_CANDIDATES:
                raise InputError(f"more than {MAX_CANDIDATES} candidates in one fragment")
        elif line == "a=end-of-candidates":
            fragment.end_of_candidates = True
        elif line[:2] not in ("a=", "c=", "m="):
            raise InputError(f"not an SDP fragment line: {line[:80]!r}")
    return fragment


def remote_ufrag(sdp: str) -> str | None:
    """The ICE username fragment of a session description (its first)."""
    for line in sdp.splitlines():
        if line.startswith("a=ice-ufrag:"):
            return line[len("a=ice-ufrag:"):].strip()
    return None
