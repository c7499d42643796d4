/**
 * The scripted desktop workloads of the RDP benchmark, drawn straight on the
 * server's X display (rdp-x11.ts) so every run and every profile sees the
 * same pictures at the same rate:
 *
 * - probe colours for the latency measurement (far apart, and each far from
 *   the next, so a stale tile never matches the colour awaited);
 * - the busy/animated workload: a text pane scrolling one line every 100 ms
 *   (CopyArea up by one line, a new line of words drawn at the bottom, black
 *   on white), and below it a photo-like block (smooth gradients plus noise:
 *   thousands of colours) and a solid square moving 8 px per step at 30 steps
 *   a second, bouncing between the screen's edges. Content is a function of
 *   the step number (seeded), so it is the same in every window.
 */
import type { X11 } from "./rdp-x11.ts";

/** Saturated colours, consecutive ones differing in at least two channels by 255. */
export const PROBE_COLORS = [0xff0000, 0x00ffff, 0x00ff00, 0xff00ff, 0x0000ff, 0xffff00, 0xffffff, 0x000000] as const;

/** The largest per-channel difference of two 0xRRGGBB colours. */
export function colorDistance(a: number, b: number): number {
  return Math.max(Math.abs((a >> 16) - (b >> 16)), Math.abs(((a >> 8) & 255) - ((b >> 8) & 255)), Math.abs((a & 255) - (b & 255)));
}

const WORDS = "fabric remote desktop tile latency frame profile session entry adapter mesh stream quality colour pixel scroll clock window text".split(" ");

/** xorshift32: the same pseudo-random sequence in every run. */
function xorshift(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** A photo-like BGRX image: two smooth gradients and ±24 of noise per channel. */
function photo(w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h * 4);
  const rnd = xorshift(0x5eed);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const n = () => (rnd() % 49) - 24;
      const clamp = (v: number) => Math.max(0, Math.min(255, Math.round(v)));
      const i = (y * w + x) * 4;
      out[i] = clamp((x / w) * 255 + n()); // B
      out[i + 1] = clamp((y / h) * 200 + 30 + n()); // G
      out[i + 2] = clamp(((x + y) / (w + h)) * 255 + n()); // R
    }
  }
  return out;
}

export interface BusyLayout {
  /** The text pane (64-aligned). */
  text: { x: number; y: number; w: number; h: number };
  /** The band the moving block and square travel in. */
  band: { y: number; h: number };
}

/** Where the busy workload draws on a `width`×`height` desktop: beside the 200×200 clock, nothing overlapping the latency probe's square. */
export function busyLayout(width: number, height: number): BusyLayout {
  return { text: { x: 256, y: 0, w: Math.min(512, width - 256), h: 384 }, band: { y: 448, h: Math.min(192, height - 448) } };
}

const LINE = 13;
const STEPS_PER_SECOND = 30;
const STEP_PX = 8;
const BLOCK = { w: 128, h: 96 };
const SQUARE = 64;
const BACKGROUND = 0x202830;

/** Runs the busy workload on `x` until `stop()`; `steps()` says how many animation steps were drawn. */
export function startBusyWorkload(x: X11, layout: BusyLayout): { stop: () => Promise<void>; steps: () => number } {
  const image = photo(BLOCK.w, BLOCK.h);
  const rnd = xorshift(0xc0ffee);
  const { text, band } = layout;
  x.fill(text.x, text.y, text.w, text.h, 0xffffff);
  x.fill(0, band.y, x.width, band.h, BACKGROUND);
  const started = performance.now();
  let step = 0;
  let lines = 0;
  let blockX = 0;
  let squareX = x.width - SQUARE;
  const travel = x.width - BLOCK.w;
  const bounce = (n: number, span: number) => {
    const m = n % (2 * span);
    return m <= span ? m : 2 * span - m;
  };
  const draw = () => {
    // Catch up to the wall clock: the workload's rate does not depend on how busy the machine is.
    const due = Math.floor(((performance.now() - started) / 1000) * STEPS_PER_SECOND);
    if (step >= due) return;
    step = due;
    if (step % 3 === 0) {
      x.copy(text.x, text.y + LINE, text.x, text.y, text.w, text.h - LINE);
      x.fill(text.x, text.y + text.h - LINE, text.w, LINE, 0xffffff);
      const words = Array.from({ length: 12 }, () => WORDS[rnd() % WORDS.length]).join(" ");
      x.text(text.x + 4, text.y + text.h - 3, `${String(++lines).padStart(5, "0")} ${words}`, 0x000000, 0xffffff);
    }
    x.fill(blockX, band.y + 8, BLOCK.w, BLOCK.h, BACKGROUND);
    x.fill(squareX, band.y + band.h - SQUARE - 8, SQUARE, SQUARE, BACKGROUND);
    blockX = bounce(step * STEP_PX, travel);
    squareX = travel + BLOCK.w - SQUARE - bounce(step * STEP_PX, x.width - SQUARE);
    x.putImage(blockX, band.y + 8, BLOCK.w, BLOCK.h, image);
    x.fill(squareX, band.y + band.h - SQUARE - 8, SQUARE, SQUARE, PROBE_COLORS[Math.floor(step / 15) % PROBE_COLORS.length]!);
  };
  const timer = setInterval(draw, 1000 / STEPS_PER_SECOND / 2);
  return {
    steps: () => step,
    stop: async () => {
      clearInterval(timer);
      await x.sync();
    },
  };
}
