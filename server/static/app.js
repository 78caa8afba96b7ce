// dancenow page: camera -> (frame code put in: camera.js) -> WebRTC -> server; avatar
// back on the same connection (or, as a choice, camera over WHIP and avatar over WHEP); glass-to-glass latency from the frame code read off the
// avatar video, from the camera frame's capture to the avatar frame's display. The page
// sends as many camera frames a second as the server asks for on the control channel
// (it asks for what it keeps up with), and the server sends the pose for the overlay
// only while the overlay is on. What the page shows of it (mirrored or not, the tracking
// mode the server reports on the control channel) is view.js's.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const camera = $("camera"), avatarVideo = $("avatarVideo"), poseCanvas = $("poseCanvas");
  const sendCanvas = $("sendCanvas"), readCanvas = $("readCanvas");
  const message = $("message");
  const MAX_SEND = 320;            // longest side of the video sent, pixels
  const SEND_FPS = 30;             // camera frames sent per second, at most
  const params = new URLSearchParams(location.search);
  if (params.get("transport") === "whip") $("transport").value = "whip";
  if (["microphone", "tab"].includes(params.get("music"))) $("music").value = params.get("music");
  if (params.get("token")) {
    $("token").value = params.get("token");
    // out of the address bar and of the Referer of the page's requests
    history.replaceState(null, "", location.pathname);
  }

  // session: its id; secret: its secret from the answer, which its controls and
  // statistics need (the server tells it to this page alone)
  let pc = null, session = null, secret = null, localStream = null, control = null;
  // With the streaming standards (WHIP + WHEP): the avatar's own connection, and the
  // resources (URLs) that DELETE ends.
  let viewerPc = null, resources = [];
  let musicStream = null;         // the performer's music (microphone or tab audio), if any
  let sender = null, statsTimer = null, counter = 0;
  let pacer = FramePacer.create(SEND_FPS);  // the rate the server asks for
  let watching = 0;               // the current avatar loop (a stopped one ends itself)
  const sentAt = new Map();       // frame code -> when its camera frame was captured (ms)
  let glass = [], unsent = [];    // glass-to-glass samples, ms
  let glassTotal = 0;             // samples ever taken (glass keeps the last 600)
  // The last LOG_FRAMES camera frames sent ([code, captured ms]) and avatar frames shown
  // ([code, shown ms]), on the page's clock: what a motion benchmark lines up.
  const LOG_FRAMES = 4000;
  const sentLog = [], shownLog = [];
  const logged = (log, entry) => { log.push(entry); if (log.length > LOG_FRAMES) log.shift(); };
  let poseShown = false;          // the overlay canvas holds a pose
  let lastPose = null;
  let framesShown = 0;            // avatar frame callbacks the page ran
  let presented = 0;              // avatar frames the browser presented (callbacks can skip some)
  let mode = null;                // the tracking mode the server reported last (null: none yet)

  function showMode(value) {
    mode = value;
    PageView.showMode($("tracking"), $("mode"), $("modeHint"), value);
  }

  function say(text, ok = false) {
    message.textContent = text;
    message.className = ok ? "ok" : "";
  }

  function headers() {
    const h = { "Content-Type": "application/json" };
    const token = $("token").value.trim();
    if (token) h.Authorization = "Bearer " + token;
    if (secret) h["X-Session-Secret"] = secret;
    return h;
  }

  async function api(path, body) {
    const res = await fetch(path, body === undefined ? { headers: headers() }
      : { method: "POST", headers: headers(), body: JSON.stringify(body) });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.error || `${path}: HTTP ${res.status}`);
    return data;
  }

  // An avatar's poster image, with the page's headers (the server's token).
  async function posterBlob(url) {
    const res = await fetch(url, { headers: headers() });
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    return res.blob();
  }

  async function loadAvatars() {
    try {
      AvatarPicker.show($("avatarCards"), $("avatar"), await api("/avatars"), posterBlob);
    } catch (err) {
      say("Cannot list the avatars: " + err.message);
    }
  }

  function watchAvatar() {
    const loop = ++watching;
    const ctx = readCanvas.getContext("2d", { willReadFrequently: true });
    let firstPresented = null;
    const onFrame = (now, meta) => {
      if (!pc || loop !== watching) return;
      const w = avatarVideo.videoWidth, h = avatarVideo.videoHeight;
      framesShown++;
      if (meta && meta.presentedFrames !== undefined) {
        if (firstPresented === null) firstPresented = meta.presentedFrames - 1;
        presented = meta.presentedFrames - firstPresented;
      } else {
        presented = framesShown;
      }
      if (w && h) {
        // Only the code's corner is copied out of the video, into a canvas kept
        // between frames (resizing a canvas reallocates it).
        if (readCanvas.width !== w || readCanvas.height !== h) {
          readCanvas.width = w; readCanvas.height = h;
        }
        const [sw, sh] = FrameCode.stripSize(w, h);
        ctx.drawImage(avatarVideo, 0, 0, sw, sh, 0, 0, sw, sh);
        const code = FrameCode.read(ctx, w, h);
        if (code !== null && sentAt.has(code)) {
          // Until the frame is on screen: the browser's expected display time for it.
          const shown = meta && meta.expectedDisplayTime > 0 ? meta.expectedDisplayTime : now;
          const ms = shown - sentAt.get(code);
          if (ms >= 0 && ms < 10000) { glass.push(ms); unsent.push(ms); glassTotal++; }
          logged(shownLog, [code, shown]);
          if (glass.length > 600) glass.shift();
        }
        drawPose();
      }
      avatarVideo.requestVideoFrameCallback(onFrame);
    };
    avatarVideo.requestVideoFrameCallback(onFrame);
  }

  function drawPose() {
    const w = avatarVideo.videoWidth, h = avatarVideo.videoHeight;
    if (poseCanvas.width !== w || poseCanvas.height !== h) {
      poseCanvas.width = w; poseCanvas.height = h;
    }
    const show = $("overlay").checked && lastPose;
    if (!show && !poseShown) return;  // nothing drawn, nothing to draw
    const ctx = poseCanvas.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    poseShown = Boolean(show);
    if (!show) return;
    ctx.fillStyle = "#0f0";
    for (const [x, y] of lastPose) {
      if (x === null) continue;
      ctx.beginPath(); ctx.arc(x, y, 2.5, 0, 2 * Math.PI); ctx.fill();
    }
  }

  const pct = (values, q) => {
    if (!values.length) return null;
    const s = [...values].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))];
  };

  async function refreshStats() {
    if (unsent.length && session) {
      const samples = unsent; unsent = [];
      api("/stats", { session, secret, glass_to_glass_ms: samples }).catch(() => {});
    }
    let mine = null;
    try {
      const all = await api("/stats");
      mine = all.sessions.find((s) => s.id === session);
    } catch (err) { /* shown below as missing */ }
    if (mine && mine.ended) {
      // The machine serving it failed (a node of a cluster): say so; Start begins again
      // on another one.
      stop(true);
      say(mine.ended);
      return;
    }
    const rows = [["glass-to-glass p50 / p95 (this page)",
                   glass.length ? `${pct(glass, 0.5).toFixed(0)} / ${pct(glass, 0.95).toFixed(0)} ms`
                   : "measuring..."]];
    if (mine && !control) {
      // Over WHIP there is no control channel: the rate to send and the tracking mode
      // come from the session's statistics instead, once a second all the same.
      if (mine.send_fps_asked > 0) pacer.fps = Math.min(SEND_FPS, mine.send_fps_asked);
      if (pc && typeof mine.mode === "string" && mine.mode !== mode) showMode(mine.mode);
    }
    if (mine) {
      rows.push(["camera frames sent", `${pacer.fps.toFixed(0)} / s (the server's ask), `
        + `through ${sender ? sender.path : "-"}`]);
      rows.push(["input / output fps", `${mine.fps_in.toFixed(1)} / ${mine.fps_out.toFixed(1)}`]);
      rows.push(["dropped frames", String(mine.dropped)]);
      for (const [stage, s] of Object.entries(mine.stages || {})) {
        if (s) rows.push([`${stage} p50 / p95`, `${s.p50_ms.toFixed(1)} / ${s.p95_ms.toFixed(1)} ms`]);
      }
      if (mine.latency) rows.push(["server latency p50 / p95",
        `${mine.latency.p50_ms.toFixed(1)} / ${mine.latency.p95_ms.toFixed(1)} ms`]);
      const p = mine.predict;
      if (p) rows.push(["pose predicted ahead", p.setting === "off" ? "off" :
        `${(p.horizon_ms || 0).toFixed(0)} ms (${p.setting}` +
        (p.delay_ms != null ? `, delay ${p.delay_ms.toFixed(0)} ms from the ${p.delay_source}` : "") + ")"]);
    }
    $("statsBody").innerHTML = rows.map(([k, v]) => `<tr><td>${k}</td><td>${v}</td></tr>`).join("");
  }

  function showAvatar(e) {
    // A live avatar: ask the browser to show each frame as soon as it is decoded
    // instead of buffering against network jitter (the default target adds latency).
    if ("jitterBufferTarget" in e.receiver) e.receiver.jitterBufferTarget = 0;
    else if ("playoutDelayHint" in e.receiver) e.receiver.playoutDelayHint = 0;
    avatarVideo.srcObject = e.streams[0] || new MediaStream([e.track]);
  }

  // The streaming standards instead of one connection: the camera goes over WHIP
  // (pc, send only), the avatar comes back over WHEP (viewerPc). No control channel: no
  // overlay; the rate to send and the tracking mode come from /stats (refreshStats).
  async function connectWhip() {
    const token = $("token").value.trim();
    const avatar = $("avatar").value;
    const sent = await whep.exchange(pc, "/whip" + (avatar ? "/" + encodeURIComponent(avatar) : ""), token);
    resources.push(sent.resource);
    session = sent.headers.get("Dancenow-Session");
    secret = sent.headers.get("Dancenow-Secret");
    const stream = sent.headers.get("Dancenow-Stream");
    showWatchLink(stream);
    viewerPc = new RTCPeerConnection();
    viewerPc.addTransceiver("video", { direction: "recvonly" });
    viewerPc.ontrack = showAvatar;
    resources.push((await whep.exchange(viewerPc, "/whep/" + encodeURIComponent(stream), token)).resource);
  }

  // One connection: camera and avatar (and the control channel) on pc, POST /offer.
  async function connectOne() {
    await pc.setLocalDescription(await pc.createOffer());
    await whep.gathered(pc, 10);
    const answer = await api("/offer", { sdp: pc.localDescription.sdp, type: "offer", avatar: $("avatar").value || undefined });
    session = answer.session;
    secret = answer.secret;
    showWatchLink(answer.stream);
    await pc.setRemoteDescription({ sdp: answer.sdp, type: answer.type });
  }

  // The performer's music for the audience: none, the microphone, or a tab's audio
  // (the browser asks which tab; only its sound is kept).
  async function musicTrack() {
    const choice = $("music").value;
    try {
      if (choice === "microphone") {
        const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
        musicStream = stream;
        return stream.getAudioTracks()[0] || null;
      }
      if (choice === "tab") {
        const stream = await navigator.mediaDevices.getDisplayMedia({ audio: true, video: true });
        stream.getVideoTracks().forEach((t) => t.stop());
        musicStream = stream;
        return stream.getAudioTracks()[0] || null;
      }
    } catch (err) {
      say("No music: " + err.message);
    }
    return null;
  }

  function useWhip() {
    return $("transport").value === "whip";
  }

  async function start() {
    $("start").disabled = true;
    say("Asking for the camera...");
    try {
      localStream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    } catch (err) {
      $("start").disabled = false;
      localStream = null;
      say(err.name === "NotAllowedError" ? "Camera access was refused: allow the camera and press Start again."
        : "No camera available: " + err.message);
      return;
    }
    camera.srcObject = localStream;
    await camera.play().catch(() => {});
    const cameraTrack = localStream.getVideoTracks()[0];
    cameraTrack.addEventListener("ended", () => {
      if (sender) { say("The camera was disconnected or taken by another program."); stop(); }
    });
    const settings = cameraTrack.getSettings();
    // The pose model sees a 256 px crop: sending more than MAX_SEND px only costs coding time.
    const w = settings.width || 640, h = settings.height || 480;
    const k = Math.min(1, MAX_SEND / Math.max(w, h));
    pacer = FramePacer.create(SEND_FPS);
    sender = CameraSender.start({
      cameraTrack, video: camera, canvas: sendCanvas,
      width: Math.round(w * k / 2) * 2, height: Math.round(h * k / 2) * 2,
      preferCanvas: params.get("send") === "canvas",
      hooks: {
        maxFps: SEND_FPS,
        take: (now) => pacer.take(now / 1000),
        next: () => (counter = (counter + 1) % FrameCode.MODULO),
        sent: (code, captured) => {
          sentAt.set(code, captured);
          logged(sentLog, [code, captured]);
          if (sentAt.size > 600) sentAt.delete(sentAt.keys().next().value);
        },
        failed: (err) => { say("The camera stopped sending: " + err.message); stop(); },
      },
    });
    pc = new RTCPeerConnection();
    const whip = useWhip();
    // The control channel: the overlay switch out; the pose for it and the camera
    // frame rate to send in.
    control = whip ? null : pc.createDataChannel("control");
    if (control) {
      control.onmessage = (e) => {
        let msg = null;
        try { msg = JSON.parse(e.data); } catch (_) { return; }
        if (msg.pose !== undefined) lastPose = msg.pose;
        if (pc && typeof msg.mode === "string" && msg.mode !== mode) showMode(msg.mode);
        if (msg.send_fps > 0) pacer.fps = Math.min(SEND_FPS, msg.send_fps);
      };
      control.onopen = () => { tellOverlay(); tellPredict(); };
    }
    // Frames sent at the camera's size are scaled by the encoder to what is sent.
    const init = { direction: whip ? "sendonly" : "sendrecv" };
    if (sender.scale && k < 1) init.sendEncodings = [{ scaleResolutionDownBy: 1 / k }];
    pc.addTransceiver(sender.track, init);
    // The music goes to the audience only: send only, never played back here (echo).
    const music = await musicTrack();
    if (music) pc.addTransceiver(music, { direction: "sendonly" });
    pc.ontrack = showAvatar;
    pc.onconnectionstatechange = () => {
      if (pc && pc.connectionState === "connected") say("Connected: dance!", true);
      if (pc && pc.connectionState === "failed") { say("The connection failed (network or server)."); stop(); }
    };
    try {
      if (whip) await connectWhip();
      else await connectOne();
    } catch (err) {
      say("Could not connect: " + err.message);
      stop();
      return;
    }
    watchAvatar();
    statsTimer = setInterval(refreshStats, 1000);
    $("calibrate").disabled = false; $("stop").disabled = false;
  }

  // The audience's page for this session's stream (WHEP), or none.
  function showWatchLink(stream) {
    $("watch").hidden = !stream;
    const link = $("watchLink");
    link.href = stream ? "/watch/" + encodeURIComponent(stream) : "#";
    link.textContent = stream ? new URL(link.href, location.href).href : "";
  }

  // Ends the session. Over WHIP its resources are DELETEd before the connections close
  // (a closed connection ends its session too, and a DELETE after that would find
  // nothing), the viewer's before the session's, which takes its viewers with it. On one
  // connection, /control stops it. `ended`: the server has already ended it, there is
  // nothing to ask.
  async function stop(ended = false) {
    watching++;
    const ending = ended ? [] : [...resources].reverse();
    if (session && !ended && !ending.length) {
      api("/control", { session, secret, action: "stop" }).catch(() => {});
    }
    const closing = [pc, viewerPc];
    const tracks = [localStream, musicStream].flatMap((s) => (s ? s.getTracks() : []));
    if (sender) sender.stop();
    clearInterval(statsTimer);
    musicStream = null;
    pc = null; session = null; secret = null; localStream = null; sender = null;
    viewerPc = null; resources = [];
    showMode(null);
    showWatchLink(null);
    $("calibrate").disabled = true; $("stop").disabled = true;
    const token = $("token").value.trim();
    for (const resource of ending) await whep.end(resource, token, false);
    closing.forEach((c) => c && c.close());
    tracks.forEach((t) => t.stop());
    $("start").disabled = false;  // once the server has let the session go
  }

  // The server sends the pose for the overlay only while the overlay is on.
  function tellOverlay() {
    if (control && control.readyState === "open") {
      control.send(JSON.stringify({ overlay: $("overlay").checked }));
    }
  }

  // Pose prediction on (the server's default, by the delay this page measures) or off;
  // over WHIP, where there is no control channel, through /control.
  function tellPredict() {
    const predict = $("predict").checked ? "auto" : "off";
    if (control && control.readyState === "open") control.send(JSON.stringify({ predict }));
    else if (session) api("/control", { session, secret, predict }).catch((e) => say(e.message));
  }

  // Closing or reloading the tab ends its session at once (a keepalive request outlives
  // the page), so its slot is free for the next start instead of after a timeout.
  window.addEventListener("pagehide", () => {
    // The viewer's is sent first, as in stop(), but nothing waits for the answers: a
    // closing page cannot.
    const ending = [...resources].reverse();
    ending.forEach((r) => whep.end(r, $("token").value.trim(), true));
    resources = [];
    if (!session || ending.length) return;
    fetch("/control", { method: "POST", headers: headers(), keepalive: true,
      body: JSON.stringify({ session, secret, action: "stop" }) }).catch(() => {});
    session = null; secret = null;
  });

  PageView.mirrorToggle($("mirror"), $("view"));
  $("start").onclick = start;
  $("overlay").onchange = tellOverlay;
  $("predict").onchange = tellPredict;
  $("stop").onclick = async () => { await stop(); say("Stopped."); };
  $("calibrate").onclick = () => session && api("/control", { session, secret, action: "calibrate" })
    .then(() => say("Calibrating: stand where you will dance.", true)).catch((e) => say(e.message));
  $("avatar").onchange = async () => { if (pc) { await stop(); start(); } };
  $("token").onchange = loadAvatars;
  // The avatar video's receive counters (inbound-rtp), for frames received and decoded
  // whether or not the page got to show each of them.
  async function received() {
    const counts = { framesReceived: 0, framesDecoded: 0, framesDropped: 0 };
    const avatarPc = viewerPc || pc;
    if (!avatarPc) return counts;
    (await avatarPc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && (r.kind || r.mediaType) === "video") {
        for (const k of Object.keys(counts)) counts[k] += r[k] || 0;
      }
    });
    return counts;
  }

  window.dancenow = {
    stats: async () => ({ session, secret, glass: [...glass], glassTotal, framesShown, presented,
                         sendFps: pacer.fps, sendPath: sender && sender.path, mode,
                         connection: pc && pc.connectionState,
                         transport: useWhip() ? "whip" : "offer", ...(await received()) }),
    shown: () => framesShown,
    frameLog: () => ({ sent: sentLog.slice(), shown: shownLog.slice() }),
  };
  loadAvatars();
})();
