"""The avatar report (`train.report`) as a self-contained HTML page and as markdown.

The page opens from disk with nothing else: its CSS is inline, its images are `data:`
URIs, it has no script and names no other address. The markdown carries the same
tables and links its pictures as files beside it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from train.coverage import POSE_KINDS
from train.report_plots import StageLog, data_uri

NO_LOGS = "No loss logs (train_log-<stage>.jsonl) were found in the runs."


@dataclass(frozen=True)
class MetricRow:
    """One held-out metric against its bar."""

    label: str
    value: str  # formatted, "-" when not measured
    bar: str  # e.g. ">= 0.88"
    demo: str  # what the committed demo avatars scored
    passed: bool | None  # None: not measured


@dataclass
class Report:
    """Everything the report shows, already measured."""

    name: str
    description: str
    facts: list[tuple[str, str]]
    metric_rows: list[MetricRow]
    other_metrics: list[tuple[str, str]]
    sample_captions: list[str]
    samples_jpeg: bytes | None
    curves_png: bytes | None
    logs: list[StageLog]
    coverage: dict | None
    coverage_source: str
    stage_seconds: dict[str, float]
    speed: dict[str, dict]  # model -> p50_ms, p95_ms, backend
    speed_note: str
    poster_jpeg: bytes | None
    files: dict[str, str] = field(default_factory=dict)  # picture -> path for the markdown

    @property
    def bars_met(self) -> tuple[int, int]:
        measured = [r for r in self.metric_rows if r.passed is not None]
        return sum(r.passed for r in measured), len(measured)


def minutes(seconds: float) -> str:
    """`62.3 min`, or `41 s` under a minute."""
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def _verdict(passed: bool | None) -> str:
    return {True: "pass", False: "FAIL", None: "not measured"}[passed]


def _limb_rows(coverage: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    for key, e in coverage["limbs"].items():
        rng = "-" if e["p5"] is None else f"{e['p5']:.0f} .. {e['p95']:.0f}"
        rows.append((key.replace("_", " "), f"{e['seen']:.0%}", rng, f"{e['circle']:.0%}"))
    return rows


def _pose_rows(coverage: dict) -> list[tuple[str, str, str]]:
    rows = []
    for key, (what, _) in POSE_KINDS.items():
        e = coverage["poses"].get(key)
        if e is not None:
            rows.append((what.removeprefix("with a "), str(e["frames"]), f"{e['share']:.1%}"))
    return rows


def _speed_rows(report: Report) -> list[tuple[str, str, str, str]]:
    return [(name, s["backend"], f"{s['p50_ms']:.2f}", f"{s['p95_ms']:.2f}")
            for name, s in report.speed.items()]


# -- HTML ---------------------------------------------------------------------------------
CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1000px;
       padding: 1.2rem 1.5rem 3rem; color: #1d1d1f; background: #fafafa; }
h1 { margin: 0 0 .2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
.head { display: flex; gap: 1.2rem; align-items: flex-start; }
.head img { width: 160px; height: 160px; border-radius: 6px; background: #222; }
.desc { color: #555; margin: 0 0 .6rem; }
table { border-collapse: collapse; margin: .4rem 0; }
th, td { padding: .25rem .8rem .25rem 0; text-align: left; vertical-align: top; }
th { color: #666; font-weight: 600; border-bottom: 1px solid #ddd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #0a7a2f; font-weight: 600; } .fail { color: #b3261e; font-weight: 700; }
.none { color: #888; }
figure { margin: .6rem 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #666; font-size: 13px; }
.bar { background: #4a78c2; height: .8rem; display: inline-block; vertical-align: middle; }
ul.warn li { color: #8a4b00; }
.note { color: #666; font-size: 13px; }
"""


_VERDICT_CLASS = {True: "pass", False: "fail", None: "none"}


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(head: tuple[str, ...], rows: list[tuple], numeric: tuple[int, ...] = ()) -> str:
    out = ["<table>"]
    if any(head):
        out += ["<thead><tr>", *(f"<th>{_e(h)}</th>" for h in head), "</tr></thead>"]
    out.append("<tbody>")
    for row in rows:
        cells = [f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                 for i, c in enumerate(row)]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _img(data: bytes | None, mime: str, alt: str, caption: str = "") -> str:
    if data is None:
        return f'<p class="none">{_e(alt)}: none.</p>'
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{data_uri(data, mime)}" alt="{_e(alt)}">{cap}</figure>'


def render_html(report: Report) -> str:
    """The report as one HTML page that needs no other file."""
    met, measured = report.bars_met
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{_e(report.name)}: avatar report</title>",
             '<link rel="icon" href="data:,">', f"<style>{CSS}</style></head><body>",
             '<div class="head">']
    if report.poster_jpeg is not None:
        parts.append(f'<img src="{data_uri(report.poster_jpeg, "image/jpeg")}" '
                     'alt="poster: a generated held-out frame">')
    parts += [f"<div><h1>{_e(report.name)}</h1>", f'<p class="desc">{_e(report.description)}</p>',
              _table(("", ""), [(_e(k), _e(v)) for k, v in report.facts]), "</div></div>"]

    parts.append(f"<h2>Held-out metrics: {met} of {measured} bars met</h2>")
    rows = [(_e(r.label), _e(r.value), _e(r.bar), _e(r.demo),
             f'<span class="{_VERDICT_CLASS[r.passed]}">{_e(_verdict(r.passed))}</span>')
            for r in report.metric_rows]
    parts.append(_table(("metric", "this avatar", "bar", "demo / demo-live", "verdict"), rows,
                        (1,)))
    parts.append('<p class="note">The bars are what the committed demo avatars meet on '
                 "motions they never saw (benchmarks/results/quality.md and the README's "
                 "figures), rounded outwards.</p>")
    if report.other_metrics:
        parts.append('<p class="note">' + _e("; ".join(f"{k} {v}" for k, v
                                                      in report.other_metrics)) + "</p>")

    parts.append("<h2>Held-out samples</h2>")
    parts.append(_img(report.samples_jpeg, "image/jpeg", "sample frames",
                      "label | generated | real, on motions training never saw"))

    parts.append("<h2>Training curves</h2>")
    if report.curves_png is None:
        parts.append(f'<p class="none">{_e(NO_LOGS)}</p>')
    else:
        parts.append(_img(report.curves_png, "image/png", "loss curves",
                          "losses per stage against the step (log scale)"))
    if report.logs:
        rows = [(_e(g.run), _e(g.stage), str(g.steps),
                 _e(", ".join(f"{k} {v:.3g}" for k, v in g.last().items())))
                for g in report.logs]
        parts.append(_table(("run", "stage", "steps", "last logged losses"), rows, (2,)))

    parts.append("<h2>Pose coverage</h2>")
    parts.append(_coverage_html(report))

    parts.append("<h2>Time per stage</h2>")
    total = sum(report.stage_seconds.values())
    if total > 0:
        rows = [(_e(k), minutes(v), f'<span class="bar" style="width:{240 * v / total:.0f}px">'
                 "</span>") for k, v in report.stage_seconds.items()]
        rows.append(("<b>total</b>", f"<b>{minutes(total)}</b>", ""))
        parts.append(_table(("stage", "time", ""), rows, (1,)))
    else:
        parts.append('<p class="none">No stage times were given.</p>')

    parts.append("<h2>Speed on this machine</h2>")
    parts.append(_table(("model", "backend", "p50 ms", "p95 ms"),
                        [tuple(_e(c) for c in r) for r in _speed_rows(report)], (2, 3)))
    parts.append(f'<p class="note">{_e(report.speed_note)}</p>')
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _coverage_html(report: Report) -> str:
    cov = report.coverage
    if cov is None:
        return '<p class="none">No pose coverage: the data folders were not found.</p>'
    out = [f'<p class="note">{_e(report.coverage_source)}: {cov["frames"]} frames with a '
           "person. Angles in degrees: 0 down, 90 out to the side, 180 up.</p>",
           _table(("limb", "seen", "5th .. 95th pct", "circle"),
                  [tuple(_e(c) for c in r) for r in _limb_rows(cov)], (1, 3)),
           _table(("pose", "frames", "share"),
                  [tuple(_e(c) for c in r) for r in _pose_rows(cov)], (1, 2))]
    warnings = cov.get("warnings") or []
    if warnings:
        out.append("<p>What it lacks:</p><ul class=\"warn\">"
                   + "".join(f"<li>{_e(w)}</li>" for w in warnings) + "</ul>")
    else:
        out.append("<p>What it lacks: nothing the coverage checks find.</p>")
    return "\n".join(out)


# -- markdown -----------------------------------------------------------------------------
def _md_table(head: tuple[str, ...], rows: list[tuple], numeric: tuple[int, ...] = ()) -> list[str]:
    align = "|".join("---:" if i in numeric else "---" for i in range(len(head)))
    out = ["| " + " | ".join(head) + " |", f"|{align}|"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return out + [""]


def render_markdown(report: Report) -> str:
    """The report as markdown; pictures are the files named in `report.files`."""
    met, measured = report.bars_met
    lines = [f"# {report.name}: avatar report", "", report.description, ""]
    if "poster" in report.files:
        lines += [f"![poster]({report.files['poster']})", ""]
    lines += _md_table(("", ""), report.facts)
    lines += [f"## Held-out metrics: {met} of {measured} bars met", ""]
    lines += _md_table(("metric", "this avatar", "bar", "demo / demo-live", "verdict"),
                       [(r.label, r.value, r.bar, r.demo, _verdict(r.passed))
                        for r in report.metric_rows], (1,))
    lines += ["The bars are what the committed demo avatars meet on motions they never saw "
              "(benchmarks/results/quality.md and the README's figures), rounded outwards.", ""]
    if report.other_metrics:
        lines += ["; ".join(f"{k} {v}" for k, v in report.other_metrics), ""]
    lines += ["## Held-out samples", ""]
    if "samples" in report.files:
        lines += [f"![label, generated, real]({report.files['samples']})", "",
                  "label | generated | real, on motions training never saw: "
                  + "; ".join(report.sample_captions), ""]
    lines += ["## Training curves", ""]
    if "curves" in report.files:
        lines += [f"![loss curves]({report.files['curves']})", ""]
    if report.logs:
        lines += _md_table(("run", "stage", "steps", "last logged losses"),
                           [(g.run, g.stage, g.steps,
                             ", ".join(f"{k} {v:.3g}" for k, v in g.last().items()))
                            for g in report.logs], (2,))
    else:
        lines += [NO_LOGS, ""]
    lines += ["## Pose coverage", ""]
    cov = report.coverage
    if cov is None:
        lines += ["No pose coverage: the data folders were not found.", ""]
    else:
        lines += [f"{report.coverage_source}: {cov['frames']} frames with a person. Angles in "
                  "degrees: 0 down, 90 out to the side, 180 up.", ""]
        lines += _md_table(("limb", "seen", "5th .. 95th pct", "circle"), _limb_rows(cov),
                           (1, 3))
        lines += _md_table(("pose", "frames", "share"), _pose_rows(cov), (1, 2))
        warnings = cov.get("warnings") or []
        if warnings:
            lines += ["What it lacks:", ""] + [f"- {w}" for w in warnings]
        else:
            lines.append("What it lacks: nothing the coverage checks find.")
        lines.append("")
    lines += ["## Time per stage", ""]
    total = sum(report.stage_seconds.values())
    lines += _md_table(("stage", "time"), [(k, minutes(v)) for k, v in
                                           report.stage_seconds.items()]
                       + [("**total**", f"**{minutes(total)}**")], (1,))
    lines += ["## Speed on this machine", ""]
    lines += _md_table(("model", "backend", "p50 ms", "p95 ms"), _speed_rows(report), (2, 3))
    lines += [report.speed_note, ""]
    return "\n".join(lines)
