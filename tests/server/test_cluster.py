"""Sessions on a Ray cluster (`dancenow serve --cluster`, `server.cluster`).

The pure parts first (nodes, statistics, ended sessions, what crosses Ray, the `ray
start` command line, the application's answers for a session whose node failed), then a
local multi-node cluster (`ray.cluster_utils.Cluster`): a head without slots and two
worker nodes of one logical CPU and one slot each, the tiny avatar, the real `dancenow
serve --cluster ADDRESS` in a process of its own and each client in a process of its own
(`benchmarks.session_client`). Sessions spread across the nodes by slot, a full cluster
answers 503, a node killed mid-session ends its session with a message within the tuned
detection time and the next offer lands on the other node, and a node added later gets
sessions. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time

import aiohttp
import pytest

from benchmarks.reliability import Client, serving
from dancenow.commands.worker import ray_start_command
from engine.avatar import load_bundle
from engine.errors import InputError
from server.app import CLUSTER, ServeConfig, create_app
from server.cluster import (
    HEALTH_CHECKS,
    SLOT,
    EndedSessions,
    NodeInfo,
    answer_mids,
    detection_bound_s,
    ended_message,
    node_table,
    parse_nodes,
    raise_for_payload,
    response_payload,
    total_slots,
)
from server.http import busy, error
from server.loopback import LoopbackViewer
from server.session import ServerBusy, SessionClosed

log = logging.getLogger(__name__)


# -- pure parts --------------------------------------------------------------------------------
def test_the_tuned_health_checks_notice_a_dead_node_within_ten_seconds() -> None:
    assert detection_bound_s() == 10.0
    assert detection_bound_s({"health_check_period_ms": 3000, "health_check_timeout_ms": 10000,
                              "health_check_failure_threshold": 5}) == 65.0  # Ray's defaults


def test_nodes_and_their_slots_from_ray() -> None:
    raw = [{"NodeID": "a", "Alive": True, "NodeManagerAddress": "10.0.0.1",
            "NodeManagerHostname": "one", "Resources": {"CPU": 8.0, SLOT: 2.0}},
           {"NodeID": "b", "Alive": False, "NodeManagerAddress": "10.0.0.2",
            "NodeManagerHostname": "two", "Resources": {SLOT: 1.0}},
           {"NodeID": "h", "Alive": True, "NodeManagerAddress": "10.0.0.3",
            "NodeManagerHostname": "head", "Resources": {"CPU": 1.0}}]
    nodes = parse_nodes(raw)
    assert [n.slots for n in nodes] == [2, 1, 0] and [n.alive for n in nodes] == [1, 0, 1]
    assert total_slots(nodes) == 2  # the dead node's slot is gone
    table = node_table(nodes, ["a", None])
    assert table == [{"id": "a", "address": "10.0.0.1", "hostname": "one", "alive": True,
                      "slots": 2, "sessions": 1, "slots_free": 1}]
    # a dead node still listed while the front door counts a session on it
    assert [r["id"] for r in node_table(nodes, ["b"])] == ["a", "b"]
    assert node_table(nodes, ["b"])[1]["slots_free"] == 0


def test_ended_sessions_are_kept_a_while_for_their_secret_only() -> None:
    now = [0.0]
    ended = EndedSessions(keep_s=10.0, max_count=2, clock=lambda: now[0])
    ended.add("s1", "k1", {"id": "s1", "ended": "gone"})
    assert ended.get("s1", "k1") == {"id": "s1", "ended": "gone"}
    assert ended.get("s1", "wrong") is None and ended.get("s1", None) is None
    assert ended.for_secret("k1") == [{"id": "s1", "ended": "gone"}]
    assert ended.for_secret("k2") == [] and ended.for_secret(None) == []
    ended.add("s2", "k2", {"id": "s2"})
    ended.add("s3", "k3", {"id": "s3"})
    assert len(ended) == 2 and ended.get("s1", "k1") is None  # at most max_count
    now[0] = 10.0
    assert len(ended) == 0  # and for keep_s seconds at most


def test_the_message_names_the_failed_machine_and_says_what_to_do() -> None:
    text = ended_message({"id": "n", "address": "10.0.0.7"})
    assert "10.0.0.7" in text and "Start" in text
    assert "Start" in ended_message(None)


def test_the_nodes_answers_cross_ray_and_come_back_as_the_same_answers() -> None:
    for response, kind in ((error(400, "no video"), InputError),
                           (error(409, "stopped"), SessionClosed),
                           (busy("full", retry_after=True), ServerBusy)):
        payload = response_payload(response)
        assert json.loads(json.dumps(payload)) == payload
        with pytest.raises(kind) as exc:
            raise_for_payload(payload)
        assert str(exc.value) == json.loads(response.text)["error"]
    raise_for_payload({"status": 200})


def test_mids_of_an_answer() -> None:
    sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\nm=application 9 x\r\na=mid:1\r\n"
    assert answer_mids(sdp) == ["0", "1"]


def test_worker_runs_ray_start_with_its_slots_and_the_head_with_the_health_checks() -> None:
    join = ray_start_command("10.0.0.1:6379", 3, num_cpus=4, node_ip_address="10.0.0.9")
    assert join[1:4] == ["-m", "ray.scripts.scripts", "start"] and "--block" in join
    assert json.loads(join[join.index("--resources") + 1]) == {SLOT: 3}
    assert join[join.index("--address") + 1] == "10.0.0.1:6379"
    assert join[join.index("--num-cpus") + 1] == "4" and "--head" not in join
    assert join[join.index("--node-ip-address") + 1] == "10.0.0.9"
    head = ray_start_command(None, 0, port=6380)
    assert "--head" in head and head[head.index("--port") + 1] == "6380"
    assert json.loads(head[head.index("--system-config") + 1]) == HEALTH_CHECKS
    assert "--address" not in head


class _FakeCluster:
    """What the application reads of a ClusterManager for a session whose node failed."""

    def __init__(self) -> None:
        self.ended = EndedSessions()
        self.ended.add("gone", "its-secret", {"id": "gone", "phase": "closed",
                                              "ended": ended_message({"address": "10.0.0.5"})})

    def node_table(self) -> list[dict]:
        return node_table([NodeInfo("n1", "10.0.0.5", "five", True, 2)], [])


def test_the_page_of_a_session_whose_node_failed_learns_why(run_app, tiny_bundles) -> None:
    bundle = load_bundle(tiny_bundles["fp16"])
    app = create_app(ServeConfig(avatars={bundle.name: bundle}, max_sessions=1))
    app[CLUSTER] = _FakeCluster()

    async def body(http, app) -> None:  # noqa: ANN001
        res = await http.get("/stats", headers={"X-Session-Secret": "its-secret"})
        stats = await res.json()
        assert [s["id"] for s in stats["sessions"]] == ["gone"]
        assert "10.0.0.5" in stats["sessions"][0]["ended"]
        assert stats["nodes"][0]["slots"] == 2
        res = await http.get("/stats", headers={"X-Session-Secret": "other"})
        assert (await res.json())["sessions"] == []
        for path, extra in (("/control", {"action": "calibrate"}),
                            ("/stats", {"glass_to_glass_ms": [100]})):
            res = await http.post(path, json={"session": "gone", "secret": "its-secret",
                                              **extra})
            assert res.status == 410 and "Start" in (await res.json())["error"]
            res = await http.post(path, json={"session": "gone", "secret": "bad", **extra})
            assert res.status == 403

    run_app(app, body)


# -- a local cluster ------------------------------------------------------------------------
NODE_START_TIMEOUT_S = 60.0
SEEN_TIMEOUT_S = 20.0  # the front door seeing a node join or leave
SESSION_TIMEOUT_S = 120.0  # a session placed, its pipeline loaded and live
# a killed node's session is over within the health checks' bound, plus the GCS telling
# the front door and the page's next reading of /stats
DETECTION_SLACK_S = 5.0


@pytest.fixture(scope="module")
def ray_cluster(pose_models):  # noqa: ANN201 - ray.cluster_utils.Cluster and its nodes
    """A head without slots and two nodes of one slot each; shut down afterwards."""
    pytest.importorskip("ray", reason="Ray is not installed (the extra dancenow[cluster])")
    from ray.cluster_utils import Cluster

    with pytest.MonkeyPatch.context() as env:
        env.setenv("DANCENOW_POSE_MODELS", str(pose_models))  # the nodes' processes read it
        env.setenv("DANCENOW_THREADS", "1")
        env.setenv("RAY_USAGE_STATS_ENABLED", "0")
        env.setenv("RAY_AUTH_MODE", "disabled")  # whatever this machine's ~/.ray holds
        cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 0, "include_dashboard": False, "_system_config": HEALTH_CHECKS})
        try:
            nodes = [cluster.add_node(num_cpus=1, resources={SLOT: 1}) for _ in range(2)]
            yield cluster, nodes
        finally:
            cluster.shutdown()


@pytest.fixture(scope="module")
def front_door(ray_cluster, tiny_bundles, pose_models):  # noqa: ANN201 - ServerProcess
    """`dancenow serve --cluster ADDRESS` in a process of its own."""
    cluster, _ = ray_cluster
    options = ["--cluster", cluster.address, "--avatar", str(tiny_bundles["fp16"]),
               "--max-sessions", "1", "--connect-timeout", "20", "--media-timeout", "10"]
    with serving(options, env={"DANCENOW_POSE_MODELS": str(pose_models),
                               "RAY_USAGE_STATS_ENABLED": "0",
                               "RAY_AUTH_MODE": "disabled"}) as server:
        yield server


async def _stats(http: aiohttp.ClientSession, url: str, secret: str | None = None) -> dict:
    headers = {"X-Session-Secret": secret} if secret else {}
    async with http.get(url + "stats", headers=headers,
                        timeout=aiohttp.ClientTimeout(total=10)) as res:
        assert res.status == 200, await res.text()
        return await res.json()


async def _until(check, timeout: float, every: float = 0.2):  # noqa: ANN001, ANN202
    """The first truthy `await check()` within `timeout` seconds."""
    deadline = time.perf_counter() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.perf_counter() > deadline:
            raise TimeoutError(f"not so within {timeout:g} s")
        await asyncio.sleep(every)


async def _live(url: str) -> tuple[Client, dict]:
    """A client process whose session is live: the client and its `{session, secret}`."""
    client = await Client.start(url, "stop")
    try:
        names = await client.message(SESSION_TIMEOUT_S)
        live = await client.message(SESSION_TIMEOUT_S)
    except BaseException:
        client.kill()
        raise
    assert live["live"] >= 5, live
    return client, names


async def _node_of(http: aiohttp.ClientSession, url: str, names: dict) -> str:
    (mine,) = (await _stats(http, url, names["secret"]))["sessions"]
    assert mine["id"] == names["session"]
    return mine["node"]["id"]


async def _all_ended(http: aiohttp.ClientSession, url: str, clients: list[Client]) -> None:
    await asyncio.gather(*(c.end() for c in clients))

    async def empty() -> bool:
        stats = await _stats(http, url)
        return stats["summary"]["count"] == 0
    await _until(empty, SEEN_TIMEOUT_S)


async def _slots(http: aiohttp.ClientSession, url: str, count: int) -> dict:
    async def seen() -> dict | None:
        stats = await _stats(http, url)
        return stats if stats["max_sessions"] == count else None
    return await _until(seen, SEEN_TIMEOUT_S)


async def _watched_through_the_front_door(http: aiohttp.ClientSession, url: str,
                                         names: dict) -> None:
    """A WHEP player of the session's stream, through the front door: its node answers,
    the avatar comes straight from there, and DELETE on the resource ends the viewer."""
    (mine,) = (await _stats(http, url, names["secret"]))["sessions"]
    viewer = LoopbackViewer()
    try:
        async with http.post(f"{url}whep/{mine['stream']}", data=await viewer.offer(),
                             headers={"Content-Type": "application/sdp"}) as res:
            assert res.status == 201, await res.text()
            location = res.headers["Location"]
            await viewer.answer(await res.text())

        async def frames() -> bool:
            return len(viewer.received) >= 5
        await _until(frames, SESSION_TIMEOUT_S)
        (seen,) = (await _stats(http, url, names["secret"]))["sessions"]
        assert [v["node"]["id"] for v in seen["viewer_list"]] == [mine["node"]["id"]]
        async with http.delete(url.rstrip("/") + location) as res:
            assert res.status == 200

        async def gone() -> bool:
            (now,) = (await _stats(http, url, names["secret"]))["sessions"]
            return not now["viewer_list"]
        await _until(gone, SEEN_TIMEOUT_S)
    finally:
        await viewer.close()
    stranger = LoopbackViewer()
    try:
        async with http.post(f"{url}whep/no-such-stream", data=await stranger.offer(),
                             headers={"Content-Type": "application/sdp"}) as res:
            assert res.status == 404
    finally:
        await stranger.close()


def test_sessions_spread_across_nodes_by_slot_and_a_full_cluster_answers_503(
        ray_cluster, front_door, offer_sdp) -> None:
    _, nodes = ray_cluster
    url = front_door.url

    async def body() -> None:
        async with aiohttp.ClientSession() as http:
            stats = await _slots(http, url, 2)
            assert {n["id"] for n in stats["nodes"]} == {n.node_id for n in nodes}
            opened = await asyncio.gather(_live(url), _live(url))
            clients = [c for c, _ in opened]
            try:
                placed = [await _node_of(http, url, names) for _, names in opened]
                assert sorted(placed) == sorted(n.node_id for n in nodes)  # one on each
                stats = await _stats(http, url)
                assert stats["summary"]["count"] == 2
                assert all(n["sessions"] == 1 and n["slots_free"] == 0
                           for n in stats["nodes"])
                await _watched_through_the_front_door(http, url, opened[0][1])
                async with http.post(url + "offer", json={"sdp": offer_sdp,
                                                          "type": "offer"}) as res:
                    assert res.status == 503, await res.text()
                async with http.post(url + "whip", data=offer_sdp,
                                     headers={"Content-Type": "application/sdp"}) as res:
                    assert res.status == 503, await res.text()
                    assert int(res.headers["Retry-After"]) > 0
            finally:
                await _all_ended(http, url, clients)
            stats = await _stats(http, url)
            assert all(n["slots_free"] == 1 for n in stats["nodes"])

    asyncio.run(body())


def test_a_node_killed_mid_session_ends_it_with_a_message_and_the_next_lands_elsewhere(
        ray_cluster, front_door, record_property) -> None:
    cluster, nodes = ray_cluster
    url = front_door.url

    async def body() -> None:
        async with aiohttp.ClientSession() as http:
            await _slots(http, url, 2)
            client, names = await _live(url)
            try:
                where = await _node_of(http, url, names)
                (doomed,) = [n for n in nodes if n.node_id == where]
                start = time.perf_counter()
                cluster.remove_node(doomed, allow_graceful=False)  # its processes killed

                async def ended() -> dict | None:
                    stats = await _stats(http, url, names["secret"])
                    return next((s for s in stats["sessions"] if s.get("ended")), None)
                record = await _until(ended, detection_bound_s() + DETECTION_SLACK_S, 0.1)
                detected = time.perf_counter() - start
            finally:
                client.kill()
            log.info("a killed node's session ended after %.1f s", detected)
            record_property("detection_s", round(detected, 2))
            assert record["id"] == names["session"] and record["node"]["id"] == where
            assert "Start" in record["ended"]
            async with http.post(url + "control", json={"session": names["session"],
                                                        "secret": names["secret"],
                                                        "action": "stop"}) as res:
                assert res.status == 410 and (await res.json())["error"] == record["ended"]
            nodes.remove(doomed)
            stats = await _slots(http, url, 1)  # the dead node's slot is gone
            assert stats["summary"]["count"] == 0
            client, names = await _live(url)
            try:
                assert await _node_of(http, url, names) == nodes[0].node_id
            finally:
                await _all_ended(http, url, [client])

    asyncio.run(body())


def test_a_node_added_later_gets_sessions(ray_cluster, front_door) -> None:
    cluster, nodes = ray_cluster
    url = front_door.url

    async def body() -> None:
        async with aiohttp.ClientSession() as http:
            before = (await _stats(http, url))["max_sessions"]
            added = cluster.add_node(num_cpus=1, resources={SLOT: 1})
            nodes.append(added)
            await _slots(http, url, before + 1)
            opened = await asyncio.gather(*(_live(url) for _ in range(before + 1)))
            try:
                placed = {await _node_of(http, url, names) for _, names in opened}
                assert added.node_id in placed
            finally:
                await _all_ended(http, url, [c for c, _ in opened])

    asyncio.run(body())


def test_without_cluster_the_server_never_imports_ray(tiny_bundles) -> None:
    code = ("import sys; from server.app import ServeConfig, create_app; "
            "from engine.avatar import load_bundle; "
            f"b = load_bundle({str(tiny_bundles['fp16'])!r}); "
            "create_app(ServeConfig(avatars={b.name: b}, max_sessions=1)); "
            "import dancenow.cli; dancenow.cli.build_parser(); "
            "assert 'ray' not in sys.modules, 'ray imported'")
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ})
    assert done.returncode == 0, done.stderr[-2000:]
