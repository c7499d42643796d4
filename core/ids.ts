/**
 * Identifiers. Entity ids are UUIDv7 (time-ordered, so index inserts stay
 * local and cursors sort by creation); trace ids are 32 hex chars as in W3C
 * trace context.
 */
export function newId(now: number = Date.now()): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let ms = now;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = toHex(bytes);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function newTraceId(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(16)));
}

const TRACE_ID = /^[0-9a-f]{32}$/;
export function isTraceId(value: string): boolean {
  return TRACE_ID.test(value) && value !== "0".repeat(32);
}

export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}
