/**
 * The agent's HTTP client for the control plane. Errors come back as one
 * `AgentError` with the server's stable code (or `unreachable`) so the CLI can
 * print one line with a cause and a fix. Node sessions are obtained with a
 * fresh signed proof and renewed before they expire. Every call is one row
 * of the node-agent contract (core/contracts/node-agent-api.ts): its path,
 * method and body type come from there, and its answer is checked against
 * the contract before anything uses it.
 */
import * as v from "valibot";
import { signNodeProof } from "../core/crypto/node-proof.ts";
import {
  callPath,
  NODE_AGENT_API,
  type CallAnswer,
  type CallBody,
  type CallParams,
  type CallQuery,
  type NodeAgentCall,
} from "../core/contracts/node-agent-api.ts";
import type { Clock } from "./clock.ts";

export class AgentError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 0,
    readonly details: Record<string, unknown> = {},
    /** The answer's `Retry-After` header, in ms from when it arrived (null without one). */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

export class ControlPlaneClient {
  private token: { value: string; expiresAt: number } | undefined;

  /** `clock` dates proofs and times the session's renewal; request timeouts are real time. */
  constructor(
    private readonly baseUrl: string,
    private readonly clock: Clock,
    private readonly timeoutMs = 15_000,
  ) {}

  /** One call of the node-agent API; an answer that does not match the contract is `answer_invalid`. */
  async call<K extends NodeAgentCall>(
    call: K,
    opts: { params?: CallParams<K>; body?: CallBody<K>; query?: CallQuery<K>; token?: string; timeoutMs?: number } = {},
  ): Promise<CallAnswer<K>> {
    const query = opts.query ? `?${new URLSearchParams(opts.query as Record<string, string>)}` : "";
    const path = callPath(call, opts.params as Record<string, string> | undefined) + query;
    const answer = await this.request(NODE_AGENT_API[call].method, path, opts);
    const parsed = v.safeParse(NODE_AGENT_API[call].answer, answer);
    if (!parsed.success)
      throw new AgentError("answer_invalid", `the control plane's answer to ${call} does not match the contract: ${v.summarize(parsed.issues)}`);
    return parsed.output as CallAnswer<K>;
  }

  private async request(method: string, path: string, opts: { body?: unknown; token?: string; timeoutMs?: number }): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          ...(opts.body !== undefined ? { "content-type": "application/json" } : {}),
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        },
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.timeout(opts.timeoutMs ?? this.timeoutMs),
      });
    } catch (err) {
      throw new AgentError("unreachable", `control plane ${this.baseUrl} unreachable: ${err instanceof Error ? err.message : String(err)}`);
    }
    const text = await res.text();
    const body = text ? safeJson(text) : null;
    if (!res.ok) {
      const e = (body as { error?: { code?: string; fallback_message?: string; details?: Record<string, unknown> } } | null)?.error;
      throw new AgentError(
        e?.code ?? `http_${res.status}`,
        e?.fallback_message ?? `HTTP ${res.status}`,
        res.status,
        e?.details ?? {},
        parseRetryAfter(res.headers.get("retry-after"), this.clock.now()),
      );
    }
    return body;
  }

  /** A node token, renewed a minute before it expires, from a fresh proof signed by the node key. */
  async nodeToken(key: { privateKey: CryptoKey; fingerprint: string }, clusterId: string): Promise<string> {
    if (this.token && this.token.expiresAt - 60_000 > this.clock.now().getTime()) return this.token.value;
    const proof = await signNodeProof(key.privateKey, key.fingerprint, clusterId, this.clock.now());
    const r = await this.call("session", { body: { proof } });
    this.token = { value: r.access_token, expiresAt: this.clock.now().getTime() + r.expires_in * 1000 };
    return r.access_token;
  }

  forgetToken(): void {
    this.token = undefined;
  }
}

/** A `Retry-After` header (delay seconds or an HTTP date) as ms from `now`; null when absent or unreadable. */
export function parseRetryAfter(header: string | null, now: Date): number | null {
  const h = header?.trim();
  if (!h) return null;
  if (/^\d+$/.test(h)) return Number(h) * 1000;
  const at = Date.parse(h);
  return Number.isNaN(at) ? null : Math.max(0, at - now.getTime());
}

/** The parsed JSON, or null when the text is not JSON. */
export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
