/**
 * The change context every mutation carries: who asked, through which door,
 * under which trace id. It is written to the actor journal (and later the
 * audit log) in the same transaction as the change itself.
 */
export type AuthorType = "user" | "node" | "system";
export type SourceType = "http" | "agent" | "timer" | "cli" | "startup";

export interface Principal {
  type: AuthorType;
  id: string;
}

export interface ChangeContext {
  author: Principal;
  source: { type: SourceType };
  traceId: string;
}

export const SYSTEM: Principal = { type: "system", id: "control-plane" };

export function systemChange(source: SourceType, traceId: string): ChangeContext {
  return { author: SYSTEM, source: { type: source }, traceId };
}
