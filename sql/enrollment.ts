/** Join tokens, the join-request projection and bootstrap bundles. */
import { one, type Tx } from "./db.ts";

export interface JoinTokenRow {
  id: string;
  clusterId: string;
  prefix: string;
  secretHash: string;
  requestedRoles: string[];
  scopeJws: string;
  expiresAt: Date;
  maxUses: number;
  usedCount: number;
  createdByUserId: string;
  createdAt: Date;
  revokedAt: Date | null;
}
type RawToken = {
  id: string;
  cluster_id: string;
  prefix: string;
  secret_hash: string;
  requested_roles: string[];
  scope_jws: string;
  expires_at: Date;
  max_uses: number;
  used_count: number;
  created_by_user_id: string;
  created_at: Date;
  revoked_at: Date | null;
};
const TOKEN_COLS =
  "id::text, cluster_id::text, prefix, secret_hash, requested_roles, scope_jws, expires_at, max_uses, used_count, created_by_user_id, created_at, revoked_at";
const toToken = (r: RawToken): JoinTokenRow => ({
  id: r.id,
  clusterId: r.cluster_id,
  prefix: r.prefix,
  secretHash: r.secret_hash,
  requestedRoles: r.requested_roles,
  scopeJws: r.scope_jws,
  expiresAt: new Date(r.expires_at),
  maxUses: r.max_uses,
  usedCount: r.used_count,
  createdByUserId: r.created_by_user_id,
  createdAt: new Date(r.created_at),
  revokedAt: r.revoked_at ? new Date(r.revoked_at) : null,
});

export async function insertJoinToken(tx: Tx, t: Omit<JoinTokenRow, "usedCount" | "createdAt" | "revokedAt">): Promise<void> {
  await tx.query(
    `insert into node_join_tokens (id, cluster_id, prefix, secret_hash, requested_roles, scope_jws, expires_at, max_uses, created_by_user_id)
     values ($1, $2, $3, $4, $5::jsonb, $6, $7::timestamptz, $8, $9)`,
    [t.id, t.clusterId, t.prefix, t.secretHash, JSON.stringify(t.requestedRoles), t.scopeJws, t.expiresAt.toISOString(), t.maxUses, t.createdByUserId],
  );
}

export async function getJoinTokenByPrefix(tx: Tx, prefix: string): Promise<JoinTokenRow | undefined> {
  const r = await one<RawToken>(tx, `select ${TOKEN_COLS} from node_join_tokens where prefix = $1`, [prefix]);
  return r && toToken(r);
}

export async function listJoinTokens(tx: Tx, clusterId: string): Promise<JoinTokenRow[]> {
  return (await tx.query<RawToken>(`select ${TOKEN_COLS} from node_join_tokens where cluster_id = $1 order by created_at desc limit 200`, [clusterId])).map(
    toToken,
  );
}

/**
 * Spends one use, atomically: the row is updated only while it is unrevoked,
 * unexpired and under `max_uses`, so concurrent joins can never overspend it.
 */
export async function spendJoinToken(tx: Tx, id: string, now: Date): Promise<boolean> {
  const rows = await tx.query(
    `update node_join_tokens set used_count = used_count + 1
      where id = $1 and revoked_at is null and expires_at > $2::timestamptz and used_count < max_uses returning id`,
    [id, now.toISOString()],
  );
  return rows.length === 1;
}

export async function revokeJoinToken(tx: Tx, clusterId: string, id: string): Promise<boolean> {
  return (
    (await tx.query("update node_join_tokens set revoked_at = now() where id = $1 and cluster_id = $2 and revoked_at is null returning id", [id, clusterId]))
      .length === 1
  );
}

export interface JoinRequestRow {
  id: string;
  clusterId: string;
  tokenId: string;
  nodeName: string;
  nodeFingerprint: string;
  publicKey: string;
  reportedFacts: Record<string, unknown>;
  reportedCapabilities: Record<string, boolean>;
  requestedRoles: string[];
  status: string;
  reviewedByUserId: string | null;
  reviewedAt: string | null;
  approvedNodeId: string | null;
  rejectionReason: string | null;
  sourceIp: string | null;
  createdAt: string;
  updatedAt: string;
}
type RawRequest = {
  id: string;
  cluster_id: string;
  token_id: string;
  node_name: string;
  node_fingerprint: string;
  public_key: string;
  reported_facts: Record<string, unknown>;
  reported_capabilities: Record<string, boolean>;
  requested_roles: string[];
  status: string;
  reviewed_by_user_id: string | null;
  reviewed_at: Date | null;
  approved_node_id: string | null;
  rejection_reason: string | null;
  source_ip: string | null;
  created_at: Date;
  updated_at: Date;
};
const REQUEST_COLS = `id::text, cluster_id::text, token_id::text, node_name, node_fingerprint, public_key, reported_facts, reported_capabilities, requested_roles,
  status, reviewed_by_user_id, reviewed_at, approved_node_id::text, rejection_reason, source_ip, created_at, updated_at`;
const toRequest = (r: RawRequest): JoinRequestRow => ({
  id: r.id,
  clusterId: r.cluster_id,
  tokenId: r.token_id,
  nodeName: r.node_name,
  nodeFingerprint: r.node_fingerprint,
  publicKey: r.public_key,
  reportedFacts: r.reported_facts,
  reportedCapabilities: r.reported_capabilities,
  requestedRoles: r.requested_roles,
  status: r.status,
  reviewedByUserId: r.reviewed_by_user_id,
  reviewedAt: r.reviewed_at ? new Date(r.reviewed_at).toISOString() : null,
  approvedNodeId: r.approved_node_id,
  rejectionReason: r.rejection_reason,
  sourceIp: r.source_ip,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

export async function upsertJoinRequest(tx: Tx, r: Omit<JoinRequestRow, "createdAt" | "updatedAt">, now: Date): Promise<void> {
  await tx.query(
    `insert into node_join_requests (id, cluster_id, token_id, node_name, node_fingerprint, public_key, reported_facts, reported_capabilities, requested_roles,
       status, reviewed_by_user_id, reviewed_at, approved_node_id, rejection_reason, source_ip, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9::jsonb, $10, $11, $12::timestamptz, $13, $14, $15, $16::timestamptz, $16::timestamptz)
     on conflict (id) do update set status = excluded.status, reviewed_by_user_id = excluded.reviewed_by_user_id, reviewed_at = excluded.reviewed_at,
       approved_node_id = excluded.approved_node_id, rejection_reason = excluded.rejection_reason, updated_at = excluded.updated_at`,
    [
      r.id,
      r.clusterId,
      r.tokenId,
      r.nodeName,
      r.nodeFingerprint,
      r.publicKey,
      JSON.stringify(r.reportedFacts),
      JSON.stringify(r.reportedCapabilities),
      JSON.stringify(r.requestedRoles),
      r.status,
      r.reviewedByUserId,
      r.reviewedAt,
      r.approvedNodeId,
      r.rejectionReason,
      r.sourceIp,
      now.toISOString(),
    ],
  );
}

export async function getJoinRequest(tx: Tx, id: string): Promise<JoinRequestRow | undefined> {
  const r = await one<RawRequest>(tx, `select ${REQUEST_COLS} from node_join_requests where id = $1`, [id]);
  return r && toRequest(r);
}

export async function listJoinRequests(tx: Tx, opts: { clusterId: string; status?: string; after?: string; limit: number }): Promise<JoinRequestRow[]> {
  const rows = await tx.query<RawRequest>(
    `select ${REQUEST_COLS} from node_join_requests where cluster_id = $1 and ($2::text is null or status = $2) and ($3::uuid is null or id > $3::uuid) order by id limit $4`,
    [opts.clusterId, opts.status ?? null, opts.after ?? null, opts.limit],
  );
  return rows.map(toRequest);
}

export async function insertBootstrapBundle(tx: Tx, joinRequestId: string, jws: string): Promise<void> {
  await tx.query("insert into node_bootstrap_bundles (join_request_id, bundle_jws) values ($1, $2)", [joinRequestId, jws]);
}

export async function getBootstrapBundle(tx: Tx, joinRequestId: string): Promise<string | undefined> {
  return (await one<{ bundle_jws: string }>(tx, "select bundle_jws from node_bootstrap_bundles where join_request_id = $1", [joinRequestId]))?.bundle_jws;
}
