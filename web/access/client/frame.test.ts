/** The TypeScript frame codec against the golden file that crates/fabric-entry/tests/golden.rs checks the Rust codec with: both agree byte for byte. */
import { describe, expect, test } from "../../../fixtures/test.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { encodeData, encodeFrame, encodeJson, type Frame, FrameDecoder, FrameError, MAX_DATA_LEN, MAX_JSON_LEN, STREAM_KIND } from "./frame.ts";

interface Golden {
  stream_kinds: Record<string, number>;
  frames: { name: string; hex: string; frame: { kind: "json"; message: { type: string } } | { kind: "data"; payload_hex: string } }[];
  refused: { name: string; hex: string; code: string }[];
}
const golden: Golden = JSON.parse(readFileSync(join(import.meta.dirname, "../../../fixtures/session-frame/golden.json"), "utf8"));
const bytes = (hex: string) => new Uint8Array(Buffer.from(hex, "hex"));
const toFrame = (f: Golden["frames"][number]["frame"]): Frame =>
  f.kind === "json" ? { kind: "json", message: f.message } : { kind: "data", payload: bytes(f.payload_hex) };

describe("session frames", () => {
  test("every golden frame encodes to its bytes and decodes back, whatever the read boundaries", () => {
    expect(golden.frames.length).toBeGreaterThanOrEqual(8);
    for (const g of golden.frames) {
      const wire = bytes(g.hex);
      expect(Buffer.from(encodeFrame(toFrame(g.frame))).toString("hex")).toBe(g.hex);
      for (const step of [1, 2, 5, 7, wire.length]) {
        const d = new FrameDecoder();
        const out: Frame[] = [];
        for (let i = 0; i < wire.length; i += step) {
          d.push(wire.subarray(i, i + step));
          for (let f = d.next(); f; f = d.next()) out.push(f);
        }
        expect(out).toEqual([toFrame(g.frame)]);
        expect(d.pending).toBe(0);
      }
    }
  });

  test("every golden refusal is refused with its code, and the decoder stays refused", () => {
    for (const r of golden.refused) {
      const d = new FrameDecoder();
      d.push(bytes(r.hex));
      let code = "";
      try {
        d.next();
      } catch (err) {
        code = (err as FrameError).code;
      }
      expect(`${r.name}: ${code}`).toBe(`${r.name}: ${r.code}`);
      expect(() => d.next()).toThrow(FrameError);
    }
  });

  test("the stream kinds are the golden ones, and the encoders refuse payloads over the limits", () => {
    expect(STREAM_KIND).toEqual(golden.stream_kinds as typeof STREAM_KIND);
    expect(() => encodeData(new Uint8Array(MAX_DATA_LEN + 1))).toThrow("protocol.frame_too_large");
    expect(encodeData(new Uint8Array(MAX_DATA_LEN)).length).toBe(MAX_DATA_LEN + 5);
    expect(() => encodeJson({ type: "x", pad: "a".repeat(MAX_JSON_LEN) })).toThrow("protocol.frame_too_large");
  });
});
