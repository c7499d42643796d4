/**
 * The audit trail as callers see it: the platform view, an organization's
 * view (which never shows platform infrastructure), and recording a denied
 * high-risk action.
 */
import type * as v from "valibot";
import type { AuditQuery, OrgAuditQuery } from "../../core/contracts/organizations.ts";
import { appendAudit, listAudit, type AuditRow } from "../../sql/audit.ts";
import type { ControlDeps } from "../deps.ts";

export type { AuditRow };
type Deps = Pick<ControlDeps, "db">;

/**
 * The tenant view of the audit trail leaves out events about platform
 * infrastructure even when they name the organization (a node given a role
 * for it, say): organizations never see nodes, clusters or trust material.
 */
const INFRASTRUCTURE_TARGETS = ["node", "cluster", "join_token", "join_request", "node_group", "keyring", "platform_role_grant", "installation"];

/** One more row than `limit`, so the caller can tell whether there is a next page. */
export function platformAudit(deps: Deps, q: v.InferOutput<typeof AuditQuery>): Promise<AuditRow[]> {
  return listAudit(deps.db, {
    ...q,
    actorId: q.actor_id,
    targetId: q.target_id,
    organizationIds: q.organization_id ? [q.organization_id] : undefined,
    limit: q.limit + 1,
  });
}

/**
 * One more row than `limit`, so the caller can tell whether there is a next
 * page. Nodes act on an organization's sessions (an adapter reports its
 * shell started, say): those rows stay, but the node's id never reaches the
 * tenant, and filtering by a node's id finds nothing.
 */
export async function organizationAudit(deps: Deps, orgId: string, q: v.InferOutput<typeof OrgAuditQuery>): Promise<AuditRow[]> {
  const rows = await listAudit(deps.db, {
    ...q,
    actorId: q.actor_id,
    actorTypesNotMatched: ["node"],
    targetId: q.target_id,
    organizationIds: [orgId],
    excludeTargetTypes: INFRASTRUCTURE_TARGETS,
    limit: q.limit + 1,
  });
  return rows.map((r) => (r.actor_type === "node" ? { ...r, actor_id: "" } : r));
}

/** Appends one audit row in its own transaction (a denial, or a change that wrote nothing else). */
export function recordAudit(deps: Deps, entry: Parameters<typeof appendAudit>[1]): Promise<void> {
  return appendAudit(deps.db, entry).then(() => undefined);
}
