/**
 * The frames of the session protocol rap.session.v1, byte for byte as
 * `crates/session-frame` has them (the golden file
 * fixtures/session-frame/golden.json holds both sides to it): every stream
 * starts with a stream-kind byte, then carries frames
 * `[u8 type][u32 big-endian length][payload]`. Pure code, no IO: it runs in
 * the browser bundle and under Bun and Deno alike.
 */

/** The byte a stream starts with: 0 for control, else the mesh channel class wire id. */
export const STREAM_KIND = { control: 0, render: 5, input: 6, clipboard: 7, file_transfer: 8 } as const;
export type StreamKindName = keyof typeof STREAM_KIND;

export const FRAME_JSON = 1;
export const FRAME_DATA = 2;
export const HEADER_LEN = 5;
export const MAX_JSON_LEN = 64 * 1024;
export const MAX_DATA_LEN = 1024 * 1024;

export type FrameErrorCode = "protocol.malformed_frame" | "protocol.frame_too_large";

export class FrameError extends Error {
  constructor(
    readonly code: FrameErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = "FrameError";
  }
}

/** A control or channel message: an object with a string `type`. */
export type JsonMessage = { type: string } & Record<string, unknown>;

export type Frame = { kind: "json"; message: JsonMessage } | { kind: "data"; payload: Uint8Array };

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

function frame(type: number, payload: Uint8Array, limit: number): Uint8Array {
  if (payload.length > limit) throw new FrameError("protocol.frame_too_large", `a frame of ${payload.length} bytes is over its limit of ${limit}`);
  const out = new Uint8Array(HEADER_LEN + payload.length);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, HEADER_LEN);
  return out;
}

export function encodeJson(message: JsonMessage): Uint8Array {
  return frame(FRAME_JSON, encoder.encode(JSON.stringify(message)), MAX_JSON_LEN);
}

export function encodeData(payload: Uint8Array): Uint8Array {
  return frame(FRAME_DATA, payload, MAX_DATA_LEN);
}

export function encodeFrame(f: Frame): Uint8Array {
  return f.kind === "json" ? encodeJson(f.message) : encodeData(f.payload);
}

function parseJson(payload: Uint8Array): JsonMessage {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch (err) {
    throw new FrameError("protocol.malformed_frame", `JSON frame: ${(err as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value) || typeof (value as { type?: unknown }).type !== "string")
    throw new FrameError("protocol.malformed_frame", "a JSON frame must be an object with a string type");
  return value as JsonMessage;
}

/**
 * Whole frames out of bytes that arrive in any pieces. The header is checked
 * as soon as it is complete, so an oversized frame is refused before its
 * payload is buffered; after an error the decoder refuses everything.
 */
export class FrameDecoder {
  #chunks: Uint8Array[] = [];
  #length = 0;
  #failed = false;

  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#chunks.push(bytes);
    this.#length += bytes.length;
  }

  /** Bytes received but not yet part of a whole frame. */
  get pending(): number {
    return this.#length;
  }

  /** The next whole frame, or null when more bytes are needed. */
  next(): Frame | null {
    if (this.#failed) throw new FrameError("protocol.malformed_frame", "the stream already had a bad frame");
    try {
      return this.#decode();
    } catch (err) {
      this.#failed = true;
      this.#chunks = [];
      this.#length = 0;
      throw err;
    }
  }

  #decode(): Frame | null {
    if (this.#length < HEADER_LEN) return null;
    const header = this.#peek(HEADER_LEN);
    const type = header[0];
    if (type !== FRAME_JSON && type !== FRAME_DATA) throw new FrameError("protocol.malformed_frame", `unknown frame type ${type}`);
    const len = new DataView(header.buffer, header.byteOffset, HEADER_LEN).getUint32(1);
    const limit = type === FRAME_JSON ? MAX_JSON_LEN : MAX_DATA_LEN;
    if (len > limit) throw new FrameError("protocol.frame_too_large", `a frame of ${len} bytes is over its limit of ${limit}`);
    if (this.#length < HEADER_LEN + len) return null;
    const whole = this.#take(HEADER_LEN + len);
    const payload = whole.subarray(HEADER_LEN);
    return type === FRAME_JSON ? { kind: "json", message: parseJson(payload) } : { kind: "data", payload };
  }

  /** The first `n` bytes, joined into one chunk (kept in place). */
  #peek(n: number): Uint8Array {
    const first = this.#chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const joined = new Uint8Array(this.#length);
    let at = 0;
    for (const c of this.#chunks) {
      joined.set(c, at);
      at += c.length;
    }
    this.#chunks = [joined];
    return joined.subarray(0, n);
  }

  #take(n: number): Uint8Array {
    const joined = this.#peek(n);
    const out = joined.slice(0, n);
    const first = this.#chunks[0]!;
    this.#chunks[0] = first.subarray(n);
    if (this.#chunks[0].length === 0) this.#chunks.shift();
    this.#length -= n;
    return out;
  }
}
