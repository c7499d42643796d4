/**
 * Node-local state in libsql (a file next to the keys). Every table is keyed
 * by cluster id: a host in two clusters keeps two memberships that share
 * nothing but the file. Versioned migrations of its own, applied at open.
 * The file is owner-only (0600); SQLite gives its -wal and -shm files the
 * database file's mode, so they follow.
 */
import type { SignedSnapshot } from "../core/contracts/snapshot.ts";
import { chmod, open } from "node:fs/promises";
import { createClient, type Client, type InValue } from "@libsql/client";
import type { Clock } from "./clock.ts";

/**
 * The store's schema, one transaction per version, applied at open. A release
 * that adds one lists it in its signed manifest as a `node_local_state`
 * migration bundle, so the agent backs the file up before the new version
 * opens it and restores the backup if the update rolls back
 * (agent/updates/store-backup.ts). Exported so that tests can build a
 * release whose agent carries one more.
 */
export const MIGRATIONS: { version: number; name: string; sql: string[] }[] = [
  {
    version: 1,
    name: "initial",
    sql: [
      `create table memberships (
        cluster_id text primary key, control_plane_url text not null, status text not null check (status in ('pending', 'enrolled', 'left')),
        node_name text not null, node_id text, join_request_id text, fingerprint text not null, public_key text not null,
        pinned_authority_fingerprint text, authority_public_key text, certificate_pem text, ca_chain_pem text,
        enrolled_at text, updated_at text not null)`,
      `create table snapshots (cluster_id text primary key, version integer not null, jws text not null, body text not null, received_at text not null)`,
      `create table peer_cache (cluster_id text not null, node_id text not null, name text not null, roles text not null, endpoints text not null, updated_at text not null, primary key (cluster_id, node_id))`,
      `create table route_cache (cluster_id text not null, destination text not null, via text not null, score real not null, updated_at text not null, primary key (cluster_id, destination))`,
      `create table service_assignments (cluster_id text not null, service_type text not null, organization_id text, config text not null, updated_at text not null, primary key (cluster_id, service_type))`,
      `create table health (cluster_id text primary key, control_plane_reachable integer not null, degraded_since text, last_heartbeat_at text, last_error text, updated_at text not null)`,
      `create table pending_updates (cluster_id text primary key, version text not null, metadata text not null, received_at text not null)`,
    ],
  },
  {
    version: 2,
    name: "mesh status",
    sql: [`create table mesh_status (cluster_id text primary key, body text not null, updated_at text not null)`],
  },
  {
    version: 3,
    name: "certificate renewal",
    sql: [
      `create table certificate_renewal (
        cluster_id text primary key, serial text not null, not_before text not null, not_after text not null, renew_at text not null,
        next_attempt_at text, failures integer not null, last_error text, last_attempt_at text, renewed_at text, updated_at text not null)`,
    ],
  },
];

export interface Membership {
  clusterId: string;
  controlPlaneUrl: string;
  status: "pending" | "enrolled" | "left";
  nodeName: string;
  nodeId: string | null;
  joinRequestId: string | null;
  fingerprint: string;
  publicKey: string;
  pinnedAuthorityFingerprint: string | null;
  authorityPublicKey: string | null;
  certificatePem: string | null;
  caChainPem: string | null;
  enrolledAt: string | null;
}

/** Renewal of the certificate in force (agent/renew.ts). */
export interface CertificateRenewalRow {
  clusterId: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  renewAt: Date;
  /** After a failure: when to try again. */
  nextAttemptAt: Date | null;
  /** Failed attempts in a row. */
  failures: number;
  lastError: string | null;
  lastAttemptAt: Date | null;
  renewedAt: Date | null;
}

export interface HealthRow {
  clusterId: string;
  controlPlaneReachable: boolean;
  degradedSince: string | null;
  lastHeartbeatAt: string | null;
  lastError: string | null;
}

export class AgentStore {
  /** `clock` dates the rows' bookkeeping columns (applied_at, received_at, updated_at). */
  private constructor(
    private readonly db: Client,
    private readonly clock: Clock,
  ) {}

  static async open(path: string, clock: Clock): Promise<AgentStore> {
    await privateFile(path);
    const db = createClient({ url: `file:${path}` });
    await db.execute("pragma journal_mode = wal");
    await db.execute("create table if not exists agent_migrations (version integer primary key, name text not null, applied_at text not null)");
    const done = new Set((await db.execute("select version from agent_migrations")).rows.map((r) => Number(r.version)));
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      const tx = await db.transaction("write");
      try {
        for (const stmt of m.sql) await tx.execute(stmt);
        await tx.execute({ sql: "insert into agent_migrations values (?, ?, ?)", args: [m.version, m.name, clock.now().toISOString()] });
        await tx.commit();
      } finally {
        tx.close();
      }
    }
    return new AgentStore(db, clock);
  }

  close(): void {
    this.db.close();
  }

  /** The newest schema version applied to this file. */
  async schemaVersion(): Promise<number> {
    return Number((await this.db.execute("select coalesce(max(version), 0) as v from agent_migrations")).rows[0]?.v ?? 0);
  }

  /** A consistent copy of the whole store in a new file (`vacuum into`), taken while the agent keeps running. */
  async backupTo(file: string): Promise<void> {
    await this.db.execute({ sql: "vacuum into ?", args: [file] });
  }

  async membership(clusterId: string): Promise<Membership | undefined> {
    const r = (await this.db.execute({ sql: "select * from memberships where cluster_id = ?", args: [clusterId] })).rows[0];
    return r && toMembership(r);
  }

  async memberships(): Promise<Membership[]> {
    return (await this.db.execute("select * from memberships order by cluster_id")).rows.map(toMembership);
  }

  async saveMembership(m: Membership): Promise<void> {
    const cols = [
      "cluster_id",
      "control_plane_url",
      "status",
      "node_name",
      "node_id",
      "join_request_id",
      "fingerprint",
      "public_key",
      "pinned_authority_fingerprint",
      "authority_public_key",
      "certificate_pem",
      "ca_chain_pem",
      "enrolled_at",
      "updated_at",
    ];
    const args: InValue[] = [
      m.clusterId,
      m.controlPlaneUrl,
      m.status,
      m.nodeName,
      m.nodeId,
      m.joinRequestId,
      m.fingerprint,
      m.publicKey,
      m.pinnedAuthorityFingerprint,
      m.authorityPublicKey,
      m.certificatePem,
      m.caChainPem,
      m.enrolledAt,
      this.clock.now().toISOString(),
    ];
    await this.db.execute({ sql: `insert or replace into memberships (${cols.join(", ")}) values (${cols.map(() => "?").join(", ")})`, args });
  }

  async removeMembership(clusterId: string): Promise<void> {
    const tx = await this.db.transaction("write");
    try {
      for (const table of [
        "memberships",
        "snapshots",
        "peer_cache",
        "route_cache",
        "service_assignments",
        "health",
        "pending_updates",
        "certificate_renewal",
      ]) {
        await tx.execute({ sql: `delete from ${table} where cluster_id = ?`, args: [clusterId] });
      }
      await tx.commit();
    } finally {
      tx.close();
    }
  }

  /** The applied snapshot; its body was checked against the contract (core/contracts/snapshot.ts) before it was stored. */
  async snapshot(clusterId: string): Promise<{ version: number; jws: string; body: SignedSnapshot; receivedAt: string } | undefined> {
    const r = (await this.db.execute({ sql: "select version, jws, body, received_at from snapshots where cluster_id = ?", args: [clusterId] })).rows[0];
    return r && { version: Number(r.version), jws: String(r.jws), body: JSON.parse(String(r.body)), receivedAt: String(r.received_at) };
  }

  /** Just the applied snapshot's version (heartbeats and long-polls need no more). */
  async snapshotVersion(clusterId: string): Promise<number | null> {
    const r = (await this.db.execute({ sql: "select version from snapshots where cluster_id = ?", args: [clusterId] })).rows[0];
    return r ? Number(r.version) : null;
  }

  /** Stores a verified snapshot and the caches derived from it, in one transaction. */
  async applySnapshot(clusterId: string, version: number, jws: string, body: SignedSnapshot): Promise<void> {
    const now = this.clock.now().toISOString();
    const tx = await this.db.transaction("write");
    try {
      await tx.execute({ sql: "insert or replace into snapshots values (?, ?, ?, ?, ?)", args: [clusterId, version, jws, JSON.stringify(body), now] });
      await tx.execute({ sql: "delete from peer_cache where cluster_id = ?", args: [clusterId] });
      for (const p of body.mesh?.peers ?? []) {
        await tx.execute({
          sql: "insert into peer_cache values (?, ?, ?, ?, ?, ?)",
          args: [clusterId, p.node_id, p.name, JSON.stringify(p.roles), JSON.stringify(p.endpoints), now],
        });
      }
      // Relay paths decided by the control plane seed the route cache; the routing engine refines them locally.
      await tx.execute({ sql: "delete from route_cache where cluster_id = ?", args: [clusterId] });
      for (const r of body.mesh?.route_paths ?? []) {
        await tx.execute({ sql: "insert into route_cache values (?, ?, ?, ?, ?)", args: [clusterId, r.to, JSON.stringify(r.via), r.via.length, now] });
      }
      await tx.execute({ sql: "delete from service_assignments where cluster_id = ?", args: [clusterId] });
      for (const r of body.roles ?? []) {
        const svc = body.services?.find((s) => s.role === r.role);
        await tx.execute({
          sql: "insert or replace into service_assignments values (?, ?, ?, ?, ?)",
          args: [clusterId, r.role, r.organization_id, JSON.stringify(svc ?? {}), now],
        });
      }
      await tx.commit();
    } finally {
      tx.close();
    }
  }

  async assignments(clusterId: string): Promise<{ serviceType: string; organizationId: string | null; config: Record<string, unknown> }[]> {
    const rows = (
      await this.db.execute({
        sql: "select service_type, organization_id, config from service_assignments where cluster_id = ? order by service_type",
        args: [clusterId],
      })
    ).rows;
    return rows.map((r) => ({
      serviceType: String(r.service_type),
      organizationId: r.organization_id === null ? null : String(r.organization_id),
      config: JSON.parse(String(r.config)),
    }));
  }

  async peers(clusterId: string): Promise<{ nodeId: string; name: string }[]> {
    return (await this.db.execute({ sql: "select node_id, name from peer_cache where cluster_id = ? order by name", args: [clusterId] })).rows.map((r) => ({
      nodeId: String(r.node_id),
      name: String(r.name),
    }));
  }

  async routes(clusterId: string): Promise<{ destination: string; via: string[] }[]> {
    const rows = (await this.db.execute({ sql: "select destination, via from route_cache where cluster_id = ? order by destination", args: [clusterId] })).rows;
    return rows.map((r) => ({ destination: String(r.destination), via: JSON.parse(String(r.via)) as string[] }));
  }

  async health(clusterId: string): Promise<HealthRow | undefined> {
    const r = (await this.db.execute({ sql: "select * from health where cluster_id = ?", args: [clusterId] })).rows[0];
    return (
      r && {
        clusterId,
        controlPlaneReachable: Number(r.control_plane_reachable) === 1,
        degradedSince: (r.degraded_since as string | null) ?? null,
        lastHeartbeatAt: (r.last_heartbeat_at as string | null) ?? null,
        lastError: (r.last_error as string | null) ?? null,
      }
    );
  }

  /** What the running mesh reports about itself, for `status`. */
  async saveMeshStatus(clusterId: string, body: unknown): Promise<void> {
    await this.db.execute({
      sql: "insert or replace into mesh_status values (?, ?, ?)",
      args: [clusterId, JSON.stringify(body), this.clock.now().toISOString()],
    });
  }

  async meshStatus(clusterId: string): Promise<{ body: Record<string, unknown>; updatedAt: string } | undefined> {
    const r = (await this.db.execute({ sql: "select body, updated_at from mesh_status where cluster_id = ?", args: [clusterId] })).rows[0];
    return r && { body: JSON.parse(String(r.body)), updatedAt: String(r.updated_at) };
  }

  async certificateRenewal(clusterId: string): Promise<CertificateRenewalRow | undefined> {
    const r = (await this.db.execute({ sql: "select * from certificate_renewal where cluster_id = ?", args: [clusterId] })).rows[0];
    if (!r) return undefined;
    const date = (k: string) => (r[k] === null || r[k] === undefined ? null : new Date(String(r[k])));
    return {
      clusterId,
      serial: String(r.serial),
      notBefore: date("not_before")!,
      notAfter: date("not_after")!,
      renewAt: date("renew_at")!,
      nextAttemptAt: date("next_attempt_at"),
      failures: Number(r.failures),
      lastError: r.last_error === null ? null : String(r.last_error),
      lastAttemptAt: date("last_attempt_at"),
      renewedAt: date("renewed_at"),
    };
  }

  async saveCertificateRenewal(c: CertificateRenewalRow): Promise<void> {
    const iso = (d: Date | null) => d?.toISOString() ?? null;
    await this.db.execute({
      sql: "insert or replace into certificate_renewal values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      args: [
        c.clusterId,
        c.serial,
        c.notBefore.toISOString(),
        c.notAfter.toISOString(),
        c.renewAt.toISOString(),
        iso(c.nextAttemptAt),
        c.failures,
        c.lastError,
        iso(c.lastAttemptAt),
        iso(c.renewedAt),
        this.clock.now().toISOString(),
      ],
    });
  }

  async saveHealth(h: HealthRow): Promise<void> {
    await this.db.execute({
      sql: "insert or replace into health values (?, ?, ?, ?, ?, ?)",
      args: [h.clusterId, h.controlPlaneReachable ? 1 : 0, h.degradedSince, h.lastHeartbeatAt, h.lastError, this.clock.now().toISOString()],
    });
  }
}

function toMembership(r: Record<string, unknown>): Membership {
  const s = (k: string) => (r[k] === null || r[k] === undefined ? null : String(r[k]));
  return {
    clusterId: String(r.cluster_id),
    controlPlaneUrl: String(r.control_plane_url),
    status: String(r.status) as Membership["status"],
    nodeName: String(r.node_name),
    nodeId: s("node_id"),
    joinRequestId: s("join_request_id"),
    fingerprint: String(r.fingerprint),
    publicKey: String(r.public_key),
    pinnedAuthorityFingerprint: s("pinned_authority_fingerprint"),
    authorityPublicKey: s("authority_public_key"),
    certificatePem: s("certificate_pem"),
    caChainPem: s("ca_chain_pem"),
    enrolledAt: s("enrolled_at"),
  };
}

/** Creates the database file owner-only before SQLite does (it would use the umask), and tightens one made by an older build. */
async function privateFile(path: string): Promise<void> {
  await (await open(path, "a", 0o600)).close();
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    await chmod(f, 0o600).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
  }
}
