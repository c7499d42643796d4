/**
 * Authenticates `Authorization: Bearer <access token>` through
 * control/auth/authenticate.ts and sets `auth` and `principal`.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../../env.ts";
import { Unauthenticated } from "../../../core/errors.ts";
import { authenticateAccessToken } from "../../../control/auth/authenticate.ts";
import { mark } from "../../openapi/registry.ts";

export function authenticate(): MiddlewareHandler<AppEnv> {
  const mw: ReturnType<typeof authenticate> = async (c, next) => {
    // Sub-apps mounted at one prefix each guard themselves; the first one authenticates.
    if (c.get("auth")) return next();
    const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
    if (!bearer) throw new Unauthenticated("missing bearer token");
    const auth = await authenticateAccessToken(c.get("deps"), bearer);
    c.set("auth", auth);
    c.set("principal", { type: "user", id: auth.user.id });
    await next();
  };
  // Marked for the OpenAPI document: the routes behind it need this scheme.
  return mark(mw, { kind: "auth", scheme: "user" });
}
