/**
 * Access tokens: short-lived JWTs (HS256 with the replica-shared token key)
 * naming the user and the auth session. Every request re-checks the session,
 * so logout and revocation take effect at once, not at expiry.
 */
import { errors, jwtVerify, SignJWT } from "jose";
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

export async function verifyAccessToken(key: Uint8Array, token: string, now: Date): Promise<{ userId: string; sessionId: string }> {
  try {
    const { payload } = await jwtVerify(token, key, { algorithms: ["HS256"], issuer: ISSUER, audience: AUDIENCE, currentDate: now });
    if (payload.typ !== "access" || typeof payload.sub !== "string" || typeof payload.sid !== "string") throw new Error("wrong token type");
    return { userId: payload.sub, sessionId: payload.sid };
  } catch (err) {
    if (err instanceof errors.JWTExpired) throw new TokenRejected("auth.token_expired", "access token expired");
    throw new TokenRejected("auth.token_invalid", "access token invalid");
  }
}
