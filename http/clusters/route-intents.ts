/** A cluster's route intents (pinned relay paths): list, create, delete. Platform only, audited. */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { requireAction } from "../authorize.ts";
import { valid } from "../validate.ts";
import { changeOf } from "../change.ts";
import { ClusterItemParam, ClusterParam, RouteIntentBody } from "../../core/contracts/nodes.ts";
import { routeIntentsOf } from "../../control/nodes/queries.ts";
import { createRouteIntent, removeRouteIntent } from "../../control/nodes/route-intents.ts";
import { PLATFORM, routeIntentWire } from "./wire.ts";
import { DENIED, describeRoutes } from "../openapi/registry.ts";

export const routeIntentRoutes = new Hono<AppEnv>()
  .get("/:id/route-intents", valid("param", ClusterParam), async (c) => {
    await requireAction(c, "cluster.read", PLATFORM);
    return c.json({ items: (await routeIntentsOf(c.get("deps"), c.req.valid("param").id)).map(routeIntentWire) });
  })
  .post("/:id/route-intents", valid("param", ClusterParam), valid("json", RouteIntentBody), async (c) => {
    await requireAction(c, "cluster.manage", PLATFORM);
    return c.json({ id: await createRouteIntent(c.get("deps"), c.req.valid("param").id, c.req.valid("json"), changeOf(c)) }, 201);
  })
  .delete("/:id/route-intents/:itemId", valid("param", ClusterItemParam), async (c) => {
    await requireAction(c, "cluster.manage", PLATFORM);
    const { id, itemId } = c.req.valid("param");
    await removeRouteIntent(c.get("deps"), id, itemId, changeOf(c));
    return c.body(null, 204);
  });

describeRoutes(routeIntentRoutes, {
  "GET /:id/route-intents": { summary: "Route intents of a cluster", errors: [...DENIED, "cluster.not_found"] },
  "POST /:id/route-intents": {
    summary: "Pin traffic between two nodes through relays",
    status: 201,
    errors: [...DENIED, "cluster.not_found", "node.not_found", "route_intent.invalid", "route_intent.exists"],
  },
  "DELETE /:id/route-intents/:itemId": { summary: "Delete a route intent", status: 204, errors: [...DENIED, "route_intent.not_found"] },
});
