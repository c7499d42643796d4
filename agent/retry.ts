/**
 * Which control-plane errors the agent waits out and which end what it is
 * doing. A transient refusal (429 with its `Retry-After`, any 5xx, a 408, or
 * no answer at all) is retried with jittered exponential backoff, forever if
 * need be: an agent never dies of a busy or restarting control plane. Every
 * other error is a definitive answer (revoked, rejected, wrong token or
 * cluster, key reused, a request the server calls malformed) and is reported
 * once, with what to do about it (`explain`). Pure: the clock and the random
 * source belong to the caller.
 */
import { AgentError } from "./client.ts";
import type { Random } from "./clock.ts";

/** A server asking for longer than this is not taken at its word: the agent looks again after it. */
export const MAX_RETRY_AFTER_MS = 10 * 60_000;

/** Whether `err` is worth waiting out. Errors that are not the control plane's (store, bugs) are not. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof AgentError)) return false;
  if (err.code === "unreachable") return true;
  return err.status === 408 || err.status === 429 || err.status >= 500;
}

/** How long the control plane asked us to wait (its `Retry-After` header or `retry_after_seconds` detail, the longer), in ms; null when it did not say. */
export function retryAfter(err: unknown): number | null {
  if (!(err instanceof AgentError)) return null;
  const s = err.details.retry_after_seconds;
  const fromBody = typeof s === "number" && Number.isFinite(s) && s >= 0 ? s * 1000 : null;
  const asked = [err.retryAfterMs, fromBody].filter((x): x is number => x !== null);
  return asked.length ? Math.min(Math.max(...asked), MAX_RETRY_AFTER_MS) : null;
}

/** The kind of trouble being waited out: a log line is written when it changes, not on every retry. */
export type Trouble = "rate_limited" | "unreachable" | "server_error";

export function troubleOf(err: unknown): Trouble {
  if (err instanceof AgentError && err.status === 429) return "rate_limited";
  if (err instanceof AgentError && err.status >= 500) return "server_error";
  return "unreachable";
}

/** One line for an operator: what is being waited out. */
export function describeTrouble(err: unknown): string {
  const t = troubleOf(err);
  if (t === "rate_limited") return "the control plane is rate limiting this agent";
  if (t === "server_error") return `the control plane answers with an error (HTTP ${(err as AgentError).status})`;
  return err instanceof AgentError ? err.message : "the control plane is unreachable";
}

/**
 * Exponential backoff from `firstMs` doubling to `maxMs`, each wait scaled by
 * a random 0.5–1 so agents that failed together do not return together; never
 * sooner than the server's `Retry-After`, to which up to a quarter more (at
 * least up to a second) is added at random for the same reason.
 */
/** The wait after `failures` failures in a row: `firstMs` doubling up to `maxMs`, scaled by a random 0.5–1. */
export function backoffDelay(failures: number, random: Random, o: { firstMs: number; maxMs: number }): number {
  const full = Math.min(o.maxMs, o.firstMs * 2 ** Math.max(0, failures - 1));
  return Math.round(full * (0.5 + random() / 2));
}

export class Backoff {
  private failures = 0;

  constructor(
    private readonly random: Random,
    private readonly o: { firstMs: number; maxMs: number },
  ) {}

  /** The wait after one more failure in a row. */
  next(err?: unknown): number {
    this.failures++;
    const wait = backoffDelay(this.failures, this.random, this.o);
    const asked = retryAfter(err);
    if (asked === null) return wait;
    return Math.max(wait, asked + Math.round(this.random() * Math.max(1000, asked / 4)));
  }

  reset(): void {
    this.failures = 0;
  }

  get count(): number {
    return this.failures;
  }
}

/** What to do about a definitive refusal, by the server's code. */
const FIXES: Record<string, string> = {
  "enrollment.refused":
    "the join token is wrong, expired, revoked, used up or for another cluster, or this key is already enrolled; fix: ask a platform admin for a new join token (the audit log's join_request.refused entry has the exact reason)",
  "enrollment.key_reused": "fix: `rap-node-agent leave --cluster <id>`, then enroll again with a new join token",
  "enrollment.not_found":
    "the control plane knows no join request for this key (removed, or the state comes from another host); fix: `rap-node-agent leave --cluster <id>`, then enroll again with a new join token",
  "enrollment.csr_invalid": "the control plane cannot read this agent's certificate request; fix: run the agent version that matches the control plane",
  "node.auth_refused": "the control plane refuses this node (revoked or disabled); fix: ask a platform admin to enable it, or enroll again if it was revoked",
  answer_invalid:
    "the control plane's answer does not match this agent's contract; fix: check that --control-plane is this fabric's control plane and that the agent and the control plane are the same release",
  unreachable: "fix: check --control-plane and that the control plane answers there (curl URL/healthz), then run the command again",
  authority_mismatch: "fix: copy --authority-fingerprint again from the join command the console shows, or ask the administrator",
  workloads_unreadable: "fix: pass --workloads (or RAP_AGENT_WORKLOADS_FILE) a readable JSON file (docs/agent.md#workloads)",
};

/** One line for a definitive refusal: the reason and the fix. */
export function explain(err: AgentError, clusterId?: string): string {
  const fix =
    FIXES[err.code] ??
    (err.code.startsWith("request.")
      ? "the control plane calls this agent's request malformed; fix: run the agent version that matches the control plane"
      : err.code.startsWith("http_")
        ? "the answer is not the control plane's (no error envelope); fix: check that --control-plane points at it, not at a proxy or another service"
        : null);
  // A message that already carries its fix (explained once, rethrown) is not explained again.
  // "<message>: <reason>; fix: …" when the table gives a reason, "<message>; fix: …" when it gives only the fix.
  const line = fix && !err.message.includes("fix:") ? `${err.message.replace(/\.$/, "")}${fix.startsWith("fix:") ? ";" : ":"} ${fix}` : err.message;
  return clusterId ? line.replaceAll("<id>", clusterId) : line;
}
