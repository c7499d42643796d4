/**
 * The frame-latency probe of the RDP benchmark: fill a 64-aligned square of
 * the server's X display with a new colour, learn from the X server's reply
 * that the fill ran (the clock starts there), and stop one clock per watching
 * client when that client shows the colour. Every clock is read in the one
 * process that draws, so no two clocks are compared.
 *
 * Watchers, both event-driven (no polling, so their resolution is the
 * event's delivery, well under a millisecond):
 * - `solidTileWatcher`: our client; a tile message with a SOLID tile of the
 *   colour covering the square's centre (SOLID tiles carry their colour:
 *   nothing left to decode; the viewer paints one with a single fillRect).
 * - `xfreerdpWatcher`: FreeRDP's `xfreerdp` on its own Xvfb; the X DAMAGE
 *   event of its drawing over the square's centre, once a GetImage of that
 *   pixel shows the colour (the event's arrival is the instant taken).
 */
import { sleep } from "../../core/runtime/index.ts";
import { X11 } from "./rdp-x11.ts";
import { colorDistance, PROBE_COLORS } from "./rdp-workload.ts";

/** How far (max over R, G, B) a shown colour may be from the drawn one: the server's codec may be lossy (FreeRDP's NSCodec at 32 bpp is). */
export const COLOR_TOLERANCE = 12;

export interface Probe {
  x: number;
  y: number;
  size: number;
}

export interface Watcher {
  name: string;
  /** Resolves with the instant (performance.now() ms) the client showed `color`. */
  arm(color: number): Promise<number>;
  disarm(): void;
  close(): void;
}

export interface LatencyRun {
  /** Per watcher, per change: ms from the fill's confirmation to the client showing it, or null when it did not within the timeout. */
  ms: Record<string, (number | null)[]>;
  /** Per change: ms from writing the fill to the X server's reply (the change happened inside this). */
  syncMs: number[];
}

const centre = (p: Probe) => ({ cx: p.x + p.size / 2, cy: p.y + p.size / 2 });
const covers = (r: { x: number; y: number; w: number; h: number }, cx: number, cy: number) => cx >= r.x && cx < r.x + r.w && cy >= r.y && cy < r.y + r.h;

type TileLike = { x: number; y: number; w: number; h: number; encoding: string; bytes: Uint8Array };

/** Our client: `subscribe` hands over each tile message's tiles with the instant it was parsed. */
export function solidTileWatcher(probe: Probe, subscribe: (listener: (tiles: TileLike[], atMs: number) => void) => () => void): Watcher {
  const { cx, cy } = centre(probe);
  let awaited: { color: number; seen: (at: number) => void } | null = null;
  const unsubscribe = subscribe((tiles, at) => {
    const a = awaited;
    if (!a) return;
    for (const t of tiles) {
      if (t.encoding !== "solid" || !covers(t, cx, cy)) continue;
      if (colorDistance((t.bytes[0]! << 16) | (t.bytes[1]! << 8) | t.bytes[2]!, a.color) <= COLOR_TOLERANCE) a.seen(at);
    }
  });
  return {
    name: "fabric",
    arm: (color) => new Promise((seen) => (awaited = { color, seen })),
    disarm: () => (awaited = null),
    close: unsubscribe,
  };
}

/** `xfreerdp`'s window on the Xvfb `display` (nothing else draws there). */
export async function xfreerdpWatcher(probe: Probe, display: string): Promise<Watcher> {
  const { cx, cy } = centre(probe);
  const x = await X11.open(display);
  let awaited: { color: number; seen: (at: number) => void } | null = null;
  await x.watchDamage((r, at) => {
    const a = awaited;
    if (!a || !covers(r, cx, cy)) return;
    void x
      .pixel(cx, cy)
      .then((p) => colorDistance(p, a.color) <= COLOR_TOLERANCE && a.seen(at))
      .catch(() => {});
  });
  return {
    name: "xfreerdp",
    arm: (color) => new Promise((seen) => (awaited = { color, seen })),
    disarm: () => (awaited = null),
    close: () => x.close(),
  };
}

/**
 * Waits until the client on `clientDisplay` (xfreerdp's Xvfb) shows changes of the server's display: fills the probe
 * square with two grays in turn, 500 ms apart, until the client's pixel at its centre has the last one. (The initial
 * picture is no sign: at the clock's centre its hands are black, like an empty screen.)
 */
export async function waitUntilShown(serverDisplay: string, clientDisplay: string, probe: Probe, timeoutMs: number): Promise<boolean> {
  const { cx, cy } = centre(probe);
  const draw = await X11.open(serverDisplay);
  const look = await X11.open(clientDisplay);
  try {
    const deadline = performance.now() + timeoutMs;
    for (let k = 0; performance.now() < deadline; k++) {
      const gray = k % 2 === 0 ? 0x404040 : 0x808080;
      await draw.fillSynced(probe.x, probe.y, probe.size, probe.size, gray);
      await sleep(500);
      if (colorDistance(await look.pixel(cx, cy), gray) <= COLOR_TOLERANCE) return true;
    }
    return false;
  } finally {
    draw.close();
    look.close();
  }
}

/** `count` fills of the probe square on `serverDisplay`, `gapMs` apart (random in the range), each timed by every watcher. */
export async function measureLatency(
  serverDisplay: string,
  probe: Probe,
  o: { count: number; gapMs: [number, number]; timeoutMs: number },
  watchers: Watcher[],
): Promise<LatencyRun> {
  const draw = await X11.open(serverDisplay);
  const run: LatencyRun = { ms: Object.fromEntries(watchers.map((w) => [w.name, []])), syncMs: [] };
  try {
    for (let i = 0; i < o.count; i++) {
      const color = PROBE_COLORS[i % PROBE_COLORS.length]!;
      const shown = watchers.map((w) => w.arm(color));
      const { sentMs, doneMs } = await draw.fillSynced(probe.x, probe.y, probe.size, probe.size, color);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<null>((r) => (timer = setTimeout(() => r(null), o.timeoutMs)));
      const results = await Promise.all(shown.map((p) => Promise.race([p, timeout])));
      clearTimeout(timer);
      watchers.forEach((w, k) => {
        w.disarm();
        const at = results[k];
        run.ms[w.name]!.push(at === null || at === undefined ? null : at - doneMs);
      });
      run.syncMs.push(doneMs - sentMs);
      await sleep(o.gapMs[0] + Math.random() * (o.gapMs[1] - o.gapMs[0]));
    }
  } finally {
    draw.close();
  }
  return run;
}
