"""Sessions placed across machines with Ray Core (`dancenow serve --cluster`).

The front door (the aiohttp application of `server.app`) stays where it is; each session
runs as a Ray actor (`SessionActor`) on a node with a free slot. A node advertises its
admitted capacity as the custom resource `SLOT` (`dancenow_slot`, one per session it
admits), and each session actor asks for one (`num_cpus=0`: slots alone decide
placement, `SPREAD` among the nodes that have one). The actor runs the session exactly as
the single-machine server does (`server.http.open_session` on a `SessionManager` of one
place): aiortc and the live pipeline, whose stages keep their own threads, so the
actor's event loop only moves packets and messages. Only the offer and the answer go
through the front door and Ray; media and the control channel go straight between the
client and the node (ICE).

The front door (`ClusterManager`, used by the application in place of the local
`SessionManager`) holds a handle on every session's actor and watches it: a long call
(`wait_closed`) returns when the session ends by itself (the client stopped, left or
timed out), and fails with `RayActorError` when the actor or its node dies. The session
is then forgotten, its actor killed (its slot is free again), and, after a failure, the
page's next `GET /stats` (with its secret) carries `ended`: a message saying what
happened (`EndedSessions` keeps these for `ENDED_KEEP_S` seconds, at most `ENDED_MAX`).
`/control` and `POST /stats` for such a session answer 410 with the same message.

A session's audience watches it on its node too: the front door hands a WHEP player's
offer to the session's actor, which answers it from its own viewers (`watch`), and keeps
a `RemoteViewer` so that the resource's `DELETE` and trickled candidates reach that
node; the media goes straight between the player and the node, as the performer's does.

How fast a dead node is noticed is the GCS health check's business: `HEALTH_CHECKS` is
the configuration a head started by `dancenow worker --head` or `dancenow serve --cluster
auto` gets (a node is dead after `health_check_failure_threshold` failed checks, one
every `health_check_period_ms`, each allowed `health_check_timeout_ms`), about 5 s for a
node whose processes died and at most 10 s for a machine that vanished, against Ray's
default 15 s to 55 s.

Ray is imported lazily, by the functions that need it: the single-machine server never
imports it.
"""

from __future__ import annotations

import asyncio
import hmac
import importlib.util
import json
import logging
import os
import re
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from aiohttp import web
from aiortc import RTCIceCandidate, RTCSessionDescription

from engine.avatar import AvatarBundle, load_bundle
from engine.errors import InputError
from engine.pipeline.affinity import CpuSetPool
from engine.predict.setting import parse_predict
from server.session import ServerBusy, SessionClosed, SessionManager, SessionOptions

log = logging.getLogger(__name__)

SLOT = "dancenow_slot"  # the custom resource: one per session a node admits
# The GCS health checks of a head node: a node is declared dead after
# health_check_failure_threshold checks in a row fail (Ray's defaults: 3000 ms, 10000 ms,
# 5, i.e. 15 s to 55 s).
HEALTH_CHECKS: dict[str, int] = {
    "health_check_period_ms": 1000,
    "health_check_timeout_ms": 1000,
    "health_check_failure_threshold": 5,
}
PLACE_TIMEOUT_S = 60.0  # a session's actor started and its worker ready on a node
OFFER_TIMEOUT_S = 60.0  # the node answering the offer (its pipeline loads meanwhile)
STATS_EVERY_S = 1.0  # how often the front door refreshes a session's statistics
STATS_TIMEOUT_S = 2.0  # a node slower than this to answer keeps the previous ones
NODES_EVERY_S = 1.0  # how often the front door reads the cluster's nodes
CLOSE_TIMEOUT_S = 10.0  # a session's actor closing its session on shutdown
ENDED_KEEP_S = 120.0  # how long the page can learn that its session's node failed
ENDED_MAX = 256  # ended sessions remembered at most
_MID = re.compile(r"^a=mid:(\S+)", re.MULTILINE)


def detection_bound_s(config: dict[str, int] = HEALTH_CHECKS) -> float:
    """The longest the GCS takes to declare a vanished node dead with `config`: every
    check of the threshold waits its timeout, then the period."""
    per_check = (config["health_check_period_ms"] + config["health_check_timeout_ms"]) / 1e3
    return config["health_check_failure_threshold"] * per_check


def ended_message(node: dict | None) -> str:
    """What the page is told when its session's node or actor failed."""
    where = f" ({node['address']})" if node and node.get("address") else ""
    return (f"The machine serving this session{where} stopped, so the session ended. "
            "Press Start to dance again: another machine will take it.")


# -- nodes and statistics (pure) -------------------------------------------------------------
@dataclass(frozen=True)
class NodeInfo:
    """A node of the cluster as the front door sees it."""

    id: str  # Ray's node id (hex)
    address: str  # the node's IP address
    hostname: str
    alive: bool
    slots: int  # sessions it admits (its SLOT resource)


def parse_nodes(raw: Iterable[dict]) -> list[NodeInfo]:
    """`ray.nodes()` as `NodeInfo`s: every node Ray knows, alive or dead."""
    nodes = []
    for entry in raw:
        resources = entry.get("Resources") or {}
        nodes.append(NodeInfo(id=str(entry.get("NodeID", "")),
                              address=str(entry.get("NodeManagerAddress", "")),
                              hostname=str(entry.get("NodeManagerHostname", "")),
                              alive=bool(entry.get("Alive")),
                              slots=int(resources.get(SLOT, 0))))
    return nodes


def total_slots(nodes: Iterable[NodeInfo]) -> int:
    """Sessions the live nodes admit together."""
    return sum(n.slots for n in nodes if n.alive)


def node_table(nodes: Iterable[NodeInfo], session_nodes: Iterable[str | None]) -> list[dict]:
    """Per live node with slots, or serving sessions: its slots, its sessions and the
    slots left (for `GET /stats`)."""
    counts: dict[str, int] = {}
    for node in session_nodes:
        if node is not None:
            counts[node] = counts.get(node, 0) + 1
    table = []
    for node in nodes:
        serving = counts.get(node.id, 0)
        if not (node.alive and node.slots) and not serving:
            continue
        table.append({"id": node.id, "address": node.address, "hostname": node.hostname,
                      "alive": node.alive, "slots": node.slots, "sessions": serving,
                      "slots_free": max(0, node.slots - serving) if node.alive else 0})
    return table


class EndedSessions:
    """Sessions that ended because their node or actor failed, kept a while (bounded in
    time and count) so that their page learns why from its next request."""

    def __init__(self, keep_s: float = ENDED_KEEP_S, max_count: int = ENDED_MAX,
                 clock: Any = time.monotonic) -> None:
        self.keep_s = keep_s
        self.max_count = max_count
        self.clock = clock
        self._ended: OrderedDict[str, tuple[str, dict, float]] = OrderedDict()

    def __len__(self) -> int:
        self._prune()
        return len(self._ended)

    def add(self, session: str, secret: str, record: dict) -> None:
        """Remember `record` (its `ended` the message) for `session` and its `secret`."""
        self._ended[session] = (secret, record, self.clock())
        self._ended.move_to_end(session)
        self._prune()

    def get(self, session: object, secret: object) -> dict | None:
        """The record of `session` if `secret` is its secret (constant-time compare)."""
        self._prune()
        if not isinstance(session, str) or not isinstance(secret, str):
            return None
        entry = self._ended.get(session)
        if entry is None or not hmac.compare_digest(entry[0].encode(), secret.encode()):
            return None
        return entry[1]

    def for_secret(self, secret: object) -> list[dict]:
        """The records whose secret is `secret` (what `GET /stats` shows a page)."""
        self._prune()
        if not isinstance(secret, str):
            return []
        return [record for own, record, _ in self._ended.values()
                if hmac.compare_digest(own.encode(), secret.encode())]

    def _prune(self) -> None:
        now = self.clock()
        while self._ended:
            _, (_, _, when) = next(iter(self._ended.items()))
            if len(self._ended) <= self.max_count and now - when < self.keep_s:
                break
            self._ended.popitem(last=False)


# -- what crosses Ray between the front door and a node (pure) ---------------------------------
def response_payload(response: web.Response) -> dict:
    """An error answer of `open_session` as plain data, to send back through Ray."""
    try:
        message = json.loads(response.text or "{}").get("error", "")
    except ValueError:
        message = response.text or ""
    return {"status": response.status, "error": message}


def raise_for_payload(payload: dict) -> None:
    """The exception `server.http.open_session` turns back into the node's answer: 400
    InputError, 409 SessionClosed, 503 ServerBusy."""
    status, message = payload.get("status"), str(payload.get("error", ""))
    if status == 200:
        return
    if status == 409:
        raise SessionClosed(message)
    if status == 503:
        raise ServerBusy(message)
    raise InputError(message or f"the node refused the offer ({status})")


def answer_mids(sdp: str) -> list[str]:
    """The `mid`s of an SDP's media sections, in order."""
    return _MID.findall(sdp)


# -- the session on its node --------------------------------------------------------------
class SessionActor:
    """One session on the node Ray placed it on (made a Ray actor by `ClusterManager`).

    Its methods are coroutines: Ray runs them on the actor's event loop, which is also
    aiortc's; the pipeline's stages run in their own threads as on one machine."""

    def __init__(self, avatars: dict[str, str], options: SessionOptions) -> None:
        """`avatars`: name -> bundle folder, which must exist on this node too."""
        bundles: dict[str, AvatarBundle] = {}
        for name, root in avatars.items():
            bundles[name] = load_bundle(root)
        self.manager = SessionManager(bundles, 1, options)
        self.session = None
        self.viewers = None  # its audience's connections, once one asks (ViewerManager)
        self._pool_set = False

    def _use_io_pool(self) -> None:
        """The event loop's default executor bounded and named as the server's own."""
        if self._pool_set:
            return
        from engine.threadnames import named_executor
        from server.app import IO_POOL, io_workers

        asyncio.get_running_loop().set_default_executor(named_executor(IO_POOL,
                                                                       io_workers(1)))
        self._pool_set = True

    async def node(self) -> dict:
        """Where this actor runs: its node's id, address and hostname."""
        import socket

        import ray

        context = ray.get_runtime_context()
        return {"id": context.get_node_id(), "address": ray.util.get_node_ip_address(),
                "hostname": socket.gethostname()}

    async def offer(self, sdp: str, avatar: str, what: str, ingest_only: bool) -> dict:
        """Answer the checked offer as the single-machine server does (`open_session`):
        the answer and the session's names, or `{"status", "error"}`."""
        from server.http import open_session

        self._use_io_pool()
        result = await open_session(self.manager, sdp, avatar, what, ingest_only)
        if isinstance(result, web.Response):
            return response_payload(result)
        self.session = result
        answer = result.pc.localDescription
        return {"status": 200, "sdp": answer.sdp, "type": answer.type, "id": result.id,
                "secret": result.secret, "stream": result.stream,
                "resource": result.resource}

    async def wait_closed(self) -> None:
        """Returns once the session has ended and released everything."""
        if self.session is not None:
            await self.session.closed.wait()

    async def stats(self) -> dict:
        return self.session.stats() if self.session is not None else {}

    async def control(self, action: str) -> None:
        if self.session is not None:
            self.session.control(action)

    async def add_glass_to_glass(self, samples_ms: list[float]) -> None:
        if self.session is not None:
            self.session.add_glass_to_glass(samples_ms)

    async def set_predict(self, setting: str) -> None:
        if self.session is not None:
            self.session.set_predict(setting)

    async def add_candidate(self, candidate: RTCIceCandidate) -> None:
        if self.session is not None:
            await self.session.pc.addIceCandidate(candidate)

    async def watch(self, sdp: str, max_viewers: int) -> dict:
        """A WHEP player of this session's stream answering the checked offer `sdp`:
        `{"status": 201, "sdp", "resource"}`, or `{"status", "error"}` as the
        single-machine server answers (404 ended, 503 full, 400 refused)."""
        from server.http import PEER_REFUSALS, refused_by_peer
        from server.viewer import ViewerManager

        session = self.session
        if session is None or session.state in ("closing", "closed"):
            return {"status": 404, "error": "the stream has ended"}
        if self.viewers is None:
            self.viewers = ViewerManager(max_viewers, self.manager.options)
        try:
            viewer = await self.viewers.open(session.broadcast,
                                             RTCSessionDescription(sdp=sdp, type="offer"))
        except ServerBusy as exc:
            return {"status": 503, "error": str(exc)}
        except PEER_REFUSALS as exc:
            return response_payload(refused_by_peer(exc, "WHEP offer"))
        return {"status": 201, "sdp": viewer.pc.localDescription.sdp, "type": "answer",
                "resource": viewer.resource}

    def _viewer(self, resource: str) -> Any:
        return self.viewers.by_resource(resource) if self.viewers is not None else None

    async def end_viewer(self, resource: str) -> None:
        if (viewer := self._viewer(resource)) is not None:
            viewer.close_soon("deleted by its WHEP client")

    async def add_viewer_candidate(self, resource: str, candidate: RTCIceCandidate) -> None:
        if (viewer := self._viewer(resource)) is not None:
            await viewer.pc.addIceCandidate(candidate)

    async def wait_viewer_closed(self, resource: str) -> None:
        """Returns once the viewer has ended (at once for one that is gone)."""
        if (viewer := self._viewer(resource)) is not None:
            await viewer.closed.wait()

    async def close(self) -> None:
        """End the session and its viewers, and wait until they released everything."""
        if self.viewers is not None:
            await self.viewers.close_all()
        await self.manager.close_all()


# -- the front door's side ---------------------------------------------------------------------
class _RemotePeer:
    """What the routes read of a peer connection on another node: its descriptions, its
    media sections' mids, and trickled candidates (handed to `add_candidate`)."""

    def __init__(self, add_candidate: Callable[[RTCIceCandidate], Awaitable[object]],
                 offer: str, answer: dict) -> None:
        self._add_candidate = add_candidate
        self.remoteDescription = RTCSessionDescription(sdp=offer, type="offer")
        self.localDescription = RTCSessionDescription(sdp=answer["sdp"], type=answer["type"])

    def getTransceivers(self) -> list[SimpleNamespace]:  # noqa: N802 - aiortc's name
        return [SimpleNamespace(mid=mid) for mid in answer_mids(self.localDescription.sdp)]

    async def addIceCandidate(self, candidate: RTCIceCandidate) -> None:  # noqa: N802
        await self._add_candidate(candidate)


class RemoteSession:
    """The front door's handle on a session running on a node: its names, its secret,
    its latest statistics, and its controls (forwarded to its actor)."""

    remote = True  # its media are on another node (server.whip asks it for viewers)

    def __init__(self, actor: Any, node: dict, avatar: str, ingest_only: bool, offer: str,
                 answer: dict) -> None:
        self.actor = actor
        self.node = node
        self.avatar = avatar
        self.ingest_only = ingest_only
        self.id: str = answer["id"]
        self.secret: str = answer["secret"]
        self.stream: str = answer["stream"]
        self.resource: str = answer["resource"]
        self.pc = _RemotePeer(lambda c: self.call("add_candidate", c), offer, answer)
        self.patches = 0  # trickle requests to its resource so far
        self.started = time.time()
        self.latest: dict = {}  # its statistics, as its node last told them
        self.ending: str | None = None  # why it is ending, once it is

    def owned_by(self, secret: object) -> bool:
        if not isinstance(secret, str):
            return False
        return hmac.compare_digest(secret.encode(), self.secret.encode())

    @property
    def state(self) -> str:
        if self.ending is not None:
            return "closing"
        return str(self.latest.get("phase", "connecting"))

    def call(self, method: str, *args: object) -> Any:
        """`method` of the session's actor, as an awaitable reference."""
        return getattr(self.actor, method).remote(*args)

    def control(self, action: str) -> None:
        if action not in ("calibrate", "reset", "stop"):
            raise InputError(f"unknown action {action!r}; use calibrate, reset or stop")
        self.call("control", action)

    def add_glass_to_glass(self, samples_ms: list[float]) -> None:
        self.call("add_glass_to_glass", [float(s) for s in samples_ms])

    def set_predict(self, value: object) -> None:
        self.call("set_predict", str(parse_predict(value)))

    def close_soon(self, why: str) -> None:
        log.info("%s: closing (%s)", self.id, why)
        self.call("control", "stop")

    async def open_viewer(self, sdp: str, max_viewers: int) -> RemoteViewer:
        """A WHEP player of this session, answered by its node (see the module doc).
        Raises ServerBusy (full), LookupError (ended) or InputError (refused)."""
        import ray

        try:
            answer = await asyncio.wait_for(asyncio.ensure_future(
                self.call("watch", sdp, max_viewers)), OFFER_TIMEOUT_S)
        except (TimeoutError, ray.exceptions.RayError) as exc:
            raise ServerBusy(f"the stream's node did not answer ({type(exc).__name__})") \
                from exc
        if answer.get("status") == 404:
            raise LookupError(answer.get("error", "the stream has ended"))
        if answer.get("status") == 503:
            raise ServerBusy(answer.get("error", "the stream is full"))
        if answer.get("status") != 201:
            raise InputError(answer.get("error") or "the node refused the offer")
        return RemoteViewer(self, sdp, answer)

    def stats(self) -> dict:
        base = {"id": self.id, "avatar": self.avatar, "stream": self.stream,
                "ingest_only": self.ingest_only, "phase": self.state,
                "state": "new", "seconds": round(time.time() - self.started, 1)}
        return {**base, **self.latest, "phase": self.state, "node": self.node}


class RemoteViewer:
    """The front door's handle on a WHEP player connected to a session's node: its
    resource (DELETE and PATCH are forwarded) and when it ends."""

    remote = True

    def __init__(self, session: RemoteSession, offer: str, answer: dict) -> None:
        self.session = session
        self.resource: str = answer["resource"]
        self.stream = session.stream
        self.pc = _RemotePeer(lambda c: session.call("add_viewer_candidate", self.resource, c),
                              offer, answer)
        self.patches = 0
        self.closed = asyncio.Event()
        self._watch = asyncio.ensure_future(self._wait())

    async def _wait(self) -> None:
        import ray

        try:
            await self.session.call("wait_viewer_closed", self.resource)
        except ray.exceptions.RayError as exc:  # its node or session failed
            log.info("viewer of %s: gone with its node (%s)", self.stream,
                     type(exc).__name__)
        finally:
            self.closed.set()

    def close_soon(self, why: str) -> None:
        import ray

        log.info("viewer of %s: closing (%s)", self.stream, why)
        try:
            self.session.call("end_viewer", self.resource)
        except ray.exceptions.RayError as exc:
            log.info("viewer of %s: its node is gone (%s)", self.stream, exc)
            self.closed.set()

    async def close(self) -> None:
        self.close_soon("closed by the server")
        self._watch.cancel()
        await asyncio.gather(self._watch, return_exceptions=True)

    def stats(self) -> dict:
        return {"stream": self.stream, "node": self.session.node}


class ClusterManager(SessionManager):
    """The sessions of the cluster, placed by Ray: the application's `SessionManager`
    when it serves with `--cluster` (see the module doc).

    `max_sessions` is the slots of the live nodes together; `full` when the sessions
    live or being placed take them all."""

    def __init__(self, avatars: dict[str, AvatarBundle], options: SessionOptions,
                 address: str, local_slots: int) -> None:
        """`address`: "auto" or a Ray address; `local_slots`: what this machine
        advertises when "auto" finds no cluster and starts a head here."""
        if importlib.util.find_spec("ray") is None:
            raise InputError("--cluster needs Ray: pip install 'dancenow[cluster]'")
        self.avatars = avatars
        self.options = options
        self.address = address
        self.local_slots = local_slots
        self.sessions: dict[str, RemoteSession] = {}  # type: ignore[assignment]
        self.cpu_sets = CpuSetPool(None)  # the nodes' CPUs are theirs to share out
        self.ended = EndedSessions()
        self.nodes: list[NodeInfo] = []
        self._placing = 0
        self._watchers: set[asyncio.Task] = set()
        self._nodes_task: asyncio.Task | None = None
        self._actor_class: Any = None
        self._started_head = False

    # -- the cluster ---------------------------------------------------------------------
    @property
    def max_sessions(self) -> int:  # type: ignore[override]
        return total_slots(self.nodes)

    @property
    def full(self) -> bool:
        return len(self.sessions) + self._placing >= self.max_sessions

    def by_stream(self, stream: str) -> RemoteSession | None:
        return next((s for s in self.sessions.values() if s.stream == stream), None)

    def connect(self) -> None:
        """Join the Ray cluster at `address` (for "auto": the one running on this
        machine, else a new head here advertising `local_slots`)."""
        import ray

        # ray.init makes SIGTERM exit at once; the server's own handler ends the sessions
        main = threading.current_thread() is threading.main_thread()
        on_sigterm = signal.getsignal(signal.SIGTERM) if main else None
        if ray.is_initialized():
            log.info("Ray already initialized in this process: using that cluster")
        elif self.address == "auto":
            try:
                ray.init(address="auto", log_to_driver=True)
            except ConnectionError:
                log.info("no Ray cluster running here: starting a head node")
                ray.init(address="local", resources={SLOT: self.local_slots},
                         include_dashboard=False, _system_config=HEALTH_CHECKS)
                self._started_head = True
                token = os.environ.get("RAY_AUTH_MODE") == "token"  # Ray's default here
                log.info("other machines join with: dancenow worker --address %s%s",
                         ray.get_runtime_context().gcs_address,
                         " (with RAY_AUTH_MODE=token and this machine's ~/.ray/auth_token)"
                         if token else "")
        else:
            ray.init(address=self.address, log_to_driver=True)
        if on_sigterm is not None:
            signal.signal(signal.SIGTERM, on_sigterm)
        self._actor_class = ray.remote(SessionActor)
        self.nodes = parse_nodes(ray.nodes())
        if not total_slots(self.nodes):
            log.warning("no node of the cluster advertises %s: every offer gets 503 until "
                        "one joins (dancenow worker --address ...)", SLOT)
        log.info("cluster: %d node(s), %d session slot(s)",
                 sum(n.alive for n in self.nodes), total_slots(self.nodes))

    async def startup(self, app: web.Application) -> None:
        """Connect (blocking: nothing is served yet) and keep the nodes' table fresh."""
        self.connect()
        self._nodes_task = asyncio.create_task(self._refresh_nodes())

    async def cleanup(self, app: web.Application) -> None:
        import ray

        if self._nodes_task is not None:
            self._nodes_task.cancel()
            await asyncio.gather(self._nodes_task, return_exceptions=True)
        if ray.is_initialized():
            ray.shutdown()

    async def _refresh_nodes(self) -> None:
        import ray

        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(NODES_EVERY_S)
            try:
                self.nodes = parse_nodes(await loop.run_in_executor(None, ray.nodes))
            except ray.exceptions.RaySystemError as exc:
                log.warning("could not read the cluster's nodes: %s", exc)

    def node_table(self) -> list[dict]:
        return node_table(self.nodes, (s.node.get("id") for s in self.sessions.values()))

    # -- sessions ----------------------------------------------------------------------------
    async def open(self, offer: RTCSessionDescription, avatar: str,  # type: ignore[override]
                   ingest_only: bool = False) -> RemoteSession:
        """A session answering `offer` on a node with a free slot. Raises ServerBusy when
        none is free (or none takes it within PLACE_TIMEOUT_S), InputError, SessionClosed
        as the node's `open_session` answered."""
        import ray

        if self.full:
            raise ServerBusy(f"the cluster is busy: {self.max_sessions} session(s) live")
        self._placing += 1
        actor = self._actor_class.options(
            resources={SLOT: 1}, num_cpus=0, max_restarts=0, max_task_retries=0,
            scheduling_strategy="SPREAD",
        ).remote({n: str(b.root) for n, b in self.avatars.items()}, self.options)
        try:
            try:
                node = await asyncio.wait_for(actor.node.remote(), PLACE_TIMEOUT_S)
            except TimeoutError:
                raise ServerBusy(f"no node took the session within {PLACE_TIMEOUT_S:g} s") \
                    from None
            what = "WHIP offer" if ingest_only else "offer"
            try:
                answer = await asyncio.wait_for(
                    actor.offer.remote(offer.sdp, avatar, what, ingest_only), OFFER_TIMEOUT_S)
            except TimeoutError:
                raise ServerBusy(f"the node {node['address']} did not answer within "
                                 f"{OFFER_TIMEOUT_S:g} s") from None
            raise_for_payload(answer)
        except ray.exceptions.RayActorError as exc:
            ray.kill(actor)
            raise ServerBusy(f"the session's node failed while it started ({exc})") from exc
        except ray.exceptions.RayTaskError as exc:
            ray.kill(actor)
            log.error("a node could not start a session: %s", exc)
            raise ServerBusy("the node could not start the session (see the server's "
                             "log)") from exc
        except BaseException:
            ray.kill(actor)
            raise
        finally:
            self._placing -= 1
        session = RemoteSession(actor, node, avatar, ingest_only, offer.sdp, answer)
        self.sessions[session.id] = session
        log.info("session %s on node %s (%s)", session.id, node["id"], node["address"])
        watcher = asyncio.create_task(self._watch(session))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        return session

    async def _watch(self, session: RemoteSession) -> None:
        """Until the session ends: refresh its statistics; when its actor or node dies,
        remember why for its page. Then forget it and free its slot."""
        import ray

        closed = asyncio.ensure_future(session.call("wait_closed"))
        failure: str | None = None
        try:
            while True:
                done, _ = await asyncio.wait({closed}, timeout=STATS_EVERY_S)
                if done:
                    closed.result()  # raises when the actor died
                    break
                try:
                    session.latest = await asyncio.wait_for(
                        asyncio.ensure_future(session.call("stats")), STATS_TIMEOUT_S)
                except (TimeoutError, ray.exceptions.ActorUnavailableError) as exc:
                    # its previous statistics stay; a dead node fails `closed`
                    log.warning("%s: node %s slow to answer (%s)", session.id,
                                session.node["address"], type(exc).__name__)
        except ray.exceptions.RayActorError as exc:
            failure = ended_message(session.node)
            log.warning("%s: its actor or node %s failed: %s", session.id,
                        session.node["address"], exc)
        except ray.exceptions.RayTaskError as exc:
            failure = ended_message(session.node)
            log.error("%s: its actor failed: %s", session.id, exc)
        finally:
            closed.cancel()
            self._forget(session, failure)

    def _forget(self, session: RemoteSession, failure: str | None) -> None:
        import ray

        session.ending = failure or "ended"
        self.sessions.pop(session.id, None)
        ray.kill(session.actor)  # frees its slot at once
        if failure is not None:
            record = {**session.stats(), "phase": "closed", "state": "closed",
                      "ended": failure}
            self.ended.add(session.id, session.secret, record)

    async def close_all(self) -> None:
        import ray

        sessions = list(self.sessions.values())

        async def close(session: RemoteSession) -> None:
            try:
                await asyncio.wait_for(asyncio.ensure_future(session.call("close")),
                                       CLOSE_TIMEOUT_S)
            except (TimeoutError, ray.exceptions.RayError) as exc:
                log.warning("%s: not closed cleanly (%s)", session.id, exc)

        await asyncio.gather(*(close(s) for s in sessions))
        watchers = list(self._watchers)
        for watcher in watchers:  # each forgets its session and kills its actor
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
