// Which camera frames the page sends for `fps` a second (the rate the server asks for on
// the control channel; server/sendrate.py): each frame earns credit for the time since
// the one before, one credit sends a frame (a little less will do, as frame intervals
// jitter around the camera's period).
"use strict";
const FramePacer = (() => {
  function create(fps) {
    let credit = 1, then = null;
    return {
      fps,
      // Whether the camera frame that came at `now` (seconds) is sent.
      take(now) {
        if (then !== null) credit = Math.min(2, credit + (now - then) * this.fps);
        then = now;
        if (credit < 0.9) return false;
        credit -= 1;
        return true;
      },
    };
  }
  return { create };
})();
