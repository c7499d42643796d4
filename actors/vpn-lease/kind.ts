/**
 * Registers the vpn_lease actor (one per VPN connection, same id). Projection:
 * `vpn_leases` and the facts of `vpn_lease_history`. Its audit rows are
 * platform rows (no organization): they name nodes, which an organization
 * never sees (§9.1 "Visibility"); each grant, expiry, release and fence is one,
 * a renewal none: the end of a term carries the term (its renewals counted).
 */
import type { AnyMachineSnapshot } from "xstate";
import type { ActorEvent, ActorKind, Transitioned } from "../host/kind.ts";
import { stateName } from "../host/kind.ts";
import type { Tx } from "../../sql/db.ts";
import { appendLeaseHistory, upsertVpnLease } from "../../sql/vpn.ts";
import { OWNERSHIP_CHANGED, vpnLeaseMachine, type VpnLeaseContext } from "./machine.ts";

export const VPN_LEASE = "vpn_lease";

async function project(tx: Tx, done: Transitioned): Promise<void> {
  const c = done.snapshot.context as VpnLeaseContext;
  await upsertVpnLease(
    tx,
    {
      connectionId: done.id,
      organizationId: c.organizationId,
      state: stateName(done.snapshot),
      epoch: c.epoch,
      ownerNodeId: c.ownerNodeId,
      standbyNodeId: c.standbyNodeId,
      ttlMs: c.ttlMs,
      grantedAt: c.grantedAt,
      renewedAt: c.renewedAt,
      expiresAt: c.expiresAt,
      fencedReason: c.fencedReason,
      lastEndReason: c.lastEndReason,
      failovers: c.failovers,
    },
    done.now,
  );
  await appendLeaseHistory(tx, c.history);
}

/** Events that end a term: their audit row carries the ended term (owner, epoch, granted, last renewed, renewals). */
const ENDS_A_TERM = new Set(["lease.expire", "lease.release"]);

function auditDetails(snapshot: AnyMachineSnapshot, event: ActorEvent): Record<string, unknown> {
  const c = snapshot.context as VpnLeaseContext;
  return {
    connection_id: c.connectionId,
    organization_id: c.organizationId,
    epoch: c.epoch,
    owner_node_id: c.ownerNodeId,
    standby_node_id: c.standbyNodeId,
    expires_at: c.expiresAt,
    ...(c.fencedReason ? { fenced_reason: c.fencedReason } : {}),
    ...(c.lastEndReason ? { last_end_reason: c.lastEndReason } : {}),
    failovers: c.failovers,
    ...(ENDS_A_TERM.has(event.type) && c.endedTerm ? { ended_term: c.endedTerm } : {}),
  };
}

/** The live-state channel and "every cluster" message of control/nodes/snapshot-signals.ts: long-polling agents rebuild their snapshots. */
const SNAPSHOT_CHANNEL = "snapshots";
const ALL_CLUSTERS = "*";

export const vpnLeaseKind: ActorKind = {
  kind: VPN_LEASE,
  machine: vpnLeaseMachine,
  machineVersion: 1,
  project,
  organizationOf: () => null,
  auditDetails,
  // One audit row per lease term (grant, end) and per fence, standby change and failover; renewals (every TTL/4 per
  // connection) stay in the journal and vpn_lease_history, which the history checker reads.
  audited: (event) => event.type !== "lease.renew",
  effects: { [OWNERSHIP_CHANGED]: (_params, deps) => deps.live.publish(SNAPSHOT_CHANNEL, ALL_CLUSTERS) },
};
