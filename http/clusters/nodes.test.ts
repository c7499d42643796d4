/**
 * Enrolled nodes over the real API: node sessions from a proven key,
 * heartbeats (batched, with history and live keys), liveness by durable
 * timers, revocation with a signed revocation list, certificate renewal,
 * role assignments against capabilities, node groups, and signed snapshots
 * scoped per role and per organization.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { sleep } from "../../core/runtime/index.ts";
import { useStores } from "../../fixtures/stores.ts";
import { makeApp, testIdentity, type TestApp } from "../../fixtures/control-plane.ts";
import { addMember, bootstrapOwner, createOrg, enrollTotp, json, stepUp, type Session } from "../../fixtures/identity.ts";
import { createJoinToken, enrollNode, joinBody, nodeKeys, nodeSession, poll, type EnrolledNode } from "../../fixtures/nodes.ts";
import { signNodeProof } from "../../core/crypto/node-proof.ts";
import { verifyAuthority, type AuthorityClaims } from "../../core/crypto/authority-jws.ts";
import { fromB64 } from "../../core/crypto/bytes.ts";
import { listAudit } from "../../sql/audit.ts";
import { waitFor } from "../../fixtures/wait.ts";
import { CHANNEL_CLASSES } from "../../core/contracts/channel-classes.ts";
import { liveHash } from "../../control/nodes/heartbeats.ts";
import { SNAPSHOT_TYPE, snapshotAudience, type SnapshotBody } from "../../control/nodes/snapshots.ts";
import { REVOCATION_TYPE } from "../../control/nodes/service.ts";
import { SignJWT } from "jose";
import { NODE_TOKEN_TTL_SECONDS } from "../../control/nodes/node-auth.ts";

const stores = useStores();

setDefaultTimeout(60_000);

let t: TestApp;
let owner: Session;
let clusterId: string;

const errOf = async (res: Response) => ((await res.json()) as { error: { code: string; details: Record<string, unknown> } }).error;
const admin = (method: string, path: string, body?: unknown) => t.call(method, `/api/v1/clusters/${clusterId}${path}`, { token: owner.token, body });
const agent = (n: { token: string }, method: string, path: string, body?: unknown) => t.call(method, `/api/v1/node-agents${path}`, { token: n.token, body });
const beat = (n: { token: string }, seq: number, telemetry: Record<string, unknown> = { cpu: 0.1 }) =>
  agent(n, "POST", "/heartbeat", { seq, agent_version: "0.1.0", telemetry });

async function authorityKey(): Promise<CryptoKey> {
  const a = await json(await admin("GET", "/authority"), 200);
  return crypto.subtle.importKey("raw", fromB64(a.signing_public_key), { name: "Ed25519" }, true, ["verify"]);
}

async function snapshotOf(n: EnrolledNode): Promise<SnapshotBody & { version: number }> {
  const r = await json(await agent(n, "GET", "/snapshot"), 200);
  return verifyAuthority(await authorityKey(), r.snapshot, { typ: SNAPSHOT_TYPE, aud: snapshotAudience(n.nodeId), clusterId }) as Promise<
    SnapshotBody & AuthorityClaims & { version: number }
  >;
}

beforeAll(async () => {
  t = await makeApp(stores.store.db, stores.live, { identity: await testIdentity({ accessTtlSeconds: 24 * 3600 }) });
  owner = await enrollTotp(t, await bootstrapOwner(t));
  clusterId = (await json(await t.call("POST", "/api/v1/clusters", { token: owner.token, body: { name: "Frankfurt", slug: "fra" } }), 201)).id;
});

describe("node sessions", () => {
  test("a proof signed by the node's key gives a node token; a replayed, stale or foreign proof does not", async () => {
    const n = await enrollNode(t, owner, clusterId);
    expect((await beat(n, 1)).status).toBe(202);
    const proof = await signNodeProof(n.keys.privateKey, n.fingerprint, clusterId, t.clock.now());
    expect((await t.call("POST", "/api/v1/node-agents/session", { body: { proof } })).status).toBe(200);
    expect((await errOf(await t.call("POST", "/api/v1/node-agents/session", { body: { proof } }))).code).toBe("node.auth_refused");
    const old = await signNodeProof(n.keys.privateKey, n.fingerprint, clusterId, new Date(t.clock.now().getTime() - 5 * 60_000));
    expect((await t.call("POST", "/api/v1/node-agents/session", { body: { proof: old } })).status).toBe(401);
    const stranger = await nodeKeys();
    const claimed = await signNodeProof(stranger.keys.privateKey, n.fingerprint, clusterId, t.clock.now());
    expect((await t.call("POST", "/api/v1/node-agents/session", { body: { proof: claimed } })).status).toBe(401);
    expect((await t.call("POST", "/api/v1/node-agents/heartbeat", { token: owner.token, body: { seq: 1 } })).status).toBe(401);
  });

  test("a correctly signed node token is honoured only within the 10 minutes the server issues: a 10-year exp or a future iat is refused", async () => {
    const n = await enrollNode(t, owner, clusterId, { can_route_mesh: true }, "token-life");
    const now = Math.floor(t.clock.now().getTime() / 1000);
    const forge = (iat: number, exp: number) =>
      new SignJWT({ typ: "node", cid: clusterId, fp: n.fingerprint })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject(n.nodeId)
        .setAudience("rap-node-api")
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(t.identity.tokenKey);
    expect((await beat({ token: await forge(now, now + NODE_TOKEN_TTL_SECONDS) }, 1)).status).toBe(202);
    for (const [iat, exp] of [
      [now, now + 10 * 365 * 24 * 3600],
      [now + 3600, now + 3600 + NODE_TOKEN_TTL_SECONDS],
    ] as const) {
      const res = await beat({ token: await forge(iat, exp) }, 2);
      expect(res.status).toBe(401);
      expect((await errOf(res)).code).toBe("node.auth_refused");
    }
  });
});

describe("heartbeats and liveness", () => {
  test("heartbeats land in the latest state, the bounded history and the live keys", async () => {
    const n = await enrollNode(t, owner, clusterId, { can_route_mesh: true }, "hb-1");
    await Promise.all([beat(n, 1, { cpu: 0.1 }), beat(n, 2, { cpu: 0.2 })]);
    const detail = await json(await admin("GET", `/nodes/${n.nodeId}`), 200);
    expect(detail.last_heartbeat).toMatchObject({ seq: 2, agent_version: "0.1.0", telemetry: { cpu: 0.2 } });
    expect(detail.heartbeat_history).toHaveLength(1);
    expect(await stores.live.hget(liveHash(clusterId), n.nodeId)).not.toBeNull();
    expect((await beat(n, 3, { blob: "x".repeat(5000) })).status).toBe(400);
  });

  test("a silent node goes stale then offline on its durable timer; a heartbeat brings it back; all audited", async () => {
    const n = await enrollNode(t, owner, clusterId, { can_route_mesh: true }, "hb-2");
    await beat(n, 1);
    t.clock.advance(91_000);
    await t.scheduler.tick();
    expect((await json(await admin("GET", `/nodes/${n.nodeId}`), 200)).health).toBe("stale");
    t.clock.advance(210_000);
    await t.scheduler.tick();
    expect((await json(await admin("GET", `/nodes/${n.nodeId}`), 200)).health).toBe("offline");
    n.token = await nodeSession(t, n, clusterId);
    expect((await beat(n, 2)).status).toBe(202);
    // The heartbeat is answered once durable; the recovery event follows right after the commit.
    await waitFor(async () => (await json(await admin("GET", `/nodes/${n.nodeId}`), 200)).health === "healthy", { what: "the node back to healthy" });
    const health = (await listAudit(stores.store.db, { targetId: n.nodeId, action: "node.health", limit: 10 })).map(
      (e) => (e.details as { state_after: string }).state_after,
    );
    expect(health).toHaveLength(3);
    const offline = await json(await admin("GET", "/nodes?health=offline"), 200);
    expect(offline.items.map((x: { id: string }) => x.id)).not.toContain(n.nodeId);
  });
  test("liveness whatever the enrolment state: an approved node whose agent never picks up goes stale then offline, never shown as seen", async () => {
    const k = await nodeKeys("never-seen");
    const { token } = await createJoinToken(t, owner, clusterId);
    const { request_id } = await json(
      await t.call("POST", "/api/v1/node-agents/enrollments", { body: joinBody(k, clusterId, token, { node_name: "never-seen" }) }),
      202,
    );
    await stepUp(t, owner);
    const { node_id } = await json(await admin("POST", `/join-requests/${request_id}/approve`, {}), 200);
    const row = async () => (await json(await admin("GET", "/nodes?limit=200"), 200)).items.find((x: { id: string }) => x.id === node_id);
    expect(await row()).toMatchObject({ status: "pending", health: "healthy", last_heartbeat_at: null });
    t.clock.advance(91_000);
    await t.scheduler.tick();
    expect(await row()).toMatchObject({ status: "pending", health: "stale", last_heartbeat_at: null });
    t.clock.advance(210_000);
    await t.scheduler.tick();
    expect(await row()).toMatchObject({ status: "pending", health: "offline" });
    // The agent comes back late: it takes its identity (active, still offline) and its first heartbeat makes it healthy.
    await json(await poll(t, request_id, clusterId, k), 200);
    expect(await row()).toMatchObject({ status: "active", health: "offline" });
    expect((await beat({ token: await nodeSession(t, k, clusterId) }, 1)).status).toBe(202);
    await waitFor(async () => (await row())?.health === "healthy", { what: "the late node healthy" });
    expect((await row()).last_heartbeat_at).toBe(t.clock.now().toISOString());
  });

  test("a disabled node is not heard from: it goes stale then offline, and enabling it does not claim it healthy", async () => {
    const n = await enrollNode(t, owner, clusterId, { can_route_mesh: true }, "hb-disabled");
    await beat(n, 1);
    await stepUp(t, owner);
    await json(await admin("POST", `/nodes/${n.nodeId}/disable`, { reason: "maintenance" }), 200);
    t.clock.advance(91_000);
    await t.scheduler.tick();
    t.clock.advance(210_000);
    await t.scheduler.tick();
    expect(await json(await admin("GET", `/nodes/${n.nodeId}`), 200)).toMatchObject({ status: "disabled", health: "offline" });
    await stepUp(t, owner);
    expect(await json(await admin("POST", `/nodes/${n.nodeId}/enable`), 200)).toMatchObject({ status: "active", health: "offline" });
  });
});

describe("revocation, disabling and renewal", () => {
  test("revoking a node refuses it at once and publishes a signed revocation list with its serial", async () => {
    const n = await enrollNode(t, owner, clusterId, { can_route_mesh: true }, "rev-1");
    await stepUp(t, owner);
    const r = await json(await admin("POST", `/nodes/${n.nodeId}/revoke`, { reason: "stolen" }), 200);
    expect(r.revoked_serials).toHaveLength(1);
    expect((await beat(n, 1)).status).toBe(401);
    expect(
      (
        await t.call("POST", "/api/v1/node-agents/session", {
          body: { proof: await signNodeProof(n.keys.privateKey, n.fingerprint, clusterId, t.clock.now()) },
        })
      ).status,
    ).toBe(401);
    const list = await json(await admin("GET", "/revocations"), 200);
    const doc = await verifyAuthority<AuthorityClaims & { revoked: { serial: string; nodeId: string }[] }>(await authorityKey(), list.revocation_list, {
      typ: REVOCATION_TYPE,
      aud: `cluster:${clusterId}`,
      clusterId,
    });
    expect(doc.revoked).toContainEqual(expect.objectContaining({ serial: r.revoked_serials[0], nodeId: n.nodeId }));
    expect(await listAudit(stores.store.db, { action: "node.certificate_revoked", targetId: n.nodeId, limit: 1 })).toHaveLength(1);
  });

  test("a disabled node is refused until enabled", async () => {
    const n = await enrollNode(t, owner, clusterId, { can_route_mesh: true }, "dis-1");
    await json(await admin("POST", `/nodes/${n.nodeId}/disable`, { reason: "maintenance" }), 200);
    expect((await beat(n, 1)).status).toBe(401);
    await json(await admin("POST", `/nodes/${n.nodeId}/enable`), 200);
    expect((await beat(n, 2)).status).toBe(202);
  });

  test("a node renews its certificate with a new key; the old identity is rotated", async () => {
    const n = await enrollNode(t, owner, clusterId, { can_route_mesh: true }, "ren-1");
    const next = await nodeKeys("ren-1");
    const renewed = await json(await agent(n, "POST", "/certificate", { csr: next.csr }), 201);
    const a = await json(await admin("GET", "/authority"), 200);
    const { verifyNodeCertificate } = await import("../../core/crypto/x509.ts");
    expect(await verifyNodeCertificate(renewed.certificate, a.ca_certificate, { clusterId, nodeId: n.nodeId, at: t.clock.now() })).toBe(true);
    const ids = (await json(await admin("GET", `/nodes/${n.nodeId}`), 200)).identities;
    expect(ids.map((i: { status: string }) => i.status).sort()).toEqual(["active", "rotated"]);
    expect(await nodeSession(t, next, clusterId)).toBeString();
    await expect(
      t
        .call("POST", "/api/v1/node-agents/session", { body: { proof: await signNodeProof(n.keys.privateKey, n.fingerprint, clusterId, t.clock.now()) } })
        .then((r) => r.status),
    ).resolves.toBe(401);
  });

  test("a node renews its certificate with its current key, again and concurrently: one active certificate, the key keeps working", async () => {
    const n = await enrollNode(t, owner, clusterId, { can_route_mesh: true }, "ren-2");
    const a = await json(await admin("GET", "/authority"), 200);
    const { verifyNodeCertificate } = await import("../../core/crypto/x509.ts");
    const renewed = await json(await agent(n, "POST", "/certificate", { csr: n.csr }), 201);
    expect(await verifyNodeCertificate(renewed.certificate, a.ca_certificate, { clusterId, nodeId: n.nodeId, at: t.clock.now() })).toBe(true);
    const twice = await Promise.all([1, 2].map(() => agent(n, "POST", "/certificate", { csr: n.csr })));
    expect(twice.map((r) => r.status)).toEqual([201, 201]);
    const ids: { certificate_serial: string; fingerprint: string; status: string }[] = (await json(await admin("GET", `/nodes/${n.nodeId}`), 200)).identities;
    expect(ids).toHaveLength(4);
    expect(ids.every((i) => i.fingerprint === n.fingerprint)).toBe(true);
    expect(ids.filter((i) => i.status === "active")).toHaveLength(1);
    expect(ids.filter((i) => i.status === "rotated")).toHaveLength(3);
    expect(ids.find((i) => i.status === "active")!.certificate_serial).not.toBe(renewed.serial);
    expect(await nodeSession(t, n, clusterId)).toBeString();
    expect(await listAudit(stores.store.db, { action: "node.certificate_rotated", targetId: n.nodeId, limit: 10 })).toHaveLength(3);
    // Revoking the node still names every certificate its key ever had.
    await stepUp(t, owner);
    const revoked = await json(await admin("POST", `/nodes/${n.nodeId}/revoke`, { reason: "retired" }), 200);
    expect([...revoked.revoked_serials].sort()).toEqual(ids.map((i) => i.certificate_serial).sort());
  });
});

describe("roles and groups", () => {
  test("a role needs its capability and a fresh step-up; assigning starts the service, removing stops it", async () => {
    const n = await enrollNode(t, owner, clusterId, { can_route_mesh: true }, "role-1");
    await stepUp(t, owner);
    const missing = await admin("POST", `/nodes/${n.nodeId}/roles`, { role: "rdp-worker" });
    expect((await errOf(missing)).code).toBe("node.capability_missing");
    t.clock.advance(6 * 60_000);
    const stale = await admin("POST", `/nodes/${n.nodeId}/roles`, { role: "relay-node" });
    expect((await errOf(stale)).code).toBe("auth.step_up_required");
    await stepUp(t, owner);
    const { id } = await json(await admin("POST", `/nodes/${n.nodeId}/roles`, { role: "relay-node" }), 201);
    expect((await errOf(await admin("POST", `/nodes/${n.nodeId}/roles`, { role: "relay-node" }))).code).toBe("node.role_exists");
    let detail = await json(await admin("GET", `/nodes/${n.nodeId}`), 200);
    expect(detail.roles.map((r: { role: string }) => r.role)).toEqual(["relay-node"]);
    expect(detail.services).toEqual([expect.objectContaining({ service_type: "relay-node", desired_state: "running" })]);
    expect((await admin("DELETE", `/nodes/${n.nodeId}/roles/${id}`)).status).toBe(204);
    detail = await json(await admin("GET", `/nodes/${n.nodeId}`), 200);
    expect(detail.services).toEqual([expect.objectContaining({ service_type: "relay-node", desired_state: "stopped" })]);
    const actions = (await listAudit(stores.store.db, { targetId: n.nodeId, limit: 50 })).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(["node.role_assigned", "node.role_removed", "node.service_desired_state"]));
  });

  test("a vpn-client role needs an organization and a /32 tunnel address; a refused one writes nothing", async () => {
    const n = await enrollNode(t, owner, clusterId, { can_route_mesh: true, can_run_vpn_client: true }, "vpn-client-1");
    const org = await createOrg(t, owner, "vpn-clients");
    await stepUp(t, owner);
    expect((await errOf(await admin("POST", `/nodes/${n.nodeId}/roles`, { role: "vpn-client", organization_id: org }))).code).toBe("node.role_policy_invalid");
    const noOrg = await admin("POST", `/nodes/${n.nodeId}/roles`, { role: "vpn-client", policy: { tunnel_address: "100.64.0.9/32" } });
    expect((await errOf(noOrg)).code).toBe("node.role_policy_invalid");
    const badAddress = await admin("POST", `/nodes/${n.nodeId}/roles`, {
      role: "vpn-client",
      organization_id: org,
      policy: { tunnel_address: "100.64.0.0/24" },
    });
    expect((await errOf(badAddress)).code).toBe("request.validation_failed");
    expect((await json(await admin("GET", `/nodes/${n.nodeId}`), 200)).roles).toEqual([]);
    const ok = await admin("POST", `/nodes/${n.nodeId}/roles`, { role: "vpn-client", organization_id: org, policy: { tunnel_address: "100.64.0.9/32" } });
    expect(ok.status).toBe(201);
  });

  test("an agent reports its services' state; only assigned services change", async () => {
    const n = await enrollNode(t, owner, clusterId, { can_route_mesh: true }, "svc-1");
    await stepUp(t, owner);
    await json(await admin("POST", `/nodes/${n.nodeId}/roles`, { role: "relay-node" }), 201);
    const r = await json(
      await agent(n, "POST", "/services", {
        services: [
          { service_type: "relay-node", reported_state: "running", version: "1.2.3" },
          { service_type: "rdp-worker", reported_state: "unsupported" },
        ],
      }),
      200,
    );
    expect(r).toEqual({ updated: ["relay-node"], not_assigned: ["rdp-worker"] });
    const detail = await json(await admin("GET", `/nodes/${n.nodeId}`), 200);
    expect(detail.services).toEqual([
      expect.objectContaining({ service_type: "relay-node", desired_state: "running", reported_state: "running", version: "1.2.3" }),
    ]);
    expect((await agent(n, "POST", "/services", { services: [{ service_type: "relay-node", reported_state: "exploded" }] })).status).toBe(400);
  });

  test("node groups form a tree and filter the node list", async () => {
    const root = await json(await admin("POST", "/node-groups", { name: "eu" }), 201);
    const child = await json(await admin("POST", "/node-groups", { name: "fra-dc1", parent_id: root.id }), 201);
    expect((await errOf(await admin("POST", "/node-groups", { name: "eu" }))).code).toBe("node_group.exists");
    const tree = await json(await admin("GET", "/node-groups"), 200);
    expect(tree.items).toEqual([{ id: root.id, name: "eu", children: [{ id: child.id, name: "fra-dc1", children: [] }] }]);
    const n = await enrollNode(t, owner, clusterId, { can_route_mesh: true }, "grp-1");
    await json(await admin("PUT", `/nodes/${n.nodeId}/group`, { group_id: child.id }), 200);
    const listed = await json(await admin("GET", `/nodes?group_id=${child.id}`), 200);
    expect(listed.items.map((x: { id: string }) => x.id)).toEqual([n.nodeId]);
  });
});

describe("signed scoped snapshots", () => {
  let orgA: string;
  let orgB: string;
  let relay: EnrolledNode;
  let entry: EnrolledNode;
  let workerA: EnrolledNode;

  beforeAll(async () => {
    // A cluster of its own, so peers from the tests above do not show up here.
    clusterId = (await json(await t.call("POST", "/api/v1/clusters", { token: owner.token, body: { name: "Snapshots", slug: "snap" } }), 201)).id;
    orgA = await createOrg(t, owner, "snap-a");
    orgB = await createOrg(t, owner, "snap-b");
    await stepUp(t, owner);
    for (const [org, name, pool] of [
      [orgA, "a-office", "office-a"],
      [orgA, "a-dc", "dc-a"],
      [orgB, "b-office", "office-b"],
    ] as const) {
      await json(
        await t.call("POST", "/api/v1/resources", {
          token: owner.token,
          body: {
            organization_id: org,
            name,
            protocol: "rdp",
            target_host: `${name}.internal`,
            target_port: 3389,
            egress_pool: pool,
            secret: { password: `pw-${name}` },
          },
        }),
        201,
      );
    }
    await json(
      await t.call("POST", "/api/v1/resources", {
        token: owner.token,
        body: { organization_id: orgA, name: "a-ssh", protocol: "ssh", target_host: "ssh.internal", target_port: 22, egress_pool: "office-a" },
      }),
      201,
    );
    relay = await enrollNode(t, owner, clusterId, { can_route_mesh: true }, "relay");
    entry = await enrollNode(t, owner, clusterId, { can_accept_client_ingress: true, can_route_mesh: true }, "entry");
    workerA = await enrollNode(t, owner, clusterId, { can_run_rdp_worker: true }, "worker-a");
    await stepUp(t, owner);
    await json(await admin("POST", `/nodes/${relay.nodeId}/roles`, { role: "relay-node" }), 201);
    await json(await admin("POST", `/nodes/${entry.nodeId}/roles`, { role: "entry-node" }), 201);
    await json(await admin("POST", `/nodes/${workerA.nodeId}/roles`, { role: "rdp-worker", organization_id: orgA, policy: { egress_pool: "office-a" } }), 201);
  });

  test("a relay gets peers (entry and adapter nodes) and QoS policy, nothing of entry or services", async () => {
    const s = await snapshotOf(relay);
    expect(s.roles).toEqual([{ role: "relay-node", organization_id: null }]);
    expect(s.mesh!.peers.map((p) => p.node_id).sort()).toEqual([entry.nodeId, workerA.nodeId].sort());
    expect(s.mesh!.qos.classes.map((c) => c.name)).toEqual(expect.arrayContaining([...CHANNEL_CLASSES]));
    expect(s.mesh!.qos.classes[0]).toEqual({ name: "fabric_control", priority: 100, reliable: true });
    expect(s.mesh!.qos.classes.at(-1)).toEqual({ name: "vpn_packet", priority: 0, reliable: false });
    expect(s.entry).toBeUndefined();
    expect(s.services).toBeUndefined();
  });

  test("an entry node gets token-validation keys and entry policy", async () => {
    const s = await snapshotOf(entry);
    expect(s.entry!.token_validation_keys).toEqual([{ kid: t.identity.dataPlaneKey.kid, alg: "EdDSA", public_key: t.identity.dataPlaneKey.publicKeyB64 }]);
    expect(s.mesh!.peers.map((p) => p.node_id).sort()).toEqual([relay.nodeId, workerA.nodeId].sort());
    expect(s.services).toBeUndefined();
  });

  test("an rdp worker for A gets A's rdp resources in its egress pool only: no other pool, protocol, organization or credential", async () => {
    const s = await snapshotOf(workerA);
    // An adapter is a mesh peer of the entry and relay nodes its session streams come through.
    expect(s.mesh!.peers.map((p) => p.node_id).sort()).toEqual([relay.nodeId, entry.nodeId].sort());
    expect(s.entry).toBeUndefined();
    expect(s.services).toHaveLength(1);
    expect(s.services![0]!.resources.map((r) => r.target_host)).toEqual(["a-office.internal"]);
    const text = JSON.stringify(s);
    for (const absent of ["b-office", "a-dc", "ssh.internal", orgB, "pw-", "secret", "password"]) expect(text).not.toContain(absent);
  });

  test("versions move only when the content does, and an older version is not served as new", async () => {
    const first = await snapshotOf(relay);
    const same = await snapshotOf(relay);
    expect(same.version).toBe(first.version);
    const unchanged = await json(await agent(relay, "GET", `/snapshot?after_version=${first.version}`), 200);
    expect(unchanged).toEqual({ version: first.version, changed: false });
    await enrollNode(t, owner, clusterId, { can_route_mesh: true }, "relay-2").then(async (r2) => {
      await stepUp(t, owner);
      await json(await admin("POST", `/nodes/${r2.nodeId}/roles`, { role: "relay-node" }), 201);
    });
    const next = await snapshotOf(relay);
    expect(next.version).toBe(first.version + 1);
    expect(next.mesh!.peers).toHaveLength(3);
  });

  test("a long-polling agent is answered as soon as its snapshot changes", async () => {
    const before = await snapshotOf(entry);
    const started = Date.now();
    const waiting = agent(entry, "GET", `/snapshot?after_version=${before.version}&wait=20`);
    await sleep(50);
    const r2 = await enrollNode(t, owner, clusterId, { can_route_mesh: true }, "relay-late");
    await stepUp(t, owner);
    await json(await admin("POST", `/nodes/${r2.nodeId}/roles`, { role: "relay-node" }), 201);
    const answer = await json(await waiting, 200);
    expect(answer).toMatchObject({ changed: true, version: before.version + 1 });
    expect(Date.now() - started).toBeLessThan(15_000);
    const idle = await json(await agent(entry, "GET", `/snapshot?after_version=${answer.version}&wait=1`), 200);
    expect(idle).toEqual({ version: answer.version, changed: false });
    expect((await agent(entry, "GET", "/snapshot?wait=99")).status).toBe(400);
  });

  test("relay paths: a peer a node cannot reach directly is routed through a relay that can, and rerouted when the relay reports it lost", async () => {
    // entry cannot reach relay-late's peers directly; relay reaches everyone.
    const s0 = await snapshotOf(entry);
    const target = s0.mesh!.peers.find((p) => p.node_id !== relay.nodeId)!.node_id;
    const report = (n: EnrolledNode, observations: unknown[]) => agent(n, "POST", "/links", { observations });
    expect(
      (
        await report(entry, [
          { peer_node_id: relay.nodeId, reachable: true, latency_ms: 4 },
          { peer_node_id: target, reachable: false },
        ])
      ).status,
    ).toBe(202);
    expect(
      (
        await report(relay, [
          { peer_node_id: target, reachable: true, latency_ms: 6 },
          { peer_node_id: entry.nodeId, reachable: true },
        ])
      ).status,
    ).toBe(202);
    const routed = await snapshotOf(entry);
    expect(routed.mesh!.relays).toContain(relay.nodeId);
    expect(routed.mesh!.route_paths).toContainEqual({ to: target, via: [relay.nodeId], alternates: [] });
    // The relay holds a lease for exactly that pair, until the end of the next full hour.
    const pair = [entry.nodeId, target].sort() as [string, string];
    const leased = await snapshotOf(relay);
    expect(leased.mesh!.relay_leases!.pairs).toContainEqual(pair);
    expect(Date.parse(leased.mesh!.relay_leases!.expires_at) - t.clock.now().getTime()).toBeGreaterThan(3_600_000);
    expect(routed.mesh!.relay_leases).toBeUndefined();
    // Route-health feedback from the node itself: pings over that path go unanswered, so the relay is stale for that
    // destination. It is the only relay that reaches the target, so it stays (a suspect path beats none) ...
    const health = (body: unknown) => agent(entry, "POST", "/route-health", body);
    const before = await snapshotOf(entry);
    expect(await json(await health({ reports: [{ to: target, via: [relay.nodeId], healthy: false }] }), 202)).toEqual({ recorded: 1, changes: 1 });
    expect((await snapshotOf(entry)).mesh!.route_paths).toContainEqual({ to: target, via: [relay.nodeId], alternates: [] });
    // ... and clearing the mark changes nothing further.
    expect(await json(await health({ reports: [{ to: target, via: [relay.nodeId], healthy: true }] }), 202)).toEqual({ recorded: 1, changes: 1 });
    expect((await snapshotOf(entry)).version).toBe(before.version);
    const foreign = await health({ reports: [{ to: crypto.randomUUID().replace(/^(.{14})./, "$17"), via: [relay.nodeId], healthy: false }] });
    expect(foreign.status).toBe(400);
    expect((await health({ reports: [] })).status).toBe(400);
    // Route-health feedback: the relay loses the target, so the path and the lease go away in the next versions.
    await report(relay, [{ peer_node_id: target, reachable: false }]);
    const rerouted = await snapshotOf(entry);
    expect(rerouted.version).toBeGreaterThan(routed.version);
    expect(rerouted.mesh!.route_paths.find((p) => p.to === target)).toBeUndefined();
    expect((await snapshotOf(relay)).mesh!.relay_leases!.pairs).not.toContainEqual(pair);
    // Reports about nodes outside the cluster are refused.
    expect((await report(entry, [{ peer_node_id: crypto.randomUUID().replace(/^(.{14})./, "$17"), reachable: true }])).status).toBe(400);
  });

  test("route intents: an admin pins a relay path that wins over a direct link while its hops are up; invalid intents are refused", async () => {
    const s0 = await snapshotOf(entry);
    const target = s0.mesh!.peers.find((p) => p.node_id !== relay.nodeId)!.node_id;
    const report = (n: EnrolledNode, observations: unknown[]) => agent(n, "POST", "/links", { observations });
    await report(entry, [
      { peer_node_id: relay.nodeId, reachable: true },
      { peer_node_id: target, reachable: true },
    ]);
    await report(relay, [
      { peer_node_id: target, reachable: true },
      { peer_node_id: entry.nodeId, reachable: true },
    ]);
    expect((await snapshotOf(entry)).mesh!.route_paths.find((p) => p.to === target)).toBeUndefined();
    await stepUp(t, owner);
    const body = { from_node_id: entry.nodeId, to_node_id: target, via: [relay.nodeId], reason: "egress inspection" };
    const { id } = await json(await admin("POST", "/route-intents", body), 201);
    const pinned = await snapshotOf(entry);
    expect(pinned.mesh!.route_paths).toContainEqual({ to: target, via: [relay.nodeId], alternates: [], pinned: true });
    expect((await snapshotOf(relay)).mesh!.relay_leases!.pairs).toContainEqual([entry.nodeId, target].sort() as [string, string]);
    expect((await json(await admin("GET", "/route-intents"), 200)).items).toMatchObject([
      { id, from_node_id: entry.nodeId, to_node_id: target, via: [relay.nodeId], reason: "egress inspection" },
    ]);
    expect((await admin("POST", "/route-intents", body)).status).toBe(409);
    const notARelay = await admin("POST", "/route-intents", { ...body, from_node_id: target, to_node_id: relay.nodeId, via: [entry.nodeId] });
    expect(notARelay.status).toBe(422);
    expect((await notARelay.json()).error.code).toBe("route_intent.invalid");
    expect((await admin("POST", "/route-intents", { ...body, via: [crypto.randomUUID().replace(/^(.{14})./, "$17")] })).status).toBe(404);
    // While the relay loses the target, the intent cannot be honoured and the node goes direct.
    await report(relay, [{ peer_node_id: target, reachable: false }]);
    expect((await snapshotOf(entry)).mesh!.route_paths.find((p) => p.to === target)).toBeUndefined();
    await report(relay, [{ peer_node_id: target, reachable: true }]);
    expect((await snapshotOf(entry)).mesh!.route_paths.find((p) => p.to === target)?.pinned).toBe(true);
    expect((await admin("DELETE", `/route-intents/${id}`)).status).toBe(204);
    expect((await snapshotOf(entry)).mesh!.route_paths.find((p) => p.to === target)).toBeUndefined();
    expect((await admin("DELETE", `/route-intents/${id}`)).status).toBe(404);
  });

  test("a node advertises its mesh endpoint; peers find it in their next snapshot, bad addresses are refused", async () => {
    const before = await snapshotOf(relay);
    const put = (n: EnrolledNode, address: unknown) => agent(n, "PUT", "/mesh-endpoint", { address });
    expect(await json(await put(entry, "127.0.0.1:7443"), 200)).toEqual({ address: "127.0.0.1:7443", changed: true });
    expect(await json(await put(entry, "127.0.0.1:7443"), 200)).toEqual({ address: "127.0.0.1:7443", changed: false });
    const after = await snapshotOf(relay);
    expect(after.version).toBe(before.version + 1);
    expect(after.mesh!.peers.find((p) => p.node_id === entry.nodeId)!.endpoints).toEqual([{ transport: "quic", address: "127.0.0.1:7443" }]);
    for (const bad of ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "host name:1", "a:1/x", 7443]) {
      const r = await put(entry, bad);
      expect(r.status).toBe(400);
      expect((await r.json()).error.code).toBe("request.validation_failed");
    }
    expect((await snapshotOf(relay)).version).toBe(after.version);
  });

  test("organization principals reach no cluster or node endpoint and see no node data", async () => {
    const orgAdmin = await addMember(t, owner, orgA, "admin@snap-a.example", "org_admin");
    for (const path of ["", "/nodes", `/nodes/${workerA.nodeId}`, "/authority", "/join-requests", "/revocations", "/node-groups"]) {
      expect((await t.call("GET", `/api/v1/clusters/${clusterId}${path}`, { token: orgAdmin.token })).status).toBe(403);
    }
    for (const url of ["/api/v1/resources", `/api/v1/organizations/${orgA}/audit?limit=200`, "/api/v1/me"]) {
      const text = await (await t.call("GET", url, { token: orgAdmin.token })).text();
      for (const n of [relay, entry, workerA]) {
        expect(text).not.toContain(n.nodeId);
        expect(text).not.toContain(n.fingerprint);
      }
    }
  });
});
