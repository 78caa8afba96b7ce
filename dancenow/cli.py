"""`dancenow VERB ...`: argument parsing, logging set-up and error reporting.

Each verb lives in its own module under `dancenow.commands` and is imported only when
used, so `dancenow --help` stays fast. Bad input (`InputError`, unreadable or
unwritable files) exits with code 2 and one line on stderr; `--debug` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from engine.errors import BackendUnavailable, InputError

log = logging.getLogger("dancenow")

# verb -> (module under dancenow.commands, one-line help)
VERBS: dict[str, tuple[str, str]] = {
    "synth": ("synth", "render the synthetic actor dancing, with ground-truth keypoints"),
    "pose": ("pose", "estimate the pose in every frame of a video"),
    "pose-models": ("pose_models", "convert BlazePose (from mediapipe) to ONNX for any backend"),
    "normalize": ("normalize", "map one video's poses onto another's framing and body size"),
    "labelmap": ("labelmap", "render keypoints as the generator's stick-figure input"),
    "prepare": ("prepare", "turn video(s) of the target person into a training data folder"),
    "train": ("train", "train the generator, the temporal model or the face GAN"),
    "eval": ("evaluate", "measure a trained run or an avatar bundle on held-out frames"),
    "export": ("export", "export a trained run as an avatar bundle (ONNX, parity-checked)"),
    "avatar": ("avatar", "videos of the target -> a trained, exported, evaluated avatar with "
                         "its report, in one resumable job (avatar create)"),
    "build-engine": ("build_engine", "build an avatar's TensorRT engines ahead of time"),
    "render": ("render", "render a source video as the avatar dancing it (offline)"),
    "serve": ("serve", "serve the live avatar to browsers over WebRTC"),
    "worker": ("worker", "join this machine to a cluster that serves sessions (Ray)"),
    "bench": ("bench", "benchmark the live pipeline on this machine"),
    "demo": ("demo", "run the built-in demonstration on a synthetic performer"),
}


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults, except the uninformative ones (None, False), and keeps paragraphs."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False) or action.required:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dancenow", formatter_class=_Formatter,
        description="dancenow: real-time motion transfer. A performer dances; a trained "
                    "avatar of a target person dances with them.",
        epilog="Run `dancenow VERB --help` for the options of each verb.")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks and debug logging")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="only warnings and errors; no progress bars")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb, (module, help_text) in VERBS.items():
        mod = importlib.import_module(f"dancenow.commands.{module}")
        p = sub.add_parser(verb, help=help_text, description=mod.__doc__,
                           formatter_class=_Formatter)
        mod.add_arguments(p)
        p.set_defaults(_command=mod.run)
    return parser


def _setup_logging(debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.debug, args.quiet)
    args.progress = not args.quiet and sys.stderr.isatty()
    try:
        return int(args._command(args) or 0)
    except (InputError, BackendUnavailable, OSError) as exc:
        if args.debug:
            raise
        if isinstance(exc, OSError) and exc.filename:
            message = f"{exc.strerror or exc}: {exc.filename}"
        else:
            message = str(exc)
        print(f"dancenow {args.verb}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dancenow {args.verb}: interrupted", file=sys.stderr)
        return 130
