/**
 * Clusters API. Commands go to the cluster actor; reads come from the
 * `clusters` projection. Reads need `cluster.read`, changes `cluster.manage`
 * (platform roles only: clusters are platform topology). Enrollment, nodes
 * and partitions of a cluster are in http/nodes/routes.ts.
 */
import { Hono, type Context } from "hono";
import type { AppEnv } from "../env.ts";
import { authenticate } from "../middleware/auth/index.ts";
import { requireAction } from "../authorize.ts";
import { valid } from "../validate.ts";
import { changeOf } from "../change.ts";
import {
  ArchiveClusterBody,
  ClusterIdParam,
  ListClustersQuery,
  NewClusterBody,
  SuspendClusterBody,
  UpdateClusterBody,
} from "../../core/contracts/clusters.ts";
import {
  archiveCluster,
  createCluster,
  DEFAULT_ARCHIVE_GRACE_MS,
  restoreCluster,
  resumeCluster,
  suspendCluster,
  updateCluster,
} from "../../actors/cluster/commands.ts";
import { getCluster, listClusters, type ClusterRow } from "../../sql/clusters.ts";
import { NotFound } from "../../core/errors.ts";
import { page } from "../page.ts";

const PLATFORM = { kind: "platform" } as const;

export const clusterRoutes = new Hono<AppEnv>()
  .use(authenticate())
  .post("/", valid("json", NewClusterBody), async (c) => {
    await requireAction(c, "cluster.manage", PLATFORM);
    const { id } = await createCluster(c.get("deps").host, c.get("deps").identity.keyring, c.req.valid("json"), changeOf(c));
    return c.json(await view(c, id), 201);
  })
  .get("/", valid("query", ListClustersQuery), async (c) => {
    await requireAction(c, "cluster.read", PLATFORM);
    const q = c.req.valid("query");
    const rows = await listClusters(c.get("deps").db, { limit: q.limit + 1, after: q.after, status: q.status });
    return c.json(page(rows.map(toWire), q.limit, (r) => r.id));
  })
  .get("/:id", valid("param", ClusterIdParam), async (c) => {
    await requireAction(c, "cluster.read", PLATFORM);
    return c.json(await view(c, c.req.valid("param").id));
  })
  .patch("/:id", valid("param", ClusterIdParam), valid("json", UpdateClusterBody), async (c) => {
    await requireAction(c, "cluster.manage", PLATFORM);
    const { id } = c.req.valid("param");
    await updateCluster(c.get("deps").host, id, c.req.valid("json"), changeOf(c));
    return c.json(await view(c, id));
  })
  .post("/:id/suspend", valid("param", ClusterIdParam), valid("json", SuspendClusterBody), async (c) => {
    await requireAction(c, "cluster.manage", PLATFORM);
    const { id } = c.req.valid("param");
    await suspendCluster(c.get("deps").host, id, c.req.valid("json").reason, changeOf(c));
    return c.json(await view(c, id));
  })
  .post("/:id/resume", valid("param", ClusterIdParam), async (c) => {
    await requireAction(c, "cluster.manage", PLATFORM);
    const { id } = c.req.valid("param");
    await resumeCluster(c.get("deps").host, id, changeOf(c));
    return c.json(await view(c, id));
  })
  .post("/:id/archive", valid("param", ClusterIdParam), valid("json", ArchiveClusterBody), async (c) => {
    await requireAction(c, "cluster.manage", PLATFORM);
    const { id } = c.req.valid("param");
    const graceSeconds = c.req.valid("json").grace_seconds;
    await archiveCluster(c.get("deps").host, id, graceSeconds === undefined ? DEFAULT_ARCHIVE_GRACE_MS : graceSeconds * 1000, changeOf(c));
    return c.json(await view(c, id));
  })
  .post("/:id/restore", valid("param", ClusterIdParam), async (c) => {
    await requireAction(c, "cluster.manage", PLATFORM);
    const { id } = c.req.valid("param");
    await restoreCluster(c.get("deps").host, id, changeOf(c));
    return c.json(await view(c, id));
  });

async function view(c: Context<AppEnv>, id: string) {
  const row = await getCluster(c.get("deps").db, id);
  if (!row) throw new NotFound("cluster.not_found", `cluster ${id} does not exist`, { id });
  return toWire(row);
}

function toWire(r: ClusterRow) {
  return {
    id: r.id,
    name: r.name,
    slug: r.slug,
    status: r.status,
    region: r.region,
    metadata: r.metadata,
    archive_due_at: r.archiveDueAt,
    created_at: r.createdAt,
    partition_state: r.partitionState,
    authority_term: r.authorityTerm,
    updated_at: r.updatedAt,
  };
}
