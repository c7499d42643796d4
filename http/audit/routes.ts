/** /api/v1/audit: the platform-scope audit trail (platform roles only), filtered and paged newest first. */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { authenticate } from "../middleware/auth/index.ts";
import { requireAction } from "../authorize.ts";
import { valid } from "../validate.ts";
import { AuditQuery } from "../../core/contracts/organizations.ts";
import { listAudit } from "../../sql/audit.ts";
import { auditWire } from "./wire.ts";
import { page } from "../page.ts";

export const auditRoutes = new Hono<AppEnv>()
  .use(authenticate())
  .get("/", valid("query", AuditQuery), async (c) => {
    await requireAction(c, "audit.read_platform", { kind: "platform" });
    const q = c.req.valid("query");
    const rows = await listAudit(c.get("deps").db, {
      ...q,
      actorId: q.actor_id,
      targetId: q.target_id,
      organizationIds: q.organization_id ? [q.organization_id] : undefined,
      limit: q.limit + 1,
    });
    return c.json(page(rows.map(auditWire), q.limit, (e) => e.id));
  });
