/**
 * VPN connection routes over real stores: create, read (organization view
 * without topology, platform view with the lease), refusals with stable codes
 * that change nothing (bad or overlapping CIDRs, unknown nodes, a duplicate
 * name, nodes named by a non-platform caller, deleting an enabled connection),
 * disable and delete, and who may do what.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { useStores } from "../../fixtures/stores.ts";
import { makeApp, testIdentity, type TestApp } from "../../fixtures/control-plane.ts";
import { addMember, bootstrapOwner, createOrg, enrollTotp, json, stepUp, type Session } from "../../fixtures/identity.ts";
import { listAudit } from "../../sql/audit.ts";
import { VPN_LEASE_TTL_MS } from "../../core/vpn/lease-timing.ts";
import { enrollNode, nodeSession } from "../../fixtures/nodes.ts";

// Before useStores: its hooks (a fresh migrated database) take the timeout in force when they are registered.
setDefaultTimeout(120_000);
const stores = useStores();

const KEY = "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=";
const body = (name: string, cidrs: string[], extra: Record<string, unknown> = {}) => ({
  name,
  target: { site: "Berlin office", address: "198.51.100.7", port: 51820 },
  routing: { allowed_cidrs: cidrs, denied_cidrs: ["10.20.9.0/24"] },
  placement: { preferred_regions: ["eu-central"] },
  secret: { private_key: KEY, peer_public_key: KEY, tunnel_addresses: ["10.99.0.2/32"] },
  ...extra,
});

let t: TestApp;
let owner: Session;
let admin: Session;
let member: Session;
let viewer: Session;
let org: string;
const base = () => `/api/v1/organizations/${org}/vpn-connections`;
const errOf = async (res: Response) => ((await res.json()) as { error: { code: string; details: Record<string, unknown> } }).error;
const rows = async () => (await stores.store.db.query<{ n: number }>("select count(*)::int as n from vpn_connections"))[0]!.n;

beforeAll(async () => {
  t = await makeApp(stores.store.db, stores.live, { identity: await testIdentity({ accessTtlSeconds: 7 * 24 * 3600 }) });
  owner = await enrollTotp(t, await bootstrapOwner(t));
  await stepUp(t, owner);
  org = await createOrg(t, owner, "acme");
  admin = await enrollTotp(t, await addMember(t, owner, org, "admin@acme.example", "org_admin"));
  member = await addMember(t, owner, org, "member@acme.example", "org_member");
  viewer = await addMember(t, owner, org, "viewer@acme.example", "org_viewer");
}, 120_000);

/** A new cluster with an ssh-worker (in egress pool `pool`) and an entry node of the organization, both heartbeating. */
async function sessionCluster(name: string, slug: string, pool: string) {
  await stepUp(t, owner);
  const cluster = (await json(await t.call("POST", "/api/v1/clusters", { token: owner.token, body: { name, slug } }), 201)).id;
  const SSH = { can_route_mesh: true, can_accept_client_ingress: true, can_run_ssh_worker: true };
  const adapter = await enrollNode(t, owner, cluster, SSH, `ssh-${slug}`);
  const entry = await enrollNode(t, owner, cluster, SSH, `entry-${slug}`);
  for (const [n, role, policy] of [
    [adapter, "ssh-worker", { egress_pool: pool }],
    [entry, "entry-node", undefined],
  ] as const) {
    await stepUp(t, owner);
    const b = { role, organization_id: org, ...(policy ? { policy } : {}) };
    await json(await t.call("POST", `/api/v1/clusters/${cluster}/nodes/${n.nodeId}/roles`, { token: owner.token, body: b }), 201);
    const token = await nodeSession(t, n, cluster);
    expect((await t.call("POST", "/api/v1/node-agents/heartbeat", { token, body: { seq: 1 } })).status).toBe(202);
  }
  return { cluster, adapter, entry };
}

describe("VPN connection routes", () => {
  let id: string;

  test("an organization admin creates one; the organization's view has status but no nodes, epochs or secrets", async () => {
    await stepUp(t, admin);
    const created = await json(await t.call("POST", base(), { token: admin.token, body: body("berlin", ["10.20.0.0/16"]) }), 201);
    id = created.id;
    expect(created).toMatchObject({ name: "berlin", desired_state: "enabled", status: "waiting_for_node", mode: "single_active", secret_version: 1 });
    expect(created.routing).toMatchObject({ allowed_cidrs: ["10.20.0.0/16"], services: ["ip_tunnel"], internet_egress: false });
    const text = JSON.stringify(await json(await t.call("GET", `${base()}/${id}`, { token: viewer.token }), 200));
    for (const hidden of ["lease", "epoch", "owner_node_id", "standby_node_id", "allowed_node_ids", KEY]) expect(text).not.toContain(hidden);
    const audit = (await listAudit(stores.store.db, { limit: 50, targetId: id })).find((a) => a.action === "vpn.create")!;
    expect(audit.organization_id).toBe(org);
    expect(JSON.stringify(audit)).not.toContain(KEY);
  });

  test("the platform view shows the lease (vacant, epoch 0: no node can run it yet) and its history", async () => {
    const p = await json(await t.call("GET", `/api/v1/platform/vpn-connections/${id}`, { token: owner.token }), 200);
    expect(p.lease).toMatchObject({ state: "vacant", epoch: 0, owner_node_id: null, ttl_seconds: VPN_LEASE_TTL_MS / 1000, failovers: 0 });
    expect((await json(await t.call("GET", "/api/v1/platform/vpn-connections", { token: owner.token }), 200)).items.map((i: { id: string }) => i.id)).toEqual([
      id,
    ]);
    expect(await json(await t.call("GET", `/api/v1/platform/vpn-connections/${id}/history`, { token: owner.token }), 200)).toEqual({ items: [] });
    expect((await t.call("GET", "/api/v1/platform/vpn-connections", { token: admin.token })).status).toBe(403);
  });

  test("bad configuration gets a stable code and writes nothing", async () => {
    await stepUp(t, admin);
    const before = await rows();
    const cases: [Record<string, unknown>, Session, number, string][] = [
      [body("overlap", ["10.20.128.0/17"]), admin, 409, "vpn.cidr_overlap"],
      [body("wider", ["10.0.0.0/8"]), admin, 409, "vpn.cidr_overlap"],
      [body("hostbits", ["10.30.0.1/16"]), admin, 400, "vpn.cidr_invalid"],
      [body("deny", ["10.30.0.0/16"], { routing: { allowed_cidrs: ["10.30.0.0/16"], denied_cidrs: ["300.1.0.0/16"] } }), admin, 400, "vpn.cidr_invalid"],
      [body("berlin", ["10.40.0.0/16"]), admin, 409, "vpn.name_taken"],
      ...[
        ["Corp.Example", "10.31.0.53"],
        ["corp.example.", "10.31.0.53"],
        ["-corp.example", "10.31.0.53"],
        ["corp..example", "10.31.0.53"],
      ].map(([suffix, server]): [Record<string, unknown>, Session, number, string] => [
        body("dns", ["10.31.0.0/16"], { routing: { allowed_cidrs: ["10.31.0.0/16"], dns_routes: [{ suffix, servers: [server] }] } }),
        admin,
        400,
        "vpn.dns_suffix_invalid",
      ]),
      [
        body("dns", ["10.31.0.0/16"], {
          routing: {
            allowed_cidrs: ["10.31.0.0/16"],
            dns_routes: [
              { suffix: "corp.example", servers: ["10.31.0.53"] },
              { suffix: "corp.example", servers: ["10.31.0.54"] },
            ],
          },
        }),
        admin,
        400,
        "vpn.dns_suffix_invalid",
      ],
      ...["dns.corp.example", "10.31.0.300", "10.99.0.53", "10.31.9.53"].map((server): [Record<string, unknown>, Session, number, string] => [
        body("dns", ["10.31.0.0/16"], {
          routing: { allowed_cidrs: ["10.31.0.0/16"], denied_cidrs: ["10.31.9.0/24"], dns_routes: [{ suffix: "corp.example", servers: [server] }] },
        }),
        admin,
        400,
        "vpn.dns_server_invalid",
      ]),
      // With internet egress the (IPv4-only) full tunnel carries an IPv4 server outside the ranges, never an IPv6 one.
      [
        body("dns6", ["10.32.0.0/16"], {
          routing: { allowed_cidrs: ["10.32.0.0/16"], internet_egress: true, dns_routes: [{ suffix: "corp.example", servers: ["2001:db8::53"] }] },
        }),
        admin,
        400,
        "vpn.dns_server_invalid",
      ],
      [body("nodes", ["10.50.0.0/16"], { allowed_node_ids: [crypto.randomUUID()] }), admin, 403, "auth.forbidden"],
      [body("Bad Name", ["10.60.0.0/16"]), admin, 400, "request.validation_failed"],
      [{ ...body("extra", ["10.70.0.0/16"]), surprise: 1 }, admin, 400, "request.unknown_field"],
      [
        body("badkey", ["10.80.0.0/16"], { secret: { private_key: "short", peer_public_key: KEY, tunnel_addresses: ["10.99.0.2/32"] } }),
        admin,
        400,
        "request.validation_failed",
      ],
    ];
    for (const [b, who, status, code] of cases) {
      const res = await t.call("POST", base(), { token: who.token, body: b });
      expect({ name: b.name, status: res.status, code: (await errOf(res)).code }).toEqual({ name: b.name, status, code });
    }
    await stepUp(t, owner);
    const unknown = await t.call("POST", base(), { token: owner.token, body: body("nodes", ["10.50.0.0/16"], { allowed_node_ids: [crypto.randomUUID()] }) });
    expect(unknown.status).toBe(400);
    expect((await errOf(unknown)).code).toBe("vpn.unknown_nodes");
    expect(await rows()).toBe(before);
  });

  test("who may: members see nothing, viewers read, only owners and admins change", async () => {
    expect((await t.call("GET", base(), { token: member.token })).status).toBe(403);
    expect((await json(await t.call("GET", base(), { token: viewer.token }), 200)).items).toHaveLength(1);
    const res = await t.call("POST", `${base()}/${id}/disable`, { token: viewer.token, body: {} });
    expect(res.status).toBe(403);
  });

  test("an update replaces the configuration and keeps overlap rules; a new secret bumps its version", async () => {
    await stepUp(t, admin);
    const { secret, ...config } = body("berlin", ["10.20.0.0/16", "10.21.0.0/16"]);
    const same = await json(await t.call("PUT", `${base()}/${id}`, { token: admin.token, body: config }), 200);
    expect(same).toMatchObject({ secret_version: 1, routing: { allowed_cidrs: ["10.20.0.0/16", "10.21.0.0/16"] } });
    expect((await json(await t.call("PUT", `${base()}/${id}`, { token: admin.token, body: { ...config, secret } }), 200)).secret_version).toBe(2);
  });

  test("delete needs a disabled connection; disable then delete, and it is gone", async () => {
    await stepUp(t, admin);
    const enabled = await t.call("DELETE", `${base()}/${id}`, { token: admin.token });
    expect(enabled.status).toBe(409);
    expect((await errOf(enabled)).code).toBe("vpn.not_disabled");
    expect((await json(await t.call("POST", `${base()}/${id}/disable`, { token: admin.token, body: { reason: "office closed" } }), 200)).status).toBe(
      "disabled",
    );
    expect((await t.call("DELETE", `${base()}/${id}`, { token: admin.token })).status).toBe(204);
    expect((await t.call("GET", `${base()}/${id}`, { token: admin.token })).status).toBe(404);
    expect((await stores.store.db.query("select 1 from vpn_connection_secrets where connection_id = $1", [id])).length).toBe(0);
    // Its ranges are free again.
    expect((await t.call("POST", base(), { token: admin.token, body: body("berlin-2", ["10.20.0.0/16"]) })).status).toBe(201);
  });

  test("disabling a connection that live sessions route through is refused (409 vpn.clients_attached) unless forced", async () => {
    await sessionCluster("Frankfurt", "fra", "office");
    const resource = (
      await json(
        await t.call("POST", "/api/v1/resources", {
          token: owner.token,
          body: { organization_id: org, name: "office-db", protocol: "ssh", target_host: "10.50.0.22", target_port: 22, egress_pool: "office" },
        }),
        201,
      )
    ).id as string;
    const session = await json(await t.call("POST", "/api/v1/remote-sessions", { token: owner.token, body: { resource_id: resource } }), 201);
    expect(["placing", "starting"]).toContain(session.session.state);
    await stepUp(t, admin);
    const vpn = (
      await json(
        await t.call("POST", base(), {
          token: admin.token,
          body: body("office-ssh", ["10.50.0.0/16"], { routing: { allowed_cidrs: ["10.50.0.0/16"], resource_ids: [resource] } }),
        }),
        201,
      )
    ).id as string;
    const refused = await t.call("POST", `${base()}/${vpn}/disable`, { token: admin.token, body: {} });
    expect(refused.status).toBe(409);
    expect(await errOf(refused)).toMatchObject({ code: "vpn.clients_attached", details: { sessions: 1 } });
    expect((await json(await t.call("GET", `${base()}/${vpn}`, { token: admin.token }), 200)).desired_state).toBe("enabled");
    const forced = await json(await t.call("POST", `${base()}/${vpn}/disable`, { token: admin.token, body: { force: true, reason: "moving office" } }), 200);
    expect(forced).toMatchObject({ desired_state: "disabled", status: "disabled", disabled_reason: "moving office" });
  });

  test("a resource routes its sessions through a connection its policy allows; anything else is a clear 4xx that writes nothing", async () => {
    await stepUp(t, admin);
    const vpn = (
      await json(
        await t.call("POST", base(), {
          token: admin.token,
          body: body("office-routed", ["10.60.0.0/16"], { routing: { allowed_cidrs: ["10.60.0.0/16"], denied_cidrs: ["10.60.9.0/24"], services: ["ssh"] } }),
        }),
        201,
      )
    ).id as string;
    const resource = (over: Record<string, unknown>) => ({
      organization_id: org,
      name: `routed-${Math.random().toString(36).slice(2, 8)}`,
      protocol: "ssh",
      target_host: "10.60.0.22",
      target_port: 22,
      vpn_connection_id: vpn,
      ...over,
    });
    const count = async () => (await stores.store.db.query<{ n: number }>("select count(*)::int as n from resources"))[0]!.n;
    const before = await count();
    const refusals: [Record<string, unknown>, number, string][] = [
      [{ vpn_connection_id: "00000000-0000-4000-8000-000000000099" }, 404, "resource.vpn_connection_not_found"],
      [{ protocol: "rdp", target_port: 3389 }, 409, "resource.vpn_not_allowed"],
      [{ target_host: "10.61.0.1" }, 409, "resource.vpn_not_allowed"],
      [{ target_host: "10.60.9.7" }, 409, "resource.vpn_not_allowed"],
    ];
    for (const [over, status, code] of refusals) {
      const res = await t.call("POST", "/api/v1/resources", { token: owner.token, body: resource(over) });
      expect(res.status).toBe(status);
      expect((await errOf(res)).code).toBe(code);
    }
    // Another organization's connection reads as not found.
    await stepUp(t, owner);
    const other = await createOrg(t, owner, "globex");
    const theirs = (
      await json(
        await t.call("POST", `/api/v1/organizations/${other}/vpn-connections`, { token: owner.token, body: body("globex-office", ["10.60.0.0/16"]) }),
        201,
      )
    ).id as string;
    const foreign = await t.call("POST", "/api/v1/resources", { token: owner.token, body: resource({ vpn_connection_id: theirs }) });
    expect((await errOf(foreign)).code).toBe("resource.vpn_connection_not_found");
    expect(await count()).toBe(before);

    const created = await json(await t.call("POST", "/api/v1/resources", { token: owner.token, body: resource({}) }), 201);
    expect(created.vpn_connection_id).toBe(vpn);
    // A patch that would leave the policy is refused and changes nothing; clearing the route is fine.
    const moved = await t.call("PATCH", `/api/v1/resources/${created.id}`, { token: owner.token, body: { target_host: "10.70.0.1" } });
    expect((await errOf(moved)).code).toBe("resource.vpn_not_allowed");
    expect((await json(await t.call("GET", `/api/v1/resources/${created.id}`, { token: owner.token }), 200)).target_host).toBe("10.60.0.22");

    // The connection cannot be deleted while a resource routes through it.
    await stepUp(t, admin);
    await json(await t.call("POST", `${base()}/${vpn}/disable`, { token: admin.token, body: {} }), 200);
    const del = await t.call("DELETE", `${base()}/${vpn}`, { token: admin.token });
    expect(del.status).toBe(409);
    expect(await errOf(del)).toMatchObject({ code: "vpn.resources_attached", details: { resources: 1 } });
    const cleared = await json(await t.call("PATCH", `/api/v1/resources/${created.id}`, { token: owner.token, body: { vpn_connection_id: null } }), 200);
    expect(cleared.vpn_connection_id).toBeNull();
    expect((await t.call("DELETE", `${base()}/${vpn}`, { token: admin.token })).status).toBe(204);
  });

  test("the adapter's assignment carries the route: no owner while nobody holds the lease, and the policy's refusal once it changed", async () => {
    const { cluster, adapter } = await sessionCluster("Hamburg", "ham", "routed");
    await stepUp(t, admin);
    const routing = { allowed_cidrs: ["10.80.0.0/16"], services: ["ssh"] };
    const vpn = (await json(await t.call("POST", base(), { token: admin.token, body: body("office-assigned", ["10.80.0.0/16"], { routing }) }), 201))
      .id as string;
    const resource = (
      await json(
        await t.call("POST", "/api/v1/resources", {
          token: owner.token,
          body: {
            organization_id: org,
            name: "routed-db",
            protocol: "ssh",
            target_host: "10.80.0.5",
            target_port: 22,
            egress_pool: "routed",
            vpn_connection_id: vpn,
          },
        }),
        201,
      )
    ).id as string;
    const session = (await json(await t.call("POST", "/api/v1/remote-sessions", { token: owner.token, body: { resource_id: resource } }), 201)).session.id;
    const token = await nodeSession(t, adapter, cluster);
    const route = async () => {
      const { assignments } = await json(await t.call("GET", "/api/v1/node-agents/sessions/assignments", { token }), 200);
      return assignments.find((a: { session_id: string }) => a.session_id === session)?.vpn;
    };
    // No vpn-connector node in this cluster: nobody holds the lease.
    expect(await route()).toEqual({ connection_id: vpn, owner_node_id: null, epoch: 0, refused: null });
    await stepUp(t, admin);
    const update = body("office-assigned", ["10.80.0.0/16"], { routing: { ...routing, services: ["rdp"] } });
    await json(await t.call("PUT", `${base()}/${vpn}`, { token: admin.token, body: update }), 200);
    expect((await route()).refused).toContain("does not allow ssh");
  });
});
