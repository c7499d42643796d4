/**
 * The RDP wire formats of rdp-wire.ts: tile messages parse what they encode
 * and refuse every out-of-bounds or truncated form with `rdp.malformed_tiles`;
 * input batches have the brief's exact bytes and round-trip through the
 * adapter's reading; controls, clipboard and file messages check their limits.
 */
import { describe, expect, test } from "../../../fixtures/test.ts";
import { createHash } from "node:crypto";
import {
  checkFileName,
  clipboardMessage,
  coalesceMoves,
  DownloadAssembler,
  encodeInputBatch,
  encodeTileMessage,
  FILE_CHUNK_LEN,
  fileChunks,
  frameAck,
  type InputEvent,
  MAX_FILE_LEN,
  parseClipboard,
  parseDesktop,
  parseFileMessage,
  parseInputBatch,
  parseTileMessage,
  qualityMessage,
  RdpWireError,
  resizeMessage,
  sha256Hex,
  type TileMessage,
  uploadStart,
} from "./rdp-wire.ts";
import { encodePng } from "./test-png.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const fromHex = (h: string) => new Uint8Array(Buffer.from(h, "hex"));
const code = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return err instanceof RdpWireError ? err.code : `not an RdpWireError: ${err}`;
  }
  return "no error";
};

const png = encodePng(new Uint8Array(16 * 8 * 4).fill(200), 16, 8, "rgb");
const jpegLike = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 1, 2, 3]);
const sample: TileMessage = {
  frameSeq: 7,
  last: true,
  capturedAtUs: 123_456_789,
  tiles: [
    { x: 0, y: 0, w: 64, h: 64, encoding: "solid", bytes: new Uint8Array([1, 2, 3, 255]) },
    { x: 64, y: 0, w: 16, h: 8, encoding: "png", bytes: png },
    { x: 128, y: 64, w: 64, h: 64, encoding: "jpeg", bytes: jpegLike },
  ],
};

describe("tile messages", () => {
  test("the header and a SOLID tile have the brief's exact bytes", () => {
    const one = encodeTileMessage({ frameSeq: 0x01020304, last: true, capturedAtUs: 0x1122334455, tiles: [sample.tiles[0]!] });
    expect(hex(one)).toBe(`01` + `01020304` + `01` + `0000001122334455` + `0001` + `0000` + `0000` + `0040` + `0040` + `03` + `00000004` + `010203ff`);
  });

  test("encode and parse round-trip every encoding, and tile bytes are views into the message", () => {
    const wire = encodeTileMessage(sample);
    const back = parseTileMessage(wire, { width: 1920, height: 1080 });
    expect(back).toEqual(sample);
    expect(back.tiles[1]!.bytes.buffer).toBe(wire.buffer);
    expect(parseTileMessage(encodeTileMessage({ ...sample, last: false, tiles: [] })).tiles).toEqual([]);
  });

  test("reserved flag bits are ignored, only bit 0 says last", () => {
    const wire = encodeTileMessage({ ...sample, last: false });
    wire[5] = 0xfe;
    expect(parseTileMessage(wire).last).toBe(false);
    wire[5] = 0xff;
    expect(parseTileMessage(wire).last).toBe(true);
  });

  test("every truncation of a valid message is refused with rdp.malformed_tiles", () => {
    const wire = encodeTileMessage(sample);
    for (let n = 0; n < wire.length; n++) expect(code(() => parseTileMessage(wire.subarray(0, n)))).toBe("rdp.malformed_tiles");
  });

  test("out-of-bounds and inconsistent tiles are refused, naming what is wrong", () => {
    const one = (patch: Partial<TileMessage["tiles"][number]>) => encodeTileMessage({ ...sample, tiles: [{ ...sample.tiles[0]!, ...patch }] });
    const cases: [string, Uint8Array, RegExp][] = [
      [
        "unknown message type",
        (() => {
          const w = encodeTileMessage(sample);
          w[0] = 2;
          return w;
        })(),
        /unknown render message type 2/,
      ],
      ["zero width", one({ w: 0 }), /size 0x64/],
      ["over 64 high", one({ h: 65 }), /size 64x65/],
      ["outside the desktop", one({ x: 1900 }), /outside the 1920x1080 desktop/],
      ["SOLID with 3 bytes", one({ bytes: new Uint8Array(3) }), /SOLID tile has 4 bytes/],
      ["PNG without its signature", one({ encoding: "png", bytes: new Uint8Array(20) }), /PNG signature/],
      ["JPEG without SOI", one({ encoding: "jpeg", bytes: new Uint8Array([0, 1, 2, 3]) }), /JPEG marker/],
      ["trailing bytes", new Uint8Array([...encodeTileMessage(sample), 0]), /1 bytes after the last of 3 tiles/],
      [
        "unknown encoding",
        (() => {
          const w = one({});
          w[16 + 8] = 9;
          return w;
        })(),
        /unknown encoding 9/,
      ],
      [
        "length past the end",
        (() => {
          const w = one({});
          new DataView(w.buffer).setUint32(16 + 9, 5);
          return w;
        })(),
        /5 bytes announced, 4 left/,
      ],
      [
        "count past the end",
        (() => {
          const w = one({});
          new DataView(w.buffer).setUint16(14, 2);
          return w;
        })(),
        /tile 1 of 2: its header is cut off/,
      ],
    ];
    for (const [what, wire, message] of cases) {
      let err: unknown;
      try {
        parseTileMessage(wire, { width: 1920, height: 1080 });
      } catch (e) {
        err = e;
      }
      expect(err, what).toBeInstanceOf(RdpWireError);
      expect((err as RdpWireError).code, what).toBe("rdp.malformed_tiles");
      expect((err as RdpWireError).message, what).toMatch(message);
    }
  });

  test("a message over 1 MiB is neither encoded nor parsed", () => {
    const big = { ...sample, tiles: [{ x: 0, y: 0, w: 64, h: 64, encoding: "png" as const, bytes: new Uint8Array(1024 * 1024) }] };
    expect(code(() => encodeTileMessage(big))).toBe("rdp.malformed_tiles");
    expect(code(() => parseTileMessage(new Uint8Array(1024 * 1024 + 1)))).toBe("rdp.malformed_tiles");
  });

  test("frame_ack is the brief's JSON", () => {
    expect(frameAck(42)).toEqual({ type: "frame_ack", seq: 42 });
    expect(code(() => frameAck(-1))).toBe("protocol.invalid_message");
  });
});

describe("input batches", () => {
  const all: InputEvent[] = [
    { type: "key", scancode: 0x153, down: true },
    { type: "unicode", codepoint: 0x1f600, down: false },
    { type: "move", x: 1919, y: 1079 },
    { type: "button", button: "x2", down: true },
    { type: "wheel", delta: -240, horizontal: true },
    { type: "release_all" },
  ];

  test("each event has the brief's exact bytes", () => {
    expect(hex(encodeInputBatch(all))).toBe(["01015301", "020001f60000", "03077f0437", "040401", "05ff1001", "06"].join(""));
  });

  test("a batch round-trips through the adapter's reading", () => {
    expect(parseInputBatch(encodeInputBatch(all))).toEqual(all);
    const keys: InputEvent[] = [0x1d, 0x38, 0x153].map((scancode) => ({ type: "key", scancode, down: true }));
    expect(parseInputBatch(encodeInputBatch(keys))).toEqual(keys);
  });

  test("consecutive moves coalesce to the latest, moves around a click stay", () => {
    const ev: InputEvent[] = [
      { type: "move", x: 1, y: 1 },
      { type: "move", x: 2, y: 2 },
      { type: "button", button: "left", down: true },
      { type: "move", x: 3, y: 3 },
      { type: "move", x: 4, y: 4 },
    ];
    expect(coalesceMoves(ev)).toEqual([ev[1]!, ev[2]!, ev[4]!]);
  });

  test("events out of range are refused with protocol.malformed_input", () => {
    const bad: InputEvent[] = [
      { type: "key", scancode: 0x200, down: true },
      { type: "unicode", codepoint: 0xd800, down: true },
      { type: "unicode", codepoint: 0x110000, down: true },
      { type: "move", x: -1, y: 0 },
      { type: "move", x: 70_000, y: 0 },
      { type: "button", button: "x3" as never, down: true },
      { type: "wheel", delta: 40_000, horizontal: false },
      { type: "wheel", delta: 1.5, horizontal: false },
    ];
    for (const e of bad) expect(code(() => encodeInputBatch([e]))).toBe("protocol.malformed_input");
    for (const wire of ["07", "0101", "0405", "040501", "01000102"]) expect(code(() => parseInputBatch(fromHex(wire)))).toBe("protocol.malformed_input");
  });

  test("controls check their ranges and names", () => {
    expect(resizeMessage(1280, 720)).toEqual({ type: "resize", width: 1280, height: 720 });
    expect(code(() => resizeMessage(199, 720))).toBe("protocol.invalid_message");
    expect(code(() => resizeMessage(1280, 8193))).toBe("protocol.invalid_message");
    expect(qualityMessage({ profile: "low_bandwidth" })).toEqual({ type: "quality", profile: "low_bandwidth" });
    expect(qualityMessage({ color_mode: "16" })).toEqual({ type: "quality", color_mode: "16" });
    expect(code(() => qualityMessage({}))).toBe("protocol.invalid_message");
    expect(code(() => qualityMessage({ profile: "ultra" }))).toBe("protocol.invalid_message");
    expect(code(() => qualityMessage({ color_mode: "32" }))).toBe("protocol.invalid_message");
  });

  test("desktop messages are checked, extra fields ignored", () => {
    const d = { type: "desktop", width: 1024, height: 768, profile: "balanced", color_mode: "full", fps: 20, adjustable: true, resizable: false, more: 1 };
    expect(parseDesktop(d)).toEqual({ width: 1024, height: 768, profile: "balanced", color_mode: "full", fps: 20, adjustable: true, resizable: false });
    expect(code(() => parseDesktop({ ...d, width: 0 }))).toBe("protocol.invalid_message");
  });
});

describe("clipboard", () => {
  test("the client's message carries the SHA-256 of the UTF-8 text and the adapter's is checked", async () => {
    const m = await clipboardMessage(3, "héllo");
    expect(m).toEqual({
      type: "clipboard",
      sequence_id: 3,
      origin: "client",
      content_hash: createHash("sha256").update("héllo").digest("hex"),
      text: "héllo",
    });
    expect(await parseClipboard({ ...m, origin: "server" })).toEqual({ ...m, origin: "server" });
    await expect(parseClipboard({ ...m, text: "other" })).rejects.toMatchObject({ code: "clipboard.hash_mismatch" });
    await expect(parseClipboard({ ...m, content_hash: "x" })).rejects.toMatchObject({ code: "protocol.invalid_message" });
  });

  test("text over 60,000 UTF-8 bytes is refused", async () => {
    await expect(clipboardMessage(1, "é".repeat(30_001))).rejects.toMatchObject({ code: "clipboard.too_large" });
    expect((await clipboardMessage(1, "a".repeat(60_000))).text.length).toBe(60_000);
  });
});

describe("file transfer", () => {
  test("safe names only", () => {
    for (const ok of ["a.txt", "report 2024.pdf", "ж.txt", "x".repeat(255)]) expect(checkFileName(ok)).toBe(ok);
    for (const bad of ["", ".", "..", ".hidden", "a/b", "a\\b", "a\u0000b", "a\nb", "x".repeat(256), "é".repeat(128)])
      expect(code(() => checkFileName(bad))).toBe("file_transfer.name_invalid");
    expect(uploadStart("t", "a.txt", 5)).toEqual({ type: "file_upload.start", transfer_id: "t", name: "a.txt", size: 5 });
    expect(code(() => uploadStart("t", "a.txt", MAX_FILE_LEN + 1))).toBe("file_upload.too_large");
  });

  test("chunks are at most 256 KiB and cover the file exactly", () => {
    const bytes = new Uint8Array(FILE_CHUNK_LEN * 2 + 5).map((_, i) => i);
    const chunks = [...fileChunks(bytes)];
    expect(chunks.map((c) => c.length)).toEqual([FILE_CHUNK_LEN, FILE_CHUNK_LEN, 5]);
    expect(Buffer.concat(chunks).equals(Buffer.from(bytes))).toBe(true);
  });

  test("a download is checked for chunk size, length and hash", async () => {
    const bytes = new Uint8Array(1000).map((_, i) => i * 7);
    const ok = new DownloadAssembler("t", "f.bin", bytes.length);
    ok.push(bytes.subarray(0, 600));
    ok.push(bytes.subarray(600));
    expect(await ok.finish(await sha256Hex(bytes))).toEqual({ name: "f.bin", bytes, sha256: await sha256Hex(bytes) });

    const wrongHash = new DownloadAssembler("t", "f.bin", 3);
    wrongHash.push(new Uint8Array(3));
    await expect(wrongHash.finish("0".repeat(64))).rejects.toMatchObject({ code: "file_download.hash_mismatch" });
    const over = new DownloadAssembler("t", "f.bin", 3);
    expect(code(() => over.push(new Uint8Array(4)))).toBe("file_transfer.size_mismatch");
    expect(code(() => new DownloadAssembler("t", "f.bin", FILE_CHUNK_LEN * 2).push(new Uint8Array(FILE_CHUNK_LEN + 1)))).toBe("file_transfer.chunk_too_large");
    const short = new DownloadAssembler("t", "f.bin", 3);
    await expect(short.finish("0".repeat(64))).rejects.toMatchObject({ code: "file_transfer.size_mismatch" });
  });

  test("the adapter's file messages are checked, unknown types ignored", () => {
    expect(parseFileMessage({ type: "file_download.files", files: [{ name: "a", size: 1 }] })).toEqual({
      type: "file_download.files",
      files: [{ name: "a", size: 1 }],
    });
    expect(parseFileMessage({ type: "file_upload.future" })).toBeNull();
    expect(code(() => parseFileMessage({ type: "file_download.end", transfer_id: "t", sha256: "zz" }))).toBe("protocol.invalid_message");
    expect(code(() => parseFileMessage({ type: "file_download.begin", transfer_id: "t", name: "a", size: -1 }))).toBe("protocol.invalid_message");
    expect(parseFileMessage({ type: "error", transfer_id: "t", error: { code: "file_upload.too_large" } })).toMatchObject({
      type: "error",
      transfer_id: "t",
      error: { code: "file_upload.too_large", message_key: "errors.file_upload.too_large" },
    });
  });
});
