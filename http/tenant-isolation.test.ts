/**
 * Tenant isolation, generated from the app's own route table: every API route
 * must have a case here (a new route without one fails this test). An owner
 * of organization A, with a fresh step-up so MFA is never what stops them,
 * is pointed at organization B's objects through every route, with B's real
 * ids (leaked) and with guessed ids, and must get 403/404 while B's rows stay
 * byte-for-byte the same. Everything A's people can read is then checked for
 * topology and trust material.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { useStores } from "../fixtures/stores.ts";
import { makeApp, type TestApp } from "../fixtures/control-plane.ts";
import { addMember, bootstrapOwner, createOrg, enrollTotp, json, PASSWORD, stepUp, type Session } from "../fixtures/identity.ts";
import { newId } from "../core/ids.ts";
import { apiRoutes, fillParams } from "../fixtures/routes.ts";

const stores = useStores();

setDefaultTimeout(60_000);

let t: TestApp;
let platformOwner: Session;
let a: { org: string; owner: Session; viewer: Session; resource: string };
let b: { org: string; owner: Session; member: Session; resource: string; session: string; remoteSession: string; source: string; vpn: string };

type Ids = { org: string; resource: string; user: string; session: string; remoteSession: string; source: string; vpn: string; any: string };
type Case =
  | { kind: "tenant"; body?: (ids: Ids) => unknown; query?: (ids: Ids) => string }
  | { kind: "platform"; body?: unknown }
  | { kind: "own-account"; body?: unknown }
  | { kind: "node-only"; body?: unknown }
  | { kind: "public" };

const WG_KEY = "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=";
const vpnBody = {
  name: "intruder",
  target: { site: "x", address: "198.51.100.9", port: 51820 },
  routing: { allowed_cidrs: ["10.66.0.0/16"] },
  secret: { private_key: WG_KEY, peer_public_key: WG_KEY, tunnel_addresses: ["10.99.0.9/32"] },
};
const resourceBody = (ids: Ids) => ({ organization_id: ids.org, name: "intruder", protocol: "rdp", target_host: "10.0.0.9", target_port: 3389 });

/** Every route of the API. The kind says who may use it and how isolation is proven. */
const CASES: Record<string, Case> = {
  "GET /api/v1/openapi.json": { kind: "public" },
  "GET /api/v1/installation": { kind: "public" },
  "POST /api/v1/installation/bootstrap-owner": { kind: "public" },
  "POST /api/v1/auth/login": { kind: "public" },
  "POST /api/v1/auth/refresh": { kind: "public" },
  "POST /api/v1/auth/logout": { kind: "own-account" },
  "GET /api/v1/auth/sessions": { kind: "own-account" },
  "DELETE /api/v1/auth/sessions/:id": { kind: "tenant" },
  "POST /api/v1/auth/mfa/totp": { kind: "own-account" },
  "POST /api/v1/auth/mfa/totp/confirm": { kind: "own-account" },
  "POST /api/v1/auth/step-up": { kind: "own-account" },
  "GET /api/v1/auth/devices": { kind: "own-account" },
  "POST /api/v1/auth/devices": { kind: "own-account" },
  "DELETE /api/v1/auth/devices/:id": { kind: "tenant" },
  "GET /api/v1/me": { kind: "own-account" },
  "POST /api/v1/organizations": { kind: "platform", body: { name: "X", slug: "x-org" } },
  "GET /api/v1/organizations": { kind: "tenant" },
  "GET /api/v1/organizations/:orgId": { kind: "tenant" },
  "PATCH /api/v1/organizations/:orgId": { kind: "tenant", body: () => ({ name: "Hijacked" }) },
  "GET /api/v1/organizations/:orgId/members": { kind: "tenant" },
  "POST /api/v1/organizations/:orgId/members": {
    kind: "tenant",
    body: () => ({ email: "intruder@x.example", display_name: "I", password: PASSWORD, role: "org_admin" }),
  },
  "PATCH /api/v1/organizations/:orgId/members/:userId": { kind: "tenant", body: () => ({ role: "org_viewer" }) },
  "DELETE /api/v1/organizations/:orgId/members/:userId": { kind: "tenant" },
  "GET /api/v1/organizations/:orgId/audit": { kind: "tenant" },
  "GET /api/v1/organizations/:orgId/sessions": { kind: "tenant" },
  "GET /api/v1/organizations/:orgId/endpoints": { kind: "tenant" },
  "GET /api/v1/organizations/:orgId/identity-sources": { kind: "tenant" },
  "POST /api/v1/organizations/:orgId/identity-sources": { kind: "tenant", body: () => ({ kind: "local", name: "intruder" }) },
  "GET /api/v1/organizations/:orgId/identity-sources/:sourceId": { kind: "tenant" },
  "PATCH /api/v1/organizations/:orgId/identity-sources/:sourceId": { kind: "tenant", body: () => ({ enabled: false }) },
  "DELETE /api/v1/organizations/:orgId/identity-sources/:sourceId": { kind: "tenant" },
  "PUT /api/v1/organizations/:orgId/identity-sources/:sourceId/mappings": {
    kind: "tenant",
    body: () => ({ mappings: [{ group: "intruders", role: "org_owner" }] }),
  },
  "POST /api/v1/organizations/:orgId/identity-sources/:sourceId/test": { kind: "tenant" },
  "POST /api/v1/organizations/:orgId/identity-sources/:sourceId/sync": { kind: "tenant" },
  "PUT /api/v1/organizations/:orgId/sso-policy": { kind: "tenant", body: () => ({ require_sso: true }) },
  "GET /api/v1/auth/sso/sources": { kind: "public" },
  "POST /api/v1/auth/sso/oidc/start": { kind: "public" },
  "GET /api/v1/auth/sso/oidc/callback": { kind: "public" },
  "POST /api/v1/auth/sso/redeem": { kind: "public" },
  "POST /api/v1/auth/sso/ldap/login": { kind: "public" },
  "GET /api/v1/platform/identity-sources": { kind: "platform" },
  "POST /api/v1/platform/identity-sources": { kind: "platform", body: { kind: "local", name: "intruder" } },
  "PATCH /api/v1/platform/identity-sources/:sourceId": { kind: "platform", body: { enabled: false } },
  "DELETE /api/v1/platform/identity-sources/:sourceId": { kind: "platform" },
  "POST /api/v1/platform/identity-sources/:sourceId/test": { kind: "platform" },
  "POST /api/v1/platform/identity-sources/:sourceId/sync": { kind: "platform" },
  "POST /api/v1/resources": { kind: "tenant", body: resourceBody },
  "GET /api/v1/resources": { kind: "tenant", query: (ids) => `?organization_id=${ids.org}` },
  "GET /api/v1/resources/:id": { kind: "tenant" },
  "PATCH /api/v1/resources/:id": { kind: "tenant", body: () => ({ target_host: "evil.example" }) },
  "DELETE /api/v1/resources/:id": { kind: "tenant" },
  "PUT /api/v1/resources/:id/secret": { kind: "tenant", body: () => ({ password: "overwritten-by-intruder" }) },
  "POST /api/v1/remote-sessions": { kind: "tenant", body: (ids) => ({ resource_id: ids.resource }) },
  "GET /api/v1/remote-sessions": { kind: "tenant", query: (ids) => `?organization_id=${ids.org}&all=true` },
  "GET /api/v1/remote-sessions/:id": { kind: "tenant" },
  "POST /api/v1/remote-sessions/:id/attach": { kind: "tenant" },
  "POST /api/v1/remote-sessions/:id/takeover": { kind: "tenant" },
  "POST /api/v1/remote-sessions/:id/detach": { kind: "tenant" },
  "POST /api/v1/remote-sessions/:id/terminate": { kind: "tenant" },
  "GET /api/v1/audit": { kind: "platform" },
  "GET /api/v1/platform/overview": { kind: "platform" },
  "GET /api/v1/platform/role-grants": { kind: "platform" },
  "POST /api/v1/platform/role-grants": { kind: "platform", body: { grant: "a.b.c" } },
  "DELETE /api/v1/platform/role-grants/:id": { kind: "platform" },
  "PUT /api/v1/platform/users/:id/platform-role": { kind: "platform", body: { role: "platform_owner" } },
  "POST /api/v1/platform/users/:id/unlock": { kind: "platform" },
  "POST /api/v1/platform/secrets/rotate": { kind: "platform" },
  "GET /api/v1/clusters": { kind: "platform" },
  "POST /api/v1/clusters": { kind: "platform", body: { name: "c", slug: "c" } },
  "GET /api/v1/clusters/:id": { kind: "platform" },
  "PATCH /api/v1/clusters/:id": { kind: "platform", body: { name: "x" } },
  "POST /api/v1/clusters/:id/suspend": { kind: "platform", body: { reason: "x" } },
  "POST /api/v1/clusters/:id/resume": { kind: "platform" },
  "POST /api/v1/clusters/:id/archive": { kind: "platform", body: {} },
  "POST /api/v1/clusters/:id/restore": { kind: "platform" },
  "GET /api/v1/clusters/:id/authority": { kind: "platform" },
  "POST /api/v1/clusters/:id/partition/minority": { kind: "platform", body: { reason: "x" } },
  "POST /api/v1/clusters/:id/partition/promote": { kind: "platform" },
  "POST /api/v1/clusters/:id/partition/merge": { kind: "platform" },
  "POST /api/v1/clusters/:id/partition/split": { kind: "platform", body: { name: "s", slug: "s", node_ids: [crypto.randomUUID()] } },
  "GET /api/v1/clusters/:id/join-tokens": { kind: "platform" },
  "POST /api/v1/clusters/:id/join-tokens": { kind: "platform", body: {} },
  "DELETE /api/v1/clusters/:id/join-tokens/:itemId": { kind: "platform" },
  "GET /api/v1/clusters/:id/join-requests": { kind: "platform" },
  "GET /api/v1/clusters/:id/join-requests/:itemId": { kind: "platform" },
  "POST /api/v1/clusters/:id/join-requests/:itemId/approve": { kind: "platform", body: {} },
  "POST /api/v1/clusters/:id/join-requests/:itemId/reject": { kind: "platform", body: { reason: "x" } },
  "GET /api/v1/clusters/:id/nodes": { kind: "platform" },
  "GET /api/v1/clusters/:id/nodes/:itemId": { kind: "platform" },
  "GET /api/v1/clusters/:id/nodes/:itemId/snapshot": { kind: "platform" },
  "POST /api/v1/clusters/:id/nodes/:itemId/drain": { kind: "platform" },
  "POST /api/v1/clusters/:id/nodes/:itemId/activate": { kind: "platform" },
  "POST /api/v1/clusters/:id/nodes/:itemId/enable": { kind: "platform" },
  "POST /api/v1/clusters/:id/nodes/:itemId/disable": { kind: "platform", body: { reason: "x" } },
  "POST /api/v1/clusters/:id/nodes/:itemId/revoke": { kind: "platform", body: { reason: "x" } },
  "POST /api/v1/clusters/:id/nodes/:itemId/roles": { kind: "platform", body: { role: "relay-node" } },
  "DELETE /api/v1/clusters/:id/nodes/:itemId/roles/:assignmentId": { kind: "platform" },
  "PUT /api/v1/clusters/:id/nodes/:itemId/group": { kind: "platform", body: { group_id: null } },
  "GET /api/v1/clusters/:id/node-groups": { kind: "platform" },
  "POST /api/v1/clusters/:id/node-groups": { kind: "platform", body: { name: "g" } },
  "GET /api/v1/clusters/:id/workloads": { kind: "platform" },
  "GET /api/v1/clusters/:id/revocations": { kind: "platform" },
  "GET /api/v1/clusters/:id/route-intents": { kind: "platform" },
  "POST /api/v1/clusters/:id/route-intents": {
    kind: "platform",
    body: {
      from_node_id: "01a20a05-7de4-745e-9a97-9afb1e424ac0",
      to_node_id: "01a20a05-82d0-71ac-b254-3e4f46bb03de",
      via: ["01a20a05-85ca-741e-a12c-40f321e2b257"],
      reason: "test",
    },
  },
  "DELETE /api/v1/clusters/:id/route-intents/:itemId": { kind: "platform" },
  "GET /api/v1/versions/repository/metadata/:file": { kind: "public" },
  "GET /api/v1/versions/repository/targets/:path{.+}": { kind: "public" },
  "PUT /api/v1/versions/blobs/:digest": { kind: "platform" },
  "POST /api/v1/versions/generations": { kind: "platform", body: { roots: [], timestamp: {}, snapshot: {}, targets: {} } },
  "GET /api/v1/versions/releases": { kind: "platform" },
  "GET /api/v1/versions/releases/:version": { kind: "platform" },
  "POST /api/v1/versions/releases/:version/blocklist": { kind: "platform", body: { reason: "bad" } },
  "GET /api/v1/versions/clusters/:id": { kind: "platform" },
  "PUT /api/v1/versions/clusters/:id/channels/:channel": { kind: "platform", body: { version: "1.0.0" } },
  "PUT /api/v1/versions/clusters/:id/nodes/:itemId": { kind: "platform", body: { channel: "stable", ring: "canary" } },
  "POST /api/v1/versions/clusters/:id/rollouts": { kind: "platform", body: { channel: "stable", version: "1.0.0", rings: ["canary"] } },
  "POST /api/v1/versions/clusters/:id/rollouts/:itemId/pause": { kind: "platform" },
  "POST /api/v1/versions/clusters/:id/rollouts/:itemId/resume": { kind: "platform" },
  "POST /api/v1/versions/clusters/:id/rollouts/:itemId/halt": { kind: "platform", body: { reason: "bad" } },
  "POST /api/v1/node-agents/enrollments": { kind: "public" },
  "POST /api/v1/node-agents/enrollments/:requestId/challenge": { kind: "public" },
  "POST /api/v1/node-agents/enrollments/:requestId/bootstrap": { kind: "public" },
  "POST /api/v1/node-agents/session": { kind: "public" },
  "POST /api/v1/node-agents/heartbeat": { kind: "node-only", body: { seq: 1 } },
  "GET /api/v1/node-agents/snapshot": { kind: "node-only" },
  "POST /api/v1/node-agents/certificate": { kind: "node-only", body: { csr: "x" } },
  "GET /api/v1/node-agents/revocations": { kind: "node-only" },
  "POST /api/v1/node-agents/services": { kind: "node-only", body: { services: [] } },
  "POST /api/v1/node-agents/links": { kind: "node-only", body: { observations: [] } },
  "PUT /api/v1/node-agents/mesh-endpoint": { kind: "node-only", body: { address: "127.0.0.1:7443" } },
  "PUT /api/v1/node-agents/entry-endpoint": { kind: "node-only", body: { urls: ["https://127.0.0.1:4433/rap/v1"], certificate_hashes: [] } },
  "GET /api/v1/node-agents/sessions/:sessionId/credentials": { kind: "node-only" },
  "GET /api/v1/node-agents/sessions/assignments": { kind: "node-only" },
  "POST /api/v1/node-agents/sessions/:sessionId/events": { kind: "node-only", body: { type: "adapter.started" } },
  "POST /api/v1/node-agents/data-plane-tokens/redeem": { kind: "node-only", body: { token: "a.b.c" } },
  "GET /api/v1/organizations/:orgId/vpn-connections": { kind: "tenant" },
  "POST /api/v1/organizations/:orgId/vpn-connections": { kind: "tenant", body: () => vpnBody },
  "GET /api/v1/organizations/:orgId/vpn-connections/:vpnId": { kind: "tenant" },
  "PUT /api/v1/organizations/:orgId/vpn-connections/:vpnId": { kind: "tenant", body: () => ({ ...vpnBody, secret: undefined }) },
  "POST /api/v1/organizations/:orgId/vpn-connections/:vpnId/disable": { kind: "tenant", body: () => ({ force: true }) },
  "POST /api/v1/organizations/:orgId/vpn-connections/:vpnId/enable": { kind: "tenant" },
  "DELETE /api/v1/organizations/:orgId/vpn-connections/:vpnId": { kind: "tenant" },
  "GET /api/v1/platform/vpn-connections": { kind: "platform" },
  "GET /api/v1/platform/vpn-connections/:vpnId": { kind: "platform" },
  "GET /api/v1/platform/vpn-connections/:vpnId/history": { kind: "platform" },
  "POST /api/v1/node-agents/vpn/:connectionId/renew": { kind: "node-only", body: { epoch: 1 } },
  "POST /api/v1/node-agents/vpn/:connectionId/release": { kind: "node-only", body: { epoch: 1 } },
  "GET /api/v1/node-agents/vpn/:connectionId/secret": { kind: "node-only" },
  "POST /api/v1/node-agents/route-health": {
    kind: "node-only",
    body: { reports: [{ to: "01a20a05-7de4-745e-9a97-9afb1e424ac0", via: ["01a20a05-82d0-71ac-b254-3e4f46bb03de"], healthy: true }] },
  },
};

function fill(path: string, ids: Ids): string {
  return fillParams(
    path,
    {
      orgId: ids.org,
      userId: ids.user,
      itemId: ids.any,
      assignmentId: ids.any,
      requestId: ids.any,
      sourceId: ids.source,
      vpnId: ids.vpn,
      connectionId: ids.vpn,
    },
    (p) => (p.includes("/resources/") ? ids.resource : p.includes("/remote-sessions/") ? ids.remoteSession : p.includes("/sessions/") ? ids.session : ids.any),
  );
}

/** Every row that belongs to B, as text: the "no change" witness. */
async function snapshotOfB(): Promise<string> {
  const rows = await stores.store.db.query<{ t: string }>(
    `select row_to_json(o)::text as t from organizations o where id = $1
     union all select row_to_json(m)::text from organization_memberships m where organization_id = $1
     union all select row_to_json(r)::text from resources r where organization_id = $1
     union all select row_to_json(s)::text from resource_secrets s where resource_id = $2
     union all select row_to_json(x)::text from auth_sessions x where id = $3
     union all select row_to_json(u)::text from users u where id = $4
     union all select row_to_json(rs)::text from remote_sessions rs where organization_id = $1
     union all select row_to_json(ra)::text from remote_session_attachments ra where session_id = $5::uuid
     union all select row_to_json(ac)::text from actors ac where id = $5::text or id = $6::text
     union all select row_to_json(i)::text from identity_sources i where organization_id = $1
     union all select row_to_json(im)::text from identity_mappings im where source_id = $6::uuid
     union all select row_to_json(vc)::text from vpn_connections vc where organization_id = $1
     union all select row_to_json(vl)::text from vpn_leases vl where organization_id = $1`,
    [b.org, b.resource, b.session, b.member.userId, b.remoteSession, b.source],
  );
  return rows
    .map((r) => r.t)
    .sort()
    .join("\n");
}

beforeAll(async () => {
  t = await makeApp(stores.store.db, stores.live);
  platformOwner = await enrollTotp(t, await bootstrapOwner(t));
  await stepUp(t, platformOwner);
  const orgA = await createOrg(t, platformOwner, "tenant-a");
  const orgB = await createOrg(t, platformOwner, "tenant-b");
  const bOwner = await enrollTotp(t, await addMember(t, platformOwner, orgB, "owner@b.example", "org_owner"));
  const bMember = await addMember(t, bOwner, orgB, "member@b.example", "org_member");
  await stepUp(t, bOwner);
  const rB = await json(
    await t.call("POST", "/api/v1/resources", {
      token: bOwner.token,
      body: { organization_id: orgB, name: "b-desk", protocol: "rdp", target_host: "10.1.0.5", target_port: 3389, secret: { password: "b-secret-value" } },
    }),
    201,
  );
  const aOwner = await enrollTotp(t, await addMember(t, platformOwner, orgA, "owner@a.example", "org_owner"));
  const aViewer = await addMember(t, aOwner, orgA, "viewer@a.example", "org_viewer");
  const rA = await json(
    await t.call("POST", "/api/v1/resources", {
      token: aOwner.token,
      body: { organization_id: orgA, name: "a-desk", protocol: "ssh", target_host: "10.2.0.5", target_port: 22, egress_pool: "office-a" },
    }),
    201,
  );
  const bSession = (await json(await t.call("GET", "/api/v1/me", { token: bMember.token }), 200)).session.id;
  // A remote session of B's member (no node serves B, so it is failed, but it exists).
  const unplaced = await t.call("POST", "/api/v1/remote-sessions", { token: bMember.token, body: { resource_id: rB.id } });
  const bRemoteSession = ((await unplaced.json()) as { error: { details: { session_id: string } } }).error.details.session_id;
  // An LDAP source of B (never reached: nothing here may use it), with a mapping and its sync actor.
  await stepUp(t, bOwner);
  const bSource = await json(
    await t.call("POST", `/api/v1/organizations/${orgB}/identity-sources`, {
      token: bOwner.token,
      body: {
        kind: "ldap",
        name: "B directory",
        bind_password: "b-bind-password",
        config: { url: "ldaps://127.0.0.1:1", security: "ldaps", bind_dn: "cn=r,dc=b", user_base_dn: "ou=p,dc=b", group_base_dn: "ou=g,dc=b" },
      },
    }),
    201,
  );
  await json(
    await t.call("PUT", `/api/v1/organizations/${orgB}/identity-sources/${bSource.id}/mappings`, {
      token: bOwner.token,
      body: { mappings: [{ group: "cn=staff,ou=g,dc=b", role: "org_member" }] },
    }),
    200,
  );
  // A VPN connection of B (no node serves it).
  const bVpn = await json(
    await t.call("POST", `/api/v1/organizations/${orgB}/vpn-connections`, { token: bOwner.token, body: { ...vpnBody, name: "b-office" } }),
    201,
  );
  a = { org: orgA, owner: aOwner, viewer: aViewer, resource: rA.id };
  b = { org: orgB, owner: bOwner, member: bMember, resource: rB.id, session: bSession, remoteSession: bRemoteSession, source: bSource.id, vpn: bVpn.id };
});

describe("tenant isolation", () => {
  test("every API route has an isolation case", () => {
    const missing = apiRoutes(t.app).filter((r) => !CASES[r]);
    expect(missing).toEqual([]);
    const stale = Object.keys(CASES).filter((k) => !apiRoutes(t.app).includes(k));
    expect(stale).toEqual([]);
  });

  for (const [ids, label] of [
    [
      () => ({
        org: b.org,
        resource: b.resource,
        user: b.member.userId,
        session: b.session,
        remoteSession: b.remoteSession,
        source: b.source,
        vpn: b.vpn,
        any: b.resource,
      }),
      "leaked ids of B",
    ],
    [
      () => ({ org: newId(), resource: newId(), user: newId(), session: newId(), remoteSession: newId(), source: newId(), vpn: newId(), any: newId() }),
      "guessed ids",
    ],
  ] as const) {
    test(`an owner of A gets nothing of B through any route (${label})`, async () => {
      await stepUp(t, a.owner);
      const before = await snapshotOfB();
      const failures: string[] = [];
      for (const route of apiRoutes(t.app)) {
        const c = CASES[route]!;
        if (c.kind === "public" || c.kind === "own-account") continue;
        if (c.kind === "node-only") {
          // A user's token is not a node's: node routes refuse it whoever holds it.
          const [m, p] = route.split(" ") as [string, string];
          const r = await t.call(m, p, { token: a.owner.token, body: c.body });
          if (r.status !== 401) failures.push(`${route} → ${r.status} for a user token`);
          continue;
        }
        const [method, path] = route.split(" ") as [string, string];
        const idSet = ids();
        const url = fill(path, idSet) + (c.kind === "tenant" && c.query ? c.query(idSet) : "");
        const body = c.kind === "tenant" ? c.body?.(idSet) : c.body;
        const res = await t.call(method, url, { token: a.owner.token, body });
        const text = await res.text();
        const listing = res.status === 200 && method === "GET" && !path.includes(":");
        if (listing) {
          if (text.includes(b.org) || text.includes(b.resource) || text.includes(b.remoteSession) || text.includes("b-desk") || text.includes(b.vpn))
            failures.push(`${route}: listing shows B`);
        } else if (res.status !== 403 && res.status !== 404) {
          failures.push(`${route} → ${res.status} ${text.slice(0, 120)}`);
        }
      }
      expect(failures).toEqual([]);
      expect(await snapshotOfB()).toBe(before);
    });
  }

  test("a viewer of A cannot even change A's own objects", async () => {
    for (const [method, url, body] of [
      ["PATCH", `/api/v1/resources/${a.resource}`, { name: "renamed" }],
      ["DELETE", `/api/v1/resources/${a.resource}`, undefined],
      ["PUT", `/api/v1/resources/${a.resource}/secret`, { password: "x-secret-value" }],
      ["POST", `/api/v1/organizations/${a.org}/members`, { email: "v2@a.example", display_name: "V", password: PASSWORD, role: "org_admin" }],
      ["GET", `/api/v1/organizations/${a.org}/audit`, undefined],
    ] as const) {
      expect((await t.call(method, url, { token: a.viewer.token, body })).status).toBe(403);
    }
  });

  test("organization-facing responses carry no nodes, routes, peers or trust material", async () => {
    // A resource's SSH host_key_fingerprint is the organization's own server, set by its admins: not fabric trust material.
    const FORBIDDEN_KEY =
      /^(nodes?|node_id|node_ids|routes?|route_id|peers?|peer_id|relays?|relay_path|mesh.*|.*(?<!host_key_)fingerprint|certificates?|certificate_.*(?<!verification_mode)|ca_chain|public_key|private_key|ciphertext|wrapped_key|key_id|jws|trust_bundle|cluster_authority.*)$/;
    const bad: string[] = [];
    const walk = (v: unknown, where: string) => {
      if (Array.isArray(v)) {
        for (const [i, x] of v.entries()) walk(x, `${where}[${i}]`);
        return;
      }
      if (v && typeof v === "object") {
        for (const [k, x] of Object.entries(v)) {
          if (FORBIDDEN_KEY.test(k)) bad.push(`${where}.${k}`);
          walk(x, `${where}.${k}`);
        }
      }
    };
    for (const who of [a.owner, a.viewer]) {
      for (const url of [
        "/api/v1/me",
        "/api/v1/organizations",
        `/api/v1/organizations/${a.org}`,
        `/api/v1/organizations/${a.org}/members`,
        `/api/v1/organizations/${a.org}/audit?limit=200`,
        `/api/v1/organizations/${a.org}/sessions`,
        `/api/v1/organizations/${a.org}/endpoints`,
        `/api/v1/organizations/${a.org}/identity-sources`,
        "/api/v1/resources",
        `/api/v1/resources/${a.resource}`,
        "/api/v1/remote-sessions",
        `/api/v1/remote-sessions?organization_id=${a.org}&all=true`,
        "/api/v1/auth/sessions",
        "/api/v1/auth/devices",
      ]) {
        const res = await t.call("GET", url, { token: who.token });
        if (res.status !== 200) continue;
        walk(await res.json(), url);
      }
    }
    expect(bad).toEqual([]);
  });
});
