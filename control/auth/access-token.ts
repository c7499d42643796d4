/**
 * Access tokens: short-lived JWTs (HS256 with the replica-shared token key)
 * naming the user and the auth session. Every request re-checks the session,
 * so logout and revocation take effect at once, not at expiry. A token is
 * honoured only within the lifetime this server issues: one that claims to
 * live longer, or to be issued in the future, is refused even when its
 * signature holds (a leaked key or an older build must not mint long-lived
 * tokens).
 */
import { errors, jwtVerify, SignJWT, type JWTPayload } from "jose";
import { DomainError } from "../../core/errors.ts";

const ISSUER = "rap-control-plane";
const AUDIENCE = "rap-api";

export class TokenRejected extends DomainError {}

export async function signAccessToken(key: Uint8Array, claims: { userId: string; sessionId: string }, now: Date, ttlSeconds: number): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  return new SignJWT({ sid: claims.sessionId, typ: "access" })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(claims.userId)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttlSeconds)
    .sign(key);
}

/** How far ahead of this replica's clock another replica's `iat` may be. */
export const CLOCK_SKEW_SECONDS = 60;

/** Whether a verified token's claimed lifetime is one this server issues: `iat` not in the future, `exp - iat` at most `ttlSeconds`. */
export function withinIssuedLifetime(payload: JWTPayload, now: Date, ttlSeconds: number): boolean {
  const { iat, exp } = payload;
  if (typeof iat !== "number" || typeof exp !== "number") return false;
  return iat <= now.getTime() / 1000 + CLOCK_SKEW_SECONDS && exp - iat <= ttlSeconds;
}

export async function verifyAccessToken(key: Uint8Array, token: string, now: Date, ttlSeconds: number): Promise<{ userId: string; sessionId: string }> {
  try {
    const { payload } = await jwtVerify(token, key, { algorithms: ["HS256"], issuer: ISSUER, audience: AUDIENCE, currentDate: now });
    if (payload.typ !== "access" || typeof payload.sub !== "string" || typeof payload.sid !== "string") throw new Error("wrong token type");
    if (!withinIssuedLifetime(payload, now, ttlSeconds)) throw new Error("lifetime beyond what this server issues");
    return { userId: payload.sub, sessionId: payload.sid };
  } catch (err) {
    if (err instanceof errors.JWTExpired) throw new TokenRejected("auth.token_expired", "access token expired");
    throw new TokenRejected("auth.token_invalid", "access token invalid");
  }
}
