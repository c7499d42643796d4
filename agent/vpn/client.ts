/**
 * The `vpn-client` role: the Linux form of the Android and Windows IP
 * tunnel clients. Per connection its organization may use (the snapshot's
 * `vpn_client` section) it keeps a TUN adapter with the node's tunnel
 * address on the mesh pump, and the authorized routes: the allowed ranges
 * (split tunnel), or everything (full tunnel, `0.0.0.0/1` + `128.0.0.0/1`,
 * with the mesh peers' underlay addresses pinned to their current route so
 * the tunnel never carries itself) when the policy allows internet egress.
 *
 * Every new snapshot is applied as a difference, never a rebuild: routes
 * added and removed one by one on the same adapter, the pump pointed at the
 * current owner under the lease's epoch (`setRoutes` + `setEpoch`), fenced
 * while nobody holds the lease. Denied ranges are enforced at the egress
 * (the owner's filter), whatever this side does. DNS routes go to the
 * host's DNS stub (dns-stub.ts, wired in member.ts).
 */
import { TunDevice, type VpnPump, type VpnRoute } from "../../crates/fabric-quic/vpn.ts";
import type { VpnClientAssignment } from "../../core/contracts/vpn.ts";
import { attempt, run, shortTag } from "./commands.ts";

export interface ClientDeps {
  log(line: string, fields?: Record<string, unknown>): void;
  /** The adapter's MTU (default 1280). */
  tunMtu?: number;
}

interface ClientConnection {
  device: TunDevice;
  pump: VpnPump;
  /** Kernel routes installed to the device. */
  routes: Set<string>;
  /** Underlay host routes pinned outside a full tunnel. */
  pinned: Set<string>;
  owner: string | null;
  epoch: number;
  /** The pump's routes, as last set (a repeat is skipped). */
  pumpRoutes: string;
}

/** The client adapter's name for a connection (≤ 15 bytes). */
export function clientDeviceName(connectionId: string): string {
  return `vpc-${shortTag(connectionId, 10)}`;
}

/** Full tunnel: two halves, more specific than any default route, so the host's own default stays for the underlay. */
export const FULL_TUNNEL = ["0.0.0.0/1", "128.0.0.0/1"] as const;

/** The kernel routes a client installs for one connection: the allowed ranges, or the full tunnel when internet egress is allowed. */
export function clientRoutes(a: Pick<VpnClientAssignment, "routing">): string[] {
  return a.routing.internet_egress ? [...FULL_TUNNEL, ...a.routing.allowed_cidrs] : [...a.routing.allowed_cidrs];
}

/** The pump's routes: every installed range to the current owner (none while nobody holds the lease). */
export function pumpRoutes(a: Pick<VpnClientAssignment, "routing" | "owner_node_id">): VpnRoute[] {
  if (!a.owner_node_id) return [];
  const cidrs = a.routing.internet_egress ? ["0.0.0.0/0", ...a.routing.allowed_cidrs] : a.routing.allowed_cidrs;
  return cidrs.map((cidr) => [cidr, a.owner_node_id!] as const);
}

export class VpnClient {
  private readonly conns = new Map<string, ClientConnection>();
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly deps: ClientDeps) {}

  /** The snapshot's `vpn_client` section and the mesh's pump (null: no mesh yet); underlay: the mesh peers' addresses. Serialised. */
  apply(assignments: readonly VpnClientAssignment[], pump: VpnPump | null, underlay: readonly string[] = []): Promise<void> {
    this.chain = this.chain
      .then(() => this.sync(assignments, pump, underlay))
      .catch((e: unknown) => this.deps.log("vpn client could not apply the snapshot", { error: e instanceof Error ? e.message : String(e) }));
    return this.chain;
  }

  status(): Record<string, { owner: string | null; epoch: number; routes: string[] }> {
    return Object.fromEntries([...this.conns].map(([id, c]) => [id, { owner: c.owner, epoch: c.epoch, routes: [...c.routes] }]));
  }

  async close(): Promise<void> {
    await this.apply([], null);
  }

  private async sync(assignments: readonly VpnClientAssignment[], pump: VpnPump | null, underlay: readonly string[]): Promise<void> {
    const wanted = new Map(pump ? assignments.map((a) => [a.connection_id, a]) : []);
    for (const [id, c] of this.conns) {
      if (wanted.has(id) && c.pump === pump) continue;
      this.remove(id, c);
    }
    for (const [id, a] of wanted) {
      let c = this.conns.get(id);
      if (!c) {
        const device = await TunDevice.create({ name: clientDeviceName(id), ipv4: [a.tunnel_address], mtu: this.deps.tunMtu });
        pump!.attach(id, device);
        await run(["ip", "link", "set", device.info().name, "up"]);
        c = { device, pump: pump!, routes: new Set(), pinned: new Set(), owner: null, epoch: 0, pumpRoutes: "" };
        this.conns.set(id, c);
        this.deps.log("vpn client adapter up", { connection: id, device: device.info().name, address: a.tunnel_address });
      }
      await this.update(id, c, a, underlay);
    }
  }

  private async update(id: string, c: ClientConnection, a: VpnClientAssignment, underlay: readonly string[]): Promise<void> {
    const dev = c.device.info().name;
    // Full tunnel: first pin the underlay to its current way out, so the mesh never routes into its own adapter.
    const pins = new Set(a.routing.internet_egress ? underlay : []);
    for (const host of pins) if (!c.pinned.has(host)) await pin(host);
    const routes = new Set(clientRoutes(a));
    for (const cidr of routes) if (!c.routes.has(cidr)) await run(["ip", "route", "replace", cidr, "dev", dev]);
    for (const cidr of c.routes) if (!routes.has(cidr)) await attempt(["ip", "route", "del", cidr, "dev", dev]);
    for (const host of c.pinned) if (!pins.has(host)) await attempt(["ip", "route", "del", `${host}/32`]);
    c.routes = routes;
    c.pinned = pins;
    const next = pumpRoutes(a);
    const key = JSON.stringify(next);
    if (key !== c.pumpRoutes) {
      c.pump.setRoutes(id, next);
      c.pumpRoutes = key;
    }
    if (!a.owner_node_id || a.epoch < 1) {
      if (c.owner !== null) this.deps.log("vpn client: nobody holds the connection; fenced", { connection: id });
      c.pump.fence(id);
      c.owner = null;
      return;
    }
    if (a.epoch !== c.epoch || a.owner_node_id !== c.owner) {
      // Epochs only grow; a snapshot older than what the pump knows is ignored by it (`epoch_stale`).
      if (a.epoch >= c.epoch) c.pump.setEpoch(id, a.epoch);
      this.deps.log("vpn client follows the owner", { connection: id, owner: a.owner_node_id, epoch: a.epoch });
      c.owner = a.owner_node_id;
      c.epoch = a.epoch;
    }
  }

  private remove(id: string, c: ClientConnection): void {
    try {
      c.pump.fence(id);
      c.pump.detach(id);
    } catch {
      // The mesh already closed.
    }
    // The device's routes go with it.
    c.device.close();
    this.conns.delete(id);
    this.deps.log("vpn client adapter removed", { connection: id });
  }
}

/** A host route for `host` via the way the kernel reaches it now (`ip route get`). */
async function pin(host: string): Promise<void> {
  const [r] = JSON.parse(await run(["ip", "-j", "route", "get", host])) as { gateway?: string; dev: string }[];
  if (!r) return;
  await run(["ip", "route", "replace", `${host}/32`, ...(r.gateway ? ["via", r.gateway] : []), "dev", r.dev]);
}
