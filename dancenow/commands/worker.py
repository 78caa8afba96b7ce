"""Join this machine to a dancenow cluster, or start the cluster's head (Ray Core).

`dancenow serve --cluster ADDRESS` places each session on a node of a Ray cluster that
has a free slot; this command makes this machine such a node. It checks that the avatars
load and the pose models are here (each session runs on the node it is placed on), finds
how many sessions this machine admits as `dancenow serve` does (--max-sessions, or
measured at start), and runs `ray start` with that many `dancenow_slot` resources, in
the foreground until it is interrupted. The avatar bundles must be at the same paths as
on the front door's machine (the same checkout, for instance).

    dancenow worker --head --max-sessions 2          # on the front door's machine
    dancenow serve --cluster auto --host 0.0.0.0 --token T
    dancenow worker --address HEAD:6379              # on every other machine

`--head` starts the head with health checks tuned to notice a dead node within seconds
(server.cluster.HEALTH_CHECKS). Plain `ray start` works as well with the same resource:
`ray start --address HEAD:6379 --resources '{"dancenow_slot": 2}'`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import subprocess
import sys

log = logging.getLogger(__name__)

DEFAULT_PORT = 6379


def add_arguments(p: argparse.ArgumentParser) -> None:
    from dancenow.commands.backends import add_backend_arguments

    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--address", metavar="HOST:PORT",
                       help="the cluster's head to join (what `--head` printed)")
    where.add_argument("--head", action="store_true",
                       help="start the cluster's head on this machine (the front door's)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help="with --head: the port the head listens on")
    p.add_argument("--avatar", action="append", metavar="AVATAR",
                   help="avatar bundle the sessions of this node may run (repeat; default: "
                        "the demo avatars), checked now and timed for --max-sessions")
    add_backend_arguments(p, "the avatars' models", "pose estimator whose models this node "
                          "needs (auto: as for --backend)")
    p.add_argument("--max-sessions", type=_slots, default=None, metavar="N",
                   help="sessions this node runs at once, advertised as N dancenow_slot "
                        "resources (0: none, a head that only coordinates; default: measured "
                        "at start, as `dancenow serve` does)")
    p.add_argument("--num-cpus", type=int, default=None, metavar="N",
                   help="CPUs Ray counts on this node (default: Ray's own count; sessions "
                        "are placed by slots, not CPUs)")
    p.add_argument("--node-ip-address", metavar="IP",
                   help="this machine's address as the other nodes reach it (default: "
                        "Ray's guess)")


def _slots(text: str) -> int:
    from dancenow.commands.serve import whole_number

    value = whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"0 or more sessions, got {value}")
    return value


def ray_start_command(address: str | None, slots: int, port: int = DEFAULT_PORT,
                      num_cpus: int | None = None,
                      node_ip_address: str | None = None) -> list[str]:
    """The `ray start` command line of a node with `slots` session slots: joining the
    head at `address`, or (None) the head itself with the tuned health checks."""
    from server.cluster import HEALTH_CHECKS, SLOT

    command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block",
               "--disable-usage-stats", "--resources", json.dumps({SLOT: slots})]
    if address is None:
        command += ["--head", "--port", str(port), "--include-dashboard", "false",
                    "--system-config", json.dumps(HEALTH_CHECKS)]
    else:
        command += ["--address", address]
    if num_cpus is not None:
        command += ["--num-cpus", str(num_cpus)]
    if node_ip_address:
        command += ["--node-ip-address", node_ip_address]
    return command


def run(args: argparse.Namespace) -> int:
    from dancenow.commands.backends import ready_backends
    from dancenow.commands.serve import admitted_capacity, load_avatars
    from engine.errors import InputError
    from engine.pipeline import PipelineConfig

    if importlib.util.find_spec("ray") is None:
        raise InputError("Ray is not installed: pip install 'dancenow[cluster]'")
    avatars = load_avatars(args.avatar)
    ready_backends(args)
    if args.max_sessions == 0:
        slots = 0
    else:
        pipeline = PipelineConfig(backend=args.backend, pose_backend=args.pose_backend,
                                  pose_threads=1)
        slots = admitted_capacity(args.max_sessions, avatars, pipeline, "VP8").sessions
    command = ray_start_command(None if args.head else args.address, slots, args.port,
                                args.num_cpus, args.node_ip_address)
    log.info("this node serves %d session(s) of %s: %s", slots, ", ".join(avatars),
             " ".join(command[1:]))
    return subprocess.call(command)
