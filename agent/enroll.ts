/**
 * Enrollment, restart-safe at every step: the key is made (or reloaded) first,
 * the join request id is stored as soon as the control plane returns it, and
 * a restarted `enroll` resumes polling that request instead of sending
 * another. On approval the bundle is verified and the authority pinned before
 * anything is stored as enrolled. A busy or unreachable control plane (429,
 * 5xx, no answer) is waited out with backoff (retry.ts), one progress line
 * per change; only a definitive refusal ends it, with the reason and the fix.
 */
import type { NodeRole } from "../core/contracts/roles.ts";
import { AgentError, ControlPlaneClient } from "./client.ts";
import { certificateRequest, loadOrCreateKey } from "./keys.ts";
import { detectCapabilities, hostFacts } from "./host-facts.ts";
import { verifyBundle, verifySnapshot } from "./verify.ts";
import type { AgentStore, Membership } from "./store.ts";
import { signEnrollmentProof } from "../core/crypto/node-proof.ts";
import type { Clock, Random } from "./clock.ts";
import { Backoff, describeTrouble, explain, isTransient, troubleOf, type Trouble } from "./retry.ts";

export interface EnrollOptions {
  controlPlaneUrl: string;
  clusterId: string;
  token: string;
  authorityFingerprint: string | null;
  nodeName: string;
  stateDir: string;
  requestedRoles: NodeRole[];
  pollIntervalMs: number;
  timeoutMs: number;
  progress: (line: string) => void;
  /** Polling and the timeout run on it; the bundle's certificate is checked at its `now()`. */
  clock: Clock;
  /** Jitter for the backoff after a transient refusal. */
  random: Random;
}

/** Backoff after a transient refusal: 1 s doubling to a minute, or what the server asks for. */
export const ENROLL_BACKOFF = { firstMs: 1000, maxMs: 60_000 };

export async function enroll(store: AgentStore, o: EnrollOptions): Promise<Membership> {
  const existing = await store.membership(o.clusterId);
  if (existing?.status === "enrolled")
    throw new AgentError(
      "already_enrolled",
      `already enrolled in cluster ${o.clusterId} as node ${existing.nodeId}; run \`rap-node-agent leave --cluster ${o.clusterId}\` first`,
    );
  const key = await loadOrCreateKey(o.stateDir, o.clusterId);
  const client = new ControlPlaneClient(o.controlPlaneUrl, o.clock);
  const started = o.clock.now().getTime();
  const deadline = started + o.timeoutMs;
  const backoff = new Backoff(o.random, ENROLL_BACKOFF);
  let waiting: Trouble | null = null;
  /** One call, retried through transient refusals until the deadline; a definitive one ends enrollment with its fix. */
  const patiently = async <T>(call: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        const r = await call();
        if (waiting) o.progress("the control plane answers again; continuing");
        waiting = null;
        backoff.reset();
        return r;
      } catch (err) {
        if (!(err instanceof AgentError)) throw err;
        if (!isTransient(err)) throw new AgentError(err.code, explain(err, o.clusterId), err.status, err.details);
        const wait = backoff.next(err);
        if (o.clock.now().getTime() + wait > deadline)
          throw new AgentError(
            "timeout",
            `gave up after ${Math.round(o.timeoutMs / 1000)} s: ${describeTrouble(err)}; run enroll again later (a sent join request is kept)`,
          );
        if (troubleOf(err) !== waiting) o.progress(`${describeTrouble(err)}; retrying with backoff (next in ${Math.ceil(wait / 1000)} s)`);
        waiting = troubleOf(err);
        await o.clock.sleep(wait);
      }
    }
  };
  let membership: Membership =
    existing?.status === "pending" && existing.joinRequestId
      ? existing
      : {
          clusterId: o.clusterId,
          controlPlaneUrl: o.controlPlaneUrl,
          status: "pending",
          nodeName: o.nodeName,
          nodeId: null,
          joinRequestId: null,
          fingerprint: key.fingerprint,
          publicKey: key.publicKey,
          pinnedAuthorityFingerprint: o.authorityFingerprint,
          authorityPublicKey: null,
          certificatePem: null,
          caChainPem: null,
          enrolledAt: null,
        };
  if (membership.joinRequestId) {
    o.progress(`resuming enrollment: join request ${membership.joinRequestId} is waiting for approval`);
  } else {
    const facts = hostFacts();
    const csr = await certificateRequest(key, o.nodeName);
    const capabilities = detectCapabilities(facts);
    const r = await patiently(() =>
      client.call("join", {
        body: {
          token: o.token,
          cluster_id: o.clusterId,
          node_name: o.nodeName,
          public_key: key.publicKey,
          csr,
          fingerprint: key.fingerprint,
          facts,
          capabilities,
          requested_roles: o.requestedRoles,
        },
      }),
    );
    membership = { ...membership, joinRequestId: r.request_id };
    await store.saveMembership(membership);
    o.progress(`join request ${r.request_id} sent; waiting for a platform admin to approve it (fingerprint ${key.fingerprint})`);
  }

  for (;;) {
    const requestId = membership.joinRequestId!;
    // A fresh challenge for every bootstrap attempt: a challenge is single-use, even when the answer was lost.
    const answer = await patiently(async () => {
      const { challenge } = await client.call("challenge", { params: { requestId } });
      const signature = await signEnrollmentProof(key.privateKey, requestId, o.clusterId, challenge);
      return client.call("bootstrap", {
        params: { requestId },
        body: { cluster_id: o.clusterId, fingerprint: key.fingerprint, challenge, signature },
      });
    });
    if (answer.status === "approved") {
      const bundle = await verifyBundle(answer.bundle, {
        clusterId: o.clusterId,
        fingerprint: key.fingerprint,
        pinnedFingerprint: membership.pinnedAuthorityFingerprint,
        at: o.clock.now(),
      });
      const snapshot = await verifySnapshot(bundle.initial_snapshot, {
        authorityPublicKey: bundle.authority.public_key,
        clusterId: o.clusterId,
        nodeId: bundle.node_id,
        currentVersion: null,
      });
      membership = {
        ...membership,
        status: "enrolled",
        nodeId: bundle.node_id,
        pinnedAuthorityFingerprint: bundle.authority.fingerprint,
        authorityPublicKey: bundle.authority.public_key,
        certificatePem: bundle.certificate,
        caChainPem: bundle.ca_chain.join("\n"),
        enrolledAt: o.clock.now().toISOString(),
      };
      await store.saveMembership(membership);
      await store.applySnapshot(o.clusterId, snapshot.version, bundle.initial_snapshot, snapshot);
      o.progress(`approved: node ${bundle.node_id}, cluster authority ${bundle.authority.fingerprint} pinned`);
      return membership;
    }
    if (answer.status === "rejected") {
      await store.removeMembership(o.clusterId);
      throw new AgentError("rejected", `join request rejected: ${answer.reason ?? "no reason given"}; ask for a new join token`);
    }
    if (answer.status === "expired") {
      await store.removeMembership(o.clusterId);
      throw new AgentError("expired", "join request expired before anyone approved it; ask for a new join token");
    }
    if (o.clock.now().getTime() > deadline)
      throw new AgentError("timeout", `still pending after ${Math.round(o.timeoutMs / 1000)} s; run enroll again later to keep waiting (the request is kept)`);
    o.progress(`pending approval (${Math.round((o.clock.now().getTime() - started) / 1000)} s)`);
    await o.clock.sleep(o.pollIntervalMs);
  }
}
