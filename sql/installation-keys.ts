/**
 * The installation's record of its shared keys (by fingerprint only) and the
 * key ids its sealed data is under. Read and written at start-up, under one
 * advisory lock, by control/installation/keys.ts.
 */
import type { Tx } from "./db.ts";

export type KeyPurpose = "auth_token" | "data_plane_token" | "secret_encryption";

export interface InstallationKeyRow {
  purpose: KeyPurpose;
  /** The secret master key id; "" for the one-key purposes. */
  keyId: string;
  fingerprint: string;
  active: boolean;
}

/** Arbitrary constant that names "installation keys" among advisory locks: replicas starting together check one at a time. */
const KEYS_LOCK_KEY = 7_305_128_442;

export async function lockInstallationKeys(tx: Tx): Promise<void> {
  await tx.query("select pg_advisory_xact_lock($1)", [KEYS_LOCK_KEY]);
}

export async function listInstallationKeys(tx: Tx): Promise<InstallationKeyRow[]> {
  const rows = await tx.query<{ purpose: KeyPurpose; key_id: string; fingerprint: string; active: boolean }>(
    "select purpose, key_id, fingerprint, active from installation_keys order by purpose, key_id",
  );
  return rows.map((r) => ({ purpose: r.purpose, keyId: r.key_id, fingerprint: r.fingerprint, active: r.active }));
}

export async function insertInstallationKey(tx: Tx, k: InstallationKeyRow): Promise<void> {
  await tx.query("insert into installation_keys (purpose, key_id, fingerprint, active) values ($1, $2, $3, $4)", [k.purpose, k.keyId, k.fingerprint, k.active]);
}

/** Makes `keyId` the one active key of `purpose` (it must be recorded). */
export async function activateInstallationKey(tx: Tx, purpose: KeyPurpose, keyId: string): Promise<void> {
  // Clear first: the partial unique index allows one active row per purpose at any moment.
  await tx.query("update installation_keys set active = false where purpose = $1 and active and key_id <> $2", [purpose, keyId]);
  await tx.query("update installation_keys set active = true where purpose = $1 and key_id = $2", [purpose, keyId]);
}

/** How many sealed values each secret master key id holds: resource and VPN secrets, TOTP seeds, cluster authority keys. */
export async function sealedKeyIds(tx: Tx): Promise<Map<string, number>> {
  const rows = await tx.query<{ key_id: string; n: number }>(
    `select key_id, count(*)::int as n from (
       select key_id from resource_secrets
       union all select key_id from vpn_connection_secrets
       union all select totp_key_id from users where totp_key_id is not null
       union all select signing_key_id from cluster_authorities
       union all select ca_key_id from cluster_authorities
     ) sealed group by key_id`,
  );
  return new Map(rows.map((r) => [r.key_id, Number(r.n)]));
}
