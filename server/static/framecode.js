// The frame number strip of server/framecode.py: 16 cells across the top-left corner,
// each a 40th of the frame's width, 12 bits of counter and a 4-bit checksum.
"use strict";
const FrameCode = (() => {
  const BITS = 16, COUNTER_BITS = 12, WIDTH_PER_CELL = 40;
  const MODULO = 1 << COUNTER_BITS;
  const checksum = (v) => (v ^ (v >> 4) ^ (v >> 8) ^ 0b1010) & 0xF;

  function draw(ctx, width, value) {
    value %= MODULO;
    const word = (value << 4) | checksum(value);
    const cell = width / WIDTH_PER_CELL;
    for (let i = 0; i < BITS; i++) {
      const bit = (word >> (BITS - 1 - i)) & 1;
      ctx.fillStyle = bit ? "#fff" : "#000";
      const x0 = Math.round(i * cell), x1 = Math.round((i + 1) * cell);
      ctx.fillRect(x0, 0, x1 - x0, Math.round(cell));
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

  return { draw, read, stripSize, MODULO };
})();
