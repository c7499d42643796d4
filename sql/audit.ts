/**
 * Audit events: append-only (this module has no update or delete). Every
 * mutation appends one in the transaction of the change; denials of
 * high-risk actions and failed logins append one on their own.
 */
import { pgArray, type Tx } from "./db.ts";
import type { ChangeContext } from "../core/change.ts";
import { newId } from "../core/ids.ts";

export type AuditOutcome = "success" | "denied" | "failure";

export interface AuditEntry {
  change: ChangeContext;
  organizationId?: string | null;
  action: string;
  targetType: string;
  targetId?: string | null;
  outcome: AuditOutcome;
  reason?: string | null;
  details?: Record<string, unknown>;
  at?: Date;
}

export async function appendAudit(tx: Tx, e: AuditEntry): Promise<string> {
  const id = newId(e.at?.getTime());
  await tx.query(
    `insert into audit_events (id, at, actor_type, actor_id, organization_id, action, target_type, target_id, outcome, reason, trace_id, details)
     values ($1, coalesce($2::timestamptz, now()), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb)`,
    [
      id,
      e.at?.toISOString() ?? null,
      e.change.author.type,
      e.change.author.id,
      e.organizationId ?? null,
      e.action,
      e.targetType,
      e.targetId ?? null,
      e.outcome,
      e.reason ?? null,
      e.change.traceId,
      JSON.stringify(e.details ?? {}),
    ],
  );
  return id;
}

export interface AuditFilter {
  /** undefined: every organization and platform events; a list: only those organizations. */
  organizationIds?: string[];
  action?: string;
  actorId?: string;
  outcome?: AuditOutcome;
  targetId?: string;
  since?: string;
  until?: string;
  /** Target types left out (tenant views leave out infrastructure). */
  excludeTargetTypes?: string[];
  /** With `actorId`: actor types it never matches (a tenant view cannot confirm a node id by filtering on it). */
  actorTypesNotMatched?: string[];
  /** Newest first; `before` is the last id of the previous page. */
  before?: string;
  limit: number;
}

export type AuditRow = {
  id: string;
  at: string;
  actor_type: string;
  actor_id: string;
  organization_id: string | null;
  action: string;
  target_type: string;
  target_id: string | null;
  outcome: AuditOutcome;
  reason: string | null;
  trace_id: string;
  details: Record<string, unknown>;
};

export async function listAudit(tx: Tx, f: AuditFilter): Promise<AuditRow[]> {
  const rows = await tx.query<AuditRow & { at: Date }>(
    `select id::text, at, actor_type, actor_id, organization_id::text, action, target_type, target_id, outcome, reason, trace_id, details
       from audit_events
      where ($1::uuid[] is null or organization_id = any($1::uuid[]))
        and ($2::text is null or action = $2)
        and ($3::text is null or (actor_id = $3 and ($11::text[] is null or not (actor_type = any($11::text[])))))
        and ($4::text is null or outcome = $4)
        and ($5::text is null or target_id = $5)
        and ($6::timestamptz is null or at >= $6::timestamptz)
        and ($7::timestamptz is null or at < $7::timestamptz)
        and ($8::uuid is null or id < $8::uuid)
        and ($10::text[] is null or not (target_type = any($10::text[])))
      order by id desc
      limit $9`,
    [
      f.organizationIds ? pgArray(f.organizationIds) : null,
      f.action ?? null,
      f.actorId ?? null,
      f.outcome ?? null,
      f.targetId ?? null,
      f.since ?? null,
      f.until ?? null,
      f.before ?? null,
      f.limit,
      f.excludeTargetTypes ? pgArray(f.excludeTargetTypes) : null,
      f.actorTypesNotMatched ? pgArray(f.actorTypesNotMatched) : null,
    ],
  );
  return rows.map((r) => ({ ...r, at: new Date(r.at).toISOString() }));
}
