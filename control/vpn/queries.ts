/** Reads of VPN connections for the API: each with its lease, and a lease's recorded history. */
import type { ControlDeps } from "../deps.ts";
import type { VpnHistoryEvent } from "../../core/contracts/vpn.ts";
import { getVpnConnection, getVpnLease, leaseHistory, listVpnConnections, type VpnConnectionRow, type VpnLeaseRow } from "../../sql/vpn.ts";

export type VpnView = VpnConnectionRow & { lease: VpnLeaseRow | null };

type Deps = Pick<ControlDeps, "db">;

export function vpnConnections(deps: Deps, organizationId: string | null): Promise<VpnView[]> {
  return deps.db.transaction(async (tx) => {
    const out: VpnView[] = [];
    for (const c of await listVpnConnections(tx, organizationId)) out.push({ ...c, lease: (await getVpnLease(tx, c.id)) ?? null });
    return out;
  });
}

export function vpnConnection(deps: Deps, id: string): Promise<VpnView | undefined> {
  return deps.db.transaction(async (tx) => {
    const c = await getVpnConnection(tx, id);
    return c ? { ...c, lease: (await getVpnLease(tx, id)) ?? null } : undefined;
  });
}

export function vpnHistory(deps: Deps, id: string, limit: number): Promise<VpnHistoryEvent[]> {
  return deps.db.transaction((tx) => leaseHistory(tx, id, limit));
}
