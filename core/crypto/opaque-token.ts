/**
 * Opaque bearer tokens (refresh tokens now, join tokens later):
 * `rap_<kind>_<prefix>_<secret>`. The prefix is stored (unique, safe to log)
 * and the SHA-256 of the secret is stored; the raw token exists only in the
 * response that issued it. Lookup is by prefix, comparison in constant time.
 */
import { b64url, constantTimeEqual, randomBytes, sha256Hex } from "./bytes.ts";

export interface IssuedToken {
  token: string;
  prefix: string;
  hash: string;
}
export interface ParsedToken {
  prefix: string;
  secret: string;
}

const PREFIX_CHARS = 12;

export async function issueOpaqueToken(kind: string): Promise<IssuedToken> {
  const prefix = b64url(randomBytes(9)).replace(/[-_]/g, "x").slice(0, PREFIX_CHARS).toLowerCase();
  const secret = b64url(randomBytes(32));
  return { token: `rap_${kind}_${prefix}_${secret}`, prefix, hash: await hashSecret(secret) };
}

export function parseOpaqueToken(kind: string, token: string): ParsedToken | null {
  const m = new RegExp(`^rap_${kind}_([a-z0-9]{${PREFIX_CHARS}})_([A-Za-z0-9_-]{43})$`).exec(token);
  return m ? { prefix: m[1]!, secret: m[2]! } : null;
}

export async function hashSecret(secret: string): Promise<string> {
  return sha256Hex(secret);
}

export async function secretMatches(secret: string, storedHash: string): Promise<boolean> {
  const given = new TextEncoder().encode(await hashSecret(secret));
  return constantTimeEqual(given, new TextEncoder().encode(storedHash));
}
