/**
 * The mesh side of a running agent, for one cluster membership: a
 * fabric-quic endpoint with this node's certificate, one channel machine per
 * direct peer, and the routes to everyone else in the signed directory.
 *
 * Every tick (no control-plane round trip on the way):
 * - dial the chosen peers that are not connected (with backoff per peer);
 * - heartbeat established channels; three silent periods fail the channel;
 * - pick each destination's route: direct when the signed directory has no
 *   relay path for it; otherwise the signed path, or its first alternate
 *   whose first relay is up (local failover); a direct shortcut replaces a
 *   relay path only when every shortcut condition holds, and is dropped for
 *   the prior path as soon as the direct channel fails;
 * - ping every destination over its route (route health, RTT);
 * - now and then, report link observations and the endpoint address.
 *
 * The control plane is reached only through `MeshControl`; when it is away
 * the mesh keeps running on the last signed directory.
 */
import type { CallBody } from "../../core/contracts/node-agent-api.ts";
import type { MeshPeer, SnapshotMesh } from "../../core/contracts/snapshot.ts";
import { networkInterfaces } from "node:os";
import { createActor, type Actor } from "xstate";
import { Mesh, MeshError, type MeshEvent, type MeshMessage, type ChannelClass } from "../../crates/fabric-quic/index.ts";
import { channelMachine, canSend, reconnectDelay, PROTOCOL_VERSION, type FailureReason } from "./channel.ts";
import { classesBetween } from "./policy.ts";
import { controlClass, decode, encode, type ControlMessage } from "./messages.ts";
import { selectPeers, type Peer } from "../../core/routing/peers.ts";
import { SHORTCUT_DEFAULTS, type ShortcutThresholds } from "../../core/routing/routes.ts";
import { chooseRoute, initialRouteState, type RouteState } from "./route-choice.ts";
import { every, type Clock, type Random } from "../clock.ts";

export type DirectoryPeer = MeshPeer;
/** The mesh part of a verified snapshot (core/contracts/snapshot.ts), with the snapshot's version, roles and revocation list version. */
export type Directory = Pick<SnapshotMesh, "peers" | "relays" | "route_paths" | "relay_leases"> & {
  version: number;
  roles: string[];
  revocation_list_version: number;
};

/** One link observation as the node-agent contract carries it. */
export type LinkObservation = CallBody<"links">["observations"][number];

/** What the mesh needs from the control plane; every call may fail (degraded). */
export interface MeshControl {
  advertise(address: string): Promise<void>;
  reportLinks(observations: LinkObservation[]): Promise<void>;
  /** The verified revocation list's serials. */
  revokedSerials(): Promise<{ version: number; serials: string[] }>;
  /** Route-health feedback: pings over this signed relay path are (not) answered. */
  reportRouteHealth(reports: CallBody<"routeHealth">["reports"]): Promise<void>;
}

export interface MeshRuntimeOptions {
  clusterId: string;
  nodeId: string;
  certPem: string;
  caPem: string;
  keyPkcs8: Uint8Array;
  /** host:port to bind. */
  listen: string;
  /** host:port peers should dial; default: the bound address. */
  advertise?: string;
  control: MeshControl;
  log: (line: string, fields?: Record<string, unknown>) => void;
  /** Peers this node refuses direct channels with (operator block list / tests). Re-read every tick. */
  refused?: () => Promise<ReadonlySet<string>>;
  tickMs?: number;
  heartbeatMs?: number;
  linkReportMs?: number;
  idleTimeoutMs?: number;
  /** The largest UDP payload the mesh accepts and path-MTU discovery may reach (default 1472). */
  maxUdpPayload?: number;
  shortcut?: Partial<ShortcutThresholds>;
  shortcutProbationMs?: number;
  /** How long channels outlive an unreachable control plane (degraded mode). */
  degradedTtlMs?: number;
  /** A relayed route whose pings go unanswered this long is marked bad (local failover + feedback). */
  routeHealthTimeoutMs?: number;
  /** Ticks, heartbeats, TTLs and backoff run on this clock; RTTs are measured with `performance.now()` (real time). */
  clock: Clock;
  /** Reconnect jitter. */
  random: Random;
}

type ChannelActor = Actor<typeof channelMachine>;

interface DirectPeer {
  actor: ChannelActor;
  attempts: number;
  nextAttemptAt: number;
  dialing: boolean;
  heardSinceLastBeat: boolean;
  rttMs: number | null;
  establishedAt: number | null;
  certNotAfter: number;
  lastFailure: FailureReason | string | null;
}

interface Reachability {
  rttMs: number;
  via: string | null;
  at: number;
}

/** How long a relay path reported bad is skipped locally (the control plane's mark lasts longer). */
const BAD_ROUTE_MS = 60_000;

/**
 * A direct link to a peer the signed directory routes through relays is
 * local knowledge at first: the control plane hears of it only once it has
 * held as a shortcut for this long, or (when the shortcut rules never
 * qualify it, e.g. the relay path is already fast) once it has been up for
 * `DIRECT_RECOVERY_HOLD_MS`. A flapping direct path never re-plans the
 * cluster's routes.
 */
export const SHORTCUT_PROBATION_MS = 30_000;
export const DIRECT_RECOVERY_HOLD_MS = 5 * 60_000;
/** Channels run this long on the last signed snapshot while the control plane is away, then drain. */
export const DEGRADED_CHANNEL_TTL_MS = 60 * 60_000;

export class MeshRuntime {
  private readonly direct = new Map<string, DirectPeer>();
  private readonly routes = new Map<string, RouteState>();
  private readonly reach = new Map<string, Reachability>();
  private readonly authorized = new Map<string, string>();
  /** "to|relay,relay" → until when that relay path is skipped. */
  private readonly badRoutes = new Map<string, number>();
  private directory: Directory | null = null;
  private refusedPeers: ReadonlySet<string> = new Set();
  private revocationVersion = -1;
  private revoked: ReadonlySet<string> = new Set();
  private advertised: string | null = null;
  private seq = 0;
  private lastBeatAt = 0;
  private lastReportAt = 0;
  private malformed = 0;
  private running = true;
  private ticking = false;
  private readonly pending = new Set<string>();
  /**
   * Peers with a connection as far as the events say: from `peer_up` to
   * `peer_down`. The endpoint forgets a closed connection before its
   * `peer_down` is read; a peer is dialled again only after that event (which
   * sets the backoff), or the redial would skip the backoff and the late
   * `peer_down` would end the new channel's machine.
   */
  private readonly up = new Set<string>();
  /** Since when the control plane has been unreachable (degraded mode), or null. */
  private degradedSince: number | null = null;
  private readonly pendingHello = new Map<string, { via: string | null; msg: ControlMessage }>();
  private stopTicking: (() => void) | null = null;
  private readonly handlers = new Set<(m: MeshMessage) => void>();
  private readonly thresholds: ShortcutThresholds;

  private constructor(
    readonly mesh: Mesh,
    private readonly o: MeshRuntimeOptions,
  ) {
    this.thresholds = { ...SHORTCUT_DEFAULTS, ...o.shortcut };
  }

  static async start(o: MeshRuntimeOptions): Promise<MeshRuntime> {
    const mesh = await Mesh.bind({
      clusterId: o.clusterId,
      nodeId: o.nodeId,
      certPem: o.certPem,
      keyPkcs8: o.keyPkcs8,
      caPems: [o.caPem],
      listen: o.listen,
      idleTimeoutMs: o.idleTimeoutMs,
      maxUdpPayload: o.maxUdpPayload,
    });
    const rt = new MeshRuntime(mesh, o);
    void rt.pumpEvents();
    void rt.pumpMessages();
    rt.stopTicking = every(o.clock, o.tickMs ?? 1000, () => void rt.tick().catch((e) => o.log("mesh tick failed", { error: String(e) })));
    o.log("mesh endpoint listening", { cluster: o.clusterId, address: mesh.address });
    return rt;
  }

  /** What peers should dial: the advertised address, else the bound one (a wildcard bind advertises the host's first external IPv4). */
  get address(): string {
    if (this.o.advertise) return this.o.advertise;
    const bound = this.mesh.address;
    const port = bound.slice(bound.lastIndexOf(":") + 1);
    if (!bound.startsWith("0.0.0.0:") && !bound.startsWith("[::]:")) return bound;
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === "IPv4" && !i.internal);
    return `${external?.address ?? "127.0.0.1"}:${port}`;
  }

  /** A new verified directory (from a snapshot). */
  async apply(dir: Directory): Promise<void> {
    const changed = dir.version !== this.directory?.version;
    if (changed) this.resetBackoff();
    this.directory = dir;
    this.mesh.setRelay(dir.roles.includes("relay-node"));
    // Without a lease from the signed snapshot a relay forwards nothing; an expired one (control plane away too long) ends relaying.
    this.mesh.setRelayLeases(dir.relay_leases?.pairs ?? [], new Date(dir.relay_leases?.expires_at ?? 0));
    if (dir.revocation_list_version > this.revocationVersion) await this.refreshRevocations();
    else if (changed) this.revalidateAll();
    await this.tick();
  }

  /**
   * The control plane stopped (or resumed) answering. Established channels go
   * `degraded` and keep running on the last signed snapshot until the
   * degraded TTL, then drain and close (`trust_bundle_stale`); a channel
   * established meanwhile gets only what is left of the TTL.
   */
  controlPlane(reachable: boolean): void {
    if (reachable === (this.degradedSince === null)) return;
    this.degradedSince = reachable ? null : this.now();
    this.o.log(reachable ? "mesh leaves degraded mode" : "mesh in degraded mode: channels run on the last snapshot until the TTL", {
      ttl_ms: this.degradedTtl(),
    });
    for (const p of this.direct.values()) this.applyDegraded(p);
  }

  private now(): number {
    return this.o.clock.now().getTime();
  }

  private degradedTtl(): number {
    return this.o.degradedTtlMs ?? DEGRADED_CHANNEL_TTL_MS;
  }

  private applyDegraded(p: DirectPeer): void {
    const now = this.now();
    const value = p.actor.getSnapshot().value;
    if (this.degradedSince === null) {
      if (value === "degraded") p.actor.send({ type: "control_plane.reachable" });
    } else if (value === "established") {
      p.actor.send({ type: "control_plane.unreachable", now, ttlMs: Math.max(0, this.degradedSince + this.degradedTtl() - now) });
    }
  }

  /** Degraded channels whose TTL ran out drain and close. */
  private expireDegraded(now: number): void {
    for (const [nodeId, p] of this.direct) {
      if (p.actor.getSnapshot().value !== "degraded") continue;
      p.actor.send({ type: "tick", now });
      const after = p.actor.getSnapshot();
      if (after.value === "draining") {
        this.o.log("mesh channel outlived the degraded TTL; closing", { peer: nodeId });
        this.mesh.disconnect(nodeId, after.context.failure ?? "trust_bundle_stale");
      }
    }
  }

  /**
   * Roles, peers, trust or revocations changed: every established channel is
   * checked again against the new policy. One that no longer holds (peer
   * gone, revoked, disabled, or a class it uses no longer allowed) drains and
   * is closed; it is dialled again under the new policy if still wanted.
   */
  private revalidateAll(): void {
    const now = this.now();
    for (const [nodeId, p] of this.direct) {
      const snap = p.actor.getSnapshot();
      if (snap.value !== "established") continue;
      const peer = this.peerOf(nodeId);
      const allowedClasses = peer ? classesBetween(this.directory?.roles ?? [], peer.roles) : [];
      p.actor.send({ type: "revalidate" });
      p.actor.send({
        type: "revalidated",
        cert: { clusterId: this.o.clusterId, nodeId, serial: snap.context.peerSerial ?? "", notBefore: 0, notAfter: p.certNotAfter },
        policy: {
          allowedClasses,
          routeEpoch: 0,
          trustBundleVersion: Math.max(0, this.revocationVersion),
          revokedSerials: this.revoked,
          peerDisabled: !peer || this.refusedPeers.has(nodeId),
        },
        now,
      });
      const after = p.actor.getSnapshot();
      if (after.value === "draining") {
        this.o.log("mesh channel failed revalidation; closing", { peer: nodeId, reason: after.context.failure });
        this.mesh.disconnect(nodeId, after.context.failure ?? "policy_denied");
      }
    }
  }

  /**
   * This node's renewed certificate: new handshakes present it, and every
   * live connection made with the old one moves to a new connection made
   * with it (the endpoint's make-before-break `connect`), so no channel drops
   * when the old certificate expires. A connection that cannot move now
   * keeps the old certificate; when it expires the peer closes it and the
   * channel is dialled again as after any close.
   */
  async setCertificate(certPem: string, keyPkcs8: Uint8Array): Promise<void> {
    const cert = this.mesh.setCertificate(certPem, keyPkcs8);
    this.o.log("mesh certificate renewed", { serial: cert.serial, not_after: new Date(cert.not_after_unix * 1000).toISOString() });
    await Promise.all(
      this.mesh.peers().map(async (nodeId) => {
        const address = this.peerOf(nodeId)?.endpoints.find((e) => e.transport === "quic")?.address;
        if (!address) return;
        await this.mesh
          .connect(nodeId, address)
          .catch((err) => this.o.log("mesh connection could not move to the renewed certificate; it keeps the old one", { peer: nodeId, error: String(err) }));
      }),
    );
  }

  /** Receives messages of classes other than fabric_control (workloads). */
  onMessage(handler: (m: MeshMessage) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Sends to a destination over its current route; never before the channel allows the class. */
  async send(to: string, cls: ChannelClass, data: Uint8Array): Promise<boolean> {
    const route = this.routes.get(to)?.current;
    if (!route) throw new MeshError("network_unreachable", `no route to ${to}`);
    const peer = this.direct.get(to);
    if (route.length === 0 && (!peer || !canSend(peer.actor.getSnapshot(), cls))) {
      throw new MeshError("channel_class_denied", `${cls} is not open with ${to}`);
    }
    return this.mesh.send(to, cls, data);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopTicking?.();
    for (const p of this.direct.values()) p.actor.stop();
    await this.mesh.close();
  }

  /** What `rap-node-agent status` shows. */
  status() {
    const peers = (this.directory?.peers ?? []).map((p) => {
      const d = this.direct.get(p.node_id);
      const r = this.routes.get(p.node_id);
      const seen = this.reach.get(p.node_id);
      return {
        node_id: p.node_id,
        name: p.name,
        channel: d ? String(d.actor.getSnapshot().value) : "none",
        failure: d?.actor.getSnapshot().context.failure ?? d?.lastFailure ?? null,
        route: r?.current === null || r === undefined ? null : r.current.length === 0 ? "direct" : r.current,
        shortcut: r?.shortcut ?? false,
        rtt_ms: seen?.rttMs ?? null,
        reached_via: seen ? seen.via : null,
        reached_at: seen ? new Date(seen.at).toISOString() : null,
      };
    });
    const stats = this.mesh.stats();
    return {
      address: this.address,
      relay: this.directory?.roles.includes("relay-node") ?? false,
      directory_version: this.directory?.version ?? null,
      revocation_list_version: this.revocationVersion,
      malformed_messages: this.malformed,
      connected: this.mesh.peers(),
      peers,
      relay_counters: stats.relay,
      handshake_failures: stats.handshake_failures,
    };
  }

  // ---- events and messages ----

  private async pumpEvents(): Promise<void> {
    while (this.running) {
      const e = await this.mesh.nextEvent();
      if (!e) return;
      this.onEvent(e);
    }
  }

  private async pumpMessages(): Promise<void> {
    while (this.running) {
      const batch = await this.mesh.recv(256);
      if (batch.length === 0) return;
      for (const m of batch) {
        if (m.class !== "fabric_control" && m.class !== "route_control") {
          for (const h of this.handlers) h(m);
          continue;
        }
        const msg = decode(m.data);
        // Each control message counts only on its own class.
        if (!msg || controlClass(msg) !== m.class) this.malformed++;
        else this.onControl(m.from, m.via, msg);
      }
    }
  }

  private peerOf(nodeId: string): DirectoryPeer | undefined {
    return this.directory?.peers.find((p) => p.node_id === nodeId);
  }

  private channel(nodeId: string): DirectPeer {
    let p = this.direct.get(nodeId);
    const state = p?.actor.getSnapshot().status;
    if (!p || state === "done") {
      const actor = createActor(channelMachine, { input: { clusterId: this.o.clusterId, expectedPeer: nodeId } });
      actor.start();
      p = {
        actor,
        attempts: p?.attempts ?? 0,
        nextAttemptAt: p?.nextAttemptAt ?? 0,
        dialing: false,
        heardSinceLastBeat: true,
        rttMs: null,
        establishedAt: null,
        certNotAfter: 0,
        lastFailure: p?.lastFailure ?? null,
      };
      this.direct.set(nodeId, p);
    }
    return p;
  }

  private onEvent(e: MeshEvent): void {
    switch (e.type) {
      case "peer_up": {
        this.up.add(e.node_id);
        const peer = this.peerOf(e.node_id);
        if (!peer || this.refusedPeers.has(e.node_id)) {
          this.mesh.disconnect(e.node_id, "policy_denied");
          return;
        }
        // A new connection while the old channel is still draining (both sides
        // redialled at once): the old channel is over, this one starts fresh.
        const previous = this.direct.get(e.node_id)?.actor;
        const was = previous?.getSnapshot().value;
        if (previous && (was === "draining" || was === "closing")) previous.send({ type: "transport.closed" });
        // A certificate renewal (either side) moved the channel to a new connection: it carries on.
        if (was === "established" || was === "degraded") this.o.log("mesh channel moved to a new connection", { peer: e.node_id, serial: e.serial });
        const p = this.channel(e.node_id);
        const a = p.actor;
        if (a.getSnapshot().value === "idle") a.send({ type: "open" });
        if (a.getSnapshot().value === "connecting") a.send({ type: "transport.connected" });
        if (a.getSnapshot().value === "handshaking") {
          a.send({
            type: "tls.verified",
            cert: { clusterId: this.o.clusterId, nodeId: e.node_id, serial: e.serial, notBefore: 0, notAfter: e.not_after_unix * 1000 },
            now: this.now(),
            revokedSerials: this.revoked,
          });
        }
        p.heardSinceLastBeat = true;
        p.certNotAfter = e.not_after_unix * 1000;
        this.sendControl(e.node_id, this.hello(peer));
        // Their hello may have been read before this event.
        const early = this.pendingHello.get(e.node_id);
        this.pendingHello.delete(e.node_id);
        if (early) this.onControl(e.node_id, early.via, early.msg);
        return;
      }
      case "peer_down": {
        this.up.delete(e.node_id);
        const p = this.direct.get(e.node_id);
        if (!p) return;
        p.lastFailure = e.reason;
        if (e.reason === "certificate_revoked") p.actor.send({ type: "revoked", serials: new Set([p.actor.getSnapshot().context.peerSerial ?? ""]) });
        p.actor.send({ type: "transport.closed" });
        this.authorized.delete(e.node_id);
        this.scheduleRetry(p);
        this.o.log("mesh channel closed", { peer: e.node_id, reason: e.reason });
        return;
      }
      case "handshake_failed":
      case "refused":
        this.o.log(`mesh ${e.type.replace("_", " ")}`, { peer: e.node_id, reason: e.reason, ...(e.type === "refused" ? { class: e.class } : {}) });
    }
  }

  private hello(peer: DirectoryPeer): ControlMessage {
    return {
      type: "hello",
      protocol_version: PROTOCOL_VERSION,
      cluster_id: this.o.clusterId,
      node_id: this.o.nodeId,
      classes: classesBetween(this.directory?.roles ?? [], peer.roles),
      route_epoch: 0,
      trust_bundle_version: Math.max(0, this.revocationVersion),
      draining: false,
    };
  }

  private onControl(from: string, via: string | null, msg: ControlMessage): void {
    switch (msg.type) {
      case "hello": {
        if (via !== null) return; // a hello only counts on a direct channel
        const peer = this.peerOf(from);
        const p = this.direct.get(from);
        if (!peer) return;
        if (p?.actor.getSnapshot().value !== "authorizing") {
          this.pendingHello.set(from, { via, msg });
          return;
        }
        const requested = classesBetween(this.directory?.roles ?? [], peer.roles);
        p.actor.send({
          type: "hello",
          hello: {
            protocolVersion: msg.protocol_version,
            clusterId: msg.cluster_id,
            nodeId: msg.node_id,
            classes: msg.classes,
            routeEpoch: msg.route_epoch,
            trustBundleVersion: msg.trust_bundle_version,
            draining: msg.draining,
          },
          policy: {
            allowedClasses: requested,
            routeEpoch: 0,
            trustBundleVersion: Math.max(0, this.revocationVersion),
            revokedSerials: this.revoked,
            peerDisabled: false,
          },
          requested,
        });
        const snap = p.actor.getSnapshot();
        if (snap.value === "established") {
          p.attempts = 0;
          p.establishedAt = this.now();
          this.authorize(from, snap.context.classes);
          // A first heartbeat at once: the link's RTT is known before routing next looks at it.
          this.sendControl(from, { type: "hb", seq: this.seq++, sent_at: performance.now() });
          this.o.log("mesh channel established", { peer: from, classes: snap.context.classes.length });
          this.applyDegraded(p);
        } else if (snap.value === "failed") {
          this.mesh.disconnect(from, snap.context.failure ?? "policy_denied");
        }
        return;
      }
      case "hb":
        this.heard(from, via);
        this.sendControl(from, { type: "hb_ack", seq: msg.seq, sent_at: msg.sent_at });
        return;
      case "hb_ack": {
        this.heard(from, via);
        const p = this.direct.get(from);
        if (p && via === null) p.rttMs = Math.max(0, performance.now() - msg.sent_at);
        return;
      }
      case "ping":
        this.sendControl(from, { type: "pong", seq: msg.seq, sent_at: msg.sent_at });
        return;
      case "pong":
        this.reach.set(from, { rttMs: Math.max(0, performance.now() - msg.sent_at), via, at: this.now() });
    }
  }

  private heard(from: string, via: string | null): void {
    const p = this.direct.get(from);
    if (p && via === null) p.heardSinceLastBeat = true;
  }

  /** Channel control goes straight to the peer (fabric_control); route health follows the route (route_control). */
  private sendControl(to: string, msg: ControlMessage): void {
    this.mesh.send(to, controlClass(msg), encode(msg)).catch(() => undefined);
  }

  private authorize(nodeId: string, classes: readonly ChannelClass[]): void {
    const key = classes.join(",");
    if (this.authorized.get(nodeId) === key) return;
    this.mesh.authorize(nodeId, classes);
    this.authorized.set(nodeId, key);
  }

  private scheduleRetry(p: DirectPeer): void {
    const delay = reconnectDelay(p.attempts, this.o.random(), { baseMs: 500, capMs: 30_000, maxAttempts: 1_000 });
    p.attempts++;
    p.nextAttemptAt = this.now() + (delay ?? 30_000);
  }

  /** Policy changed (new directory or block list): peers that were refused may now accept, so dial again without waiting out old backoff. */
  private resetBackoff(): void {
    for (const p of this.direct.values()) {
      p.attempts = 0;
      p.nextAttemptAt = 0;
    }
  }

  private async refreshRevocations(): Promise<void> {
    try {
      const { version, serials } = await this.o.control.revokedSerials();
      this.revoked = new Set(serials.map((s) => s.replace(/^0+/, "").toLowerCase()));
      this.revocationVersion = version;
      const closed = this.mesh.setRevoked(serials);
      for (const nodeId of closed) this.direct.get(nodeId)?.actor.send({ type: "revoked", serials: this.revoked });
      if (closed.length) this.o.log("mesh channels closed by revocation", { peers: closed });
      this.revalidateAll();
    } catch (e) {
      this.o.log("mesh revocation list unavailable; keeping the last one", { error: String(e) });
    }
  }

  // ---- the tick ----

  /**
   * Control-plane calls never hold up a tick (routing decisions do not wait
   * on the control plane); one call of each kind at a time, failures are
   * retried at a later tick.
   */
  private inBackground(kind: string, call: () => Promise<void>): void {
    if (this.pending.has(kind)) return;
    this.pending.add(kind);
    call()
      .catch(() => undefined)
      .finally(() => this.pending.delete(kind));
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.tickOnce();
    } finally {
      this.ticking = false;
    }
  }

  private async tickOnce(): Promise<void> {
    const dir = this.directory;
    if (!this.running || !dir) return;
    const now = this.now();
    if (this.o.refused) {
      const refused = await this.o.refused();
      if ([...refused].sort().join() !== [...this.refusedPeers].sort().join()) {
        this.resetBackoff();
        // Routes judged under the old block list say nothing about the new one.
        this.badRoutes.clear();
      }
      this.refusedPeers = refused;
    }
    if (this.advertised !== this.address) {
      this.inBackground("advertise", () =>
        this.o.control.advertise(this.address).then(() => {
          this.advertised = this.address;
        }),
      );
    }
    const inDirectory = new Set(dir.peers.map((p) => p.node_id));
    for (const [nodeId, p] of this.direct) {
      const live = p.actor.getSnapshot().status === "active";
      if (live && (!inDirectory.has(nodeId) || this.refusedPeers.has(nodeId))) this.mesh.disconnect(nodeId, "policy_denied");
    }
    this.expireDegraded(now);
    this.dial(dir, now);
    if (now - this.lastBeatAt >= (this.o.heartbeatMs ?? 2000)) this.beat(now);
    this.route(dir, now);
    this.ping(dir);
    if (now - this.lastReportAt >= (this.o.linkReportMs ?? 5000)) {
      this.lastReportAt = now;
      const observations = this.observations(dir, now);
      this.inBackground("links", () => this.o.control.reportLinks(observations));
    }
  }

  private dial(dir: Directory, now: number): void {
    const candidates: Peer[] = dir.peers
      .filter((p) => p.endpoints.some((e) => e.transport === "quic") && !this.refusedPeers.has(p.node_id))
      .map((p) => ({
        nodeId: p.node_id,
        clusterId: this.o.clusterId,
        roles: p.roles,
        region: null,
        certNotAfter: Number.MAX_SAFE_INTEGER,
        revoked: false,
        bootstrap: false,
        observed: {
          latencyMs: this.direct.get(p.node_id)?.rttMs ?? null,
          loss: 0,
          reliability: 1,
          load: 0,
          bandwidthMbps: null,
          recentFailures: Math.min(this.direct.get(p.node_id)?.attempts ?? 0, 10),
          lastSuccessAt: null,
        },
      }));
    const connected = new Set(this.mesh.peers());
    const profile = dir.roles.includes("relay-node") ? "relay" : "normal";
    const sets = selectPeers(candidates, { nodeId: this.o.nodeId, clusterId: this.o.clusterId, region: null, profile, minority: false, connected }, now);
    for (const nodeId of [...sets.active, ...sets.warm]) {
      if (connected.has(nodeId) || this.up.has(nodeId)) continue;
      const p = this.channel(nodeId);
      if (p.dialing || now < p.nextAttemptAt) continue;
      const address = dir.peers.find((x) => x.node_id === nodeId)!.endpoints.find((e) => e.transport === "quic")!.address;
      p.dialing = true;
      if (p.actor.getSnapshot().value === "idle") p.actor.send({ type: "open" });
      this.mesh.connect(nodeId, address).then(
        () => {
          p.dialing = false;
        },
        (err) => {
          p.dialing = false;
          p.lastFailure = err instanceof MeshError ? err.code : "network_unreachable";
          // The peer may have dialled us meanwhile: only a channel still waiting on this dial fails.
          if (p.actor.getSnapshot().value === "connecting") p.actor.send({ type: "transport.error", handshake: true });
          this.scheduleRetry(p);
        },
      );
    }
  }

  private beat(now: number): void {
    this.lastBeatAt = now;
    for (const [nodeId, p] of this.direct) {
      const state = p.actor.getSnapshot();
      // A hello can be lost with a connection that lost a dial race: repeat ours until theirs arrives.
      const peer = this.peerOf(nodeId);
      if (state.value === "authorizing" && peer) this.sendControl(nodeId, this.hello(peer));
      if (state.status !== "active" || !["established", "revalidating", "degraded", "draining"].includes(String(state.value))) continue;
      p.actor.send({ type: p.heardSinceLastBeat ? "heartbeat.received" : "heartbeat.missed" });
      p.heardSinceLastBeat = false;
      if (p.actor.getSnapshot().value === "failed") {
        this.mesh.disconnect(nodeId, "heartbeat_timeout");
        continue;
      }
      this.sendControl(nodeId, { type: "hb", seq: this.seq++, sent_at: performance.now() });
    }
  }

  /** A channel that carries traffic: established, or degraded within its TTL. */
  private established(nodeId: string): boolean {
    const value = this.direct.get(nodeId)?.actor.getSnapshot().value;
    return value === "established" || value === "degraded";
  }

  private route(dir: Directory, now: number): void {
    for (const peer of dir.peers) {
      const to = peer.node_id;
      const measured = this.reach.get(to);
      const choice = chooseRoute(this.routes.get(to) ?? initialRouteState(now), {
        path: dir.route_paths.find((r) => r.to === to),
        direct: this.established(to) && !this.refusedPeers.has(to),
        firstHopUp: (relay) => this.established(relay),
        isBad: (via) => this.isBad(to, via, now),
        relayedRttMs: measured && measured.via !== null ? measured.rttMs : null,
        directRttMs: this.direct.get(to)?.rttMs ?? null,
        thresholds: this.thresholds,
        now,
      });
      for (const e of choice.events) {
        if (e.type === "shortcut_created") this.o.log("mesh shortcut created", { peer: to, replaces: e.replaces });
        else this.o.log("mesh shortcut removed; back on the relay path", { peer: to, via: e.back_to });
      }
      const state = choice.state;
      if (choice.changed) {
        const next = state.current;
        if (next) this.mesh.setRoute(to, next);
        if (next && next.length > 0) this.authorize(to, classesBetween(dir.roles, peer.roles));
        this.o.log("mesh route", { peer: to, route: next === null ? "unreachable" : next.length ? next : "direct" });
      }
      this.routes.set(to, state);
      if (state.current && state.current.length > 0) this.checkRouteHealth(to, state, now);
    }
  }

  private isBad(to: string, via: string[], now: number): boolean {
    const until = this.badRoutes.get(`${to}|${via.join(",")}`);
    return until !== undefined && until > now;
  }

  /**
   * A relayed route whose route-health pings stay unanswered (while its first
   * relay is up) is marked bad: the next tick moves to an alternate, and the
   * control plane hears of it so the next signed path avoids that relay.
   */
  private checkRouteHealth(to: string, state: RouteState, now: number): void {
    const via = state.current!;
    // Any answer since the route was set counts: the way back may differ (the peer routes on its own snapshot).
    const answeredAt = this.reach.get(to)?.at ?? 0;
    if (now - Math.max(state.since, answeredAt) < (this.o.routeHealthTimeoutMs ?? 3000)) return;
    this.badRoutes.set(`${to}|${via.join(",")}`, now + BAD_ROUTE_MS);
    this.o.log("mesh route unhealthy; trying another", { peer: to, via });
    this.o.control.reportRouteHealth([{ to, via, healthy: false }]).catch(() => undefined);
  }

  private ping(dir: Directory): void {
    for (const peer of dir.peers) {
      if (this.routes.get(peer.node_id)?.current) this.sendControl(peer.node_id, { type: "ping", seq: this.seq++, sent_at: performance.now() });
    }
  }

  private observations(dir: Directory, now: number): LinkObservation[] {
    const probation = this.o.shortcutProbationMs ?? SHORTCUT_PROBATION_MS;
    // A direct link that would replace a signed relay path waits until it has proven itself.
    const unproven = (nodeId: string) => {
      if (!dir.route_paths.some((r) => r.to === nodeId) || !this.established(nodeId)) return false;
      const shortcutSince = this.routes.get(nodeId)?.shortcutSince;
      if (shortcutSince != null) return now - shortcutSince < probation;
      const upSince = this.direct.get(nodeId)?.establishedAt ?? now;
      return now - upSince < DIRECT_RECOVERY_HOLD_MS;
    };
    return dir.peers
      .filter((p) => !unproven(p.node_id))
      .slice(0, 200)
      .map((p) => {
        const d = this.direct.get(p.node_id);
        const up = this.established(p.node_id) && !this.refusedPeers.has(p.node_id);
        return up && d?.rttMs != null
          ? { peer_node_id: p.node_id, reachable: true, latency_ms: Math.min(60_000, d.rttMs) }
          : { peer_node_id: p.node_id, reachable: up };
      });
  }
}
