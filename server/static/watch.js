"use strict";
// The viewer page, /watch/<stream>: plays the stream's avatar (and the performer's music)
// over WHEP, fills the window, retries while the stream is not live, and ends its viewer
// when it closes.
(() => {
  const stream = decodeURIComponent(location.pathname.split("/").pop());
  const token = new URLSearchParams(location.search).get("token");
  if (token) history.replaceState(null, "", location.pathname);  // not left in the address
  const video = document.getElementById("avatar");
  const status = document.getElementById("status");
  let pc = null;
  let resource = null;
  let retry = null;

  function again(seconds, why) {
    status.hidden = false;
    status.textContent = why + "; trying again in " + seconds + " s";
    if (pc) pc.close();
    pc = null;
    clearTimeout(retry);
    retry = setTimeout(start, seconds * 1000);
  }

  async function start() {
    pc = new RTCPeerConnection();
    const mine = pc;
    pc.addTransceiver("video", {direction: "recvonly"});
    pc.addTransceiver("audio", {direction: "recvonly"});  // the performer's music, if any
    const media = new MediaStream();
    pc.ontrack = (event) => {
      media.addTrack(event.track);
      video.srcObject = media;
      if (event.track.kind === "audio") unmute();
    };
    pc.onconnectionstatechange = () => {
      if (mine !== pc) return;
      if (pc.connectionState === "connected") status.hidden = true;
      if (["failed", "closed"].includes(pc.connectionState)) again(3, "connection lost");
    };
    try {
      resource = (await whep.exchange(pc, "/whep/" + encodeURIComponent(stream), token)).resource;
    } catch (err) {
      again(err.retryAfter || 5, err.message);
    }
  }

  // Sound needs the browser's leave to play: try, else ask for a click (OBS browser
  // sources play it without one).
  function unmute() {
    video.muted = false;
    video.play().catch(() => {
      video.muted = true;
      video.play().catch(() => {});
      status.hidden = false;
      status.textContent = "click for sound";
      document.addEventListener("click", () => {
        video.muted = false;
        status.hidden = true;
      }, {once: true});
    });
  }

  window.addEventListener("pagehide", () => whep.end(resource, token, true));
  video.addEventListener("playing", () => { status.hidden = true; });
  start();
})();
