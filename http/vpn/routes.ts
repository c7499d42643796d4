/**
 * VPN connections over HTTP (docs/vpn.md).
 *
 * - `/api/v1/organizations/:orgId/vpn-connections`: an organization's
 *   connections, managed by its owners and admins (and the platform). What
 *   they read is the configuration and a status, never topology: no node ids,
 *   no epochs (§9.1 "Visibility"). Naming nodes in the allowed-node list is a
 *   platform decision (`cluster.manage`).
 * - `/api/v1/platform/vpn-connections`: every connection with its owner,
 *   standby, epoch, lease expiry and failovers, and a lease's history.
 *
 * A connection in an organization the caller cannot read answers 404.
 */
import { Hono, type Context } from "hono";
import * as v from "valibot";
import type { AppEnv } from "../env.ts";
import { authenticate } from "../middleware/auth/index.ts";
import { canRead, requireAction } from "../authorize.ts";
import { valid } from "../validate.ts";
import { changeOf } from "../change.ts";
import { DomainError } from "../../core/errors.ts";
import { OrgIdParam } from "../../core/contracts/organizations.ts";
import { DisableVpnBody, NewVpnBody, OrgVpnParam, UpdateVpnBody, type VpnConfigBody, VpnIdParam } from "../../core/contracts/vpn.ts";
import { createVpnConnection, deleteVpnConnection, setVpnConnectionEnabled, updateVpnConnection, type VpnConfig } from "../../control/vpn/service.ts";
import { routingOnWire } from "../../control/vpn/config.ts";
import { vpnConnection, vpnConnections, vpnHistory, type VpnView } from "../../control/vpn/queries.ts";
import { visibleOrg } from "../organizations/visible-org.ts";
import { DENIED, describeRoutes } from "../openapi/registry.ts";

/** What an organization may know of where its connection runs: whether it runs, not where. */
function statusOf(c: VpnView): "disabled" | "active" | "failing_over" | "waiting_for_node" {
  if (c.state !== "enabled") return "disabled";
  if (c.lease?.state === "held") return "active";
  if (c.lease?.state === "fencing") return "failing_over";
  return "waiting_for_node";
}

const orgWire = (c: VpnView) => ({
  id: c.id,
  organization_id: c.organizationId,
  name: c.name,
  desired_state: c.state,
  status: statusOf(c),
  disabled_reason: c.disabledReason,
  mode: c.mode,
  target: c.target,
  routing: routingOnWire(c.routing),
  placement: { allowed_regions: c.placement.allowedRegions, preferred_regions: c.placement.preferredRegions, standby: c.placement.standby },
  bandwidth: { max_mbps: c.bandwidth.maxMbps, per_client_mbps: c.bandwidth.perClientMbps },
  secret_version: c.secretVersion,
  created_at: c.createdAt,
  updated_at: c.updatedAt,
});

const platformWire = (c: VpnView) => ({
  ...orgWire(c),
  allowed_node_ids: c.allowedNodes.mode === "list" ? c.allowedNodes.nodeIds : [],
  lease: c.lease && {
    state: c.lease.state,
    epoch: c.lease.epoch,
    owner_node_id: c.lease.ownerNodeId,
    standby_node_id: c.lease.standbyNodeId,
    ttl_seconds: c.lease.ttlMs / 1000,
    granted_at: c.lease.grantedAt,
    renewed_at: c.lease.renewedAt,
    expires_at: c.lease.expiresAt,
    fenced_reason: c.lease.fencedReason,
    last_end_reason: c.lease.lastEndReason,
    failovers: c.lease.failovers,
  },
});

function configOf(b: v.InferOutput<typeof VpnConfigBody>): VpnConfig {
  return {
    name: b.name,
    target: b.target,
    allowedNodes: b.allowed_node_ids.length ? { mode: "list", nodeIds: [...new Set(b.allowed_node_ids)] } : { mode: "any" },
    mode: "single_active",
    routing: {
      allowedCidrs: b.routing.allowed_cidrs,
      deniedCidrs: b.routing.denied_cidrs,
      dnsRoutes: b.routing.dns_routes,
      services: [...new Set(b.routing.services)],
      resourceIds: [...new Set(b.routing.resource_ids)],
      internetEgress: b.routing.internet_egress,
    },
    placement: {
      allowedRegions: b.placement.allowed_regions ?? [],
      preferredRegions: b.placement.preferred_regions ?? [],
      standby: b.placement.standby ?? true,
    },
    bandwidth: { maxMbps: b.bandwidth.max_mbps ?? null, perClientMbps: b.bandwidth.per_client_mbps ?? null },
  };
}

/** The connection, if the caller may read its organization; else 404. */
async function visibleVpn(c: Context<AppEnv>, orgId: string, vpnId: string): Promise<VpnView> {
  const found = canRead(c, orgId, "vpn.read") ? await vpnConnection(c.get("deps"), vpnId) : undefined;
  if (!found || found.organizationId !== orgId) throw new DomainError("vpn.not_found", "no such VPN connection", { id: vpnId });
  return found;
}

/** Naming nodes is the platform's business: an organization never sees them. */
async function mayNameNodes(c: Context<AppEnv>, ids: string[]): Promise<void> {
  if (ids.length) await requireAction(c, "cluster.manage", { kind: "platform" });
}

export const orgVpnRoutes = new Hono<AppEnv>()
  .use(authenticate())
  .get("/:orgId/vpn-connections", valid("param", OrgIdParam), async (c) => {
    const org = await visibleOrg(c, c.req.valid("param").orgId);
    await requireAction(c, "vpn.read", { kind: "organization", orgId: org.id });
    return c.json({ items: (await vpnConnections(c.get("deps"), org.id)).map(orgWire) });
  })
  .post("/:orgId/vpn-connections", valid("param", OrgIdParam), valid("json", NewVpnBody), async (c) => {
    const org = await visibleOrg(c, c.req.valid("param").orgId);
    await requireAction(c, "vpn.manage", { kind: "organization", orgId: org.id });
    const b = c.req.valid("json");
    await mayNameNodes(c, b.allowed_node_ids);
    const id = await createVpnConnection(c.get("deps"), org.id, { config: configOf(b), secret: b.secret, enabled: b.enabled }, changeOf(c));
    return c.json(orgWire((await vpnConnection(c.get("deps"), id))!), 201);
  })
  .get("/:orgId/vpn-connections/:vpnId", valid("param", OrgVpnParam), async (c) => {
    const { orgId, vpnId } = c.req.valid("param");
    return c.json(orgWire(await visibleVpn(c, orgId, vpnId)));
  })
  .put("/:orgId/vpn-connections/:vpnId", valid("param", OrgVpnParam), valid("json", UpdateVpnBody), async (c) => {
    const { orgId, vpnId } = c.req.valid("param");
    const found = await visibleVpn(c, orgId, vpnId);
    await requireAction(c, "vpn.manage", { kind: "organization", orgId });
    const b = c.req.valid("json");
    const named = b.allowed_node_ids;
    const keptList = found.allowedNodes.mode === "list" ? found.allowedNodes.nodeIds : [];
    if (named.length !== keptList.length || named.some((id) => !keptList.includes(id))) await mayNameNodes(c, [...named, ...keptList]);
    await updateVpnConnection(c.get("deps"), orgId, vpnId, { config: configOf(b), secret: b.secret }, changeOf(c));
    return c.json(orgWire((await vpnConnection(c.get("deps"), vpnId))!));
  })
  .post("/:orgId/vpn-connections/:vpnId/disable", valid("param", OrgVpnParam), valid("json", DisableVpnBody), async (c) => {
    const { orgId, vpnId } = c.req.valid("param");
    await visibleVpn(c, orgId, vpnId);
    await requireAction(c, "vpn.manage", { kind: "organization", orgId });
    const b = c.req.valid("json");
    await setVpnConnectionEnabled(c.get("deps"), orgId, vpnId, false, { reason: b.reason, force: b.force }, changeOf(c));
    return c.json(orgWire((await vpnConnection(c.get("deps"), vpnId))!));
  })
  .post("/:orgId/vpn-connections/:vpnId/enable", valid("param", OrgVpnParam), async (c) => {
    const { orgId, vpnId } = c.req.valid("param");
    await visibleVpn(c, orgId, vpnId);
    await requireAction(c, "vpn.manage", { kind: "organization", orgId });
    await setVpnConnectionEnabled(c.get("deps"), orgId, vpnId, true, {}, changeOf(c));
    return c.json(orgWire((await vpnConnection(c.get("deps"), vpnId))!));
  })
  .delete("/:orgId/vpn-connections/:vpnId", valid("param", OrgVpnParam), async (c) => {
    const { orgId, vpnId } = c.req.valid("param");
    await visibleVpn(c, orgId, vpnId);
    await requireAction(c, "vpn.manage", { kind: "organization", orgId });
    await deleteVpnConnection(c.get("deps"), orgId, vpnId, changeOf(c));
    return c.body(null, 204);
  });

const HistoryQuery = v.strictObject({
  limit: v.optional(v.pipe(v.string(), v.regex(/^\d{1,4}$/), v.transform(Number), v.minValue(1), v.maxValue(1000)), "200"),
});

export const platformVpnRoutes = new Hono<AppEnv>()
  .use(authenticate())
  .get("/", async (c) => {
    await requireAction(c, "cluster.read", { kind: "platform" });
    return c.json({ items: (await vpnConnections(c.get("deps"), null)).map(platformWire) });
  })
  .get("/:vpnId", valid("param", VpnIdParam), async (c) => {
    await requireAction(c, "cluster.read", { kind: "platform" });
    const found = await vpnConnection(c.get("deps"), c.req.valid("param").vpnId);
    if (!found) throw new DomainError("vpn.not_found", "no such VPN connection", { id: c.req.valid("param").vpnId });
    return c.json(platformWire(found));
  })
  .get("/:vpnId/history", valid("param", VpnIdParam), valid("query", HistoryQuery), async (c) => {
    await requireAction(c, "cluster.read", { kind: "platform" });
    const { vpnId } = c.req.valid("param");
    if (!(await vpnConnection(c.get("deps"), vpnId))) throw new DomainError("vpn.not_found", "no such VPN connection", { id: vpnId });
    return c.json({ items: await vpnHistory(c.get("deps"), vpnId, c.req.valid("query").limit) });
  });

const NOT_FOUND = [...DENIED, "organization.not_found", "vpn.not_found"] as const;
const BAD_CONFIG = ["vpn.cidr_invalid", "vpn.cidr_overlap", "vpn.dns_suffix_invalid", "vpn.dns_server_invalid", "vpn.unknown_nodes", "vpn.name_taken"] as const;

describeRoutes(orgVpnRoutes, {
  "GET /:orgId/vpn-connections": {
    summary: "The organization's VPN connections and their status (no topology)",
    errors: [...DENIED, "organization.not_found"],
  },
  "POST /:orgId/vpn-connections": { summary: "Create a VPN connection (WireGuard, single active owner)", status: 201, errors: [...NOT_FOUND, ...BAD_CONFIG] },
  "GET /:orgId/vpn-connections/:vpnId": { summary: "A VPN connection and its status", errors: NOT_FOUND },
  "PUT /:orgId/vpn-connections/:vpnId": {
    summary: "Replace a VPN connection's configuration (and optionally its secret)",
    errors: [...NOT_FOUND, ...BAD_CONFIG],
  },
  "POST /:orgId/vpn-connections/:vpnId/disable": {
    summary: "Disable a VPN connection: its owner is fenced, nobody takes over",
    errors: [...NOT_FOUND, "vpn.clients_attached"],
  },
  "POST /:orgId/vpn-connections/:vpnId/enable": { summary: "Enable a VPN connection: placement picks an owner", errors: NOT_FOUND },
  "DELETE /:orgId/vpn-connections/:vpnId": { summary: "Delete a disabled VPN connection", status: 204, errors: [...NOT_FOUND, "vpn.not_disabled"] },
});

describeRoutes(platformVpnRoutes, {
  "GET /": { summary: "Every VPN connection with its owner, standby, epoch and failovers", errors: DENIED },
  "GET /:vpnId": { summary: "One VPN connection with its lease", errors: [...DENIED, "vpn.not_found"] },
  "GET /:vpnId/history": { summary: "A VPN connection's lease history (grants, renewals, expiries, releases, fences)", errors: [...DENIED, "vpn.not_found"] },
});
