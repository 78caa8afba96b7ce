"""The motion lag benchmark's client: a synthetic performer over one connection, in its own
process, recording what it sent and what came back.

It sends a synthetic performer clip (whose true poses are known) to `dancenow serve` as
the page would (`server.loopback.LoopbackClient`), and, like the page, posts its own
end-to-end figure (the round trips of the frames' codes, which `--predict auto` predicts
by) once a second, unless `--no-report-delay` (then the server uses its own latency plus
its network estimate). It turns the overlay on, so the server also sends the pose each
avatar frame was drawn from, with the frame's code.

After `--warmup` clip frames it switches the session's pose prediction through the
settings of `--settings` in turns, a block of `--block` clip frames each. Blocks follow
the clip, not the clock (the camera sends as many frames a second as the server asks
for), and a loop of the clip holds an odd number of blocks, so that in the next loop
each part of the motion comes with the other setting: every setting sees the same
motion. Everything goes to `--out` (npz): the arrivals, frame codes and images of the
avatar frames, the poses drawn with their codes, when each camera frame went out, the
clip's true poses, the blocks, and the server's prediction statistics (once a second).

    python -m benchmarks.lag_client URL --motion dance --seed 41 --out run.npz
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time

import aiohttp
import numpy as np

from benchmarks.session_client import until_live
from server.loopback import LoopbackClient
from synth.clip import ClipSpec, synthesize

log = logging.getLogger("benchmarks.lag_client")
HTTP_TIMEOUT_S = 30.0
CLIP_SECONDS = 20.0  # the performer's clip, played in a loop
CLIP_FRAMES = int(CLIP_SECONDS * 30)


def performer_clip(motion: str, seed: int, size: int) -> tuple[list[np.ndarray], np.ndarray]:
    """The frames and true poses `[F, 33, 3]` of the performer doing `motion`."""
    spec = ClipSpec(actor="performer", motion=motion, seconds=CLIP_SECONDS, size=size, fps=30,
                    seed=seed)
    pairs = list(synthesize(spec))
    return [f for f, _ in pairs], np.stack([kp for _, kp in pairs]).astype(np.float32)


async def _report_delay(http: aiohttp.ClientSession, url: str, answer: dict,
                        client: LoopbackClient, since: float) -> float:
    """Post the round trips since `since` as the page posts its glass-to-glass; returns
    the new `since`."""
    now = time.perf_counter()
    samples = [round(rt * 1e3, 1) for t, rt in client.round_trips if since <= t < now]
    if samples:
        async with http.post(url + "stats", json={"session": answer["session"],
                                                 "secret": answer["secret"],
                                                 "glass_to_glass_ms": samples}) as res:
            res.raise_for_status()
    return now


async def _server_stats(http: aiohttp.ClientSession, url: str, answer: dict) -> dict:
    async with http.get(url + "stats", headers={"X-Session-Secret": answer["secret"]}) as res:
        res.raise_for_status()
        body = await res.json()
    mine = [s for s in body.get("sessions", []) if s.get("id") == answer["session"]]
    return mine[0] if mine else {}


async def run(args: argparse.Namespace) -> dict:
    frames, truth = performer_clip(args.motion, args.seed, args.size)
    client = LoopbackClient(frames)
    blocks: list[tuple[float, float, str]] = []
    samples: list[dict] = []
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            offer = await client.offer()
            async with http.post(args.url + "offer", json=offer) as res:
                if res.status != 200:
                    raise RuntimeError(f"offer refused: {res.status} {(await res.text())[:200]}")
                answer = await res.json()
            await client.answer(answer)
            await until_live(client)
            client.show_overlay(True)
            since = time.perf_counter()
            start = time.perf_counter()
            settings = [args.warmup_setting] + [args.settings[i % len(args.settings)]
                                                for i in range(args.blocks)]
            lengths = [args.warmup] + [args.block] * args.blocks
            until = client.camera.count
            for setting, length in zip(settings, lengths, strict=True):
                client.control.send(json.dumps({"predict": setting}))
                begin, until = time.perf_counter(), until + length
                while client.camera.count < until:
                    await asyncio.sleep(0.25)
                    if time.perf_counter() - since >= 1.0:
                        if args.report_delay:
                            since = await _report_delay(http, args.url, answer, client, since)
                        else:
                            since = time.perf_counter()
                        stats = await _server_stats(http, args.url, answer)
                        samples.append({"t": time.perf_counter(), "setting": setting,
                                        "predict": stats.get("predict")})
                blocks.append((begin, time.perf_counter(), setting))
            log.info("%s seed %d: %d frames back in %.0f s", args.motion, args.seed,
                     len(client.received), time.perf_counter() - start)
    finally:
        await client.close()
    arrivals = np.array([t for t, _ in client.received], np.float64)
    codes = np.array([-1 if c is None else c for c in client.received_codes], np.int32)
    timeline = np.array(client.camera.timeline, np.float64)
    drawn = np.array([[[np.nan, np.nan] if xy[0] is None else xy for xy in pose]
                      for pose in client.poses], np.float64).reshape(-1, 33, 2)
    drawn_codes = np.array([-1 if c is None else c for c in client.pose_codes], np.int32)
    np.savez(args.out, arrivals=arrivals, codes=codes,
             images=np.stack([im for _, im in client.received]),
             sent_times=timeline[:, 0], sent_counts=timeline[:, 1].astype(np.int64),
             truth=truth, drawn=drawn, drawn_codes=drawn_codes,
             round_trips=np.array(client.round_trips, np.float64),
             blocks=json.dumps(blocks), samples=json.dumps(samples))
    return {"frames": len(arrivals), "out": args.out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the server's address, ending in /")
    parser.add_argument("--motion", default="dance", help="the performer's motion")
    parser.add_argument("--seed", type=int, default=41, help="the motion's variation")
    parser.add_argument("--size", type=int, default=320, help="camera frame side, pixels")
    parser.add_argument("--warmup", type=int, default=120,
                        help="clip frames before the first block (the normalization settles)")
    parser.add_argument("--warmup-setting", default="off", help="prediction while warming up")
    parser.add_argument("--settings", nargs="+", default=["off", "auto"],
                        help="prediction settings taken in turns, one per block")
    parser.add_argument("--blocks", type=int, default=10, help="blocks in all")
    parser.add_argument("--block", type=int, default=120,
                        help="clip frames per block (the clip's 600 frames should hold an "
                             "odd number of blocks)")
    parser.add_argument("--no-report-delay", dest="report_delay", action="store_false",
                        help="do not post the round trips (the server then predicts by its "
                             "latency plus its network estimate)")
    parser.add_argument("--out", required=True, help="npz to write")
    args = parser.parse_args(argv)
    if args.block < 1 or args.blocks < 1 or args.warmup < 0:
        parser.error("--block and --blocks must be at least 1, --warmup at least 0")
    if (CLIP_FRAMES // args.block) % 2 == 0 or CLIP_FRAMES % args.block:
        log.warning("%d-frame blocks do not split the %d-frame clip into an odd number: "
                    "the settings will not see the same motion", args.block, CLIP_FRAMES)
    if not args.url.endswith("/"):
        args.url += "/"
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = asyncio.run(run(args))
    except (RuntimeError, TimeoutError, aiohttp.ClientError) as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
