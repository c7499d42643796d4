/**
 * Runs placement (control/vpn/placement.ts) over every live VPN connection
 * every `VPN_RECONCILE_MS` on each replica: it grants a lease left vacant (an
 * expiry with no standby, a fence that ran out, an enabled connection that
 * had no eligible node), fences an owner policy no longer allows, and keeps
 * each standby a node that could take over now. Failover itself does not
 * wait for it: the lease hands over to its standby in the expiry's own
 * transition. Replicas racing are harmless (the lease refuses a second grant).
 */
import type { ControlDeps } from "../deps.ts";
import { listVpnConnections } from "../../sql/vpn.ts";
import { reconcileVpnConnection } from "./placement.ts";

export const VPN_RECONCILE_MS = 3_000;

/** One pass over every live connection; how many there were. */
export async function reconcileAllVpnConnections(deps: Pick<ControlDeps, "db" | "host" | "clock" | "log">): Promise<number> {
  const all = await deps.db.transaction((tx) => listVpnConnections(tx, null));
  for (const c of all) {
    await reconcileVpnConnection(deps, c.id).catch((err) =>
      deps.log.error("vpn placement failed", { "vpn.connection_id": c.id, error: err instanceof Error ? err.message : String(err) }),
    );
  }
  return all.length;
}

export class VpnReconciler {
  private timer: ReturnType<typeof setInterval> | null = null;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly deps: Pick<ControlDeps, "db" | "host" | "clock" | "log">,
    private readonly everyMs = VPN_RECONCILE_MS,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running = this.running.then(() => reconcileAllVpnConnections(this.deps)).catch(() => {});
    }, this.everyMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
