/**
 * A program on the RDP attachment (rdp-session.ts) for rdp-session.e2e.test.ts,
 * run as its own process (Bun trusts the entry harness's certificate only
 * through NODE_EXTRA_CA_CERTS, read at start-up). The harness's echo upstream
 * returns what the input stream carries as DATA on render, so tile messages
 * written on input come back as a desktop's render stream would carry them.
 * One JSON line per step on stdout. Not used by the product.
 *
 *   bun web/access/client/rdp-test-client.ts URL
 */
import { type AccessSession, type ChannelStream, connect } from "./connect.ts";
import { RdpSession, type RdpNotice } from "./rdp-session.ts";
import { encodeTileMessage, type TileMessage } from "./rdp-wire.ts";
import { encodePng } from "./test-png.ts";

const [url] = process.argv.slice(2);
const say = (o: Record<string, unknown>) => console.log(JSON.stringify(o));
/** A bounded wait (this program stands alone: no test fixtures in web/). */
async function waitFor<T>(probe: () => T, o: { timeoutMs: number; what: string }): Promise<NonNullable<T>> {
  const deadline = Date.now() + o.timeoutMs;
  for (let v = probe(); ; v = probe()) {
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${o.what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const access = await connect({ urls: [url!], sessionId: "3f1c1d9e-0000-4000-8000-000000000001", token: "good", terminalChannels: false, pingIntervalMs: 100 });
// The test writes raw tile messages on the input stream (the echo's way back to render): keep its handle.
let input: ChannelStream | undefined;
const tap: AccessSession = {
  transport: access.transport,
  sessionId: access.sessionId,
  attachmentId: access.attachmentId,
  channels: access.channels,
  closed: access.closed,
  send: (k) => access.send(k),
  resize: (c, r) => access.resize(c, r),
  onOutput: (l) => access.onOutput(l),
  onNotice: (l) => access.onNotice(l),
  rtt: () => access.rtt(),
  detach: () => access.detach(),
  close: () => access.close(),
  openChannel: async (name) => {
    const c = await access.openChannel(name);
    if (name === "input") input = c;
    return c;
  },
};
const s = await RdpSession.attach(tap, { token: "good" });
say({ step: "attached", transport: s.transport, channels: access.channels, clipboard: s.hasClipboard, files: s.hasFileTransfer, policy: s.policy });

const received: TileMessage[] = [];
const notices: RdpNotice[] = [];
s.on("tiles", ({ message }) => received.push(message));
s.on("notice", (n) => notices.push(n));

const png = encodePng(
  new Uint8Array(64 * 32 * 4).map((_, i) => (i * 7) & 255),
  64,
  32,
  "rgba",
);
const frame: TileMessage = {
  frameSeq: 3,
  last: true,
  capturedAtUs: 987_654_321,
  tiles: [
    { x: 0, y: 0, w: 64, h: 64, encoding: "solid", bytes: new Uint8Array([10, 20, 30, 255]) },
    { x: 64, y: 0, w: 64, h: 32, encoding: "png", bytes: png },
  ],
};
await input!.sendData(encodeTileMessage(frame));
await waitFor(() => received.length === 1, { timeoutMs: 10_000, what: "the tile message" });
const got = received[0]!;
say({
  step: "tiles",
  frameSeq: got.frameSeq,
  last: got.last,
  capturedAtUs: got.capturedAtUs,
  tiles: got.tiles.map((t) => ({
    x: t.x,
    y: t.y,
    w: t.w,
    h: t.h,
    encoding: t.encoding,
    same: Buffer.from(t.bytes).equals(Buffer.from(frame.tiles.find((f) => f.x === t.x)!.bytes)),
  })),
});
// No frame_ack here: the entry's splice (crates/fabric-entry/src/splice.rs) passes no client JSON on render yet,
// and refuses it with protocol.unknown_message; once it lets `frame_ack` through, acknowledge frame 3 here.

// Too short for a tile message's header (and not the last of its frame, so nothing is acknowledged).
await input!.sendData(new Uint8Array([1, 0, 0, 0, 4, 0]));
await waitFor(() => notices.length >= 1, { timeoutMs: 10_000, what: "the notice" });
await input!.sendData(encodeTileMessage({ ...frame, frameSeq: 4 }));
await waitFor(() => received.length === 2, { timeoutMs: 10_000, what: "the next tile message" });
say({ step: "after-bad", notice: notices[0], next: received[1]!.frameSeq, counters: s.counters() });

const refusals: Record<string, string> = {};
for (const [what, run] of [
  ["clipboard", () => s.sendClipboard("x")],
  ["upload", () => s.upload("a.txt", new Uint8Array(1))],
  ["list", () => s.listDownloads()],
] as const)
  refusals[what] = await run().then(
    () => "sent",
    (err: Error) => err.message,
  );
say({ step: "refused", refusals, rtt: await waitFor(() => s.rtt(), { timeoutMs: 10_000, what: "an RTT" }) });

await s.detach();
say({ step: "detached" });
process.exit(0);
