/** Which refusals the agent waits out, for how long, and what it says about the final ones. */
import { describe, expect, test } from "../fixtures/test.ts";
import { AgentError, parseRetryAfter } from "./client.ts";
import { Backoff, explain, isTransient, MAX_RETRY_AFTER_MS, retryAfter, troubleOf } from "./retry.ts";

const err = (code: string, status: number, details: Record<string, unknown> = {}, retryAfterMs: number | null = null) =>
  new AgentError(code, "x", status, details, retryAfterMs);

describe("classification", () => {
  test("429, 408, every 5xx and no answer at all are transient", () => {
    for (const e of [
      err("enrollment.rate_limited", 429),
      err("http_408", 408),
      err("internal.error", 500),
      err("http_502", 502),
      err("http_503", 503),
      err("unreachable", 0),
    ])
      expect([e.code, isTransient(e)]).toEqual([e.code, true]);
  });

  test("refusals, proofs that fail, malformed requests, contract mismatches and our own errors are final", () => {
    for (const e of [
      err("enrollment.refused", 403),
      err("enrollment.key_reused", 409),
      err("enrollment.not_found", 404),
      err("node.auth_refused", 401),
      err("request.validation_failed", 400),
      err("http_404", 404),
      err("answer_invalid", 0),
      err("rejected", 0),
    ])
      expect([e.code, isTransient(e)]).toEqual([e.code, false]);
    expect(isTransient(new Error("disk full"))).toBe(false);
  });

  test("the kind of trouble names the state a log line reports once", () => {
    expect(troubleOf(err("enrollment.rate_limited", 429))).toBe("rate_limited");
    expect(troubleOf(err("http_503", 503))).toBe("server_error");
    expect(troubleOf(err("unreachable", 0))).toBe("unreachable");
  });
});

describe("Retry-After", () => {
  const now = new Date("2026-01-01T00:00:00Z");
  test("the header is delay seconds or an HTTP date", () => {
    expect(parseRetryAfter("7", now)).toBe(7000);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });

  test("the longer of the header and the envelope's retry_after_seconds, capped", () => {
    expect(retryAfter(err("enrollment.rate_limited", 429, { retry_after_seconds: 4 }))).toBe(4000);
    expect(retryAfter(err("enrollment.rate_limited", 429, { retry_after_seconds: 4 }, 9000))).toBe(9000);
    expect(retryAfter(err("enrollment.rate_limited", 429, {}, 2000))).toBe(2000);
    expect(retryAfter(err("enrollment.rate_limited", 429, { retry_after_seconds: "4" }))).toBeNull();
    expect(retryAfter(err("enrollment.rate_limited", 429, { retry_after_seconds: 86_400 }))).toBe(MAX_RETRY_AFTER_MS);
    expect(retryAfter(new Error("x"))).toBeNull();
  });
});

describe("backoff", () => {
  test("doubles from the first wait to the cap, each scaled by a random 0.5–1", () => {
    const low = new Backoff(() => 0, { firstMs: 1000, maxMs: 8000 });
    expect([1, 2, 3, 4, 5].map(() => low.next())).toEqual([500, 1000, 2000, 4000, 4000]);
    const high = new Backoff(() => 0.999999, { firstMs: 1000, maxMs: 8000 });
    expect([1, 2, 3, 4, 5].map(() => high.next())).toEqual([1000, 2000, 4000, 8000, 8000]);
    high.reset();
    expect(high.next()).toBe(1000);
  });

  test("never sooner than Retry-After, plus jitter so a crowd told the same moment spreads out", () => {
    const asked = err("enrollment.rate_limited", 429, { retry_after_seconds: 8 });
    expect(new Backoff(() => 0, { firstMs: 1000, maxMs: 60_000 }).next(asked)).toBe(8000);
    expect(new Backoff(() => 0.5, { firstMs: 1000, maxMs: 60_000 }).next(asked)).toBe(9000);
    const waits = new Set(Array.from({ length: 50 }, (_, i) => new Backoff(() => i / 50, { firstMs: 1000, maxMs: 60_000 }).next(asked)));
    expect(waits.size).toBeGreaterThan(40);
  });
});

describe("final refusals", () => {
  test("one line with the reason and the fix, the cluster filled in", () => {
    const line = explain(new AgentError("enrollment.key_reused", "This key already identifies a node.", 409), "c1");
    expect(line).toBe("This key already identifies a node; fix: `rap-node-agent leave --cluster c1`, then enroll again with a new join token");
    expect(explain(new AgentError("enrollment.refused", "The enrollment was refused.", 403))).toContain("fix: ask a platform admin for a new join token");
    expect(explain(new AgentError("http_404", "HTTP 404", 404))).toContain("fix: check that --control-plane");
    expect(explain(new AgentError("something.else", "Odd.", 409))).toBe("Odd.");
  });
});
