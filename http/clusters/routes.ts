/**
 * /api/v1/clusters: the clusters themselves (commands go to the cluster
 * actor, reads come from its projection), and one sub-router per resource of
 * a cluster: authority and partitions, join tokens, join requests, nodes,
 * node groups, workloads, route intents. Everything here is platform
 * topology: platform roles only. Authentication runs once for all of them.
 */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { authenticate } from "../middleware/auth/index.ts";
import { requireAction } from "../authorize.ts";
import { valid } from "../validate.ts";
import { changeOf } from "../change.ts";
import { page } from "../page.ts";
import { ArchiveClusterBody, ClusterIdParam, ListClustersQuery, NewClusterBody, SuspendClusterBody, UpdateClusterBody } from "../../core/contracts/clusters.ts";
import {
  archiveCluster,
  clusterOr404,
  createCluster,
  listClusters,
  restoreCluster,
  resumeCluster,
  suspendCluster,
  updateCluster,
} from "../../control/clusters/service.ts";
import { clusterWire, PLATFORM } from "./wire.ts";
import { authorityRoutes } from "./authority.ts";
import { joinTokenRoutes } from "./join-tokens.ts";
import { joinRequestRoutes } from "./join-requests.ts";
import { nodeRoutes } from "./nodes.ts";
import { nodeGroupRoutes } from "./node-groups.ts";
import { workloadRoutes } from "./workloads.ts";
import { routeIntentRoutes } from "./route-intents.ts";
import { DENIED, describeRoutes } from "../openapi/registry.ts";

const clusters = new Hono<AppEnv>()
  .post("/", valid("json", NewClusterBody), async (c) => {
    await requireAction(c, "cluster.manage", PLATFORM);
    return c.json(clusterWire(await createCluster(c.get("deps"), c.req.valid("json"), changeOf(c))), 201);
  })
  .get("/", valid("query", ListClustersQuery), async (c) => {
    await requireAction(c, "cluster.read", PLATFORM);
    const q = c.req.valid("query");
    return c.json(page((await listClusters(c.get("deps"), q)).map(clusterWire), q.limit, (r) => r.id));
  })
  .get("/:id", valid("param", ClusterIdParam), async (c) => {
    await requireAction(c, "cluster.read", PLATFORM);
    return c.json(clusterWire(await clusterOr404(c.get("deps"), c.req.valid("param").id)));
  })
  .patch("/:id", valid("param", ClusterIdParam), valid("json", UpdateClusterBody), async (c) => {
    await requireAction(c, "cluster.manage", PLATFORM);
    return c.json(clusterWire(await updateCluster(c.get("deps"), c.req.valid("param").id, c.req.valid("json"), changeOf(c))));
  })
  .post("/:id/suspend", valid("param", ClusterIdParam), valid("json", SuspendClusterBody), async (c) => {
    await requireAction(c, "cluster.manage", PLATFORM);
    return c.json(clusterWire(await suspendCluster(c.get("deps"), c.req.valid("param").id, c.req.valid("json").reason, changeOf(c))));
  })
  .post("/:id/resume", valid("param", ClusterIdParam), async (c) => {
    await requireAction(c, "cluster.manage", PLATFORM);
    return c.json(clusterWire(await resumeCluster(c.get("deps"), c.req.valid("param").id, changeOf(c))));
  })
  .post("/:id/archive", valid("param", ClusterIdParam), valid("json", ArchiveClusterBody), async (c) => {
    await requireAction(c, "cluster.manage", PLATFORM);
    return c.json(clusterWire(await archiveCluster(c.get("deps"), c.req.valid("param").id, c.req.valid("json").grace_seconds, changeOf(c))));
  })
  .post("/:id/restore", valid("param", ClusterIdParam), async (c) => {
    await requireAction(c, "cluster.manage", PLATFORM);
    return c.json(clusterWire(await restoreCluster(c.get("deps"), c.req.valid("param").id, changeOf(c))));
  });

export const clusterRoutes = new Hono<AppEnv>()
  .use(authenticate())
  .route("/", clusters)
  .route("/", authorityRoutes)
  .route("/", joinTokenRoutes)
  .route("/", joinRequestRoutes)
  .route("/", nodeRoutes)
  .route("/", nodeGroupRoutes)
  .route("/", workloadRoutes)
  .route("/", routeIntentRoutes);

describeRoutes(clusters, {
  "POST /": { summary: "Create a cluster", status: 201, errors: [...DENIED, "cluster.slug_taken"] },
  "GET /": { summary: "Clusters", errors: DENIED },
  "GET /:id": { summary: "A cluster", errors: [...DENIED, "cluster.not_found"] },
  "PATCH /:id": { summary: "Change a cluster", errors: [...DENIED, "cluster.not_found", "cluster.slug_taken", "actor.event_rejected"] },
  "POST /:id/suspend": { summary: "Suspend a cluster", errors: [...DENIED, "cluster.not_found", "actor.event_rejected"] },
  "POST /:id/resume": { summary: "Resume a suspended cluster", errors: [...DENIED, "cluster.not_found", "actor.event_rejected"] },
  "POST /:id/archive": { summary: "Archive a cluster after a grace period", errors: [...DENIED, "cluster.not_found", "actor.event_rejected"] },
  "POST /:id/restore": { summary: "Restore an archiving cluster", errors: [...DENIED, "cluster.not_found", "actor.event_rejected"] },
});
