/** /api/v1/me: who the caller is, their effective platform roles, memberships and second-factor state. */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { authenticate } from "../middleware/auth/index.ts";
import { describeRoutes } from "../openapi/registry.ts";

export const meRoutes = new Hono<AppEnv>().use(authenticate()).get("/", (c) => {
  const { user, session, subject } = c.get("auth");
  return c.json({
    id: user.id,
    email: user.email,
    display_name: user.displayName,
    platform_roles: subject.platformRoles,
    memberships: [...subject.memberships].map(([organization_id, role]) => ({ organization_id, role })),
    mfa_enabled: subject.mfaEnrolled,
    session: { id: session.id, mfa_at: session.mfaAt?.toISOString() ?? null, device_trusted: subject.deviceTrusted },
  });
});

describeRoutes(meRoutes, {
  "GET /": { summary: "The signed-in user, roles, memberships and session" },
});
