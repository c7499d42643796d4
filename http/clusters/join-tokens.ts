/** A cluster's join tokens: list, create (step-up; the token is shown once, with the agent command), revoke. */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { requireAction } from "../authorize.ts";
import { valid } from "../validate.ts";
import { changeOf } from "../change.ts";
import { ClusterItemParam, ClusterParam, NewJoinTokenBody } from "../../core/contracts/nodes.ts";
import { createJoinToken, revokeToken } from "../../control/enrollment/service.ts";
import { listJoinTokens } from "../../control/enrollment/queries.ts";
import { agentCommand, PLATFORM, tokenWire } from "./wire.ts";
import { DENIED, describeRoutes } from "../openapi/registry.ts";

export const joinTokenRoutes = new Hono<AppEnv>()
  .get("/:id/join-tokens", valid("param", ClusterParam), async (c) => {
    await requireAction(c, "cluster.read", PLATFORM);
    return c.json({ items: (await listJoinTokens(c.get("deps"), c.req.valid("param").id)).map(tokenWire) });
  })
  .post("/:id/join-tokens", valid("param", ClusterParam), valid("json", NewJoinTokenBody), async (c) => {
    await requireAction(c, "join_token.create", PLATFORM);
    const t = await createJoinToken(c.get("deps"), c.req.valid("param").id, c.req.valid("json"), changeOf(c));
    return c.json({ ...t, agent_command: agentCommand(new URL(c.req.url).origin, t.cluster_id, t) }, 201);
  })
  .delete("/:id/join-tokens/:itemId", valid("param", ClusterItemParam), async (c) => {
    await requireAction(c, "join_token.create", PLATFORM);
    await revokeToken(c.get("deps"), c.req.valid("param").id, c.req.valid("param").itemId, changeOf(c));
    return c.body(null, 204);
  });

describeRoutes(joinTokenRoutes, {
  "GET /:id/join-tokens": { summary: "Join tokens of a cluster (never their secrets)", errors: [...DENIED, "cluster.not_found"] },
  "POST /:id/join-tokens": {
    summary: "Create a join token (the secret is shown once)",
    status: 201,
    errors: [...DENIED, "cluster.not_found", "cluster.not_active", "cluster.partition_minority"],
  },
  "DELETE /:id/join-tokens/:itemId": { summary: "Revoke a join token", status: 204, errors: [...DENIED, "cluster.not_found", "join_token.not_found"] },
});
