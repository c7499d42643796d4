/**
 * TOTP (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits). `verifyTotp` accepts the
 * current step and one either side for clock skew and returns the matched
 * step, so callers can refuse a code whose step was already used (replay).
 */
import { base32, fromBase32, randomBytes } from "./bytes.ts";

export const TOTP_STEP_SECONDS = 30;
const DIGITS = 6;

export function newTotpSecret(): string {
  return base32(randomBytes(20));
}

export async function totpAt(secretB32: string, step: number): Promise<string> {
  const key = await crypto.subtle.importKey("raw", fromBase32(secretB32), { name: "HMAC", hash: "SHA-1" }, false, ["sign"]);
  const counter = new Uint8Array(8);
  new DataView(counter.buffer).setBigUint64(0, BigInt(step));
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, counter));
  const offset = mac[mac.length - 1]! & 0x0f;
  const bin = ((mac[offset]! & 0x7f) << 24) | (mac[offset + 1]! << 16) | (mac[offset + 2]! << 8) | mac[offset + 3]!;
  return String(bin % 10 ** DIGITS).padStart(DIGITS, "0");
}

export function totpStep(now: Date): number {
  return Math.floor(now.getTime() / 1000 / TOTP_STEP_SECONDS);
}

/** The step the code matches (now ±1), or null. Codes that are not 6 digits never match. */
export async function verifyTotp(secretB32: string, code: string, now: Date): Promise<number | null> {
  if (!/^\d{6}$/.test(code)) return null;
  const current = totpStep(now);
  for (const step of [current, current - 1, current + 1]) {
    if ((await totpAt(secretB32, step)) === code) return step;
  }
  return null;
}

export function otpauthUri(secretB32: string, account: string, issuer = "Secure Access Fabric"): string {
  const label = encodeURIComponent(`${issuer}:${account}`);
  return `otpauth://totp/${label}?secret=${secretB32}&issuer=${encodeURIComponent(issuer)}&algorithm=SHA1&digits=${DIGITS}&period=${TOTP_STEP_SECONDS}`;
}
