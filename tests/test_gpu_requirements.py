"""The GPU requirement sets agree with their names and with the README's version table."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETS = sorted((ROOT / "requirements").glob("gpu-*.txt"))


def _pins(path: Path) -> dict[str, str]:
    lines = [ln.split("#")[0].strip() for ln in path.read_text().splitlines()]
    pins = {}
    for line in filter(None, lines):
        name, spec = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", line).groups()
        pins[name.lower()] = spec
    return pins


def _lowest_major(spec: str) -> int:
    return int(re.search(r">=\s*(\d+)", spec).group(1))


def test_each_set_pins_the_cuda_and_tensorrt_its_name_says() -> None:
    assert {p.stem for p in SETS} >= {"gpu-cu13-trt11", "gpu-cu12-trt11", "gpu-cu12-trt10"}
    for path in SETS:
        cuda, trt = map(int, re.fullmatch(r"gpu-cu(\d+)-trt(\d+)", path.stem).groups())
        pins = _pins(path)
        assert set(pins) == {"onnxruntime-gpu", f"tensorrt-cu{cuda}", "cuda-python"}, path
        assert _lowest_major(pins[f"tensorrt-cu{cuda}"]) == trt, path
        assert f"<{trt + 1}" in pins[f"tensorrt-cu{cuda}"] or trt == 10, path
        assert _lowest_major(pins["cuda-python"]) == cuda, path
        # cuda.bindings.runtime, the import path the trt backend tries first, is 12.6.1+
        assert cuda >= 13 or "12.6.1" in pins["cuda-python"], path


def test_the_readme_lists_every_set() -> None:
    readme = (ROOT / "README.md").read_text()
    for path in SETS:
        assert f"| `{path.stem.removeprefix('gpu-')}` |" in readme, path.stem
