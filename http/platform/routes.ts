/**
 * /api/v1/platform: platform-scope administration: Product Root signed role
 * grants (strict), the dev-mode role column, account recovery and master key
 * rotation. Every route checks its action; high-risk ones need step-up.
 */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { authenticate } from "../middleware/auth/index.ts";
import { requireAction } from "../authorize.ts";
import { valid } from "../validate.ts";
import { changeOf } from "../change.ts";
import { DevPlatformRoleBody, GrantBody, IdParam } from "../../core/contracts/auth.ts";
import { platformRoleGrants } from "../../control/installation/queries.ts";
import { recordGrant, revokeGrantById } from "../../control/installation/service.ts";
import { rotateSecrets } from "../../control/secrets.ts";
import { setDevPlatformRole, unlockUser } from "../../control/platform/users.ts";
import { overview } from "../../control/platform/overview.ts";
import { DENIED, describeRoutes } from "../openapi/registry.ts";

const PLATFORM = { kind: "platform" } as const;

export const platformRoutes = new Hono<AppEnv>()
  .use(authenticate())
  .get("/overview", async (c) => {
    await requireAction(c, "cluster.read", PLATFORM);
    return c.json(await overview(c.get("deps").db, c.get("deps").clock()));
  })
  .get("/role-grants", async (c) => {
    await requireAction(c, "platform.read", PLATFORM);
    const rows = await platformRoleGrants(c.get("deps"));
    return c.json({
      items: rows.map((g) => ({
        id: g.id,
        user_id: g.userId,
        role: g.role,
        key_fingerprint: g.keyFingerprint,
        created_at: g.createdAt.toISOString(),
        revoked_at: g.revokedAt?.toISOString() ?? null,
      })),
    });
  })
  .post("/role-grants", valid("json", GrantBody), async (c) => {
    await requireAction(c, "platform_role.grant", PLATFORM);
    return c.json(await recordGrant(c.get("deps"), c.req.valid("json").grant, changeOf(c)), 201);
  })
  .delete("/role-grants/:id", valid("param", IdParam), async (c) => {
    await requireAction(c, "platform_role.grant", PLATFORM);
    await revokeGrantById(c.get("deps"), c.req.valid("param").id, changeOf(c));
    return c.body(null, 204);
  })
  .put("/users/:id/platform-role", valid("param", IdParam), valid("json", DevPlatformRoleBody), async (c) => {
    await requireAction(c, "platform_role.grant", PLATFORM);
    const { id } = c.req.valid("param");
    const { role } = c.req.valid("json");
    await setDevPlatformRole(c.get("deps"), id, role, changeOf(c));
    return c.json({ user_id: id, role });
  })
  .post("/users/:id/unlock", valid("param", IdParam), async (c) => {
    await requireAction(c, "user.recover", PLATFORM);
    const { id } = c.req.valid("param");
    await unlockUser(c.get("deps"), id, changeOf(c));
    return c.json({ user_id: id, locked: false });
  })
  .post("/secrets/rotate", async (c) => {
    await requireAction(c, "secret.rotate_keys", PLATFORM);
    return c.json(await rotateSecrets(c.get("deps"), changeOf(c)));
  });

describeRoutes(platformRoutes, {
  "GET /overview": { summary: "Counts of clusters, nodes and sessions", errors: DENIED },
  "GET /role-grants": { summary: "Signed platform role grants", errors: DENIED },
  "POST /role-grants": {
    summary: "Record a Product Root signed role grant",
    status: 201,
    errors: [
      ...DENIED,
      "installation.signature_invalid",
      "installation.wrong_installation",
      "installation.grant_exists",
      "user.not_found",
      "installation.strict_mode_requires_grant",
    ],
  },
  "DELETE /role-grants/:id": { summary: "Revoke a role grant", status: 204, errors: [...DENIED, "installation.grant_not_found"] },
  "PUT /users/:id/platform-role": {
    summary: "Set a user's platform role (dev mode only)",
    errors: [...DENIED, "user.not_found", "installation.strict_mode_requires_grant"],
  },
  "POST /users/:id/unlock": { summary: "Clear a user's sign-in lockout", errors: [...DENIED, "user.not_found"] },
  "POST /secrets/rotate": { summary: "Re-wrap every secret with the active master key", errors: DENIED },
});
