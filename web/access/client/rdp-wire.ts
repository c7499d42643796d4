/**
 * The RDP channel messages of rap.session.v1, byte for byte as
 * `crates/fabric-rdp` (render_wire.rs, input_wire.rs) has them: tile
 * messages on `render`, input event batches and JSON controls on `input`,
 * clipboard messages, and the file-transfer messages with their chunking.
 * Pure code plus WebCrypto's SHA-256: it runs in the browser bundle, in the
 * viewer's drawing worker and under Bun and Deno alike. Everything that came from the
 * network is checked against its bounds before use; a bad message throws an
 * `RdpWireError` with a stable code and nothing else happens.
 */
import { type JsonMessage, MAX_DATA_LEN } from "./frame.ts";

export type RdpWireErrorCode =
  | "rdp.malformed_tiles"
  | "protocol.malformed_input"
  | "protocol.invalid_message"
  | "clipboard.too_large"
  | "clipboard.hash_mismatch"
  | "file_upload.too_large"
  | "file_transfer.name_invalid"
  | "file_transfer.chunk_too_large"
  | "file_transfer.size_mismatch"
  | "file_download.hash_mismatch";

export class RdpWireError extends Error {
  constructor(
    readonly code: RdpWireErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = "RdpWireError";
  }
}

// ---------------------------------------------------------------- render: tile messages

export const TILE_MESSAGE = 0x01;
/** Bit 0 of a tile message's flags: the last message of its frame. */
export const FLAG_LAST = 0x01;
export const TILE_SIZE = 64;
export const ENCODING = { png: 1, jpeg: 2, solid: 3 } as const;
export type EncodingName = keyof typeof ENCODING;
const ENCODING_NAMES: Record<number, EncodingName> = { 1: "png", 2: "jpeg", 3: "solid" };
export const MIME: Record<"png" | "jpeg", string> = { png: "image/png", jpeg: "image/jpeg" };
/** u8 type, u32 frame_seq, u8 flags, u64 captured_at_us, u16 tile_count. */
export const TILE_MESSAGE_HEADER_LEN = 16;
/** u16 x, y, w, h, u8 encoding, u32 len. */
export const TILE_HEADER_LEN = 13;

export interface Tile {
  x: number;
  y: number;
  w: number;
  h: number;
  encoding: EncodingName;
  /** PNG or JPEG file bytes; for SOLID the 4 bytes R, G, B, A. */
  bytes: Uint8Array;
}

export interface TileMessage {
  frameSeq: number;
  /** The last message of frame `frameSeq`: acknowledge the frame once it is drawn. */
  last: boolean;
  /**
   * Adapter monotonic microseconds when the frame's pixels were read (counted
   * from the adapter process's start, so a double holds it exactly for
   * centuries; a u64 past 2^53 reads as the nearest double).
   */
  capturedAtUs: number;
  tiles: Tile[];
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_MAGIC = [0xff, 0xd8, 0xff];
const startsWith = (b: Uint8Array, magic: number[]) => b.length >= magic.length && magic.every((m, i) => b[i] === m);

const bad = (message: string) => new RdpWireError("rdp.malformed_tiles", message);

/**
 * Parses one tile message (a render DATA payload). With `desktop`, every tile
 * must lie inside it. Tile bytes are views into `bytes`, not copies.
 */
export function parseTileMessage(bytes: Uint8Array, desktop?: { width: number; height: number }): TileMessage {
  if (bytes.length > MAX_DATA_LEN) throw bad(`a tile message of ${bytes.length} bytes is over ${MAX_DATA_LEN}`);
  if (bytes.length < TILE_MESSAGE_HEADER_LEN) throw bad(`a tile message of ${bytes.length} bytes is shorter than its ${TILE_MESSAGE_HEADER_LEN}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint8(0) !== TILE_MESSAGE) throw bad(`unknown render message type ${view.getUint8(0)}`);
  const frameSeq = view.getUint32(1);
  // Other flag bits are reserved: ignored, so a newer adapter's hints do not break this client.
  const last = (view.getUint8(5) & FLAG_LAST) !== 0;
  const capturedAtUs = Number(view.getBigUint64(6));
  const count = view.getUint16(14);
  const tiles: Tile[] = [];
  let at = TILE_MESSAGE_HEADER_LEN;
  for (let i = 0; i < count; i++) {
    if (bytes.length - at < TILE_HEADER_LEN) throw bad(`tile ${i} of ${count}: its header is cut off at byte ${bytes.length}`);
    const x = view.getUint16(at);
    const y = view.getUint16(at + 2);
    const w = view.getUint16(at + 4);
    const h = view.getUint16(at + 6);
    const code = view.getUint8(at + 8);
    const len = view.getUint32(at + 9);
    at += TILE_HEADER_LEN;
    const encoding = ENCODING_NAMES[code];
    if (!encoding) throw bad(`tile ${i}: unknown encoding ${code}`);
    if (w < 1 || h < 1 || w > TILE_SIZE || h > TILE_SIZE) throw bad(`tile ${i}: size ${w}x${h} is outside 1..${TILE_SIZE}`);
    if (x + w > 0xffff || y + h > 0xffff) throw bad(`tile ${i}: ${w}x${h} at ${x},${y} overflows the coordinate range`);
    if (desktop && (x + w > desktop.width || y + h > desktop.height))
      throw bad(`tile ${i}: ${w}x${h} at ${x},${y} lies outside the ${desktop.width}x${desktop.height} desktop`);
    if (len > bytes.length - at) throw bad(`tile ${i}: ${len} bytes announced, ${bytes.length - at} left`);
    const body = bytes.subarray(at, at + len);
    at += len;
    if (encoding === "solid" && len !== 4) throw bad(`tile ${i}: a SOLID tile has 4 bytes (R, G, B, A), not ${len}`);
    if (encoding === "png" && !startsWith(body, PNG_MAGIC)) throw bad(`tile ${i}: PNG bytes do not start with the PNG signature`);
    if (encoding === "jpeg" && !startsWith(body, JPEG_MAGIC)) throw bad(`tile ${i}: JPEG bytes do not start with a JPEG marker`);
    tiles.push({ x, y, w, h, encoding, bytes: body });
  }
  if (at !== bytes.length) throw bad(`${bytes.length - at} bytes after the last of ${count} tiles`);
  return { frameSeq, last, capturedAtUs, tiles };
}

/** One tile message's bytes; the adapter's encoder in TS, for tests and harnesses. */
export function encodeTileMessage(m: TileMessage): Uint8Array {
  if (m.tiles.length > 0xffff) throw bad(`${m.tiles.length} tiles do not fit a u16 count`);
  const len = TILE_MESSAGE_HEADER_LEN + m.tiles.reduce((n, t) => n + TILE_HEADER_LEN + t.bytes.length, 0);
  if (len > MAX_DATA_LEN) throw bad(`a tile message of ${len} bytes is over ${MAX_DATA_LEN}`);
  const out = new Uint8Array(len);
  const view = new DataView(out.buffer);
  view.setUint8(0, TILE_MESSAGE);
  view.setUint32(1, m.frameSeq);
  view.setUint8(5, m.last ? FLAG_LAST : 0);
  view.setBigUint64(6, BigInt(m.capturedAtUs));
  view.setUint16(14, m.tiles.length);
  let at = TILE_MESSAGE_HEADER_LEN;
  for (const t of m.tiles) {
    view.setUint16(at, t.x);
    view.setUint16(at + 2, t.y);
    view.setUint16(at + 4, t.w);
    view.setUint16(at + 6, t.h);
    view.setUint8(at + 8, ENCODING[t.encoding]);
    view.setUint32(at + 9, t.bytes.length);
    out.set(t.bytes, at + TILE_HEADER_LEN);
    at += TILE_HEADER_LEN + t.bytes.length;
  }
  return out;
}

/** A SOLID tile's colour as CSS (alpha ignored: the desktop is opaque). */
export function solidColor(t: Tile): string {
  return `rgb(${t.bytes[0]},${t.bytes[1]},${t.bytes[2]})`;
}

export function frameAck(seq: number): JsonMessage {
  return { type: "frame_ack", seq: u32(seq, "seq") };
}

// ---------------------------------------------------------------- render: JSON from the adapter

export const PROFILES = ["emergency_grayscale", "low_bandwidth", "text_priority", "balanced", "high_quality"] as const;
export type Profile = (typeof PROFILES)[number];
export const COLOR_MODES = ["full", "256", "64", "16", "grayscale"] as const;
export type ColorMode = (typeof COLOR_MODES)[number];

export interface DesktopInfo {
  width: number;
  height: number;
  profile: string;
  color_mode: string;
  fps: number;
  /** The resource lets the user change profile and colour mode. */
  adjustable: boolean;
  /** The server follows `resize` (display control channel). */
  resizable: boolean;
}

export interface RdpStats {
  fps: number;
  bytes_per_s: number;
  encode_ms_p95: number;
  frames_dropped: number;
  tiles_superseded: number;
  /** The adapter's frame_ack round trip. */
  rtt_ms: number;
  profile: string;
  color_mode: string;
}

const invalid = (message: string) => new RdpWireError("protocol.invalid_message", message);

function int(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) throw invalid(`${name} must be an integer in ${min}..${max}`);
  return v;
}
const u32 = (v: unknown, name: string) => int(v, name, 0, 0xffff_ffff);
const num = (v: unknown, fallback = 0) => (typeof v === "number" && Number.isFinite(v) ? v : fallback);
const str = (v: unknown, fallback = "") => (typeof v === "string" ? v : fallback);

export function parseDesktop(m: JsonMessage): DesktopInfo {
  if (m.type !== "desktop") throw invalid(`not a desktop message: ${m.type}`);
  return {
    width: int(m.width, "desktop.width", 1, 0xffff),
    height: int(m.height, "desktop.height", 1, 0xffff),
    profile: str(m.profile, "balanced"),
    color_mode: str(m.color_mode, "full"),
    fps: num(m.fps),
    adjustable: m.adjustable === true,
    resizable: m.resizable === true,
  };
}

/** Stats are informative: a missing or odd field reads as 0 / empty rather than failing. */
export function parseStats(m: JsonMessage): RdpStats {
  return {
    fps: num(m.fps),
    bytes_per_s: num(m.bytes_per_s),
    encode_ms_p95: num(m.encode_ms_p95),
    frames_dropped: num(m.frames_dropped),
    tiles_superseded: num(m.tiles_superseded),
    rtt_ms: num(m.rtt_ms),
    profile: str(m.profile),
    color_mode: str(m.color_mode),
  };
}

/** The spec's error event as the adapter sends it in a non-fatal notice. */
export interface NoticeError {
  code: string;
  message_key: string;
  fallback_message: string;
  details: Record<string, unknown>;
}

export function parseNotice(m: JsonMessage): NoticeError {
  const e = (typeof m.error === "object" && m.error !== null ? m.error : {}) as Record<string, unknown>;
  const code = str(e.code, "internal.error");
  return {
    code,
    message_key: str(e.message_key, `errors.${code}`),
    fallback_message: str(e.fallback_message, code),
    details: typeof e.details === "object" && e.details !== null ? (e.details as Record<string, unknown>) : {},
  };
}

// ---------------------------------------------------------------- input: event batches and controls

export const INPUT = { key: 0x01, unicode: 0x02, move: 0x03, button: 0x04, wheel: 0x05, releaseAll: 0x06 } as const;
/** Bit 8 of a key event's scancode: an E0-prefixed (extended) key. */
export const EXTENDED = 0x100;
export const BUTTONS = { left: 0, middle: 1, right: 2, x1: 3, x2: 4 } as const;
export type MouseButton = keyof typeof BUTTONS;
const BUTTON_NAMES = Object.keys(BUTTONS) as MouseButton[];
/** One wheel notch, as Windows counts it. */
export const WHEEL_NOTCH = 120;

export type InputEvent =
  | { type: "key"; scancode: number; down: boolean }
  | { type: "unicode"; codepoint: number; down: boolean }
  | { type: "move"; x: number; y: number }
  | { type: "button"; button: MouseButton; down: boolean }
  | { type: "wheel"; delta: number; horizontal: boolean }
  | { type: "release_all" };

const EVENT_LEN: Record<number, number> = { 1: 4, 2: 6, 3: 5, 4: 3, 5: 4, 6: 1 };

function checkEvent(e: InputEvent): void {
  const fail = (why: string) => {
    throw new RdpWireError("protocol.malformed_input", why);
  };
  switch (e.type) {
    case "key":
      if (!Number.isInteger(e.scancode) || e.scancode < 0 || e.scancode > 0x1ff) fail(`scancode ${e.scancode} is outside 0..0x1ff`);
      return;
    case "unicode":
      if (!Number.isInteger(e.codepoint) || e.codepoint < 0 || e.codepoint > 0x10ffff || (e.codepoint >= 0xd800 && e.codepoint <= 0xdfff))
        fail(`${e.codepoint} is not a Unicode scalar value`);
      return;
    case "move":
      if (![e.x, e.y].every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffff)) fail(`mouse position ${e.x},${e.y} is outside 0..65535`);
      return;
    case "button":
      if (!(e.button in BUTTONS)) fail(`unknown mouse button ${e.button}`);
      return;
    case "wheel":
      if (!Number.isInteger(e.delta) || e.delta < -0x8000 || e.delta > 0x7fff) fail(`wheel delta ${e.delta} is outside the i16 range`);
      return;
    case "release_all":
      return;
  }
}

/** Consecutive mouse moves collapse into the last one: only where the pointer is now matters. */
export function coalesceMoves(events: readonly InputEvent[]): InputEvent[] {
  const out: InputEvent[] = [];
  for (const e of events) {
    if (e.type === "move" && out.at(-1)?.type === "move") out[out.length - 1] = e;
    else out.push(e);
  }
  return out;
}

/** One input DATA payload: the events concatenated, big-endian. */
export function encodeInputBatch(events: readonly InputEvent[]): Uint8Array {
  for (const e of events) checkEvent(e);
  const len = events.reduce((n, e) => n + EVENT_LEN[INPUT[e.type === "release_all" ? "releaseAll" : e.type]]!, 0);
  if (len > MAX_DATA_LEN) throw new RdpWireError("protocol.malformed_input", `an input batch of ${len} bytes is over ${MAX_DATA_LEN}`);
  const out = new Uint8Array(len);
  const v = new DataView(out.buffer);
  let at = 0;
  for (const e of events) {
    switch (e.type) {
      case "key":
        v.setUint8(at, INPUT.key);
        v.setUint16(at + 1, e.scancode);
        v.setUint8(at + 3, e.down ? 1 : 0);
        at += 4;
        break;
      case "unicode":
        v.setUint8(at, INPUT.unicode);
        v.setUint32(at + 1, e.codepoint);
        v.setUint8(at + 5, e.down ? 1 : 0);
        at += 6;
        break;
      case "move":
        v.setUint8(at, INPUT.move);
        v.setUint16(at + 1, e.x);
        v.setUint16(at + 3, e.y);
        at += 5;
        break;
      case "button":
        v.setUint8(at, INPUT.button);
        v.setUint8(at + 1, BUTTONS[e.button]);
        v.setUint8(at + 2, e.down ? 1 : 0);
        at += 3;
        break;
      case "wheel":
        v.setUint8(at, INPUT.wheel);
        v.setInt16(at + 1, e.delta);
        v.setUint8(at + 3, e.horizontal ? 1 : 0);
        at += 4;
        break;
      case "release_all":
        v.setUint8(at, INPUT.releaseAll);
        at += 1;
        break;
    }
  }
  return out;
}

/** The adapter's reading of a batch (input_wire.rs `parse_batch`): for tests and tools. */
export function parseInputBatch(bytes: Uint8Array): InputEvent[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: InputEvent[] = [];
  const fail = (why: string) => new RdpWireError("protocol.malformed_input", why);
  const flag = (at: number) => {
    const b = v.getUint8(at);
    if (b > 1) throw fail(`byte ${at}: ${b} is not 0 or 1`);
    return b === 1;
  };
  for (let at = 0; at < bytes.length; ) {
    const kind = v.getUint8(at);
    const len = EVENT_LEN[kind];
    if (!len) throw fail(`byte ${at}: unknown input event ${kind}`);
    if (at + len > bytes.length) throw fail(`byte ${at}: event ${kind} is cut off`);
    switch (kind) {
      case INPUT.key:
        out.push({ type: "key", scancode: v.getUint16(at + 1), down: flag(at + 3) });
        break;
      case INPUT.unicode: {
        // As input_wire.rs: a surrogate or a value past U+10FFFF is not a character.
        const codepoint = v.getUint32(at + 1);
        if (codepoint > 0x10ffff || (codepoint >= 0xd800 && codepoint <= 0xdfff)) throw fail(`byte ${at}: ${codepoint} is not a Unicode scalar value`);
        out.push({ type: "unicode", codepoint, down: flag(at + 5) });
        break;
      }
      case INPUT.move:
        out.push({ type: "move", x: v.getUint16(at + 1), y: v.getUint16(at + 3) });
        break;
      case INPUT.button: {
        const button = BUTTON_NAMES[v.getUint8(at + 1)];
        if (!button) throw fail(`byte ${at}: unknown mouse button ${v.getUint8(at + 1)}`);
        out.push({ type: "button", button, down: flag(at + 2) });
        break;
      }
      case INPUT.wheel:
        out.push({ type: "wheel", delta: v.getInt16(at + 1), horizontal: flag(at + 3) });
        break;
      default:
        out.push({ type: "release_all" });
    }
    at += len;
  }
  return out;
}

export const MIN_DESKTOP = 200;
export const MAX_DESKTOP = 8192;

export function resizeMessage(width: number, height: number): JsonMessage {
  return { type: "resize", width: int(width, "width", MIN_DESKTOP, MAX_DESKTOP), height: int(height, "height", MIN_DESKTOP, MAX_DESKTOP) };
}

export function qualityMessage(q: { profile?: string; color_mode?: string }): JsonMessage {
  if (q.profile === undefined && q.color_mode === undefined) throw invalid("a quality change names a profile, a colour mode or both");
  if (q.profile !== undefined && !PROFILES.includes(q.profile as Profile)) throw invalid(`unknown profile ${q.profile}`);
  if (q.color_mode !== undefined && !COLOR_MODES.includes(q.color_mode as ColorMode)) throw invalid(`unknown colour mode ${q.color_mode}`);
  return { type: "quality", ...(q.profile !== undefined && { profile: q.profile }), ...(q.color_mode !== undefined && { color_mode: q.color_mode }) };
}

export const refreshMessage = (): JsonMessage => ({ type: "refresh" });

// ---------------------------------------------------------------- hashing

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lowercase hex SHA-256 (WebCrypto; the page must be a secure context, as WebTransport requires anyway). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  let out = "";
  for (const b of digest) out += HEX[b];
  return out;
}

// ---------------------------------------------------------------- clipboard

export const MAX_CLIPBOARD_BYTES = 60_000;

export interface ClipboardMessage {
  type: "clipboard";
  sequence_id: number;
  origin: "client" | "server";
  content_hash: string;
  text: string;
}

const utf8 = new TextEncoder();

/** The client's clipboard message for `text`; refuses text over 60,000 UTF-8 bytes like the adapter would. */
export async function clipboardMessage(sequenceId: number, text: string): Promise<ClipboardMessage> {
  const bytes = utf8.encode(text);
  if (bytes.length > MAX_CLIPBOARD_BYTES) throw new RdpWireError("clipboard.too_large", `${bytes.length} bytes of text are over ${MAX_CLIPBOARD_BYTES}`);
  return { type: "clipboard", sequence_id: u32(sequenceId, "sequence_id"), origin: "client", content_hash: await sha256Hex(bytes), text };
}

/** A clipboard message from the adapter, its fields and hash checked. */
export async function parseClipboard(m: JsonMessage): Promise<ClipboardMessage> {
  if (m.type !== "clipboard") throw invalid(`not a clipboard message: ${m.type}`);
  if (typeof m.text !== "string") throw invalid("clipboard.text must be a string");
  if (m.origin !== "client" && m.origin !== "server") throw invalid("clipboard.origin must be client or server");
  if (typeof m.content_hash !== "string" || !/^[0-9a-f]{64}$/.test(m.content_hash)) throw invalid("clipboard.content_hash must be 64 lowercase hex digits");
  const bytes = utf8.encode(m.text);
  if (bytes.length > MAX_CLIPBOARD_BYTES) throw new RdpWireError("clipboard.too_large", `${bytes.length} bytes of text are over ${MAX_CLIPBOARD_BYTES}`);
  if ((await sha256Hex(bytes)) !== m.content_hash) throw new RdpWireError("clipboard.hash_mismatch", "content_hash is not the SHA-256 of the text");
  return { type: "clipboard", sequence_id: u32(m.sequence_id, "sequence_id"), origin: m.origin, content_hash: m.content_hash, text: m.text };
}

// ---------------------------------------------------------------- file transfer

export const FILE_CHUNK_LEN = 256 * 1024;
export const MAX_FILE_LEN = 25 * 1024 * 1024;

/** The adapter's safe-name rule: 1..255 UTF-8 bytes, no separators, NUL or control characters, no leading dot. */
export function checkFileName(name: string): string {
  const n = utf8.encode(name).length;
  const why =
    n < 1 || n > 255
      ? `a name has 1..255 bytes, not ${n}`
      : [...name].some((c) => c === "/" || c === "\\" || c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f))
        ? "a name may not hold /, \\ or control characters"
        : name.startsWith(".")
          ? "a name may not start with a dot"
          : null;
  if (why) throw new RdpWireError("file_transfer.name_invalid", why);
  return name;
}

export function checkFileSize(size: number): number {
  if (!Number.isInteger(size) || size < 0 || size > MAX_FILE_LEN)
    throw new RdpWireError("file_upload.too_large", `${size} bytes are over the ${MAX_FILE_LEN}-byte limit`);
  return size;
}

/** `bytes` in DATA chunks of at most 256 KiB (views, not copies). */
export function* fileChunks(bytes: Uint8Array): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += FILE_CHUNK_LEN) yield bytes.subarray(at, at + FILE_CHUNK_LEN);
}

export const uploadStart = (transferId: string, name: string, size: number): JsonMessage => ({
  type: "file_upload.start",
  transfer_id: transferId,
  name: checkFileName(name),
  size: checkFileSize(size),
});
export const uploadEnd = (transferId: string, sha256: string): JsonMessage => ({ type: "file_upload.end", transfer_id: transferId, sha256 });
export const downloadList = (): JsonMessage => ({ type: "file_download.list" });
export const downloadStart = (transferId: string, name: string): JsonMessage => ({
  type: "file_download.start",
  transfer_id: transferId,
  name: checkFileName(name),
});
export const downloadCancel = (transferId: string): JsonMessage => ({ type: "file_download.cancel", transfer_id: transferId });

export interface RemoteFile {
  name: string;
  size: number;
}

/** What the adapter says on the file_transfer stream, checked. */
export type FileServerMessage =
  | { type: "file_upload.ready"; transfer_id: string }
  | { type: "file_upload.done"; transfer_id: string; name: string; size: number; sha256: string }
  | { type: "file_download.files"; files: RemoteFile[] }
  | { type: "file_download.begin"; transfer_id: string; name: string; size: number }
  | { type: "file_download.end"; transfer_id: string; sha256: string }
  | { type: "error"; transfer_id?: string; error: NoticeError };

const id = (v: unknown) => {
  if (typeof v !== "string" || v.length === 0 || v.length > 64) throw invalid("transfer_id must be a string of 1..64 characters");
  return v;
};
const hash = (v: unknown) => {
  if (typeof v !== "string" || !/^[0-9a-f]{64}$/.test(v)) throw invalid("sha256 must be 64 lowercase hex digits");
  return v;
};
const size = (v: unknown) => int(v, "size", 0, Number.MAX_SAFE_INTEGER);
const name = (v: unknown) => {
  if (typeof v !== "string") throw invalid("name must be a string");
  return v;
};

/** null for a message type this client does not know (newer adapters may add some). */
export function parseFileMessage(m: JsonMessage): FileServerMessage | null {
  switch (m.type) {
    case "file_upload.ready":
      return { type: m.type, transfer_id: id(m.transfer_id) };
    case "file_upload.done":
      return { type: m.type, transfer_id: id(m.transfer_id), name: name(m.name), size: size(m.size), sha256: hash(m.sha256) };
    case "file_download.files":
      if (!Array.isArray(m.files)) throw invalid("files must be an array");
      return { type: m.type, files: m.files.map((f: Record<string, unknown>) => ({ name: name(f?.name), size: size(f?.size) })) };
    case "file_download.begin":
      return { type: m.type, transfer_id: id(m.transfer_id), name: name(m.name), size: size(m.size) };
    case "file_download.end":
      return { type: m.type, transfer_id: id(m.transfer_id), sha256: hash(m.sha256) };
    case "error":
      return { type: "error", ...(typeof m.transfer_id === "string" && { transfer_id: m.transfer_id }), error: parseNotice(m) };
    default:
      return null;
  }
}

/**
 * One download's bytes as they arrive: refuses a chunk over 256 KiB or past
 * the announced size, and checks size and SHA-256 at the end.
 */
export class DownloadAssembler {
  #chunks: Uint8Array[] = [];
  #received = 0;
  constructor(
    readonly transferId: string,
    readonly name: string,
    readonly size: number,
  ) {
    checkFileSize(size);
  }

  get received(): number {
    return this.#received;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length > FILE_CHUNK_LEN) throw new RdpWireError("file_transfer.chunk_too_large", `a chunk of ${chunk.length} bytes is over ${FILE_CHUNK_LEN}`);
    if (this.#received + chunk.length > this.size)
      throw new RdpWireError("file_transfer.size_mismatch", `${this.#received + chunk.length} bytes received, ${this.size} announced`);
    this.#chunks.push(chunk.slice());
    this.#received += chunk.length;
  }

  async finish(sha256: string): Promise<{ name: string; bytes: Uint8Array; sha256: string }> {
    if (this.#received !== this.size) throw new RdpWireError("file_transfer.size_mismatch", `${this.#received} bytes received, ${this.size} announced`);
    const bytes = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.#chunks) {
      bytes.set(c, at);
      at += c.length;
    }
    this.#chunks = [];
    const actual = await sha256Hex(bytes);
    if (actual !== sha256) throw new RdpWireError("file_download.hash_mismatch", "the file's SHA-256 is not the one the adapter announced");
    return { name: this.name, bytes, sha256 };
  }
}

/** A transfer id: a random UUID (crypto.randomUUID needs a secure context; getRandomValues does not). */
export function newTransferId(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => HEX[x]).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
