/**
 * The lease keeper's control-plane side over the node-agent API
 * (`vpnRenew`, `vpnRelease`), and the follower that turns the VPN section of
 * the node's signed snapshot into keepers: one `VpnLeaseRunner` per
 * connection the node is the active owner of; a connection that is no longer
 * listed as active (standby, disabled, removed) is unassigned, which stops
 * its forwarding at once. Standby assignments start nothing: a standby may
 * prepare, never forward (§9.1).
 */
import type { ControlPlaneClient } from "../client.ts";
import type { Clock } from "../clock.ts";
import type { VpnAssignment, VpnHistoryEvent } from "../../core/contracts/vpn.ts";
import { VpnLeaseRunner, type ForwardingPort, type LeasePort } from "./lease-runner.ts";

export function controlLeasePort(client: ControlPlaneClient, token: () => Promise<string>): LeasePort {
  return {
    renew: async (connectionId, epoch) => {
      const a = await client.call("vpnRenew", { token: await token(), params: { connectionId }, body: { epoch } });
      return a.status === "renewed"
        ? { status: "renewed", ttl_seconds: a.ttl_seconds, release_requested: a.release_requested }
        : { status: "refused", reason: a.reason };
    },
    release: async (connectionId, epoch) => {
      await client.call("vpnRelease", { token: await token(), params: { connectionId }, body: { epoch } });
    },
  };
}

export interface FollowerDeps {
  nodeId: string;
  clock: Clock;
  lease: LeasePort;
  forwarding: ForwardingPort;
  record: (e: VpnHistoryEvent) => void;
}

export class VpnAssignmentFollower {
  private readonly runners = new Map<string, VpnLeaseRunner>();

  constructor(private readonly deps: FollowerDeps) {}

  runner(connectionId: string): VpnLeaseRunner | undefined {
    return this.runners.get(connectionId);
  }

  /** The snapshot's `vpn` section (absent: none). */
  apply(assignments: readonly VpnAssignment[] = []): void {
    const active = new Map(assignments.filter((a) => a.role === "active").map((a) => [a.connection_id, a]));
    for (const [id, r] of this.runners) if (!active.has(id)) r.unassign();
    for (const [id, a] of active) {
      let r = this.runners.get(id);
      if (!r) {
        r = new VpnLeaseRunner({ connectionId: id, nodeId: this.deps.nodeId }, this.deps.clock, this.deps.lease, this.deps.forwarding, this.deps.record);
        this.runners.set(id, r);
      }
      r.assign(a.epoch, a.ttl_seconds * 1000);
    }
  }

  /** Drain: every owned connection stops forwarding, then releases its lease. */
  releaseAll(): void {
    for (const r of this.runners.values()) r.release();
  }

  close(): void {
    for (const r of this.runners.values()) r.close();
    this.runners.clear();
  }
}
