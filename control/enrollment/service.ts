/**
 * Node enrollment: join tokens (platform admins), join requests and bootstrap
 * polling (agents). An agent learns nothing about its request until it proves
 * the key it enrolled with by signing a fresh server challenge, for the right
 * cluster and fingerprint; every refusal before that proof looks the same.
 *
 * Rate limits (JOIN_RATE) are shaped so that a legitimate storm gets through
 * and guessing does not: wrong guesses (malformed or unknown tokens, a wrong
 * secret, challenges and proofs for requests that do not verify) are counted
 * per source address and per token prefix, and a source or prefix over its
 * budget is refused before any work; joins that hold a real token are only
 * paced per token, so 500 agents behind one NAT sharing one token get through
 * in a few windows; polling an existing request is paced per request, never
 * per source. A 429 says when the window ends (`retry_after_seconds`, and the
 * `Retry-After` header).
 */
import type { ControlDeps } from "../deps.ts";
import type { ChangeContext } from "../../core/change.ts";
import { DomainError } from "../../core/errors.ts";
import { newId } from "../../core/ids.ts";
import { b64url, fromB64 } from "../../core/crypto/bytes.ts";
import { issueOpaqueToken, parseOpaqueToken, secretMatches } from "../../core/crypto/opaque-token.ts";
import { verifyAuthority, type AuthorityClaims } from "../../core/crypto/authority-jws.ts";
import { fingerprintOf, readCsr } from "../../core/crypto/x509.ts";
import { verifyEnrollmentProof } from "../../core/crypto/node-proof.ts";
import type { NodeRole } from "../../core/fabric.ts";
import { appendAudit } from "../../sql/audit.ts";
import { getCluster } from "../../sql/clusters.ts";
import { getBootstrapBundle, getJoinRequest, getJoinTokenByPrefix, insertJoinToken, revokeJoinToken, spendJoinToken } from "../../sql/enrollment.ts";
import { nodeHoldingKey } from "../../sql/nodes.ts";
import { JOIN_REQUEST } from "../../actors/join-request/kind.ts";
import { NODE } from "../../actors/node/kind.ts";
import { readActor } from "../../sql/actors.ts";
import type { Tx } from "../../sql/db.ts";
import { requireAuthority } from "../fabric.ts";

type Deps = Pick<ControlDeps, "db" | "live" | "host" | "clock" | "log" | "fabric">;

export const JOIN_TOKEN_SCOPE = "rap.join_token_scope.v1";
export const ENROLLMENT_AUDIENCE = "rap-node-enrollment";
/** How long a pending request waits for review before it expires. */
export const PENDING_TTL_MS = 24 * 3600_000;
export const CHALLENGE_TTL_MS = 120_000;
export const POLL_INTERVAL_SECONDS = 5;
/** Enrollment rate limits, per fixed window of `windowMs` on the control plane's clock. */
export const JOIN_RATE = {
  windowMs: 10_000,
  /** Wrong guesses from one source address (the brute-force budget): bad tokens, challenges for unknown requests, proofs that fail. */
  refusalsPerSource: 20,
  /** Wrong secrets for one token prefix, from anywhere. */
  refusalsPerToken: 10,
  /** Joins through one real token: a batch of 1000 (the `max_uses` cap) is in within 10 windows. */
  joinsPerToken: 100,
  /** Challenges, and bootstraps, of one join request: an agent polling every second fits twice over. */
  pollsPerRequest: 20,
};

type RateLimit = "source_refusals" | "token_refusals" | "token_joins" | "request_polls";
/** A window's counter outlives it: its key names the window (on the control plane's clock), its TTL runs on the store's. */
const COUNTER_TTL_MS = 6 * JOIN_RATE.windowMs;

export class EnrollmentRefused extends DomainError {
  constructor(why: string, details: Record<string, unknown> = {}) {
    super("enrollment.refused", why, details);
  }
}

/** The one answer for every bootstrap refusal before proof: nothing is revealed. */
const notFound = () => new DomainError("enrollment.not_found", "no such enrollment, or the proof did not verify");

export interface IssuedJoinToken {
  id: string;
  token: string;
  expires_at: string;
  max_uses: number;
  requested_roles: NodeRole[];
  cluster_id: string;
  authority_fingerprint: string;
}

export async function createJoinToken(
  deps: Deps,
  clusterId: string,
  input: { ttl_seconds: number; max_uses: number; requested_roles: NodeRole[] },
  change: ChangeContext,
): Promise<IssuedJoinToken> {
  await requireAuthority(deps, deps.db, clusterId);
  return deps.db.transaction((tx) => issueJoinToken(deps, tx, clusterId, input, change));
}

/** A join token inside the caller's transaction (a partition split issues several with its other changes). */
export async function issueJoinToken(
  deps: Pick<Deps, "clock" | "fabric">,
  tx: Tx,
  clusterId: string,
  input: { ttl_seconds: number; max_uses: number; requested_roles: NodeRole[] },
  change: ChangeContext,
): Promise<IssuedJoinToken> {
  const now = deps.clock();
  const id = newId(now.getTime());
  const issued = await issueOpaqueToken("jt");
  const expiresAt = new Date(now.getTime() + input.ttl_seconds * 1000);
  const authority = await deps.fabric.authorities.load(tx, clusterId);
  const scopeJws = await authority.sign(
    JOIN_TOKEN_SCOPE,
    ENROLLMENT_AUDIENCE,
    { token_id: id, prefix: issued.prefix, roles: input.requested_roles, exp: Math.floor(expiresAt.getTime() / 1000) },
    now,
  );
  await insertJoinToken(tx, {
    id,
    clusterId,
    prefix: issued.prefix,
    secretHash: issued.hash,
    requestedRoles: input.requested_roles,
    scopeJws,
    expiresAt,
    maxUses: input.max_uses,
    createdByUserId: change.author.id,
  });
  await appendAudit(tx, {
    change,
    action: "join_token.create",
    targetType: "join_token",
    targetId: id,
    outcome: "success",
    details: { cluster_id: clusterId, prefix: issued.prefix, max_uses: input.max_uses, roles: input.requested_roles },
  });
  return {
    id,
    token: issued.token,
    expires_at: expiresAt.toISOString(),
    max_uses: input.max_uses,
    requested_roles: input.requested_roles,
    cluster_id: clusterId,
    authority_fingerprint: authority.signingFingerprint,
  };
}

export async function revokeToken(deps: Deps, clusterId: string, tokenId: string, change: ChangeContext): Promise<void> {
  await deps.db.transaction(async (tx) => {
    if (!(await revokeJoinToken(tx, clusterId, tokenId))) throw new DomainError("join_token.not_found", "no active join token with that id");
    await appendAudit(tx, {
      change,
      action: "join_token.revoke",
      targetType: "join_token",
      targetId: tokenId,
      outcome: "success",
      details: { cluster_id: clusterId },
    });
  });
}

export interface JoinInput {
  token: string;
  cluster_id: string;
  node_name: string;
  public_key: string;
  csr: string;
  fingerprint: string;
  facts: Record<string, unknown>;
  capabilities: Record<string, boolean>;
  requested_roles: NodeRole[];
}

/** The current window: its counters' key suffix, and the seconds until it ends (what a 429 asks the caller to wait). */
function rateWindow(deps: Deps): { key: string; retryAfterSeconds: number } {
  const now = deps.clock().getTime();
  const index = Math.floor(now / JOIN_RATE.windowMs);
  return { key: String(index), retryAfterSeconds: Math.max(1, Math.ceil(((index + 1) * JOIN_RATE.windowMs - now) / 1000)) };
}

const rateLimited = (limit: RateLimit, retryAfterSeconds: number) =>
  new DomainError("enrollment.rate_limited", `too many enrollment attempts (${limit})`, { retry_after_seconds: retryAfterSeconds, limit });

/** Counts one attempt against `key`; refuses it when that passes `max` in this window. */
async function pace(deps: Deps, limit: RateLimit, key: string, max: number): Promise<void> {
  const w = rateWindow(deps);
  if ((await deps.live.incr(`enroll:rate:${key}:${w.key}`, 1, COUNTER_TTL_MS)) > max) throw rateLimited(limit, w.retryAfterSeconds);
}

/** Refuses at once (before any work) when `key` has used up its budget of wrong guesses in this window. */
async function guard(deps: Deps, limit: RateLimit, key: string, max: number): Promise<void> {
  const w = rateWindow(deps);
  if (Number((await deps.live.get(`enroll:rate:${key}:${w.key}`)) ?? 0) >= max) throw rateLimited(limit, w.retryAfterSeconds);
}

/** Counts a wrong guess against each key. */
async function noteRefusal(deps: Deps, ...keys: string[]): Promise<void> {
  const w = rateWindow(deps);
  for (const key of keys) await deps.live.incr(`enroll:rate:${key}:${w.key}`, 1, COUNTER_TTL_MS);
}

/**
 * A join request. The token is checked (format, hash, cluster, signed scope)
 * and spent in the same transaction that creates the request, so a failed
 * request never spends a use and `max_uses` cannot be exceeded.
 */
export async function submitJoin(
  deps: Deps,
  input: JoinInput,
  sourceIp: string,
  change: ChangeContext,
): Promise<{ request_id: string; status: "pending"; poll_interval_seconds: number }> {
  const source = `refused:src:${sourceIp}`;
  await guard(deps, "source_refusals", source, JOIN_RATE.refusalsPerSource);
  const parsed = parseOpaqueToken("jt", input.token);
  if (!parsed) {
    await noteRefusal(deps, source);
    throw new EnrollmentRefused("join token malformed");
  }
  const prefix = `refused:tok:${parsed.prefix}`;
  await guard(deps, "token_refusals", prefix, JOIN_RATE.refusalsPerToken);

  const token = await getJoinTokenByPrefix(deps.db, parsed.prefix);
  const guessed = !token || !(await secretMatches(parsed.secret, token.secretHash));
  if (guessed) await noteRefusal(deps, source, prefix);
  // Whoever holds the real token is paced per token, before the costly checks; the source does not matter (one NAT, many agents).
  else await pace(deps, "token_joins", `joins:${token.id}`, JOIN_RATE.joinsPerToken);

  const spki = await readCsr(input.csr);
  if (b64url(spki) !== b64url(fromB64(input.public_key))) throw new EnrollmentRefused("the CSR is not for the public key sent");
  if ((await fingerprintOf(spki)) !== input.fingerprint) throw new EnrollmentRefused("fingerprint does not match the public key");

  const now = deps.clock();
  // One refusal for every token problem, so a guesser cannot tell which check failed; the audit keeps the reason.
  const refuse = async (reason: string) => {
    await appendAudit(deps.db, {
      change,
      action: "join_request.refused",
      targetType: "join_token",
      targetId: token?.id ?? null,
      outcome: "denied",
      reason,
      details: { cluster_id: input.cluster_id, prefix: parsed.prefix },
    });
    return new EnrollmentRefused("join token invalid, expired, revoked, used up or for another cluster");
  };
  if (guessed) throw await refuse("unknown_token");
  if (token.clusterId !== input.cluster_id) throw await refuse("wrong_cluster");
  if (token.revokedAt) throw await refuse("revoked");
  if (token.expiresAt <= now) throw await refuse("expired");
  const authority = await deps.fabric.authorities.load(deps.db, token.clusterId);
  const scope = await verifyAuthority<{ token_id: string; prefix: string; roles: string[] } & AuthorityClaims>(await authority.publicKey(), token.scopeJws, {
    typ: JOIN_TOKEN_SCOPE,
    aud: ENROLLMENT_AUDIENCE,
    clusterId: input.cluster_id,
  }).catch(() => null);
  if (!scope || scope.token_id !== token.id || scope.prefix !== token.prefix) throw await refuse("scope_signature_invalid");
  const allowedRoles = new Set(scope.roles);
  if (allowedRoles.size > 0 && input.requested_roles.some((r) => !allowedRoles.has(r))) throw await refuse("roles_outside_scope");
  const cluster = await getCluster(deps.db, token.clusterId);
  if (cluster?.status !== "active") throw await refuse("cluster_not_active");
  if (cluster.partitionState === "minority" || deps.fabric.replicaMinority) throw await refuse("cluster_minority");
  const holder = await nodeHoldingKey(deps.db, input.fingerprint);
  if (holder) throw await refuse(holder.clusterId === input.cluster_id ? "key_already_enrolled" : "key_enrolled_in_other_cluster");

  const requestId = newId(now.getTime());
  const spent = await deps.host.batch(async (tx, step) => {
    if (!(await spendJoinToken(tx, token.id, now))) return false;
    await step(
      JOIN_REQUEST,
      requestId,
      {
        type: "join.submit",
        clusterId: token.clusterId,
        tokenId: token.id,
        nodeName: input.node_name,
        fingerprint: input.fingerprint,
        publicKey: input.public_key,
        facts: input.facts,
        capabilities: input.capabilities,
        requestedRoles: input.requested_roles,
        sourceIp,
        expiresAt: new Date(now.getTime() + PENDING_TTL_MS).toISOString(),
      },
      change,
    );
    return true;
  });
  // Audited outside the transaction: inside it, the embedded store would wait on itself.
  if (!spent) throw await refuse("used_up");
  return { request_id: requestId, status: "pending", poll_interval_seconds: POLL_INTERVAL_SECONDS };
}

/**
 * A fresh single-use challenge. Issued for any id, so the answer reveals
 * nothing; one for a request that does not exist is never stored (no proof
 * could use it) and counts as a wrong guess of its source.
 */
export async function issueChallenge(deps: Deps, requestId: string, sourceIp: string): Promise<{ challenge: string; expires_in: number }> {
  const challenge = b64url(crypto.getRandomValues(new Uint8Array(32)));
  if (await getJoinRequest(deps.db, requestId)) {
    await pace(deps, "request_polls", `challenges:${requestId}`, JOIN_RATE.pollsPerRequest);
    await deps.live.set(`enroll:challenge:${requestId}:${challenge}`, "1", CHALLENGE_TTL_MS);
  } else {
    await guard(deps, "source_refusals", `refused:src:${sourceIp}`, JOIN_RATE.refusalsPerSource);
    await noteRefusal(deps, `refused:src:${sourceIp}`);
  }
  return { challenge, expires_in: CHALLENGE_TTL_MS / 1000 };
}

export type BootstrapAnswer =
  | { status: "pending"; poll_interval_seconds: number }
  | { status: "rejected"; reason: string | null }
  | { status: "expired" }
  | { status: "approved"; node_id: string; bundle: string };

export async function bootstrap(
  deps: Deps,
  requestId: string,
  proof: { cluster_id: string; fingerprint: string; challenge: string; signature: string },
  sourceIp: string,
  change: ChangeContext,
): Promise<BootstrapAnswer> {
  const source = `refused:src:${sourceIp}`;
  // A failed proof counts against its source; a source over its budget is refused before the work of checking another.
  const failed = async () => {
    await guard(deps, "source_refusals", source, JOIN_RATE.refusalsPerSource);
    await noteRefusal(deps, source);
    return notFound();
  };
  const key = `enroll:challenge:${requestId}:${proof.challenge}`;
  const fresh = (await deps.live.get(key)) !== null;
  await deps.live.del(key);
  // Only challenges issued for an existing request are stored: their number is paced per request.
  if (!fresh) throw await failed();
  await pace(deps, "request_polls", `bootstraps:${requestId}`, JOIN_RATE.pollsPerRequest);
  const request = await getJoinRequest(deps.db, requestId);
  if (!request || request.clusterId !== proof.cluster_id || request.nodeFingerprint !== proof.fingerprint) throw await failed();
  if (!(await verifyEnrollmentProof(fromB64(request.publicKey), requestId, request.clusterId, proof.challenge, proof.signature))) throw await failed();

  if (request.status === "pending") return { status: "pending", poll_interval_seconds: POLL_INTERVAL_SECONDS };
  if (request.status === "rejected") return { status: "rejected", reason: request.rejectionReason };
  if (request.status !== "approved" || !request.approvedNodeId) return { status: "expired" };
  const bundle = await getBootstrapBundle(deps.db, requestId);
  if (!bundle) throw notFound();
  const node = await readActor(deps.db, NODE, request.approvedNodeId);
  // The node becomes active the first time it proves its key and takes its identity.
  if (node?.state === "pending") {
    await deps.host
      .send(NODE, request.approvedNodeId, { type: "node.activate" }, { ...change, author: { type: "node", id: request.approvedNodeId } })
      .catch((err) => {
        if (!(err instanceof DomainError)) throw err;
      });
  }
  return { status: "approved", node_id: request.approvedNodeId, bundle };
}
