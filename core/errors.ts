/**
 * Domain errors: the one way code below http/ says "this request cannot be
 * done". Each error carries a stable `code` from core/error-catalog.ts, which
 * gives its status, message key and English fallback. Causes stay on `cause` for logs and
 * never reach a response body.
 */
import type { ErrorCode } from "./error-catalog.ts";

export type { ErrorCode };
export type ErrorDetails = Record<string, unknown>;

export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** The event is not accepted by the actor in its current state; nothing changed. */
export class ActorEventRejected extends DomainError {
  constructor(kind: string, id: string, eventType: string, state: string) {
    super("actor.event_rejected", `${kind} ${id} in state ${state} does not accept ${eventType}`, {
      kind,
      id,
      event: eventType,
      state,
    });
  }
}

export class ActorNotFound extends DomainError {
  constructor(kind: string, id: string) {
    super("actor.not_found", `${kind} ${id} does not exist`, { kind, id });
  }
}

export class UnknownActorKind extends DomainError {
  constructor(kind: string) {
    super("actor.unknown_kind", `no actor kind named ${kind}`, { kind });
  }
}

/** A persisted snapshot was written by a machine version this build cannot read. */
export class ActorMachineVersionMismatch extends DomainError {
  constructor(kind: string, id: string, stored: number, current: number) {
    super("actor.machine_version_mismatch", `${kind} ${id} snapshot is machine version ${stored}, this build runs ${current}`, {
      kind,
      id,
      stored,
      current,
    });
  }
}

/** A unique value (slug, name) is already taken by another entity; the store's error stays on `cause` for the log. */
export class Conflict extends DomainError {}

/** The thing does not exist, or the caller may not know that it does. */
export class NotFound extends DomainError {}

export class Unauthenticated extends DomainError {
  constructor(message = "authentication required") {
    super("auth.unauthenticated", message);
  }
}
