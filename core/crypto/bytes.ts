/**
 * Byte helpers shared by the crypto modules: base64/base64url/base32,
 * constant-time compare, SHA-256. Everything returns `Bytes` (backed by a
 * plain ArrayBuffer) so WebCrypto accepts it without casts.
 */
import { toHex } from "../ids.ts";

export type Bytes = Uint8Array<ArrayBuffer>;
export function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64");
}
export function fromB64(text: string): Bytes {
  return new Uint8Array(Buffer.from(text, "base64"));
}
export function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}
export function fromB64url(text: string): Bytes {
  return new Uint8Array(Buffer.from(text, "base64url"));
}

const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
export function base32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = "";
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}
export function fromBase32(text: string): Bytes {
  const clean = text.toUpperCase().replace(/=+$/, "").replace(/\s+/g, "");
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of clean) {
    const i = B32.indexOf(ch);
    if (i < 0) throw new Error("invalid base32");
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return new Uint8Array(out);
}

export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export async function sha256(data: Uint8Array | string): Promise<Bytes> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : new Uint8Array(data);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** SHA-256 as lowercase hex: the stored form of hashed secrets, keys of counters, content hashes. */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  return toHex(await sha256(data));
}

export function randomBytes(n: number): Bytes {
  return crypto.getRandomValues(new Uint8Array(n));
}
