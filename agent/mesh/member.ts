/**
 * Runs the mesh for one cluster membership while its signed snapshot gives
 * the node a mesh role: starts the endpoint on the first such snapshot,
 * hands every later directory to it and every renewed certificate, stops it
 * when the role goes away or the control plane refuses the node, and keeps
 * `status` informed.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { MeshRuntime, type MeshRuntimeOptions } from "./runtime.ts";
import { readKeyPkcs8 } from "../keys.ts";
import type { ClusterRunner } from "../run.ts";
import type { AgentStore } from "../store.ts";
import { every, type Clock, type Random } from "../clock.ts";
import { SessionRoles, type EntrySettings } from "../sessions/roles.ts";

export interface MeshSettings {
  /** host:port to bind (port 0: any free port). */
  listen: string;
  advertise?: string;
  /** The largest UDP payload, 1200–8972 (default 1472; 8972 on a jumbo-frame underlay). */
  maxUdpPayload?: number;
  /** A JSON array of node ids this node refuses direct channels with, re-read every tick. */
  refuseFile?: string;
  tickMs?: number;
  linkReportMs?: number;
  shortcut?: MeshRuntimeOptions["shortcut"];
  shortcutProbationMs?: number;
  /** How often an ssh-worker reads its session assignments (default 1 s). */
  assignmentPollMs?: number;
  /** Where an entry node takes clients (the `entry-node` role). */
  entry?: EntrySettings;
}

/** More for the saved mesh status (`rap-node-agent status`): the VPN roles' state and counters. */
export type StatusExtra = () => Record<string, unknown>;

export class MeshMember {
  private runtime: MeshRuntime | null = null;
  private stopStatus: (() => void) | null = null;
  private applying: Promise<void> = Promise.resolve();
  private readonly sessions: SessionRoles;

  constructor(
    private readonly runner: ClusterRunner,
    private readonly store: AgentStore,
    private readonly stateDir: string,
    private readonly settings: MeshSettings,
    private readonly log: (line: string, fields?: Record<string, unknown>) => void,
    private readonly time: { clock: Clock; random: Random },
    private readonly statusExtra: StatusExtra = () => ({}),
  ) {
    this.sessions = new SessionRoles(runner, {
      log,
      clock: time.clock,
      assignmentPollMs: settings.assignmentPollMs,
      entry: settings.entry,
      entryCertificateFile: join(stateDir, `entry-certificate-${runner.clusterId}.pem`),
      // Per-session folders a remote desktop redirects to its target as a drive; only this node's agent reads them.
      transferRoot: join(stateDir, "transfers", runner.clusterId),
      // The entry's default public host: where peers reach this node's mesh.
      meshHost: () => {
        const a = this.runtime?.address ?? "127.0.0.1:0";
        return a.slice(0, a.lastIndexOf(":")).replace(/^\[(.*)\]$/, "$1");
      },
    });
  }

  /** The running mesh, if this node has a mesh role now. */
  get running(): MeshRuntime | null {
    return this.runtime;
  }

  /** Call after every new snapshot; serialised. */
  refresh(): Promise<void> {
    this.applying = this.applying.then(() => this.apply()).catch((e) => this.log("mesh could not apply the snapshot", { error: String(e) }));
    return this.applying;
  }

  private async apply(): Promise<void> {
    const dir = await this.runner.directory();
    if (!dir) return this.stop();
    if (!this.runtime) {
      const m = this.runner.membership;
      if (!m.certificatePem || !m.caChainPem || !m.nodeId) return;
      this.runtime = await MeshRuntime.start({
        clusterId: m.clusterId,
        nodeId: m.nodeId,
        certPem: m.certificatePem,
        caPem: m.caChainPem,
        keyPkcs8: await readKeyPkcs8(this.stateDir, m.clusterId),
        listen: this.settings.listen,
        advertise: this.settings.advertise,
        maxUdpPayload: this.settings.maxUdpPayload,
        control: this.runner.meshControl(),
        log: (line, f) => this.log(line, { cluster: m.clusterId, ...f }),
        refused: this.settings.refuseFile ? () => readRefused(this.settings.refuseFile!) : undefined,
        clock: this.time.clock,
        random: this.time.random,
        tickMs: this.settings.tickMs,
        linkReportMs: this.settings.linkReportMs,
        shortcut: this.settings.shortcut,
        shortcutProbationMs: this.settings.shortcutProbationMs,
      });
      const save = () =>
        void this.store
          .saveMeshStatus(m.clusterId, this.runtime ? { ...this.runtime.status(), sessions: this.sessions.status(), ...this.statusExtra() } : { stopped: true })
          .catch(() => undefined);
      const stopSaving = every(this.time.clock, 1000, save);
      // Hourly, even without a new snapshot: the session roles renew what ages (the entry's self-signed certificate).
      const stopAging = every(this.time.clock, 3600_000, () => void this.refresh());
      this.stopStatus = () => {
        stopSaving();
        stopAging();
      };
    }
    await this.runtime.apply(dir);
    await this.sessions.apply(dir.roles, this.runtime.mesh);
  }

  /** A renewed node certificate (already stored): the running mesh moves to it; a later start reads it from the membership. */
  renewed(certPem: string): Promise<void> {
    this.applying = this.applying.then(async () => {
      if (this.runtime) await this.runtime.setCertificate(certPem, await readKeyPkcs8(this.stateDir, this.runner.clusterId));
    });
    return this.applying;
  }

  /** Degraded mode: channels keep running from the last snapshot only until their TTL. */
  controlPlane(reachable: boolean): void {
    this.runtime?.controlPlane(reachable);
  }

  async stop(): Promise<void> {
    this.stopStatus?.();
    this.stopStatus = null;
    const rt = this.runtime;
    this.runtime = null;
    await this.sessions.stop();
    if (rt) {
      await rt.stop();
      await this.store.saveMeshStatus(this.runner.clusterId, { stopped: true }).catch(() => undefined);
      this.log("mesh stopped", { cluster: this.runner.clusterId });
    }
  }
}

async function readRefused(file: string): Promise<ReadonlySet<string>> {
  try {
    const ids = JSON.parse(await readFile(file, "utf8"));
    return new Set(Array.isArray(ids) ? ids.filter((x): x is string => typeof x === "string") : []);
  } catch {
    return new Set();
  }
}
