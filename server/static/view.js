// What the performer sees. The camera preview and the avatar are mirrored, as in a video
// call, unless the performer switches it off (remembered in localStorage). Mirroring is
// display only: CSS flips the elements (the class "mirrored"), never the frames sent or
// received. The tracking mode the server reports on the control channel (what the camera
// shows of the performer: server/session.py) is shown with what to do about it; every
// text of it is in MODES.
"use strict";
const PageView = (() => {
  const MIRROR_KEY = "dancenow.mirror";  // localStorage: "1" mirrored, "0" not
  // The server's tracking modes (LiveFrame.mode): what the page calls them, and the hint.
  const MODES = {
    full: { label: "whole body", hint: "" },
    upper: { label: "upper body", hint: "step back to show your legs" },
    none: { label: "nobody in view", hint: "step into view" },
  };

  // localStorage throws where the browser keeps no storage for the page: then the
  // choice lasts until the page is reloaded.
  function stored() {
    try {
      return localStorage.getItem(MIRROR_KEY);
    } catch (err) {
      console.warn("the mirror setting cannot be read:", err);
      return null;
    }
  }

  function store(on) {
    try {
      localStorage.setItem(MIRROR_KEY, on ? "1" : "0");
    } catch (err) {
      console.warn("the mirror setting cannot be kept:", err);
    }
  }

  // `checkbox` mirrors the views inside `root`: checked unless switched off before.
  function mirrorToggle(checkbox, root) {
    const apply = () => root.classList.toggle("mirrored", checkbox.checked);
    checkbox.checked = stored() !== "0";
    apply();
    checkbox.addEventListener("change", () => { store(checkbox.checked); apply(); });
  }

  // Show tracking `mode` (a key of MODES; null: none known, hidden) in `box`, which holds
  // the elements `label` and `hint`.
  function showMode(box, label, hint, mode) {
    const known = MODES[mode];
    box.hidden = mode === null;
    box.dataset.mode = mode === null ? "" : mode;
    label.textContent = mode === null ? "" : known ? known.label : String(mode);
    hint.textContent = known ? known.hint : "";
  }

  return { mirrorToggle, showMode, MODES, MIRROR_KEY };
})();
