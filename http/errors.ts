/**
 * Error answers: the envelope every error response carries, built from the
 * catalog in core/error-catalog.ts. 5xx bodies are always the generic
 * internal error; the cause goes to the log only.
 */
import { errorEvent } from "../core/error-event.ts";
import type { ErrorEvent } from "../core/contracts/data-plane-token.ts";
import type { Context } from "hono";
import { DomainError, type ErrorDetails } from "../core/errors.ts";
import { ERROR_CATALOG, type CatalogEntry, type ErrorCode } from "../core/error-catalog.ts";

export type { ErrorCode };

/** An error raised by the HTTP layer itself (bad request shape, unknown route). */
export class HttpError extends DomainError {
  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(code, message, details);
  }
}

/** The HTTP error body: the spec's error event (core/error-event.ts) under `error`. */
export interface ErrorEnvelope {
  error: ErrorEvent;
}

export function envelope(code: ErrorCode, details: ErrorDetails, traceId: string): { status: CatalogEntry["status"]; body: ErrorEnvelope } {
  return { status: ERROR_CATALOG[code].status, body: { error: errorEvent(code, details, traceId) } };
}

/**
 * Every 429 carries `Retry-After` (RFC 9110 §10.2.3), from the refusal's
 * `retry_after_seconds` (1 s when it gives none), so any HTTP client can back
 * off without reading the envelope.
 */
export function sendError(c: Context, code: ErrorCode, details: ErrorDetails = {}): Response {
  const { status, body } = envelope(code, details, c.get("traceId") ?? "");
  if (status === 429) c.header("retry-after", String(retryAfterSeconds(details)));
  return c.json(body, status);
}

function retryAfterSeconds(details: ErrorDetails): number {
  const s = details.retry_after_seconds;
  return typeof s === "number" && Number.isFinite(s) && s > 0 ? Math.ceil(s) : 1;
}

/** Which status a thrown error will get; unknown errors are 500. */
export function statusOf(err: unknown): number {
  if (err instanceof DomainError) return ERROR_CATALOG[err.code].status;
  return 500;
}
