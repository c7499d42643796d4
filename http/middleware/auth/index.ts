/**
 * Authenticates `Authorization: Bearer <access token>`: verifies the JWT,
 * then the auth session it names (not revoked, not expired) and the user
 * (active), and builds the authorization subject. Sets `auth` and `principal`.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../../env.ts";
import { DomainError, Unauthenticated } from "../../../core/errors.ts";
import { verifyAccessToken } from "../../auth/access-token.ts";
import { getSession } from "../../../sql/auth-sessions.ts";
import { getUserById } from "../../../sql/users.ts";
import { loadSubject } from "../../auth/subject.ts";

export function authenticate(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    // Sub-apps mounted at one prefix each guard themselves; the first one authenticates.
    if (c.get("auth")) return next();
    const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
    if (!bearer) throw new Unauthenticated("missing bearer token");
    const { db, identity, clock } = c.get("deps");
    const now = clock();
    const claims = await verifyAccessToken(identity.tokenKey, bearer, now, identity.accessTtlSeconds);
    const session = await getSession(db, claims.sessionId);
    if (!session || session.userId !== claims.userId || session.revokedAt || session.expiresAt <= now) {
      throw new DomainError("auth.session_revoked", "session revoked or expired");
    }
    const user = await getUserById(db, claims.userId);
    if (!user || user.status !== "active") throw new DomainError("auth.session_revoked", "user not active");
    const subject = await loadSubject(db, identity, user, session, now);
    c.set("auth", { user, session, subject });
    c.set("principal", { type: "user", id: user.id });
    await next();
  };
}
