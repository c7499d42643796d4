/**
 * Node enrollment end to end over the HTTP API with real keys, certificates
 * and signatures: token → join request → approval → bootstrap with proof of
 * possession → a certificate that verifies against the cluster CA. Then every
 * way it must fail: rejection, expiry, revocation, max_uses under 50
 * concurrent joins, wrong-cluster and forged bootstrap attempts, a minority
 * partition.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { useStores } from "../../fixtures/stores.ts";
import { makeApp, testIdentity, type TestApp } from "../../fixtures/control-plane.ts";
import { bootstrapOwner, enrollTotp, json, signIn, stepUp, type Session } from "../../fixtures/identity.ts";
import { createJoinToken, joinBody, nodeKeys, poll } from "../../fixtures/nodes.ts";
import { verifyAuthority, type AuthorityClaims } from "../../core/crypto/authority-jws.ts";
import { verifyNodeCertificate } from "../../core/crypto/x509.ts";
import { fromB64 } from "../../core/crypto/bytes.ts";
import { signEnrollmentProof } from "../../core/crypto/node-proof.ts";
import { listAudit } from "../../sql/audit.ts";
import { BOOTSTRAP_TYPE } from "../../control/nodes/service.ts";
import { SNAPSHOT_TYPE, snapshotAudience } from "../../control/nodes/snapshots.ts";
import { JOIN_RATE } from "../../control/enrollment/service.ts";

const stores = useStores();

setDefaultTimeout(60_000);

let t: TestApp;
let owner: Session;
let clusterId: string;
let otherClusterId: string;

const errOf = async (res: Response) => ((await res.json()) as { error: { code: string; details: Record<string, unknown> } }).error;
const join = (body: unknown) => t.call("POST", "/api/v1/node-agents/enrollments", { body });

beforeAll(async () => {
  // Long-lived access tokens: these tests move the clock by hours.
  t = await makeApp(stores.store.db, stores.live, { identity: await testIdentity({ accessTtlSeconds: 7 * 24 * 3600 }) });
  owner = await enrollTotp(t, await bootstrapOwner(t));
  clusterId = (await json(await t.call("POST", "/api/v1/clusters", { token: owner.token, body: { name: "Frankfurt", slug: "fra" } }), 201)).id;
  otherClusterId = (await json(await t.call("POST", "/api/v1/clusters", { token: owner.token, body: { name: "Kazan", slug: "kzn" } }), 201)).id;
});

describe("enrollment end to end", () => {
  test("token → request → approval → proof → bootstrap bundle and a certificate the cluster CA signed", async () => {
    const k = await nodeKeys("edge-1");
    const token = await createJoinToken(t, owner, clusterId, { ttl_seconds: 600, max_uses: 1, requested_roles: ["relay-node"] });
    expect(token.token).toMatch(/^rap_jt_[a-z0-9]{12}_/);
    expect(token.agent_command).toContain(`--token ${token.token}`);
    expect(token.agent_command).toContain(`--authority-fingerprint ${token.authority_fingerprint}`);

    const submitted = await json(await join(joinBody(k, clusterId, token.token, { requested_roles: ["relay-node"] })), 202);
    expect(submitted).toMatchObject({ status: "pending", poll_interval_seconds: 5 });
    expect(await json(await poll(t, submitted.request_id, clusterId, k), 200)).toEqual({ status: "pending", poll_interval_seconds: 5 });

    const listed = await json(await t.call("GET", `/api/v1/clusters/${clusterId}/join-requests?status=pending`, { token: owner.token }), 200);
    expect(listed.items.map((r: { id: string }) => r.id)).toContain(submitted.request_id);

    await stepUp(t, owner);
    const approved = await json(
      await t.call("POST", `/api/v1/clusters/${clusterId}/join-requests/${submitted.request_id}/approve`, { token: owner.token, body: {} }),
      200,
    );
    const answer = await json(await poll(t, submitted.request_id, clusterId, k), 200);
    expect(answer).toMatchObject({ status: "approved", node_id: approved.node_id });

    const authority = await json(await t.call("GET", `/api/v1/clusters/${clusterId}/authority`, { token: owner.token }), 200);
    expect(authority.signing_fingerprint).toBe(token.authority_fingerprint);
    const authorityKey = await crypto.subtle.importKey("raw", fromB64(authority.signing_public_key), { name: "Ed25519" }, true, ["verify"]);
    type Bundle = AuthorityClaims & { node_id: string; certificate: string; ca_chain: string[]; initial_snapshot: string; authority: { fingerprint: string } };
    const bundle = await verifyAuthority<Bundle>(authorityKey, answer.bundle, { typ: BOOTSTRAP_TYPE, aud: k.fingerprint, clusterId });
    expect(bundle).toMatchObject({
      node_id: approved.node_id,
      authority: { fingerprint: authority.signing_fingerprint },
      ca_chain: [authority.ca_certificate],
    });
    expect(await verifyNodeCertificate(bundle.certificate, authority.ca_certificate, { clusterId, nodeId: approved.node_id, at: t.clock.now() })).toBe(true);
    expect(
      await verifyNodeCertificate(bundle.certificate, authority.ca_certificate, { clusterId: otherClusterId, nodeId: approved.node_id, at: t.clock.now() }),
    ).toBe(false);
    const snapshot = await verifyAuthority<AuthorityClaims & { node_id: string; version: number }>(authorityKey, bundle.initial_snapshot, {
      typ: SNAPSHOT_TYPE,
      aud: snapshotAudience(approved.node_id),
      clusterId,
    });
    expect(snapshot).toMatchObject({ node_id: approved.node_id, version: 1 });
    // A bundle is useless to anyone else: its audience is the enrolling key.
    await expect(verifyAuthority(authorityKey, answer.bundle, { typ: BOOTSTRAP_TYPE, aud: "SHA256:someone-else", clusterId })).rejects.toThrow();

    const node = await json(await t.call("GET", `/api/v1/clusters/${clusterId}/nodes/${approved.node_id}`, { token: owner.token }), 200);
    expect(node).toMatchObject({ status: "active", health: "healthy", name: "edge-1" });
    expect(node.identities).toEqual([
      expect.objectContaining({ fingerprint: k.fingerprint, status: "active", certificate_serial: approved.certificate_serial }),
    ]);

    const actions = (await listAudit(stores.store.db, { limit: 200 })).map((e) => e.action);
    for (const a of ["join_token.create", "join.submit", "join.approve", "node.enroll", "node.certificate_issued", "node.activate"])
      expect(actions).toContain(a);
    expect((await errOf(await join(joinBody(await nodeKeys(), clusterId, token.token)))).code).toBe("enrollment.refused");
  });

  test("the raw join token is nowhere in the database", async () => {
    const { token } = await createJoinToken(t, owner, clusterId);
    const secret = token.split("_").slice(3).join("_");
    const tables = await stores.store.db.query<{ table_name: string }>("select table_name from information_schema.tables where table_schema = 'public'");
    for (const { table_name } of tables) {
      const rows = await stores.store.db.query<{ t: string }>(`select row_to_json(x)::text as t from "${table_name}" x`);
      expect(rows.some((r) => r.t.includes(secret) || r.t.includes(token))).toBe(false);
    }
  });

  test("a rejected request tells the agent why, after proof", async () => {
    const k = await nodeKeys();
    const { token } = await createJoinToken(t, owner, clusterId);
    const { request_id } = await json(await join(joinBody(k, clusterId, token)), 202);
    await stepUp(t, owner);
    await json(
      await t.call("POST", `/api/v1/clusters/${clusterId}/join-requests/${request_id}/reject`, { token: owner.token, body: { reason: "unknown host" } }),
      200,
    );
    expect(await json(await poll(t, request_id, clusterId, k), 200)).toEqual({ status: "rejected", reason: "unknown host" });
    await stepUp(t, owner);
    const late = await t.call("POST", `/api/v1/clusters/${clusterId}/join-requests/${request_id}/approve`, { token: owner.token, body: {} });
    expect((await errOf(late)).code).toBe("actor.event_rejected");
  });

  test("an unreviewed request expires on its durable timer", async () => {
    const k = await nodeKeys();
    const { token } = await createJoinToken(t, owner, clusterId);
    const { request_id } = await json(await join(joinBody(k, clusterId, token)), 202);
    t.clock.advance(25 * 3600_000);
    expect(await t.scheduler.tick()).toBeGreaterThanOrEqual(1);
    expect(await json(await poll(t, request_id, clusterId, k), 200)).toEqual({ status: "expired" });
  });

  test("expired and revoked tokens are refused", async () => {
    const expiring = await createJoinToken(t, owner, clusterId, { ttl_seconds: 60 });
    t.clock.advance(61_000);
    expect((await errOf(await join(joinBody(await nodeKeys(), clusterId, expiring.token)))).code).toBe("enrollment.refused");
    const revoked = await createJoinToken(t, owner, clusterId);
    await stepUp(t, owner);
    expect((await t.call("DELETE", `/api/v1/clusters/${clusterId}/join-tokens/${revoked.id}`, { token: owner.token })).status).toBe(204);
    expect((await errOf(await join(joinBody(await nodeKeys(), clusterId, revoked.token)))).code).toBe("enrollment.refused");
    const audit = await listAudit(stores.store.db, { action: "join_request.refused", limit: 10 });
    expect(audit.map((e) => e.reason)).toEqual(expect.arrayContaining(["expired", "revoked"]));
  });

  test("max_uses holds under 50 concurrent joins", async () => {
    const { token, id } = await createJoinToken(t, owner, clusterId, { max_uses: 5 });
    const keys = await Promise.all(Array.from({ length: 50 }, (_, i) => nodeKeys(`burst-${i}`)));
    const results = await Promise.all(keys.map((k, i) => join(joinBody(k, clusterId, token, { node_name: `burst-${i}` }))));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(5);
    expect(statuses.filter((s) => s === 403)).toHaveLength(45);
    const tokens = await json(await t.call("GET", `/api/v1/clusters/${clusterId}/join-tokens`, { token: owner.token }), 200);
    expect(tokens.items.find((x: { id: string }) => x.id === id)).toMatchObject({ used_count: 5, max_uses: 5 });
  });

  test("a token for one cluster does not enrol into another, and roles stay inside its scope", async () => {
    const { token } = await createJoinToken(t, owner, clusterId, { requested_roles: ["relay-node"] });
    expect((await errOf(await join(joinBody(await nodeKeys(), otherClusterId, token)))).code).toBe("enrollment.refused");
    expect((await errOf(await join(joinBody(await nodeKeys(), clusterId, token, { requested_roles: ["entry-node"] })))).code).toBe("enrollment.refused");
  });

  test("a token whose signed scope was tampered with in the database is refused", async () => {
    const { token, id } = await createJoinToken(t, owner, clusterId, { max_uses: 3 });
    const other = await createJoinToken(t, owner, clusterId);
    await stores.store.db.query("update node_join_tokens set scope_jws = (select scope_jws from node_join_tokens where id = $2) where id = $1", [id, other.id]);
    expect((await errOf(await join(joinBody(await nodeKeys(), clusterId, token)))).code).toBe("enrollment.refused");
  });

  test("bootstrap reveals nothing without a proof for the right cluster, fingerprint and key", async () => {
    const k = await nodeKeys();
    const { token } = await createJoinToken(t, owner, clusterId);
    const { request_id } = await json(await join(joinBody(k, clusterId, token)), 202);
    const thief = await nodeKeys();
    for (const attempt of [
      poll(t, request_id, clusterId, k, { cluster_id: otherClusterId }),
      poll(t, request_id, clusterId, k, { fingerprint: thief.fingerprint }),
      poll(t, request_id, clusterId, k, { signWith: thief.keys.privateKey }),
      poll(t, crypto.randomUUID().replace(/^(.{14})./, "$17"), clusterId, k),
    ]) {
      const res = await attempt;
      expect(res.status).toBe(404);
      expect((await errOf(res)).code).toBe("enrollment.not_found");
    }
    // A challenge is single-use.
    const { challenge } = await json(await t.call("POST", `/api/v1/node-agents/enrollments/${request_id}/challenge`), 200);
    const body = {
      cluster_id: clusterId,
      fingerprint: k.fingerprint,
      challenge,
      signature: await signEnrollmentProof(k.keys.privateKey, request_id, clusterId, challenge),
    };
    expect((await t.call("POST", `/api/v1/node-agents/enrollments/${request_id}/bootstrap`, { body })).status).toBe(200);
    expect((await t.call("POST", `/api/v1/node-agents/enrollments/${request_id}/bootstrap`, { body })).status).toBe(404);
  });

  test("a key enrols once: the same key cannot join a second cluster; the same host can, with a new key", async () => {
    const k = await nodeKeys("dual");
    const { token } = await createJoinToken(t, owner, clusterId);
    const { request_id } = await json(await join(joinBody(k, clusterId, token, { node_name: "dual" })), 202);
    await stepUp(t, owner);
    const first = await json(await t.call("POST", `/api/v1/clusters/${clusterId}/join-requests/${request_id}/approve`, { token: owner.token, body: {} }), 200);
    const other = await createJoinToken(t, owner, otherClusterId);
    expect((await errOf(await join(joinBody(k, otherClusterId, other.token, { node_name: "dual" })))).code).toBe("enrollment.refused");
    const second = await nodeKeys("dual");
    const { request_id: r2 } = await json(await join(joinBody(second, otherClusterId, other.token, { node_name: "dual" })), 202);
    await stepUp(t, owner);
    const n2 = await json(await t.call("POST", `/api/v1/clusters/${otherClusterId}/join-requests/${r2}/approve`, { token: owner.token, body: {} }), 200);
    expect(n2.node_id).not.toBe(first.node_id);
  });

  test("bad agent input is a 4xx and spends no token use", async () => {
    const k = await nodeKeys();
    const { token, id } = await createJoinToken(t, owner, clusterId, { max_uses: 1 });
    expect(
      (await errOf(await join(joinBody(k, clusterId, token, { csr: "-----BEGIN CERTIFICATE REQUEST-----\ngarbage\n-----END CERTIFICATE REQUEST-----" })))).code,
    ).toBe("enrollment.csr_invalid");
    expect((await errOf(await join(joinBody(k, clusterId, token, { public_key: (await nodeKeys()).publicKey })))).code).toBe("enrollment.refused");
    expect((await join({ ...joinBody(k, clusterId, token), capabilities: { can_fly: true } })).status).toBe(400);
    expect((await join({ ...joinBody(k, clusterId, token), node_name: "bad name!" })).status).toBe(400);
    const tokens = await json(await t.call("GET", `/api/v1/clusters/${clusterId}/join-tokens`, { token: owner.token }), 200);
    expect(tokens.items.find((x: { id: string }) => x.id === id).used_count).toBe(0);
    expect((await join(joinBody(k, clusterId, token))).status).toBe(202);
  });

  test("a storm of bad joins from one source is rate limited, with Retry-After until the window ends", async () => {
    let last: Response | undefined;
    // A new made-up prefix each time: the per-prefix budget is not what stops it.
    const guess = () => `rap_jt_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}_${"A".repeat(43)}`;
    for (let i = 0; i < 130 && last?.status !== 429; i++) last = await join(joinBody(await nodeKeys(), clusterId, guess()));
    expect(last!.status).toBe(429);
    const retryAfter = Number(last!.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(JOIN_RATE.windowMs / 1000);
    expect(await errOf(last!)).toMatchObject({ code: "enrollment.rate_limited", details: { retry_after_seconds: retryAfter, limit: "source_refusals" } });
    // Even the right token is held back from that source until the window ends: a guess is not evaluated.
    const { token } = await createJoinToken(t, owner, clusterId);
    t.clock.advance(JOIN_RATE.windowMs);
    expect((await join(joinBody(await nodeKeys(), clusterId, token))).status).toBe(202);
  });

  test("polling an existing request is paced per request, not per source", async () => {
    const k = await nodeKeys();
    const { token } = await createJoinToken(t, owner, clusterId);
    const { request_id } = await json(await join(joinBody(k, clusterId, token)), 202);
    for (let i = 0; i < JOIN_RATE.refusalsPerSource; i++) await t.call("POST", `/api/v1/node-agents/enrollments/${crypto.randomUUID()}/challenge`);
    expect((await t.call("POST", `/api/v1/node-agents/enrollments/${crypto.randomUUID()}/challenge`)).status).toBe(429);
    // The same source, out of guesses, still polls its own request.
    expect(await json(await poll(t, request_id, clusterId, k), 200)).toMatchObject({ status: "pending" });
    let answered = 0;
    for (; answered < 100; answered++) if ((await t.call("POST", `/api/v1/node-agents/enrollments/${request_id}/challenge`)).status === 429) break;
    expect(answered).toBe(JOIN_RATE.pollsPerRequest - 1);
    t.clock.advance(JOIN_RATE.windowMs);
  });
});

describe("minority partition", () => {
  test("a minority cluster refuses approvals, tokens and role changes until the owner promotes it", async () => {
    const k = await nodeKeys();
    const { token } = await createJoinToken(t, owner, clusterId);
    const { request_id } = await json(await join(joinBody(k, clusterId, token)), 202);
    await json(await t.call("POST", `/api/v1/clusters/${clusterId}/partition/minority`, { token: owner.token, body: { reason: "lost quorum" } }), 200);

    await stepUp(t, owner);
    const approve = await t.call("POST", `/api/v1/clusters/${clusterId}/join-requests/${request_id}/approve`, { token: owner.token, body: {} });
    expect(approve.status).toBe(409);
    expect((await errOf(approve)).code).toBe("cluster.partition_minority");
    expect((await errOf(await t.call("POST", `/api/v1/clusters/${clusterId}/join-tokens`, { token: owner.token, body: {} }))).code).toBe(
      "cluster.partition_minority",
    );
    expect((await errOf(await join(joinBody(await nodeKeys(), clusterId, token)))).code).toBe("enrollment.refused");

    const before = await json(await t.call("GET", `/api/v1/clusters/${clusterId}`, { token: owner.token }), 200);
    expect(before).toMatchObject({ partition_state: "minority", authority_term: 1 });
    const promoted = await json(await t.call("POST", `/api/v1/clusters/${clusterId}/partition/promote`, { token: owner.token }), 200);
    expect(promoted).toEqual({ cluster_id: clusterId, partition_state: "normal", authority_term: 2 });
    await stepUp(t, owner);
    expect((await t.call("POST", `/api/v1/clusters/${clusterId}/join-requests/${request_id}/approve`, { token: owner.token, body: {} })).status).toBe(200);
    const audit = (await listAudit(stores.store.db, { targetId: clusterId, limit: 50 })).map((e) => e.action);
    expect(audit).toEqual(expect.arrayContaining(["cluster.mark_minority", "cluster.promote"]));
  });

  test("the owner splits nodes of a minority off into a new cluster; they re-enrol there with single-use tokens", async () => {
    const k = await nodeKeys("splitter");
    const { token } = await createJoinToken(t, owner, clusterId);
    const { request_id } = await json(await join(joinBody(k, clusterId, token, { node_name: "splitter" })), 202);
    await stepUp(t, owner);
    const { node_id } = await json(
      await t.call("POST", `/api/v1/clusters/${clusterId}/join-requests/${request_id}/approve`, { token: owner.token, body: {} }),
      200,
    );
    await stepUp(t, owner);
    const notMinority = await t.call("POST", `/api/v1/clusters/${clusterId}/partition/split`, {
      token: owner.token,
      body: { name: "Split", slug: "split", node_ids: [node_id] },
    });
    expect((await errOf(notMinority)).code).toBe("cluster.not_partitioned");
    await json(await t.call("POST", `/api/v1/clusters/${clusterId}/partition/minority`, { token: owner.token, body: { reason: "datacenter cut off" } }), 200);
    await stepUp(t, owner);
    const split = await json(
      await t.call("POST", `/api/v1/clusters/${clusterId}/partition/split`, {
        token: owner.token,
        body: { name: "Split", slug: "split", node_ids: [node_id] },
      }),
      201,
    );
    expect(split.nodes).toEqual([expect.objectContaining({ node_id, name: "splitter", agent_command: expect.stringContaining(split.cluster_id) })]);
    expect((await json(await t.call("GET", `/api/v1/clusters/${clusterId}/nodes/${node_id}`, { token: owner.token }), 200)).status).toBe("revoked");
    const fresh = await nodeKeys("splitter");
    expect((await join(joinBody(fresh, split.cluster_id, split.nodes[0].join_token.token, { node_name: "splitter" }))).status).toBe(202);
    expect((await errOf(await join(joinBody(await nodeKeys(), split.cluster_id, split.nodes[0].join_token.token)))).code).toBe("enrollment.refused");
    expect((await listAudit(stores.store.db, { action: "cluster.split", limit: 1 }))[0]).toMatchObject({ target_id: clusterId, outcome: "success" });
    await stepUp(t, owner);
    await json(await t.call("POST", `/api/v1/clusters/${clusterId}/partition/merge`, { token: owner.token }), 200);
  });

  test("a split that fails part-way leaves nothing behind: no new cluster, no revoked node", async () => {
    const k = await nodeKeys("stays");
    const { token } = await createJoinToken(t, owner, clusterId);
    const { request_id } = await json(await join(joinBody(k, clusterId, token, { node_name: "stays" })), 202);
    await stepUp(t, owner);
    const { node_id } = await json(
      await t.call("POST", `/api/v1/clusters/${clusterId}/join-requests/${request_id}/approve`, { token: owner.token, body: {} }),
      200,
    );
    await json(await t.call("POST", `/api/v1/clusters/${clusterId}/partition/minority`, { token: owner.token, body: { reason: "cut off" } }), 200);
    await stepUp(t, owner);
    const nodeBefore = await json(await t.call("GET", `/api/v1/clusters/${clusterId}/nodes/${node_id}`, { token: owner.token }), 200);
    const clustersBefore = (await json(await t.call("GET", "/api/v1/clusters?limit=200", { token: owner.token }), 200)).items.length;
    // The second node does not exist: the split fails after the first node was revoked and the new cluster created, inside the same commit.
    const failed = await t.call("POST", `/api/v1/clusters/${clusterId}/partition/split`, {
      token: owner.token,
      body: { name: "Half", slug: "half-split", node_ids: [node_id, crypto.randomUUID()] },
    });
    expect((await errOf(failed)).code).toBe("node.not_found");
    const clustersAfter = (await json(await t.call("GET", "/api/v1/clusters?limit=200", { token: owner.token }), 200)).items;
    expect(clustersAfter.length).toBe(clustersBefore);
    expect(clustersAfter.some((c: { slug: string }) => c.slug === "half-split")).toBe(false);
    expect((await json(await t.call("GET", `/api/v1/clusters/${clusterId}/nodes/${node_id}`, { token: owner.token }), 200)).status).toBe(nodeBefore.status);
    await stepUp(t, owner);
    await json(await t.call("POST", `/api/v1/clusters/${clusterId}/partition/merge`, { token: owner.token }), 200);
  });

  test("a replica started as a minority refuses trust changes for every cluster", async () => {
    const cut = await makeApp(stores.store.db, stores.live, { identity: t.identity, clock: t.clock, replicaMinority: true });
    const k = await nodeKeys();
    const { token } = await createJoinToken(t, owner, clusterId);
    const { request_id } = await json(await join(joinBody(k, clusterId, token)), 202);
    await stepUp(t, owner);
    const approve = await cut.call("POST", `/api/v1/clusters/${clusterId}/join-requests/${request_id}/approve`, { token: owner.token, body: {} });
    expect((await errOf(approve)).code).toBe("cluster.partition_minority");
    expect((await errOf(await cut.call("POST", `/api/v1/clusters/${clusterId}/join-tokens`, { token: owner.token, body: {} }))).code).toBe(
      "cluster.partition_minority",
    );
    expect((await t.call("POST", `/api/v1/clusters/${clusterId}/join-requests/${request_id}/approve`, { token: owner.token, body: {} })).status).toBe(200);
  });

  test("only the owner (or the recovery role) may promote, and only with step-up", async () => {
    await json(await t.call("POST", `/api/v1/clusters/${clusterId}/partition/minority`, { token: owner.token, body: { reason: "test" } }), 200);
    t.clock.advance(20 * 60_000);
    const fresh = await signIn(t, owner.email, { deviceId: owner.deviceId, totpSecret: owner.totpSecret });
    t.clock.advance(6 * 60_000); // past the unknown device's 5-minute step-up window
    const stale = await t.call("POST", `/api/v1/clusters/${clusterId}/partition/merge`, { token: fresh.token });
    expect((await errOf(stale)).code).toBe("auth.step_up_required");
    await stepUp(t, { ...fresh, totpSecret: owner.totpSecret });
    expect(await json(await t.call("POST", `/api/v1/clusters/${clusterId}/partition/merge`, { token: fresh.token }), 200)).toMatchObject({
      partition_state: "normal",
      authority_term: 2,
    });
  });
});
