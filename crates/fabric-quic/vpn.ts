/**
 * TypeScript face of the VPN data path in the fabric-quic addon: TUN devices
 * (crates/fabric-tun) and the pump that joins one to the mesh's `vpn_packet`
 * datagrams in Rust (src/vpn.rs), so no packet passes through JavaScript.
 * JavaScript only configures it: the lease's fencing epoch, routes, the
 * egress CIDR filter, and reads the counters. Errors are `MeshError`s.
 */
import { addon, type Mesh, meshError, type NativeVpnEndpoint } from "./index.ts";

export interface TunOptions {
  /** Interface name (1–15 bytes); default: the kernel's `tunN`. */
  name?: string;
  /** Default 1280: fits one mesh datagram on a 1500-byte path (see crates/fabric-tun/README.md). */
  mtu?: number;
  /** `a.b.c.d/prefix`; the first is the primary address. */
  ipv4?: string[];
  /** Kernel queues, one reader each (default 1). */
  queues?: number;
  /** Virtio offloads: TSO/USO, GSO reads, GRO writes (default true; off when the kernel refuses). */
  offload?: boolean;
}

export interface TunInfo {
  name: string;
  ifindex: number;
  mtu: number;
  queues: number;
  offload: boolean;
  tcp_gso: boolean;
  udp_gso: boolean;
}

interface NativeTun {
  info(): string;
  close(): void;
}

function sync<T>(call: () => T): T {
  try {
    return call();
  } catch (e) {
    throw meshError(e);
  }
}

/** Room a `vpn_packet` datagram needs around the IP packet: QUIC's short header and datagram frame, the mesh header with a relay, the VPN frame. */
const VPN_OVERHEAD = 192;

/**
 * The TUN MTU for a mesh endpoint bound with `maxUdpPayload`: 1280 (IPv6's minimum) on an internet path
 * (the default 1472), larger on a jumbo-frame underlay. A packet larger than one peer's path carries is
 * answered with ICMP "packet too big" by the pump, so its sender shrinks the flow.
 */
export function vpnTunMtu(maxUdpPayload = 1472): number {
  return Math.max(1280, maxUdpPayload - VPN_OVERHEAD);
}

/** A TUN device in this process's network namespace. Routes are the caller's (`ip route`). */
export class TunDevice {
  private constructor(readonly native: NativeTun) {}

  static async create(options: TunOptions = {}): Promise<TunDevice> {
    const native = (addon() as unknown as { createTun(o: TunOptions): Promise<NativeTun> }).createTun;
    try {
      return new TunDevice(await native(options));
    } catch (e) {
      throw meshError(e);
    }
  }

  info(): TunInfo {
    return JSON.parse(sync(() => this.native.info()));
  }

  /** The interface goes away once no pump holds it (`VpnPump.detach` first). */
  close(): void {
    this.native.close();
  }
}

/** Per connection: device → mesh, then mesh → device. */
export interface VpnConnectionCounters {
  device_packets: number;
  device_bytes: number;
  sent_packets: number;
  sent_bytes: number;
  /** `vpn_packet` queue full (drop-when-full) or no route to the peer. */
  send_drops: number;
  /** Times the reader held its device for a peer whose queue was full (instead of dropping). */
  send_waits: number;
  /** Larger than the path to its peer carries: dropped, and answered with ICMP "packet too big" when the sender asked (DF, IPv6). */
  too_big: number;
  /** No route for the destination. */
  no_route: number;
  /** Read while this node holds no current epoch (never set, or fenced): not sent. */
  not_active: number;
  read_errors: number;
  received_packets: number;
  /** Carried another epoch than the current one: refused, never forwarded. */
  refused_epoch: number;
  /** The source address does not route back to the sending node. */
  refused_source: number;
  /** The destination is not allowed by the egress filter. */
  denied: number;
  malformed: number;
  written_packets: number;
  written_bytes: number;
  /** Device writes; written_packets / write_batches is how well arrivals were merged (GRO). */
  write_batches: number;
  write_drops: number;
  write_errors: number;
  /** Dial streams (managed sessions through this owner) connected, refused (epoch, service, filter, fenced while open), failed (TCP). */
  dials: number;
  dials_refused: number;
  dials_failed: number;
  /** The current epoch, or null when none is set or the connection is fenced. */
  epoch: number | null;
  device: string;
}

export interface VpnStats {
  unknown_connection: number;
  malformed: number;
  connections: Record<string, VpnConnectionCounters>;
}

/** A CIDR block and the node that reaches it, e.g. `["10.77.0.0/16", "node-egress"]`. */
export type VpnRoute = readonly [cidr: string, nodeId: string];

/**
 * The VPN connections of one mesh endpoint. A connection moves packets
 * only while it holds an epoch: `setEpoch` with the lease's fencing epoch
 * on the owner and on every peer of the connection; packets stamped with
 * another epoch are refused and counted. `fence` stops it at once.
 */
export class VpnPump {
  private readonly native: NativeVpnEndpoint;

  constructor(mesh: Mesh) {
    this.native = mesh.nativeVpn();
  }

  attach(connection: string, device: TunDevice): void {
    sync(() => this.native.vpnAttach(connection, device.native));
  }

  detach(connection: string): void {
    sync(() => this.native.vpnDetach(connection));
  }

  /** Epochs start at 1 and only grow: a lower one is refused (`epoch_stale`). */
  setEpoch(connection: string, epoch: number): void {
    if (!Number.isSafeInteger(epoch) || epoch < 1) throw meshError(new Error(`config_invalid: epoch ${epoch} is not a positive integer`));
    sync(() => this.native.vpnSetEpoch(connection, epoch));
  }

  /**
   * Lets `epoch` forward for `ms` more milliseconds and then stops it by itself, both ways, unless held again:
   * the owner's lease deadline, kept in Rust on the boot clock (suspended time included) so a stalled event loop or a frozen process
   * cannot forward past it. False (nothing changes) when `epoch` is not the current one.
   */
  holdUntil(connection: string, epoch: number, ms: number): boolean {
    if (!Number.isSafeInteger(epoch) || epoch < 1) throw meshError(new Error(`config_invalid: epoch ${epoch} is not a positive integer`));
    return sync(() => this.native.vpnHoldUntil(connection, epoch, Math.max(0, Math.floor(ms))));
  }

  fence(connection: string): void {
    sync(() => this.native.vpnFence(connection));
  }

  /** Destinations sent to each node; also the sources each node may send from. */
  setRoutes(connection: string, routes: readonly VpnRoute[]): void {
    sync(() =>
      this.native.vpnSetRoutes(
        connection,
        routes.map(([cidr, node]) => [cidr, node]),
      ),
    );
  }

  /** Egress filter on packets arriving from the mesh: destination in `allow` (all when empty) and in no `deny` block. */
  setFilter(connection: string, filter: { allow?: readonly string[]; deny?: readonly string[] }): void {
    sync(() => this.native.vpnSetFilter(connection, [...(filter.allow ?? [])], [...(filter.deny ?? [])]));
  }

  /**
   * Who may open TCP through this owner for `connection` (dial streams: crates/fabric-quic/src/vpn_dial.rs): the
   * managed-session `services` (`ssh`, `rdp`) from the adapter `nodes` of the connection's organization, for the
   * `resource_ids` (absent or empty: any). Until set, nobody. The target must pass the filter too.
   */
  setDialPolicy(connection: string, policy: { services: readonly string[]; nodes: readonly string[]; resource_ids?: readonly string[] }): void {
    sync(() => this.native.vpnSetDialPolicy(connection, [...policy.services], [...policy.nodes], [...(policy.resource_ids ?? [])]));
  }

  stats(): VpnStats {
    return JSON.parse(this.native.vpnStats());
  }
}
