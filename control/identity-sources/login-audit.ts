/**
 * The audit row of a sign-in through an identity source that did not end in
 * a session: the source is the target, the organization its owner.
 */
import type { ChangeContext } from "../../core/change.ts";
import { appendAudit, type AuditOutcome } from "../../sql/audit.ts";
import type { Tx } from "../../sql/db.ts";
import type { SourceRow } from "../../sql/identity-sources.ts";

export async function auditSourceLogin(
  db: Tx,
  change: ChangeContext,
  source: Pick<SourceRow, "id" | "organizationId">,
  outcome: AuditOutcome,
  reason: string,
): Promise<void> {
  await appendAudit(db, {
    change,
    organizationId: source.organizationId,
    action: "auth.login",
    targetType: "identity_source",
    targetId: source.id,
    outcome,
    reason,
  });
}
