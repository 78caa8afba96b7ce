"""Runs inside a network namespace of their own, for peers that cannot meet on loopback.

aioice (aiortc's ICE) never gathers 127.0.0.1, and libnice (GStreamer's and Janus's ICE)
never gathers loopback candidates, so interop runs put their peers on a veth pair inside a
namespace the run makes itself (`unshare -n`, root only; nothing in it is routed
anywhere). A module re-executes itself there with `--inside` and prints its result as one
JSON line, which `run_inside` returns.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def veth_setup(ends: tuple[str, str], addresses: tuple[str, str]) -> str:
    """Shell commands that bring up loopback and a veth pair `ends` with `addresses` (/24)."""
    (a, b), (ip_a, ip_b) = ends, addresses
    return (f"ip link set lo up && ip link add {a} type veth peer name {b} && "
            f"ip addr add {ip_a}/24 dev {a} && ip addr add {ip_b}/24 dev {b} && "
            f"ip link set {a} up && ip link set {b} up")


def unavailable() -> str | None:
    """Why a network namespace cannot be made here (None when it can)."""
    if os.geteuid() != 0:
        return "needs root for a network namespace (unshare -n)"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"needs {tool} (util-linux, iproute2)"
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        return "cannot make a network namespace here (unshare -n failed)"
    return None


def run_inside(setup: str, module: str, args: list[str], timeout: float) -> dict:
    """`python -m module --inside args` in a new namespace set up by `setup`: the last JSON
    line it printed, or `{"error": ...}` with the end of its standard error."""
    command = " ".join([setup, "&&", "exec", sys.executable, "-m", module, "--inside", *args])
    done = subprocess.run(["unshare", "-n", "bash", "-c", command], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    lines = [x for x in done.stdout.splitlines() if x.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": done.stderr[-2000:]}
