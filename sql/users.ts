/**
 * Users: identity, password hash and TOTP material (encrypted). The
 * `failed_logins` / `locked_until` columns are no longer written: sign-in is
 * throttled in live state (http/auth/throttle.ts), never locked.
 */
import { one, type Tx } from "./db.ts";
import type { PlatformRole } from "../core/authz.ts";
import type { Sealed } from "../core/crypto/envelope.ts";

export interface UserRow {
  id: string;
  email: string;
  displayName: string;
  passwordHash: string;
  platformRole: PlatformRole | null;
  /** `unclaimed`: made by an organization for an email another account signs in with; it never signs in. */
  status: "active" | "disabled" | "unclaimed";
  failedLogins: number;
  lockedUntil: Date | null;
  totp: Sealed | null;
  totpEnabledAt: Date | null;
  totpLastStep: number | null;
  createdAt: Date;
}

const COLS = `id::text, email, display_name, password_hash, platform_role, status, failed_logins, locked_until,
  totp_key_id, totp_wrapped_key, totp_ciphertext, totp_enabled_at, totp_last_step, created_at`;

type Raw = {
  id: string;
  email: string;
  display_name: string;
  password_hash: string;
  platform_role: PlatformRole | null;
  status: UserRow["status"];
  failed_logins: number;
  locked_until: Date | null;
  totp_key_id: string | null;
  totp_wrapped_key: string | null;
  totp_ciphertext: string | null;
  totp_enabled_at: Date | null;
  totp_last_step: number | null;
  created_at: Date;
};

const toUser = (r: Raw): UserRow => ({
  id: r.id,
  email: r.email,
  displayName: r.display_name,
  passwordHash: r.password_hash,
  platformRole: r.platform_role,
  status: r.status,
  failedLogins: r.failed_logins,
  lockedUntil: r.locked_until ? new Date(r.locked_until) : null,
  totp:
    r.totp_key_id && r.totp_wrapped_key && r.totp_ciphertext ? { keyId: r.totp_key_id, wrappedKey: r.totp_wrapped_key, ciphertext: r.totp_ciphertext } : null,
  totpEnabledAt: r.totp_enabled_at ? new Date(r.totp_enabled_at) : null,
  totpLastStep: r.totp_last_step === null ? null : Number(r.totp_last_step),
  createdAt: new Date(r.created_at),
});

export async function insertUser(
  tx: Tx,
  u: { id: string; email: string; displayName: string; passwordHash: string; platformRole?: PlatformRole | null },
): Promise<void> {
  await tx.query("insert into users (id, email, display_name, password_hash, platform_role) values ($1, $2, $3, $4, $5)", [
    u.id,
    u.email,
    u.displayName,
    u.passwordHash,
    u.platformRole ?? null,
  ]);
}

/**
 * Inserts the user; when an account that signs in already has the email, an
 * `unclaimed` one instead (it never signs in). Returns which.
 */
export async function insertUserOrUnclaimed(
  tx: Tx,
  u: { id: string; email: string; displayName: string; passwordHash: string },
): Promise<"active" | "unclaimed"> {
  const rows = await tx.query(
    "insert into users (id, email, display_name, password_hash) values ($1, $2, $3, $4) on conflict (email) where status <> 'unclaimed' do nothing returning id",
    [u.id, u.email, u.displayName, u.passwordHash],
  );
  if (rows.length === 1) return "active";
  await tx.query("insert into users (id, email, display_name, password_hash, status) values ($1, $2, $3, $4, 'unclaimed')", [
    u.id,
    u.email,
    u.displayName,
    u.passwordHash,
  ]);
  return "unclaimed";
}

export async function getUserById(tx: Tx, id: string, lock = false): Promise<UserRow | undefined> {
  const r = await one<Raw>(tx, `select ${COLS} from users where id = $1${lock ? " for update" : ""}`, [id]);
  return r && toUser(r);
}

/** The account that signs in with this email (never an `unclaimed` one). */
export async function getUserByEmail(tx: Tx, email: string, lock = false): Promise<UserRow | undefined> {
  const r = await one<Raw>(tx, `select ${COLS} from users where email = $1 and status <> 'unclaimed'${lock ? " for update" : ""}`, [email]);
  return r && toUser(r);
}

export async function setPendingTotp(tx: Tx, id: string, sealed: Sealed): Promise<void> {
  await tx.query(
    "update users set totp_key_id = $2, totp_wrapped_key = $3, totp_ciphertext = $4, totp_enabled_at = null, totp_last_step = null, updated_at = now() where id = $1",
    [id, sealed.keyId, sealed.wrappedKey, sealed.ciphertext],
  );
}

export async function enableTotp(tx: Tx, id: string, at: Date, step: number): Promise<void> {
  await tx.query("update users set totp_enabled_at = $2::timestamptz, totp_last_step = $3, updated_at = now() where id = $1", [id, at.toISOString(), step]);
}

export async function recordTotpStep(tx: Tx, id: string, step: number): Promise<void> {
  await tx.query("update users set totp_last_step = $2 where id = $1", [id, step]);
}

export async function usersWithTotpKey(tx: Tx, notKeyId: string): Promise<{ id: string; totp: Sealed }[]> {
  const rows = await tx.query<{ id: string; totp_key_id: string; totp_wrapped_key: string; totp_ciphertext: string }>(
    "select id::text, totp_key_id, totp_wrapped_key, totp_ciphertext from users where totp_key_id is not null and totp_key_id <> $1 for update",
    [notKeyId],
  );
  return rows.map((r) => ({ id: r.id, totp: { keyId: r.totp_key_id, wrappedKey: r.totp_wrapped_key, ciphertext: r.totp_ciphertext } }));
}

export async function setTotpSealed(tx: Tx, id: string, sealed: Sealed): Promise<void> {
  await tx.query("update users set totp_key_id = $2, totp_wrapped_key = $3, totp_ciphertext = $4 where id = $1", [
    id,
    sealed.keyId,
    sealed.wrappedKey,
    sealed.ciphertext,
  ]);
}

/** Dev mode's platform role column; in strict mode it grants nothing on its own. */
export async function setPlatformRole(tx: Tx, id: string, role: PlatformRole | null): Promise<void> {
  await tx.query("update users set platform_role = $2, updated_at = now() where id = $1", [id, role]);
}
