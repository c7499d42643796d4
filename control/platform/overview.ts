/**
 * The platform overview: cluster and node counts, nodes by health, pending
 * join requests, role coverage gaps, workload health, certificate expiry and
 * the risky states an owner should look at, overall and per cluster. Built
 * from grouped counts (sql/console-views.ts), so it costs the same with ten
 * nodes or ten thousand. Platform topology: platform roles only.
 */
import { clusterCounts, type ClusterCounts } from "../../sql/console-views.ts";
import type { Tx } from "../../sql/db.ts";

/** Roles every active cluster with nodes should have somewhere: without them clients cannot enter or traffic cannot be relayed. */
export const REQUIRED_ROLES = ["entry-node", "relay-node"] as const;
/** Agents renew with 9–11 days left (docs/agent.md): a certificate closer to expiry is one its node failed to renew. */
const EXPIRY_WINDOW_MS = 7 * 24 * 3600 * 1000;

type Health = "healthy" | "stale" | "offline";
interface Risk {
  kind: string;
  severity: "warning" | "critical";
  cluster_id: string;
  cluster_name: string;
  message: string;
}

const sum = (xs: { n: number }[]) => xs.reduce((a, x) => a + x.n, 0);
const countBy = <T extends { n: number }>(xs: T[], key: (x: T) => string) => {
  const out: Record<string, number> = {};
  for (const x of xs) out[key(x)] = (out[key(x)] ?? 0) + x.n;
  return out;
};

export async function overview(tx: Tx, now: Date) {
  const c: ClusterCounts = await clusterCounts(tx, new Date(now.getTime() + EXPIRY_WINDOW_MS));
  const risks: Risk[] = [];
  const clusters = c.clusters.map((cl) => {
    const nodes = c.nodes.filter((n) => n.clusterId === cl.id);
    // Health only means something for nodes that are in service.
    const inService = nodes.filter((n) => n.status === "active" || n.status === "draining");
    const health: Record<Health, number> = { healthy: 0, stale: 0, offline: 0 };
    // Nodes never heard from (`never_seen`) count in by_status only: they are neither healthy nor stale yet.
    for (const n of inService) if (n.health in health) health[n.health as Health] += n.n;
    const roles = countBy(
      c.roles.filter((r) => r.clusterId === cl.id),
      (r) => r.role,
    );
    const services = c.services.filter((s) => s.clusterId === cl.id && s.desiredState === "running");
    const workloads = {
      desired_running: sum(services),
      running: sum(services.filter((s) => s.reportedState === "running")),
      failed: sum(services.filter((s) => s.reportedState === "failed")),
    };
    const certs = c.certificates.find((x) => x.clusterId === cl.id);
    const pending = c.pendingJoinRequests.find((p) => p.clusterId === cl.id)?.n ?? 0;
    const active = sum(nodes.filter((n) => n.status === "active"));
    const missing = cl.status === "active" && active > 0 ? REQUIRED_ROLES.filter((r) => !roles[r]) : [];

    const risk = (kind: string, severity: Risk["severity"], message: string) =>
      risks.push({ kind, severity, cluster_id: cl.id, cluster_name: cl.name, message });
    if (cl.partitionState === "minority")
      risk("partition_minority", "critical", "minority partition: no enrollment, role or trust changes until promoted or merged");
    if (cl.status === "suspended") risk("cluster_suspended", "warning", "cluster is suspended");
    if (health.offline) risk("nodes_offline", "critical", `${health.offline} node(s) offline`);
    if (health.stale) risk("nodes_stale", "warning", `${health.stale} node(s) missed heartbeats`);
    if (workloads.failed) risk("workloads_failed", "critical", `${workloads.failed} workload(s) failed`);
    if (certs?.expiringSoon) risk("certificates_expiring", "warning", `${certs.expiringSoon} certificate(s) expire within 7 days`);
    if (pending) risk("join_requests_pending", "warning", `${pending} join request(s) wait for review`);
    if (missing.length) risk("role_coverage_gap", "warning", `no active node runs ${missing.join(", ")}`);

    return {
      id: cl.id,
      name: cl.name,
      slug: cl.slug,
      status: cl.status,
      region: cl.region,
      partition_state: cl.partitionState,
      nodes: { total: sum(nodes), by_status: countBy(nodes, (n) => n.status), by_health: health },
      pending_join_requests: pending,
      roles,
      missing_roles: missing,
      workloads,
      certificates: { active: certs?.active ?? 0, expiring_soon: certs?.expiringSoon ?? 0, next_expiry: certs?.nextExpiry ?? null },
    };
  });
  const total = <K extends "pending_join_requests">(k: K) => clusters.reduce((a, x) => a + x[k], 0);
  return {
    generated_at: now.toISOString(),
    clusters: {
      total: clusters.length,
      by_status: countBy(
        c.clusters.map((x) => ({ ...x, n: 1 })),
        (x) => x.status,
      ),
    },
    nodes: {
      total: sum(c.nodes),
      by_status: countBy(c.nodes, (n) => n.status),
      by_health: clusters.reduce(
        (a, x) => ({
          healthy: a.healthy + x.nodes.by_health.healthy,
          stale: a.stale + x.nodes.by_health.stale,
          offline: a.offline + x.nodes.by_health.offline,
        }),
        { healthy: 0, stale: 0, offline: 0 },
      ),
    },
    pending_join_requests: total("pending_join_requests"),
    role_coverage_gaps: clusters.filter((x) => x.missing_roles.length).map((x) => ({ cluster_id: x.id, cluster_name: x.name, missing_roles: x.missing_roles })),
    workloads: clusters.reduce(
      (a, x) => ({
        desired_running: a.desired_running + x.workloads.desired_running,
        running: a.running + x.workloads.running,
        failed: a.failed + x.workloads.failed,
      }),
      { desired_running: 0, running: 0, failed: 0 },
    ),
    risky_states: risks,
    per_cluster: clusters,
  };
}
