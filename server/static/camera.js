// How the page sends its camera: each camera frame it sends (as many a second as the
// server asks for: `hooks.take`) carries the next frame code (`hooks.next`), and the page
// notes when that frame was captured (`hooks.sent`), for glass-to-glass latency;
// `hooks.failed` hears of a camera that could not be read any more.
//
// * "frames" (where the browser has MediaStreamTrackProcessor and -Generator, as
//   Chromium does): the camera's own frames are read as VideoFrames, the code is painted
//   into a copy of their pixels (YUV planes; a canvas for other pixel formats) and the
//   copy goes out on a generated track at the camera's size; the page asks the encoder to
//   scale it down (`scale`). Nothing is drawn or read back through a canvas per frame.
//   Capture times: the frames' own timestamps, moved onto the page's clock by the
//   smallest delay seen between a frame's timestamp and the page reading it.
// * "canvas" (elsewhere, or with `?send=canvas` in the page's address): each camera frame
//   is drawn into a canvas at the size sent, the code over it, and the canvas captured.
//   Capture times: the browser's capture time for the frame where it gives one, else the
//   moment the page drew it.
"use strict";
const CameraSender = (() => {
  const hasFrames = () => typeof MediaStreamTrackProcessor === "function"
    && typeof MediaStreamTrackGenerator === "function" && typeof VideoFrame === "function";

  // A copy of `frame` with code `code` in it: the YUV planes painted where the format
  // allows, else drawn on `scratch` (an OffscreenCanvas). `buffers` keeps the pixel
  // buffer between frames (a VideoFrame built from it takes a copy).
  async function marked(frame, code, buffers, scratch) {
    const width = frame.visibleRect.width, height = frame.visibleRect.height;
    if (FrameCode.YUV_FORMATS.includes(frame.format) && !buffers.failed) {
      try {
        const size = frame.allocationSize();
        if (!buffers.data || buffers.data.length !== size) buffers.data = new Uint8Array(size);
        const layout = await frame.copyTo(buffers.data);
        FrameCode.paintYuv(buffers.data, layout, frame.format, width, height, code);
        return new VideoFrame(buffers.data, { format: frame.format, codedWidth: width,
          codedHeight: height, timestamp: frame.timestamp, layout });
      } catch (err) {
        buffers.failed = true;  // from now on through the canvas
        console.warn(`camera frames in ${frame.format} go through a canvas:`, err);
      }
    }
    if (scratch.width !== width || scratch.height !== height) {
      scratch.width = width; scratch.height = height;
    }
    const ctx = scratch.getContext("2d", { alpha: false });
    ctx.drawImage(frame, 0, 0, width, height);
    FrameCode.draw(ctx, width, code);
    return new VideoFrame(scratch, { timestamp: frame.timestamp });
  }

  function viaFrames(track, hooks) {
    const processor = new MediaStreamTrackProcessor({ track });
    const generator = new MediaStreamTrackGenerator({ kind: "video" });
    const reader = processor.readable.getReader();
    const writer = generator.writable.getWriter();
    const buffers = { data: null }, scratch = new OffscreenCanvas(2, 2);
    let stopped = false, clock = Infinity;  // page time minus frame timestamp, smallest seen
    (async () => {
      try {
        while (!stopped) {
          const { value: frame, done } = await reader.read();
          if (done) break;
          const now = performance.now(), stamp = frame.timestamp / 1000;
          clock = Math.min(clock, now - stamp);
          if (stopped || !hooks.take(now)) { frame.close(); continue; }
          let copy;
          const code = hooks.next();
          try {
            copy = await marked(frame, code, buffers, scratch);
          } finally {
            frame.close();
          }
          hooks.sent(code, stamp + clock);
          await writer.write(copy);
        }
      } catch (err) {
        if (!stopped && hooks.failed) hooks.failed(err);
      }
    })();
    return {
      path: "frames", track: generator, scale: true,
      stop() {
        stopped = true;
        reader.cancel().catch(() => {});
        generator.stop();
      },
    };
  }

  function viaCanvas(video, canvas, width, height, hooks) {
    canvas.width = width; canvas.height = height;
    const ctx = canvas.getContext("2d", { alpha: false });
    // Captured on request, one frame per drawing (the track's method in Chromium, the
    // stream's in Firefox); else at the camera's rate.
    let stream = canvas.captureStream(0);
    const track = stream.getVideoTracks()[0];
    let capture = null;
    if (typeof track.requestFrame === "function") capture = () => track.requestFrame();
    else if (typeof stream.requestFrame === "function") capture = () => stream.requestFrame();
    else stream = canvas.captureStream(hooks.maxFps);
    let stopped = false, timer = null;
    const draw = (now, captured) => {
      if (!hooks.take(now)) return;
      ctx.drawImage(video, 0, 0, width, height);
      const code = hooks.next();
      FrameCode.draw(ctx, width, code);
      if (capture) capture();
      hooks.sent(code, captured === undefined ? performance.now() : captured);
    };
    if ("requestVideoFrameCallback" in video) {
      // Once per new camera frame, as soon as it is there.
      const onCameraFrame = (now, meta) => {
        if (stopped) return;
        draw(now, meta && meta.captureTime > 0 ? meta.captureTime : undefined);
        video.requestVideoFrameCallback(onCameraFrame);
      };
      video.requestVideoFrameCallback(onCameraFrame);
    } else {
      timer = setInterval(() => draw(performance.now()), 1000 / hooks.maxFps);
    }
    return {
      path: "canvas", track: stream.getVideoTracks()[0], scale: false,
      stop() {
        stopped = true;
        clearInterval(timer);
        stream.getTracks().forEach((t) => t.stop());
      },
    };
  }

  // Start sending `cameraTrack` (shown in `video`): "frames" where the browser can and
  // `preferCanvas` is false, else "canvas" through `canvas` at `width` x `height`.
  function start({ cameraTrack, video, canvas, width, height, preferCanvas, hooks }) {
    if (hasFrames() && !preferCanvas) {
      try {
        return viaFrames(cameraTrack, hooks);
      } catch (err) {
        console.warn("camera frames cannot be read here, drawing them instead:", err);
      }
    }
    return viaCanvas(video, canvas, width, height, hooks);
  }

  return { start, hasFrames, marked };
})();
