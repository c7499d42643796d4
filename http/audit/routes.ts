/** /api/v1/audit: the platform-scope audit trail (platform roles only), filtered and paged newest first. */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { authenticate } from "../middleware/auth/index.ts";
import { requireAction } from "../authorize.ts";
import { valid } from "../validate.ts";
import { AuditQuery } from "../../core/contracts/organizations.ts";
import { platformAudit } from "../../control/audit/service.ts";
import { auditWire } from "./wire.ts";
import { page } from "../page.ts";
import { DENIED, describeRoutes } from "../openapi/registry.ts";

export const auditRoutes = new Hono<AppEnv>().use(authenticate()).get("/", valid("query", AuditQuery), async (c) => {
  await requireAction(c, "audit.read_platform", { kind: "platform" });
  const q = c.req.valid("query");
  return c.json(page((await platformAudit(c.get("deps"), q)).map(auditWire), q.limit, (e) => e.id));
});

describeRoutes(auditRoutes, {
  "GET /": { summary: "The platform audit log", errors: DENIED },
});
