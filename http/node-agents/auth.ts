/**
 * How a node authenticates. It signs a short proof with its own key
 * (core/crypto/node-proof.ts); the key id is looked up among active node
 * identities, the signature verified, the cluster, age and one-time id
 * checked; the node then gets a 10-minute node access token. Its identity is
 * the key that verified, never a header or a field. Every request checks the
 * in-memory blocklist of disabled and revoked nodes, so such a node is
 * refused at once without a query on the hot path.
 */
import type { Context, MiddlewareHandler } from "hono";
import { jwtVerify, SignJWT } from "jose";
import type { AppEnv } from "../env.ts";
import { DomainError } from "../../core/errors.ts";
import { nodeProofKid, verifyNodeProof } from "../../core/crypto/node-proof.ts";
import { activeIdentityByFingerprint, blockedNodeIds, getNode } from "../../sql/nodes.ts";
import { withinIssuedLifetime } from "../auth/access-token.ts";
import type { Db } from "../../sql/db.ts";
import type { LiveState } from "../../live/live-state.ts";

export const NODE_TOKEN_TTL_SECONDS = 600;
const PROOF_MAX_AGE_SECONDS = 60;
const AUDIENCE = "rap-node-api";

export interface NodePrincipal { nodeId: string; clusterId: string; fingerprint: string }

const refused = (why: string) => new DomainError("node.auth_refused", why);

/**
 * Nodes that must be refused although their token has not expired: disabled
 * and revoked ones. Kept in memory so the heartbeat path never queries for
 * it; a change on any replica is published on live state and applied by all,
 * and a periodic reload from PostgreSQL repairs anything a message missed.
 */
export class NodeBlocklist {
  private blocked = new Set<string>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;
  static readonly CHANNEL = "node-status";

  constructor(private readonly db: Db, private readonly live: LiveState, private readonly reloadMs = 5000) {}

  async start(): Promise<void> {
    await this.reload();
    this.unsubscribe = await this.live.subscribe(NodeBlocklist.CHANNEL, (m) => {
      const { nodeId, blocked } = JSON.parse(m) as { nodeId: string; blocked: boolean };
      this.apply(nodeId, blocked);
    });
    this.timer = setInterval(() => void this.reload().catch(() => {}), this.reloadMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.unsubscribe?.();
  }

  async reload(): Promise<void> {
    this.blocked = new Set(await blockedNodeIds(this.db));
  }

  isBlocked(nodeId: string): boolean {
    return this.blocked.has(nodeId);
  }

  /** Applies a status change here at once and tells the other replicas. */
  async changed(nodeId: string, status: string): Promise<void> {
    const blocked = !USABLE.has(status);
    this.apply(nodeId, blocked);
    await this.live.publish(NodeBlocklist.CHANNEL, JSON.stringify({ nodeId, blocked }));
  }

  private apply(nodeId: string, blocked: boolean): void {
    if (blocked) this.blocked.add(nodeId);
    else this.blocked.delete(nodeId);
  }
}

const USABLE = new Set(["active", "draining", "pending"]);

export async function exchangeProof(c: Context<AppEnv>, proof: string): Promise<{ access_token: string; expires_in: number; node_id: string; cluster_id: string }> {
  const { db, live, clock, identity } = c.get("deps");
  const kid = nodeProofKid(proof);
  if (!kid) throw refused("proof is not an ES256 JWS with a key id");
  const id = await activeIdentityByFingerprint(db, kid);
  if (!id) throw refused("unknown or inactive node key");
  const doc = await verifyNodeProof(id.publicKey, proof);
  if (!doc) throw refused("proof signature does not verify");
  const now = Math.floor(clock().getTime() / 1000);
  if (doc.cluster_id !== id.clusterId) throw refused("proof is for another cluster");
  if (Math.abs(now - doc.iat) > PROOF_MAX_AGE_SECONDS) throw refused("proof is too old or from the future");
  if (!(await live.setIfAbsent(`node:proof:${doc.jti}`, "1", 2 * PROOF_MAX_AGE_SECONDS * 1000))) throw refused("proof was already used");
  const node = await getNode(db, id.nodeId);
  if (!node || (node.status !== "active" && node.status !== "draining")) throw refused(`node is ${node?.status ?? "unknown"}`);
  const token = await new SignJWT({ typ: "node", cid: id.clusterId, fp: id.fingerprint })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(id.nodeId)
    .setAudience(AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + NODE_TOKEN_TTL_SECONDS)
    .sign(identity.tokenKey);
  return { access_token: token, expires_in: NODE_TOKEN_TTL_SECONDS, node_id: id.nodeId, cluster_id: id.clusterId };
}

export function authenticateNode(): MiddlewareHandler<AppEnv & { Variables: { node: NodePrincipal } }> {
  return async (c, next) => {
    const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
    if (!bearer) throw refused("missing node token");
    const { identity, clock, fabric } = c.get("deps");
    let principal: NodePrincipal;
    try {
      const now = clock();
      const { payload } = await jwtVerify(bearer, identity.tokenKey, { algorithms: ["HS256"], audience: AUDIENCE, currentDate: now });
      if (payload.typ !== "node" || typeof payload.sub !== "string" || typeof payload.cid !== "string" || typeof payload.fp !== "string") throw new Error("not a node token");
      // Honoured only within the lifetime issued here, like user access tokens.
      if (!withinIssuedLifetime(payload, now, NODE_TOKEN_TTL_SECONDS)) throw new Error("lifetime beyond what this server issues");
      principal = { nodeId: payload.sub, clusterId: payload.cid, fingerprint: payload.fp };
    } catch {
      throw refused("node token invalid or expired");
    }
    if (fabric.nodeBlocklist.isBlocked(principal.nodeId)) throw refused("node is disabled or revoked");
    c.set("node", principal);
    c.set("principal", { type: "node", id: principal.nodeId });
    await next();
  };
}
