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
