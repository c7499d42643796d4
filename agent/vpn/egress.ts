/**
 * The owner's data plane for its VPN connections: the `ForwardingPort` the
 * lease keeper drives. `start(connection, epoch)` (after a renewal of that
 * epoch succeeded) brings up, in order: the connection's TUN device on the
 * mesh pump, the routes back to the organization's clients, the egress CIDR
 * filter (the routing policy's allowed/denied ranges, enforced here whatever
 * a client was told), the WireGuard tunnel to the target from the secret the
 * control plane gives the active owner only, and last the epoch: packets
 * move only from then on, and only until the lease deadline the keeper last
 * handed over (`hold`), which the pump enforces by itself. `stop` fences the pump at once (synchronously:
 * nothing is forwarded after it returns) and then takes the tunnel down, so
 * a node that lost its lease never keeps a second tunnel up.
 *
 * The owner's kernel gets the connection's own nftables table
 * (egress-rules.ts): only the TUN device's traffic may enter the tunnel, and
 * with internet egress the rest leaves by the owner's uplink with source NAT
 * (the pump's filter then allows every destination but the denied ranges).
 * The table goes with the tunnel, and a guard process removes it if the agent
 * dies.
 *
 * Work per connection is serialised; a start that failed (no mesh yet, the
 * secret unreachable, wireguard-go missing) is logged and retried on the
 * next snapshot (`retry`), while the connection stays fenced.
 */
import { TunDevice, type VpnPump } from "../../crates/fabric-quic/vpn.ts";
import type { ChildProcess } from "../../core/runtime/index.ts";
import type { VpnAssignment, VpnSecretAnswer } from "../../core/contracts/vpn.ts";
import type { ForwardingPort } from "./lease-runner.ts";
import { attempt, run, shortTag, startGuard, stopHelper } from "./commands.ts";
import { egressRuleset, egressTableName } from "./egress-rules.ts";
import { WireguardTunnel, wireguardName } from "./wireguard.ts";

export interface EgressDeps {
  nodeId: string;
  /** The mesh's VPN pump, or null while the mesh is not running. */
  pump(): VpnPump | null;
  /** The connection's assignment in the latest snapshot. */
  assignment(connectionId: string): VpnAssignment | undefined;
  /** `vpnSecret`: the WireGuard configuration (active owner only). Never logged. */
  secret(connectionId: string): Promise<VpnSecretAnswer>;
  log(line: string, fields?: Record<string, unknown>): void;
  /** The device's MTU (default 1280). */
  tunMtu?: number;
  /** Local time in ms, the clock the keeper's deadlines are on (default Date.now). */
  now?: () => number;
}

interface EgressConnection {
  /** The epoch the keeper wants forwarded, or null: stopped. */
  wanted: number | null;
  /** The epoch the pump forwards under now, or null. */
  running: number | null;
  /** The lease deadline the keeper last handed over (local ms) and its epoch. */
  held: { epoch: number; until: number } | null;
  device: TunDevice | null;
  attachedTo: VpnPump | null;
  tunnel: WireguardTunnel | null;
  /** What the tunnel was built from (secret version, target, routed ranges): a change rebuilds it. */
  tunnelKey: string;
  /** Client addresses routed to the device. */
  clientRoutes: Set<string>;
  /** The nftables table as last applied ("" while none), and the guard that deletes it if the agent dies. */
  rules: string;
  guard: ChildProcess | null;
  chain: Promise<void>;
}

/** The egress device's name for a connection (≤ 15 bytes). */
export function egressDeviceName(connectionId: string): string {
  return `vpe-${shortTag(connectionId, 10)}`;
}

export class VpnEgress implements ForwardingPort {
  private readonly conns = new Map<string, EgressConnection>();

  constructor(private readonly deps: EgressDeps) {}

  start(connectionId: string, epoch: number): void {
    const c = this.entry(connectionId);
    c.wanted = epoch;
    this.enqueue(connectionId, c, () => this.bringUp(connectionId, c));
  }

  hold(connectionId: string, epoch: number, until: number): void {
    const c = this.entry(connectionId);
    c.held = { epoch, until };
    if (c.running === epoch) this.applyHold(connectionId, c);
  }

  stop(connectionId: string, epoch: number, reason: string): void {
    const c = this.entry(connectionId);
    if (c.wanted === epoch) c.wanted = null;
    this.fence(connectionId, c);
    this.deps.log("vpn forwarding stopped", { connection: connectionId, epoch, reason });
    this.enqueue(connectionId, c, () => this.bringDown(connectionId, c));
  }

  /**
   * A new snapshot: client routes and the egress filter follow it; a new secret version, target or set of routed
   * ranges rebuilds the tunnel under the same epoch; a start that failed is tried again.
   */
  refresh(): void {
    for (const [id, c] of this.conns) {
      if (c.wanted !== null && c.running !== c.wanted) this.enqueue(id, c, () => this.bringUp(id, c));
      else if (c.running !== null) this.enqueue(id, c, () => this.follow(id, c));
    }
  }

  /** Everything down (agent stop): fenced first, then tunnels and devices closed. */
  async close(): Promise<void> {
    for (const [id, c] of this.conns) {
      c.wanted = null;
      this.fence(id, c);
      this.enqueue(id, c, async () => {
        await this.bringDown(id, c);
        this.detach(id, c);
      });
    }
    await Promise.all([...this.conns.values()].map((c) => c.chain));
    this.conns.clear();
  }

  /** What runs now, for status: connection → epoch forwarded, tunnel interface, nftables table. */
  status(): Record<string, { epoch: number | null; tunnel: string | null; rules: string | null }> {
    return Object.fromEntries(
      [...this.conns].map(([id, c]) => [id, { epoch: c.running, tunnel: c.tunnel?.name ?? null, rules: c.rules ? egressTableName(id) : null }]),
    );
  }

  private entry(id: string): EgressConnection {
    let c = this.conns.get(id);
    if (!c) {
      c = {
        wanted: null,
        running: null,
        held: null,
        device: null,
        attachedTo: null,
        tunnel: null,
        tunnelKey: "",
        clientRoutes: new Set(),
        rules: "",
        guard: null,
        chain: Promise.resolve(),
      };
      this.conns.set(id, c);
    }
    return c;
  }

  private enqueue(id: string, c: EgressConnection, work: () => Promise<void>): void {
    c.chain = c.chain.then(work).catch((e: unknown) => {
      this.fence(id, c);
      this.deps.log("vpn egress could not start; fenced until the next snapshot", { connection: id, error: e instanceof Error ? e.message : String(e) });
    });
  }

  /** Hands the deadline to the pump, which closes the epoch there by itself (false: it already ran out, so stop). */
  private applyHold(id: string, c: EgressConnection): void {
    const h = c.held;
    if (!h || c.running !== h.epoch || !c.attachedTo) return;
    const now = this.deps.now?.() ?? Date.now();
    let held: boolean;
    try {
      held = c.attachedTo.holdUntil(id, h.epoch, h.until - now);
    } catch (e) {
      // The pump went with its mesh (a new one is attached on the next start): nothing forwards through it.
      held = false;
      this.deps.log("vpn pump refused the lease deadline", { connection: id, error: e instanceof Error ? e.message : String(e) });
    }
    if (!held) {
      this.fence(id, c);
      this.deps.log("vpn lease deadline passed before it reached the pump; fenced", { connection: id, epoch: h.epoch });
    }
  }

  private fence(id: string, c: EgressConnection): void {
    c.running = null;
    try {
      c.attachedTo?.fence(id);
    } catch {
      // Not attached: nothing to fence.
    }
  }

  private async bringUp(id: string, c: EgressConnection): Promise<void> {
    const epoch = c.wanted;
    if (epoch === null || c.running === epoch) return;
    const pump = this.deps.pump();
    const a = this.deps.assignment(id);
    if (!pump) throw new Error("the mesh is not running yet");
    if (!a) throw new Error("the connection is not in the snapshot");
    if (c.attachedTo !== pump) {
      c.device ??= await TunDevice.create({ name: egressDeviceName(id), mtu: this.deps.tunMtu });
      pump.attach(id, c.device);
      c.attachedTo = pump;
      c.clientRoutes.clear();
    }
    await enableForwarding();
    await run(["ip", "link", "set", c.device!.info().name, "up"]);
    pump.setFilter(id, egressFilter(a));
    pump.setDialPolicy(id, dialPolicy(a));
    await this.applyClients(id, c);
    // The rules first: a tunnel never exists without them (a failed nft leaves no open tunnel behind).
    await this.applyRules(id, c, a);
    if (!c.tunnel) await this.tunnelUp(id, c, a);
    // The keeper may have stopped while the tunnel came up: then nothing is forwarded and the tunnel goes.
    if (c.wanted !== epoch) return this.bringDown(id, c);
    pump.setEpoch(id, epoch);
    c.running = epoch;
    this.applyHold(id, c);
    if (c.running === null) return this.bringDown(id, c);
    this.deps.log("vpn forwarding", {
      connection: id,
      epoch,
      tunnel: c.tunnel?.name ?? null,
      clients: c.clientRoutes.size,
      internet_egress: a.routing.internet_egress,
      rules: egressTableName(id),
    });
  }

  /** While forwarding: the snapshot's clients and filter, and the tunnel rebuilt when what it was built from changed. */
  private async follow(id: string, c: EgressConnection): Promise<void> {
    const a = this.deps.assignment(id);
    if (!a || c.running === null || !c.attachedTo) return;
    c.attachedTo.setFilter(id, egressFilter(a));
    c.attachedTo.setDialPolicy(id, dialPolicy(a));
    await this.applyClients(id, c);
    await this.applyRules(id, c, a);
    if (c.tunnel && c.tunnelKey !== tunnelKeyOf(a)) {
      this.deps.log("vpn tunnel configuration changed; rebuilding it", { connection: id, secret_version: a.secret_version });
      const old = c.tunnel;
      c.tunnel = null;
      await old.down();
      await this.tunnelUp(id, c, a);
    }
  }

  /** The WireGuard tunnel from the secret the control plane gives the active owner (never logged). */
  private async tunnelUp(id: string, c: EgressConnection, a: VpnAssignment): Promise<void> {
    const secret = await this.deps.secret(id);
    if (c.wanted === null) return;
    c.tunnel = await WireguardTunnel.up({
      name: wireguardName(id, this.deps.nodeId),
      secret: secret.wireguard,
      target: a.target,
      routes: a.routing.allowed_cidrs,
    });
    c.tunnelKey = tunnelKeyOf({ ...a, secret_version: secret.secret_version });
  }

  /** Each client's address routes to the device (kernel) and to its node (pump: also the only source it may send from). */
  private async applyClients(id: string, c: EgressConnection): Promise<void> {
    const pump = c.attachedTo;
    if (!pump || !c.device) return;
    const clients = this.deps.assignment(id)?.clients ?? [];
    const routes = clients.map((x) => [x.address, x.node_id] as const);
    pump.setRoutes(id, routes);
    const dev = c.device.info().name;
    const wanted = new Set(clients.map((x) => x.address));
    for (const addr of wanted) if (!c.clientRoutes.has(addr)) await run(["ip", "route", "replace", addr, "dev", dev]);
    for (const addr of c.clientRoutes) if (!wanted.has(addr)) await attempt(["ip", "route", "del", addr, "dev", dev]);
    c.clientRoutes = wanted;
  }

  /** The connection's nftables table (egress-rules.ts), replaced atomically when what it is built from changed. */
  private async applyRules(id: string, c: EgressConnection, a: VpnAssignment): Promise<void> {
    const table = egressTableName(id);
    const script = egressRuleset({
      table,
      device: c.device!.info().name,
      tunnel: c.tunnel?.name ?? wireguardName(id, this.deps.nodeId),
      internetEgress: a.routing.internet_egress,
      deniedCidrs: a.routing.denied_cidrs,
    });
    if (script === c.rules) return;
    c.guard ??= startGuard(["nft", "delete", "table", "inet", table]);
    await run(["nft", "-f", "-"], script);
    if (c.rules) this.deps.log("vpn egress rules changed", { connection: id, rules: table, internet_egress: a.routing.internet_egress });
    c.rules = script;
  }

  private async bringDown(id: string, c: EgressConnection): Promise<void> {
    if (c.wanted !== null) return;
    const tunnel = c.tunnel;
    c.tunnel = null;
    await tunnel?.down();
    if (c.rules) await attempt(["nft", "delete", "table", "inet", egressTableName(id)]);
    c.rules = "";
    const guard = c.guard;
    c.guard = null;
    if (guard) await stopHelper(guard);
  }

  private detach(id: string, c: EgressConnection): void {
    try {
      c.attachedTo?.detach(id);
    } catch {
      // The mesh already closed.
    }
    c.attachedTo = null;
    c.device?.close();
    c.device = null;
  }
}

/** The pump's egress filter: the allowed ranges, or (internet egress) every destination; the denied ranges either way. */
export function egressFilter(a: Pick<VpnAssignment, "routing">): { allow: string[]; deny: string[] } {
  return { allow: a.routing.internet_egress ? [] : a.routing.allowed_cidrs, deny: a.routing.denied_cidrs };
}

function tunnelKeyOf(a: Pick<VpnAssignment, "secret_version" | "target" | "routing">): string {
  return JSON.stringify([a.secret_version, a.target, a.routing.allowed_cidrs]);
}

/** An egress forwards between its TUN device and the tunnel: the kernel must route between interfaces. */
async function enableForwarding(): Promise<void> {
  await run(["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
}

/**
 * Who may dial targets through this owner (crates/fabric-quic/src/vpn_dial.rs): the policy's managed-session
 * services, from the organization's adapter nodes the snapshot lists (another organization's adapter is refused),
 * for the resources the policy lists (none listed: any).
 */
const DIAL_SERVICES = ["ssh", "rdp"];
const dialPolicy = (a: VpnAssignment) => ({
  services: a.routing.services.filter((s) => DIAL_SERVICES.includes(s)),
  nodes: a.adapters ?? [],
  resource_ids: a.routing.resource_ids,
});
