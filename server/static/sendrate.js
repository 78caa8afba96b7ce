// How many camera frames per second the page sends: about as many as the server turns
// into avatar frames. A frame the server has to drop cost the browser's encoder and the
// server's decoder for nothing and waited in queues on the way (latency); a server that
// never drops a frame may be waiting for frames. So the rate falls to what the server
// put out when it drops more than `high` of the frames, climbs (by a tenth a second)
// while it drops fewer than `low`, and holds in between.
"use strict";
const SendRate = (() => {
  // `max`: the camera's rate; `min`: the floor; `low` / `high`: the share of frames lost
  // under which the rate climbs and over which it falls.
  function create({ max = 30, min = 5, low = 0.05, high = 0.15 } = {}) {
    let fps = max;
    let last = null;  // the counters of the previous update
    let credit = 1, then = null;  // for `take`
    return {
      get fps() { return fps; },
      // `counters`: the session's cumulative `out` (frames rendered) and `lost` (frames
      // dropped or skipped as stale) from the server's /stats; `seconds` since the last.
      update(counters, seconds) {
        const previous = last;
        last = { out: counters.out, lost: counters.lost };
        if (previous === null || !(seconds > 0) || counters.out < previous.out) return fps;
        const lost = (counters.lost - previous.lost) / seconds;
        const out = (counters.out - previous.out) / seconds;
        const share = lost + out > 0 ? lost / (lost + out) : 0;
        if (share > high) fps = Math.max(min, Math.min(fps - 1, out * 1.05 + 1));
        else if (share < low) fps = Math.min(max, fps + Math.max(1, fps / 10));
        return fps;
      },
      // Whether the camera frame shown at `now` (ms) is sent: `fps` spread evenly over
      // frames that come at the camera's own rate. Each frame earns credit for the time
      // since the one before; one credit sends a frame (a little less will do, as frame
      // intervals jitter around the camera's period).
      take(now) {
        if (then !== null) credit = Math.min(2, credit + (now - then) * fps / 1000);
        then = now;
        if (credit < 0.9) return false;
        credit -= 1;
        return true;
      },
    };
  }
  return { create };
})();
