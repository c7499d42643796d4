/**
 * Organizations and memberships. Admin-created users: an organization admin
 * creates the account with an initial password and a role in one step; an
 * email taken elsewhere is not revealed (see addMember).
 * Changing anything about an owner needs `member.manage_owner`, and the last
 * active owner can be neither demoted nor removed.
 */
import type { ControlDeps } from "../deps.ts";
import type { ChangeContext } from "../../core/change.ts";
import type { OrgRole } from "../../core/authz.ts";
import { Conflict, DomainError, type ErrorCode } from "../../core/errors.ts";
import { newId } from "../../core/ids.ts";
import { onUniqueViolation, type Tx } from "../../sql/db.ts";
import { appendAudit } from "../../sql/audit.ts";
import {
  countOwners,
  deleteMembership,
  lockOrg,
  getMembership,
  insertMembership,
  insertOrg,
  memberByEmail,
  updateMembership,
  updateOrg,
} from "../../sql/organizations.ts";
import { insertUserOrUnclaimed } from "../../sql/users.ts";
import { hashPassword } from "../auth/password.ts";
import { terminateSessionsInTx } from "../sessions/service.ts";
import { revokeOrgSourceSessions } from "../../sql/identity-sources.ts";

type Deps = Pick<ControlDeps, "db" | "clock">;
type HostDeps = Deps & Pick<ControlDeps, "host">;

export async function createOrganization(deps: Deps, input: { name: string; slug: string }, change: ChangeContext): Promise<string> {
  const id = newId(deps.clock().getTime());
  await deps.db.transaction(async (tx) => {
    await insertOrg(tx, { id, ...input }).catch(uniqueAs("organizations_slug_key", "organization.slug_taken", "slug already in use"));
    await appendAudit(tx, {
      change,
      organizationId: id,
      action: "organization.create",
      targetType: "organization",
      targetId: id,
      outcome: "success",
      details: { slug: input.slug },
    });
  });
  return id;
}

export async function renameOrganization(deps: Deps, orgId: string, name: string, change: ChangeContext): Promise<void> {
  await deps.db.transaction(async (tx) => {
    await updateOrg(tx, orgId, { name });
    await appendAudit(tx, { change, organizationId: orgId, action: "organization.update", targetType: "organization", targetId: orgId, outcome: "success" });
  });
}

/**
 * Adds a member with a new account. The organization must not learn whether
 * the email already has an account elsewhere, nor touch such an account: then
 * the member gets an `unclaimed` account of the organization's own, which
 * never signs in (the email's owner keeps signing in to their own account).
 * Either way the answer, the member as listed and the work done (the password
 * is hashed first) are those of a new account. Only an email that is already
 * a member here is refused (`member.exists`), which the organization can see
 * in its member list anyway. The platform audit, not the organization's,
 * records an unclaimed account.
 */
export async function addMember(
  deps: Deps,
  orgId: string,
  input: { email: string; display_name: string; password: string; role: OrgRole },
  change: ChangeContext,
): Promise<string> {
  const passwordHash = await hashPassword(input.password);
  const userId = newId(deps.clock().getTime());
  return deps.db.transaction(async (tx) => {
    await lockOrg(tx, orgId); // one add per email at a time here, so the member check below holds
    if (await memberByEmail(tx, orgId, input.email)) throw new DomainError("member.exists", "already a member");
    const status = await insertUserOrUnclaimed(tx, { id: userId, email: input.email, displayName: input.display_name, passwordHash });
    await insertMembership(tx, { organizationId: orgId, userId, role: input.role });
    await appendAudit(tx, {
      change,
      organizationId: orgId,
      action: "member.create",
      targetType: "user",
      targetId: userId,
      outcome: "success",
      details: { role: input.role },
    });
    if (status === "unclaimed")
      await appendAudit(tx, {
        change,
        action: "user.unclaimed_created",
        targetType: "user",
        targetId: userId,
        outcome: "success",
        details: { organization_id: orgId, reason: "email_has_account" },
      });
    return userId;
  });
}

/** True when the change touches an owner (now or after), which needs `member.manage_owner`. */
export async function touchesOwner(deps: Deps, orgId: string, userId: string, newRole?: OrgRole): Promise<boolean> {
  const m = await getMembership(deps.db, orgId, userId);
  return m?.role === "org_owner" || newRole === "org_owner";
}

/**
 * Changes a member's role or status. Suspending a member ends their access
 * to the organization, so their live remote sessions there are terminated
 * in the same commit (reason `member_suspended`).
 */
export async function changeMember(
  deps: HostDeps,
  orgId: string,
  userId: string,
  patch: { role?: OrgRole; status?: "active" | "suspended" },
  change: ChangeContext,
): Promise<void> {
  await deps.host.batch(async (tx, step) => {
    const m = await lockedMember(tx, orgId, userId);
    const demotesOwner = m.role === "org_owner" && ((patch.role && patch.role !== "org_owner") || patch.status === "suspended");
    if (demotesOwner && (await countOwners(tx, orgId)) <= 1) throw new DomainError("member.last_owner", "the last owner stays");
    await updateMembership(tx, orgId, userId, patch);
    if (patch.status === "suspended") {
      await terminateSessionsInTx(tx, step, { organizationId: orgId, userId }, "member_suspended", deps.clock().toISOString(), change);
      // Sign-ins the organization's own identity sources let in end too.
      await revokeOrgSourceSessions(tx, orgId, userId, "member_suspended");
    }
    await appendAudit(tx, { change, organizationId: orgId, action: "member.update", targetType: "user", targetId: userId, outcome: "success", details: patch });
  });
}

/** Removes a member; their live remote sessions in the organization are terminated in the same commit (reason `member_removed`). */
export async function removeMember(deps: HostDeps, orgId: string, userId: string, change: ChangeContext): Promise<void> {
  await deps.host.batch(async (tx, step) => {
    const m = await lockedMember(tx, orgId, userId);
    if (m.role === "org_owner" && (await countOwners(tx, orgId)) <= 1) throw new DomainError("member.last_owner", "the last owner stays");
    await deleteMembership(tx, orgId, userId);
    await terminateSessionsInTx(tx, step, { organizationId: orgId, userId }, "member_removed", deps.clock().toISOString(), change);
    await appendAudit(tx, { change, organizationId: orgId, action: "member.remove", targetType: "user", targetId: userId, outcome: "success" });
  });
}

async function lockedMember(tx: Tx, orgId: string, userId: string) {
  // Serialise owner changes per organization so two demotions cannot both pass the last-owner check.
  await lockOrg(tx, orgId);
  const m = await getMembership(tx, orgId, userId);
  if (!m) throw new DomainError("member.not_found", "no such member");
  return m;
}

export function uniqueAs(constraint: string, code: ErrorCode, message: string) {
  return onUniqueViolation((cause) => new Conflict(code, message, {}, { cause }), constraint);
}
