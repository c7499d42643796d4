/**
 * A cluster's authority and partitions, under /api/v1/clusters/{id}: the
 * public trust material, the revocation list, marking a minority, promoting,
 * merging and splitting (owner and recovery admins, with step-up).
 */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { requireAction } from "../authorize.ts";
import { valid } from "../validate.ts";
import { changeOf } from "../change.ts";
import { ClusterParam, ReasonBody, SplitBody } from "../../core/contracts/nodes.ts";
import { authorityView, clusterRevocations, markMinority, mergeCluster, promoteCluster } from "../../control/clusters/service.ts";
import { splitCluster } from "../../control/nodes/service.ts";
import { agentCommand, PLATFORM } from "./wire.ts";
import { DENIED, describeRoutes } from "../openapi/registry.ts";

export const authorityRoutes = new Hono<AppEnv>()
  .get("/:id/authority", valid("param", ClusterParam), async (c) => {
    await requireAction(c, "cluster.read", PLATFORM);
    return c.json(await authorityView(c.get("deps"), c.req.valid("param").id));
  })
  .get("/:id/revocations", valid("param", ClusterParam), async (c) => {
    await requireAction(c, "cluster.read", PLATFORM);
    return c.json(await clusterRevocations(c.get("deps"), c.req.valid("param").id));
  })
  .post("/:id/partition/minority", valid("param", ClusterParam), valid("json", ReasonBody), async (c) => {
    await requireAction(c, "cluster.manage", PLATFORM);
    return c.json(await markMinority(c.get("deps"), c.req.valid("param").id, c.req.valid("json").reason, changeOf(c)));
  })
  .post("/:id/partition/promote", valid("param", ClusterParam), async (c) => {
    await requireAction(c, "partition.promote", PLATFORM);
    return c.json(await promoteCluster(c.get("deps"), c.req.valid("param").id, changeOf(c)));
  })
  .post("/:id/partition/merge", valid("param", ClusterParam), async (c) => {
    await requireAction(c, "partition.promote", PLATFORM);
    return c.json(await mergeCluster(c.get("deps"), c.req.valid("param").id, changeOf(c)));
  })
  .post("/:id/partition/split", valid("param", ClusterParam), valid("json", SplitBody), async (c) => {
    await requireAction(c, "partition.promote", PLATFORM);
    const origin = new URL(c.req.url).origin;
    const r = await splitCluster(c.get("deps"), c.req.valid("param").id, c.req.valid("json"), changeOf(c));
    return c.json({ ...r, nodes: r.nodes.map((n) => ({ ...n, agent_command: agentCommand(origin, r.cluster_id, n.join_token) })) }, 201);
  });

describeRoutes(authorityRoutes, {
  "GET /:id/authority": { summary: "The cluster authority (public keys, partition state)", errors: [...DENIED, "cluster.not_found"] },
  "GET /:id/revocations": { summary: "The latest signed revocation list", errors: [...DENIED, "cluster.not_found"] },
  "POST /:id/partition/minority": {
    summary: "Mark this replica's cluster a minority partition",
    errors: [...DENIED, "cluster.not_found", "cluster.not_active", "actor.event_rejected"],
  },
  "POST /:id/partition/promote": {
    summary: "Promote a minority partition",
    errors: [...DENIED, "cluster.not_found", "cluster.not_partitioned", "actor.event_rejected"],
  },
  "POST /:id/partition/merge": {
    summary: "Merge a minority partition back",
    errors: [...DENIED, "cluster.not_found", "cluster.not_partitioned", "actor.event_rejected"],
  },
  "POST /:id/partition/split": {
    summary: "Split nodes of a minority partition into a new cluster",
    status: 201,
    errors: [...DENIED, "cluster.not_found", "cluster.not_partitioned", "cluster.slug_taken", "node.not_found"],
  },
});
