/**
 * `rap-node-agent run` as a module: for every enrolled membership a
 * `ClusterRunner` (heartbeats, snapshots, certificate renewal), a workload
 * `Supervisor` and a `MeshMember`, wired together, on the clock and random
 * source it is given. `main.ts` starts it with the system ones; tests start
 * it in-process with a manual clock.
 */
import { sleep } from "../core/runtime/index.ts";
import { AgentError } from "./client.ts";
import { ClusterRunner } from "./run.ts";
import { Supervisor, type WorkloadHealth, type WorkloadSpec } from "./supervisor.ts";
import { MeshMember, type MeshSettings } from "./mesh/member.ts";
import { VpnMember } from "./vpn/member.ts";
import { vpnHistoryFile } from "./vpn/history-file.ts";
import { DEFAULT_DNS_LISTEN, DnsStub } from "./vpn/dns-stub.ts";
import type { AgentStore } from "./store.ts";
import type { Clock, Random, Timer } from "./clock.ts";

export interface AgentOptions {
  store: AgentStore;
  stateDir: string;
  heartbeatIntervalMs: number;
  /** Workload implementations by role. */
  registry: Record<string, WorkloadSpec>;
  mesh: MeshSettings;
  /** The VPN client's DNS stub (agent/vpn/dns-stub.ts): where it listens, and the host's resolvers (empty: /etc/resolv.conf). */
  vpnDns?: { listen: string; upstreams: string[] };
  log: (msg: string, fields?: Record<string, unknown>) => void;
  clock: Clock;
  random: Random;
  /** The self-update driver (agent/updates/updater.ts), when the agent runs under the launcher. */
  updater?: {
    controlPlaneReached(): void;
    tick(): Promise<void>;
    telemetry(): Record<string, unknown>;
    offer(update: ClusterRunner["updateRequest"]): Promise<void>;
    watchWorkloads(health: () => WorkloadHealth[]): void;
  };
}

/** How long `stop()` waits for snapshot long-polls in flight (real network requests). */
const STOP_WAIT_MS = 2000;

export class Agent {
  private stopping = false;
  private readonly wakers = new Set<() => void>();
  private loops: Promise<unknown>[] = [];

  private constructor(
    private readonly o: AgentOptions,
    readonly runners: ClusterRunner[],
    readonly members: Map<string, MeshMember>,
    private readonly supervisors: Map<string, Supervisor>,
    readonly vpn: Map<string, VpnMember>,
  ) {}

  /** Opens every enrolled membership and starts the work its last valid snapshot authorizes; the loops run until `stop()`. */
  static async start(o: AgentOptions): Promise<Agent> {
    const memberships = (await o.store.memberships()).filter((m) => m.status === "enrolled");
    if (memberships.length === 0) throw new AgentError("not_enrolled", "this host is not enrolled in any cluster; run `rap-node-agent enroll` first");
    const supervisors = new Map<string, Supervisor>();
    const members = new Map<string, MeshMember>();
    const vpn = new Map<string, VpnMember>();
    const runners: ClusterRunner[] = [];
    // One DNS stub for the host, whatever the number of memberships: it listens while any has a VPN client connection.
    const dns = new DnsStub({ listen: o.vpnDns?.listen ?? DEFAULT_DNS_LISTEN, upstreams: o.vpnDns?.upstreams ?? [], log: o.log });
    // The VPN roles follow each snapshot once the mesh applied it: they run on its pump.
    const refreshMesh = async (clusterId: string) => {
      const member = members.get(clusterId)!;
      await member.refresh();
      // A refused node runs nothing (onStop closed its VPN work).
      if (runners.find((r) => r.clusterId === clusterId)?.refused) return;
      const body = (await o.store.snapshot(clusterId))?.body ?? null;
      await vpn.get(clusterId)!.apply(body, member.running?.mesh ?? null);
    };
    const time = { clock: o.clock, random: o.random };
    const reconcile = async (clusterId: string) => {
      const wanted = (await o.store.assignments(clusterId)).map((a) => a.serviceType);
      // A refused node runs nothing, even when a snapshot applied just before the refusal (a new
      // revocation list moves every node's snapshot) still names its roles.
      if (runners.find((r) => r.clusterId === clusterId)?.refused) return;
      await supervisors.get(clusterId)!.reconcile(wanted);
    };
    for (const m of memberships) {
      const runner = await ClusterRunner.open(
        o.store,
        m,
        o.stateDir,
        {
          log: o.log,
          onSnapshot: (clusterId) => {
            void reconcile(clusterId);
            void refreshMesh(clusterId).catch((e) => o.log("vpn could not apply the snapshot", { cluster: clusterId, error: String(e) }));
          },
          onControlPlane: (clusterId, reachable) => {
            members.get(clusterId)!.controlPlane(reachable);
            if (reachable) o.updater?.controlPlaneReached();
          },
          onStop: async (clusterId) => {
            await vpn.get(clusterId)!.close();
            await members.get(clusterId)!.stop();
            await supervisors.get(clusterId)!.stopAll();
          },
          onCertificate: (clusterId, certPem) => members.get(clusterId)!.renewed(certPem),
          telemetry: o.updater ? () => o.updater!.telemetry() : undefined,
        },
        o.clock,
        o.random,
      );
      // Each further cluster listens on the next port (when a port is given).
      const statusExtra = () => ({ vpn: vpn.get(m.clusterId)?.status() ?? null });
      members.set(
        m.clusterId,
        new MeshMember(runner, o.store, o.stateDir, { ...o.mesh, listen: nthPort(o.mesh.listen, members.size) }, o.log, time, statusExtra),
      );
      supervisors.set(
        m.clusterId,
        new Supervisor({
          registry: o.registry,
          report: (r) => runner.reportServices(r),
          log: (msg, f) => o.log(msg, { cluster: m.clusterId, ...f }),
          clock: o.clock,
        }),
      );
      vpn.set(
        m.clusterId,
        new VpnMember({
          nodeId: m.nodeId!,
          historyFile: vpnHistoryFile(o.stateDir, m.clusterId),
          clock: o.clock,
          control: runner.vpnControl(),
          dns,
          log: (msg, f) => o.log(msg, { cluster: m.clusterId, ...f }),
          maxUdpPayload: o.mesh.maxUdpPayload,
        }),
      );
      runners.push(runner);
    }
    const agent = new Agent(o, runners, members, supervisors, vpn);
    // An update's health check includes every workload this agent runs, in every cluster.
    o.updater?.watchWorkloads(() => [...supervisors.values()].flatMap((s) => s.health()));
    o.log("agent running", {
      clusters: runners.map((r) => r.clusterId),
      heartbeat_interval_seconds: o.heartbeatIntervalMs / 1000,
      workloads: Object.keys(o.registry),
    });
    // Work already authorized by the last valid snapshot starts even before the control plane answers.
    for (const r of runners) await reconcile(r.clusterId);
    // The mesh starts alongside; heartbeats and snapshots never wait for it.
    for (const r of runners) void refreshMesh(r.clusterId).catch((e) => o.log("vpn could not apply the snapshot", { cluster: r.clusterId, error: String(e) }));
    agent.loops = [...runners.map((r) => r.watchSnapshots()), ...runners.map((r) => r.watchCertificate()), ...runners.map((r) => agent.heartbeats(r))];
    return agent;
  }

  runner(clusterId: string): ClusterRunner {
    const r = this.runners.find((x) => x.clusterId === clusterId);
    if (!r) throw new Error(`no membership for cluster ${clusterId}`);
    return r;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const wake of [...this.wakers]) wake();
    for (const r of this.runners) r.stop();
    // Forwarding stops (fenced) before the mesh it runs on.
    for (const v of this.vpn.values()) await v.close();
    for (const member of this.members.values()) await member.stop();
    for (const s of this.supervisors.values()) await s.stopAll();
    await Promise.race([Promise.all(this.loops), sleep(STOP_WAIT_MS)]);
    this.o.log("agent stopped");
  }

  /** One membership's heartbeats: every interval, or sooner or later as the runner's backoff says after a refusal. */
  private async heartbeats(runner: ClusterRunner): Promise<void> {
    while (!this.stopping) {
      const retryIn = await runner.heartbeat(this.o.heartbeatIntervalMs);
      await this.o.updater
        ?.offer(runner.updateRequest)
        .catch((err: unknown) => this.o.log("update request not taken", { error: err instanceof Error ? err.message : String(err) }));
      await this.o.updater?.tick().catch((err: unknown) => this.o.log("update step failed", { error: err instanceof Error ? err.message : String(err) }));
      await new Promise<void>((resolve) => {
        let timer: Timer;
        const done = () => {
          this.wakers.delete(done);
          this.o.clock.clearTimeout(timer);
          resolve();
        };
        timer = this.o.clock.setTimeout(done, retryIn ?? this.o.heartbeatIntervalMs);
        this.wakers.add(done);
        if (this.stopping) done();
      });
    }
  }
}

function nthPort(address: string, n: number): string {
  const i = address.lastIndexOf(":");
  const port = Number(address.slice(i + 1));
  return port === 0 || n === 0 ? address : `${address.slice(0, i)}:${port + n}`;
}
