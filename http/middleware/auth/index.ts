/**
 * Requires an authenticated principal (`Authorization: Bearer ...`) on the
 * routes it guards. How a bearer becomes a principal is the `authenticate`
 * dependency, so the identity issue can swap in access tokens without
 * touching routes.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../../env.ts";
import { Unauthenticated } from "../../../core/errors.ts";

export function requirePrincipal(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const bearer = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (!bearer) throw new Unauthenticated("missing bearer token");
    const principal = await c.get("deps").authenticate(bearer);
    if (!principal) throw new Unauthenticated("invalid bearer token");
    c.set("principal", principal);
    await next();
  };
}
