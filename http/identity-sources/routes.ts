/**
 * Identity sources, for admins. Under /api/v1/organizations/:orgId:
 * `identity-sources` (list, create, change, delete, mappings, test
 * connection, sync now) and `sso-policy` (require single sign-on). Under
 * /api/v1/platform/identity-sources: the platform's one source for staff.
 * Reading needs `identity_source.read`; every change needs
 * `identity_source.manage` (or the platform's), which is high-risk (step-up);
 * a mapping to `org_owner` also needs `member.manage_owner`.
 */
import { Hono, type Context } from "hono";
import type { AppEnv } from "../env.ts";
import { requireAction } from "../authorize.ts";
import { authenticate } from "../middleware/auth/index.ts";
import { valid } from "../validate.ts";
import { changeOf } from "../change.ts";
import { MappingsBody, NewSourceBody, PlatformSourceParam, SourceParam, SsoPolicyBody, UpdateSourceBody } from "../../core/contracts/identity-sources.ts";
import { OrgIdParam } from "../../core/contracts/organizations.ts";
import { changeSource, createSource, removeSource, setMappings, setSsoPolicy, sourceOf } from "../../control/identity-sources/service.ts";
import { sourcesOf, sourceView, ssoRequired, testConnection } from "../../control/identity-sources/queries.ts";
import { syncDirectory } from "../../control/identity-sources/directory-sync.ts";
import { DomainError } from "../../core/errors.ts";
import { DENIED, describeRoutes } from "../openapi/registry.ts";
import { sourceWire } from "./wire.ts";
import { visibleOrg } from "../organizations/visible-org.ts";

const org = (orgId: string) => ({ kind: "organization", orgId }) as const;
const PLATFORM = { kind: "platform" } as const;

/** The org's source, or 404 (also when the caller cannot read the organization). */
async function orgSource(c: Context<AppEnv>, orgId: string, sourceId: string) {
  const o = await visibleOrg(c, orgId);
  await requireAction(c, "identity_source.read", org(o.id));
  return sourceOf(c.get("deps"), o.id, sourceId);
}

async function view(c: Context<AppEnv>, organizationId: string | null, sourceId: string) {
  return sourceWire(await sourceView(c.get("deps"), await sourceOf(c.get("deps"), organizationId, sourceId)));
}

async function syncNow(c: Context<AppEnv>, source: Awaited<ReturnType<typeof sourceOf>>) {
  if (source.kind !== "ldap") throw new DomainError("identity_source.wrong_kind", "only LDAP sources sync", { kind: source.kind });
  return c.json(await syncDirectory(c.get("deps"), source.id, changeOf(c)));
}

/** Mounted at /api/v1/organizations before the organizations router; authenticates only its own paths. */
export const orgIdentitySourceRoutes = new Hono<AppEnv>()
  .use("/:orgId/identity-sources/*", authenticate())
  .use("/:orgId/sso-policy", authenticate())
  .get("/:orgId/identity-sources", valid("param", OrgIdParam), async (c) => {
    const o = await visibleOrg(c, c.req.valid("param").orgId);
    await requireAction(c, "identity_source.read", org(o.id));
    return c.json({ items: (await sourcesOf(c.get("deps"), o.id)).map(sourceWire), require_sso: await ssoRequired(c.get("deps"), o.id) });
  })
  .post("/:orgId/identity-sources", valid("param", OrgIdParam), valid("json", NewSourceBody), async (c) => {
    const o = await visibleOrg(c, c.req.valid("param").orgId);
    await requireAction(c, "identity_source.manage", org(o.id));
    const id = await createSource(c.get("deps"), o.id, c.req.valid("json"), changeOf(c));
    return c.json(await view(c, o.id, id), 201);
  })
  .get("/:orgId/identity-sources/:sourceId", valid("param", SourceParam), async (c) => {
    const { orgId, sourceId } = c.req.valid("param");
    return c.json(sourceWire(await sourceView(c.get("deps"), await orgSource(c, orgId, sourceId))));
  })
  .patch("/:orgId/identity-sources/:sourceId", valid("param", SourceParam), valid("json", UpdateSourceBody), async (c) => {
    const { orgId, sourceId } = c.req.valid("param");
    const source = await orgSource(c, orgId, sourceId);
    await requireAction(c, "identity_source.manage", org(source.organizationId!));
    await changeSource(c.get("deps"), source, c.req.valid("json"), changeOf(c));
    return c.json(await view(c, source.organizationId, source.id));
  })
  .delete("/:orgId/identity-sources/:sourceId", valid("param", SourceParam), async (c) => {
    const { orgId, sourceId } = c.req.valid("param");
    const source = await orgSource(c, orgId, sourceId);
    await requireAction(c, "identity_source.manage", org(source.organizationId!));
    await removeSource(c.get("deps"), source, changeOf(c));
    return c.body(null, 204);
  })
  .put("/:orgId/identity-sources/:sourceId/mappings", valid("param", SourceParam), valid("json", MappingsBody), async (c) => {
    const { orgId, sourceId } = c.req.valid("param");
    const source = await orgSource(c, orgId, sourceId);
    const { mappings } = c.req.valid("json");
    await requireAction(c, "identity_source.manage", org(source.organizationId!));
    if (mappings.some((m) => m.role === "org_owner")) await requireAction(c, "member.manage_owner", org(source.organizationId!));
    await setMappings(c.get("deps"), source, mappings, changeOf(c));
    return c.json(await view(c, source.organizationId, source.id));
  })
  .post("/:orgId/identity-sources/:sourceId/test", valid("param", SourceParam), async (c) => {
    const { orgId, sourceId } = c.req.valid("param");
    const source = await orgSource(c, orgId, sourceId);
    // Reaching out with the stored secret is a use of it: as high-risk as changing it.
    await requireAction(c, "identity_source.manage", org(source.organizationId!));
    return c.json(await testConnection(c.get("deps"), source, changeOf(c)));
  })
  .post("/:orgId/identity-sources/:sourceId/sync", valid("param", SourceParam), async (c) => {
    const { orgId, sourceId } = c.req.valid("param");
    const source = await orgSource(c, orgId, sourceId);
    await requireAction(c, "identity_source.manage", org(source.organizationId!));
    return syncNow(c, source);
  })
  .put("/:orgId/sso-policy", valid("param", OrgIdParam), valid("json", SsoPolicyBody), async (c) => {
    const o = await visibleOrg(c, c.req.valid("param").orgId);
    await requireAction(c, "identity_source.manage", org(o.id));
    await setSsoPolicy(c.get("deps"), o.id, c.req.valid("json").require_sso, changeOf(c));
    return c.json({ require_sso: await ssoRequired(c.get("deps"), o.id) });
  });

/** Mounted at /api/v1/platform/identity-sources, before the platform router. */
export const platformIdentitySourceRoutes = new Hono<AppEnv>()
  .use(authenticate())
  .get("/", async (c) => {
    await requireAction(c, "platform.read", PLATFORM);
    return c.json({ items: (await sourcesOf(c.get("deps"), null)).map(sourceWire) });
  })
  .post("/", valid("json", NewSourceBody), async (c) => {
    await requireAction(c, "platform_identity_source.manage", PLATFORM);
    const id = await createSource(c.get("deps"), null, c.req.valid("json"), changeOf(c));
    return c.json(await view(c, null, id), 201);
  })
  .patch("/:sourceId", valid("param", PlatformSourceParam), valid("json", UpdateSourceBody), async (c) => {
    await requireAction(c, "platform_identity_source.manage", PLATFORM);
    const source = await sourceOf(c.get("deps"), null, c.req.valid("param").sourceId);
    await changeSource(c.get("deps"), source, c.req.valid("json"), changeOf(c));
    return c.json(await view(c, null, source.id));
  })
  .delete("/:sourceId", valid("param", PlatformSourceParam), async (c) => {
    await requireAction(c, "platform_identity_source.manage", PLATFORM);
    await removeSource(c.get("deps"), await sourceOf(c.get("deps"), null, c.req.valid("param").sourceId), changeOf(c));
    return c.body(null, 204);
  })
  .post("/:sourceId/test", valid("param", PlatformSourceParam), async (c) => {
    await requireAction(c, "platform_identity_source.manage", PLATFORM);
    const source = await sourceOf(c.get("deps"), null, c.req.valid("param").sourceId);
    return c.json(await testConnection(c.get("deps"), source, changeOf(c)));
  })
  .post("/:sourceId/sync", valid("param", PlatformSourceParam), async (c) => {
    await requireAction(c, "platform_identity_source.manage", PLATFORM);
    return syncNow(c, await sourceOf(c.get("deps"), null, c.req.valid("param").sourceId));
  });

const NOT_FOUND = ["organization.not_found", "identity_source.not_found"] as const;
describeRoutes(orgIdentitySourceRoutes, {
  "GET /:orgId/identity-sources": { summary: "The organization's identity sources and require-SSO flag", errors: [...DENIED, "organization.not_found"] },
  "POST /:orgId/identity-sources": {
    summary: "Add an identity source (local, OIDC or LDAP)",
    status: 201,
    errors: [...DENIED, "organization.not_found", "identity_source.name_taken", "identity_source.insecure_transport"],
  },
  "GET /:orgId/identity-sources/:sourceId": { summary: "An identity source", errors: [...DENIED, ...NOT_FOUND] },
  "PATCH /:orgId/identity-sources/:sourceId": {
    summary: "Change an identity source (config is replaced whole; a secret left out stays)",
    errors: [...DENIED, ...NOT_FOUND, "identity_source.name_taken", "identity_source.insecure_transport", "identity_source.wrong_kind"],
  },
  "DELETE /:orgId/identity-sources/:sourceId": { summary: "Remove an identity source", status: 204, errors: [...DENIED, ...NOT_FOUND] },
  "PUT /:orgId/identity-sources/:sourceId/mappings": { summary: "Replace the group → role mappings", errors: [...DENIED, ...NOT_FOUND] },
  "POST /:orgId/identity-sources/:sourceId/test": { summary: "Test the connection to the provider or directory", errors: [...DENIED, ...NOT_FOUND] },
  "POST /:orgId/identity-sources/:sourceId/sync": { summary: "Sync an LDAP directory now", errors: [...DENIED, ...NOT_FOUND, "identity_source.wrong_kind"] },
  "PUT /:orgId/sso-policy": { summary: "Require single sign-on for members (owners keep their password)", errors: [...DENIED, "organization.not_found"] },
});
describeRoutes(platformIdentitySourceRoutes, {
  "GET /": { summary: "The platform's identity source", errors: [...DENIED] },
  "POST /": { summary: "Add the platform's identity source", status: 201, errors: [...DENIED, "identity_source.platform_exists"] },
  "PATCH /:sourceId": { summary: "Change the platform's identity source", errors: [...DENIED, "identity_source.not_found"] },
  "DELETE /:sourceId": { summary: "Remove the platform's identity source", status: 204, errors: [...DENIED, "identity_source.not_found"] },
  "POST /:sourceId/test": { summary: "Test the platform source's connection", errors: [...DENIED, "identity_source.not_found"] },
  "POST /:sourceId/sync": { summary: "Sync the platform's LDAP directory now", errors: [...DENIED, "identity_source.not_found", "identity_source.wrong_kind"] },
});
