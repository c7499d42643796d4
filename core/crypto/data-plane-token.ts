/**
 * Signs and verifies data-plane tokens (core/contracts/data-plane-token.ts):
 * compact JWS, `alg: EdDSA` (Ed25519) through `jose`, `typ` and `kid` in the
 * protected header. `verifyDataPlaneToken` is pure apart from WebCrypto: an
 * entry node runs it offline with the keys from its snapshot and the time it
 * is given. Single use is not its concern: the caller spends the jti.
 */
import * as v from "valibot";
import { CompactSign, compactVerify, decodeProtectedHeader } from "jose";
import { b64url, fromB64, sha256 } from "./bytes.ts";
import {
  DATA_PLANE_AUDIENCE,
  DATA_PLANE_ISSUER,
  DATA_PLANE_MAX_TTL_SECONDS,
  DATA_PLANE_SKEW_SECONDS,
  DATA_PLANE_TOKEN_TYPE,
  DataPlaneClaims,
  type DataPlaneExpect,
  type DataPlaneKey,
  type DataPlaneVerdict,
} from "../contracts/data-plane-token.ts";

/** How a token names an entry node: bound to the session, so refs of one node differ between sessions and reveal no node id. */
export async function entryRef(sessionId: string, nodeId: string): Promise<string> {
  return b64url((await sha256(`rap.entry_ref.v1\u0000${sessionId}\u0000${nodeId}`)).slice(0, 16));
}

export async function signDataPlaneToken(key: { kid: string; privateKey: CryptoKey }, claims: DataPlaneClaims): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg: "EdDSA", typ: DATA_PLANE_TOKEN_TYPE, kid: key.kid })
    .sign(key.privateKey);
}

const refuse = (code: Exclude<DataPlaneVerdict, { ok: true }>["code"], details: Record<string, unknown> = {}): DataPlaneVerdict => ({
  ok: false,
  code,
  details,
});

/**
 * Checks, in order: header (alg, typ, a known kid), signature, claims shape,
 * issuer and audience, lifetime (no longer than allowed, not issued in the
 * future), expiry, session, entry node. The first failure decides.
 */
export async function verifyDataPlaneToken(token: string, keys: readonly DataPlaneKey[], expect: DataPlaneExpect, now: Date): Promise<DataPlaneVerdict> {
  if (typeof token !== "string" || token.length > 8192) return refuse("data_plane.token_invalid");
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return refuse("data_plane.token_invalid");
  }
  if (header.alg !== "EdDSA" || header.typ !== DATA_PLANE_TOKEN_TYPE) return refuse("data_plane.token_invalid");
  const known = keys.find((k) => k.kid === header.kid && k.alg === "EdDSA");
  if (!known) return refuse("data_plane.token_invalid");
  let payload: Uint8Array;
  try {
    const publicKey = await crypto.subtle.importKey("raw", fromB64(known.public_key), { name: "Ed25519" }, false, ["verify"]);
    ({ payload } = await compactVerify(token, publicKey, { algorithms: ["EdDSA"] }));
  } catch {
    return refuse("data_plane.token_invalid");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return refuse("data_plane.token_invalid");
  }
  const claims = v.safeParse(DataPlaneClaims, parsed);
  if (!claims.success) return refuse("data_plane.token_invalid");
  const c = claims.output;
  if (c.iss !== DATA_PLANE_ISSUER || c.aud !== DATA_PLANE_AUDIENCE) return refuse("data_plane.token_invalid");
  const t = Math.floor(now.getTime() / 1000);
  const maxTtl = Math.min(expect.maxTtlSeconds ?? DATA_PLANE_MAX_TTL_SECONDS, DATA_PLANE_MAX_TTL_SECONDS);
  if (c.exp <= c.iat || c.exp - c.iat > maxTtl || c.iat > t + DATA_PLANE_SKEW_SECONDS) return refuse("data_plane.token_invalid");
  if (t >= c.exp) return refuse("data_plane.token_expired", { session_id: c.sid });
  if (expect.sessionId !== undefined && c.sid !== expect.sessionId) return refuse("data_plane.wrong_session");
  if (!c.ent.includes(await entryRef(c.sid, expect.entryNodeId))) return refuse("data_plane.wrong_entry", { session_id: c.sid });
  return { ok: true, claims: c };
}
