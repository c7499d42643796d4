/**
 * The node-agent authentication middleware: a bearer node token, verified by
 * control/nodes/node-auth.ts, becomes the request's node principal.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { DomainError } from "../../core/errors.ts";
import { verifyNodeToken, type NodePrincipal } from "../../control/nodes/node-auth.ts";
import { mark } from "../openapi/registry.ts";

export function authenticateNode(): MiddlewareHandler<AppEnv & { Variables: { node: NodePrincipal } }> {
  const mw: ReturnType<typeof authenticateNode> = async (c, next) => {
    const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
    if (!bearer) throw new DomainError("node.auth_refused", "missing node token");
    const principal = await verifyNodeToken(c.get("deps"), bearer);
    c.set("node", principal);
    c.set("principal", { type: "node", id: principal.nodeId });
    await next();
  };
  // Marked for the OpenAPI document: the routes behind it need this scheme.
  return mark(mw, { kind: "auth", scheme: "node" });
}
