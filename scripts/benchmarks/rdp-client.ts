/**
 * One remote-desktop client of the RDP benchmark (scripts/benchmarks/rdp.ts),
 * in its own Bun process because Bun trusts the entry's self-signed
 * certificate only through NODE_EXTRA_CA_CERTS, read at start-up. It is the
 * access client library (web/access/client/rdp-session.ts) over the WebSocket
 * fallback, acknowledging each frame as soon as its last message arrived (it
 * does not decode PNG/JPEG: the browser viewer does that off the main thread).
 *
 *   bun scripts/benchmarks/rdp-client.ts '{"urls":[…],"sessionId":…,"token":…}'
 *   stdin:  {"counters":true}
 *           {"latency":{"display":":N","x":512,"y":384,"size":128,"count":100,"gapMs":[250,350],"timeoutMs":3000}}
 *   stdout: {"event":"ready"} {"event":"counters",…} {"event":"latency","samples":[{"ms":…,"syncMs":…}],"missed":n}
 *           {"event":"failed","message":…} {"event":"closed"}
 *
 * Latency: this process fills a 64-aligned square of the server's X display
 * (raw X11, rdp-x11.ts) with a new colour and waits for the X server's reply
 * proving the fill ran; the clock stops when a SOLID tile of that colour
 * covering the square's centre arrives. SOLID tiles carry their colour, so
 * "received" is "decoded" for them; the viewer paints them with one fillRect.
 */
import { connectRdp } from "../../web/access/client/rdp-session.ts";
import { X11 } from "./rdp-x11.ts";
import { PROBE_COLORS, colorDistance } from "./rdp-workload.ts";

const say = (o: Record<string, unknown>) => console.log(JSON.stringify(o));

interface LatencyCommand {
  display: string;
  x: number;
  y: number;
  size: number;
  count: number;
  gapMs: [number, number];
  timeoutMs: number;
}

/** How far (max over R, G, B) a received colour may be from the drawn one: the server's codec may be lossy. */
const COLOR_TOLERANCE = 12;

if (import.meta.main) {
  const options = JSON.parse(process.argv[2] ?? "{}");
  try {
    const s = await connectRdp({ ...options, transport: "websocket", pingIntervalMs: 2000, autoAck: true });
    let watcher: ((tiles: { x: number; y: number; w: number; h: number; encoding: string; bytes: Uint8Array }[], atMs: number) => void) | null = null;
    s.on("tiles", ({ message }) => watcher?.(message.tiles, performance.now()));
    s.on("end", (n) => say({ event: "end", notice: n }));
    void s.closed.then(() => {
      say({ event: "closed" });
      process.exit(0);
    });
    const stats: unknown[] = [];
    s.on("stats", (st) => stats.push(st));
    say({ event: "ready" });

    async function latency(c: LatencyCommand) {
      const x = await X11.open(c.display);
      const cx = c.x + c.size / 2;
      const cy = c.y + c.size / 2;
      const samples: { ms: number; syncMs: number }[] = [];
      let missed = 0;
      try {
        for (let i = 0; i < c.count; i++) {
          const color = PROBE_COLORS[i % PROBE_COLORS.length]!;
          let seen: ((at: number) => void) | null = null;
          const arrived = new Promise<number>((resolve) => (seen = resolve));
          watcher = (tiles, at) => {
            for (const t of tiles) {
              if (t.encoding !== "solid" || cx < t.x || cx >= t.x + t.w || cy < t.y || cy >= t.y + t.h) continue;
              const rgb = (t.bytes[0]! << 16) | (t.bytes[1]! << 8) | t.bytes[2]!;
              if (colorDistance(rgb, color) <= COLOR_TOLERANCE) seen?.(at);
            }
          };
          const { sentMs, doneMs } = await x.fillSynced(c.x, c.y, c.size, c.size, color);
          let timer: ReturnType<typeof setTimeout> | undefined;
          const at = await Promise.race([arrived, new Promise<null>((r) => (timer = setTimeout(() => r(null), c.timeoutMs)))]);
          clearTimeout(timer);
          watcher = null;
          if (at === null) missed++;
          else samples.push({ ms: at - doneMs, syncMs: doneMs - sentMs });
          await Bun.sleep(c.gapMs[0] + Math.random() * (c.gapMs[1] - c.gapMs[0]));
        }
      } finally {
        x.close();
      }
      say({ event: "latency", samples, missed });
    }

    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of Bun.stdin.stream() as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let nl = buffered.indexOf("\n");
      while (nl >= 0) {
        const cmd = JSON.parse(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf("\n");
        if (cmd.counters) say({ event: "counters", atMs: performance.now(), ...s.counters(), stats: stats.at(-1) ?? null });
        else if (cmd.latency) await latency(cmd.latency).catch((err) => say({ event: "failed", what: "latency", message: String(err) }));
        else if (cmd.close) s.close();
      }
    }
  } catch (err) {
    say({ event: "failed", message: String(err) });
    process.exit(0);
  }
}
