/**
 * The running agent for one cluster membership: a node session from the
 * node's own key, a heartbeat with live telemetry every interval, and the
 * signed snapshot checked each round (verified against the pinned authority
 * before it is stored). When the control plane cannot be reached the agent
 * keeps running from its last valid snapshot and records that it is degraded;
 * it never decides anything the authority owns. A node the control plane
 * refuses (revoked or disabled) stops.
 */
import { AgentError, ControlPlaneClient } from "./client.ts";
import { loadOrCreateKey, type NodeKey } from "./keys.ts";
import { telemetry } from "./host-facts.ts";
import { verifySnapshot } from "./verify.ts";
import type { AgentStore, Membership } from "./store.ts";

export const AGENT_VERSION = "0.1.0";

export interface RunnerEvents { log: (line: string, fields?: Record<string, unknown>) => void }

export class ClusterRunner {
  private seq = Date.now();
  private rejected = 0;
  private stopped = false;
  refused: string | null = null;

  private constructor(private readonly store: AgentStore, private readonly m: Membership, private readonly key: NodeKey, private readonly client: ControlPlaneClient, private readonly events: RunnerEvents) {}

  static async open(store: AgentStore, m: Membership, stateDir: string, events: RunnerEvents): Promise<ClusterRunner> {
    if (m.status !== "enrolled" || !m.nodeId || !m.authorityPublicKey) throw new AgentError("not_enrolled", `cluster ${m.clusterId} is not enrolled`);
    const key = await loadOrCreateKey(stateDir, m.clusterId);
    if (key.fingerprint !== m.fingerprint) throw new AgentError("key_mismatch", `the key file for cluster ${m.clusterId} is not the enrolled key; fix: restore ${key.keyFile} or enroll again`);
    return new ClusterRunner(store, m, key, new ControlPlaneClient(m.controlPlaneUrl), events);
  }

  get clusterId(): string {
    return this.m.clusterId;
  }

  /** One round: session, heartbeat, snapshot. Never throws for a missing control plane. */
  async tick(): Promise<void> {
    if (this.stopped) return;
    const health = (await this.store.health(this.m.clusterId)) ?? { clusterId: this.m.clusterId, controlPlaneReachable: true, degradedSince: null, lastHeartbeatAt: null, lastError: null };
    try {
      const token = await this.client.nodeToken(this.key, this.m.clusterId);
      const current = await this.store.snapshot(this.m.clusterId);
      await this.client.request("POST", "/api/v1/node-agents/heartbeat", {
        token,
        body: { seq: this.seq++, agent_version: AGENT_VERSION, telemetry: { ...telemetry(), snapshot_version: current?.version ?? 0, snapshot_rejections: this.rejected, degraded: !health.controlPlaneReachable } },
      });
      await this.syncSnapshot(token, current?.version ?? null);
      if (!health.controlPlaneReachable) this.events.log("control plane reachable again; leaving degraded mode", { cluster: this.m.clusterId });
      await this.store.saveHealth({ ...health, controlPlaneReachable: true, degradedSince: null, lastHeartbeatAt: new Date().toISOString(), lastError: null });
    } catch (err) {
      if (!(err instanceof AgentError)) throw err;
      if (err.code === "unreachable" || err.status >= 500) {
        if (health.controlPlaneReachable) this.events.log("control plane unreachable; running degraded from the last valid snapshot", { cluster: this.m.clusterId, error: err.message });
        await this.store.saveHealth({ ...health, controlPlaneReachable: false, degradedSince: health.degradedSince ?? new Date().toISOString(), lastError: err.message });
        return;
      }
      if (err.code === "node.auth_refused") {
        this.refused = err.message;
        this.stopped = true;
        this.client.forgetToken();
        this.events.log("the control plane refuses this node (revoked or disabled); stopping its work", { cluster: this.m.clusterId });
        await this.store.saveHealth({ ...health, lastError: `refused: ${err.message}` });
        return;
      }
      await this.store.saveHealth({ ...health, lastError: `${err.code}: ${err.message}` });
      this.events.log("control plane answered with an error", { cluster: this.m.clusterId, code: err.code });
    }
  }

  private async syncSnapshot(token: string, currentVersion: number | null): Promise<void> {
    const r = await this.client.request<{ version: number; changed: boolean; snapshot?: string }>("GET", `/api/v1/node-agents/snapshot${currentVersion !== null ? `?after_version=${currentVersion}` : ""}`, { token });
    if (!r.changed || !r.snapshot) return;
    try {
      const doc = await verifySnapshot(r.snapshot, { authorityPublicKey: this.m.authorityPublicKey!, clusterId: this.m.clusterId, nodeId: this.m.nodeId!, currentVersion });
      await this.store.applySnapshot(this.m.clusterId, doc.version, r.snapshot, doc as never);
      this.events.log("snapshot applied", { cluster: this.m.clusterId, version: doc.version, roles: doc.roles.map((x) => x.role) });
    } catch (err) {
      if (!(err instanceof AgentError)) throw err;
      // Kept out of use, counted, and reported in the next heartbeat; the last valid snapshot stays in force.
      this.rejected++;
      this.events.log("snapshot rejected", { cluster: this.m.clusterId, reason: err.message });
    }
  }
}
