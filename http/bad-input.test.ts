/**
 * Bad input on every endpoint that takes a body, generated from the app's
 * route table: malformed JSON, a body that is not an object, unknown fields
 * and an oversized body each get a 4xx envelope with a stable code, and no
 * table changes; an endpoint that takes no body refuses one. The caller is
 * the platform owner with a fresh step-up, so only the input is wrong.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { useStores } from "../fixtures/stores.ts";
import { makeApp, type TestApp } from "../fixtures/control-plane.ts";
import { bootstrapOwner, createOrg, enrollTotp, json, stepUp, type Session } from "../fixtures/identity.ts";
import { enrollNode } from "../fixtures/nodes.ts";
import { apiRoutes, fillParams } from "../fixtures/routes.ts";

const stores = useStores();

setDefaultTimeout(60_000);

/** POST endpoints that take no body: any body sent to them is refused (`request.body_not_allowed`). Every other POST/PUT/PATCH must validate one. */
const NO_BODY = new Set([
  "POST /api/v1/auth/logout",
  "POST /api/v1/auth/mfa/totp",
  "POST /api/v1/platform/users/:id/unlock",
  "POST /api/v1/platform/secrets/rotate",
  "POST /api/v1/clusters/:id/resume",
  "POST /api/v1/clusters/:id/restore",
  "POST /api/v1/clusters/:id/partition/promote",
  "POST /api/v1/clusters/:id/partition/merge",
  "POST /api/v1/clusters/:id/nodes/:itemId/drain",
  "POST /api/v1/clusters/:id/nodes/:itemId/activate",
  "POST /api/v1/clusters/:id/nodes/:itemId/enable",
  "POST /api/v1/node-agents/enrollments/:requestId/challenge",
  "POST /api/v1/remote-sessions/:id/attach",
  "POST /api/v1/remote-sessions/:id/detach",
  "POST /api/v1/remote-sessions/:id/takeover",
  "POST /api/v1/remote-sessions/:id/terminate",
  "POST /api/v1/organizations/:orgId/identity-sources/:sourceId/sync",
  "POST /api/v1/organizations/:orgId/identity-sources/:sourceId/test",
  "POST /api/v1/platform/identity-sources/:sourceId/sync",
  "POST /api/v1/platform/identity-sources/:sourceId/test",
  "POST /api/v1/organizations/:orgId/vpn-connections/:vpnId/enable",
  "POST /api/v1/versions/clusters/:id/rollouts/:itemId/pause",
  "POST /api/v1/versions/clusters/:id/rollouts/:itemId/resume",
]);
/** Routes that take raw bytes (application/octet-stream), not JSON: any JSON body is the wrong media type. */
const OCTET_BODY = new Set(["PUT /api/v1/versions/blobs/:digest"]);

let t: TestApp;
let owner: Session;
let ids: { org: string; resource: string; cluster: string; node: string };
let nodeToken: string;

beforeAll(async () => {
  t = await makeApp(stores.store.db, stores.live, { bodyLimitBytes: 4096 });
  owner = await enrollTotp(t, await bootstrapOwner(t));
  const org = await createOrg(t, owner, "acme");
  const resource = await json(
    await t.call("POST", "/api/v1/resources", {
      token: owner.token,
      body: { organization_id: org, name: "r", protocol: "rdp", target_host: "h", target_port: 3389 },
    }),
    201,
  );
  const cluster = await json(await t.call("POST", "/api/v1/clusters", { token: owner.token, body: { name: "c", slug: "c" } }), 201);
  const node = await enrollNode(t, owner, cluster.id);
  ids = { org, resource: resource.id, cluster: cluster.id, node: node.nodeId };
  nodeToken = node.token;
});

const bodyRoutes = () => apiRoutes(t.app, ["POST", "PUT", "PATCH"]);

function url(path: string): string {
  return fillParams(path, { orgId: ids.org, userId: owner.userId, itemId: ids.node, assignmentId: ids.node, requestId: ids.node }, (p) =>
    p.includes("/resources/") ? ids.resource : p.includes("/clusters/") ? ids.cluster : owner.userId,
  );
}

/** Node-agent routes take a node's token; everything else the owner's. */
const tokenFor = (path: string) => (path.startsWith("/api/v1/node-agents/") ? nodeToken : owner.token);

async function tableCounts(): Promise<Record<string, number>> {
  const tables = await stores.store.db.query<{ table_name: string }>(
    "select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1",
  );
  const out: Record<string, number> = {};
  for (const { table_name } of tables) out[table_name] = (await stores.store.db.query<{ n: number }>(`select count(*)::int as n from "${table_name}"`))[0]!.n;
  return out;
}

function send(route: string, body: unknown, headers?: Record<string, string>): Promise<Response> {
  const [method, path] = route.split(" ") as [string, string];
  return t.call(method, url(path), { token: tokenFor(path), body, headers });
}

describe("bad input on every body-taking endpoint", () => {
  const cases: [string, (path: string) => Promise<Response>, string[]][] = [
    ["malformed JSON", (p) => send(p, '{"a":'), ["request.invalid_json"]],
    ["a JSON array", (p) => send(p, "[1,2]"), ["request.validation_failed"]],
    ["unknown fields only", (p) => send(p, { zz_unknown: true }), ["request.unknown_field", "request.validation_failed"]],
    ["an oversized body", (p) => send(p, { pad: "x".repeat(5000) }), ["request.body_too_large"]],
    ["a form body", (p) => send(p, "a=1", { "content-type": "application/x-www-form-urlencoded" }), ["request.unsupported_media_type"]],
  ];

  for (const [label, send, codes] of cases) {
    test(`${label}: 4xx with a stable code, nothing written`, async () => {
      await stepUp(t, owner);
      await stores.live.del("enroll:rate:src:unknown");
      const before = await tableCounts();
      const wrong: string[] = [];
      for (const route of bodyRoutes()) {
        const expected = NO_BODY.has(route)
          ? ["request.body_not_allowed"]
          : OCTET_BODY.has(route)
            ? ["request.unsupported_media_type", "request.body_too_large"]
            : codes;
        const res = await send(route);
        const body = (await res.json().catch(() => null)) as { error?: { code: string; trace_id: string } } | null;
        if (res.status < 400 || res.status >= 500 || !body?.error || !expected.includes(body.error.code) || !body.error.trace_id) {
          wrong.push(`${route} → ${res.status} ${body?.error?.code ?? "no envelope"}`);
        }
      }
      expect(wrong).toEqual([]);
      expect(await tableCounts()).toEqual(before);
    });
  }

  test("the no-body list names only real routes", () => {
    const all = bodyRoutes();
    expect([...NO_BODY].filter((r) => !all.includes(r))).toEqual([]);
  });

  test("a body on any endpoint that takes none (no-body POSTs, every DELETE) is refused, nothing written", async () => {
    await stepUp(t, owner);
    const before = await tableCounts();
    const routes = [...NO_BODY, ...apiRoutes(t.app, ["DELETE"])];
    const wrong: string[] = [];
    for (const route of routes) {
      for (const body of [{}, "null", "[]", '{"a":'] as const) {
        const res = await send(route, body);
        const code = ((await res.json().catch(() => null)) as { error?: { code: string } } | null)?.error?.code;
        if (res.status !== 400 || code !== "request.body_not_allowed")
          wrong.push(`${route} with ${JSON.stringify(body)} → ${res.status} ${code ?? "no envelope"}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(await tableCounts()).toEqual(before);
  });

  test("an empty body is no body: a no-body endpoint still answers", async () => {
    await stepUp(t, owner);
    const res = await t.call("POST", `/api/v1/clusters/${ids.cluster}/resume`, {
      token: owner.token,
      headers: { "content-type": "application/json", "content-length": "0" },
    });
    // The cluster is active, so the resume itself is refused by the cluster; the (absent) body is not.
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("actor.event_rejected");
  });
});
