/**
 * VPN connections: the projections of the vpn_connection and vpn_lease actors
 * (written only by their projections), the sealed WireGuard configuration,
 * and the reads placement and the node-agent calls need.
 */
import { pgArray, type Tx } from "./db.ts";
import type { Sealed } from "../core/crypto/envelope.ts";
import type { VpnHistoryEvent } from "../core/contracts/vpn.ts";

export interface VpnConnectionRow {
  id: string;
  organizationId: string;
  name: string;
  state: string;
  mode: string;
  target: { site: string; address: string; port: number };
  allowedNodes: { mode: "any" } | { mode: "list"; nodeIds: string[] };
  routing: {
    allowedCidrs: string[];
    deniedCidrs: string[];
    dnsRoutes: { suffix: string; servers: string[] }[];
    services: string[];
    resourceIds: string[];
    internetEgress: boolean;
  };
  placement: { allowedRegions: string[]; preferredRegions: string[]; standby: boolean };
  bandwidth: { maxMbps: number | null; perClientMbps: number | null };
  secretVersion: number;
  disabledReason: string | null;
  createdAt: string;
  updatedAt: string;
}

type RawConnection = {
  id: string;
  organization_id: string;
  name: string;
  state: string;
  mode: string;
  target: VpnConnectionRow["target"];
  allowed_nodes: VpnConnectionRow["allowedNodes"];
  routing: VpnConnectionRow["routing"];
  placement: VpnConnectionRow["placement"];
  bandwidth: VpnConnectionRow["bandwidth"];
  secret_version: number;
  disabled_reason: string | null;
  created_at: Date;
  updated_at: Date;
};
const C_COLS =
  "id::text, organization_id::text, name, state, mode, target, allowed_nodes, routing, placement, bandwidth, secret_version, disabled_reason, created_at, updated_at";
const toConnection = (r: RawConnection): VpnConnectionRow => ({
  id: r.id,
  organizationId: r.organization_id,
  name: r.name,
  state: r.state,
  mode: r.mode,
  target: r.target,
  allowedNodes: r.allowed_nodes,
  routing: r.routing,
  placement: r.placement,
  bandwidth: r.bandwidth,
  secretVersion: r.secret_version,
  disabledReason: r.disabled_reason,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

export async function upsertVpnConnection(tx: Tx, c: Omit<VpnConnectionRow, "createdAt" | "updatedAt">, now: Date): Promise<void> {
  await tx.query(
    `insert into vpn_connections (id, organization_id, name, state, mode, target, allowed_nodes, routing, placement, bandwidth, secret_version, disabled_reason, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb, $10::jsonb, $11, $12, $13::timestamptz, $13::timestamptz)
     on conflict (id) do update set name = excluded.name, state = excluded.state, target = excluded.target, allowed_nodes = excluded.allowed_nodes,
       routing = excluded.routing, placement = excluded.placement, bandwidth = excluded.bandwidth, secret_version = excluded.secret_version,
       disabled_reason = excluded.disabled_reason, updated_at = excluded.updated_at`,
    [
      c.id,
      c.organizationId,
      c.name,
      c.state,
      c.mode,
      JSON.stringify(c.target),
      JSON.stringify(c.allowedNodes),
      JSON.stringify(c.routing),
      JSON.stringify(c.placement),
      JSON.stringify(c.bandwidth),
      c.secretVersion,
      c.disabledReason,
      now.toISOString(),
    ],
  );
}

export async function getVpnConnection(tx: Tx, id: string): Promise<VpnConnectionRow | undefined> {
  const [r] = await tx.query<RawConnection>(`select ${C_COLS} from vpn_connections where id = $1 and state <> 'deleted'`, [id]);
  return r ? toConnection(r) : undefined;
}

/** Live connections of one organization, or of every organization (`null`). */
export async function listVpnConnections(tx: Tx, organizationId: string | null): Promise<VpnConnectionRow[]> {
  const rows = await tx.query<RawConnection>(
    `select ${C_COLS} from vpn_connections where state <> 'deleted' and ($1::uuid is null or organization_id = $1::uuid) order by name, id`,
    [organizationId],
  );
  return rows.map(toConnection);
}

export async function setVpnSecret(tx: Tx, connectionId: string, sealed: Sealed): Promise<void> {
  await tx.query(
    `insert into vpn_connection_secrets (connection_id, key_id, wrapped_key, ciphertext) values ($1, $2, $3, $4)
     on conflict (connection_id) do update set key_id = excluded.key_id, wrapped_key = excluded.wrapped_key, ciphertext = excluded.ciphertext, rotated_at = now()`,
    [connectionId, sealed.keyId, sealed.wrappedKey, sealed.ciphertext],
  );
}

export async function getVpnSecret(tx: Tx, connectionId: string): Promise<Sealed | undefined> {
  const [r] = await tx.query<{ key_id: string; wrapped_key: string; ciphertext: string }>(
    "select key_id, wrapped_key, ciphertext from vpn_connection_secrets where connection_id = $1",
    [connectionId],
  );
  return r ? { keyId: r.key_id, wrappedKey: r.wrapped_key, ciphertext: r.ciphertext } : undefined;
}

export async function deleteVpnSecret(tx: Tx, connectionId: string): Promise<void> {
  await tx.query("delete from vpn_connection_secrets where connection_id = $1", [connectionId]);
}

export async function vpnSecretsNotUnderKey(tx: Tx, keyId: string): Promise<{ connectionId: string; sealed: Sealed }[]> {
  const rows = await tx.query<{ connection_id: string; key_id: string; wrapped_key: string; ciphertext: string }>(
    "select connection_id::text, key_id, wrapped_key, ciphertext from vpn_connection_secrets where key_id <> $1 for update",
    [keyId],
  );
  return rows.map((r) => ({ connectionId: r.connection_id, sealed: { keyId: r.key_id, wrappedKey: r.wrapped_key, ciphertext: r.ciphertext } }));
}

export interface VpnLeaseRow {
  connectionId: string;
  organizationId: string;
  state: string;
  epoch: number;
  ownerNodeId: string | null;
  standbyNodeId: string | null;
  ttlMs: number;
  grantedAt: string | null;
  renewedAt: string | null;
  expiresAt: string | null;
  fencedReason: string | null;
  lastEndReason: string | null;
  failovers: number;
}

type RawLease = {
  connection_id: string;
  organization_id: string;
  state: string;
  epoch: string | number;
  owner_node_id: string | null;
  standby_node_id: string | null;
  ttl_ms: number;
  granted_at: Date | null;
  renewed_at: Date | null;
  expires_at: Date | null;
  fenced_reason: string | null;
  last_end_reason: string | null;
  failovers: number;
};
const L_COLS =
  "connection_id::text, organization_id::text, state, epoch, owner_node_id::text, standby_node_id::text, ttl_ms, granted_at, renewed_at, expires_at, fenced_reason, last_end_reason, failovers";
const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
const toLease = (r: RawLease): VpnLeaseRow => ({
  connectionId: r.connection_id,
  organizationId: r.organization_id,
  state: r.state,
  epoch: Number(r.epoch),
  ownerNodeId: r.owner_node_id,
  standbyNodeId: r.standby_node_id,
  ttlMs: r.ttl_ms,
  grantedAt: iso(r.granted_at),
  renewedAt: iso(r.renewed_at),
  expiresAt: iso(r.expires_at),
  fencedReason: r.fenced_reason,
  lastEndReason: r.last_end_reason,
  failovers: r.failovers,
});

export async function upsertVpnLease(tx: Tx, l: VpnLeaseRow, now: Date): Promise<void> {
  await tx.query(
    `insert into vpn_leases (connection_id, organization_id, state, epoch, owner_node_id, standby_node_id, ttl_ms, granted_at, renewed_at, expires_at,
        fenced_reason, last_end_reason, failovers, updated_at)
     values ($1, $2, $3, $4, $5::uuid, $6::uuid, $7, $8::timestamptz, $9::timestamptz, $10::timestamptz, $11, $12, $13, $14::timestamptz)
     on conflict (connection_id) do update set state = excluded.state, epoch = excluded.epoch, owner_node_id = excluded.owner_node_id,
       standby_node_id = excluded.standby_node_id, ttl_ms = excluded.ttl_ms, granted_at = excluded.granted_at, renewed_at = excluded.renewed_at,
       expires_at = excluded.expires_at, fenced_reason = excluded.fenced_reason, last_end_reason = excluded.last_end_reason,
       failovers = excluded.failovers, updated_at = excluded.updated_at`,
    [
      l.connectionId,
      l.organizationId,
      l.state,
      l.epoch,
      l.ownerNodeId,
      l.standbyNodeId,
      l.ttlMs,
      l.grantedAt,
      l.renewedAt,
      l.expiresAt,
      l.fencedReason,
      l.lastEndReason,
      l.failovers,
      now.toISOString(),
    ],
  );
}

/** Appends facts not yet stored (the snapshot keeps the latest few; each is written once, by its sequence number). */
export async function appendLeaseHistory(tx: Tx, facts: (VpnHistoryEvent & { seq: number })[]): Promise<void> {
  for (const f of facts) {
    await tx.query(
      `insert into vpn_lease_history (connection_id, seq, kind, node_id, epoch, at, expires_at, reason)
       values ($1, $2, $3, $4::uuid, $5, $6::timestamptz, $7::timestamptz, $8) on conflict (connection_id, seq) do nothing`,
      [f.connection_id, f.seq, f.kind, f.node_id, f.epoch, f.at, f.expires_at ?? null, f.reason ?? null],
    );
  }
}

export async function getVpnLease(tx: Tx, connectionId: string): Promise<VpnLeaseRow | undefined> {
  const [r] = await tx.query<RawLease>(`select ${L_COLS} from vpn_leases where connection_id = $1`, [connectionId]);
  return r ? toLease(r) : undefined;
}

/** Leases this node owns or stands by for, of live connections. */
export async function leasesOfNode(tx: Tx, nodeId: string): Promise<VpnLeaseRow[]> {
  const rows = await tx.query<RawLease>(
    `select ${L_COLS.replace(/(^|, )([a-z_]+)/g, "$1l.$2")} from vpn_leases l join vpn_connections c on c.id = l.connection_id
     where c.state <> 'deleted' and l.state <> 'retired' and (l.owner_node_id = $1::uuid or l.standby_node_id = $1::uuid) order by l.connection_id`,
    [nodeId],
  );
  return rows.map(toLease);
}

/** The lease's history in the shared format, oldest first (up to `limit`, newest kept). */
export async function leaseHistory(tx: Tx, connectionId: string, limit = 1000): Promise<VpnHistoryEvent[]> {
  const rows = await tx.query<{ kind: string; node_id: string; epoch: string | number; at: Date; expires_at: Date | null; reason: string | null }>(
    `select kind, node_id::text, epoch, at, expires_at, reason from (
       select * from vpn_lease_history where connection_id = $1 order by seq desc limit $2) h order by seq`,
    [connectionId, limit],
  );
  return rows.map((r) => ({
    kind: r.kind as VpnHistoryEvent["kind"],
    connection_id: connectionId,
    node_id: r.node_id,
    epoch: Number(r.epoch),
    at: new Date(r.at).toISOString(),
    ...(r.expires_at ? { expires_at: new Date(r.expires_at).toISOString() } : {}),
    ...(r.reason ? { reason: r.reason } : {}),
  }));
}

/** What placement weighs for each node that may hold a VPN role for `organizationId` (or platform-wide): state, health, region, load. */
export async function vpnCandidateRows(
  tx: Tx,
  organizationId: string,
  roles: string[],
): Promise<
  {
    nodeId: string;
    status: string;
    health: string;
    region: string | null;
    lastHeartbeatAt: string | null;
    capabilities: Record<string, boolean>;
    role: string;
    owned: number;
  }[]
> {
  const rows = await tx.query<{
    node_id: string;
    status: string;
    health: string;
    region: string | null;
    last_heartbeat_at: Date | null;
    capabilities: Record<string, boolean>;
    role: string;
    owned: string | number;
  }>(
    `select distinct on (n.id) n.id::text as node_id, n.status, n.health, coalesce(n.facts->>'region', cl.region) as region,
       (select h.received_at from node_heartbeats_latest h where h.node_id = n.id) as last_heartbeat_at, n.capabilities, a.role,
       (select count(*) from vpn_leases l where l.owner_node_id = n.id and l.state <> 'retired') as owned
     from node_role_assignments a join nodes n on n.id = a.node_id left join clusters cl on cl.id = n.cluster_id
     where a.status = 'active' and a.role = any($2::text[]) and (a.organization_id is null or a.organization_id = $1::uuid)
     order by n.id, a.role`,
    [organizationId, pgArray(roles)],
  );
  return rows.map((r) => ({
    nodeId: r.node_id,
    status: r.status,
    health: r.health,
    region: r.region,
    lastHeartbeatAt: iso(r.last_heartbeat_at),
    capabilities: r.capabilities,
    role: r.role,
    owned: Number(r.owned),
  }));
}

/** Which of these node ids exist (not revoked), for the allowed-node list. */
export async function existingNodeIds(tx: Tx, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await tx.query<{ id: string }>("select id::text from nodes where id = any($1::uuid[]) and status <> 'revoked'", [pgArray(ids)]);
  return new Set(rows.map((r) => r.id));
}
