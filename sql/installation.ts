/** The installation authority row and the Product Root signed platform role grants. */
import { one, type Tx } from "./db.ts";
import type { PlatformRole } from "../core/authz.ts";

export interface InstallationRow {
  installationId: string;
  mode: "strict" | "dev";
  productRootFingerprint: string | null;
  activatedAt: Date;
  insecureBootstrap: boolean;
}

export async function getInstallation(tx: Tx, lock = false): Promise<InstallationRow | undefined> {
  const r = await one<{
    installation_id: string;
    mode: "strict" | "dev";
    product_root_fingerprint: string | null;
    activated_at: Date;
    insecure_bootstrap: boolean;
  }>(
    tx,
    `select installation_id::text, mode, product_root_fingerprint, activated_at, insecure_bootstrap from installation_authority where id = 1${lock ? " for update" : ""}`,
  );
  return (
    r && {
      installationId: r.installation_id,
      mode: r.mode,
      productRootFingerprint: r.product_root_fingerprint,
      activatedAt: new Date(r.activated_at),
      insecureBootstrap: r.insecure_bootstrap,
    }
  );
}

/** Inserts the singleton; false when another bootstrap got there first. */
export async function insertInstallation(
  tx: Tx,
  i: { installationId: string; mode: "strict" | "dev"; productRootFingerprint: string | null; activationJws: string | null; insecureBootstrap: boolean },
): Promise<boolean> {
  const rows = await tx.query(
    `insert into installation_authority (id, installation_id, mode, product_root_fingerprint, activation_jws, insecure_bootstrap)
     values (1, $1, $2, $3, $4, $5) on conflict (id) do nothing returning id`,
    [i.installationId, i.mode, i.productRootFingerprint, i.activationJws, i.insecureBootstrap],
  );
  return rows.length === 1;
}

export interface GrantRow {
  id: string;
  userId: string;
  role: PlatformRole;
  jws: string;
  keyFingerprint: string;
  createdAt: Date;
  revokedAt: Date | null;
}

export async function insertGrant(tx: Tx, g: { id: string; userId: string; role: PlatformRole; jws: string; keyFingerprint: string }): Promise<void> {
  await tx.query("insert into platform_role_grants (id, user_id, role, jws, key_fingerprint) values ($1, $2, $3, $4, $5)", [
    g.id,
    g.userId,
    g.role,
    g.jws,
    g.keyFingerprint,
  ]);
}

type RawGrant = { id: string; user_id: string; role: PlatformRole; jws: string; key_fingerprint: string; created_at: Date; revoked_at: Date | null };
const toGrant = (r: RawGrant): GrantRow => ({
  id: r.id,
  userId: r.user_id,
  role: r.role,
  jws: r.jws,
  keyFingerprint: r.key_fingerprint,
  createdAt: new Date(r.created_at),
  revokedAt: r.revoked_at ? new Date(r.revoked_at) : null,
});

export async function activeGrantsOf(tx: Tx, userId: string): Promise<GrantRow[]> {
  const rows = await tx.query<RawGrant>(
    "select id::text, user_id::text, role, jws, key_fingerprint, created_at, revoked_at from platform_role_grants where user_id = $1 and revoked_at is null",
    [userId],
  );
  return rows.map(toGrant);
}

export async function listGrants(tx: Tx): Promise<GrantRow[]> {
  const rows = await tx.query<RawGrant>(
    "select id::text, user_id::text, role, jws, key_fingerprint, created_at, revoked_at from platform_role_grants order by created_at",
  );
  return rows.map(toGrant);
}

export async function revokeGrant(tx: Tx, id: string): Promise<boolean> {
  return (await tx.query("update platform_role_grants set revoked_at = now() where id = $1 and revoked_at is null returning id", [id])).length === 1;
}

export async function grantExists(tx: Tx, id: string): Promise<boolean> {
  return (await tx.query("select 1 from platform_role_grants where id = $1", [id])).length === 1;
}
