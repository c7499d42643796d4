/**
 * TypeScript face of the fabric-quic addon: one mesh endpoint per node and
 * cluster. Errors carry the channel spec's failure reason as `code`.
 */
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { join } from "node:path";

/** The channel classes in wire order: the one list of core/contracts, which must equal the crate's `class::ALL` (classes.test.ts checks). */
import { CHANNEL_CLASSES, type ChannelClass } from "../../core/contracts/channel-classes.ts";

export { CHANNEL_CLASSES, type ChannelClass };

export interface BindOptions {
  clusterId: string;
  nodeId: string;
  /** host:port, default 127.0.0.1:0 */
  listen?: string;
  certPem: string;
  keyPkcs8: Uint8Array;
  caPems: string[];
  revokedSerials?: string[];
  idleTimeoutMs?: number;
  keepAliveMs?: number;
  udpBufferBytes?: number;
  segmentationOffload?: boolean;
  /**
   * The largest UDP payload accepted, and the ceiling of path-MTU discovery, bytes (1200–8972, default 1472).
   * Raise it on jumbo-frame underlays: VPN packets and bulk data then travel in fewer, larger datagrams.
   */
  maxUdpPayload?: number;
  /** Queueing delay tolerated above the path's min RTT before the window is capped, µs (default 1000; 0: plain CUBIC). */
  queueDelayTargetUs?: number;
  /** Receive window per stream, bytes (default 1 MiB; 64 KiB–64 MiB). */
  streamWindowBytes?: number;
}

export interface MeshMessage {
  from: string;
  via: string | null;
  class: ChannelClass;
  data: Buffer;
}
export interface PeerCertificate {
  node_id: string;
  serial: string;
  not_after_unix: number;
}
export type MeshEvent =
  | { type: "peer_up"; node_id: string; serial: string; not_after_unix: number; dialled: boolean }
  | { type: "peer_down"; node_id: string; reason: string }
  | { type: "handshake_failed"; node_id: string | null; reason: string }
  | { type: "refused"; node_id: string; class: ChannelClass; reason: string };

export interface ClassCounters {
  sent_messages: number;
  sent_bytes: number;
  received_messages: number;
  received_bytes: number;
  drops: number;
  refused: number;
}
export interface MeshStats {
  node_id: string;
  classes: Record<ChannelClass, ClassCounters>;
  relay: { streams: number; bytes: number; datagrams: number; refused: number };
  handshake_failures: Record<string, number>;
  peers: {
    node_id: string;
    serial: string;
    rtt_ms: number;
    cwnd: number;
    sent_packets: number;
    lost_packets: number;
    lost_bytes: number;
    congestion_events: number;
    udp_tx_bytes: number;
    udp_rx_bytes: number;
  }[];
  socket: { recv_buffer_bytes: number; send_buffer_bytes: number };
}

/** How an adapter node starts a session's SSH terminal (the credentials go straight to Rust). */
export interface SshStart {
  host: string;
  port: number;
  username: string;
  password: string | null;
  private_key: string | null;
  /** The pinned host key (`SHA256:…`), or null to accept any (`ignore`). */
  host_key: string | null;
  /** Entry nodes allowed to open this session's streams. */
  entry_node_ids: string[];
  /** The resource's VPN connection: TCP goes through its current owner (crates/fabric-quic/src/vpn_dial.rs). */
  via_vpn?: VpnRoute | null;
}

/** Which node runs the session's VPN connection now, under which lease epoch. */
export interface VpnRoute {
  connection_id: string;
  owner_node_id: string;
  epoch: number;
  /** The session's resource: the owner checks it against the policy's `resource_ids`. */
  resource_id: string;
}

/** What the agent hands the RDP adapter (crates/fabric-rdp) to start a session's desktop; credentials go straight into Rust. */
export interface RdpStart {
  host: string;
  port: number;
  username: string;
  password: string;
  domain: string | null;
  /** The pinned certificate (`SHA256:…` of the DER leaf); null with `strict`: the chain must verify against the system roots. */
  certificate: string | null;
  verification: "strict" | "ignore";
  quality: { profile: string; color_mode: string | null; adjustable: boolean };
  clipboard: string;
  file_transfer: string;
  /** Where this node keeps per-session transfer folders (`<root>/<session id>/`, redirected to the target as a drive). */
  transfer_root: string;
  entry_node_ids: string[];
  via_vpn?: VpnRoute | null;
}

/** A session whose terminal ended (shell exit, connection lost, or stopped). */
export interface AdapterEnded {
  type: "ended";
  session_id: string;
  reason: string;
}

/** Where an entry node takes clients: IP:port (UDP and TCP) and its certificate (PEM files), else a self-signed one for `names`. */
export interface EntryOptions {
  listen: string;
  cert_file?: string;
  key_file?: string;
  names: string[];
}

export class MeshError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "MeshError";
  }
}

interface NativeEndpoint {
  readonly localAddr: string;
  connect(nodeId: string, addr: string): Promise<string>;
  authorize(nodeId: string, classes: string[]): void;
  setRoute(destination: string, relays: string[]): void;
  setRelay(enabled: boolean): void;
  setRelayLeases(pairs: string[][], expiresUnix: number): void;
  setRevoked(serials: string[]): string[];
  setTrust(caPems: string[]): string[];
  setCertificate(certPem: string, keyPkcs8: Buffer): string;
  disconnect(nodeId: string, reason: string): boolean;
  peers(): string[];
  sendNow(to: string, cls: string, data: Uint8Array): number;
  sendMany(to: string, cls: string, data: Uint8Array[]): { queued: number; dropped: number; wait: boolean };
  room(to: string, cls: string): Promise<void>;
  recv(max: number): Promise<MeshMessage[]>;
  nextEvent(): Promise<string | null>;
  stats(): string;
  startSsh(sessionId: string, startJson: string): Promise<void>;
  startRdp(sessionId: string, startJson: string): Promise<void>;
  allowSessionEntries(sessionId: string, entryNodeIds: string[]): void;
  stopSession(sessionId: string): void;
  nextAdapterEvent(): Promise<string | null>;
  startEntry(optionsJson: string): Promise<string>;
  nextEntryEvent(): Promise<string | null>;
  admitEntry(connectionId: number, answerJson: string): void;
  refuseEntry(connectionId: number, errorJson: string): void;
  pushEntry(connectionId: number, noticeJson: string): boolean;
  stopEntry(): Promise<void>;
  close(): Promise<void>;
}

/** The VPN pump's native calls (wrapped by vpn.ts). */
export interface NativeVpnEndpoint {
  vpnAttach(connection: string, device: unknown): void;
  vpnDetach(connection: string): void;
  vpnSetEpoch(connection: string, epoch: number): void;
  vpnHoldUntil(connection: string, epoch: number, ms: number): boolean;
  vpnFence(connection: string): void;
  vpnSetRoutes(connection: string, routes: string[][]): void;
  vpnSetFilter(connection: string, allow: string[], deny: string[]): void;
  vpnSetDialPolicy(connection: string, services: string[], nodes: string[], resourceIds: string[]): void;
  vpnStats(): string;
}

interface NativeModule {
  bind(options: Omit<BindOptions, "keyPkcs8"> & { keyPkcs8: Buffer }): Promise<NativeEndpoint & NativeVpnEndpoint>;
  channelClasses(): string[];
  readonly SENT_READY: number;
  readonly SENT_WAIT: number;
}

export const ADDON_PATH = join(import.meta.dirname, "fabric-quic.node");

let loaded: NativeModule | undefined;
/** The loaded addon (vpn.ts reaches its TUN exports through it). */
export function addon(): NativeModule {
  if (!loaded) {
    if (!existsSync(ADDON_PATH)) {
      throw new MeshError("addon_missing", `${ADDON_PATH} is not built; run scripts/test or scripts/start, which build crates/ with cargo`);
    }
    loaded = createRequire(import.meta.url)(ADDON_PATH) as NativeModule;
  }
  return loaded;
}

/** The addon's "<code>: <detail>" errors as MeshError. */
export function meshError(e: unknown): unknown {
  const message = e instanceof Error ? e.message : String(e);
  const match = /^([a-z_][a-z_.]*): (.*)$/s.exec(message);
  return match ? new MeshError(match[1]!, match[2]!) : e;
}

async function native<T>(call: () => Promise<T> | T): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw meshError(e);
  }
}

function sync<T>(call: () => T): T {
  try {
    return call();
  } catch (e) {
    throw meshError(e);
  }
}

/** The addon's channel-class names in wire order (from the Rust crate's list). */
export function channelClasses(): string[] {
  return addon().channelClasses();
}

export class Mesh {
  private constructor(
    private readonly endpoint: NativeEndpoint & NativeVpnEndpoint,
    readonly nodeId: string,
  ) {}

  /** The native endpoint's VPN calls, for the VPN wrapper (vpn.ts: `VpnPump`), which drives the same endpoint. */
  nativeVpn(): NativeVpnEndpoint {
    return this.endpoint;
  }

  static async bind(options: BindOptions): Promise<Mesh> {
    const endpoint = await native(() => addon().bind({ ...options, keyPkcs8: Buffer.from(options.keyPkcs8) }));
    return new Mesh(endpoint, options.nodeId);
  }

  get address(): string {
    return this.endpoint.localAddr;
  }

  /**
   * Dials a node; the handshake fails unless the server is that node of our
   * cluster. A live connection is reused, unless this node renewed its
   * certificate (`setCertificate`) since it was made: then a new connection
   * takes over from it on both sides without a `peer_down` (the old one
   * drains a few seconds, then closes).
   */
  async connect(nodeId: string, address: string): Promise<PeerCertificate> {
    return JSON.parse(await native(() => this.endpoint.connect(nodeId, address)));
  }

  /** The classes `nodeId` may exchange with us (fabric_control is always open for the hello). */
  authorize(nodeId: string, classes: readonly ChannelClass[]): void {
    sync(() => this.endpoint.authorize(nodeId, [...classes]));
  }

  setRoute(destination: string, relays: readonly string[]): void {
    sync(() => this.endpoint.setRoute(destination, [...relays]));
  }

  setRelay(enabled: boolean): void {
    this.endpoint.setRelay(enabled);
  }

  /** End-node pairs this relay may forward between (either direction), until `expiresAt`. */
  setRelayLeases(pairs: readonly (readonly [string, string])[], expiresAt: Date): void {
    sync(() =>
      this.endpoint.setRelayLeases(
        pairs.map((p) => [...p]),
        Math.floor(expiresAt.getTime() / 1000),
      ),
    );
  }

  /** Replaces the revocation set; returns the peers closed because of it. */
  setRevoked(serials: readonly string[]): string[] {
    return this.endpoint.setRevoked([...serials]);
  }

  /** Replaces the trusted cluster CAs; returns the peers that no longer verify (closed). */
  setTrust(caPems: readonly string[]): string[] {
    return sync(() => this.endpoint.setTrust([...caPems]));
  }

  /**
   * Renews this node's certificate: new handshakes (dialled and accepted)
   * present it; live connections stay up on the old one until it expires or
   * is revoked, or until `connect` moves them to a new connection. Refused
   * (wrong_node, wrong_cluster, certificate_* or config_invalid for a key
   * that is not the certificate's) unless it is for this same node and
   * passes the cluster's checks. Returns its facts.
   */
  setCertificate(certPem: string, keyPkcs8: Uint8Array): PeerCertificate {
    return JSON.parse(sync(() => this.endpoint.setCertificate(certPem, Buffer.from(keyPkcs8))));
  }

  disconnect(nodeId: string, reason: string): boolean {
    return this.endpoint.disconnect(nodeId, reason);
  }

  peers(): string[] {
    return this.endpoint.peers();
  }

  /**
   * true when queued; false when the class's QoS dropped it. Queued at once,
   * in call order; the promise waits only while a back-pressured class's
   * queue is over its depth (otherwise it is already settled: no round trip
   * through the addon).
   */
  send(to: string, cls: ChannelClass, data: Uint8Array): Promise<boolean> {
    let sent: number;
    try {
      sent = this.endpoint.sendNow(to, cls, data);
    } catch (e) {
      return Promise.reject(meshError(e));
    }
    if (sent === addon().SENT_WAIT) return native(() => this.endpoint.room(to, cls)).then(() => true);
    return Promise.resolve(sent === addon().SENT_READY);
  }

  /**
   * Queues several messages for one destination and class, in order, in one
   * call into the addon; resolves once the class has room for more. Rejects
   * only when the first cannot be queued; a route that closes part-way stops
   * the batch (`queued` says how many went).
   */
  async sendMany(to: string, cls: ChannelClass, messages: Uint8Array[]): Promise<{ queued: number; dropped: number }> {
    const batch = sync(() => this.endpoint.sendMany(to, cls, messages));
    if (batch.wait) await native(() => this.endpoint.room(to, cls));
    return { queued: batch.queued, dropped: batch.dropped };
  }

  /** Waits for messages (urgent classes first); [] once closed. */
  async recv(max = 256): Promise<MeshMessage[]> {
    const batch = await this.endpoint.recv(max);
    // napi turns Rust's None into undefined; the wrapper promises null.
    for (const m of batch) m.via ??= null;
    return batch;
  }

  async nextEvent(): Promise<MeshEvent | null> {
    const raw = await this.endpoint.nextEvent();
    return raw === null ? null : JSON.parse(raw);
  }

  stats(): MeshStats {
    return JSON.parse(this.endpoint.stats());
  }

  /**
   * Remote sessions this node serves as adapter: starts the session's SSH
   * terminal in Rust (crates/fabric-ssh) and admits its streams from the
   * allowed entry nodes; resolves once the shell runs. Refusals are
   * `MeshError`s with the adapter's code (`adapter.auth_failed`, …).
   */
  startSsh(sessionId: string, start: SshStart): Promise<void> {
    return native(() => this.endpoint.startSsh(sessionId, JSON.stringify(start)));
  }

  /** Like `startSsh` for a remote desktop (crates/fabric-rdp): resolves once the desktop runs. */
  startRdp(sessionId: string, start: RdpStart): Promise<void> {
    return native(() => this.endpoint.startRdp(sessionId, JSON.stringify(start)));
  }

  allowSessionEntries(sessionId: string, entryNodeIds: readonly string[]): void {
    sync(() => this.endpoint.allowSessionEntries(sessionId, [...entryNodeIds]));
  }

  /** Stops a session's terminal or desktop; its end comes through `nextAdapterEvent` as `stopped`. */
  stopSession(sessionId: string): void {
    sync(() => this.endpoint.stopSession(sessionId));
  }

  /**
   * Starts the entry server (crates/fabric-entry) on this endpoint: clients
   * connect over WebTransport or its WebSocket fallback, and the streams of
   * an admitted client become session streams to its adapter node, copied
   * in Rust. Every hello waits for `admitEntry` or `refuseEntry`.
   */
  async startEntry(options: EntryOptions): Promise<{ port: number; certificate_sha256: string | null; certificate_pem: string }> {
    return JSON.parse(await native(() => this.endpoint.startEntry(JSON.stringify(options))));
  }

  /** The next hello or closed client connection; null once the entry stopped. */
  async nextEntryEvent(): Promise<Record<string, unknown> | null> {
    const raw = await native(() => this.endpoint.nextEntryEvent());
    return raw === null ? null : JSON.parse(raw);
  }

  admitEntry(
    connectionId: number,
    answer: { session_id: string; attachment_id: string; channels: string[]; adapter_node_id: string; clipboard: string },
  ): void {
    sync(() => this.endpoint.admitEntry(connectionId, JSON.stringify(answer)));
  }

  refuseEntry(connectionId: number, error: Record<string, unknown>): void {
    sync(() => this.endpoint.refuseEntry(connectionId, JSON.stringify(error)));
  }

  /** Sends `session.taken_over` or `session.ended` to one client and closes its transport; false when it is gone. */
  pushEntry(connectionId: number, notice: Record<string, unknown>): boolean {
    return sync(() => this.endpoint.pushEntry(connectionId, JSON.stringify(notice)));
  }

  stopEntry(): Promise<void> {
    return native(() => this.endpoint.stopEntry());
  }

  /** The next session whose terminal ended; null once closed. */
  async nextAdapterEvent(): Promise<AdapterEnded | null> {
    const raw = await this.endpoint.nextAdapterEvent();
    return raw === null ? null : JSON.parse(raw);
  }

  close(): Promise<void> {
    return this.endpoint.close();
  }
}
