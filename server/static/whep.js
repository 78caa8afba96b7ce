"use strict";
// WHIP and WHEP from the browser: one offer, its ICE candidates gathered first (no
// trickle), POSTed as application/sdp; the answer comes back with the resource's URL in
// Location, which DELETE ends. Shared by the viewer page and the performer page.
window.whep = (() => {
  function gathered(pc, seconds) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); resolve(); };
      const timer = setTimeout(done, seconds * 1000);  // send what there is by then
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") done();
      });
    });
  }

  // POST pc's offer to url; sets the answer; returns {resource, headers} or throws an
  // Error carrying the server's reason.
  async function exchange(pc, url, token) {
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, 2);
    const headers = {"Content-Type": "application/sdp"};
    if (token) headers.Authorization = "Bearer " + token;
    const res = await fetch(url, {method: "POST", headers, body: pc.localDescription.sdp});
    if (res.status !== 201) {
      let reason = res.statusText;
      try { reason = (await res.json()).error || reason; } catch (e) { /* not JSON */ }
      const err = new Error(reason);
      err.status = res.status;
      err.retryAfter = Number(res.headers.get("Retry-After")) || null;
      throw err;
    }
    await pc.setRemoteDescription({type: "answer", sdp: await res.text()});
    return {resource: res.headers.get("Location"), headers: res.headers};
  }

  // End a resource; `keepalive` lets it outlive a closing page. Resolves when the
  // server has answered, could not be reached, or took more than END_TIMEOUT_MS.
  const END_TIMEOUT_MS = 5000;
  function end(resource, token, keepalive) {
    if (!resource) return Promise.resolve();
    const headers = token ? {Authorization: "Bearer " + token} : {};
    return fetch(resource, {method: "DELETE", headers, keepalive: !!keepalive,
                            signal: AbortSignal.timeout(END_TIMEOUT_MS)})
      .then(() => {}, () => {});
  }

  return {exchange, end, gathered};
})();
