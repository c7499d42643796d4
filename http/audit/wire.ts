/** The wire form of an audit event, the same for platform and organization scope. */
import type { AuditRow } from "../../control/audit/service.ts";

export const auditWire = (e: AuditRow) => ({
  id: e.id,
  at: e.at,
  actor: { type: e.actor_type, id: e.actor_id },
  organization_id: e.organization_id,
  action: e.action,
  target: { type: e.target_type, id: e.target_id },
  outcome: e.outcome,
  reason: e.reason,
  trace_id: e.trace_id,
  details: e.details,
});
