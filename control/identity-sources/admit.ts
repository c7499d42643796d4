/**
 * Admitting an external identity (what an OIDC provider or LDAP directory
 * says about a person) into the source's organization: find the user it is
 * linked to, or link or create one just in time, then set the membership's
 * role from the source's group mappings. Used by both sign-in and directory
 * sync, so a change of groups has the same effect on either path.
 *
 * What a source may do is bounded: it only ever touches memberships of its
 * own organization; it links an existing account only when that account is
 * wholly the organization's (member of no other organization, no platform
 * role, not an owner), so no organization's provider can take over anyone
 * else's account; it never writes a platform role. A source-suspended member
 * (left the directory, lost every mapped group) is reactivated when the
 * source lets them in again; a member an admin suspended stays suspended.
 */
import type { ControlDeps } from "../deps.ts";
import type { ChangeContext } from "../../core/change.ts";
import type { ErrorCode } from "../../core/errors.ts";
import { newId } from "../../core/ids.ts";
import { roleFromGroups } from "../../core/identity-mapping.ts";
import type { OrgRole } from "../../core/authz.ts";
import { appendAudit } from "../../sql/audit.ts";
import type { Tx } from "../../sql/db.ts";
import {
  disableExternalIdentity,
  getExternalIdentity,
  listMappings,
  membershipsWithStatus,
  revokeSourceSessions,
  setMembershipFromSource,
  suspendSourceMembership,
  upsertExternalIdentity,
  type SourceRow,
} from "../../sql/identity-sources.ts";
import { getUserByEmail, getUserById, insertUser } from "../../sql/users.ts";
import { NO_PASSWORD } from "../auth/password.ts";
import { effectivePlatformRoles } from "../auth/subject.ts";
import { terminateSessionsInTx } from "../sessions/service.ts";

export interface ExternalPerson {
  /** Stable id at the source: OIDC `sub`, the LDAP id attribute (entryUUID). */
  subject: string;
  email: string;
  displayName: string;
  groups: string[];
}

export type Admission =
  | { admitted: true; userId: string; role: OrgRole | null; created: boolean }
  | { admitted: false; userId: string | null; refusal: ErrorCode; reason: string };

/** Step of the actor host inside the caller's batch (remote sessions of a suspended member end in the same commit). */
export type Step = Parameters<typeof terminateSessionsInTx>[1];

type Deps = Pick<ControlDeps, "identity" | "clock">;

/**
 * Admits (or refuses) the person inside the caller's transaction. A refusal
 * still commits what it changed: a member who lost every mapped group is
 * suspended and signed out even though the sign-in is refused.
 */
export async function admitInTx(deps: Deps, tx: Tx, step: Step, source: SourceRow, person: ExternalPerson, change: ChangeContext): Promise<Admission> {
  const now = deps.clock();
  const linked = await getExternalIdentity(tx, source.id, person.subject, true);
  let userId = linked?.userId ?? null;
  let created = false;
  if (!userId) {
    const existing = await getUserByEmail(tx, person.email, true);
    if (existing) {
      if (!(await linkable(deps, tx, source, existing.id))) return refuse("auth.sso_account_conflict", "email_has_other_account", null);
      userId = existing.id;
    } else {
      userId = newId(now.getTime());
      // Just-in-time: an account with no password; it signs in only through a source.
      await insertUser(tx, { id: userId, email: person.email, displayName: person.displayName, passwordHash: NO_PASSWORD });
      created = true;
    }
  }
  const user = await getUserById(tx, userId);
  if (user?.status !== "active") return refuse("auth.account_disabled", "user_disabled", userId);
  await upsertExternalIdentity(tx, { sourceId: source.id, subject: person.subject, userId, email: person.email, groups: person.groups, now });

  // The platform's source signs staff in; it grants nothing.
  if (!source.organizationId) return { admitted: true, userId, role: null, created };

  const orgId = source.organizationId;
  const role = roleFromGroups(await listMappings(tx, source.id), person.groups, (source.config.default_role as OrgRole | null | undefined) ?? null);
  const membership = (await membershipsWithStatus(tx, userId)).find((m) => m.organizationId === orgId);
  if (role === null) {
    await suspendFromSource(tx, step, source, userId, "no_mapped_group", change, now);
    return refuse("auth.sso_not_authorized", "no_mapped_group", userId);
  }
  // Suspended by an admin (not by this source): the source does not undo it.
  if (membership?.status === "suspended" && !linked?.disabledAt) return refuse("auth.account_disabled", "member_suspended", userId);
  if (!membership || membership.role !== role || membership.status !== "active") {
    await setMembershipFromSource(tx, { organizationId: orgId, userId, role, status: "active", sourceId: source.id });
    await appendAudit(tx, {
      change,
      organizationId: orgId,
      action: membership ? "member.update" : "member.create",
      targetType: "user",
      targetId: userId,
      outcome: "success",
      details: { role, identity_source_id: source.id, jit: created || undefined },
    });
  }
  return { admitted: true, userId, role, created };
}

/**
 * The person left the directory or lost every mapped group: their source
 * identity is disabled, their membership suspended, the sessions this source
 * signed in revoked and their remote sessions in the organization ended.
 */
export async function suspendFromSource(
  tx: Tx,
  step: Step,
  source: SourceRow,
  userId: string,
  reason: string,
  change: ChangeContext,
  now: Date,
): Promise<boolean> {
  const subjectRows = await tx.query<{ subject: string }>("select subject from external_identities where source_id = $1 and user_id = $2", [source.id, userId]);
  for (const r of subjectRows) await disableExternalIdentity(tx, source.id, r.subject, now);
  const revoked = await revokeSourceSessions(tx, source.id, userId, `identity_source_${reason}`);
  let suspended = false;
  if (source.organizationId) {
    suspended = await suspendSourceMembership(tx, source.organizationId, userId, source.id);
    if (suspended) await terminateSessionsInTx(tx, step, { organizationId: source.organizationId, userId }, "member_suspended", now.toISOString(), change);
  }
  if (suspended || revoked > 0)
    await appendAudit(tx, {
      change,
      organizationId: source.organizationId,
      action: "member.update",
      targetType: "user",
      targetId: userId,
      outcome: "success",
      reason,
      details: { status: "suspended", identity_source_id: source.id, sessions_revoked: revoked },
    });
  return suspended || revoked > 0;
}

/** Whether an existing account may be linked to this source by its email. */
async function linkable(deps: Deps, tx: Tx, source: SourceRow, userId: string): Promise<boolean> {
  // The platform's source is configured by the platform owner, who already governs every account.
  if (!source.organizationId) return true;
  const user = await getUserById(tx, userId);
  if (!user || user.platformRole || (await effectivePlatformRoles(tx, deps.identity, user, deps.clock())).length > 0) return false;
  const memberships = await membershipsWithStatus(tx, userId);
  return memberships.every((m) => m.organizationId === source.organizationId && m.role !== "org_owner");
}

function refuse(refusal: ErrorCode, reason: string, userId: string | null): Admission {
  return { admitted: false, userId, refusal, reason };
}
