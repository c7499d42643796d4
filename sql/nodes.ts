/** The node projection, cluster memberships, node identities (certificates) and revocation lists. */
import { one, pgArray, type Tx } from "./db.ts";

export interface NodeRow {
  id: string;
  clusterId: string;
  name: string;
  status: string;
  health: string;
  groupId: string | null;
  capabilities: Record<string, boolean>;
  facts: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  /** When its latest heartbeat arrived; null: never heard from (whatever `health` says). */
  lastHeartbeatAt: string | null;
}
type RawNode = {
  id: string;
  cluster_id: string;
  name: string;
  status: string;
  health: string;
  group_id: string | null;
  capabilities: Record<string, boolean>;
  facts: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
  last_heartbeat_at: Date | null;
};
const NODE_COLS =
  "id::text, cluster_id::text, name, status, health, group_id::text, capabilities, facts, created_at, updated_at, (select h.received_at from node_heartbeats_latest h where h.node_id = nodes.id) as last_heartbeat_at";
const toNode = (r: RawNode): NodeRow => ({
  id: r.id,
  clusterId: r.cluster_id,
  name: r.name,
  status: r.status,
  health: r.health,
  groupId: r.group_id,
  capabilities: r.capabilities,
  facts: r.facts,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
  lastHeartbeatAt: r.last_heartbeat_at ? new Date(r.last_heartbeat_at).toISOString() : null,
});

/** `groupId` undefined keeps the row's group (snapshots from before groups were actor context). */
export async function upsertNode(
  tx: Tx,
  n: {
    id: string;
    clusterId: string;
    name: string;
    status: string;
    health: string;
    groupId: string | null | undefined;
    capabilities: Record<string, boolean>;
    facts: Record<string, unknown>;
    now: Date;
  },
): Promise<void> {
  await tx.query(
    `insert into nodes (id, cluster_id, name, status, health, capabilities, facts, created_at, updated_at, group_id)
     values ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::timestamptz, $8::timestamptz, $9::uuid)
     on conflict (id) do update set status = excluded.status, health = excluded.health, updated_at = excluded.updated_at,
       group_id = case when $10 then excluded.group_id else nodes.group_id end`,
    [
      n.id,
      n.clusterId,
      n.name,
      n.status,
      n.health,
      JSON.stringify(n.capabilities),
      JSON.stringify(n.facts),
      n.now.toISOString(),
      n.groupId ?? null,
      n.groupId !== undefined,
    ],
  );
  await tx.query(
    `insert into cluster_memberships (cluster_id, node_id, membership_status, joined_at) values ($1, $2, $3, $4::timestamptz)
     on conflict (cluster_id, node_id) do update set membership_status = excluded.membership_status`,
    [n.clusterId, n.id, n.status, n.now.toISOString()],
  );
}

export async function getNode(tx: Tx, id: string): Promise<NodeRow | undefined> {
  const r = await one<RawNode>(tx, `select ${NODE_COLS} from nodes where id = $1`, [id]);
  return r && toNode(r);
}

export async function listNodes(
  tx: Tx,
  opts: { clusterId: string; status?: string; health?: string; groupId?: string; after?: string; limit: number },
): Promise<NodeRow[]> {
  const rows = await tx.query<RawNode>(
    `select ${NODE_COLS} from nodes where cluster_id = $1 and ($2::text is null or status = $2) and ($3::text is null or health = $3)
       and ($4::uuid is null or group_id = $4::uuid) and ($5::uuid is null or id > $5::uuid) order by id limit $6`,
    [opts.clusterId, opts.status ?? null, opts.health ?? null, opts.groupId ?? null, opts.after ?? null, opts.limit],
  );
  return rows.map(toNode);
}

/** Which of `ids` are nodes of this cluster. */
export async function nodesInCluster(tx: Tx, clusterId: string, ids: string[]): Promise<Set<string>> {
  const rows = await tx.query<{ id: string }>("select id::text from nodes where cluster_id = $1 and id = any($2::uuid[])", [clusterId, pgArray(ids)]);
  return new Set(rows.map((r) => r.id));
}

export interface IdentityRow {
  certificateSerial: string;
  nodeId: string;
  clusterId: string;
  publicKey: string;
  fingerprint: string;
  certificatePem: string;
  notBefore: Date;
  notAfter: Date;
  status: "active" | "rotated" | "revoked";
}
type RawIdentity = {
  certificate_serial: string;
  node_id: string;
  cluster_id: string;
  public_key: string;
  fingerprint: string;
  certificate_pem: string;
  certificate_not_before: Date;
  certificate_not_after: Date;
  identity_status: IdentityRow["status"];
};
const ID_COLS =
  "certificate_serial, node_id::text, cluster_id::text, public_key, fingerprint, certificate_pem, certificate_not_before, certificate_not_after, identity_status";
const toIdentity = (r: RawIdentity): IdentityRow => ({
  certificateSerial: r.certificate_serial,
  nodeId: r.node_id,
  clusterId: r.cluster_id,
  publicKey: r.public_key,
  fingerprint: r.fingerprint,
  certificatePem: r.certificate_pem,
  notBefore: new Date(r.certificate_not_before),
  notAfter: new Date(r.certificate_not_after),
  status: r.identity_status,
});

export async function insertIdentity(tx: Tx, i: Omit<IdentityRow, "status">): Promise<void> {
  await tx.query(
    `insert into node_identities (certificate_serial, node_id, cluster_id, public_key, fingerprint, certificate_pem, certificate_not_before, certificate_not_after, identity_status)
     values ($1, $2, $3, $4, $5, $6, $7::timestamptz, $8::timestamptz, 'active')`,
    [i.certificateSerial, i.nodeId, i.clusterId, i.publicKey, i.fingerprint, i.certificatePem, i.notBefore.toISOString(), i.notAfter.toISOString()],
  );
}

/** The active identity whose key has this fingerprint: how a proven key becomes a node. */
export async function activeIdentityByFingerprint(tx: Tx, fingerprint: string): Promise<IdentityRow | undefined> {
  const r = await one<RawIdentity>(
    tx,
    `select ${ID_COLS} from node_identities where fingerprint = $1 and identity_status = 'active' order by certificate_not_after desc limit 1`,
    [fingerprint],
  );
  return r && toIdentity(r);
}

/** Any node, in any cluster, that ever held this key. */
export async function nodeHoldingKey(tx: Tx, fingerprint: string): Promise<{ nodeId: string; clusterId: string } | undefined> {
  const r = await one<{ node_id: string; cluster_id: string }>(
    tx,
    "select node_id::text, cluster_id::text from node_identities where fingerprint = $1 limit 1",
    [fingerprint],
  );
  return r && { nodeId: r.node_id, clusterId: r.cluster_id };
}

export async function identitiesOf(tx: Tx, nodeId: string): Promise<IdentityRow[]> {
  return (await tx.query<RawIdentity>(`select ${ID_COLS} from node_identities where node_id = $1 order by certificate_not_before`, [nodeId])).map(toIdentity);
}

/** The node's active certificates become `rotated` (before a renewed one is recorded: it may be for the same key). */
export async function markIdentitiesRotated(tx: Tx, nodeId: string): Promise<void> {
  await tx.query("update node_identities set identity_status = 'rotated', rotated_at = now() where node_id = $1 and identity_status = 'active'", [nodeId]);
}

export async function revokeIdentitiesOf(tx: Tx, nodeId: string): Promise<string[]> {
  const rows = await tx.query<{ certificate_serial: string }>(
    "update node_identities set identity_status = 'revoked', revoked_at = now() where node_id = $1 and identity_status <> 'revoked' returning certificate_serial",
    [nodeId],
  );
  return rows.map((r) => r.certificate_serial);
}

export async function revokedIdentities(tx: Tx, clusterId: string): Promise<{ serial: string; nodeId: string; revokedAt: string }[]> {
  const rows = await tx.query<{ certificate_serial: string; node_id: string; revoked_at: Date }>(
    "select certificate_serial, node_id::text, revoked_at from node_identities where cluster_id = $1 and identity_status = 'revoked' order by revoked_at, certificate_serial",
    [clusterId],
  );
  return rows.map((r) => ({ serial: r.certificate_serial, nodeId: r.node_id, revokedAt: new Date(r.revoked_at).toISOString() }));
}

export async function insertRevocationList(tx: Tx, clusterId: string, jws: string): Promise<number> {
  const r = await one<{ version: number }>(
    tx,
    `insert into cluster_revocation_lists (cluster_id, version, list_jws)
     values ($1, coalesce((select max(version) from cluster_revocation_lists where cluster_id = $1), 0) + 1, $2) returning version`,
    [clusterId, jws],
  );
  return r!.version;
}

export async function latestRevocationList(tx: Tx, clusterId: string): Promise<{ version: number; jws: string } | undefined> {
  const r = await one<{ version: number; list_jws: string }>(
    tx,
    "select version, list_jws from cluster_revocation_lists where cluster_id = $1 order by version desc limit 1",
    [clusterId],
  );
  return r && { version: r.version, jws: r.list_jws };
}

export async function blockedNodeIds(tx: Tx): Promise<string[]> {
  return (await tx.query<{ id: string }>("select id::text from nodes where status in ('disabled', 'revoked')")).map((r) => r.id);
}
