/** A cluster's node groups: the tree, and creating a group under a parent. */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { requireAction } from "../authorize.ts";
import { valid } from "../validate.ts";
import { changeOf } from "../change.ts";
import { ClusterParam, NodeGroupBody } from "../../core/contracts/nodes.ts";
import { groupTree } from "../../control/nodes/queries.ts";
import { createGroup } from "../../control/nodes/service.ts";
import { PLATFORM } from "./wire.ts";
import { DENIED, describeRoutes } from "../openapi/registry.ts";

export const nodeGroupRoutes = new Hono<AppEnv>()
  .get("/:id/node-groups", valid("param", ClusterParam), async (c) => {
    await requireAction(c, "cluster.read", PLATFORM);
    return c.json({ items: await groupTree(c.get("deps"), c.req.valid("param").id) });
  })
  .post("/:id/node-groups", valid("param", ClusterParam), valid("json", NodeGroupBody), async (c) => {
    await requireAction(c, "cluster.manage", PLATFORM);
    return c.json({ id: await createGroup(c.get("deps"), c.req.valid("param").id, c.req.valid("json"), changeOf(c)) }, 201);
  });

describeRoutes(nodeGroupRoutes, {
  "GET /:id/node-groups": { summary: "The node group tree", errors: [...DENIED, "cluster.not_found"] },
  "POST /:id/node-groups": {
    summary: "Create a node group",
    status: 201,
    errors: [...DENIED, "cluster.not_found", "node_group.not_found", "node_group.exists"],
  },
});
