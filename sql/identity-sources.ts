/**
 * Identity sources, their group → role mappings, the external identities
 * they have signed in or synced, and the organization's require-SSO flag.
 * The sealed secret (client secret or bind password) is read only by
 * `getSourceSecret`; every other read leaves it out.
 */
import { one, type Tx } from "./db.ts";
import type { OrgRole } from "../core/authz.ts";
import type { Sealed } from "../core/crypto/envelope.ts";

export type SourceKind = "local" | "oidc" | "ldap";

export interface SourceRow {
  id: string;
  organizationId: string | null;
  kind: SourceKind;
  name: string;
  enabled: boolean;
  config: Record<string, unknown>;
  hasSecret: boolean;
  lastSync: { at: string; outcome: "success" | "failure"; details: Record<string, unknown> } | null;
  createdAt: string;
  updatedAt: string;
}

type RawSource = {
  id: string;
  organization_id: string | null;
  kind: SourceKind;
  name: string;
  enabled: boolean;
  config: Record<string, unknown> | string;
  has_secret: boolean;
  last_sync_at: Date | null;
  last_sync_outcome: "success" | "failure" | null;
  last_sync_details: Record<string, unknown> | string | null;
  created_at: Date;
  updated_at: Date;
};

const json = <T>(v: T | string): T => (typeof v === "string" ? (JSON.parse(v) as T) : v);
const toSource = (r: RawSource): SourceRow => ({
  id: r.id,
  organizationId: r.organization_id,
  kind: r.kind,
  name: r.name,
  enabled: r.enabled,
  config: json(r.config),
  hasSecret: r.has_secret,
  lastSync:
    r.last_sync_at && r.last_sync_outcome
      ? { at: new Date(r.last_sync_at).toISOString(), outcome: r.last_sync_outcome, details: json(r.last_sync_details ?? {}) }
      : null,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});
const COLS = `id::text, organization_id::text, kind, name, enabled, config, secret_ciphertext is not null as has_secret,
  last_sync_at, last_sync_outcome, last_sync_details, created_at, updated_at`;

export async function insertSource(
  tx: Tx,
  s: { id: string; organizationId: string | null; kind: SourceKind; name: string; enabled: boolean; config: Record<string, unknown>; secret: Sealed | null },
): Promise<void> {
  await tx.query(
    `insert into identity_sources (id, organization_id, kind, name, enabled, config, secret_key_id, secret_wrapped_key, secret_ciphertext)
     values ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9)`,
    [
      s.id,
      s.organizationId,
      s.kind,
      s.name,
      s.enabled,
      JSON.stringify(s.config),
      s.secret?.keyId ?? null,
      s.secret?.wrappedKey ?? null,
      s.secret?.ciphertext ?? null,
    ],
  );
}

export async function updateSource(
  tx: Tx,
  id: string,
  patch: { name?: string; enabled?: boolean; config?: Record<string, unknown>; secret?: Sealed },
): Promise<void> {
  await tx.query(
    `update identity_sources set
       name = coalesce($2, name), enabled = coalesce($3, enabled), config = coalesce($4::jsonb, config),
       secret_key_id = coalesce($5, secret_key_id), secret_wrapped_key = coalesce($6, secret_wrapped_key),
       secret_ciphertext = coalesce($7, secret_ciphertext), updated_at = now()
     where id = $1`,
    [
      id,
      patch.name ?? null,
      patch.enabled ?? null,
      patch.config ? JSON.stringify(patch.config) : null,
      patch.secret?.keyId ?? null,
      patch.secret?.wrappedKey ?? null,
      patch.secret?.ciphertext ?? null,
    ],
  );
}

export async function deleteSource(tx: Tx, id: string): Promise<void> {
  await tx.query("delete from identity_sources where id = $1", [id]);
}

export async function getSource(tx: Tx, id: string, lock = false): Promise<SourceRow | undefined> {
  const r = await one<RawSource>(tx, `select ${COLS} from identity_sources where id = $1${lock ? " for update" : ""}`, [id]);
  return r && toSource(r);
}

/** An organization's sources (null: the platform's). */
export async function listSources(tx: Tx, organizationId: string | null): Promise<SourceRow[]> {
  const rows = await tx.query<RawSource>(`select ${COLS} from identity_sources where organization_id is not distinct from $1 order by created_at, id`, [
    organizationId,
  ]);
  return rows.map(toSource);
}

export async function getSourceSecret(tx: Tx, id: string): Promise<Sealed | null> {
  const r = await one<{ secret_key_id: string | null; secret_wrapped_key: string | null; secret_ciphertext: string | null }>(
    tx,
    "select secret_key_id, secret_wrapped_key, secret_ciphertext from identity_sources where id = $1",
    [id],
  );
  return r?.secret_key_id && r.secret_wrapped_key && r.secret_ciphertext
    ? { keyId: r.secret_key_id, wrappedKey: r.secret_wrapped_key, ciphertext: r.secret_ciphertext }
    : null;
}

export async function sourceSecretsNotUnderKey(tx: Tx, keyId: string): Promise<{ id: string; sealed: Sealed }[]> {
  const rows = await tx.query<{ id: string; secret_key_id: string; secret_wrapped_key: string; secret_ciphertext: string }>(
    "select id::text, secret_key_id, secret_wrapped_key, secret_ciphertext from identity_sources where secret_key_id is not null and secret_key_id <> $1 for update",
    [keyId],
  );
  return rows.map((r) => ({ id: r.id, sealed: { keyId: r.secret_key_id, wrappedKey: r.secret_wrapped_key, ciphertext: r.secret_ciphertext } }));
}

export async function recordSyncResult(tx: Tx, id: string, at: Date, outcome: "success" | "failure", details: Record<string, unknown>): Promise<void> {
  await tx.query("update identity_sources set last_sync_at = $2::timestamptz, last_sync_outcome = $3, last_sync_details = $4::jsonb where id = $1", [
    id,
    at.toISOString(),
    outcome,
    JSON.stringify(details),
  ]);
}

export interface MappingRow {
  id: string;
  sourceId: string;
  externalGroup: string;
  role: OrgRole;
  createdAt: string;
}

export async function listMappings(tx: Tx, sourceId: string): Promise<MappingRow[]> {
  const rows = await tx.query<{ id: string; source_id: string; external_group: string; role: OrgRole; created_at: Date }>(
    "select id::text, source_id::text, external_group, role, created_at from identity_mappings where source_id = $1 order by external_group",
    [sourceId],
  );
  return rows.map((r) => ({ id: r.id, sourceId: r.source_id, externalGroup: r.external_group, role: r.role, createdAt: new Date(r.created_at).toISOString() }));
}

/** Replaces the source's mappings with exactly these. */
export async function replaceMappings(tx: Tx, sourceId: string, mappings: { id: string; externalGroup: string; role: OrgRole }[]): Promise<void> {
  await tx.query("delete from identity_mappings where source_id = $1", [sourceId]);
  for (const m of mappings)
    await tx.query("insert into identity_mappings (id, source_id, external_group, role) values ($1, $2, $3, $4)", [m.id, sourceId, m.externalGroup, m.role]);
}

export interface ExternalIdentityRow {
  sourceId: string;
  subject: string;
  userId: string;
  email: string;
  groups: string[];
  disabledAt: Date | null;
}
type RawExternal = { source_id: string; subject: string; user_id: string; email: string; groups: string[] | string; disabled_at: Date | null };
const toExternal = (r: RawExternal): ExternalIdentityRow => ({
  sourceId: r.source_id,
  subject: r.subject,
  userId: r.user_id,
  email: r.email,
  groups: json(r.groups),
  disabledAt: r.disabled_at ? new Date(r.disabled_at) : null,
});
const EXT_COLS = "source_id::text, subject, user_id::text, email, groups, disabled_at";

export async function getExternalIdentity(tx: Tx, sourceId: string, subject: string, lock = false): Promise<ExternalIdentityRow | undefined> {
  const r = await one<RawExternal>(tx, `select ${EXT_COLS} from external_identities where source_id = $1 and subject = $2${lock ? " for update" : ""}`, [
    sourceId,
    subject,
  ]);
  return r && toExternal(r);
}

export async function listExternalIdentities(tx: Tx, sourceId: string): Promise<ExternalIdentityRow[]> {
  const rows = await tx.query<RawExternal>(`select ${EXT_COLS} from external_identities where source_id = $1 order by subject for update`, [sourceId]);
  return rows.map(toExternal);
}

export async function upsertExternalIdentity(
  tx: Tx,
  e: { sourceId: string; subject: string; userId: string; email: string; groups: string[]; now: Date },
): Promise<void> {
  await tx.query(
    `insert into external_identities (source_id, subject, user_id, email, groups, last_seen_at, disabled_at)
     values ($1, $2, $3, $4, $5::jsonb, $6::timestamptz, null)
     on conflict (source_id, subject) do update set email = excluded.email, groups = excluded.groups, last_seen_at = excluded.last_seen_at, disabled_at = null`,
    [e.sourceId, e.subject, e.userId, e.email, JSON.stringify(e.groups), e.now.toISOString()],
  );
}

export async function disableExternalIdentity(tx: Tx, sourceId: string, subject: string, at: Date): Promise<void> {
  await tx.query("update external_identities set disabled_at = $3::timestamptz where source_id = $1 and subject = $2 and disabled_at is null", [
    sourceId,
    subject,
    at.toISOString(),
  ]);
}

/** Memberships a source manages: their role follows its mappings. */
export async function setMembershipFromSource(
  tx: Tx,
  m: { organizationId: string; userId: string; role: OrgRole; status: "active" | "suspended"; sourceId: string },
): Promise<void> {
  await tx.query(
    `insert into organization_memberships (organization_id, user_id, role, status, source_id) values ($1, $2, $3, $4, $5)
     on conflict (organization_id, user_id) do update set role = excluded.role, status = excluded.status, source_id = excluded.source_id, updated_at = now()`,
    [m.organizationId, m.userId, m.role, m.status, m.sourceId],
  );
}

export async function suspendSourceMembership(tx: Tx, organizationId: string, userId: string, sourceId: string): Promise<boolean> {
  const rows = await tx.query(
    "update organization_memberships set status = 'suspended', updated_at = now() where organization_id = $1 and user_id = $2 and source_id = $3 and status = 'active' returning user_id",
    [organizationId, userId, sourceId],
  );
  return rows.length === 1;
}

/** Every organization the user belongs to, with their role there (active or not). */
export async function membershipsWithStatus(tx: Tx, userId: string): Promise<{ organizationId: string; role: OrgRole; status: string }[]> {
  const rows = await tx.query<{ organization_id: string; role: OrgRole; status: string }>(
    "select organization_id::text, role, status from organization_memberships where user_id = $1",
    [userId],
  );
  return rows.map((r) => ({ organizationId: r.organization_id, role: r.role, status: r.status }));
}

/** Revokes the user's live auth sessions that this source signed in; returns how many. */
export async function revokeSourceSessions(tx: Tx, sourceId: string, userId: string, reason: string): Promise<number> {
  const rows = await tx.query(
    "update auth_sessions set revoked_at = now(), revoked_reason = $3 where identity_source_id = $1 and user_id = $2 and revoked_at is null returning id",
    [sourceId, userId, reason],
  );
  return rows.length;
}

/** Revokes the user's live auth sessions signed in through any of the organization's sources. */
export async function revokeOrgSourceSessions(tx: Tx, organizationId: string, userId: string, reason: string): Promise<number> {
  const rows = await tx.query(
    `update auth_sessions set revoked_at = now(), revoked_reason = $3
     where user_id = $2 and revoked_at is null and identity_source_id in (select id from identity_sources where organization_id = $1) returning id`,
    [organizationId, userId, reason],
  );
  return rows.length;
}

export async function setSessionSource(tx: Tx, sessionId: string, sourceId: string): Promise<void> {
  await tx.query("update auth_sessions set identity_source_id = $2 where id = $1", [sessionId, sourceId]);
}

export async function setRequireSso(tx: Tx, organizationId: string, required: boolean): Promise<void> {
  await tx.query("update organizations set require_sso = $2, updated_at = now() where id = $1", [organizationId, required]);
}

export async function requiresSso(tx: Tx, organizationId: string): Promise<boolean> {
  return (await one<{ require_sso: boolean }>(tx, "select require_sso from organizations where id = $1", [organizationId]))?.require_sso ?? false;
}

/**
 * Organizations that refuse this user's local password: those requiring SSO
 * where the user is an active member and not an owner (owners are the
 * break-glass accounts).
 */
export async function ssoOnlyOrganizations(tx: Tx, userId: string): Promise<string[]> {
  const rows = await tx.query<{ slug: string }>(
    `select o.slug from organization_memberships m join organizations o on o.id = m.organization_id
     where m.user_id = $1 and m.status = 'active' and o.require_sso and m.role <> 'org_owner' order by o.slug`,
    [userId],
  );
  return rows.map((r) => r.slug);
}

export async function orgIdBySlug(tx: Tx, slug: string): Promise<string | undefined> {
  return (await one<{ id: string }>(tx, "select id::text from organizations where slug = $1 and status = 'active'", [slug]))?.id;
}
