/** A cluster's workloads: role assignments with their desired and reported service state (the console's list). */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { requireAction } from "../authorize.ts";
import { valid } from "../validate.ts";
import { page } from "../page.ts";
import { ClusterParam, WorkloadQuery } from "../../core/contracts/nodes.ts";
import { workloads } from "../../control/nodes/queries.ts";
import { PLATFORM, workloadWire } from "./wire.ts";
import { DENIED, describeRoutes } from "../openapi/registry.ts";

export const workloadRoutes = new Hono<AppEnv>().get("/:id/workloads", valid("param", ClusterParam), valid("query", WorkloadQuery), async (c) => {
  await requireAction(c, "cluster.read", PLATFORM);
  const q = c.req.valid("query");
  return c.json(page((await workloads(c.get("deps"), c.req.valid("param").id, q)).map(workloadWire), q.limit, (w) => w.assignment_id));
});

describeRoutes(workloadRoutes, {
  "GET /:id/workloads": { summary: "Role assignments of a cluster with their service state", errors: [...DENIED, "cluster.not_found"] },
});
