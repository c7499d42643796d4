/**
 * /api/v1/resources: organization resources with their access policies, and
 * `PUT /:id/secret` to create or rotate their credentials. A resource in an
 * organization the caller cannot read answers 404.
 */
import { Hono, type Context } from "hono";
import type { AppEnv } from "../env.ts";
import { authenticate } from "../middleware/auth/index.ts";
import { canRead, requireAction } from "../authorize.ts";
import { valid } from "../validate.ts";
import { changeOf } from "../change.ts";
import { ListResourcesQuery, NewResourceBody, normalizeHostKey, ResourceIdParam, SecretBody, UpdateResourceBody } from "../../core/contracts/organizations.ts";
import { readableOrgs } from "../../core/authz.ts";
import { DomainError } from "../../core/errors.ts";
import { resource, resources, type ResourceFields, type ResourceRow } from "../../control/resources/queries.ts";
import { organization } from "../../control/organizations/queries.ts";
import { page } from "../page.ts";
import { DEFAULT_DETACHED_TIMEOUT_SECONDS } from "../../control/resources/service.ts";
import { changeResource, createResource, putResourceSecret, removeResource } from "../../control/resources/service.ts";
import { DENIED, describeRoutes } from "../openapi/registry.ts";

export const resourceWire = (r: ResourceRow) => ({
  id: r.id,
  organization_id: r.organizationId,
  name: r.name,
  protocol: r.protocol,
  target_host: r.targetHost,
  target_port: r.targetPort,
  egress_pool: r.egressPool,
  certificate_verification_mode: r.certificateVerificationMode,
  host_key_fingerprint: r.hostKeyFingerprint,
  clipboard_mode: r.clipboardMode,
  file_transfer_mode: r.fileTransferMode,
  quality_profile: r.qualityProfile,
  color_mode: r.colorMode,
  quality_adjustable: r.qualityAdjustable,
  detached_timeout_seconds: r.detachedTimeoutSeconds,
  vpn_connection_id: r.vpnConnectionId,
  metadata: r.metadata,
  secret_ref: r.secretRef,
  created_at: r.createdAt,
  updated_at: r.updatedAt,
});

type Body = {
  name?: string;
  protocol?: ResourceFields["protocol"];
  target_host?: string;
  target_port?: number;
  egress_pool?: string | null;
  certificate_verification_mode?: "strict" | "ignore";
  host_key_fingerprint?: string | null;
  clipboard_mode?: ResourceFields["clipboardMode"];
  file_transfer_mode?: ResourceFields["fileTransferMode"];
  quality_profile?: ResourceFields["qualityProfile"];
  color_mode?: ResourceFields["colorMode"];
  quality_adjustable?: boolean;
  detached_timeout_seconds?: number;
  vpn_connection_id?: string | null;
  metadata?: Record<string, unknown>;
};
const fieldsOf = (b: Body): Partial<ResourceFields> => ({
  name: b.name,
  protocol: b.protocol,
  targetHost: b.target_host,
  targetPort: b.target_port,
  egressPool: b.egress_pool,
  certificateVerificationMode: b.certificate_verification_mode,
  hostKeyFingerprint: b.host_key_fingerprint === undefined ? undefined : normalizeHostKey(b.host_key_fingerprint),
  clipboardMode: b.clipboard_mode,
  fileTransferMode: b.file_transfer_mode,
  qualityProfile: b.quality_profile,
  colorMode: b.color_mode,
  qualityAdjustable: b.quality_adjustable,
  detachedTimeoutSeconds: b.detached_timeout_seconds,
  vpnConnectionId: b.vpn_connection_id,
  metadata: b.metadata,
});

async function visibleResource(c: Context<AppEnv>, id: string): Promise<ResourceRow> {
  const r = await resource(c.get("deps"), id);
  if (!r || !canRead(c, r.organizationId, "resource.read")) throw new DomainError("resource.not_found", "no such resource", { id });
  return r;
}

export const resourceRoutes = new Hono<AppEnv>()
  .use(authenticate())
  .post("/", valid("json", NewResourceBody), async (c) => {
    const b = c.req.valid("json");
    if (!canRead(c, b.organization_id, "organization.read") || !(await organization(c.get("deps"), b.organization_id))) {
      throw new DomainError("organization.not_found", "no such organization", { id: b.organization_id });
    }
    await requireAction(c, "resource.create", { kind: "organization", orgId: b.organization_id });
    if (b.secret) await requireAction(c, "resource.secret_write", { kind: "organization", orgId: b.organization_id });
    const fields: ResourceFields = {
      name: b.name,
      protocol: b.protocol,
      targetHost: b.target_host,
      targetPort: b.target_port,
      egressPool: b.egress_pool ?? null,
      certificateVerificationMode: b.certificate_verification_mode ?? "strict",
      hostKeyFingerprint: normalizeHostKey(b.host_key_fingerprint ?? null),
      clipboardMode: b.clipboard_mode ?? "disabled",
      fileTransferMode: b.file_transfer_mode ?? "disabled",
      qualityProfile: b.quality_profile ?? "balanced",
      colorMode: b.color_mode ?? null,
      qualityAdjustable: b.quality_adjustable ?? true,
      detachedTimeoutSeconds: b.detached_timeout_seconds ?? DEFAULT_DETACHED_TIMEOUT_SECONDS,
      vpnConnectionId: b.vpn_connection_id ?? null,
      metadata: b.metadata ?? {},
    };
    const id = await createResource(c.get("deps"), b.organization_id, fields, b.secret, changeOf(c));
    return c.json(resourceWire((await resource(c.get("deps"), id))!), 201);
  })
  .get("/", valid("query", ListResourcesQuery), async (c) => {
    const q = c.req.valid("query");
    const readable = readableOrgs(c.get("auth").subject);
    let orgIds = readable;
    if (q.organization_id) orgIds = readable === null || readable.includes(q.organization_id) ? [q.organization_id] : [];
    const rows = await resources(c.get("deps"), { orgIds, after: q.after, limit: q.limit + 1 });
    return c.json(page(rows.filter((r) => canRead(c, r.organizationId, "resource.read")).map(resourceWire), q.limit, (r) => r.id));
  })
  .get("/:id", valid("param", ResourceIdParam), async (c) => c.json(resourceWire(await visibleResource(c, c.req.valid("param").id))))
  .patch("/:id", valid("param", ResourceIdParam), valid("json", UpdateResourceBody), async (c) => {
    const r = await visibleResource(c, c.req.valid("param").id);
    await requireAction(c, "resource.update", { kind: "organization", orgId: r.organizationId });
    await changeResource(c.get("deps"), r, fieldsOf(c.req.valid("json")), changeOf(c));
    return c.json(resourceWire((await resource(c.get("deps"), r.id))!));
  })
  .delete("/:id", valid("param", ResourceIdParam), async (c) => {
    const r = await visibleResource(c, c.req.valid("param").id);
    await requireAction(c, "resource.delete", { kind: "organization", orgId: r.organizationId });
    await removeResource(c.get("deps"), r, changeOf(c));
    return c.body(null, 204);
  })
  .put("/:id/secret", valid("param", ResourceIdParam), valid("json", SecretBody), async (c) => {
    const r = await visibleResource(c, c.req.valid("param").id);
    await requireAction(c, "resource.secret_write", { kind: "organization", orgId: r.organizationId });
    return c.json(await putResourceSecret(c.get("deps"), r, c.req.valid("json"), changeOf(c)));
  });

describeRoutes(resourceRoutes, {
  "POST /": {
    summary: "Create a resource",
    status: 201,
    errors: [...DENIED, "organization.not_found", "resource.name_taken", "resource.secret_required", "resource.plaintext_credentials"],
  },
  "GET /": { summary: "Resources I can read", errors: ["organization.not_found"] },
  "GET /:id": { summary: "A resource", errors: ["resource.not_found"] },
  "PATCH /:id": { summary: "Change a resource", errors: [...DENIED, "resource.not_found", "resource.name_taken", "resource.plaintext_credentials"] },
  "DELETE /:id": { summary: "Delete a resource", status: 204, errors: [...DENIED, "resource.not_found"] },
  "PUT /:id/secret": { summary: "Store a resource's credentials (encrypted)", errors: [...DENIED, "resource.not_found"] },
});
