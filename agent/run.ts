/**
 * The running agent for one cluster membership: a node session from the
 * node's own key, a heartbeat with live telemetry every interval, signed
 * snapshots by long-poll (verified against the pinned authority before they
 * are stored), and the node certificate renewed ahead of expiry (renew.ts). Snapshots are always whole, never deltas, so a version gap
 * needs no special resync: the next one simply replaces the last. When the control plane cannot be reached the agent
 * keeps running from its last valid snapshot and records that it is degraded;
 * it never decides anything the authority owns. A node the control plane
 * refuses (revoked or disabled) stops. Every call to the control plane waits
 * out a transient refusal (429 with its `Retry-After`, 5xx, no answer) with
 * jittered backoff (retry.ts) and logs one line when its state changes, not
 * one per retry.
 */
import { isNodeRole, type NodeRole } from "../core/contracts/roles.ts";
import type { WorkloadReport } from "./supervisor.ts";
import type { CallAnswer } from "../core/contracts/node-agent-api.ts";
import { AgentError, ControlPlaneClient } from "./client.ts";
import { certificateRequest, loadOrCreateKey, type NodeKey } from "./keys.ts";
import { telemetry } from "./host-facts.ts";
import { verifyRevocationList, verifySnapshot } from "./verify.ts";
import type { Directory, LinkObservation, MeshControl } from "./mesh/runtime.ts";
import type { EntryControl } from "./sessions/entry-service.ts";
import type { AdapterControl } from "./sessions/adapter-service.ts";
import type { AgentStore, Membership } from "./store.ts";
import type { Clock, Random, Timer } from "./clock.ts";
import { CertificateRenewal, certificateFacts, certificateTelemetry } from "./renew.ts";
import { verifyNodeCertificate } from "../core/crypto/x509.ts";
import { constantTimeEqual, fromB64 } from "../core/crypto/bytes.ts";
import { Backoff, isTransient, troubleOf, type Trouble } from "./retry.ts";
import { controlLeasePort } from "./vpn/control-port.ts";
import type { VpnControl } from "./vpn/member.ts";

/** The release this agent was built as (scripts/release bakes it in); a source checkout reports 0.1.0. */
export const AGENT_VERSION: string = process.env.RAP_AGENT_BUILD_VERSION ?? "0.1.0";

export interface RunnerEvents {
  log: (line: string, fields?: Record<string, unknown>) => void;
  /** A new verified snapshot is in the store. */
  onSnapshot?: (clusterId: string) => void;
  /** Whether the control plane answered the last heartbeat (degraded mode when not). */
  onControlPlane?: (clusterId: string, reachable: boolean) => void;
  /** The control plane refuses this node: everything it runs must stop. */
  onStop?: (clusterId: string) => void | Promise<void>;
  /** A renewed certificate is stored (the membership has it): put it to use. */
  onCertificate?: (clusterId: string, certPem: string) => void | Promise<void>;
  /** More telemetry for each heartbeat (the self-update state, agent/updates/updater.ts). */
  telemetry?: () => Record<string, unknown>;
}

/** Snapshot polling after an error: 1 s doubling to 30 s (or the server's `Retry-After`). */
export const SNAPSHOT_BACKOFF = { firstMs: 1000, maxMs: 30_000 };
/** Service reports and mesh calls after a transient refusal: 1 s doubling to 5 min. */
export const REPORT_BACKOFF = { firstMs: 1000, maxMs: 5 * 60_000 };

type ServiceReport = Omit<WorkloadReport, "service_type"> & { service_type: NodeRole };

export class ClusterRunner {
  private seq: number;
  private rejected = 0;
  private stopped = false;
  refused: string | null = null;
  /** The `update` of the last accepted heartbeat answer: what the control plane's rollout asks this node to run (null: nothing). */
  updateRequest: CallAnswer<"heartbeat">["update"] | null = null;
  private readonly renewal: CertificateRenewal;
  /** What the heartbeats are waiting out (null when the last one was accepted), and their backoff (capped at the interval). */
  private heartbeatTrouble: Trouble | "refused" | null = null;
  private heartbeatBackoff: Backoff | null = null;
  private lastHeartbeatError: string | null = null;
  /** Latest unsent state per service, resent after a transient refusal until it goes through. */
  private readonly services = new Map<string, ServiceReport>();
  private servicesRetry: Timer | null = null;
  private readonly servicesBackoff: Backoff;
  /** Per kind of mesh call: no call before `until` after a transient refusal. */
  private readonly holds = new Map<string, { until: number; backoff: Backoff }>();

  private constructor(
    private readonly store: AgentStore,
    private m: Membership,
    private readonly key: NodeKey,
    private readonly client: ControlPlaneClient,
    private readonly events: RunnerEvents,
    private readonly clock: Clock,
    private readonly random: Random,
  ) {
    // Sequence numbers keep rising across restarts: they start from the time.
    this.seq = clock.now().getTime();
    this.servicesBackoff = new Backoff(random, REPORT_BACKOFF);
    this.renewal = new CertificateRenewal({
      clusterId: m.clusterId,
      store,
      clock,
      random,
      current: () => this.m.certificatePem!,
      renew: () => this.renewCertificate(),
      use: async (pem) => this.events.onCertificate?.(m.clusterId, pem),
      refused: () => this.refused !== null,
      log: events.log,
    });
  }

  static async open(store: AgentStore, m: Membership, stateDir: string, events: RunnerEvents, clock: Clock, random: Random): Promise<ClusterRunner> {
    if (m.status !== "enrolled" || !m.nodeId || !m.authorityPublicKey) throw new AgentError("not_enrolled", `cluster ${m.clusterId} is not enrolled`);
    const key = await loadOrCreateKey(stateDir, m.clusterId);
    if (key.fingerprint !== m.fingerprint)
      throw new AgentError("key_mismatch", `the key file for cluster ${m.clusterId} is not the enrolled key; fix: restore ${key.keyFile} or enroll again`);
    if (!m.certificatePem || !m.caChainPem) throw new AgentError("not_enrolled", `cluster ${m.clusterId} has no node certificate; enroll again`);
    return new ClusterRunner(store, m, key, new ControlPlaneClient(m.controlPlaneUrl, clock), events, clock, random);
  }

  get clusterId(): string {
    return this.m.clusterId;
  }

  /**
   * One heartbeat round (with a session as needed). Never throws for a
   * missing control plane. Returns when to try again if it was not accepted
   * for a transient reason: backoff from 1 s doubling to `intervalMs`, jittered,
   * or longer when the server says so; null means the usual interval.
   */
  async heartbeat(intervalMs = 30_000): Promise<number | null> {
    if (this.stopped) return null;
    const health = (await this.store.health(this.m.clusterId)) ?? {
      clusterId: this.m.clusterId,
      controlPlaneReachable: true,
      degradedSince: null,
      lastHeartbeatAt: null,
      lastError: null,
    };
    try {
      const token = await this.client.nodeToken(this.key, this.m.clusterId);
      const version = await this.store.snapshotVersion(this.m.clusterId);
      const certificate = certificateTelemetry(await this.renewal.state(), this.clock.now());
      const answer = await this.client.call("heartbeat", {
        token,
        body: {
          seq: this.seq++,
          agent_version: AGENT_VERSION,
          telemetry: {
            ...telemetry(),
            snapshot_version: version ?? 0,
            snapshot_rejections: this.rejected,
            degraded: !health.controlPlaneReachable,
            ...certificate,
            ...this.events.telemetry?.(),
          },
        },
      });
      this.updateRequest = answer.update ?? null;
      if (!health.controlPlaneReachable) this.events.log("control plane reachable again; leaving degraded mode", { cluster: this.m.clusterId });
      else if (this.heartbeatTrouble === "rate_limited") this.events.log("control plane accepts heartbeats again", { cluster: this.m.clusterId });
      else if (this.lastHeartbeatError)
        this.events.log("control plane accepts heartbeats again", { cluster: this.m.clusterId, after: this.lastHeartbeatError });
      this.heartbeatTrouble = null;
      this.lastHeartbeatError = null;
      this.heartbeatBackoff?.reset();
      if (this.refused) {
        this.refused = null;
        this.events.log("the control plane accepts this node again; resuming", { cluster: this.m.clusterId });
        this.events.onSnapshot?.(this.m.clusterId);
      }
      await this.store.saveHealth({
        ...health,
        controlPlaneReachable: true,
        degradedSince: null,
        lastHeartbeatAt: this.clock.now().toISOString(),
        lastError: null,
      });
      this.events.onControlPlane?.(this.m.clusterId, true);
      return null;
    } catch (err) {
      if (!(err instanceof AgentError)) throw err;
      if (isTransient(err)) {
        this.heartbeatBackoff ??= new Backoff(this.random, { firstMs: Math.min(1000, intervalMs), maxMs: intervalMs });
        const wait = this.heartbeatBackoff.next(err);
        const trouble = troubleOf(err);
        if (trouble === "rate_limited") {
          // The control plane is there and asks for less: not degraded, just slower.
          if (this.heartbeatTrouble !== trouble)
            this.events.log("control plane is rate limiting this node; backing off", { cluster: this.m.clusterId, retry_in_seconds: Math.ceil(wait / 1000) });
          await this.store.saveHealth({ ...health, lastError: `${err.code}: ${err.message}` });
        } else {
          if (health.controlPlaneReachable)
            this.events.log("control plane unreachable; running degraded from the last valid snapshot", { cluster: this.m.clusterId, error: err.message });
          await this.store.saveHealth({
            ...health,
            controlPlaneReachable: false,
            degradedSince: health.degradedSince ?? this.clock.now().toISOString(),
            lastError: err.message,
          });
          this.events.onControlPlane?.(this.m.clusterId, false);
        }
        this.heartbeatTrouble = trouble;
        return wait;
      }
      if (err.code === "node.auth_refused") {
        this.heartbeatTrouble = "refused";
        await this.refuse(err.message);
        return null;
      }
      // A definitive answer about this heartbeat (not about the node): said once, retried at the usual interval.
      await this.store.saveHealth({ ...health, lastError: `${err.code}: ${err.message}` });
      if (this.lastHeartbeatError !== err.code) this.events.log("control plane answered with an error", { cluster: this.m.clusterId, code: err.code });
      this.lastHeartbeatError = err.code;
      return null;
    }
  }

  /**
   * The control plane refuses this node (revoked or disabled): its work stops
   * at once. Heartbeats keep trying; a node that is enabled again is accepted
   * and resumes, a revoked one stays refused.
   */
  private async refuse(reason: string): Promise<void> {
    this.client.forgetToken();
    if (this.refused) return;
    this.refused = reason;
    this.events.log("the control plane refuses this node (revoked or disabled); stopping its work", { cluster: this.m.clusterId });
    const health = await this.store.health(this.m.clusterId);
    if (health) await this.store.saveHealth({ ...health, lastError: `refused: ${reason}` });
    await this.events.onStop?.(this.m.clusterId);
  }

  /**
   * Tells the control plane what this node's workloads are doing. A report
   * refused for a transient reason is kept (the latest state per service) and
   * sent again with backoff until it goes through; a definitive refusal
   * drops it and throws.
   */
  async reportServices(reports: WorkloadReport[]): Promise<void> {
    // Roles this agent does not know are not the control plane's to hear about (the contract would refuse them).
    for (const { service_type, ...r } of reports) if (isNodeRole(service_type)) this.services.set(service_type, { ...r, service_type });
    await this.flushServices();
  }

  private async flushServices(): Promise<void> {
    // A retry is scheduled: it carries what was just added.
    if (this.servicesRetry !== null || this.stopped) return;
    const batch = [...this.services.values()];
    if (batch.length === 0) return;
    try {
      const token = await this.client.nodeToken(this.key, this.m.clusterId);
      await this.client.call("services", { token, body: { services: batch } });
    } catch (err) {
      if (!isTransient(err)) {
        for (const r of batch) if (this.services.get(r.service_type) === r) this.services.delete(r.service_type);
        throw err;
      }
      const first = this.servicesBackoff.count === 0;
      const wait = this.servicesBackoff.next(err);
      if (first) this.events.log("service report held back; retrying with backoff", { cluster: this.m.clusterId, code: (err as AgentError).code });
      this.servicesRetry = this.clock.setTimeout(() => {
        this.servicesRetry = null;
        void this.flushServices().catch((e) => this.events.log("service report failed", { cluster: this.m.clusterId, error: String(e) }));
      }, wait);
      return;
    }
    for (const r of batch) if (this.services.get(r.service_type) === r) this.services.delete(r.service_type);
    if (this.servicesBackoff.count > 0) this.events.log("service report sent after retries", { cluster: this.m.clusterId });
    this.servicesBackoff.reset();
  }

  /**
   * One mesh call of `kind`, held back after a transient refusal until its
   * backoff (or the server's `Retry-After`) has passed: the mesh asks again
   * every tick, and must not hammer a control plane that asked for less.
   */
  private async held<T>(kind: string, call: () => Promise<T>): Promise<T> {
    const hold = this.holds.get(kind);
    if (hold && this.clock.now().getTime() < hold.until)
      throw new AgentError("backing_off", `${kind}: waiting out the control plane's last refusal until ${new Date(hold.until).toISOString()}`);
    try {
      const r = await call();
      this.holds.delete(kind);
      return r;
    } catch (err) {
      if (isTransient(err)) {
        const backoff = hold?.backoff ?? new Backoff(this.random, REPORT_BACKOFF);
        this.holds.set(kind, { until: this.clock.now().getTime() + backoff.next(err), backoff });
      }
      throw err;
    }
  }

  /**
   * Desired state by long-poll: each request waits up to `waitSeconds` on the
   * control plane for a snapshot newer than the one applied. Errors back off
   * (1 s doubling to 30 s); the heartbeat loop records degraded mode.
   */
  async watchSnapshots(waitSeconds = 25): Promise<void> {
    const backoff = new Backoff(this.random, SNAPSHOT_BACKOFF);
    // Unreachable and 5xx are the heartbeat's to report (degraded mode); the rest is said here, once per change.
    let failing: string | null = null;
    while (!this.stopped) {
      if (this.refused) {
        await this.clock.sleep(1000);
        continue;
      }
      try {
        const token = await this.client.nodeToken(this.key, this.m.clusterId);
        const outcome = await this.syncSnapshot(token, await this.store.snapshotVersion(this.m.clusterId), waitSeconds);
        if (failing) this.events.log("snapshot polling works again", { cluster: this.m.clusterId, after: failing });
        failing = null;
        if (outcome === "rejected") {
          // The control plane keeps offering a snapshot we refuse: ask again later, not in a loop.
          await this.clock.sleep(backoff.next());
        } else {
          backoff.reset();
        }
      } catch (err) {
        if (!(err instanceof AgentError)) throw err;
        if (err.code === "node.auth_refused") {
          await this.refuse(err.message);
          continue;
        }
        const wait = backoff.next(err);
        const trouble = isTransient(err) ? troubleOf(err) : err.code;
        if (trouble !== failing && trouble !== "unreachable" && trouble !== "server_error")
          this.events.log("snapshot polling refused; retrying with backoff", {
            cluster: this.m.clusterId,
            code: err.code,
            retry_in_seconds: Math.ceil(wait / 1000),
          });
        failing = trouble;
        await this.clock.sleep(wait);
      }
    }
  }

  /** Renews the node certificate ahead of expiry until `stop()` (see renew.ts). */
  watchCertificate(): Promise<void> {
    return this.renewal.run();
  }

  stop(): void {
    this.stopped = true;
    this.renewal.stop();
    if (this.servicesRetry !== null) this.clock.clearTimeout(this.servicesRetry);
    this.servicesRetry = null;
  }

  /**
   * A new certificate for this node's key, checked (signed by the cluster CA
   * pinned at enrollment, for this cluster and node, for this key, valid
   * now) and stored in the membership before anything uses it.
   */
  private async renewCertificate(): Promise<string> {
    const token = await this.client.nodeToken(this.key, this.m.clusterId);
    const r = await this.client.call("certificate", { token, body: { csr: await certificateRequest(this.key, this.m.nodeName) } });
    const caPem = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(this.m.caChainPem ?? "")?.[0] ?? "";
    const ours = await verifyNodeCertificate(r.certificate, caPem, { clusterId: this.m.clusterId, nodeId: this.m.nodeId!, at: this.clock.now() }).catch(
      () => false,
    );
    if (!ours || !constantTimeEqual(certificateFacts(r.certificate).spki, fromB64(this.key.publicKey))) {
      throw new AgentError("certificate_invalid", "the renewed certificate is not the cluster CA's for this node and key");
    }
    this.m = { ...this.m, certificatePem: r.certificate };
    await this.store.saveMembership(this.m);
    return r.certificate;
  }

  get membership(): Membership {
    return this.m;
  }

  /** The mesh directory of the stored snapshot, or null when this node has no mesh role. */
  async directory(): Promise<Directory | null> {
    const snap = await this.store.snapshot(this.m.clusterId);
    if (!snap?.body.mesh) return null;
    const { peers, relays, route_paths, relay_leases } = snap.body.mesh;
    return {
      version: snap.version,
      roles: snap.body.roles.map((r) => r.role),
      revocation_list_version: snap.body.revocation_list_version,
      peers,
      relays,
      route_paths,
      relay_leases,
    };
  }

  /** The mesh's way to the control plane, with this node's session. */
  meshControl(): MeshControl {
    const token = () => this.client.nodeToken(this.key, this.m.clusterId);
    return {
      advertise: (address: string) =>
        this.held("advertise", async () => void (await this.client.call("meshEndpoint", { token: await token(), body: { address } }))),
      reportLinks: (observations: LinkObservation[]) =>
        this.held(
          "links",
          async () => void (observations.length ? await this.client.call("links", { token: await token(), body: { observations } }) : undefined),
        ),
      reportRouteHealth: (reports) =>
        this.held("routeHealth", async () => void (await this.client.call("routeHealth", { token: await token(), body: { reports } }))),
      revokedSerials: async () => {
        const r = await this.held("revocations", async () => this.client.call("revocations", { token: await token() }));
        if (!r.revocation_list) return { version: r.version, serials: [] };
        const { serials } = await verifyRevocationList(r.revocation_list, { authorityPublicKey: this.m.authorityPublicKey!, clusterId: this.m.clusterId });
        return { version: r.version, serials };
      },
    };
  }

  /** The VPN roles' calls (lease renewals and releases, the owner's WireGuard secret), with this node's session. */
  vpnControl(): VpnControl {
    const token = () => this.client.nodeToken(this.key, this.m.clusterId);
    return {
      lease: controlLeasePort(this.client, token),
      secret: async (connectionId) => this.client.call("vpnSecret", { token: await token(), params: { connectionId } }),
    };
  }

  /** The remote-session calls of the entry-node and ssh-worker roles, with this node's session. */
  sessionControl(): EntryControl & AdapterControl {
    const token = () => this.client.nodeToken(this.key, this.m.clusterId);
    return {
      entryPolicy: async () => {
        const entry = (await this.store.snapshot(this.m.clusterId))?.body.entry;
        return entry ? { keys: entry.token_validation_keys, maxTtlSeconds: entry.policy.max_token_ttl_seconds } : null;
      },
      redeem: async (t, sessionId) => this.client.call("redeemToken", { token: await token(), body: { token: t, session_id: sessionId } }),
      report: async (sessionId, body) => void (await this.client.call("sessionEvent", { token: await token(), params: { sessionId }, body })),
      publish: async (body) => void (await this.client.call("entryEndpoint", { token: await token(), body })),
      assignments: async () => (await this.client.call("sessionAssignments", { token: await token() })).assignments,
      credentials: async (sessionId) => this.client.call("sessionCredentials", { token: await token(), params: { sessionId } }),
    };
  }

  private async syncSnapshot(token: string, currentVersion: number | null, waitSeconds: number): Promise<"applied" | "unchanged" | "rejected"> {
    const query = currentVersion !== null ? { after_version: String(currentVersion), wait: String(waitSeconds) } : {};
    const r = await this.client.call("snapshot", { token, query, timeoutMs: (waitSeconds + 10) * 1000 });
    if (!r.changed) return "unchanged";
    try {
      const doc = await verifySnapshot(r.snapshot, {
        authorityPublicKey: this.m.authorityPublicKey!,
        clusterId: this.m.clusterId,
        nodeId: this.m.nodeId!,
        currentVersion,
      });
      await this.store.applySnapshot(this.m.clusterId, doc.version, r.snapshot, doc);
      this.events.log("snapshot applied", { cluster: this.m.clusterId, version: doc.version, roles: doc.roles.map((x) => x.role) });
      this.events.onSnapshot?.(this.m.clusterId);
      return "applied";
    } catch (err) {
      if (!(err instanceof AgentError)) throw err;
      // Kept out of use, counted, and reported in the next heartbeat; the last valid snapshot stays in force.
      this.rejected++;
      this.events.log("snapshot rejected", { cluster: this.m.clusterId, reason: err.message });
      return "rejected";
    }
  }
}
