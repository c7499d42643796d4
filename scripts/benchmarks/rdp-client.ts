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
 *           {"latency":{"display":":N","probe":{"x":64,"y":256,"size":128},"count":100,"gapMs":[250,350],"timeoutMs":3000,"xfreerdpDisplay":":M"?}}
 *   stdout: {"event":"ready"} {"event":"counters",…} {"event":"latency","ms":{"fabric":[…],"xfreerdp"?:[…]},"syncMs":[…]}
 *           {"event":"failed","message":…} {"event":"closed"}
 *
 * Latency (rdp-latency.ts): this process draws on the server's display and
 * watches its own tiles, and with `xfreerdpDisplay` also FreeRDP's client
 * window on that display: the paired measurement, one fill timed by both.
 */
import { connectRdp } from "../../web/access/client/rdp-session.ts";
import { measureLatency, type Probe, solidTileWatcher, type Watcher, xfreerdpWatcher } from "./rdp-latency.ts";

const say = (o: Record<string, unknown>) => console.log(JSON.stringify(o));

interface LatencyCommand {
  display: string;
  probe: Probe;
  count: number;
  gapMs: [number, number];
  timeoutMs: number;
  xfreerdpDisplay?: string;
}

if (import.meta.main) {
  const options = JSON.parse(process.argv[2] ?? "{}");
  try {
    const s = await connectRdp({ ...options, transport: "websocket", pingIntervalMs: 2000, autoAck: true });
    type TilesListener = Parameters<Parameters<typeof solidTileWatcher>[1]>[0];
    const tileListeners = new Set<TilesListener>();
    s.on("tiles", ({ message }) => {
      const at = performance.now();
      for (const l of tileListeners) l(message.tiles, at);
    });
    s.on("end", (n) => say({ event: "end", notice: n }));
    void s.closed.then(() => {
      say({ event: "closed" });
      process.exit(0);
    });
    const stats: unknown[] = [];
    s.on("stats", (st) => stats.push(st));
    say({ event: "ready" });

    async function latency(c: LatencyCommand) {
      const watchers: Watcher[] = [
        solidTileWatcher(c.probe, (l) => {
          tileListeners.add(l);
          return () => tileListeners.delete(l);
        }),
      ];
      try {
        if (c.xfreerdpDisplay) watchers.push(await xfreerdpWatcher(c.probe, c.xfreerdpDisplay));
        const run = await measureLatency(c.display, c.probe, c, watchers);
        say({ event: "latency", ...run });
      } finally {
        for (const w of watchers) w.close();
      }
    }

    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of process.stdin as AsyncIterable<Uint8Array>) {
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
