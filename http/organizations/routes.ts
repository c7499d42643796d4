/**
 * /api/v1/organizations: organizations, their members and their audit trail.
 * An organization the caller cannot read answers 404, exactly like one that
 * does not exist.
 */
import { Hono, type Context } from "hono";
import type { AppEnv } from "../env.ts";
import { authenticate } from "../middleware/auth/index.ts";
import { requireAction } from "../authorize.ts";
import { valid } from "../validate.ts";
import { changeOf } from "../change.ts";
import {
  MemberParam,
  NewMemberBody,
  NewOrganizationBody,
  OrgAuditQuery,
  OrgIdParam,
  PageQuery,
  UpdateMemberBody,
  UpdateOrganizationBody,
} from "../../core/contracts/organizations.ts";
import { readableOrgs } from "../../core/authz.ts";
import {
  members,
  membership,
  organization,
  organizationEndpoints,
  organizations,
  signedInMembers,
  type MemberRow,
  type OrgRow,
} from "../../control/organizations/queries.ts";
import { organizationAudit } from "../../control/audit/service.ts";
import { addMember, changeMember, createOrganization, removeMember, renameOrganization, touchesOwner } from "../../control/organizations/service.ts";
import { auditWire } from "../audit/wire.ts";
import { page } from "../page.ts";
import { DENIED, describeRoutes } from "../openapi/registry.ts";
import { visibleOrg } from "./visible-org.ts";

export const orgWire = (o: OrgRow) => ({ id: o.id, name: o.name, slug: o.slug, status: o.status, created_at: o.createdAt });
const memberWire = (m: MemberRow) => ({
  user_id: m.userId,
  email: m.email,
  display_name: m.displayName,
  role: m.role,
  status: m.status,
  created_at: m.createdAt,
});

export const organizationRoutes = new Hono<AppEnv>()
  .use(authenticate())
  .post("/", valid("json", NewOrganizationBody), async (c) => {
    await requireAction(c, "organization.create", { kind: "platform" });
    const id = await createOrganization(c.get("deps"), c.req.valid("json"), changeOf(c));
    return c.json(orgWire((await organization(c.get("deps"), id))!), 201);
  })
  .get("/", valid("query", PageQuery), async (c) => {
    const q = c.req.valid("query");
    const rows = await organizations(c.get("deps"), { ids: readableOrgs(c.get("auth").subject), after: q.after, limit: q.limit + 1 });
    return c.json(page(rows.map(orgWire), q.limit, (o) => o.id));
  })
  .get("/:orgId", valid("param", OrgIdParam), async (c) => c.json(orgWire(await visibleOrg(c, c.req.valid("param").orgId))))
  .patch("/:orgId", valid("param", OrgIdParam), valid("json", UpdateOrganizationBody), async (c) => {
    const org = await visibleOrg(c, c.req.valid("param").orgId);
    await requireAction(c, "organization.update", { kind: "organization", orgId: org.id });
    await renameOrganization(c.get("deps"), org.id, c.req.valid("json").name, changeOf(c));
    return c.json(orgWire((await organization(c.get("deps"), org.id))!));
  })
  .get("/:orgId/members", valid("param", OrgIdParam), valid("query", PageQuery), async (c) => {
    const org = await visibleOrg(c, c.req.valid("param").orgId);
    await requireAction(c, "member.read", { kind: "organization", orgId: org.id });
    const q = c.req.valid("query");
    const rows = await members(c.get("deps"), org.id, { after: q.after, limit: q.limit + 1 });
    return c.json(page(rows.map(memberWire), q.limit, (m) => m.user_id));
  })
  .post("/:orgId/members", valid("param", OrgIdParam), valid("json", NewMemberBody), async (c) => {
    const org = await visibleOrg(c, c.req.valid("param").orgId);
    const body = c.req.valid("json");
    await requireAction(c, body.role === "org_owner" ? "member.manage_owner" : "member.manage", { kind: "organization", orgId: org.id });
    const userId = await addMember(c.get("deps"), org.id, body, changeOf(c));
    return c.json(memberWire((await membership(c.get("deps"), org.id, userId))!), 201);
  })
  .patch("/:orgId/members/:userId", valid("param", MemberParam), valid("json", UpdateMemberBody), async (c) => {
    const { orgId, userId } = c.req.valid("param");
    const org = await visibleOrg(c, orgId);
    const patch = c.req.valid("json");
    await requireMemberChange(c, org.id, userId, patch.role);
    await changeMember(c.get("deps"), org.id, userId, patch, changeOf(c));
    return c.json(memberWire((await membership(c.get("deps"), org.id, userId))!));
  })
  .delete("/:orgId/members/:userId", valid("param", MemberParam), async (c) => {
    const { orgId, userId } = c.req.valid("param");
    const org = await visibleOrg(c, orgId);
    await requireMemberChange(c, org.id, userId);
    await removeMember(c.get("deps"), org.id, userId, changeOf(c));
    return c.body(null, 204);
  })
  // Sessions of members: those who manage members see who is signed in (no device hashes, addresses or tokens).
  .get("/:orgId/sessions", valid("param", OrgIdParam), async (c) => {
    const org = await visibleOrg(c, c.req.valid("param").orgId);
    await requireAction(c, "member.manage", { kind: "organization", orgId: org.id });
    const rows = await signedInMembers(c.get("deps"), org.id);
    return c.json({
      items: rows.map((s) => ({
        id: s.id,
        user_id: s.userId,
        email: s.email,
        created_at: s.createdAt,
        last_seen_at: s.lastSeenAt,
        expires_at: s.expiresAt,
        mfa_verified: s.mfa,
      })),
    });
  })
  // Entry and egress names the organization may use: safe names and availability only, never nodes or addresses.
  .get("/:orgId/endpoints", valid("param", OrgIdParam), async (c) => {
    const org = await visibleOrg(c, c.req.valid("param").orgId);
    await requireAction(c, "resource.read", { kind: "organization", orgId: org.id });
    return c.json(await organizationEndpoints(c.get("deps"), org.id));
  })
  .get("/:orgId/audit", valid("param", OrgIdParam), valid("query", OrgAuditQuery), async (c) => {
    const org = await visibleOrg(c, c.req.valid("param").orgId);
    await requireAction(c, "audit.read_org", { kind: "organization", orgId: org.id });
    const q = c.req.valid("query");
    const rows = await organizationAudit(c.get("deps"), org.id, q);
    return c.json(page(rows.map(auditWire), q.limit, (e) => e.id));
  });

async function requireMemberChange(c: Context<AppEnv>, orgId: string, userId: string, newRole?: Parameters<typeof touchesOwner>[3]) {
  const owner = await touchesOwner(c.get("deps"), orgId, userId, newRole);
  await requireAction(c, owner ? "member.manage_owner" : "member.manage", { kind: "organization", orgId });
}

describeRoutes(organizationRoutes, {
  "POST /": { summary: "Create an organization", status: 201, errors: [...DENIED, "organization.slug_taken"] },
  "GET /": { summary: "Organizations I can read" },
  "GET /:orgId": { summary: "An organization", errors: ["organization.not_found"] },
  "PATCH /:orgId": { summary: "Change an organization", errors: [...DENIED, "organization.not_found", "organization.slug_taken"] },
  "GET /:orgId/members": { summary: "Members of an organization", errors: [...DENIED, "organization.not_found"] },
  "POST /:orgId/members": { summary: "Add a member (a new or existing user)", status: 201, errors: [...DENIED, "organization.not_found", "member.exists"] },
  "PATCH /:orgId/members/:userId": {
    summary: "Change a member's role or status",
    errors: [...DENIED, "organization.not_found", "member.not_found", "member.last_owner"],
  },
  "DELETE /:orgId/members/:userId": {
    summary: "Remove a member",
    status: 204,
    errors: [...DENIED, "organization.not_found", "member.not_found", "member.last_owner"],
  },
  "GET /:orgId/sessions": { summary: "Members' sign-in sessions", errors: [...DENIED, "organization.not_found"] },
  "GET /:orgId/endpoints": { summary: "Where the organization's users connect", errors: [...DENIED, "organization.not_found"] },
  "GET /:orgId/audit": { summary: "The organization's audit log", errors: [...DENIED, "organization.not_found"] },
});
