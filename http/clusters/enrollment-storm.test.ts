/**
 * An enrollment storm: 500 simulated agents (each with its own P-256 key and
 * CSR) join through one join token (max_uses 500) at the same instant, all
 * from one source address (in-process requests share one, as agents behind
 * one NAT do). Each behaves as rap-node-agent does: it honours a 429's
 * `Retry-After` with the agent's own backoff and jitter (agent/retry.ts),
 * then polls challenge + bootstrap every 5 s. An admin approves whatever is
 * pending every 10 s. Time is a manual clock moved from one due agent to the
 * next; the figures (429s, when the last join and the last bootstrap landed)
 * are printed and bounded.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { useStores } from "../../fixtures/stores.ts";
import { makeApp, testIdentity, type TestApp } from "../../fixtures/control-plane.ts";
import { bootstrapOwner, enrollTotp, json, stepUp, type Session } from "../../fixtures/identity.ts";
import { createJoinToken, joinBody, nodeKeys, type NodeKeys } from "../../fixtures/nodes.ts";
import { ManualClock } from "../../fixtures/clock.ts";
import { signEnrollmentProof } from "../../core/crypto/node-proof.ts";
import { JOIN_RATE } from "../../control/enrollment/service.ts";
import { AgentError, parseRetryAfter } from "../../agent/client.ts";
import { Backoff } from "../../agent/retry.ts";
import { ENROLL_BACKOFF } from "../../agent/enroll.ts";

setDefaultTimeout(300_000);

const stores = useStores();
const AGENTS = 500;
const POLL_MS = 5000;
const APPROVE_EVERY_MS = 10_000;
/** The bound: every agent holds its bundle within this much simulated time of the storm's start. */
const BOUND_MS = 3 * 60_000;

/** A seeded random source, so a failure replays. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

interface SimAgent {
  name: string;
  k: NodeKeys;
  phase: "join" | "poll" | "done";
  nextAt: number;
  requestId?: string;
  backoff: Backoff;
  joinedAt?: number;
  doneAt?: number;
}

const clock = new ManualClock(Date.parse("2026-03-01T00:00:00Z"));
let t: TestApp;
let owner: Session;
let clusterId: string;

beforeAll(async () => {
  t = await makeApp(stores.store.db, stores.live, { clock, identity: await testIdentity({ accessTtlSeconds: 24 * 3600 }) });
  owner = await enrollTotp(t, await bootstrapOwner(t));
  clusterId = (await json(await t.call("POST", "/api/v1/clusters", { token: owner.token, body: { name: "Storm", slug: "storm" } }), 201)).id;
});

/** The AgentError rap-node-agent's client would make of a refusal. */
async function agentError(res: Response): Promise<AgentError> {
  const e = ((await res.json()) as { error: { code: string; fallback_message: string; details: Record<string, unknown> } }).error;
  return new AgentError(e.code, e.fallback_message, res.status, e.details, parseRetryAfter(res.headers.get("retry-after"), clock.now()));
}

describe("an enrollment storm", () => {
  test(`${AGENTS} agents joining through one token from one address all bootstrap within ${BOUND_MS / 60_000} minutes`, async () => {
    const { token, id: tokenId } = await createJoinToken(t, owner, clusterId, { ttl_seconds: 3600, max_uses: AGENTS });
    const random = seeded(18);
    const start = clock.now().getTime();
    const agents: SimAgent[] = [];
    for (let i = 0; i < AGENTS; i++)
      agents.push({ name: `storm-${i}`, k: await nodeKeys(`storm-${i}`), phase: "join", nextAt: start, backoff: new Backoff(random, ENROLL_BACKOFF) });
    const figures = { joins429: 0, challenges429: 0, bootstraps429: 0, otherErrors: [] as string[], approvals: 0, approvalRounds: 0 };
    let steppedUpAt = Number.NEGATIVE_INFINITY;
    let nextApproval = start + APPROVE_EVERY_MS;

    const backOff = async (a: SimAgent, res: Response, what: "joins429" | "challenges429" | "bootstraps429") => {
      if (res.status !== 429) {
        figures.otherErrors.push(`${res.status} ${await res.text()}`);
        a.phase = "done";
        return;
      }
      figures[what]++;
      const err = await agentError(res);
      expect(err.retryAfterMs).toBeGreaterThan(0);
      a.nextAt = clock.now().getTime() + a.backoff.next(err);
    };

    const step = async (a: SimAgent) => {
      const now = clock.now().getTime();
      if (a.phase === "join") {
        const res = await t.call("POST", "/api/v1/node-agents/enrollments", { body: joinBody(a.k, clusterId, token, { node_name: a.name }) });
        if (res.status !== 202) return backOff(a, res, "joins429");
        a.requestId = (await res.json()).request_id;
        a.phase = "poll";
        a.joinedAt = now;
        a.backoff.reset();
        a.nextAt = now + POLL_MS;
        return;
      }
      const c = await t.call("POST", `/api/v1/node-agents/enrollments/${a.requestId}/challenge`);
      if (c.status !== 200) return backOff(a, c, "challenges429");
      const { challenge } = await c.json();
      const signature = await signEnrollmentProof(a.k.keys.privateKey, a.requestId!, clusterId, challenge);
      const b = await t.call("POST", `/api/v1/node-agents/enrollments/${a.requestId}/bootstrap`, {
        body: { cluster_id: clusterId, fingerprint: a.k.fingerprint, challenge, signature },
      });
      if (b.status !== 200) return backOff(a, b, "bootstraps429");
      const answer = await b.json();
      a.backoff.reset();
      if (answer.status === "approved") {
        a.phase = "done";
        a.doneAt = now;
      } else if (answer.status === "pending") a.nextAt = now + POLL_MS;
      else {
        figures.otherErrors.push(JSON.stringify(answer));
        a.phase = "done";
      }
    };

    /** The admin approves every pending request of the cluster (a step-up first when the last is older than 4 minutes). */
    const approvePending = async () => {
      figures.approvalRounds++;
      for (;;) {
        const pending = (await json(await t.call("GET", `/api/v1/clusters/${clusterId}/join-requests?status=pending&limit=200`, { token: owner.token }), 200))
          .items as { id: string }[];
        if (pending.length === 0) return;
        if (clock.now().getTime() - steppedUpAt > 4 * 60_000) {
          await stepUp(t, owner);
          steppedUpAt = clock.now().getTime();
        }
        for (const r of pending) {
          await json(await t.call("POST", `/api/v1/clusters/${clusterId}/join-requests/${r.id}/approve`, { token: owner.token, body: {} }), 200);
          figures.approvals++;
        }
      }
    };

    while (agents.some((a) => a.phase !== "done") && clock.now().getTime() - start < 2 * BOUND_MS) {
      const now = clock.now().getTime();
      await Promise.all(agents.filter((a) => a.phase !== "done" && a.nextAt <= now).map(step));
      if (clock.now().getTime() >= nextApproval) {
        await approvePending();
        nextApproval = clock.now().getTime() + APPROVE_EVERY_MS;
      }
      const next = Math.min(nextApproval, ...agents.filter((a) => a.phase !== "done").map((a) => a.nextAt));
      if (next > clock.now().getTime()) clock.advance(next - clock.now().getTime());
    }

    const joined = agents.map((a) => (a.joinedAt ?? Number.NaN) - start);
    const done = agents.map((a) => (a.doneAt ?? Number.NaN) - start);
    const lastJoin = Math.max(...joined);
    const lastBootstrap = Math.max(...done);
    console.log(
      `storm: ${AGENTS} agents, one token, one source; limits ${JSON.stringify(JOIN_RATE)}; ` +
        `429s: ${figures.joins429} joins, ${figures.challenges429} challenges, ${figures.bootstraps429} bootstraps; ` +
        `${figures.approvals} approvals in ${figures.approvalRounds} rounds; ` +
        `last join accepted at ${(lastJoin / 1000).toFixed(1)} s, last bundle at ${(lastBootstrap / 1000).toFixed(1)} s of simulated time`,
    );

    expect(figures.otherErrors).toEqual([]);
    expect(agents.filter((a) => a.phase !== "done" || a.doneAt === undefined)).toHaveLength(0);
    // The per-token pace is what held the joins back, and it let them all through within twice the windows it needs (5 for 500).
    expect(figures.joins429).toBeGreaterThan(0);
    expect(lastJoin).toBeLessThanOrEqual(2 * Math.ceil(AGENTS / JOIN_RATE.joinsPerToken) * JOIN_RATE.windowMs);
    expect(lastBootstrap).toBeLessThanOrEqual(BOUND_MS);
    const used = (await json(await t.call("GET", `/api/v1/clusters/${clusterId}/join-tokens`, { token: owner.token }), 200)).items.find(
      (x: { id: string }) => x.id === tokenId,
    );
    expect(used.used_count).toBe(AGENTS);
  });
});
