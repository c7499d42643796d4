/**
 * The remote-session roles of one cluster membership, run inside the agent
 * beside its mesh endpoint (their bytes are spliced in Rust, on that
 * endpoint): `ssh-worker` runs the SSH terminals assigned to this node, and
 * `entry-node` takes client connections. Each starts when the signed
 * snapshot grants the role and stops when it is withdrawn or the mesh stops.
 */
import type { Mesh } from "../../crates/fabric-quic/index.ts";
import type { ClusterRunner } from "../run.ts";
import type { Clock } from "../clock.ts";
import { AdapterService, type AdapterTransport } from "./adapter-service.ts";

type Log = (msg: string, fields?: Record<string, unknown>) => void;

/** The adapter side of the mesh addon, as the ssh-worker service drives it. */
export function adapterTransport(mesh: Mesh): AdapterTransport {
  return {
    startSsh: (sessionId, start) => mesh.startSsh(sessionId, start),
    allowEntries: (sessionId, ids) => mesh.allowSessionEntries(sessionId, ids),
    stop: (sessionId) => mesh.stopSsh(sessionId),
    nextEvent: () => mesh.nextAdapterEvent(),
    // The terminals end with the mesh endpoint (its close stops them all).
    close: async () => undefined,
  };
}

export class SessionRoles {
  /** One adapter service per mesh endpoint (the endpoint's adapter events have one reader); paused while the role is withdrawn. */
  private adapter: { service: AdapterService; mesh: Mesh; running: boolean } | null = null;

  constructor(
    private readonly runner: ClusterRunner,
    private readonly o: { log: Log; clock: Clock; assignmentPollMs?: number },
  ) {}

  /** Starts or stops each role to match the snapshot's roles, on the running mesh (null: the mesh is stopping). */
  async apply(roles: readonly string[], mesh: Mesh | null): Promise<void> {
    const wantAdapter = mesh !== null && roles.includes("ssh-worker");
    if (this.adapter && this.adapter.mesh !== mesh) {
      // The endpoint it ran on is closing: its terminals end with it.
      this.adapter.service.pause();
      this.adapter = null;
    }
    if (this.adapter?.running && !wantAdapter) {
      this.adapter.service.pause();
      this.adapter.running = false;
      this.o.log("ssh-worker stopped", { cluster: this.runner.clusterId });
    }
    if (wantAdapter && !this.adapter?.running) {
      this.adapter ??= {
        mesh,
        running: false,
        service: new AdapterService(adapterTransport(mesh), {
          control: this.runner.sessionControl(),
          clock: this.o.clock,
          log: (msg, f) => this.o.log(msg, { cluster: this.runner.clusterId, ...f }),
          pollMs: this.o.assignmentPollMs,
        }),
      };
      this.adapter.service.start();
      this.adapter.running = true;
      this.o.log("ssh-worker running", { cluster: this.runner.clusterId });
    }
  }

  stop(): Promise<void> {
    return this.apply([], null);
  }

  /** What `status` shows. */
  status(): { ssh_sessions: number | null } {
    return { ssh_sessions: this.adapter?.running ? this.adapter.service.sessions() : null };
  }
}
