"""Benchmarks from the command line.

`dancenow bench pipeline`: the live chain on this machine with a synthetic performer
offered in real time (30 fps by default): sustained output frame rate, capture-to-output
latency p50/p95, per-stage times, and in the same run the sequential baseline (the
same steps one after another per frame), so the pipelining gain is a measured ratio.
"""

from __future__ import annotations

import argparse
import shlex
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    from benchmarks import pipeline

    sub = p.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True,
                           help="which benchmark to run (pipeline)")
    pp = sub.add_parser("pipeline", help="the live chain, pipelined vs sequential",
                        description=pipeline.__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    pipeline.add_arguments(pp)


def run(args: argparse.Namespace) -> int:
    from benchmarks import pipeline

    command = "dancenow " + shlex.join(sys.argv[1:])
    report = pipeline.run_report(args, command)
    print(pipeline.markdown(report))
    return 0
