/**
 * The remote-session roles of one cluster membership, run inside the agent
 * beside its mesh endpoint (their bytes are spliced in Rust, on that
 * endpoint): `ssh-worker` and `rdp-worker` run the SSH terminals and remote
 * desktops assigned to this node, and `entry-node` takes client connections. Each starts when the signed
 * snapshot grants the role and stops when it is withdrawn or the mesh stops.
 */
import { rename, rm, writeFile } from "node:fs/promises";
import type { Mesh } from "../../crates/fabric-quic/index.ts";
import type { ClusterRunner } from "../run.ts";
import type { Clock } from "../clock.ts";
import { AdapterService, type AdapterProtocol, type AdapterTransport } from "./adapter-service.ts";
import { EntryService, type EntryEvent, type EntryTransport } from "./entry-service.ts";

type Log = (msg: string, fields?: Record<string, unknown>) => void;

/** Where an entry node takes clients (`rap-node-agent run --entry-*`). */
export interface EntrySettings {
  /** IP:port, UDP and TCP. */
  listen: string;
  /** The host clients use; undefined: the mesh's advertised host, else the bound address. */
  publicHost?: string;
  /** An operator certificate (PEM files); without them a self-signed one clients pin by hash. */
  certFile?: string;
  keyFile?: string;
}

/** The adapter roles and the protocol each serves. */
const ADAPTER_ROLE_PROTOCOLS: Record<string, AdapterProtocol> = { "ssh-worker": "ssh", "rdp-worker": "rdp" };

/** The adapter side of the mesh addon, as the adapter service drives it. */
export function adapterTransport(mesh: Mesh): AdapterTransport {
  return {
    startSsh: (sessionId, start) => mesh.startSsh(sessionId, start),
    startRdp: (sessionId, start) => mesh.startRdp(sessionId, start),
    allowEntries: (sessionId, ids) => mesh.allowSessionEntries(sessionId, ids),
    stop: (sessionId) => mesh.stopSession(sessionId),
    nextEvent: () => mesh.nextAdapterEvent(),
  };
}

/** A self-signed entry certificate lasts 14 days (the browsers' limit for pinned hashes); the entry restarts with a new one weekly. */
export const ENTRY_CERTIFICATE_RENEW_MS = 7 * 24 * 3600_000;

/** Starts the entry server on the mesh endpoint and gives the entry service its side of it. */
export async function entryTransport(mesh: Mesh, settings: EntrySettings, publicHost: string, certificateOut?: string): Promise<EntryTransport> {
  const started = await mesh.startEntry({
    listen: settings.listen,
    ...(settings.certFile && settings.keyFile ? { cert_file: settings.certFile, key_file: settings.keyFile } : {}),
    names: [...new Set([publicHost, "localhost", "127.0.0.1"])],
  });
  // Public: what clients pin (or a test trusts). Written whole or not at all.
  if (certificateOut) {
    await writeFile(`${certificateOut}.tmp`, started.certificate_pem, { mode: 0o644 });
    await rename(`${certificateOut}.tmp`, certificateOut);
  }
  return {
    port: started.port,
    certificateSha256: started.certificate_sha256,
    nextEvent: async () => (await mesh.nextEntryEvent()) as EntryEvent | null,
    admit: (id, a) => mesh.admitEntry(id, a),
    refuse: (id, e) => mesh.refuseEntry(id, e),
    push: (id, n) => mesh.pushEntry(id, n),
    stop: () => mesh.stopEntry(),
  };
}

export class SessionRoles {
  /** One adapter service per mesh endpoint (the endpoint's adapter events have one reader); paused while the role is withdrawn. */
  private adapter: { service: AdapterService; mesh: Mesh; running: boolean } | null = null;
  private entry: { service: EntryService; mesh: Mesh; startedAt: number } | null = null;

  constructor(
    private readonly runner: ClusterRunner,
    private readonly o: {
      log: Log;
      clock: Clock;
      assignmentPollMs?: number;
      entry?: EntrySettings;
      meshHost?: () => string;
      /** Where the entry's certificate (PEM) is written for operators and clients to pin. */
      entryCertificateFile?: string;
      /** Where remote desktops keep their per-session transfer folders. */
      transferRoot: string;
    },
  ) {}

  /** Starts or stops each role to match the snapshot's roles, on the running mesh (null: the mesh is stopping). */
  async apply(roles: readonly string[], mesh: Mesh | null): Promise<void> {
    await this.applyAdapter(roles, mesh);
    await this.applyEntry(roles, mesh);
  }

  private async applyEntry(roles: readonly string[], mesh: Mesh | null): Promise<void> {
    const want = mesh !== null && roles.includes("entry-node") && this.o.entry !== undefined;
    const selfSigned = !this.o.entry?.certFile;
    const stale = this.entry && selfSigned && this.o.clock.now().getTime() - this.entry.startedAt > ENTRY_CERTIFICATE_RENEW_MS;
    if (this.entry && (!want || this.entry.mesh !== mesh || stale)) {
      await this.entry.service.stop().catch(() => undefined);
      this.entry = null;
      this.o.log("entry stopped", { cluster: this.runner.clusterId, ...(stale ? { reason: "certificate renewal" } : {}) });
    }
    if (!want || this.entry || !mesh || !this.o.entry) return;
    const publicHost = this.o.entry.publicHost ?? this.o.meshHost?.() ?? "127.0.0.1";
    let transport: EntryTransport;
    try {
      transport = await entryTransport(mesh, this.o.entry, publicHost, this.o.entryCertificateFile);
    } catch (err) {
      // Logged with its fix; the role is tried again on the next snapshot and every hour.
      this.o.log("entry could not start", {
        cluster: this.runner.clusterId,
        listen: this.o.entry.listen,
        error: err instanceof Error ? err.message : String(err),
        fix: "free that port or choose another with --entry-listen; check --entry-cert and --entry-key",
      });
      return;
    }
    const service = new EntryService(transport, {
      nodeId: mesh.nodeId,
      control: this.runner.sessionControl(),
      publicHost,
      clock: this.o.clock,
      log: (msg, f) => this.o.log(msg, { cluster: this.runner.clusterId, ...f }),
    });
    try {
      await service.start();
    } catch (err) {
      // Not published: clients could not find it. Stop it; the next snapshot (or restart) tries again.
      await transport.stop();
      throw err;
    }
    this.entry = { service, mesh, startedAt: this.o.clock.now().getTime() };
  }

  private async applyAdapter(roles: readonly string[], mesh: Mesh | null): Promise<void> {
    const protocols = roles.flatMap((r) => ADAPTER_ROLE_PROTOCOLS[r] ?? []);
    const wantAdapter = mesh !== null && protocols.length > 0;
    this.adapter?.service.serve(protocols);
    if (this.adapter && this.adapter.mesh !== mesh) {
      // The endpoint it ran on is closing: its terminals end with it.
      this.adapter.service.pause();
      this.adapter = null;
    }
    if (this.adapter?.running && !wantAdapter) {
      this.adapter.service.pause();
      this.adapter.running = false;
      this.o.log("adapter stopped", { cluster: this.runner.clusterId });
    }
    if (wantAdapter && !this.adapter?.running) {
      if (!this.adapter) {
        // Desktops do not outlive the endpoint that ran them: transfer folders left by an earlier run (a killed agent) go.
        await rm(this.o.transferRoot, { recursive: true, force: true }).catch((err) =>
          this.o.log("could not remove old transfer folders", { path: this.o.transferRoot, error: err instanceof Error ? err.message : String(err) }),
        );
      }
      this.adapter ??= {
        mesh,
        running: false,
        service: new AdapterService(adapterTransport(mesh), {
          control: this.runner.sessionControl(),
          clock: this.o.clock,
          log: (msg, f) => this.o.log(msg, { cluster: this.runner.clusterId, ...f }),
          pollMs: this.o.assignmentPollMs,
          transferRoot: this.o.transferRoot,
        }),
      };
      this.adapter.service.serve(protocols);
      this.adapter.service.start();
      this.adapter.running = true;
      this.o.log("adapter running", { cluster: this.runner.clusterId, protocols });
    }
  }

  stop(): Promise<void> {
    return this.apply([], null);
  }

  /** What `status` shows. */
  status(): { ssh_sessions: number | null; rdp_sessions: number | null; entry: { url: string; connections: number } | null } {
    const sessions = this.adapter?.running ? this.adapter.service.sessions() : null;
    return {
      ssh_sessions: sessions?.ssh ?? null,
      rdp_sessions: sessions?.rdp ?? null,
      entry: this.entry ? { url: this.entry.service.url, connections: this.entry.service.connections() } : null,
    };
  }
}
