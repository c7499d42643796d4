/**
 * The error catalog: every stable error code the HTTP API can answer with,
 * its status and English fallback. Clients localise by `message_key`; the
 * fallback is for humans reading raw responses. 5xx bodies are always the
 * generic internal error; the cause goes to the log only.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { DomainError, type ErrorDetails } from "../core/errors.ts";

interface CatalogEntry { status: ContentfulStatusCode; fallback: string }

export const ERRORS = {
  "request.invalid_json": { status: 400, fallback: "The request body is not valid JSON." },
  "request.validation_failed": { status: 400, fallback: "The request has invalid or missing fields." },
  "request.unknown_field": { status: 400, fallback: "The request has fields this endpoint does not accept." },
  "request.unsupported_media_type": { status: 415, fallback: "Send the request body as application/json." },
  "request.body_too_large": { status: 413, fallback: "The request body is too large." },
  "route.not_found": { status: 404, fallback: "There is no such endpoint." },
  "auth.unauthenticated": { status: 401, fallback: "Sign in to continue." },
  "auth.token_invalid": { status: 401, fallback: "Your sign-in is not valid. Sign in again." },
  "auth.token_expired": { status: 401, fallback: "Your sign-in has expired. Refresh it or sign in again." },
  "auth.session_revoked": { status: 401, fallback: "This session has ended. Sign in again." },
  "auth.invalid_credentials": { status: 401, fallback: "The email or password is wrong." },
  "auth.mfa_required": { status: 401, fallback: "Enter the code from your authenticator app." },
  "auth.mfa_invalid": { status: 401, fallback: "That authenticator code is wrong or was already used." },
  "auth.refresh_token_invalid": { status: 401, fallback: "That refresh token is not valid." },
  "auth.refresh_token_expired": { status: 401, fallback: "That refresh token has expired. Sign in again." },
  "auth.refresh_token_reused": { status: 401, fallback: "That refresh token was already used; the session was ended for safety. Sign in again." },
  "auth.account_disabled": { status: 403, fallback: "This account is disabled." },
  "auth.rate_limited": { status: 429, fallback: "Too many attempts. Wait and try again." },
  "auth.forbidden": { status: 403, fallback: "You do not have permission to do that." },
  "auth.step_up_required": { status: 403, fallback: "Confirm with your authenticator code to continue." },
  "auth.mfa_enrollment_required": { status: 403, fallback: "Set up two-factor authentication first." },
  "auth.mfa_already_enabled": { status: 409, fallback: "Two-factor authentication is already set up." },
  "auth.mfa_not_pending": { status: 409, fallback: "Start two-factor setup first." },
  "auth.session_not_found": { status: 404, fallback: "That session does not exist." },
  "auth.device_not_found": { status: 404, fallback: "That device does not exist." },
  "installation.already_activated": { status: 409, fallback: "This installation already has an owner." },
  "installation.not_activated": { status: 409, fallback: "This installation has no owner yet." },
  "installation.activation_required": { status: 400, fallback: "Strict mode needs a signed activation manifest." },
  "installation.insecure_bootstrap_disabled": { status: 403, fallback: "Insecure bootstrap is disabled on this installation." },
  "installation.signature_invalid": { status: 400, fallback: "The signature is not valid for this installation's Product Root." },
  "installation.wrong_installation": { status: 400, fallback: "That grant is for another installation." },
  "installation.grant_exists": { status: 409, fallback: "That grant was already recorded." },
  "installation.grant_not_found": { status: 404, fallback: "That grant does not exist." },
  "installation.strict_mode_requires_grant": { status: 409, fallback: "In strict mode platform roles come only from signed grants." },
  "user.not_found": { status: 404, fallback: "That user does not exist." },
  "organization.not_found": { status: 404, fallback: "That organization does not exist." },
  "organization.slug_taken": { status: 409, fallback: "Another organization already uses that slug." },
  "member.not_found": { status: 404, fallback: "That member does not exist." },
  "member.exists": { status: 409, fallback: "That user is already a member." },
  "member.last_owner": { status: 409, fallback: "An organization needs at least one owner." },
  "resource.not_found": { status: 404, fallback: "That resource does not exist." },
  "resource.name_taken": { status: 409, fallback: "Another resource in this organization has that name." },
  "resource.secret_required": { status: 400, fallback: "In production a resource needs its credentials stored as a secret." },
  "resource.plaintext_credentials": { status: 400, fallback: "Credentials must not be stored in metadata; use the resource secret." },
  "cluster.not_active": { status: 409, fallback: "The cluster is not active." },
  "cluster.not_partitioned": { status: 409, fallback: "Only a minority partition can be split off." },
  "cluster.partition_minority": { status: 409, fallback: "This cluster is in a minority partition; trust changes are refused until it is promoted or merged." },
  "authority.signature_invalid": { status: 400, fallback: "The cluster authority signature is not valid." },
  "join_token.not_found": { status: 404, fallback: "That join token does not exist or is already revoked." },
  "join_request.not_found": { status: 404, fallback: "That join request does not exist." },
  "enrollment.refused": { status: 403, fallback: "The enrollment was refused." },
  "enrollment.not_found": { status: 404, fallback: "No such enrollment, or the proof did not verify." },
  "enrollment.rate_limited": { status: 429, fallback: "Too many enrollment attempts. Wait and try again." },
  "enrollment.csr_invalid": { status: 400, fallback: "The certificate request is not valid." },
  "enrollment.key_reused": { status: 409, fallback: "This key already identifies a node." },
  "node.not_found": { status: 404, fallback: "That node does not exist." },
  "node.not_active": { status: 409, fallback: "The node is not active." },
  "node.auth_refused": { status: 401, fallback: "The node could not be authenticated." },
  "node.capability_missing": { status: 409, fallback: "The node does not report the capability this role needs." },
  "node.role_exists": { status: 409, fallback: "The node already has this role." },
  "node.role_not_found": { status: 404, fallback: "That role assignment does not exist." },
  "route_intent.not_found": { status: 404, fallback: "That route intent does not exist." },
  "route_intent.exists": { status: 409, fallback: "Those two nodes already have a route intent; delete it first." },
  "route_intent.invalid": { status: 422, fallback: "The route intent names nodes that cannot carry it." },
  "node_group.not_found": { status: 404, fallback: "That node group does not exist." },
  "node_group.exists": { status: 409, fallback: "A node group with that name already exists here." },
  "secret.key_unknown": { status: 500, fallback: "Internal server error." },
  "secret.undecryptable": { status: 500, fallback: "Internal server error." },
  "actor.not_found": { status: 404, fallback: "That item does not exist." },
  "actor.event_rejected": { status: 409, fallback: "That action is not possible in the item's current state." },
  "actor.unknown_kind": { status: 500, fallback: "Internal server error." },
  "actor.machine_version_mismatch": { status: 500, fallback: "Internal server error." },
  "cluster.not_found": { status: 404, fallback: "That cluster does not exist." },
  "cluster.slug_taken": { status: 409, fallback: "Another cluster already uses that slug." },
  "internal.error": { status: 500, fallback: "Internal server error." },
} as const satisfies Record<string, CatalogEntry>;

export type ErrorCode = keyof typeof ERRORS;

/** An error raised by the HTTP layer itself (bad request shape, unknown route). */
export class HttpError extends DomainError {
  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(code, message, details);
  }
}

export interface ErrorEnvelope {
  error: { code: string; message_key: string; fallback_message: string; details: ErrorDetails; trace_id: string };
}

export function envelope(code: string, details: ErrorDetails, traceId: string): { status: ContentfulStatusCode; body: ErrorEnvelope } {
  const entry: CatalogEntry = (ERRORS as Record<string, CatalogEntry>)[code] ?? ERRORS["internal.error"];
  const isServerError = entry.status >= 500;
  const shownCode = isServerError ? "internal.error" : code;
  return {
    status: entry.status,
    body: {
      error: {
        code: shownCode,
        message_key: `errors.${shownCode}`,
        fallback_message: entry.fallback,
        details: isServerError ? {} : details,
        trace_id: traceId,
      },
    },
  };
}

export function sendError(c: Context, code: string, details: ErrorDetails = {}): Response {
  const { status, body } = envelope(code, details, c.get("traceId") ?? "");
  return c.json(body, status);
}

/** Which status a thrown error will get; unknown errors are 500. */
export function statusOf(err: unknown): number {
  if (err instanceof DomainError) return ((ERRORS as Record<string, CatalogEntry>)[err.code] ?? ERRORS["internal.error"]).status;
  return 500;
}
