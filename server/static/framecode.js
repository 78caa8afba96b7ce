// The frame number strip of server/framecode.py: 16 cells across the top-left corner,
// each a 40th of the frame's width, 12 bits of counter and a 4-bit checksum. Drawn on a
// canvas (`draw`) or straight into a YUV frame's planes (`paintYuv`), read off a canvas
// (`read`).
"use strict";
const FrameCode = (() => {
  const BITS = 16, COUNTER_BITS = 12, WIDTH_PER_CELL = 40;
  const MODULO = 1 << COUNTER_BITS;
  const YUV_FORMATS = ["I420", "I420A", "NV12"];
  const checksum = (v) => (v ^ (v >> 4) ^ (v >> 8) ^ 0b1010) & 0xF;

  // The strip's cells for a frame `width` pixels wide: [x0, x1, white] each, and their
  // height in pixels (the cells are square).
  function cells(width, value) {
    value %= MODULO;
    const word = (value << 4) | checksum(value);
    const cell = width / WIDTH_PER_CELL;
    const out = [];
    for (let i = 0; i < BITS; i++) {
      out.push([Math.round(i * cell), Math.round((i + 1) * cell), (word >> (BITS - 1 - i)) & 1]);
    }
    return { cells: out, rows: Math.round(cell) };
  }

  function draw(ctx, width, value) {
    const { cells: strip, rows } = cells(width, value);
    for (const [x0, x1, white] of strip) {
      ctx.fillStyle = white ? "#fff" : "#000";
      ctx.fillRect(x0, 0, x1 - x0, rows);
    }
  }

  // Paint the strip into a frame's pixels as `VideoFrame.copyTo` laid them out in `data`
  // (`layout`: one {offset, stride} per plane): full-scale luma, neutral chroma, so the
  // cells decode to black and white. `format`: one of YUV_FORMATS.
  function paintYuv(data, layout, format, width, height, value) {
    const { cells: strip, rows } = cells(width, value);
    const luma = layout[0], lines = Math.min(rows, height);
    for (const [x0, x1, white] of strip) {
      for (let y = 0; y < lines; y++) {
        const start = luma.offset + y * luma.stride;
        data.fill(white ? 255 : 0, start + x0, start + x1);
      }
    }
    // Chroma is subsampled by 2 both ways; NV12 interleaves U and V in one plane.
    const chromaLines = Math.ceil(lines / 2), end = Math.ceil(strip[BITS - 1][1] / 2);
    const planes = format === "NV12" ? [[layout[1], 2 * end]] : [[layout[1], end], [layout[2], end]];
    for (const [plane, bytes] of planes) {
      for (let y = 0; y < chromaLines; y++) {
        const start = plane.offset + y * plane.stride;
        data.fill(128, start, start + bytes);
      }
    }
  }

  // The top-left rectangle [width, height] of a frame that holds its code.
  function stripSize(width, height) {
    const cell = width / WIDTH_PER_CELL;
    return [Math.min(width, Math.ceil(BITS * cell) + 1), Math.min(height, Math.ceil(cell) + 1)];
  }

  function read(ctx, width, height) {
    const cell = width / WIDTH_PER_CELL;
    if (cell < 4 || height < cell) return null;
    const half = Math.max(Math.floor(cell / 4), 1), cy = Math.floor(cell / 2);
    const strip = ctx.getImageData(0, 0, ...stripSize(width, height));
    let word = 0;
    for (let i = 0; i < BITS; i++) {
      const cx = Math.floor((i + 0.5) * cell);
      let sum = 0, n = 0;
      for (let y = cy - half; y <= cy + half; y++) {
        for (let x = cx - half; x <= cx + half; x++) {
          const p = (y * strip.width + x) * 4;
          sum += (strip.data[p] + strip.data[p + 1] + strip.data[p + 2]) / 3;
          n++;
        }
      }
      const level = sum / n;
      if (level > 70 && level < 185) return null;
      word = (word << 1) | (level >= 128 ? 1 : 0);
    }
    const value = word >> 4;
    return checksum(value) === (word & 0xF) ? value : null;
  }

  return { draw, paintYuv, read, stripSize, MODULO, YUV_FORMATS };
})();
