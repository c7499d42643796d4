/**
 * Auth sessions (one per login, one refresh-token family each), refresh
 * tokens (prefix + hash only) and trusted devices (hash of the device id).
 */
import { one, type Tx } from "./db.ts";

export interface SessionRow {
  id: string;
  userId: string;
  deviceHash: string;
  mfaAt: Date | null;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  revokedReason: string | null;
  userAgent: string | null;
}
type RawSession = {
  id: string;
  user_id: string;
  device_hash: string;
  mfa_at: Date | null;
  created_at: Date;
  last_seen_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  revoked_reason: string | null;
  user_agent: string | null;
};
const d = (x: Date | null) => (x ? new Date(x) : null);
const toSession = (r: RawSession): SessionRow => ({
  id: r.id,
  userId: r.user_id,
  deviceHash: r.device_hash,
  mfaAt: d(r.mfa_at),
  createdAt: new Date(r.created_at),
  lastSeenAt: new Date(r.last_seen_at),
  expiresAt: new Date(r.expires_at),
  revokedAt: d(r.revoked_at),
  revokedReason: r.revoked_reason,
  userAgent: r.user_agent,
});
const SESSION_COLS = "id::text, user_id::text, device_hash, mfa_at, created_at, last_seen_at, expires_at, revoked_at, revoked_reason, user_agent";

export async function insertSession(
  tx: Tx,
  s: { id: string; userId: string; deviceHash: string; mfaAt: Date | null; now: Date; expiresAt: Date; userAgent: string | null; ip: string | null },
): Promise<void> {
  await tx.query(
    `insert into auth_sessions (id, user_id, device_hash, mfa_at, created_at, last_seen_at, expires_at, user_agent, ip)
     values ($1, $2, $3, $4::timestamptz, $5::timestamptz, $5::timestamptz, $6::timestamptz, $7, $8)`,
    [s.id, s.userId, s.deviceHash, s.mfaAt?.toISOString() ?? null, s.now.toISOString(), s.expiresAt.toISOString(), s.userAgent, s.ip],
  );
}

export async function getSession(tx: Tx, id: string, lock = false): Promise<SessionRow | undefined> {
  const r = await one<RawSession>(tx, `select ${SESSION_COLS} from auth_sessions where id = $1${lock ? " for update" : ""}`, [id]);
  return r && toSession(r);
}

export async function listSessions(tx: Tx, userId: string): Promise<SessionRow[]> {
  const rows = await tx.query<RawSession>(
    `select ${SESSION_COLS} from auth_sessions where user_id = $1 and revoked_at is null order by created_at desc limit 100`,
    [userId],
  );
  return rows.map(toSession);
}

export async function setSessionMfa(tx: Tx, id: string, at: Date): Promise<void> {
  await tx.query("update auth_sessions set mfa_at = $2::timestamptz where id = $1", [id, at.toISOString()]);
}

export async function touchSession(tx: Tx, id: string, at: Date): Promise<void> {
  await tx.query("update auth_sessions set last_seen_at = $2::timestamptz where id = $1", [id, at.toISOString()]);
}

export async function revokeSession(tx: Tx, id: string, reason: string): Promise<boolean> {
  return (
    (await tx.query("update auth_sessions set revoked_at = now(), revoked_reason = $2 where id = $1 and revoked_at is null returning id", [id, reason]))
      .length === 1
  );
}

export interface RefreshRow {
  prefix: string;
  sessionId: string;
  secretHash: string;
  expiresAt: Date;
  usedAt: Date | null;
}

export async function insertRefreshToken(tx: Tx, t: { prefix: string; sessionId: string; secretHash: string; now: Date; expiresAt: Date }): Promise<void> {
  await tx.query("insert into refresh_tokens (prefix, session_id, secret_hash, issued_at, expires_at) values ($1, $2, $3, $4::timestamptz, $5::timestamptz)", [
    t.prefix,
    t.sessionId,
    t.secretHash,
    t.now.toISOString(),
    t.expiresAt.toISOString(),
  ]);
}

/** Locks the token row so two concurrent refreshes with one token cannot both succeed. */
export async function lockRefreshToken(tx: Tx, prefix: string): Promise<RefreshRow | undefined> {
  const r = await one<{ prefix: string; session_id: string; secret_hash: string; expires_at: Date; used_at: Date | null }>(
    tx,
    "select prefix, session_id::text, secret_hash, expires_at, used_at from refresh_tokens where prefix = $1 for update",
    [prefix],
  );
  return r && { prefix: r.prefix, sessionId: r.session_id, secretHash: r.secret_hash, expiresAt: new Date(r.expires_at), usedAt: d(r.used_at) };
}

export async function markRefreshUsed(tx: Tx, prefix: string, at: Date): Promise<void> {
  await tx.query("update refresh_tokens set used_at = $2::timestamptz where prefix = $1", [prefix, at.toISOString()]);
}

export interface DeviceRow {
  id: string;
  userId: string;
  name: string;
  trustedAt: Date;
  lastSeenAt: Date | null;
}

export async function findTrustedDevice(tx: Tx, userId: string, deviceHash: string): Promise<DeviceRow | undefined> {
  const r = await one<{ id: string; user_id: string; name: string; trusted_at: Date; last_seen_at: Date | null }>(
    tx,
    "select id::text, user_id::text, name, trusted_at, last_seen_at from trusted_devices where user_id = $1 and device_hash = $2 and revoked_at is null",
    [userId, deviceHash],
  );
  return r && { id: r.id, userId: r.user_id, name: r.name, trustedAt: new Date(r.trusted_at), lastSeenAt: d(r.last_seen_at) };
}

export async function trustDevice(tx: Tx, dev: { id: string; userId: string; deviceHash: string; name: string }): Promise<string> {
  const rows = await tx.query<{ id: string }>(
    `insert into trusted_devices (id, user_id, device_hash, name) values ($1, $2, $3, $4)
     on conflict (user_id, device_hash) do update set revoked_at = null, name = excluded.name, trusted_at = now() returning id::text`,
    [dev.id, dev.userId, dev.deviceHash, dev.name],
  );
  return rows[0]!.id;
}

export async function listTrustedDevices(tx: Tx, userId: string): Promise<DeviceRow[]> {
  const rows = await tx.query<{ id: string; user_id: string; name: string; trusted_at: Date; last_seen_at: Date | null }>(
    "select id::text, user_id::text, name, trusted_at, last_seen_at from trusted_devices where user_id = $1 and revoked_at is null order by trusted_at",
    [userId],
  );
  return rows.map((r) => ({ id: r.id, userId: r.user_id, name: r.name, trustedAt: new Date(r.trusted_at), lastSeenAt: d(r.last_seen_at) }));
}

export async function revokeTrustedDevice(tx: Tx, userId: string, id: string): Promise<boolean> {
  return (
    (await tx.query("update trusted_devices set revoked_at = now() where id = $1 and user_id = $2 and revoked_at is null returning id", [id, userId]))
      .length === 1
  );
}
