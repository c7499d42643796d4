/** Organizations and their memberships. */
import { one, type Tx, pgArray } from "./db.ts";
import type { OrgRole } from "../core/authz.ts";

export interface OrgRow {
  id: string;
  name: string;
  slug: string;
  status: string;
  createdAt: string;
}
type RawOrg = { id: string; name: string; slug: string; status: string; created_at: Date };
const toOrg = (r: RawOrg): OrgRow => ({ id: r.id, name: r.name, slug: r.slug, status: r.status, createdAt: new Date(r.created_at).toISOString() });

export async function insertOrg(tx: Tx, o: { id: string; name: string; slug: string }): Promise<void> {
  await tx.query("insert into organizations (id, name, slug) values ($1, $2, $3)", [o.id, o.name, o.slug]);
}

export async function getOrg(tx: Tx, id: string): Promise<OrgRow | undefined> {
  const r = await one<RawOrg>(tx, "select id::text, name, slug, status, created_at from organizations where id = $1", [id]);
  return r && toOrg(r);
}

export async function updateOrg(tx: Tx, id: string, patch: { name?: string }): Promise<void> {
  await tx.query("update organizations set name = coalesce($2, name), updated_at = now() where id = $1", [id, patch.name ?? null]);
}

/** `ids` null lists every organization. Keyset by id. */
export async function listOrgs(tx: Tx, opts: { ids: string[] | null; after?: string; limit: number }): Promise<OrgRow[]> {
  const rows = await tx.query<RawOrg>(
    `select id::text, name, slug, status, created_at from organizations
      where ($1::uuid[] is null or id = any($1::uuid[])) and ($2::uuid is null or id > $2::uuid)
      order by id limit $3`,
    [opts.ids ? pgArray(opts.ids) : null, opts.after ?? null, opts.limit],
  );
  return rows.map(toOrg);
}

export interface MemberRow {
  organizationId: string;
  userId: string;
  email: string;
  displayName: string;
  role: OrgRole;
  status: string;
  createdAt: string;
}
type RawMember = { organization_id: string; user_id: string; email: string; display_name: string; role: OrgRole; status: string; created_at: Date };
const toMember = (r: RawMember): MemberRow => ({
  organizationId: r.organization_id,
  userId: r.user_id,
  email: r.email,
  displayName: r.display_name,
  role: r.role,
  status: r.status,
  createdAt: new Date(r.created_at).toISOString(),
});
const MEMBER_SELECT = `select m.organization_id::text, m.user_id::text, u.email, u.display_name, m.role, m.status, m.created_at
  from organization_memberships m join users u on u.id = m.user_id`;

export async function insertMembership(tx: Tx, m: { organizationId: string; userId: string; role: OrgRole }): Promise<void> {
  await tx.query("insert into organization_memberships (organization_id, user_id, role) values ($1, $2, $3)", [m.organizationId, m.userId, m.role]);
}

/** The member of the organization whose account has this email (one that signs in or an unclaimed one). */
export async function memberByEmail(tx: Tx, orgId: string, email: string): Promise<MemberRow | undefined> {
  const r = await one<RawMember>(tx, `${MEMBER_SELECT} where m.organization_id = $1 and u.email = $2`, [orgId, email]);
  return r && toMember(r);
}

export async function getMembership(tx: Tx, orgId: string, userId: string): Promise<MemberRow | undefined> {
  const r = await one<RawMember>(tx, `${MEMBER_SELECT} where m.organization_id = $1 and m.user_id = $2`, [orgId, userId]);
  return r && toMember(r);
}

export async function listMembers(tx: Tx, orgId: string, opts: { after?: string; limit: number }): Promise<MemberRow[]> {
  const rows = await tx.query<RawMember>(
    `${MEMBER_SELECT} where m.organization_id = $1 and ($2::uuid is null or m.user_id > $2::uuid) order by m.user_id limit $3`,
    [orgId, opts.after ?? null, opts.limit],
  );
  return rows.map(toMember);
}

export async function updateMembership(tx: Tx, orgId: string, userId: string, patch: { role?: OrgRole; status?: string }): Promise<void> {
  await tx.query(
    "update organization_memberships set role = coalesce($3, role), status = coalesce($4, status), updated_at = now() where organization_id = $1 and user_id = $2",
    [orgId, userId, patch.role ?? null, patch.status ?? null],
  );
}

export async function deleteMembership(tx: Tx, orgId: string, userId: string): Promise<void> {
  await tx.query("delete from organization_memberships where organization_id = $1 and user_id = $2", [orgId, userId]);
}

export async function countOwners(tx: Tx, orgId: string): Promise<number> {
  const r = await one<{ n: number }>(
    tx,
    "select count(*)::int as n from organization_memberships where organization_id = $1 and role = 'org_owner' and status = 'active'",
    [orgId],
  );
  return r?.n ?? 0;
}

/** Active memberships of a user: organization id → role. */
export async function membershipsOf(tx: Tx, userId: string): Promise<Map<string, OrgRole>> {
  const rows = await tx.query<{ organization_id: string; role: OrgRole }>(
    `select m.organization_id::text, m.role from organization_memberships m join organizations o on o.id = m.organization_id
      where m.user_id = $1 and m.status = 'active' and o.status = 'active'`,
    [userId],
  );
  return new Map(rows.map((r) => [r.organization_id, r.role]));
}

/** Serialises membership changes of one organization (the last-owner rule reads then writes). */
export async function lockOrg(tx: Tx, id: string): Promise<void> {
  await tx.query("select id from organizations where id = $1 for update", [id]);
}
