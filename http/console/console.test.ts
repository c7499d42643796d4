/**
 * The console over the in-process app and real stores: the pages are served
 * with a strict CSP and no secret, the bundles are local, and the read
 * models the console adds (platform overview, a cluster's workloads, an
 * organization's member sessions and entry/egress names) answer with the
 * real counts, platform-only where they show topology and with nothing of
 * nodes or trust in the organization's view.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { useStores } from "../../fixtures/stores.ts";
import { makeApp, type TestApp } from "../../fixtures/control-plane.ts";
import { addMember, bootstrapOwner, createOrg, enrollTotp, json, stepUp, type Session } from "../../fixtures/identity.ts";
import { waitFor } from "../../fixtures/wait.ts";
import { createJoinToken, enrollNode, joinBody, nodeKeys, type EnrolledNode } from "../../fixtures/nodes.ts";

// Before useStores: a hook takes the default timeout in force when it is registered.
setDefaultTimeout(60_000);
const stores = useStores();

let t: TestApp;
let owner: Session;
let clusterId: string;
let org: string;
let orgAdmin: Session;
let orgViewer: Session;
let edge: EnrolledNode;
let relay: EnrolledNode;

const get = async (path: string, token = owner.token, status = 200) => json(await t.call("GET", path, { token }), status);

beforeAll(async () => {
  t = await makeApp(stores.store.db, stores.live);
  owner = await enrollTotp(t, await bootstrapOwner(t));
  org = await createOrg(t, owner, "acme");
  orgAdmin = await addMember(t, owner, org, "admin@acme.example", "org_admin");
  orgViewer = await addMember(t, owner, org, "viewer@acme.example", "org_viewer");
  await json(
    await t.call("POST", "/api/v1/resources", {
      token: owner.token,
      body: { organization_id: org, name: "desk", protocol: "rdp", target_host: "10.9.0.5", target_port: 3389, egress_pool: "acme-office" },
    }),
    201,
  );
  clusterId = (
    await json(await t.call("POST", "/api/v1/clusters", { token: owner.token, body: { name: "Frankfurt", slug: "fra", region: "eu-central" } }), 201)
  ).id;
  edge = await enrollNode(t, owner, clusterId, { can_accept_client_ingress: true, can_route_mesh: true }, "edge-fra-1");
  relay = await enrollNode(t, owner, clusterId, { can_route_mesh: true }, "relay-fra-1");
  // One request left pending.
  const k = await nodeKeys("waiting");
  const { token } = await createJoinToken(t, owner, clusterId);
  await json(await t.call("POST", "/api/v1/node-agents/enrollments", { body: joinBody(k, clusterId, token, { node_name: "waiting-1" }) }), 202);
});

describe("console pages", () => {
  test("are served with a strict CSP, local assets and no secret", async () => {
    for (const path of ["/console/", "/org/"]) {
      const res = await t.app.request(path);
      expect(res.status).toBe(200);
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      const html = await res.text();
      expect(html).not.toMatch(/https?:\/\//);
      expect(html).not.toMatch(/<script>|token|secret/i);
      expect(html).toMatch(/<script type="module" src="\/console\/assets\/(console|org)\.js"><\/script>/);
    }
    const js = await t.app.request("/console/assets/console.js");
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toContain("javascript");
    const source = await js.text();
    expect(source).toContain("/platform/overview");
    expect(source).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    expect((await t.app.request("/console/assets/org.js")).status).toBe(200);
    expect((await t.app.request("/console/assets/console.css")).headers.get("content-type")).toContain("text/css");
    expect((await t.app.request("/console/assets/nope.js")).status).toBe(404);
  });

  test("/ sends a browser to the console", async () => {
    const res = await t.app.request("/");
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/console/");
  });

  test("the icon is a local SVG under the same CSP, linked from both apps and served at /favicon.ico", async () => {
    for (const path of ["/console/", "/org/"])
      expect(await (await t.app.request(path)).text()).toContain('<link rel="icon" href="/console/assets/icon.svg" type="image/svg+xml">');
    for (const path of ["/favicon.ico", "/console/assets/icon.svg"]) {
      const res = await t.app.request(path);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("image/svg+xml");
      expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      const svg = await res.text();
      expect(svg).toStartWith("<svg");
      expect(svg).not.toMatch(/<script|href=|https?:\/\/(?!www\.w3\.org)/);
    }
  });
});

describe("platform overview", () => {
  test("counts clusters, nodes by health, pending requests, coverage gaps and workloads", async () => {
    await stepUp(t, owner);
    await json(await t.call("POST", `/api/v1/clusters/${clusterId}/nodes/${relay.nodeId}/roles`, { token: owner.token, body: { role: "relay-node" } }), 201);
    await json(
      await t.call("POST", "/api/v1/node-agents/services", {
        token: relay.token,
        body: { services: [{ service_type: "relay-node", reported_state: "running", version: "1.2.3" }] },
      }),
      200,
    );
    // Neither node has been heard from yet, so neither counts as healthy; the relay does after its first heartbeat.
    expect((await get("/api/v1/platform/overview")).nodes.by_health).toEqual({ healthy: 0, stale: 0, offline: 0 });
    expect((await t.call("POST", "/api/v1/node-agents/heartbeat", { token: relay.token, body: { seq: 1 } })).status).toBe(202);
    const o = await waitFor(async () => {
      const now = await get("/api/v1/platform/overview");
      return now.nodes.by_health.healthy === 1 ? now : null;
    });
    expect(o.clusters.total).toBe(1);
    expect(o.nodes).toMatchObject({ total: 2, by_status: { active: 2 }, by_health: { healthy: 1, stale: 0, offline: 0 } });
    expect(o.pending_join_requests).toBe(1);
    expect(o.role_coverage_gaps).toEqual([{ cluster_id: clusterId, cluster_name: "Frankfurt", missing_roles: ["entry-node"] }]);
    expect(o.workloads).toEqual({ desired_running: 1, running: 1, failed: 0 });
    const kinds = o.risky_states.map((r: { kind: string }) => r.kind).sort();
    expect(kinds).toEqual(["join_requests_pending", "role_coverage_gap"]);
    expect(o.per_cluster[0]).toMatchObject({ id: clusterId, roles: { "relay-node": 1 }, certificates: { active: 2, expiring_soon: 0 } });
  });

  test("is platform-only", async () => {
    const r = await json(await t.call("GET", "/api/v1/platform/overview", { token: orgAdmin.token }), 403);
    expect(r.error.code).toBe("auth.forbidden");
  });
});

describe("cluster workloads", () => {
  test("list each role assignment with its service state, filtered and paged", async () => {
    await stepUp(t, owner);
    await json(
      await t.call("POST", `/api/v1/clusters/${clusterId}/nodes/${edge.nodeId}/roles`, {
        token: owner.token,
        body: { role: "entry-node", organization_id: org, policy: { egress_pool: "acme-exit" } },
      }),
      201,
    );
    const all = await get(`/api/v1/clusters/${clusterId}/workloads`);
    expect(all.items.map((w: { role: string; node_name: string }) => `${w.role}@${w.node_name}`).sort()).toEqual([
      "entry-node@edge-fra-1",
      "relay-node@relay-fra-1",
    ]);
    const running = await get(`/api/v1/clusters/${clusterId}/workloads?reported_state=running`);
    expect(running.items).toEqual([
      expect.objectContaining({
        role: "relay-node",
        node_id: relay.nodeId,
        service: { desired_state: "running", reported_state: "running", version: "1.2.3", last_report_at: expect.any(String) },
      }),
    ]);
    const first = await get(`/api/v1/clusters/${clusterId}/workloads?limit=1`);
    expect(first.items).toHaveLength(1);
    const second = await get(`/api/v1/clusters/${clusterId}/workloads?limit=1&after=${first.next_cursor}`);
    expect(second.items).toHaveLength(1);
    expect(second.items[0].assignment_id).not.toBe(first.items[0].assignment_id);
    expect((await json(await t.call("GET", `/api/v1/clusters/${clusterId}/workloads?reported_state=bogus`, { token: owner.token }), 400)).error.code).toBe(
      "request.validation_failed",
    );
  });
});

describe("organization panel data", () => {
  test("endpoints name the entry cluster and egress pools, never a node", async () => {
    const res = await t.call("GET", `/api/v1/organizations/${org}/endpoints`, { token: orgViewer.token });
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(JSON.parse(text)).toEqual({ entry: [{ name: "Frankfurt", region: "eu-central", available: true }], egress: ["acme-exit", "acme-office"] });
    for (const secretish of [edge.nodeId, relay.nodeId, "edge-fra-1", "relay-fra-1", edge.fingerprint, clusterId]) expect(text).not.toContain(secretish);
  });

  test("sessions list members' sign-ins for those who manage members only", async () => {
    const s = await get(`/api/v1/organizations/${org}/sessions`, orgAdmin.token);
    expect(s.items.map((x: { email: string }) => x.email).sort()).toEqual(["admin@acme.example", "viewer@acme.example"]);
    expect(JSON.stringify(s)).not.toMatch(/device_hash|owner@example.com|refresh/);
    expect((await json(await t.call("GET", `/api/v1/organizations/${org}/sessions`, { token: orgViewer.token }), 403)).error.code).toBe("auth.forbidden");
  });
});

describe("at 10,000 nodes", () => {
  test("the overview stays one grouped read and node lists stay keyset pages", async () => {
    const big = (await json(await t.call("POST", "/api/v1/clusters", { token: owner.token, body: { name: "Bulk", slug: "bulk" } }), 201)).id;
    // Volume only, for a read-side check: rows written straight into the projection instead of
    // enrolling 10,000 agents through the node actor.
    await stores.store.db.query(
      `insert into nodes (id, cluster_id, name, status, health)
       select gen_random_uuid(), $1::uuid, 'bulk-' || g, 'active', case when g % 10 = 0 then 'stale' else 'healthy' end
         from generate_series(1, 10000) g`,
      [big],
    );
    // ...and heard from: a node never heard from is counted as never seen, not healthy.
    await stores.store.db.query(
      `insert into node_heartbeats_latest (node_id, cluster_id, received_at, seq, telemetry)
       select id, cluster_id, now(), 1, '{}'::jsonb from nodes where cluster_id = $1::uuid`,
      [big],
    );
    const started = Date.now();
    const o = await get("/api/v1/platform/overview");
    const bulk = o.per_cluster.find((c: { id: string }) => c.id === big);
    expect(o.nodes.total).toBe(10_002);
    expect(bulk.nodes.by_health).toEqual({ healthy: 9000, stale: 1000, offline: 0 });
    expect(bulk.missing_roles).toEqual(["entry-node", "relay-node"]);
    expect(o.risky_states).toEqual(
      expect.arrayContaining([expect.objectContaining({ cluster_id: big, kind: "nodes_stale", message: "1000 node(s) missed heartbeats" })]),
    );

    const first = await get(`/api/v1/clusters/${big}/nodes?health=stale&limit=50`);
    expect(first.items).toHaveLength(50);
    expect(first.items.every((n: { health: string }) => n.health === "stale")).toBe(true);
    const second = await get(`/api/v1/clusters/${big}/nodes?health=stale&limit=50&after=${first.next_cursor}`);
    expect(second.items).toHaveLength(50);
    expect(second.items[0].id > first.items[49].id).toBe(true);
    // Generous bound for a loaded CI machine: the point is that nothing scales with the node count per request.
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
