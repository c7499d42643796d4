/** A cluster's join requests: list, read, approve (issues the node certificate; step-up), reject. */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { requireAction } from "../authorize.ts";
import { valid } from "../validate.ts";
import { changeOf } from "../change.ts";
import { page } from "../page.ts";
import { ApproveBody, ClusterItemParam, ClusterParam, JoinRequestQuery, ReasonBody } from "../../core/contracts/nodes.ts";
import { joinRequestIn, listJoinRequests } from "../../control/enrollment/queries.ts";
import { approveJoin, rejectJoin } from "../../control/nodes/service.ts";
import { PLATFORM, requestWire } from "./wire.ts";
import { DENIED, describeRoutes } from "../openapi/registry.ts";

export const joinRequestRoutes = new Hono<AppEnv>()
  .get("/:id/join-requests", valid("param", ClusterParam), valid("query", JoinRequestQuery), async (c) => {
    await requireAction(c, "cluster.read", PLATFORM);
    const q = c.req.valid("query");
    return c.json(page((await listJoinRequests(c.get("deps"), c.req.valid("param").id, q)).map(requestWire), q.limit, (r) => r.id));
  })
  .get("/:id/join-requests/:itemId", valid("param", ClusterItemParam), async (c) => {
    await requireAction(c, "cluster.read", PLATFORM);
    const { id, itemId } = c.req.valid("param");
    return c.json(requestWire(await joinRequestIn(c.get("deps").db, id, itemId)));
  })
  .post("/:id/join-requests/:itemId/approve", valid("param", ClusterItemParam), valid("json", ApproveBody), async (c) => {
    await requireAction(c, "node.approve", PLATFORM);
    const { id, itemId } = c.req.valid("param");
    return c.json(await approveJoin(c.get("deps"), id, itemId, { groupId: c.req.valid("json").group_id }, changeOf(c)));
  })
  .post("/:id/join-requests/:itemId/reject", valid("param", ClusterItemParam), valid("json", ReasonBody), async (c) => {
    await requireAction(c, "node.approve", PLATFORM);
    const { id, itemId } = c.req.valid("param");
    return c.json(requestWire(await rejectJoin(c.get("deps"), id, itemId, c.req.valid("json").reason, changeOf(c))));
  });

describeRoutes(joinRequestRoutes, {
  "GET /:id/join-requests": { summary: "Join requests of a cluster", errors: [...DENIED, "cluster.not_found"] },
  "GET /:id/join-requests/:itemId": { summary: "A join request", errors: [...DENIED, "cluster.not_found", "join_request.not_found"] },
  "POST /:id/join-requests/:itemId/approve": {
    summary: "Approve a join request: the node is created",
    errors: [
      ...DENIED,
      "cluster.not_found",
      "join_request.not_found",
      "node_group.not_found",
      "enrollment.key_reused",
      "cluster.partition_minority",
      "actor.event_rejected",
    ],
  },
  "POST /:id/join-requests/:itemId/reject": {
    summary: "Reject a join request",
    errors: [...DENIED, "cluster.not_found", "join_request.not_found", "actor.event_rejected"],
  },
});
