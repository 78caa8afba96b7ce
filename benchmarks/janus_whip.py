"""`dancenow serve --publish` -> a WHIP front end -> Janus Gateway's VideoRoom -> an aiortc
subscriber, inside a network namespace of its own.

Janus (Debian's `janus`, 1.1) has no WHIP endpoint, so this module holds a small one: an
aiohttp app where `POST /whip/{room}` (`application/sdp`, bearer token) creates a Janus
session over Janus's HTTP API, attaches `janus.plugin.videoroom`, creates the room if it is
missing and joins it as a publisher with the offer (`joinandconfigure`); Janus's answer
comes back as `201 Created` with a `Location`. `DELETE` on that resource destroys the Janus
session (its publisher leaves the room). A Janus session is kept alive while it lives
(Janus ends one after 60 s without a keepalive).

The run: a private Janus (its own configuration in a temporary folder: the HTTP transport
on loopback, the VideoRoom plugin, nothing else loaded, ICE on the veth only, no STUN); the
front end; `dancenow serve --publish http://HOST:PORT/whip/{stream}` with the demo avatar;
a performer session (`benchmarks.session_client`) streaming the synthetic performer; once
the session publishes, an aiortc subscriber joins the room through Janus's API (Janus
offers, aiortc answers, `start`) and counts the frames it decodes for `--seconds`.

aioice (aiortc's ICE) never gathers 127.0.0.1 and Janus (libnice) ignores loopback, so the
peers meet on a veth pair inside a network namespace this command makes (`unshare -n`,
root only; nothing in it is routed anywhere): 10.78.0.1 and 10.78.0.2.

Prints one JSON object: the stream, the frames dancenow's publisher sent, the frames the
Janus subscriber decoded, its frames per second and time to its first frame, and any
error. Results with `--out`: `janus.json` and `janus.md`.

    python -m benchmarks.janus_whip [--seconds 6] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import aiohttp
from aiohttp import web
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from benchmarks import netns

log = logging.getLogger("benchmarks.janus_whip")
JANUS = "janus"
JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
PLUGIN = "libjanus_videoroom.so"
TRANSPORT = "libjanus_http.so"
NETNS_SETUP = netns.veth_setup(("dj0", "dj1"), ("10.78.0.1", "10.78.0.2"))
HOST = "10.78.0.1"  # dancenow, the front end and Janus's ICE candidates
JANUS_HTTP_HOST = "127.0.0.1"  # Janus's HTTP API, for the front end and the subscriber only
TOKEN = "janus-whip-token"  # the front end's bearer token (the namespace reaches nothing else)
START_TIMEOUT_S = 30.0  # Janus answering /janus/info
HTTP_TIMEOUT_S = 15.0  # one request to Janus's API (a long poll asks for less)
EVENT_TIMEOUT_S = 20.0  # Janus's answer to an asynchronous request (an offer to answer)
LONG_POLL_S = 10  # Janus answers a long poll within this even when nothing happened
KEEPALIVE_S = 20.0  # Janus ends a session after 60 s without one
SESSION_LIFETIME_S = 3600.0  # a Janus session of the front end or the subscriber, at most
PUBLISHER_TIMEOUT_S = 30.0  # the room's publisher appearing for the subscriber
FIRST_FRAME_TIMEOUT_S = 30.0


def unavailable() -> str | None:
    """Why the Janus run cannot happen here (None when it can)."""
    if shutil.which(JANUS) is None:
        return "needs Janus Gateway (apt install janus)"
    for name in (f"plugins/{PLUGIN}", f"transports/{TRANSPORT}"):
        if not (JANUS_LIB / name).exists():
            return f"needs Janus's {name} under {JANUS_LIB}"
    return netns.unavailable()


# --- a private Janus -----------------------------------------------------------------------

def janus_config(folder: Path, http_host: str, http_port: int, ice_ip: str) -> Path:
    """Janus's configuration under `folder`: only the HTTP transport (on `http_host`) and
    the VideoRoom plugin are in the folders it loads from; ICE gathers on `ice_ip` only,
    with no STUN or TURN. Returns the main configuration file."""
    for kind, lib in (("plugins", PLUGIN), ("transports", TRANSPORT)):
        (folder / kind).mkdir(parents=True, exist_ok=True)
        (folder / kind / lib).symlink_to(JANUS_LIB / kind / lib)
    for kind in ("events", "loggers"):
        (folder / kind).mkdir(exist_ok=True)
    main = folder / "janus.jcfg"
    main.write_text(f"""general: {{
    configs_folder = "{folder}"
    plugins_folder = "{folder / 'plugins'}"
    transports_folder = "{folder / 'transports'}"
    events_folder = "{folder / 'events'}"
    loggers_folder = "{folder / 'loggers'}"
    interface = "{ice_ip}"
    debug_level = 4
    debug_colors = false
    session_timeout = 60
}}
media: {{
    ipv6 = false
}}
nat: {{
    nice_debug = false
    full_trickle = false
    ice_enforce_list = "{ice_ip}"
}}
plugins: {{
}}
transports: {{
}}
events: {{
    broadcast = false
}}
""")
    (folder / "janus.transport.http.jcfg").write_text(f"""general: {{
    json = "plain"
    base_path = "/janus"
    http = true
    port = {http_port}
    ip = "{http_host}"
    https = false
}}
admin: {{
    admin_http = false
    admin_https = false
}}
""")
    (folder / "janus.plugin.videoroom.jcfg").write_text("""general: {
    string_ids = true
}
""")
    return main


@dataclass
class JanusProcess:
    proc: subprocess.Popen
    url: str  # the HTTP API's base, ending in /janus
    log_path: Path

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


def _info(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{url}/info", timeout=2) as res:
            return json.loads(res.read())
    except (OSError, ValueError):  # not listening yet
        return None


@contextlib.contextmanager
def janus_running(folder: Path, http_host: str, http_port: int,
                  ice_ip: str) -> Iterator[JanusProcess]:
    """Janus with its configuration in `folder` (logging to `folder/janus.log`) until the
    block ends; then SIGTERM to the process started here, and SIGKILL 10 s later."""
    from benchmarks.reliability import stop_process

    main = janus_config(folder, http_host, http_port, ice_ip)
    log_path = folder / "janus.log"
    proc = subprocess.Popen(
        [JANUS, "-C", str(main), "-F", str(folder), "-L", str(log_path), "-N", "-o"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    janus = JanusProcess(proc, f"http://{http_host}:{http_port}/janus", log_path)
    try:
        end = time.monotonic() + START_TIMEOUT_S
        info = None
        while info is None:
            if proc.poll() is not None:
                raise RuntimeError(f"janus exited ({proc.returncode}):\n{janus.log_tail()}")
            if time.monotonic() > end:
                raise TimeoutError(f"janus did not answer within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.2)
            info = _info(janus.url)
        log.info("janus %s is up at %s", info.get("version_string"), janus.url)
        yield janus
    finally:
        stop_process(proc)


# --- Janus's HTTP API --------------------------------------------------------------------

class JanusError(RuntimeError):
    """Janus, or its VideoRoom plugin, refused a request."""


def _check(reply: dict) -> dict:
    if reply.get("janus") == "error":
        error = reply.get("error", {})
        raise JanusError(f"janus error {error.get('code')}: {error.get('reason')}")
    data = reply.get("plugindata", {}).get("data", {})
    if "error_code" in data:
        raise JanusError(f"videoroom error {data['error_code']}: {data.get('error')}")
    return reply


@dataclass
class JanusSession:
    """One Janus session with one VideoRoom handle, kept alive until `destroy`.

    Asynchronous requests (joining, starting) are answered by an event on the session's
    long poll, matched to the request by its transaction."""

    http: aiohttp.ClientSession
    url: str  # the HTTP API's base
    session_id: int = 0
    handle_id: int = 0
    events: list[str] = field(default_factory=list)  # e.g. webrtcup, media, hangup
    _waiting: dict[str, asyncio.Future] = field(default_factory=dict)
    _tasks: list[asyncio.Task] = field(default_factory=list)
    _closed: bool = False

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, url: str) -> JanusSession:
        """A new session and handle on the VideoRoom plugin."""
        session = cls(http, url)
        reply = await session._post(url, {"janus": "create"})
        session.session_id = reply["data"]["id"]
        try:
            reply = await session._post(f"{url}/{session.session_id}",
                                        {"janus": "attach",
                                         "plugin": "janus.plugin.videoroom"})
        except (JanusError, aiohttp.ClientError, TimeoutError):
            await session.destroy()
            raise
        session.handle_id = reply["data"]["id"]
        session._tasks = [asyncio.ensure_future(session._poll()),
                          asyncio.ensure_future(session._keepalive())]
        return session

    async def _post(self, url: str, body: dict) -> dict:
        body = {**body, "transaction": secrets.token_hex(8)}
        timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
        async with self.http.post(url, json=body, timeout=timeout) as res:
            reply = await res.json(content_type=None)
        return _check(reply)

    async def request(self, body: dict) -> dict:
        """A synchronous VideoRoom request (exists, create, listparticipants): its data."""
        reply = await self._post(f"{self.url}/{self.session_id}/{self.handle_id}",
                                 {"janus": "message", "body": body})
        return reply.get("plugindata", {}).get("data", {})

    async def send(self, body: dict, jsep: dict | None = None) -> dict:
        """An asynchronous VideoRoom request: the event that answers it (with its jsep)."""
        transaction = secrets.token_hex(8)
        message = {"janus": "message", "body": body, "transaction": transaction}
        if jsep is not None:
            message["jsep"] = jsep
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting[transaction] = future
        try:
            timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
            async with self.http.post(f"{self.url}/{self.session_id}/{self.handle_id}",
                                      json=message, timeout=timeout) as res:
                _check(await res.json(content_type=None))  # an ack
            return _check(await asyncio.wait_for(future, EVENT_TIMEOUT_S))
        finally:
            self._waiting.pop(transaction, None)

    async def _poll(self) -> None:
        """Janus's events for this session (a long poll, answered within `LONG_POLL_S`)."""
        end = time.monotonic() + SESSION_LIFETIME_S
        url = f"{self.url}/{self.session_id}"
        timeout = aiohttp.ClientTimeout(total=LONG_POLL_S + HTTP_TIMEOUT_S)
        while not self._closed and time.monotonic() < end:
            try:
                async with self.http.get(url, params={"maxev": "10"},
                                         timeout=timeout) as res:
                    reply = await res.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                if self._closed:
                    return
                log.info("janus session %s: poll failed: %s", self.session_id, exc)
                await asyncio.sleep(1.0)
                continue
            events = reply if isinstance(reply, list) else [reply]
            for event in events:
                self._event(event)
            if any(e.get("janus") == "error" and not e.get("transaction") for e in events):
                # the session itself is refused (gone, or never was): nothing more will come
                log.warning("janus session %s: %s", self.session_id, events)
                return

    def _event(self, event: dict) -> None:
        kind = event.get("janus")
        if kind == "keepalive":
            return
        future = self._waiting.get(event.get("transaction", ""))
        if kind == "event" and future is not None and not future.done():
            future.set_result(event)
            return
        if kind == "error" and future is not None and not future.done():
            future.set_result(event)
            return
        self.events.append(kind)
        log.info("janus session %s: %s %s", self.session_id, kind,
                 json.dumps(event.get("plugindata", {}).get("data", event.get("reason", "")))
                 [:200])

    async def _keepalive(self) -> None:
        end = time.monotonic() + SESSION_LIFETIME_S
        while not self._closed and time.monotonic() < end:
            await asyncio.sleep(KEEPALIVE_S)
            try:
                await self._post(f"{self.url}/{self.session_id}", {"janus": "keepalive"})
            except (JanusError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("janus session %s: keepalive failed: %s", self.session_id, exc)

    async def destroy(self) -> None:
        """Destroy the session (its handle detaches: a publisher leaves its room)."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.session_id:
            try:
                await self._post(f"{self.url}/{self.session_id}", {"janus": "destroy"})
            except (JanusError, aiohttp.ClientError, TimeoutError) as exc:
                log.info("janus session %s: destroy failed: %s", self.session_id, exc)


# --- the WHIP front end ------------------------------------------------------------------

@dataclass
class Resource:
    room: str
    janus: JanusSession
    publisher_id: int | str | None


@dataclass
class FrontEnd:
    """WHIP over Janus's VideoRoom: what it made and saw, for the report."""

    janus_url: str
    token: str | None = None
    resources: dict[str, Resource] = field(default_factory=dict)
    posts: int = 0
    deletes: int = 0
    errors: list[str] = field(default_factory=list)
    http: aiohttp.ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/whip/{room}", self.post)
        app.router.add_delete("/whip/{room}/resource/{resource}", self.delete)
        app.router.add_patch("/whip/{room}/resource/{resource}", self.patch)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _start(self, _app: web.Application) -> None:
        self.http = aiohttp.ClientSession()

    async def _cleanup(self, _app: web.Application) -> None:
        await asyncio.gather(*(r.janus.destroy() for r in self.resources.values()))
        self.resources.clear()
        if self.http is not None:
            await self.http.close()

    def _authorized(self, request: web.Request) -> bool:
        return self.token is None or \
            request.headers.get("Authorization") == f"Bearer {self.token}"

    async def _ensure_room(self, janus: JanusSession, room: str) -> bool:
        """Create `room` if it is missing; whether it was made here."""
        if (await janus.request({"request": "exists", "room": room})).get("exists"):
            return False
        try:
            await janus.request({"request": "create", "room": room, "publishers": 4,
                                 "videocodec": "vp8,h264", "audiocodec": "opus",
                                 "fir_freq": 2, "description": f"WHIP {room}"})
        except JanusError as exc:  # 427: made meanwhile by another publisher
            if "427" not in str(exc):
                raise
            return False
        return True

    async def _drop_room(self, janus: JanusSession, room: str) -> None:
        """Destroy `room` unless another publisher of the front end is in it."""
        if any(r.room == room for r in self.resources.values()):
            return
        try:
            await janus.request({"request": "destroy", "room": room})
        except (JanusError, aiohttp.ClientError, TimeoutError) as exc:
            log.info("room %s: not destroyed: %s", room, exc)

    async def post(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401, text="a bearer token is needed")
        if request.content_type != "application/sdp":
            return web.Response(status=415, text="WHIP takes application/sdp")
        room = request.match_info["room"]
        offer = await request.text()
        self.posts += 1
        assert self.http is not None
        janus: JanusSession | None = None
        made = False
        try:
            janus = await JanusSession.open(self.http, self.janus_url)
            made = await self._ensure_room(janus, room)
            event = await janus.send({"request": "joinandconfigure", "room": room,
                                      "ptype": "publisher", "display": "whip"},
                                     {"type": "offer", "sdp": offer})
        except (JanusError, aiohttp.ClientError, TimeoutError, KeyError) as exc:
            self.errors.append(f"POST {room}: {exc!r}")
            log.warning("WHIP POST to room %s failed: %r", room, exc)
            if janus is not None:
                if made:
                    await self._drop_room(janus, room)
                await janus.destroy()
            return web.Response(status=502, text=f"janus: {exc}")
        data = event.get("plugindata", {}).get("data", {})
        answer = event.get("jsep", {})
        if data.get("videoroom") != "joined" or answer.get("type") != "answer":
            if made:
                await self._drop_room(janus, room)
            await janus.destroy()
            self.errors.append(f"POST {room}: no answer in {json.dumps(event)[:300]}")
            return web.Response(status=502, text="janus gave no answer")
        resource = secrets.token_urlsafe(12)
        self.resources[resource] = Resource(room, janus, data.get("id"))
        log.info("room %s: publisher %s joined (resource %s)", room, data.get("id"), resource)
        return web.Response(status=201, text=answer["sdp"], content_type="application/sdp",
                            headers={"Location": f"/whip/{quote(room, safe='')}/resource/"
                                                 f"{resource}"})

    async def delete(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401, text="a bearer token is needed")
        found = self.resources.pop(request.match_info["resource"], None)
        if found is None:
            return web.Response(status=404, text="no such resource")
        self.deletes += 1
        await self._drop_room(found.janus, found.room)  # the stream ends with its publisher
        await found.janus.destroy()
        log.info("room %s: publisher %s left", found.room, found.publisher_id)
        return web.Response(status=200)

    async def patch(self, request: web.Request) -> web.Response:
        """Trickled candidates are not taken: offers carry theirs (Janus answers in full)."""
        return web.Response(status=405, text="no trickle ICE here")


@contextlib.asynccontextmanager
async def front_end_running(front: FrontEnd, host: str, port: int) -> AsyncIterator[str]:
    """The front end serving on `host:port` until the block ends (its Janus sessions are
    destroyed then); yields its WHIP base URL."""
    runner = web.AppRunner(front.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        yield f"http://{host}:{port}/whip/"
    finally:
        await runner.cleanup()


# --- the subscriber -----------------------------------------------------------------------

async def _publisher_in(janus: JanusSession, room: str, timeout: float) -> int | str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with contextlib.suppress(JanusError):  # the room is not there yet
            data = await janus.request({"request": "listparticipants", "room": room})
            feeds = [p["id"] for p in data.get("participants", []) if p.get("publisher")]
            if feeds:
                return feeds[0]
        await asyncio.sleep(0.5)
    raise TimeoutError(f"no publisher in room {room} within {timeout:.0f} s")


async def _count(track: MediaStreamTrack, times: list[float], until: float) -> None:
    while time.monotonic() < until:
        try:
            await asyncio.wait_for(track.recv(), max(0.1, until - time.monotonic()))
        except TimeoutError:
            return
        except MediaStreamError:
            return
        times.append(time.monotonic())


def frame_report(times: list[float], start: float) -> dict:
    """Frames, and frames per second from one second after the first frame on (as the
    GStreamer player counts them)."""
    if not times:
        return {"frames": 0, "fps": 0.0, "first_frame_s": None}
    steady = [t for t in times if t >= times[0] + 1.0]
    fps = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 and \
        steady[-1] > steady[0] else 0.0
    return {"frames": len(times), "fps": round(fps, 2),
            "first_frame_s": round(times[0] - start, 2)}


async def subscribe(janus_url: str, room: str, seconds: float) -> dict:
    """Join `room` as a subscriber of its publisher through Janus's API (Janus offers,
    aiortc answers, `start`) and count the video frames decoded in `seconds` from the
    first one: `{"frames", "fps", "first_frame_s", "events"}` or `{"error"}`."""
    times: list[float] = []
    start = time.monotonic()  # first frames are timed from the subscription's start
    tracks: asyncio.Queue[MediaStreamTrack] = asyncio.Queue()
    pc = RTCPeerConnection()

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        if track.kind == "video":
            tracks.put_nowait(track)

    async with aiohttp.ClientSession() as http:
        janus: JanusSession | None = None
        try:
            janus = await JanusSession.open(http, janus_url)
            feed = await _publisher_in(janus, room, PUBLISHER_TIMEOUT_S)
            event = await janus.send({"request": "join", "room": room, "ptype": "subscriber",
                                      "streams": [{"feed": feed}]})
            offer = event.get("jsep", {})
            if offer.get("type") != "offer":
                return {"error": f"janus offered nothing: {json.dumps(event)[:300]}"}
            await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            await janus.send({"request": "start"}, {"type": "answer",
                                                    "sdp": pc.localDescription.sdp})
            track = await asyncio.wait_for(tracks.get(), FIRST_FRAME_TIMEOUT_S)
            await asyncio.wait_for(track.recv(), FIRST_FRAME_TIMEOUT_S)
            times.append(time.monotonic())
            await _count(track, times, times[0] + seconds)
            return {**frame_report(times, start), "feed": feed,
                    "events": sorted(set(janus.events))}
        except (JanusError, aiohttp.ClientError, TimeoutError, MediaStreamError,
                KeyError) as exc:
            return {**frame_report(times, start), "error": repr(exc),
                    "events": sorted(set(janus.events)) if janus else []}
        finally:
            await pc.close()
            if janus is not None:
                await janus.destroy()


# --- the chain ----------------------------------------------------------------------------

async def _published(http: aiohttp.ClientSession, url: str, secret: str) -> dict:
    """The session's stream, its avatar's frame rates and its publishers' stats (from
    dancenow's `/stats`)."""
    async with http.get(url + "stats", headers={"X-Session-Secret": secret}) as res:
        session = (await res.json())["sessions"][0]
    return {"stream": session["stream"], "published": session.get("published", []),
            "session": {k: session.get(k) for k in ("fps_in", "fps_out")}}


async def _until_publishing(http: aiohttp.ClientSession, url: str, secret: str,
                            timeout: float) -> dict:
    end = time.monotonic() + timeout
    seen: dict = {}
    while time.monotonic() < end:
        seen = await _published(http, url, secret)
        states = [p["state"] for p in seen["published"]]
        if "publishing" in states or "failed" in states:
            return seen
        await asyncio.sleep(0.3)
    return seen


async def _rooms(janus_url: str) -> list[str]:
    """The VideoRoom's rooms."""
    async with aiohttp.ClientSession() as http:
        janus = await JanusSession.open(http, janus_url)
        try:
            return [r["room"] for r in (await janus.request({"request": "list"}))["list"]]
        finally:
            await janus.destroy()


async def chain(server_url: str, front: FrontEnd, front_port: int, seconds: float) -> dict:
    """The performer's session publishing through the front end, and the subscriber."""
    from benchmarks.reliability import Client

    result: dict = {}
    left_open: int | None = None  # the front end's resources once the session has ended
    async with front_end_running(front, HOST, front_port), aiohttp.ClientSession() as http:
        performer = await Client.start(server_url, "stop")
        try:
            said = await performer.message()
            live = await performer.message()
            result["performer_live_frames"] = live.get("live")
            seen = await _until_publishing(http, server_url, said["secret"], 30)
            result["stream"] = seen.get("stream")
            states = [p["state"] for p in seen.get("published", [])]
            if "publishing" not in states:
                result["error"] = f"the publisher did not publish: {seen.get('published')}"
                return result
            result["subscriber"] = await subscribe(front.janus_url, seen["stream"], seconds)
            after = await _published(http, server_url, said["secret"])
            result["published"], result["session"] = after["published"], after["session"]
            await performer.end()
            end = time.monotonic() + 20
            while front.resources and time.monotonic() < end:  # the publisher's DELETE
                await asyncio.sleep(0.2)
            left_open = len(front.resources)  # before the front end's own clean-up
            result["rooms_left"] = await _rooms(front.janus_url)
        finally:
            performer.kill()
    result["whip"] = {"posts": front.posts, "deletes": front.deletes,
                      "left_open": left_open, "errors": front.errors}
    return result


def inside(seconds: float) -> dict:
    """The run itself, in the namespace."""
    from benchmarks.reliability import free_port, serving

    result: dict = {"seconds": seconds}
    with tempfile.TemporaryDirectory(prefix="dancenow-janus-") as tmp:
        janus_port = free_port(JANUS_HTTP_HOST)
        front_port = free_port(HOST)
        try:
            with janus_running(Path(tmp), JANUS_HTTP_HOST, janus_port, HOST) as janus:
                result["janus"] = (_info(janus.url) or {}).get("version_string")
                front = FrontEnd(janus.url, TOKEN)
                publish = f"http://{HOST}:{front_port}/whip/{{stream}}"
                with serving(["--max-sessions", "1", "--publish", publish,
                              "--publish-token", TOKEN], host=HOST) as server:
                    result.update(asyncio.run(chain(server.url, front, front_port, seconds)))
                if "error" in result or "error" in result.get("subscriber", {}):
                    result["janus_log"] = janus.log_tail(1500)
        except (RuntimeError, TimeoutError, OSError) as exc:
            result["error"] = repr(exc)
    published = result.get("published") or []
    result["frames_sent"] = published[0].get("frames_sent") if published else None
    return result


def markdown(report: dict) -> str:
    r = report["result"]
    sub = r.get("subscriber") or {}
    whip = r.get("whip") or {}
    return "\n".join([
        "# Interop: dancenow --publish -> WHIP front end -> Janus VideoRoom -> subscriber", "",
        f"`{report['command']}`", "",
        f"dancenow's publisher (aiortc, VP8) pushes a session's avatar over WHIP to a small "
        f"front end (`benchmarks/janus_whip.py`) that joins it to Janus Gateway "
        f"{r.get('janus') or ''} (libnice, its own DTLS) as a VideoRoom publisher; an aiortc "
        "client subscribes through Janus's HTTP API and decodes the stream. All peers are in "
        "a network namespace (veth pair).", "",
        "| avatar fps (dancenow) | publisher frames sent | subscriber frames | subscriber fps "
        "| first frame after | WHIP POST / DELETE | error |", "|---|---|---|---|---|---|---|",
        f"| {(r.get('session') or {}).get('fps_out')} | {r.get('frames_sent')} | "
        f"{sub.get('frames')} | {sub.get('fps')} | "
        f"{sub.get('first_frame_s')} s | {whip.get('posts')} / {whip.get('deletes')} | "
        f"{sub.get('error') or r.get('error') or '-'} |", ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0,
                        help="how long the Janus subscriber counts frames")
    parser.add_argument("--out", help="write janus.json and janus.md here")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    if args.inside:
        print(json.dumps(inside(args.seconds)), flush=True)
        return 0
    why = unavailable()
    if why:
        print(json.dumps({"error": why}))
        return 2
    result = netns.run_inside(NETNS_SETUP, "benchmarks.janus_whip",
                              ["--seconds", str(args.seconds)], timeout=args.seconds + 300)
    print(json.dumps(result))
    if args.out:
        from benchmarks.report import command_line, write_results

        report = {"command": command_line("benchmarks.janus_whip", argv), "result": result}
        write_results(args.out, "janus", report, markdown(report))
    sub = result.get("subscriber") or {}
    ok = sub.get("frames") and not sub.get("error") and not result.get("error")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
