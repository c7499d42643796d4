/**
 * Authentication: password login (throttled, never locked: auth/throttle.ts), refresh
 * token rotation with family revocation on reuse, logout, TOTP enrollment,
 * step-up, trusted devices. Every outcome that matters is audited; raw
 * passwords, codes and tokens are never logged or stored.
 */
import type { ControlDeps } from "../deps.ts";
import type { ChangeContext } from "../../core/change.ts";
import { DomainError, type ErrorCode } from "../../core/errors.ts";
import { newId } from "../../core/ids.ts";
import { sha256Hex } from "../../core/crypto/bytes.ts";
import { issueOpaqueToken, parseOpaqueToken, secretMatches } from "../../core/crypto/opaque-token.ts";
import { newTotpSecret, otpauthUri, verifyTotp } from "../../core/crypto/totp.ts";
import { STEP_UP_WINDOW_MS } from "../../core/authz.ts";
import { appendAudit } from "../../sql/audit.ts";
import { enableTotp, getUserByEmail, getUserById, recordTotpStep, setPendingTotp, type UserRow } from "../../sql/users.ts";
import {
  findTrustedDevice,
  getSession,
  insertRefreshToken,
  insertSession,
  lockRefreshToken,
  markRefreshUsed,
  revokeSession,
  setSessionMfa,
  touchSession,
  trustDevice,
  type SessionRow,
} from "../../sql/auth-sessions.ts";
import type { Tx } from "../../sql/db.ts";
import { signAccessToken } from "./access-token.ts";
import { verifyPassword } from "./password.ts";
import { LoginThrottle } from "./throttle.ts";
import { userTotpAad as totpAad } from "../secrets.ts";
import { ssoOnlyOrganizations } from "../../sql/identity-sources.ts";
import { effectivePlatformRoles } from "./subject.ts";

type Deps = Pick<ControlDeps, "db" | "live" | "identity" | "clock" | "log">;

export interface TokenPair {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  refresh_token: string;
  session_id: string;
}

export interface LoginInput {
  email: string;
  password: string;
  deviceId?: string;
  totpCode?: string;
  ip: string;
  userAgent: string | null;
}

/** The stored form of a client's device id: bound to the user, never the raw id. */
export async function deviceHash(userId: string, deviceId: string | undefined): Promise<string> {
  return deviceId ? await sha256Hex(`${userId}:${deviceId}`) : `ephemeral:${newId()}`;
}

/**
 * Password sign-in. Nothing locks an account: failures slow the source that
 * makes them (auth/throttle.ts), and an attempt held back is answered 429
 * before its password is checked, unless it brings a TOTP code, so a
 * correct password and code always get the owner in. Existing and unknown
 * emails get the same answers, bodies and work (the password hash runs for
 * both; no per-account row is written on failure).
 */
export async function login(deps: Deps, input: LoginInput, change: ChangeContext): Promise<TokenPair & { mfa_verified: boolean; device_trusted: boolean }> {
  const now = deps.clock();
  const throttle = new LoginThrottle(deps.live, deps.clock);
  const gate = await throttle.gate(input.email, input.ip);
  const held = gate.retryAfterMs > 0;
  const refuse = () => new DomainError("auth.rate_limited", "sign-in held back", { retry_after_seconds: Math.ceil(gate.retryAfterMs / 1000) });
  // Held and without a code (or past the source's cap, or past the budget of held attempts with a code):
  // refused before anything is looked up or checked, the same for every email.
  if (held && (input.totpCode === undefined || gate.sourceCapped || !(await throttle.spendHeldWithCode(input.email, input.ip)))) throw refuse();

  const user = await getUserByEmail(deps.db, input.email);
  const fail = async (code: ErrorCode, reason: string) => {
    await throttle.failed(input.email, input.ip);
    await appendAudit(deps.db, { change, action: "auth.login", targetType: "user", targetId: user?.id ?? null, outcome: "failure", reason });
    // Held back, every failure looks alike: the caller learns nothing about the password or the code.
    return held ? refuse() : new DomainError(code, `login failed: ${reason}`);
  };

  if (!(await verifyPassword(input.password, user?.passwordHash)) || !user) throw await fail("auth.invalid_credentials", "bad_password");
  if (user.status !== "active") throw await fail("auth.account_disabled", "disabled");
  // Organizations that require single sign-on refuse their members' passwords; owners (break-glass) and platform staff are excepted.
  const ssoOnly = await ssoOnlyOrganizations(deps.db, user.id);
  if (ssoOnly.length > 0 && (await effectivePlatformRoles(deps.db, deps.identity, user, now)).length === 0) {
    await appendAudit(deps.db, { change, action: "auth.login", targetType: "user", targetId: user.id, outcome: "denied", reason: "sso_required" });
    throw new DomainError("auth.sso_required", "the organization requires single sign-on", { organizations: ssoOnly });
  }

  const device = await deviceHash(user.id, input.deviceId);
  const trusted = Boolean(await findTrustedDevice(deps.db, user.id, device));
  let mfaAt: Date | null = null;
  if (held && !user.totpEnabledAt) throw await fail("auth.rate_limited", "held_without_totp");
  if (user.totpEnabledAt) {
    if (input.totpCode !== undefined) {
      if (!(await consumeTotp(deps, user, input.totpCode))) throw await fail("auth.mfa_invalid", "bad_totp");
      mfaAt = now;
    } else if (!trusted || gate.underAttack) {
      // An unknown device must prove the second factor before it gets any token; so must every device while the account is under attack.
      throw new DomainError("auth.mfa_required", "second factor required");
    }
  }

  await throttle.succeeded(input.email, input.ip);
  const pair = await deps.db.transaction(async (tx) => {
    const issued = await openAuthSession(deps, tx, { userId: user.id, deviceHash: device, mfaAt, ip: input.ip, userAgent: input.userAgent, now });
    const sessionId = issued.session_id;
    await appendAudit(tx, {
      change: { ...change, author: { type: "user", id: user.id } },
      action: "auth.login",
      targetType: "auth_session",
      targetId: sessionId,
      outcome: "success",
      details: { device_trusted: trusted, mfa: mfaAt !== null, held: held || undefined },
    });
    return issued;
  });
  return { ...pair, mfa_verified: mfaAt !== null, device_trusted: trusted };
}

/**
 * Opens an auth session (one refresh-token family) and issues its first
 * tokens: the one way every sign-in method (password, OIDC, LDAP) ends.
 */
export async function openAuthSession(
  deps: Pick<Deps, "identity">,
  tx: Tx,
  s: { userId: string; deviceHash: string; mfaAt: Date | null; ip: string | null; userAgent: string | null; now: Date },
): Promise<TokenPair> {
  const sessionId = newId(s.now.getTime());
  await insertSession(tx, {
    id: sessionId,
    userId: s.userId,
    deviceHash: s.deviceHash,
    mfaAt: s.mfaAt,
    now: s.now,
    expiresAt: new Date(s.now.getTime() + deps.identity.refreshTtlSeconds * 1000),
    userAgent: s.userAgent,
    ip: s.ip,
  });
  return issueTokens(deps, tx, s.userId, sessionId, s.now);
}

async function issueTokens(deps: Pick<Deps, "identity">, tx: Tx, userId: string, sessionId: string, now: Date): Promise<TokenPair> {
  const refresh = await issueOpaqueToken("rt");
  await insertRefreshToken(tx, {
    prefix: refresh.prefix,
    sessionId,
    secretHash: refresh.hash,
    now,
    expiresAt: new Date(now.getTime() + deps.identity.refreshTtlSeconds * 1000),
  });
  return {
    access_token: await signAccessToken(deps.identity.tokenKey, { userId, sessionId }, now, deps.identity.accessTtlSeconds),
    token_type: "Bearer",
    expires_in: deps.identity.accessTtlSeconds,
    refresh_token: refresh.token,
    session_id: sessionId,
  };
}

/**
 * Rotates a refresh token. The presented token is spent; presenting a spent
 * token again means it leaked, so the whole family (the auth session) is
 * revoked and the caller must sign in again.
 */
export async function refresh(deps: Deps, token: string, change: ChangeContext): Promise<TokenPair> {
  const now = deps.clock();
  const parsed = parseOpaqueToken("rt", token);
  if (!parsed) throw new DomainError("auth.refresh_token_invalid", "malformed refresh token");
  const outcome = await deps.db.transaction(async (tx) => {
    const row = await lockRefreshToken(tx, parsed.prefix);
    if (!row || !(await secretMatches(parsed.secret, row.secretHash))) return { error: "auth.refresh_token_invalid" } as const;
    const session = await getSession(tx, row.sessionId, true);
    if (!session || session.revokedAt) return { error: "auth.session_revoked" } as const;
    if (row.usedAt) {
      await revokeSession(tx, session.id, "refresh_token_reuse");
      await appendAudit(tx, {
        change: { ...change, author: { type: "user", id: session.userId } },
        action: "auth.refresh_token_reuse",
        targetType: "auth_session",
        targetId: session.id,
        outcome: "denied",
        reason: "refresh_token_reused",
      });
      return { error: "auth.refresh_token_reused" } as const;
    }
    if (row.expiresAt <= now || session.expiresAt <= now) return { error: "auth.refresh_token_expired" } as const;
    await markRefreshUsed(tx, row.prefix, now);
    // A session is seen when it refreshes (once per access-token lifetime), not on every request.
    await touchSession(tx, session.id, now);
    return { pair: await issueTokens(deps, tx, session.userId, session.id, now) };
  });
  if ("error" in outcome) throw new DomainError(outcome.error!, "refresh refused");
  return outcome.pair;
}

export async function logout(deps: Deps, session: SessionRow, change: ChangeContext): Promise<void> {
  await deps.db.transaction(async (tx) => {
    await revokeSession(tx, session.id, "logout");
    await appendAudit(tx, { change, action: "auth.logout", targetType: "auth_session", targetId: session.id, outcome: "success" });
  });
}

export async function revokeOwnSession(deps: Deps, userId: string, sessionId: string, change: ChangeContext): Promise<void> {
  await deps.db.transaction(async (tx) => {
    const s = await getSession(tx, sessionId, true);
    if (!s || s.userId !== userId || s.revokedAt) throw new DomainError("auth.session_not_found", "no such session");
    await revokeSession(tx, sessionId, "revoked_by_user");
    await appendAudit(tx, { change, action: "auth.session_revoke", targetType: "auth_session", targetId: sessionId, outcome: "success" });
  });
}

/** A user's TOTP seed, unsealed (enabled or pending). */
async function totpSecretOf(deps: Pick<Deps, "identity">, sealed: NonNullable<UserRow["totp"]>, userId: string): Promise<string> {
  return new TextDecoder().decode(await deps.identity.keyring.open(sealed, totpAad(userId)));
}

/** Verifies a TOTP code and spends its time step, so a code works once. */
export async function consumeTotp(deps: Deps, user: UserRow, code: string): Promise<boolean> {
  if (!user.totp) return false;
  const secret = await totpSecretOf(deps, user.totp, user.id);
  const step = await verifyTotp(secret, code, deps.clock());
  if (step === null) return false;
  return deps.db.transaction(async (tx) => {
    const fresh = await getUserById(tx, user.id, true);
    if (!fresh || (fresh.totpLastStep !== null && step <= fresh.totpLastStep)) return false;
    await recordTotpStep(tx, user.id, step);
    return true;
  });
}

export async function startTotpEnrollment(deps: Deps, user: UserRow, change: ChangeContext): Promise<{ secret: string; otpauth_uri: string }> {
  if (user.totpEnabledAt) throw new DomainError("auth.mfa_already_enabled", "TOTP already enabled");
  const secret = newTotpSecret();
  const sealed = await deps.identity.keyring.seal(new TextEncoder().encode(secret), totpAad(user.id));
  await deps.db.transaction(async (tx) => {
    await setPendingTotp(tx, user.id, sealed);
    await appendAudit(tx, { change, action: "auth.mfa_enroll_start", targetType: "user", targetId: user.id, outcome: "success" });
  });
  return { secret, otpauth_uri: otpauthUri(secret, user.email) };
}

export async function confirmTotpEnrollment(deps: Deps, user: UserRow, session: SessionRow, code: string, change: ChangeContext): Promise<void> {
  if (user.totpEnabledAt) throw new DomainError("auth.mfa_already_enabled", "TOTP already enabled");
  if (!user.totp) throw new DomainError("auth.mfa_not_pending", "no TOTP enrollment in progress");
  const secret = await totpSecretOf(deps, user.totp, user.id);
  const now = deps.clock();
  const step = await verifyTotp(secret, code, now);
  if (step === null) throw new DomainError("auth.mfa_invalid", "wrong TOTP code");
  await deps.db.transaction(async (tx) => {
    await enableTotp(tx, user.id, now, step);
    await setSessionMfa(tx, session.id, now);
    await appendAudit(tx, { change, action: "auth.mfa_enabled", targetType: "user", targetId: user.id, outcome: "success" });
  });
}

/** Proves the second factor for this session; high-risk actions look at when. */
export async function stepUp(
  deps: Deps,
  user: UserRow,
  session: SessionRow,
  code: string,
  change: ChangeContext,
): Promise<{ mfa_at: string; valid_for_seconds: number }> {
  if (!user.totpEnabledAt) throw new DomainError("auth.mfa_enrollment_required", "no second factor enrolled");
  const now = deps.clock();
  if (!(await consumeTotp(deps, user, code))) {
    await appendAudit(deps.db, { change, action: "auth.step_up", targetType: "auth_session", targetId: session.id, outcome: "failure", reason: "bad_totp" });
    throw new DomainError("auth.mfa_invalid", "wrong TOTP code");
  }
  const trusted = Boolean(await findTrustedDevice(deps.db, user.id, session.deviceHash));
  await deps.db.transaction(async (tx) => {
    await setSessionMfa(tx, session.id, now);
    await appendAudit(tx, { change, action: "auth.step_up", targetType: "auth_session", targetId: session.id, outcome: "success" });
  });
  const window = trusted ? STEP_UP_WINDOW_MS.trustedDevice : STEP_UP_WINDOW_MS.unknownDevice;
  return { mfa_at: now.toISOString(), valid_for_seconds: window / 1000 };
}

/** Trusting a device is itself high-risk: the caller checks a fresh step-up first. */
export async function trustCurrentDevice(deps: Deps, user: UserRow, session: SessionRow, name: string, change: ChangeContext): Promise<string> {
  if (session.deviceHash.startsWith("ephemeral:"))
    throw new DomainError("request.validation_failed", "sign in with a device_id to trust this device", { field: "device_id" });
  return deps.db.transaction(async (tx) => {
    const id = await trustDevice(tx, { id: newId(), userId: user.id, deviceHash: session.deviceHash, name });
    await appendAudit(tx, { change, action: "auth.device_trusted", targetType: "trusted_device", targetId: id, outcome: "success" });
    return id;
  });
}
