"""What every benchmark does with its results: the command line that produced them, and
the JSON + markdown pair written under a results folder."""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def command_line(module: str, argv: list[str] | None) -> str:
    """`python -m <module> <args>`, as typed (the process's own arguments by default)."""
    args = sys.argv[1:] if argv is None else argv
    return f"python -m {module} {shlex.join(args)}".strip()


def write_results(folder: str | os.PathLike[str], stem: str, report: dict, text: str) -> None:
    """`folder/<stem>.json` and `folder/<stem>.md`, then the markdown on stdout."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (folder / f"{stem}.md").write_text(text)
    log.info("wrote %s and %s", folder / f"{stem}.json", folder / f"{stem}.md")
    print(text)
