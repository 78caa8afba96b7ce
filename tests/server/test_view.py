"""The page's view settings (server/static/view.js), called directly in headless Chromium:
the mirror switch where the page keeps no storage, and the tracking mode's texts."""

from __future__ import annotations

SETUP = """() => {
    document.body.innerHTML = `<input type="checkbox" id="mirror"><main id="view"></main>
        <p id="tracking" hidden><strong id="mode"></strong> <span id="modeHint"></span></p>`;
    const $ = (id) => document.getElementById(id);
    PageView.mirrorToggle($("mirror"), $("view"));
    const state = () => [$("mirror").checked, $("view").classList.contains("mirrored")];
    const shown = (mode) => {
        PageView.showMode($("tracking"), $("mode"), $("modeHint"), mode);
        return [$("tracking").hidden, $("mode").textContent, $("modeHint").textContent,
                $("tracking").dataset.mode];
    };
    const first = state();
    $("mirror").click();
    const off = state();
    $("mirror").click();
    return { first, off, on: state(),
             modes: ["upper", "none", "full", "sideways", null].map(shown) };
}"""


def test_mirroring_without_storage_and_the_mode_texts(static_page) -> None:  # noqa: ANN001
    # A page set from content has an opaque origin: localStorage throws there, and the
    # switch works all the same (mirrored first; the choice lasts until a reload).
    page = static_page("view.js")
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    got = page.evaluate(SETUP)
    assert got["first"] == [True, True]
    assert got["off"] == [False, False]
    assert got["on"] == [True, True]
    assert any("mirror setting" in w for w in warnings), warnings
    assert got["modes"] == [
        [False, "upper body", "step back to show your legs", "upper"],
        [False, "nobody in view", "step into view", "none"],
        [False, "whole body", "", "full"],
        [False, "sideways", "", "sideways"],  # a mode the page does not know: its name
        [True, "", "", ""],  # none known (not connected): hidden
    ]
