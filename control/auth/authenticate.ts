/**
 * Who a bearer access token belongs to: verifies the JWT, then the auth
 * session it names (not revoked, not expired) and the user (active), and
 * builds the authorization subject. Every request re-checks the session, so
 * logout and revocation take effect at once.
 */
import type { Subject } from "../../core/authz.ts";
import { DomainError } from "../../core/errors.ts";
import { getSession, type SessionRow } from "../../sql/auth-sessions.ts";
import { getUserById, type UserRow } from "../../sql/users.ts";
import type { ControlDeps } from "../deps.ts";
import { verifyAccessToken } from "./access-token.ts";
import { loadSubject } from "./subject.ts";

export interface Authenticated {
  user: UserRow;
  session: SessionRow;
  subject: Subject;
}

export async function authenticateAccessToken(deps: Pick<ControlDeps, "db" | "identity" | "clock">, bearer: string): Promise<Authenticated> {
  const { db, identity } = deps;
  const now = deps.clock();
  const claims = await verifyAccessToken(identity.tokenKey, bearer, now, identity.accessTtlSeconds);
  const session = await getSession(db, claims.sessionId);
  if (!session || session.userId !== claims.userId || session.revokedAt || session.expiresAt <= now) {
    throw new DomainError("auth.session_revoked", "session revoked or expired");
  }
  const user = await getUserById(db, claims.userId);
  if (user?.status !== "active") throw new DomainError("auth.session_revoked", "user not active");
  return { user, session, subject: await loadSubject(db, identity, user, session, now) };
}
