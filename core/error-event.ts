/**
 * The spec's error event (code, message_key, fallback_message, details,
 * trace_id), built from the catalog: the body of every HTTP error answer
 * (under `error`, http/errors.ts), and of refusals that travel outside HTTP:
 * a data-plane token refused by an entry node, `session.taken_over`.
 */
import { ERROR_CATALOG, type ErrorCode } from "./error-catalog.ts";
import type { ErrorEvent } from "./contracts/data-plane-token.ts";

export function errorEvent(code: ErrorCode, details: Record<string, unknown>, traceId: string): ErrorEvent {
  const entry = ERROR_CATALOG[code];
  const hidden = entry.status >= 500;
  const shown = hidden ? "internal.error" : code;
  return { code: shown, message_key: `errors.${shown}`, fallback_message: entry.fallback, details: hidden ? {} : details, trace_id: traceId };
}
