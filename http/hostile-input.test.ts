/**
 * Generated hostile input (fast-check) over the app's route table, the
 * node-agent routes included with a real enrolled node's credentials. Each
 * route has a valid request below (a new route without one fails the first
 * test); each run puts one hostile value in one place of it: a body field,
 * a JSON member, a query or path parameter, the whole body, or an extra
 * query parameter. Two properties per route:
 *
 * - poison (NUL, lone surrogates, control characters, huge strings, bad
 *   dates, deep, wide or oversized JSON, wrong types) is refused with a 4xx
 *   envelope and changes no row;
 * - anything (odd but valid Unicode, boundary numbers and real dates too)
 *   never gets a 5xx, always gets the envelope when refused, and a refusal
 *   of the input (`request.*`) changes no row.
 *
 * "No row changes" is a checksum of every table (row count and a hash of
 * every row). The seed is fixed (FUZZ_SEED to change it, FUZZ_RUNS for the
 * runs per property and route); a failure names the route, the seed, the
 * place and the value. scripts/test runs this file on PostgreSQL and again
 * on PGlite.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import fc from "fast-check";
import { useStores } from "../fixtures/stores.ts";
import { makeApp, testIdentity, type TestApp } from "../fixtures/control-plane.ts";
import { addMember, bootstrapOwner, createOrg, enrollTotp, json, PASSWORD, signIn, stepUp, type Session } from "../fixtures/identity.ts";
import { createJoinToken, enrollNode, joinBody, nodeKeys, nodeSession } from "../fixtures/nodes.ts";
import { apiRoutes } from "../fixtures/routes.ts";
import {
  anyValue,
  asParam,
  badDate,
  bodyPlaces,
  boundaryNumber,
  bodyText,
  controlString,
  describePlace,
  hugeString,
  nulString,
  oddString,
  pct,
  poisonFor,
  preview,
  rawQueryJunk,
  unstorableString,
  wildString,
  withValue,
  type Kind,
  type Place,
  type Value,
} from "../fixtures/hostile.ts";
import { isErrorCode } from "../core/error-catalog.ts";
import { newId } from "../core/ids.ts";

// Before useStores: its hooks take the default timeout in force when they are registered.
setDefaultTimeout(120_000);
const stores = useStores();

const SEED = Number(process.env.FUZZ_SEED ?? 19_0206);
const RUNS = Number(process.env.FUZZ_RUNS ?? 16);

const JSON_FIELDS = new Set(["metadata", "facts", "telemetry"]);
const SECRET_FIELDS = new Set(["password", "username", "domain", "private_key"]);
const DATE_FIELDS = new Set(["since", "until"]);

interface Ids {
  org: string;
  decoyUser: string;
  resource: string;
  cluster: string;
  decoyCluster: string;
  node: string;
  decoyNode: string;
  group: string;
  remoteSession: string;
  pendingRequest: string;
  enrollingRequest: string;
  joinToken: string;
  enrollBody: Record<string, unknown>;
  nodeFingerprint: string;
}
/** A valid request for one route. `as` picks the credentials: the owner (default), a second session of the owner, the node, or none. */
interface Template {
  as?: "owner" | "decoy-session" | "node" | "none";
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: Record<string, unknown>;
}

const LIMIT = { limit: "10" };
const AUDIT_FILTERS = {
  limit: "10",
  action: "cluster.create",
  actor_id: "someone",
  target_id: "something",
  outcome: "success",
  since: "2020-01-01T00:00:00Z",
  until: "2099-12-31T23:59:59+01:00",
};

/** Every API route and a valid request for it. Destructive routes act on decoys so the others keep their objects. */
const TEMPLATES: Record<string, (x: Ids) => Template> = {
  "POST /api/v1/node-agents/heartbeat": () => ({
    as: "node",
    body: { seq: 1, agent_version: "1.2.3", telemetry: { load: [0.1, 0.2, 0.3], memory_free_bytes: 1024, degraded: false } },
  }),
  "GET /api/v1/node-agents/snapshot": () => ({ as: "node", query: { after_version: "0", wait: "0" } }),
  "POST /api/v1/node-agents/certificate": () => ({
    as: "node",
    body: { csr: "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n" },
  }),
  "GET /api/v1/node-agents/revocations": () => ({ as: "node" }),
  "POST /api/v1/node-agents/services": () => ({
    as: "node",
    body: { services: [{ service_type: "relay-node", reported_state: "running", version: "1.2.3" }] },
  }),
  "POST /api/v1/node-agents/links": (x) => ({
    as: "node",
    body: { observations: [{ peer_node_id: x.decoyNode, reachable: true, latency_ms: 12.5, loss: 0 }] },
  }),
  "PUT /api/v1/node-agents/mesh-endpoint": () => ({ as: "node", body: { address: "127.0.0.1:7443" } }),
  "POST /api/v1/node-agents/route-health": (x) => ({ as: "node", body: { reports: [{ to: x.decoyNode, via: [x.decoyNode], healthy: true }] } }),
  "GET /api/v1/node-agents/sessions/assignments": () => ({ as: "node" }),
  "POST /api/v1/node-agents/sessions/:sessionId/events": (x) => ({
    as: "node",
    params: { sessionId: x.remoteSession },
    body: { type: "adapter.failed", reason: "host key mismatch" },
  }),
  "POST /api/v1/node-agents/data-plane-tokens/redeem": (x) => ({ as: "node", body: { token: "a.b.c", session_id: x.remoteSession } }),
  "POST /api/v1/node-agents/enrollments": (x) => ({ as: "none", body: x.enrollBody }),
  "POST /api/v1/node-agents/enrollments/:requestId/challenge": (x) => ({ as: "none", params: { requestId: x.enrollingRequest } }),
  "POST /api/v1/node-agents/enrollments/:requestId/bootstrap": (x) => ({
    as: "none",
    params: { requestId: x.enrollingRequest },
    body: { cluster_id: x.cluster, fingerprint: `SHA256:${"A".repeat(43)}=`, challenge: "A".repeat(43), signature: "A".repeat(86) },
  }),
  "POST /api/v1/node-agents/session": () => ({ as: "none", body: { proof: "a.b.c" } }),

  "GET /api/v1/installation": () => ({ as: "none" }),
  "POST /api/v1/installation/bootstrap-owner": () => ({ as: "none", body: { email: "late@example.com", password: PASSWORD, display_name: "Late" } }),
  "POST /api/v1/auth/login": () => ({
    as: "none",
    body: { email: "nobody@example.com", password: PASSWORD, device_id: "device-0123456789abcdef", totp_code: "123456" },
  }),
  "POST /api/v1/auth/refresh": () => ({ as: "none", body: { refresh_token: "rap_rt_abcdef_ghijkl" } }),
  "POST /api/v1/auth/logout": () => ({ as: "decoy-session" }),
  "GET /api/v1/auth/sessions": () => ({}),
  "DELETE /api/v1/auth/sessions/:id": () => ({ params: { id: newId() } }),
  "POST /api/v1/auth/mfa/totp": () => ({}),
  "POST /api/v1/auth/mfa/totp/confirm": () => ({ body: { code: "000000" } }),
  "POST /api/v1/auth/step-up": () => ({ body: { code: "000000" } }),
  "GET /api/v1/auth/devices": () => ({}),
  "POST /api/v1/auth/devices": () => ({ body: { name: "laptop" } }),
  "DELETE /api/v1/auth/devices/:id": () => ({ params: { id: newId() } }),
  "GET /api/v1/me": () => ({}),

  "POST /api/v1/organizations": () => ({ body: { name: "Fuzz", slug: "fuzz-org" } }),
  "GET /api/v1/organizations": () => ({ query: LIMIT }),
  "GET /api/v1/organizations/:orgId": (x) => ({ params: { orgId: x.org } }),
  "PATCH /api/v1/organizations/:orgId": (x) => ({ params: { orgId: x.org }, body: { name: "Acme" } }),
  "GET /api/v1/organizations/:orgId/members": (x) => ({ params: { orgId: x.org }, query: LIMIT }),
  "POST /api/v1/organizations/:orgId/members": (x) => ({
    params: { orgId: x.org },
    body: { email: "new@example.com", display_name: "New", password: PASSWORD, role: "org_viewer" },
  }),
  "PATCH /api/v1/organizations/:orgId/members/:userId": (x) => ({
    params: { orgId: x.org, userId: x.decoyUser },
    body: { role: "org_viewer", status: "active" },
  }),
  "DELETE /api/v1/organizations/:orgId/members/:userId": (x) => ({ params: { orgId: x.org, userId: newId() } }),
  "GET /api/v1/organizations/:orgId/audit": (x) => ({ params: { orgId: x.org }, query: AUDIT_FILTERS }),
  "GET /api/v1/organizations/:orgId/sessions": (x) => ({ params: { orgId: x.org } }),
  "GET /api/v1/organizations/:orgId/endpoints": (x) => ({ params: { orgId: x.org } }),

  "POST /api/v1/resources": (x) => ({
    body: {
      organization_id: x.org,
      name: "desk",
      protocol: "rdp",
      target_host: "10.0.0.1",
      target_port: 3389,
      egress_pool: "office",
      certificate_verification_mode: "strict",
      clipboard_mode: "disabled",
      file_transfer_mode: "disabled",
      metadata: { env: "lab", tags: ["a", "b"], owner: { team: "ops" } },
      secret: { username: "u", password: "p", domain: "d" },
    },
  }),
  "GET /api/v1/resources": (x) => ({ query: { limit: "10", organization_id: x.org } }),
  "GET /api/v1/resources/:id": (x) => ({ params: { id: x.resource } }),
  "PATCH /api/v1/resources/:id": (x) => ({
    params: { id: x.resource },
    body: { name: "desk-2", target_host: "host.example", target_port: 22, egress_pool: "office", metadata: { env: "lab" } },
  }),
  "DELETE /api/v1/resources/:id": () => ({ params: { id: newId() } }),
  "PUT /api/v1/resources/:id/secret": (x) => ({ params: { id: x.resource }, body: { username: "u", password: "p", domain: "d", private_key: "k" } }),

  "POST /api/v1/remote-sessions": (x) => ({ body: { resource_id: x.resource } }),
  "GET /api/v1/remote-sessions": (x) => ({ query: { limit: "10", after: newId(), organization_id: x.org, state: "active", all: "true" } }),
  "GET /api/v1/remote-sessions/:id": (x) => ({ params: { id: x.remoteSession } }),
  "POST /api/v1/remote-sessions/:id/attach": (x) => ({ params: { id: x.remoteSession } }),
  "POST /api/v1/remote-sessions/:id/takeover": (x) => ({ params: { id: x.remoteSession } }),
  "POST /api/v1/remote-sessions/:id/detach": (x) => ({ params: { id: x.remoteSession } }),
  "POST /api/v1/remote-sessions/:id/terminate": (x) => ({ params: { id: x.remoteSession } }),

  "GET /api/v1/audit": (x) => ({ query: { ...AUDIT_FILTERS, organization_id: x.org, before: newId() } }),
  "GET /api/v1/platform/overview": () => ({}),
  "GET /api/v1/platform/role-grants": () => ({}),
  "POST /api/v1/platform/role-grants": () => ({ body: { grant: "a.b.c" } }),
  "DELETE /api/v1/platform/role-grants/:id": () => ({ params: { id: newId() } }),
  "PUT /api/v1/platform/users/:id/platform-role": (x) => ({ params: { id: x.decoyUser }, body: { role: "platform_admin" } }),
  "POST /api/v1/platform/users/:id/unlock": (x) => ({ params: { id: x.decoyUser } }),
  "POST /api/v1/platform/secrets/rotate": () => ({}),

  "GET /api/v1/clusters": () => ({ query: { limit: "10", status: "active", after: newId() } }),
  "POST /api/v1/clusters": () => ({ body: { name: "Fuzz", slug: "fuzz", region: "eu-west", metadata: { owner: "ops", tags: ["a"], nested: { k: 1 } } } }),
  "GET /api/v1/clusters/:id": (x) => ({ params: { id: x.cluster } }),
  "PATCH /api/v1/clusters/:id": (x) => ({ params: { id: x.cluster }, body: { name: "Main", region: "eu-west", metadata: { owner: "ops" } } }),
  "POST /api/v1/clusters/:id/suspend": (x) => ({ params: { id: x.decoyCluster }, body: { reason: "maintenance" } }),
  "POST /api/v1/clusters/:id/resume": (x) => ({ params: { id: x.decoyCluster } }),
  "POST /api/v1/clusters/:id/archive": (x) => ({ params: { id: x.decoyCluster }, body: { grace_seconds: 3600 } }),
  "POST /api/v1/clusters/:id/restore": (x) => ({ params: { id: x.decoyCluster } }),
  "GET /api/v1/clusters/:id/authority": (x) => ({ params: { id: x.cluster } }),
  "POST /api/v1/clusters/:id/partition/minority": (x) => ({ params: { id: x.decoyCluster }, body: { reason: "split brain" } }),
  "POST /api/v1/clusters/:id/partition/promote": (x) => ({ params: { id: x.decoyCluster } }),
  "POST /api/v1/clusters/:id/partition/merge": (x) => ({ params: { id: x.decoyCluster } }),
  "POST /api/v1/clusters/:id/partition/split": (x) => ({ params: { id: x.decoyCluster }, body: { name: "Split", slug: "split", node_ids: [newId()] } }),
  "GET /api/v1/clusters/:id/join-tokens": (x) => ({ params: { id: x.cluster } }),
  "POST /api/v1/clusters/:id/join-tokens": (x) => ({ params: { id: x.cluster }, body: { ttl_seconds: 3600, max_uses: 1, requested_roles: ["relay-node"] } }),
  "DELETE /api/v1/clusters/:id/join-tokens/:itemId": (x) => ({ params: { id: x.cluster, itemId: newId() } }),
  "GET /api/v1/clusters/:id/join-requests": (x) => ({ params: { id: x.cluster }, query: { limit: "10", status: "pending", after: newId() } }),
  "GET /api/v1/clusters/:id/join-requests/:itemId": (x) => ({ params: { id: x.cluster, itemId: x.pendingRequest } }),
  "POST /api/v1/clusters/:id/join-requests/:itemId/approve": (x) => ({ params: { id: x.cluster, itemId: x.pendingRequest }, body: { group_id: x.group } }),
  "POST /api/v1/clusters/:id/join-requests/:itemId/reject": (x) => ({ params: { id: x.cluster, itemId: x.pendingRequest }, body: { reason: "unknown host" } }),
  "GET /api/v1/clusters/:id/nodes": (x) => ({
    params: { id: x.cluster },
    query: { limit: "10", status: "active", health: "healthy", group_id: x.group, after: newId() },
  }),
  "GET /api/v1/clusters/:id/nodes/:itemId": (x) => ({ params: { id: x.cluster, itemId: x.node } }),
  "GET /api/v1/clusters/:id/nodes/:itemId/snapshot": (x) => ({ params: { id: x.cluster, itemId: x.node } }),
  "POST /api/v1/clusters/:id/nodes/:itemId/drain": (x) => ({ params: { id: x.cluster, itemId: x.decoyNode } }),
  "POST /api/v1/clusters/:id/nodes/:itemId/activate": (x) => ({ params: { id: x.cluster, itemId: x.decoyNode } }),
  "POST /api/v1/clusters/:id/nodes/:itemId/enable": (x) => ({ params: { id: x.cluster, itemId: x.decoyNode } }),
  "POST /api/v1/clusters/:id/nodes/:itemId/disable": (x) => ({ params: { id: x.cluster, itemId: x.decoyNode }, body: { reason: "noisy" } }),
  "POST /api/v1/clusters/:id/nodes/:itemId/revoke": (x) => ({ params: { id: x.cluster, itemId: x.decoyNode }, body: { reason: "stolen" } }),
  "POST /api/v1/clusters/:id/nodes/:itemId/roles": (x) => ({
    params: { id: x.cluster, itemId: x.node },
    body: { role: "rdp-worker", organization_id: x.org, policy: { egress_pool: "office" } },
  }),
  "DELETE /api/v1/clusters/:id/nodes/:itemId/roles/:assignmentId": (x) => ({ params: { id: x.cluster, itemId: x.node, assignmentId: newId() } }),
  "PUT /api/v1/clusters/:id/nodes/:itemId/group": (x) => ({ params: { id: x.cluster, itemId: x.node }, body: { group_id: x.group } }),
  "GET /api/v1/clusters/:id/node-groups": (x) => ({ params: { id: x.cluster } }),
  "POST /api/v1/clusters/:id/node-groups": (x) => ({ params: { id: x.cluster }, body: { name: "edge", parent_id: x.group } }),
  "GET /api/v1/clusters/:id/workloads": (x) => ({
    params: { id: x.cluster },
    query: { limit: "10", role: "relay-node", reported_state: "running", after: newId() },
  }),
  "GET /api/v1/clusters/:id/revocations": (x) => ({ params: { id: x.cluster } }),
  "GET /api/v1/clusters/:id/route-intents": (x) => ({ params: { id: x.cluster } }),
  "POST /api/v1/clusters/:id/route-intents": (x) => ({
    params: { id: x.cluster },
    body: { from_node_id: x.node, to_node_id: newId(), via: [x.decoyNode], reason: "pin through the decoy" },
  }),
  "DELETE /api/v1/clusters/:id/route-intents/:itemId": (x) => ({ params: { id: x.cluster, itemId: newId() } }),
};

let t: TestApp;
let owner: Session;
let decoySession: Session;
let nodeToken: string;
let ids: Ids;
let checksum: () => Promise<Map<string, string>>;

beforeAll(async () => {
  // Long-lived access tokens: setup moves the clock one TOTP step per code.
  t = await makeApp(stores.store.db, stores.live, { bodyLimitBytes: 1024 * 1024, identity: await testIdentity({ accessTtlSeconds: 24 * 3600 }) });
  owner = await enrollTotp(t, await bootstrapOwner(t));
  decoySession = await signIn(t, owner.email, { totpSecret: owner.totpSecret });
  await stepUp(t, owner);
  const org = await createOrg(t, owner, "acme");
  const decoy = await addMember(t, owner, org, "decoy@example.com", "org_member");
  const resource = await json(
    await t.call("POST", "/api/v1/resources", {
      token: owner.token,
      body: { organization_id: org, name: "r", protocol: "rdp", target_host: "h", target_port: 3389 },
    }),
    201,
  );
  const cluster = await json(await t.call("POST", "/api/v1/clusters", { token: owner.token, body: { name: "c", slug: "c" } }), 201);
  const decoyCluster = await json(await t.call("POST", "/api/v1/clusters", { token: owner.token, body: { name: "d", slug: "d" } }), 201);
  const node = await enrollNode(t, owner, cluster.id, undefined, "edge-1");
  const decoyNode = await enrollNode(t, owner, cluster.id, undefined, "edge-2");
  const group = await json(await t.call("POST", `/api/v1/clusters/${cluster.id}/node-groups`, { token: owner.token, body: { name: "g" } }), 201);
  const { token: joinToken } = await createJoinToken(t, owner, cluster.id, { max_uses: 1000 });
  const join = async (name: string) =>
    (
      await json(
        await t.call("POST", "/api/v1/node-agents/enrollments", { body: joinBody(await nodeKeys(name), cluster.id, joinToken, { node_name: name }) }),
        202,
      )
    ).request_id as string;
  const enrollKeys = await nodeKeys("edge-9");
  // A remote session (failed: no node serves the resource's pool) for the session routes to act on.
  const unplaced = await t.call("POST", "/api/v1/remote-sessions", { token: owner.token, body: { resource_id: resource.id } });
  const remoteSession = ((await unplaced.json()) as { error: { details: { session_id: string } } }).error.details.session_id;
  ids = {
    org,
    decoyUser: decoy.userId,
    resource: resource.id,
    cluster: cluster.id,
    decoyCluster: decoyCluster.id,
    node: node.nodeId,
    decoyNode: decoyNode.nodeId,
    group: group.id,
    remoteSession,
    pendingRequest: await join("edge-3"),
    enrollingRequest: await join("edge-4"),
    joinToken,
    nodeFingerprint: node.fingerprint,
    enrollBody: joinBody(enrollKeys, cluster.id, joinToken, {
      node_name: "edge-9",
      facts: { os: "linux", interfaces: [{ name: "eth0", address: "10.0.0.9" }] },
      requested_roles: ["relay-node"],
    }),
  };
  // Last, so no later TOTP step ages them: a fresh step-up and a node session (10 minutes of clock).
  await stepUp(t, owner);
  nodeToken = await nodeSession(t, node, cluster.id);

  const tables = (
    await stores.store.db.query<{ table_name: string }>(
      "select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1",
    )
  ).map((r) => r.table_name);
  const sql = tables
    .map((n) => `select '${n}' as t, count(*)::text || ':' || coalesce(sum(hashtext(x::text)::bigint), 0)::text as s from "${n}" x`)
    .join(" union all ");
  checksum = async () => new Map((await stores.store.db.query<{ t: string; s: string }>(sql)).map((r) => [r.t, r.s]));
}, 120_000);

interface Probe {
  place: Place;
  value: Value;
  key?: string;
  raw?: string;
}

/** The request a probe makes: the route's valid request with one hostile value in one place. */
function build(route: string, tpl: Template, p: Probe): { method: string; url: string; body?: string } {
  const [method, pattern] = route.split(" ") as [string, string];
  const params = { ...tpl.params };
  const query: [string, string][] = Object.entries(tpl.query ?? {});
  let body: unknown = tpl.body;
  let hasBody = tpl.body !== undefined;
  const pl = p.place;
  if (pl.in === "param") params[pl.name] = asParam(p.value);
  else if (pl.in === "query")
    query.splice(
      query.findIndex(([k]) => k === pl.key),
      1,
      [pl.key, asParam(p.value)],
    );
  else if (pl.in === "body") body = withValue(body, pl.path, p.value);
  else if (pl.in === "whole-body") {
    body = p.value;
    hasBody = true;
  }
  const path = pattern.replace(/:([A-Za-z]+)/g, (_, name: string) => pct(params[name] ?? ""));
  let qs = query.map(([k, v]) => `${pct(k)}=${pct(v)}`).join("&");
  if (pl.in === "extra-query") qs = [qs, p.raw ?? `${pct(p.key ?? "x")}=${pct(asParam(p.value))}`].filter(Boolean).join("&");
  return { method, url: qs ? `${path}?${qs}` : path, body: hasBody ? bodyText(body) : undefined };
}

function placesOf(route: string, tpl: Template): Place[] {
  const method = route.split(" ")[0]!;
  const out: Place[] = [];
  if (tpl.body) out.push(...bodyPlaces(tpl.body, JSON_FIELDS, SECRET_FIELDS, DATE_FIELDS));
  for (const key of Object.keys(tpl.query ?? {})) out.push({ in: "query", key, kind: DATE_FIELDS.has(key) ? "date" : "text" });
  for (const name of Object.keys(tpl.params ?? {})) out.push({ in: "param", name });
  // A GET cannot carry a body; every other method either validates one or must refuse it.
  if (method !== "GET") out.push({ in: "whole-body" });
  return out;
}

// A lone surrogate cannot travel in a URL (its percent-encoding is not UTF-8 and is read as literal text), so query poison is NUL, controls and size.
const queryPoison = (kind: Kind) => (kind === "date" ? fc.oneof(badDate, nulString, controlString) : fc.oneof(nulString, controlString, hugeString));
function poisonProbe(place: Place): fc.Arbitrary<Probe> {
  const value =
    place.in === "body"
      ? poisonFor(place.kind)
      : place.in === "query"
        ? queryPoison(place.kind)
        : place.in === "param"
          ? poisonFor("param")
          : poisonFor("whole-body");
  return value.map((v) => ({ place, value: v }));
}
function anyProbe(place: Place): fc.Arbitrary<Probe> {
  if (place.in === "extra-query") {
    return fc.oneof(
      fc.tuple(fc.oneof(oddString, wildString, unstorableString), anyValue).map(([key, value]) => ({ place, key, value })),
      rawQueryJunk.map((raw) => ({ place, value: raw, raw })),
    );
  }
  if (place.in === "param" || place.in === "query") return fc.oneof(anyValue, oddString, wildString).map((value) => ({ place, value }));
  return anyValue.map((value) => ({ place, value }));
}

const tokenFor = (tpl: Template) =>
  tpl.as === "none" ? undefined : tpl.as === "node" ? nodeToken : tpl.as === "decoy-session" ? decoySession.token : owner.token;
let last: Map<string, string> | undefined;

/** Sends one probe; returns what is wrong with the answer, or null. */
async function probe(route: string, tpl: Template, p: Probe, mustRefuse: boolean): Promise<string | null> {
  const req = build(route, tpl, p);
  const before = last ?? (await checksum());
  last = undefined;
  const res = await t.call(req.method, req.url, { token: tokenFor(tpl), body: req.body });
  const text = await res.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {}
  const problems: string[] = [];
  if (res.status >= 500) problems.push(`answered ${res.status}`);
  else if (res.status >= 400 && !(code && isErrorCode(code))) problems.push(`answered ${res.status} without the error envelope`);
  if (mustRefuse && res.status < 400) problems.push(`accepted it (${res.status})`);
  if (mustRefuse || code?.startsWith("request.") || res.status >= 500) {
    const after = await checksum();
    const changed = [...after].filter(([k, s]) => before.get(k) !== s).map(([k]) => k);
    if (changed.length) problems.push(`changed ${changed.join(", ")}`);
    last = after;
  }
  if (!problems.length) return null;
  const shown = p.raw
    ? `raw query ${JSON.stringify(p.raw)}`
    : `${describePlace(p.place)}${p.key !== undefined ? ` ${preview(p.key)}` : ""} = ${preview(p.value)}`;
  return `${shown}: ${problems.join("; ")} (${res.status} ${code ?? text.slice(0, 120)})`;
}

/** A per-route seed, so one route's runs do not depend on which routes ran before it. */
function seedOf(route: string): number {
  let h = SEED | 0;
  for (let i = 0; i < route.length; i++) h = (Math.imul(h, 31) + route.charCodeAt(i)) | 0;
  return h;
}

async function runProperty(
  route: string,
  label: string,
  arb: fc.Arbitrary<Probe>,
  check: (p: Probe) => Promise<string | null>,
  seed: number,
): Promise<string | null> {
  const r = await fc.check(
    fc.asyncProperty(arb, async (p) => {
      const wrong = await check(p);
      if (wrong) throw new Error(wrong);
    }),
    { seed, numRuns: RUNS, endOnFailure: true },
  );
  if (!r.failed) return null;
  const why = r.errorInstance instanceof Error ? r.errorInstance.message : String(r.errorInstance);
  return `${route} (${label}): ${why} [seed ${r.seed}, run ${r.numRuns}; rerun with FUZZ_SEED=${SEED}]`;
}

describe("generated hostile input", () => {
  test("every API route has a valid request to start from", () => {
    const routes = apiRoutes(t.app);
    expect(routes.filter((r) => !TEMPLATES[r])).toEqual([]);
    expect(Object.keys(TEMPLATES).filter((r) => !routes.includes(r))).toEqual([]);
  });

  for (const [route, make] of Object.entries(TEMPLATES)) {
    test(`${route}: poison is refused without a write, nothing gets a 5xx`, async () => {
      const tpl = make(ids);
      const places = placesOf(route, tpl);
      const failures: string[] = [];
      const seed = seedOf(route);
      if (places.length) {
        const poison = fc.constantFrom(...places).chain(poisonProbe);
        failures.push(...[await runProperty(route, "poison", poison, (p) => probe(route, tpl, p, true), seed)].filter((f): f is string => !!f));
      }
      const any = fc.constantFrom(...places, { in: "extra-query" } as Place).chain(anyProbe);
      failures.push(...[await runProperty(route, "any", any, (p) => probe(route, tpl, p, false), seed + 1)].filter((f): f is string => !!f));
      expect(failures).toEqual([]);
    });
  }

  // A node proof is read (its key id looked up) before its signature can be checked: hostile text inside it must not reach PostgreSQL.
  test("POST /api/v1/node-agents/session: hostile text inside a proof's header and claims is refused without a write", async () => {
    const route = "POST /api/v1/node-agents/session";
    const tpl = TEMPLATES[route]!(ids);
    const b64u = (x: unknown) => Buffer.from(bodyText(x)).toString("base64url");
    const part = fc.oneof(anyValue, unstorableString, fc.constant(ids.nodeFingerprint), fc.constant(`SHA256:${"A".repeat(42)}\u0000=`));
    const proof = fc
      .tuple(
        part,
        fc.record({
          typ: fc.oneof(part, fc.constant("rap.node_proof.v1")),
          cluster_id: fc.oneof(part, fc.constant(ids.cluster)),
          iat: fc.oneof(part, boundaryNumber),
          jti: part,
        }),
      )
      .map(
        ([kid, claims]): Probe => ({
          place: { in: "body", path: ["proof"], kind: "text" },
          value: `${b64u({ alg: "ES256", kid })}.${b64u(claims)}.${"A".repeat(86)}`,
        }),
      );
    expect(await runProperty(route, "proof contents", proof, (p) => probe(route, tpl, p, true), seedOf(route) + 2)).toBeNull();
  });
});
