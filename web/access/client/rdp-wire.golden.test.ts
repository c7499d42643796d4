/**
 * The viewer's RDP wire code (rdp-wire.ts) against the golden file that
 * crates/fabric-rdp/src/wire_golden.rs writes from the adapter's own encoders
 * and parsers: tile messages parse to the rectangles, encodings and bytes the
 * adapter meant, input batches encode to the adapter's bytes, the batches the
 * adapter refuses are refused here with the same code, and the JSON messages
 * match what the client builds or reads. Rust and TS agree byte for byte.
 */
import { describe, expect, test } from "../../../fixtures/test.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  BUTTONS,
  clipboardMessage,
  ENCODING,
  encodeInputBatch,
  encodeTileMessage,
  frameAck,
  type InputEvent,
  type MouseButton,
  parseClipboard,
  parseDesktop,
  parseInputBatch,
  parseNotice,
  parseStats,
  parseTileMessage,
  qualityMessage,
  RdpWireError,
  refreshMessage,
  resizeMessage,
} from "./rdp-wire.ts";

type GoldenEvent =
  | { type: "key"; scancode: number; down: boolean }
  | { type: "unicode"; codepoint: number; down: boolean }
  | { type: "mouse_move"; x: number; y: number }
  | { type: "button"; button: string; button_byte: number; down: boolean }
  | { type: "wheel"; delta: number; horizontal: boolean }
  | { type: "release_all" };

interface GoldenTile {
  x: number;
  y: number;
  w: number;
  h: number;
  encoding: string;
  encoding_byte: number;
  bytes_hex: string;
}

interface Golden {
  encodings: Record<string, number>;
  tile_messages: { name: string; hex: string; message: { frame_seq: number; last: boolean; captured_at_us: string; tiles: GoldenTile[] } }[];
  input_batches: { name: string; hex: string; events: GoldenEvent[] }[];
  input_refused: { name: string; hex: string; code: string }[];
  json_messages: Record<string, Record<string, unknown> & { type: string }>;
}

const golden: Golden = JSON.parse(readFileSync(join(import.meta.dirname, "../../../fixtures/rdp-wire/golden.json"), "utf8"));
const fromHex = (h: string) => new Uint8Array(Buffer.from(h, "hex"));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const json = (name: string) => {
  const m = golden.json_messages[name];
  if (!m) throw new Error(`golden.json has no json_messages.${name}`);
  return m;
};

/** The golden's event names are the adapter's (input_wire.rs); the client calls a mouse move `move`. */
function toClientEvent(e: GoldenEvent): InputEvent {
  switch (e.type) {
    case "mouse_move":
      return { type: "move", x: e.x, y: e.y };
    case "button":
      return { type: "button", button: e.button as MouseButton, down: e.down };
    default:
      return e;
  }
}

describe("golden tile messages", () => {
  test("the encoding bytes are the adapter's", () => {
    expect(golden.encodings).toEqual({ ...ENCODING });
  });

  test("every golden message parses to its frame, flags, capture time and tiles, and encodes back to the same bytes", () => {
    expect(golden.tile_messages.length).toBeGreaterThanOrEqual(5);
    const encodings = new Set<string>();
    for (const g of golden.tile_messages) {
      const wire = fromHex(g.hex);
      const m = parseTileMessage(wire);
      expect(m.frameSeq, g.name).toBe(g.message.frame_seq);
      expect(m.last, g.name).toBe(g.message.last);
      // captured_at_us is a u64; the client keeps a number (exact up to 2^53, which a clock
      // counted from the adapter's start never reaches). Past that: the nearest double.
      const captured = BigInt(g.message.captured_at_us);
      const exact = captured <= BigInt(Number.MAX_SAFE_INTEGER);
      expect(m.capturedAtUs, g.name).toBe(Number(captured));
      expect(
        m.tiles.map(
          (t): GoldenTile => ({ x: t.x, y: t.y, w: t.w, h: t.h, encoding: t.encoding, encoding_byte: ENCODING[t.encoding], bytes_hex: hex(t.bytes) }),
        ),
        g.name,
      ).toEqual(g.message.tiles.map(({ x, y, w, h, encoding, encoding_byte, bytes_hex }) => ({ x, y, w, h, encoding, encoding_byte, bytes_hex })));
      if (exact) expect(hex(encodeTileMessage(m)), g.name).toBe(g.hex);
      else expect(hex(encodeTileMessage(m)).slice(32), g.name).toBe(g.hex.slice(32));
      for (const t of m.tiles) encodings.add(t.encoding);
    }
    // The file exercises every encoding the viewer must draw.
    expect([...encodings].sort()).toEqual(["jpeg", "png", "solid"]);
  });

  test("a frame split over messages keeps its sequence number and says last only on the final one", () => {
    const parts = golden.tile_messages.filter((g) => g.name.startsWith("one frame split")).map((g) => parseTileMessage(fromHex(g.hex)));
    expect(parts.length).toBe(2);
    expect(parts.map((p) => p.frameSeq)).toEqual([parts[0]!.frameSeq, parts[0]!.frameSeq]);
    expect(parts.map((p) => p.last)).toEqual([false, true]);
  });

  test("every golden message is refused when cut short, with rdp.malformed_tiles", () => {
    for (const g of golden.tile_messages) {
      const wire = fromHex(g.hex);
      for (const n of [0, 15, wire.length - 1]) {
        let code = "no error";
        try {
          parseTileMessage(wire.subarray(0, n));
        } catch (err) {
          code = err instanceof RdpWireError ? err.code : String(err);
        }
        expect(code, `${g.name} cut to ${n} bytes`).toBe("rdp.malformed_tiles");
      }
    }
  });
});

describe("golden input batches", () => {
  test("every golden batch is what the client encodes for its events, and reads back to them", () => {
    expect(golden.input_batches.length).toBeGreaterThanOrEqual(5);
    for (const g of golden.input_batches) {
      const events = g.events.map(toClientEvent);
      for (const e of g.events) if (e.type === "button") expect(BUTTONS[e.button as MouseButton] as number, g.name).toBe(e.button_byte);
      expect(hex(encodeInputBatch(events)), g.name).toBe(g.hex);
      expect(parseInputBatch(fromHex(g.hex)), g.name).toEqual(events);
    }
  });

  test("every batch the adapter refuses is refused here with the same code", () => {
    expect(golden.input_refused.length).toBeGreaterThanOrEqual(3);
    for (const r of golden.input_refused) {
      let code = "no error";
      try {
        parseInputBatch(fromHex(r.hex));
      } catch (err) {
        code = err instanceof RdpWireError ? err.code : String(err);
      }
      expect(code, r.name).toBe(r.code);
    }
  });
});

describe("golden JSON messages", () => {
  test("the controls the client sends are the adapter's examples", () => {
    expect(frameAck(json("frame_ack").seq as number)).toEqual(json("frame_ack"));
    const resize = json("resize");
    expect(resizeMessage(resize.width as number, resize.height as number)).toEqual(resize);
    const quality = json("quality");
    expect(qualityMessage({ profile: quality.profile as string, color_mode: quality.color_mode as string })).toEqual(quality);
    expect(refreshMessage()).toEqual(json("refresh") as ReturnType<typeof refreshMessage>);
  });

  test("the client's clipboard message hashes the text as the adapter does, and the adapter's example parses", async () => {
    const g = json("clipboard");
    expect(await clipboardMessage(g.sequence_id as number, g.text as string)).toEqual(g as never);
    expect(await parseClipboard({ ...g, origin: "server" })).toEqual({ ...g, origin: "server" } as never);
  });

  test("desktop, stats and notice examples read to their fields", () => {
    const { type: _d, ...desktop } = json("desktop");
    expect(parseDesktop(json("desktop"))).toEqual(desktop as never);
    const { type: _s, ...stats } = json("stats");
    expect(parseStats(json("stats"))).toEqual(stats as never);
    expect(parseNotice(json("notice"))).toEqual(json("notice").error as never);
  });
});
