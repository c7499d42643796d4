/**
 * The VPN roles of one cluster membership, wired to the running mesh: the
 * snapshot's `vpn` section (a `vpn-connector` node) goes to the lease
 * keepers (`VpnAssignmentFollower`), whose forwarding drives the egress
 * (`VpnEgress`: pump, filter, WireGuard); the `vpn_client` section (a
 * `vpn-client` node) goes to `VpnClient`. Both share the mesh's one VPN pump.
 * Every keeper decision is appended to the state directory's history file
 * (history-file.ts) and logged. Called after the mesh applied each snapshot.
 */
import type { Mesh } from "../../crates/fabric-quic/index.ts";
import { VpnPump, vpnTunMtu } from "../../crates/fabric-quic/vpn.ts";
import type { SnapshotBody } from "../../core/contracts/snapshot.ts";
import type { VpnAssignment, VpnHistoryEvent, VpnSecretAnswer } from "../../core/contracts/vpn.ts";
import type { Clock } from "../clock.ts";
import { VpnAssignmentFollower } from "./control-port.ts";
import type { LeasePort } from "./lease-runner.ts";
import { VpnEgress } from "./egress.ts";
import { VpnClient } from "./client.ts";
import { historyRecorder } from "./history-file.ts";
import type { DnsRouteInForce, DnsStub } from "./dns-stub.ts";

export interface VpnControl {
  lease: LeasePort;
  secret(connectionId: string): Promise<VpnSecretAnswer>;
}

export interface VpnMemberDeps {
  nodeId: string;
  /** The history file (vpnHistoryFile). */
  historyFile: string;
  clock: Clock;
  control: VpnControl;
  log(line: string, fields?: Record<string, unknown>): void;
  /** The host's DNS stub (shared by memberships): this membership's client connections' DNS routes go to it. */
  dns?: DnsStub;
  /** The mesh's largest UDP payload (default 1472): the TUN devices' MTU follows it (vpnTunMtu). */
  maxUdpPayload?: number;
}

export class VpnMember {
  private assignments = new Map<string, VpnAssignment>();
  private pump: VpnPump | null = null;
  private pumpMesh: Mesh | null = null;
  private readonly follower: VpnAssignmentFollower;
  private readonly egress: VpnEgress;
  private readonly client: VpnClient;
  /** Whether this membership has client connections (its DNS routes are in force). */
  private dnsInForce = false;

  constructor(private readonly deps: VpnMemberDeps) {
    const tunMtu = vpnTunMtu(deps.maxUdpPayload);
    const append = historyRecorder(deps.historyFile);
    const record = (e: VpnHistoryEvent) => {
      append(e);
      deps.log(`vpn ${e.kind}`, { connection: e.connection_id, epoch: e.epoch, ...(e.reason ? { reason: e.reason } : {}) });
    };
    this.egress = new VpnEgress({
      nodeId: deps.nodeId,
      pump: () => this.pump,
      assignment: (id) => this.assignments.get(id),
      secret: (id) => deps.control.secret(id),
      log: deps.log,
      tunMtu,
      now: () => deps.clock.now().getTime(),
    });
    this.follower = new VpnAssignmentFollower({
      nodeId: deps.nodeId,
      clock: deps.clock,
      lease: deps.control.lease,
      forwarding: this.egress,
      record,
    });
    this.client = new VpnClient({ log: deps.log, tunMtu });
  }

  /** The latest verified snapshot (null: none) and the mesh now running (null: none). */
  async apply(body: SnapshotBody | null, mesh: Mesh | null): Promise<void> {
    if (mesh !== this.pumpMesh) {
      this.pumpMesh = mesh;
      this.pump = mesh ? new VpnPump(mesh) : null;
    }
    const vpn = body?.vpn ?? [];
    this.assignments = new Map(vpn.map((a) => [a.connection_id, a]));
    // Standby assignments start nothing here: a standby may prepare, never bring up a tunnel (§9.1).
    this.follower.apply(vpn);
    this.egress.refresh();
    const underlay = (body?.mesh?.peers ?? []).flatMap((p) => p.endpoints.map((e) => hostOf(e.address)));
    const clients = this.pump ? (body?.vpn_client ?? []) : [];
    await this.client.apply(clients, this.pump, underlay);
    await this.applyDns(clients);
  }

  /** The client connections' DNS routes to the host's stub (null: none of them, the stub may stop). */
  private async applyDns(clients: readonly { connection_id: string; routing: { dns_routes: { suffix: string; servers: string[] }[] } }[]): Promise<void> {
    const dns = this.deps.dns;
    if (!dns) return;
    const routes: DnsRouteInForce[] = clients.flatMap((a) =>
      a.routing.dns_routes.map((r) => ({ suffix: r.suffix, servers: r.servers, connection_id: a.connection_id })),
    );
    this.dnsInForce = clients.length > 0;
    await dns
      .setRoutes(this.deps.nodeId, this.dnsInForce ? routes : null)
      .catch((e: unknown) => this.deps.log("vpn dns stub could not start", { listen: dns.status().listen, error: e instanceof Error ? e.message : String(e) }));
  }

  /** Drain: every owned connection stops forwarding, then hands its lease back. */
  releaseAll(): void {
    this.follower.releaseAll();
  }

  /** For `rap-node-agent status`: what each role runs, and the pump's counters per connection (refused epochs, denied, …). */
  status(): Record<string, unknown> {
    let pump: unknown = null;
    try {
      pump = this.pump?.stats() ?? null;
    } catch {
      // The mesh closed under us: no counters this time.
    }
    return { egress: this.egress.status(), client: this.client.status(), dns: this.dnsInForce ? (this.deps.dns?.status() ?? null) : null, pump };
  }

  /** Forwarding stops first (fenced), then tunnels and adapters go; a later `apply` starts over (a node enabled again). */
  async close(): Promise<void> {
    this.follower.close();
    await this.egress.close();
    await this.client.close();
    await this.applyDns([]);
  }
}

function hostOf(address: string): string {
  return address.slice(0, address.lastIndexOf(":")).replace(/^\[(.*)\]$/, "$1");
}
