/**
 * Route-side authorization: runs the pure decision of core/authz.ts for the
 * request's subject, turns a denial into a 403 with a stable code, and audits
 * denials of high-risk actions. Objects of an organization the caller cannot
 * read are reported as not found, so ids cannot be probed across tenants.
 */
import type { Context } from "hono";
import { authorize, HIGH_RISK, type Action, type OrgAction, type Scope } from "../core/authz.ts";
import { DomainError } from "../core/errors.ts";
import { recordAudit } from "../control/audit/service.ts";
import { changeOf } from "./change.ts";
import type { AppEnv } from "./env.ts";

const CODES = {
  no_permission: "auth.forbidden",
  not_member: "auth.forbidden",
  step_up_required: "auth.step_up_required",
  mfa_enrollment_required: "auth.mfa_enrollment_required",
} as const;

export class Forbidden extends DomainError {}

export async function requireAction(c: Context<AppEnv>, action: Action, scope: Scope): Promise<void> {
  const { subject } = c.get("auth");
  const decision = authorize(subject, action, scope, c.get("deps").clock());
  if (decision.allow) return;
  if (HIGH_RISK.has(action)) {
    await recordAudit(c.get("deps"), {
      change: changeOf(c),
      organizationId: scope.kind === "organization" ? scope.orgId : null,
      action,
      targetType: scope.kind,
      targetId: scope.kind === "organization" ? scope.orgId : null,
      outcome: "denied",
      reason: decision.reason,
    });
  }
  throw new Forbidden(CODES[decision.reason], `${action} denied: ${decision.reason}`, { action, reason: decision.reason });
}

/** True when the caller may read in the organization; callers turn false into their own 404. */
export function canRead(c: Context<AppEnv>, orgId: string, action: OrgAction): boolean {
  return authorize(c.get("auth").subject, action, { kind: "organization", orgId }, c.get("deps").clock()).allow;
}
