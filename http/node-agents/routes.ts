/**
 * /api/v1/node-agents: what rap-node-agent calls. Enrollment is public
 * (capped body, rate-limited per token and source); everything after it is
 * authenticated by the node's own key (http/node-agents/auth.ts).
 */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { valid } from "../validate.ts";
import { clientIp } from "../client-ip.ts";
import { BootstrapBody, CertificateRenewBody, EnrollmentParam, HeartbeatBody, JoinBody, LinkReportBody, MeshEndpointBody, RouteHealthBody, NodeSessionBody, ServiceReportBody, SnapshotQuery } from "../../core/contracts/nodes.ts";
import { advertiseEndpoint, recordLinks, recordRouteHealth } from "../../sql/mesh.ts";
import { nodesInCluster } from "../../sql/nodes.ts";
import { DomainError } from "../../core/errors.ts";
import { reportServices } from "../../sql/node-roles.ts";
import { HEARTBEAT_INTERVAL_SECONDS } from "../../core/fabric.ts";
import { bootstrap, issueChallenge, submitJoin } from "../enrollment/service.ts";
import { authenticateNode, exchangeProof, type NodePrincipal } from "./auth.ts";
import { nodeSnapshot, renewCertificate } from "../nodes/service.ts";
import { latestRevocationList } from "../../sql/nodes.ts";
import type { ChangeContext } from "../../core/change.ts";

type NodeEnv = AppEnv & { Variables: { node: NodePrincipal } };

const agentChange = (traceId: string, nodeId = "unenrolled"): ChangeContext => ({ author: { type: "node", id: nodeId }, source: { type: "agent" }, traceId });

// Per route, not `use()`: middleware of a sub-app mounted at "/" would also guard the public enrollment routes.
const nodeAuth = authenticateNode();
/** How long a relay reported failing for a destination stays out of that node's paths. */
export const RELAY_STALE_MS = 2 * 60_000;

const authed = new Hono<NodeEnv>()
  .post("/heartbeat", nodeAuth, valid("json", HeartbeatBody), async (c) => {
    const b = c.req.valid("json");
    const node = c.get("node");
    await c.get("deps").fabric.heartbeats.submit({ nodeId: node.nodeId, clusterId: node.clusterId, receivedAt: c.get("deps").clock(), seq: b.seq, agentVersion: b.agent_version ?? null, telemetry: b.telemetry });
    return c.json({ next_heartbeat_seconds: HEARTBEAT_INTERVAL_SECONDS }, 202);
  })
  .get("/snapshot", nodeAuth, valid("query", SnapshotQuery), async (c) => {
    const deps = c.get("deps");
    const node = c.get("node");
    const { after_version: after, wait = 0 } = c.req.valid("query");
    const current = () => deps.db.transaction((tx) => nodeSnapshot(deps, tx, node.nodeId, deps.clock()));
    // Long-poll: with `wait`, hold the request until the snapshot moves past `after_version` or the wait ends.
    const deadline = Date.now() + wait * 1000;
    let snap = await current();
    while (after !== undefined && snap.version <= after && Date.now() < deadline) {
      await deps.fabric.snapshots.wait(node.clusterId, deadline - Date.now());
      snap = await current();
    }
    if (after !== undefined && snap.version <= after) return c.json({ version: snap.version, changed: false });
    return c.json({ version: snap.version, changed: true, snapshot: snap.jws });
  })
  .post("/certificate", nodeAuth, valid("json", CertificateRenewBody), async (c) => {
    const node = c.get("node");
    return c.json(await renewCertificate(c.get("deps"), node.nodeId, c.req.valid("json").csr, agentChange(c.get("traceId"), node.nodeId)), 201);
  })
  .post("/services", nodeAuth, valid("json", ServiceReportBody), async (c) => {
    const reports = c.req.valid("json").services.map((r) => ({ serviceType: r.service_type, reportedState: r.reported_state, version: r.version ?? null }));
    const known = await c.get("deps").db.transaction((tx) => reportServices(tx, c.get("node").nodeId, reports, c.get("deps").clock()));
    return c.json({ updated: known, not_assigned: reports.map((r) => r.serviceType).filter((t) => !known.includes(t)) });
  })
  .post("/links", nodeAuth, valid("json", LinkReportBody), async (c) => {
    const node = c.get("node");
    const { db, fabric, clock } = c.get("deps");
    const obs = c.req.valid("json").observations;
    const changed = await db.transaction(async (tx) => {
      // Only peers of this node's own cluster count; anything else is refused, not stored.
      const known = await nodesInCluster(tx, node.clusterId, obs.map((o) => o.peer_node_id));
      const foreign = obs.filter((o) => !known.has(o.peer_node_id) || o.peer_node_id === node.nodeId).map((o) => o.peer_node_id);
      if (foreign.length) throw new DomainError("request.validation_failed", "observations name nodes that are not peers in this cluster", { peers: foreign });
      return recordLinks(tx, node.clusterId, node.nodeId, obs.map((o) => ({ toNode: o.peer_node_id, reachable: o.reachable, latencyMs: o.latency_ms ?? null, loss: o.loss })), clock());
    });
    // Reachability changed: relay paths in this cluster's snapshots may change.
    if (changed) await fabric.snapshots.changed(node.clusterId);
    return c.json({ recorded: obs.length, reachability_changes: changed }, 202);
  })
  .post("/route-health", nodeAuth, valid("json", RouteHealthBody), async (c) => {
    const node = c.get("node");
    const { db, fabric, clock } = c.get("deps");
    const reports = c.req.valid("json").reports;
    const now = clock();
    const changed = await db.transaction(async (tx) => {
      const named = [...new Set(reports.flatMap((r) => [r.to, ...r.via]))];
      const known = await nodesInCluster(tx, node.clusterId, named);
      const foreign = named.filter((id) => !known.has(id) || id === node.nodeId);
      if (foreign.length) throw new DomainError("request.validation_failed", "reports name nodes that are not peers in this cluster", { nodes: foreign });
      let n = 0;
      for (const r of reports) if (await recordRouteHealth(tx, node.clusterId, node.nodeId, r.to, r.via, r.healthy, new Date(now.getTime() + RELAY_STALE_MS))) n++;
      return n;
    });
    // A relay marked stale for a destination leaves that node's path: a new signed snapshot follows.
    if (changed) await fabric.snapshots.changed(node.clusterId);
    return c.json({ recorded: reports.length, changes: changed }, 202);
  })
  .put("/mesh-endpoint", nodeAuth, valid("json", MeshEndpointBody), async (c) => {
    const node = c.get("node");
    const { db, fabric, clock } = c.get("deps");
    const address = c.req.valid("json").address;
    const changed = await db.transaction((tx) => advertiseEndpoint(tx, node.clusterId, node.nodeId, address, clock()));
    // Peers learn the new address from their next snapshot.
    if (changed) await fabric.snapshots.changed(node.clusterId);
    return c.json({ address, changed });
  })
  .get("/revocations", nodeAuth, async (c) => {
    const list = await latestRevocationList(c.get("deps").db, c.get("node").clusterId);
    return c.json({ version: list?.version ?? 0, revocation_list: list?.jws ?? null });
  });

export const nodeAgentRoutes = new Hono<AppEnv>()
  .post("/enrollments", valid("json", JoinBody), async (c) => c.json(await submitJoin(c.get("deps"), c.req.valid("json"), clientIp(c), agentChange(c.get("traceId"))), 202))
  .post("/enrollments/:requestId/challenge", valid("param", EnrollmentParam), async (c) => c.json(await issueChallenge(c.get("deps"), c.req.valid("param").requestId, clientIp(c))))
  .post("/enrollments/:requestId/bootstrap", valid("param", EnrollmentParam), valid("json", BootstrapBody), async (c) =>
    c.json(await bootstrap(c.get("deps"), c.req.valid("param").requestId, c.req.valid("json"), clientIp(c), agentChange(c.get("traceId")))),
  )
  .post("/session", valid("json", NodeSessionBody), async (c) => c.json(await exchangeProof(c, c.req.valid("json").proof)))
  .route("/", authed);
