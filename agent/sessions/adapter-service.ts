/**
 * The adapter roles (`ssh-worker`, `rdp-worker`): run the SSH terminals and
 * remote desktops of the remote sessions the control plane assigned to this
 * node, and nothing else. It reads its assignments, fetches a session's
 * credentials only when it connects (never logged, never stored), starts the
 * terminal or desktop in Rust (crates/fabric-ssh, crates/fabric-rdp, through
 * the mesh addon, which splices the entry's session streams onto it), stops
 * the ones the control plane wants stopped, and reports `started`, `failed`
 * and `ended`. Only the protocols of the roles this node holds are served.
 * SSH host keys are checked strictly against the pinned fingerprint unless
 * the resource says `ignore` (a strict resource with no pin fails to start
 * with a reason that says how to fix it); RDP certificates against the pin,
 * or without one against the system's trusted roots. A resource routed
 * through a VPN connection is dialled through the connection's current owner
 * (`via_vpn`, docs/vpn.md).
 */
import type { AdapterAssignment, SessionCredentials, SessionEventBody } from "../../core/contracts/adapter.ts";
import { every, type Clock } from "../clock.ts";
import type { RdpStart, SshStart, VpnRoute } from "../../crates/fabric-quic/index.ts";

export type AdapterProtocol = "ssh" | "rdp";

export type AdapterEvent = { type: "ended"; session_id: string; reason: string };

/** The adapter runtime as the agent drives it. */
export interface AdapterTransport {
  /** Resolves once the shell runs; rejects with an Error whose message starts with the stable code (`adapter.auth_failed: …`). */
  startSsh(sessionId: string, start: SshStart): Promise<void>;
  /** Resolves once the desktop runs; rejects like `startSsh`. */
  startRdp(sessionId: string, start: RdpStart): Promise<void>;
  /** Entry nodes allowed for a running session changed (a reattach through another entry). */
  allowEntries(sessionId: string, entryNodeIds: string[]): void;
  stop(sessionId: string): void;
  /** The next ended session; null once the mesh endpoint closed (its terminals end with it). */
  nextEvent(): Promise<AdapterEvent | null>;
}

export interface AdapterControl {
  assignments(): Promise<AdapterAssignment[]>;
  credentials(sessionId: string): Promise<SessionCredentials>;
  report(sessionId: string, body: SessionEventBody): Promise<void>;
}

/** How often assignments are read: a new session waits at most this long to start. */
export const ASSIGNMENT_POLL_MS = 1000;

interface Local {
  state: "starting" | "running" | "stopping";
  entries: string;
  protocol: AdapterProtocol;
}

export class AdapterService {
  private readonly local = new Map<string, Local>();
  private stopPolling: (() => void) | null = null;
  private events: Promise<void> | null = null;
  private polling = false;

  constructor(
    private readonly transport: AdapterTransport,
    private readonly o: {
      control: AdapterControl;
      clock: Clock;
      log: (msg: string, fields?: Record<string, unknown>) => void;
      pollMs?: number;
      /** Where per-session transfer folders of remote desktops live (`<root>/<session id>/`). */
      transferRoot: string;
    },
  ) {}

  /** The protocols this node's roles serve now; sessions of any other are stopped at the next poll. */
  private protocols = new Set<AdapterProtocol>();

  serve(protocols: Iterable<AdapterProtocol>): void {
    this.protocols = new Set(protocols);
  }

  /** Starts reading assignments (again, after `pause`). */
  start(): void {
    this.events ??= this.watchEvents();
    if (this.stopPolling) return;
    this.stopPolling = every(this.o.clock, this.o.pollMs ?? ASSIGNMENT_POLL_MS, () => void this.poll());
    void this.poll();
  }

  /** The role was withdrawn: stop reading assignments and stop every terminal (the control plane fails their sessions). */
  pause(): void {
    this.stopPolling?.();
    this.stopPolling = null;
    for (const [id, mine] of this.local) this.stopSession(id, mine);
  }

  /** Sessions this node runs now, by protocol, for status. */
  sessions(): Record<AdapterProtocol, number> {
    const count = { ssh: 0, rdp: 0 };
    for (const mine of this.local.values()) count[mine.protocol] += 1;
    return count;
  }

  /** One round: start what is wanted, stop what is not, forget what the control plane no longer lists. */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const assignments = (await this.o.control.assignments()).filter((a) => this.protocols.has(a.resource.protocol as AdapterProtocol));
      const listed = new Set(assignments.map((a) => a.session_id));
      for (const a of assignments) {
        const mine = this.local.get(a.session_id);
        if (a.desired === "stopped") {
          if (mine && mine.state !== "stopping") this.stopSession(a.session_id, mine);
          else if (!mine) await this.report(a.session_id, { type: "adapter.ended", reason: "stopped" });
        } else if (!mine) {
          void this.startSession(a);
        } else if (mine.entries !== a.entry_node_ids.join()) {
          mine.entries = a.entry_node_ids.join();
          this.transport.allowEntries(a.session_id, a.entry_node_ids);
        }
      }
      // Ended or failed on the control plane (or taken away): nothing to report, only to stop.
      for (const [id, mine] of this.local) if (!listed.has(id) && mine.state !== "stopping") this.stopSession(id, mine);
    } catch (err) {
      this.o.log("adapter could not read its assignments", { error: err instanceof Error ? err.message : String(err) });
    } finally {
      this.polling = false;
    }
  }

  private stopSession(id: string, mine: Local): void {
    mine.state = "stopping";
    this.transport.stop(id);
  }

  private async startSession(a: AdapterAssignment): Promise<void> {
    const id = a.session_id;
    const protocol = a.resource.protocol as AdapterProtocol;
    this.local.set(id, { state: "starting", entries: a.entry_node_ids.join(), protocol });
    try {
      if (protocol === "ssh" && a.resource.verification === "strict" && !a.resource.host_key_fingerprint) {
        throw new Error(
          "adapter.host_key_unpinned: strict host-key verification needs the server's key: set the resource's host_key_fingerprint (ssh-keygen -l -f the host key), or verification ignore",
        );
      }
      if (!a.resource.has_credentials) throw new Error("adapter.no_credentials: the resource has no stored credentials to log in with");
      const viaVpn = vpnRouteOf(a);
      const creds = await this.o.control.credentials(id);
      if (!creds.username) throw new Error("adapter.credentials_invalid: the resource's secret has no username");
      if (protocol === "ssh") await this.transport.startSsh(id, { ...sshStart(a, creds), via_vpn: viaVpn });
      else {
        if (!creds.password) throw new Error("adapter.credentials_invalid: the resource's secret has no password (RDP logs in with one)");
        await this.transport.startRdp(id, { ...rdpStart(a, creds, this.o.transferRoot), via_vpn: viaVpn });
      }
      const mine = this.local.get(id);
      if (!mine || mine.state === "stopping") return;
      mine.state = "running";
      this.o.log(`${protocol} session started`, { session: id });
      await this.report(id, { type: "adapter.started" });
    } catch (err) {
      this.local.delete(id);
      // Native refusals carry their code apart from the message (MeshError); our own start with it.
      const code = (err as { code?: unknown }).code;
      const message = err instanceof Error ? err.message : String(err);
      const reason = (typeof code === "string" ? `${code}: ${message}` : message).slice(0, 500) || "adapter.start_failed";
      this.o.log(`${protocol} session failed to start`, { session: id, reason });
      await this.report(id, { type: "adapter.failed", reason });
    }
  }

  private async watchEvents(): Promise<void> {
    for (let e = await this.transport.nextEvent(); e; e = await this.transport.nextEvent()) {
      const mine = this.local.get(e.session_id);
      this.local.delete(e.session_id);
      if (!mine) continue;
      this.o.log(`${mine.protocol} session ended`, { session: e.session_id, reason: e.reason });
      await this.report(e.session_id, { type: "adapter.ended", reason: e.reason.slice(0, 500) || "ended" });
    }
  }

  private async report(sessionId: string, body: SessionEventBody): Promise<void> {
    try {
      await this.o.control.report(sessionId, body);
    } catch (err) {
      this.o.log("adapter could not report a session event", {
        session: sessionId,
        type: body.type,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
}

/**
 * Where the session's TCP goes when its resource routes through a VPN connection: the lease's current owner under
 * its epoch (the owner checks both, the service and the target). Fails with a clear reason when the connection's
 * policy no longer allows the resource or nobody holds the lease.
 */
function vpnRouteOf(a: AdapterAssignment): VpnRoute | null {
  if (!a.vpn) return null;
  if (a.vpn.refused) throw new Error(`adapter.vpn_not_allowed: ${a.vpn.refused}`);
  if (!a.vpn.owner_node_id || a.vpn.epoch < 1) {
    throw new Error("adapter.vpn_no_owner: the resource's VPN connection has no active node now (disabled, or failing over); try again shortly");
  }
  return { connection_id: a.vpn.connection_id, owner_node_id: a.vpn.owner_node_id, epoch: a.vpn.epoch, resource_id: a.resource.id };
}

function sshStart(a: AdapterAssignment, creds: SessionCredentials): SshStart {
  return {
    host: a.resource.target_host,
    port: a.resource.target_port,
    username: creds.username!,
    password: creds.password,
    private_key: creds.private_key,
    host_key: a.resource.verification === "ignore" ? null : a.resource.host_key_fingerprint,
    entry_node_ids: a.entry_node_ids,
  };
}

function rdpStart(a: AdapterAssignment, creds: SessionCredentials, transferRoot: string): RdpStart {
  return {
    host: a.resource.target_host,
    port: a.resource.target_port,
    username: creds.username!,
    password: creds.password!,
    domain: creds.domain,
    certificate: a.resource.verification === "ignore" ? null : a.resource.host_key_fingerprint,
    verification: a.resource.verification,
    quality: a.policy.quality,
    clipboard: a.policy.clipboard,
    file_transfer: a.policy.file_transfer,
    transfer_root: transferRoot,
    entry_node_ids: a.entry_node_ids,
  };
}
