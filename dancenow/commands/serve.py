"""Serve the live avatar over WebRTC: open the page, allow the camera, dance.

aiohttp serves the page and the signalling (POST /offer, as in aiortc's examples);
each browser gets its own peer connection and live pipeline, and the avatar comes back
on the same connection. WHIP (POST /whip, as OBS Studio and GStreamer send) brings a
camera in; every session's avatar is a stream its audience watches over WHEP
(POST /whep/<stream>) or on its viewer page (/watch/<stream>). GET /stats shows per
session the frame rates, dropped frames, per-stage latency and the glass-to-glass
latency the page measures. The server binds
127.0.0.1 unless --host says otherwise and warns when it listens publicly without a
--token.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from dancenow.commands.backends import add_backend_arguments
    from engine.predict.predictor import METHODS
    from engine.predict.setting import DEFAULT_METHOD, predict_argument

    p.add_argument("--avatar", action="append", metavar="AVATAR",
                   help="avatar bundle to serve (repeat for several; the first is the "
                        "page's default; default: avatars/demo-live, the faster one, then "
                        "avatars/demo)")
    add_backend_arguments(p, "the avatars' models", "pose estimator: ONNX BlazePose on a "
                          "Runner (auto: as for --backend), or mediapipe")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8080, help="port to listen on")
    p.add_argument("--max-sessions", type=_sessions, default=None, metavar="N",
                   help="sessions served at once; more get 503 with Retry-After (default: "
                        "as many as this machine keeps at 25 fps, measured at start by "
                        "timing the avatars' models and codecs; GET /stats shows how)")
    p.add_argument("--token", metavar="T",
                   help="require `Authorization: Bearer T` on the API (the page asks for it)")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="a cross-origin page allowed to use the API, as scheme://host[:port] "
                        "(repeat for several; the server's own origin is always allowed)")
    p.add_argument("--codec", default="VP8", choices=("VP8", "H264"),
                   help="preferred codec of the avatar video")
    p.add_argument("--connect-timeout", type=_seconds, default=10.0, metavar="S",
                   help="end a session whose client has not connected S seconds after the "
                        "answer, freeing its slot")
    p.add_argument("--media-timeout", type=_seconds, default=5.0, metavar="S",
                   help="end a connected session that has sent no video for S seconds")
    p.add_argument("--max-viewers", type=int, default=8, metavar="N",
                   help="WHEP viewers per stream, counted apart from --max-sessions")
    p.add_argument("--ice-server", action="append", default=[], metavar="URL",
                   help="a STUN or TURN server for the peer connections, as stun:host[:port] "
                        "or turn:host[:port] (repeat for several; default: none, host "
                        "candidates only); told to WHIP and WHEP clients in Link headers")
    p.add_argument("--publish", action="append", default=[], metavar="URL",
                   help="push every session's avatar to this WHIP endpoint too (a media "
                        "server that fans out to many viewers); {stream} in URL becomes the "
                        "stream's name (repeat for several)")
    p.add_argument("--publish-token", metavar="T",
                   help="bearer token for the --publish endpoints")
    p.add_argument("--turn-username", help="username for the turn: servers")
    p.add_argument("--turn-credential", help="credential (password) for the turn: servers")
    p.add_argument("--compute-permits", type=_permits, default=None, metavar="N",
                   help="pose and generator steps, of all sessions, computing at once; the "
                        "rest wait their turn keeping only their newest frame, so an "
                        "overloaded server drops frames instead of slowing every frame "
                        "down (default: one per CPU; 0: no limit)")
    p.add_argument("--stage-nice", type=_nice, default=0, metavar="N",
                   help="run the pipelines' compute threads N steps nicer (0-19, Linux) so "
                        "the network loop stays responsive when sessions outnumber what "
                        "the CPUs can render; 5 halved round trips at 4 sessions on 2 "
                        "cores (default 0)")
    p.add_argument("--predict", type=predict_argument, default="auto", metavar="auto|off|MS",
                   help="show the performer's pose where it will be when the avatar frame "
                        "is seen: predicted ahead by the session's delay (auto: the page's "
                        "glass-to-glass, else the server's latency plus --network-ms; "
                        "capped at 150 ms and backed off when predictions miss), by MS "
                        "milliseconds, or not at all (off); the page can switch it per "
                        "session (default auto)")
    p.add_argument("--predict-method", default=DEFAULT_METHOD, choices=METHODS,
                   help="how the pose is predicted: per-joint kinematics (kinematic: "
                        "constant velocity; kinematic2: constant acceleration) or the small "
                        f"learned model shipped with dancenow (default {DEFAULT_METHOD})")
    p.add_argument("--network-ms", type=_network_ms, default=None, metavar="MS",
                   help="what a client that does not report its own delay adds to the "
                        "server's latency, for --predict auto (default 45)")
    p.add_argument("--cluster", metavar="auto|ADDRESS",
                   help="run the sessions on the nodes of a Ray cluster (the extra "
                        "dancenow[cluster]): ADDRESS is its head (host:6379); auto joins the "
                        "cluster running on this machine, or starts a head here that serves "
                        "--max-sessions itself; other machines join with `dancenow worker`")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be within (0, 3600] seconds, got {value}")
    return value


def _network_ms(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected milliseconds, got {text!r}") from None
    if not 0 <= value <= 2000:
        raise argparse.ArgumentTypeError(f"must be within 0-2000 ms, got {value}")
    return value


def whole_number(text: str) -> int:
    """`text` as an int, or the argument error every whole-number option gives."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _sessions(text: str) -> int:
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"at least 1 session, got {value}")
    return value


def _permits(text: str) -> int:
    value = whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"0 (no limit) or more, got {value}")
    return value


def _nice(text: str) -> int:
    from engine.pipeline.affinity import MAX_NICE

    value = whole_number(text)
    if not 0 <= value <= MAX_NICE:
        raise argparse.ArgumentTypeError(f"{value} is outside 0-{MAX_NICE}")
    return value


def load_avatars(paths: list[str] | None) -> dict:
    """name -> AvatarBundle for `paths` (default: the demo avatars), each verified."""
    from engine.avatar import DEMO_AVATAR, DEMO_LIVE_AVATAR, load_bundle
    from engine.errors import InputError

    avatars = {}
    for path in paths or [str(DEMO_LIVE_AVATAR), str(DEMO_AVATAR)]:
        bundle = load_bundle(path, verify=True)
        if bundle.name in avatars:
            raise InputError(f"two avatars are named {bundle.name!r}")
        avatars[bundle.name] = bundle
    return avatars


def admitted_capacity(max_sessions: int | None, avatars: dict, pipeline: object,
                      codec: str):  # noqa: ANN201 - server.capacity.Capacity
    """The sessions this machine admits: `max_sessions`, else measured at start
    (server.capacity). A cluster node advertises the same number as its slots."""
    from server.capacity import configured, measure_capacity

    if max_sessions is None:
        log.info("measuring what a session costs on this machine (--max-sessions skips it)")
        capacity = measure_capacity(avatars, pipeline, codec=codec)
    else:
        capacity = configured(max_sessions)
    log.info("admitting %d session(s) at once (%s)", capacity.sessions, capacity.method)
    return capacity


def run(args: argparse.Namespace) -> int:
    from aiohttp import web

    from engine.pipeline import PipelineConfig
    from server.app import SERVER_SETTINGS, ServeConfig, create_app
    from server.capacity import configured
    from server.peer import IceServer
    from server.publish import PublishTarget
    from server.session import SessionOptions

    avatars = load_avatars(args.avatar)
    from dancenow.commands.backends import ready_backends

    ready_backends(args)
    if args.host not in LOCAL_HOSTS and not args.token:
        log.warning("listening on %s without --token: anyone who can reach this port can "
                    "start sessions", args.host)
    ice = tuple(IceServer(url, args.turn_username if url.startswith("turn") else None,
                          args.turn_credential if url.startswith("turn") else None)
                for url in args.ice_server)
    publish = tuple(PublishTarget(url, args.publish_token) for url in args.publish)
    pipeline = PipelineConfig(backend=args.backend, pose_backend=args.pose_backend,
                              pose_threads=1, stage_nice=args.stage_nice,
                              compute_permits=args.compute_permits, predict=args.predict,
                              predict_method=args.predict_method,
                              **({} if args.network_ms is None else
                                 {"network_ms": args.network_ms}))
    if args.cluster not in (None, "auto"):  # this machine serves as a node, if at all
        capacity = configured(args.max_sessions or 1)
    else:
        capacity = admitted_capacity(args.max_sessions, avatars, pipeline, args.codec)
    app = create_app(ServeConfig(avatars=avatars, max_sessions=capacity.sessions,
                                 capacity=capacity, cluster=args.cluster,
                                 token=args.token, allow_origins=tuple(args.allow_origin),
                                 max_viewers=args.max_viewers,
                                 session=SessionOptions(codec=args.codec, pipeline=pipeline,
                                                        connect_timeout=args.connect_timeout,
                                                        media_timeout=args.media_timeout,
                                                        ice_servers=ice,
                                                        publish=publish)))
    log.info("serving %s on http://%s:%d/", ", ".join(avatars), args.host, args.port)
    web.run_app(app, host=args.host, port=args.port, print=None, **SERVER_SETTINGS)
    return 0
