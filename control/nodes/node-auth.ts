/**
 * How a node authenticates. It signs a short proof with its own key
 * (core/crypto/node-proof.ts); the key id is looked up among active node
 * identities, the signature verified, the cluster, age and one-time id
 * checked; the node then gets a 10-minute node access token. Its identity is
 * the key that verified, never a header or a field. Every request checks the
 * in-memory blocklist of disabled and revoked nodes, so such a node is
 * refused at once without a query on the hot path.
 */
import { jwtVerify, SignJWT } from "jose";
import { DomainError } from "../../core/errors.ts";
import { nodeProofKid, verifyNodeProof } from "../../core/crypto/node-proof.ts";
import { activeIdentityByFingerprint, getNode } from "../../sql/nodes.ts";
import type { ControlDeps } from "../deps.ts";
import { withinIssuedLifetime } from "../auth/access-token.ts";

export const NODE_TOKEN_TTL_SECONDS = 600;
const PROOF_MAX_AGE_SECONDS = 60;
const AUDIENCE = "rap-node-api";

export interface NodePrincipal {
  nodeId: string;
  clusterId: string;
  fingerprint: string;
}

const refused = (why: string) => new DomainError("node.auth_refused", why);

export async function exchangeNodeProof(
  deps: Pick<ControlDeps, "db" | "live" | "clock" | "identity">,
  proof: string,
): Promise<{ access_token: string; expires_in: number; node_id: string; cluster_id: string }> {
  const { db, live, clock, identity } = deps;
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

/** The node behind a bearer token, or `node.auth_refused`; blocked nodes are refused without a query. */
export async function verifyNodeToken(deps: Pick<ControlDeps, "identity" | "clock" | "fabric">, bearer: string): Promise<NodePrincipal> {
  let principal: NodePrincipal;
  try {
    const now = deps.clock();
    const { payload } = await jwtVerify(bearer, deps.identity.tokenKey, { algorithms: ["HS256"], audience: AUDIENCE, currentDate: now });
    if (payload.typ !== "node" || typeof payload.sub !== "string" || typeof payload.cid !== "string" || typeof payload.fp !== "string")
      throw new Error("not a node token");
    // Honoured only within the lifetime issued here, like user access tokens.
    if (!withinIssuedLifetime(payload, now, NODE_TOKEN_TTL_SECONDS)) throw new Error("lifetime beyond what this server issues");
    principal = { nodeId: payload.sub, clusterId: payload.cid, fingerprint: payload.fp };
  } catch {
    throw refused("node token invalid or expired");
  }
  if (deps.fabric.nodeBlocklist.isBlocked(principal.nodeId)) throw refused("node is disabled or revoked");
  return principal;
}
