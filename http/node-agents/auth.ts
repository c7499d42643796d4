/**
 * How a node authenticates. It signs a short proof with its own key
 * (core/crypto/node-proof.ts); the key id is looked up among active node
 * identities, the signature verified, the cluster, age and one-time id
 * checked; the node then gets a 10-minute node access token. Its identity is
 * the key that verified, never a header or a field. Every request re-checks
 * the node's status (cached for two seconds), so a revoked or disabled node
 * is refused almost at once.
 */
import type { Context, MiddlewareHandler } from "hono";
import { jwtVerify, SignJWT } from "jose";
import type { AppEnv } from "../env.ts";
import { DomainError } from "../../core/errors.ts";
import { nodeProofKid, verifyNodeProof } from "../../core/crypto/node-proof.ts";
import { activeIdentityByFingerprint, getNode } from "../../sql/nodes.ts";
import type { Db } from "../../sql/db.ts";

export const NODE_TOKEN_TTL_SECONDS = 600;
const PROOF_MAX_AGE_SECONDS = 60;
const AUDIENCE = "rap-node-api";

export interface NodePrincipal { nodeId: string; clusterId: string; fingerprint: string }

const refused = (why: string) => new DomainError("node.auth_refused", why);

export class NodeStatusCache {
  private readonly entries = new Map<string, { status: string; clusterId: string; at: number }>();
  constructor(private readonly db: Db, private readonly ttlMs = 2000, private readonly clock: () => number = Date.now) {}

  async get(nodeId: string): Promise<{ status: string; clusterId: string } | undefined> {
    const hit = this.entries.get(nodeId);
    if (hit && this.clock() - hit.at < this.ttlMs) return hit;
    const node = await getNode(this.db, nodeId);
    if (!node) return undefined;
    const entry = { status: node.status, clusterId: node.clusterId, at: this.clock() };
    this.entries.set(nodeId, entry);
    return entry;
  }

  forget(nodeId: string): void {
    this.entries.delete(nodeId);
  }
}

const USABLE = new Set(["active", "draining"]);

export async function exchangeProof(c: Context<AppEnv>, proof: string): Promise<{ access_token: string; expires_in: number; node_id: string; cluster_id: string }> {
  const { db, live, clock, identity, fabric } = c.get("deps");
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
  const status = await fabric.nodeStatus.get(id.nodeId);
  if (!status || !USABLE.has(status.status)) throw refused(`node is ${status?.status ?? "unknown"}`);
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
      const { payload } = await jwtVerify(bearer, identity.tokenKey, { algorithms: ["HS256"], audience: AUDIENCE, currentDate: clock() });
      if (payload.typ !== "node" || typeof payload.sub !== "string" || typeof payload.cid !== "string" || typeof payload.fp !== "string") throw new Error("not a node token");
      principal = { nodeId: payload.sub, clusterId: payload.cid, fingerprint: payload.fp };
    } catch {
      throw refused("node token invalid or expired");
    }
    const status = await fabric.nodeStatus.get(principal.nodeId);
    if (!status || !USABLE.has(status.status)) throw refused(`node is ${status?.status ?? "unknown"}`);
    c.set("node", principal);
    c.set("principal", { type: "node", id: principal.nodeId });
    await next();
  };
}
