/**
 * Registers the vpn_connection actor. Projection: `vpn_connections`. Its
 * audit rows belong to the organization and name no nodes. Disabling fences
 * the connection's lease (no handover) and deleting retires it, in the same
 * commit (`cascade`), so a disabled connection never keeps a live owner.
 */
import type { AnyMachineSnapshot } from "xstate";
import type { ActorKind, Transitioned } from "../host/kind.ts";
import { stateName } from "../host/kind.ts";
import type { Tx } from "../../sql/db.ts";
import { upsertVpnConnection } from "../../sql/vpn.ts";
import { VPN_LEASE } from "../vpn-lease/kind.ts";
import { vpnConnectionMachine, type VpnConnectionContext } from "./machine.ts";

export const VPN_CONNECTION = "vpn_connection";

async function project(tx: Tx, done: Transitioned): Promise<void> {
  const c = done.snapshot.context as VpnConnectionContext;
  await upsertVpnConnection(
    tx,
    {
      id: done.id,
      organizationId: c.organizationId,
      name: c.name,
      state: stateName(done.snapshot),
      mode: c.mode,
      target: c.target,
      allowedNodes: c.allowedNodes,
      routing: c.routing,
      placement: c.placement,
      bandwidth: c.bandwidth,
      secretVersion: c.secretVersion,
      disabledReason: c.disabledReason,
    },
    done.now,
  );
}

async function cascade(_tx: Tx, done: Transitioned, before: AnyMachineSnapshot) {
  const [was, now] = [stateName(before), stateName(done.snapshot)];
  const at = done.now.toISOString();
  if (was === "enabled" && now === "disabled") {
    return [{ kind: VPN_LEASE, id: done.id, event: { type: "lease.fence", reason: "connection_disabled", at, keepStandby: false } }];
  }
  if (now === "deleted") return [{ kind: VPN_LEASE, id: done.id, event: { type: "lease.retire", at } }];
  return [];
}

function auditDetails(snapshot: AnyMachineSnapshot): Record<string, unknown> {
  const c = snapshot.context as VpnConnectionContext;
  return { name: c.name, site: c.target.site, secret_version: c.secretVersion, ...(c.disabledReason ? { disabled_reason: c.disabledReason } : {}) };
}

export const vpnConnectionKind: ActorKind = {
  kind: VPN_CONNECTION,
  machine: vpnConnectionMachine,
  machineVersion: 1,
  project,
  cascade,
  organizationOf: (s) => (s.context as VpnConnectionContext).organizationId || null,
  auditDetails,
};
