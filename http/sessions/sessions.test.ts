/**
 * Remote sessions through the real API on real stores: placement (no node,
 * unhealthy node, wrong pool, no entry, right pool), every transition
 * (start, adapter started, detach, reattach, takeover, terminate, adapter
 * ended / failed, node loss, start and detached timeouts through the
 * scheduler and a ManualClock), authorization (own, other member, org admin,
 * other organization, platform), data-plane tokens (valid, replay, wrong
 * entry, expired, tampered, wrong session, superseded) and what an
 * organization may read (no node ids or addresses).
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { useStores } from "../../fixtures/stores.ts";
import { makeApp, testIdentity, type TestApp } from "../../fixtures/control-plane.ts";
import { addMember, bootstrapOwner, createOrg, enrollTotp, json, signIn, stepUp, type Session } from "../../fixtures/identity.ts";
import { enrollNode, nodeSession, type EnrolledNode } from "../../fixtures/nodes.ts";
import { listAudit } from "../../sql/audit.ts";
import { listTimers, readJournal } from "../../sql/actors.ts";
import { verifyDataPlaneToken, entryRef } from "../../core/crypto/data-plane-token.ts";
import { DataPlaneClaims } from "../../core/contracts/data-plane-token.ts";
import * as v from "valibot";

const stores = useStores();
setDefaultTimeout(120_000);

let t: TestApp;
let owner: Session;
let clusterId: string;
let orgA: string;
let orgB: string;
let aAdmin: Session, aMember: Session, aMember2: Session, aViewer: Session, bOwner: Session;
let adapter: EnrolledNode, entry: EnrolledNode, otherPool: EnrolledNode;
let resource: string, poolless: string;

const SSH = { can_route_mesh: true, can_accept_client_ingress: true, can_run_ssh_worker: true };
const errOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; message_key: string; fallback_message: string; details: Record<string, unknown>; trace_id: string } }).error;
const call = (s: Session, method: string, path: string, body?: unknown) => t.call(method, `/api/v1/remote-sessions${path}`, { token: s.token, body });
const agent = async (n: EnrolledNode, method: string, path: string, body?: unknown) =>
  t.call(method, `/api/v1/node-agents${path}`, { token: await nodeSession(t, n, clusterId), body });
const start = (s: Session, resourceId = resource) => call(s, "POST", "", { resource_id: resourceId });
const stateOf = async (id: string) => (await json(await call(owner, "GET", `/${id}`), 200)).state as string;
const report = (n: EnrolledNode, id: string, body: unknown) => agent(n, "POST", `/sessions/${id}/events`, body);
const redeem = (n: EnrolledNode, token: string, sessionId?: string) =>
  agent(n, "POST", "/data-plane-tokens/redeem", { token, ...(sessionId ? { session_id: sessionId } : {}) });

async function assign(n: EnrolledNode, role: string, org: string | null, pool?: string) {
  await stepUp(t, owner);
  const body = { role, ...(org ? { organization_id: org } : {}), ...(pool ? { policy: { egress_pool: pool } } : {}) };
  return json(await t.call("POST", `/api/v1/clusters/${clusterId}/nodes/${n.nodeId}/roles`, { token: owner.token, body }), 201);
}
async function newResource(name: string, pool: string | null, extra: Record<string, unknown> = {}) {
  return (
    await json(
      await t.call("POST", "/api/v1/resources", {
        token: owner.token,
        body: { organization_id: orgA, name, protocol: "ssh", target_host: "10.0.0.22", target_port: 22, ...(pool ? { egress_pool: pool } : {}), ...extra },
      }),
      201,
    )
  ).id as string;
}
let seq = 0;
/** Moves the clock and runs due timers, with every node heartbeating first so only session timers matter. */
async function advance(ms: number) {
  t.clock.advance(ms);
  seq++;
  for (const n of [adapter, entry, otherPool]) expect((await agent(n, "POST", "/heartbeat", { seq })).status).toBe(202);
  await t.scheduler.tick();
}
/** A started and active session of `who`. */
async function activeSession(who: Session) {
  const r = await json(await start(who), 201);
  expect((await report(adapter, r.session.id, { type: "adapter.started" })).status).toBe(200);
  return r as { session: { id: string }; attach: { attachment_id: string; token: string; expires_at: string } };
}
const auditOf = (id: string) => listAudit(stores.store.db, { limit: 200, targetId: id });
const audited = async (id: string, action: string) => (await auditOf(id)).find((a) => a.action === action)!;
/** Transitions in order (audit rows of one millisecond have no order). */
const journal = async (id: string) => (await readJournal(stores.store.db, "remote_session", id)).map((j) => j.eventType);

beforeAll(async () => {
  t = await makeApp(stores.store.db, stores.live, { identity: await testIdentity({ accessTtlSeconds: 7 * 24 * 3600 }) });
  owner = await enrollTotp(t, await bootstrapOwner(t));
  await stepUp(t, owner);
  orgA = await createOrg(t, owner, "acme");
  orgB = await createOrg(t, owner, "globex");
  aAdmin = await addMember(t, owner, orgA, "admin@acme.example", "org_admin");
  aMember = await addMember(t, owner, orgA, "member@acme.example", "org_member");
  aMember2 = await addMember(t, owner, orgA, "member2@acme.example", "org_member");
  aViewer = await addMember(t, owner, orgA, "viewer@acme.example", "org_viewer");
  bOwner = await addMember(t, owner, orgB, "owner@globex.example", "org_owner");
  clusterId = (await json(await t.call("POST", "/api/v1/clusters", { token: owner.token, body: { name: "Frankfurt", slug: "fra" } }), 201)).id;
  adapter = await enrollNode(t, owner, clusterId, SSH, "ssh-1");
  entry = await enrollNode(t, owner, clusterId, SSH, "entry-1");
  otherPool = await enrollNode(t, owner, clusterId, SSH, "ssh-2");
  await assign(adapter, "ssh-worker", orgA, "office-moscow");
  await assign(otherPool, "ssh-worker", orgA, "office-berlin");
  resource = await newResource("db-1", "office-moscow", { clipboard_mode: "client_to_server", detached_timeout_seconds: 600 });
  poolless = await newResource("jump", null);
});

describe("placement", () => {
  test("no entry node: failed, audited, 409 remote_session.no_entry_node naming the session", async () => {
    const res = await start(aMember);
    expect(res.status).toBe(409);
    const e = await errOf(res);
    expect(e.code).toBe("remote_session.no_entry_node");
    expect(await stateOf(e.details.session_id as string)).toBe("failed");
    expect(await journal(e.details.session_id as string)).toEqual(["session.start", "session.fail"]);
    expect((await audited(e.details.session_id as string, "session.fail")).details).toMatchObject({
      failure_reason: "no_entry_node",
      egress_pool: "office-moscow",
      resource_name: "db-1",
    });
    await assign(entry, "entry-node", orgA);
  });

  test("wrong pool (a resource whose pool no node serves) and a resource without a pool: no_adapter_node", async () => {
    const nowhere = await newResource("far", "office-tokyo");
    for (const id of [nowhere, poolless]) {
      const e = await errOf(await start(aMember, id));
      expect(e.code).toBe("remote_session.no_adapter_node");
      expect(await stateOf(e.details.session_id as string)).toBe("failed");
    }
  });

  test("an unhealthy or disabled adapter is not chosen", async () => {
    await t.host.send(
      "node",
      adapter.nodeId,
      { type: "node.health", health: "stale" },
      { author: { type: "system", id: "test" }, source: { type: "timer" }, traceId: "t" },
    );
    expect((await errOf(await start(aMember))).code).toBe("remote_session.no_adapter_node");
    await t.host.send(
      "node",
      adapter.nodeId,
      { type: "node.health", health: "healthy" },
      { author: { type: "system", id: "test" }, source: { type: "timer" }, traceId: "t" },
    );
  });

  test("right pool: starting on the pool's adapter with the entry point named by its cluster; nothing names a node", async () => {
    const res = await start(aMember);
    const text = await res.clone().text();
    const r = await json(res, 201);
    expect(r.session).toMatchObject({
      state: "starting",
      egress_pool: "office-moscow",
      resource_name: "db-1",
      protocol: "ssh",
      entry: { name: "Frankfurt" },
      user_id: aMember.userId,
    });
    expect(r.attach).toMatchObject({
      token_type: "rap.data_plane.v1",
      channels: ["control", "input", "render", "clipboard"],
      entry: { name: "Frankfurt", urls: [] },
    });
    for (const n of [adapter, entry, otherPool]) expect(text).not.toContain(n.nodeId);
    const row = (
      await stores.store.db.query<{ adapter_node_id: string; entry_node_ids: unknown }>(
        "select adapter_node_id::text, entry_node_ids::text as entry_node_ids from remote_sessions where id = $1",
        [r.session.id],
      )
    )[0]!;
    expect(row.adapter_node_id).toBe(adapter.nodeId);
    expect(String(row.entry_node_ids)).toContain(entry.nodeId);
    // Audit: the destination by name, never a node.
    const audit = await auditOf(r.session.id);
    expect(audit.map((a) => a.action).sort()).toEqual(["session.placed", "session.start"]);
    expect(JSON.stringify(audit)).not.toContain(adapter.nodeId);
    expect(audit.find((a) => a.action === "session.placed")!.details).toMatchObject({
      egress_pool: "office-moscow",
      entry_name: "Frankfurt",
      state_after: "starting",
    });
    // The adapter sees its assignment (target and policy, never credentials); the other pool's node sees none.
    const { assignments } = await json(await agent(adapter, "GET", "/sessions/assignments"), 200);
    expect(assignments.find((a: any) => a.session_id === r.session.id)).toMatchObject({
      desired: "running",
      state: "starting",
      resource: { protocol: "ssh", target_port: 22, verification: "strict" },
      entry_node_ids: [entry.nodeId],
    });
    expect((await json(await agent(otherPool, "GET", "/sessions/assignments"), 200)).assignments).toEqual([]);
    await call(aMember, "POST", `/${r.session.id}/terminate`);
  });
});

describe("the organization's audit trail", () => {
  test("shows what nodes reported about its sessions without the nodes' ids, and a node id finds nothing", async () => {
    const r = await activeSession(aMember);
    expect((await report(adapter, r.session.id, { type: "adapter.ended" })).status).toBe(200);
    const trail = await json(await t.call("GET", `/api/v1/organizations/${orgA}/audit?limit=200`, { token: aAdmin.token }), 200);
    const text = JSON.stringify(trail);
    expect(trail.items.some((e: { actor: { type: string } }) => e.actor.type === "node")).toBe(true);
    for (const n of [adapter, entry, otherPool]) expect(text).not.toContain(n.nodeId);
    const probe = await json(await t.call("GET", `/api/v1/organizations/${orgA}/audit?actor_id=${adapter.nodeId}`, { token: aAdmin.token }), 200);
    expect(probe.items).toEqual([]);
    // The platform's own trail keeps who did it.
    expect(JSON.stringify(await auditOf(r.session.id))).toContain(adapter.nodeId);
  });
});

describe("lifecycle", () => {
  test("start → active → detached → reattach → takeover → terminating → terminated, each audited", async () => {
    const r = await activeSession(aMember);
    const id = r.session.id;
    expect(await stateOf(id)).toBe("active");
    const detached = await json(await call(aMember, "POST", `/${id}/detach`), 200);
    expect(detached.state).toBe("detached");
    expect((await listTimers(stores.store.db, "remote_session", id)).map((x) => x.name)).toEqual(["detached_timeout"]);
    // The same client reattaches.
    const re = await json(await call(aMember, "POST", `/${id}/attach`), 200);
    expect(re.attachment_id).not.toBe(r.attach.attachment_id);
    expect(await stateOf(id)).toBe("active");
    expect(await listTimers(stores.store.db, "remote_session", id)).toEqual([]);
    // Another client of the same user may not just attach; it takes over.
    const phone = await signIn(t, aMember.email);
    const refused = await errOf(await call(phone, "POST", `/${id}/attach`));
    expect(refused.code).toBe("remote_session.attached_elsewhere");
    const taken = await json(await call(phone, "POST", `/${id}/takeover`), 200);
    const view = await json(await call(phone, "GET", `/${id}`), 200);
    expect(view.controller_attachment_id).toBe(taken.attachment_id);
    expect(view.attachments.find((a: any) => a.id === re.attachment_id)).toMatchObject({
      state: "taken_over",
      taken_over_by: taken.attachment_id,
      this_client: false,
    });
    expect(view.attachments.find((a: any) => a.id === taken.attachment_id)).toMatchObject({ state: "attached", this_client: true });
    // The old client's detach is refused: it no longer controls the session.
    expect((await errOf(await call(aMember, "POST", `/${id}/detach`))).code).toBe("remote_session.not_attached");
    expect((await json(await call(aMember, "POST", `/${id}/terminate`), 200)).state).toBe("terminating");
    expect((await json(await agent(adapter, "GET", "/sessions/assignments"), 200)).assignments.find((a: any) => a.session_id === id)).toMatchObject({
      desired: "stopped",
    });
    expect((await json(await report(adapter, id, { type: "adapter.ended" }), 200)).state).toBe("terminated");
    const final = await json(await call(aMember, "GET", `/${id}`), 200);
    expect(final).toMatchObject({ state: "terminated", end_reason: "user" });
    expect(final.ended_at).not.toBeNull();
    expect((await auditOf(id)).length).toBe(8);
    expect(await journal(id)).toEqual([
      "session.start",
      "session.placed",
      "session.adapter_started",
      "session.detach",
      "session.attach",
      "session.takeover",
      "session.terminate",
      "session.adapter_ended",
    ]);
    // Nothing more is accepted.
    expect((await errOf(await call(aMember, "POST", `/${id}/attach`))).code).toBe("actor.event_rejected");
  });

  test("the entry's transport-closed report detaches the controller", async () => {
    const r = await activeSession(aMember);
    expect((await json(await report(entry, r.session.id, { type: "entry.transport_closed", attachment_id: r.attach.attachment_id }), 200)).state).toBe(
      "detached",
    );
    // Only the session's own nodes may report, and only their kind of event.
    expect((await errOf(await report(otherPool, r.session.id, { type: "adapter.failed", reason: "x" }))).code).toBe("adapter.session_not_assigned");
    expect((await errOf(await report(entry, r.session.id, { type: "adapter.ended" }))).code).toBe("adapter.session_not_assigned");
    await call(aMember, "POST", `/${r.session.id}/terminate`);
  });

  test("adapter failure fails the session, audited with the reason; a stable code in it is shown, the adapter's message never", async () => {
    const r = await activeSession(aMember);
    expect((await json(await report(adapter, r.session.id, { type: "adapter.failed", reason: "host key mismatch" }), 200)).state).toBe("failed");
    expect(await json(await call(aMember, "GET", `/${r.session.id}`), 200)).toMatchObject({ failure_reason: "adapter_failed", failure_code: null });
    expect((await audited(r.session.id, "session.adapter_failed")).details).toMatchObject({ failure_reason: "adapter_failed", state_after: "failed" });
    const coded = await activeSession(aMember);
    const reason = "adapter.certificate_mismatch: 10.9.9.9:3389 presented SHA256:abc, not the pinned SHA256:def";
    expect((await json(await report(adapter, coded.session.id, { type: "adapter.failed", reason }), 200)).state).toBe("failed");
    const view = await json(await call(aMember, "GET", `/${coded.session.id}`), 200);
    expect(view).toMatchObject({
      failure_reason: "adapter_failed",
      failure_code: "adapter.certificate_mismatch",
      failure_message: "The target's certificate is not the pinned one. The connection was refused.",
    });
    expect(JSON.stringify(view)).not.toContain("10.9.9.9");
    expect((await audited(coded.session.id, "session.adapter_failed")).details).toMatchObject({ failure_code: "adapter.certificate_mismatch" });
    // A code the catalog does not know is not shown.
    const unknown = await activeSession(aMember);
    await report(adapter, unknown.session.id, { type: "adapter.failed", reason: "adapter.made_up: nothing" });
    expect((await json(await call(aMember, "GET", `/${unknown.session.id}`), 200)).failure_code).toBeNull();
  });

  test("start timeout: an adapter that never reports fails the session when the durable timer fires", async () => {
    const r = await json(await start(aMember), 201);
    await advance(59_000);
    expect(await stateOf(r.session.id)).toBe("starting");
    await advance(2_000);
    const s = await json(await call(aMember, "GET", `/${r.session.id}`), 200);
    expect(s).toMatchObject({ state: "failed", failure_reason: "start_timeout" });
  });

  test("detached timeout: kept for the resource's detached_timeout, then terminating, then terminated at the stop deadline", async () => {
    const r = await activeSession(aMember);
    await call(aMember, "POST", `/${r.session.id}/detach`);
    await advance(80_000);
    await advance(80_000);
    for (let i = 0; i < 5; i++) await advance(80_000);
    await advance(38_000);
    expect(await stateOf(r.session.id)).toBe("detached");
    await advance(2_000);
    expect(await stateOf(r.session.id)).toBe("terminating");
    await advance(31_000);
    const s = await json(await call(aMember, "GET", `/${r.session.id}`), 200);
    expect(s).toMatchObject({ state: "terminated", end_reason: "detached_timeout" });
    expect((await audited(r.session.id, "session.detached_timeout")).details).toMatchObject({ end_reason: "detached_timeout", state_after: "terminating" });
    expect(await journal(r.session.id)).toEqual([
      "session.start",
      "session.placed",
      "session.adapter_started",
      "session.detach",
      "session.detached_timeout",
      "session.stop_timeout",
    ]);
  });

  test("node loss: an adapter that goes offline fails its live sessions in the same commit, audited", async () => {
    const a = await activeSession(aMember);
    const b = await json(await start(aMember2), 201);
    await t.host.send(
      "node",
      adapter.nodeId,
      { type: "node.health", health: "offline" },
      { author: { type: "system", id: "liveness" }, source: { type: "timer" }, traceId: "t" },
    );
    for (const id of [a.session.id, b.session.id]) {
      expect(await json(await call(owner, "GET", `/${id}`), 200)).toMatchObject({ state: "failed", failure_reason: "adapter_node_lost" });
      expect(await audited(id, "session.fail")).toMatchObject({ organization_id: orgA, actor_type: "system" });
    }
    await t.host.send(
      "node",
      adapter.nodeId,
      { type: "node.health", health: "healthy" },
      { author: { type: "system", id: "test" }, source: { type: "timer" }, traceId: "t" },
    );
  });
});

describe("authorization", () => {
  let id: string;
  beforeAll(async () => {
    id = (await activeSession(aMember)).session.id;
  });

  test("another member neither sees nor acts on it; the viewer may not start sessions", async () => {
    for (const [m, p] of [
      ["GET", ""],
      ["POST", "/attach"],
      ["POST", "/takeover"],
      ["POST", "/detach"],
      ["POST", "/terminate"],
    ] as const) {
      expect((await call(aMember2, m, `/${id}${p}`)).status).toBe(404);
    }
    expect((await json(await call(aMember2, "GET", ""), 200)).items.map((s: any) => s.id)).not.toContain(id);
    expect((await errOf(await call(aMember2, "GET", `?organization_id=${orgA}&all=true`))).code).toBe("auth.forbidden");
    expect((await errOf(await start(aViewer))).code).toBe("auth.forbidden");
  });

  test("another organization's owner gets 404 for the session and the resource", async () => {
    for (const [m, p] of [
      ["GET", ""],
      ["POST", "/takeover"],
      ["POST", "/terminate"],
    ] as const)
      expect((await call(bOwner, m, `/${id}${p}`)).status).toBe(404);
    expect((await errOf(await start(bOwner))).code).toBe("resource.not_found");
    expect((await call(bOwner, "GET", `?organization_id=${orgA}&all=true`)).status).toBe(404);
  });

  test("the owner's own list; an org admin lists every session of the organization, may take over and terminate but not attach or detach", async () => {
    expect((await json(await call(aMember, "GET", ""), 200)).items.map((s: any) => s.id)).toContain(id);
    const all = await json(await call(aAdmin, "GET", `?organization_id=${orgA}&all=true&state=active`), 200);
    expect(all.items.map((s: any) => s.id)).toContain(id);
    expect((await errOf(await call(aAdmin, "POST", `/${id}/attach`))).code).toBe("auth.forbidden");
    // Someone else's session is high-risk: no second factor, no takeover or terminate; nothing changed.
    for (const p of ["/takeover", "/terminate"]) expect((await errOf(await call(aAdmin, "POST", `/${id}${p}`))).code).toBe("auth.mfa_enrollment_required");
    aAdmin = await enrollTotp(t, aAdmin);
    t.clock.advance(16 * 60_000);
    for (const p of ["/takeover", "/terminate"]) expect((await errOf(await call(aAdmin, "POST", `/${id}${p}`))).code).toBe("auth.step_up_required");
    expect(await stateOf(id)).toBe("active");
    expect((await json(await call(owner, "GET", `/${id}`), 200)).controller_attachment_id).not.toBeNull();
    await stepUp(t, aAdmin);
    const taken = await json(await call(aAdmin, "POST", `/${id}/takeover`), 200);
    const claims = v.parse(DataPlaneClaims, JSON.parse(Buffer.from(taken.token.split(".")[1], "base64url").toString()));
    expect(claims.sub).toBe(aAdmin.userId);
    expect((await json(await call(aAdmin, "POST", `/${id}/terminate`), 200)).end_reason).toBe("admin");
  });

  test("a platform owner may read and terminate any organization's session", async () => {
    const other = (await activeSession(aMember)).session.id;
    expect((await json(await call(owner, "GET", `/${other}`), 200)).state).toBe("active");
    await stepUp(t, owner);
    expect((await json(await call(owner, "POST", `/${other}/terminate`), 200)).state).toBe("terminating");
  });
});

describe("data-plane tokens", () => {
  test("valid at an allowed entry: verified offline with the snapshot's key, redeemed once; replay refused with the error event", async () => {
    const r = await activeSession(aMember);
    const k = t.identity.dataPlaneKey;
    const verdict = await verifyDataPlaneToken(
      r.attach.token,
      [{ kid: k.kid, alg: "EdDSA", public_key: k.publicKeyB64 }],
      { entryNodeId: entry.nodeId, sessionId: r.session.id },
      t.clock.now(),
    );
    expect(verdict.ok).toBe(true);
    if (verdict.ok) {
      expect(verdict.claims).toMatchObject({
        sid: r.session.id,
        att: r.attach.attachment_id,
        sub: aMember.userId,
        org: orgA,
        rid: resource,
        proto: "ssh",
        chn: ["control", "input", "render", "clipboard"],
        pol: { clipboard: "client_to_server", file_transfer: "disabled" },
      });
      expect(verdict.claims.exp - verdict.claims.iat).toBe(60);
      expect(verdict.claims.ent).toEqual([await entryRef(r.session.id, entry.nodeId)]);
      expect(r.attach.token).not.toContain(entry.nodeId);
    }
    const ok = await json(await redeem(entry, r.attach.token, r.session.id), 200);
    expect(ok).toMatchObject({
      session_id: r.session.id,
      attachment_id: r.attach.attachment_id,
      adapter_node_id: adapter.nodeId,
      channels: ["control", "input", "render", "clipboard"],
    });
    const replay = await redeem(entry, r.attach.token, r.session.id);
    expect(replay.status).toBe(401);
    const e = await errOf(replay);
    expect(Object.keys(e).sort()).toEqual(["code", "details", "fallback_message", "message_key", "trace_id"]);
    expect(e).toMatchObject({ code: "data_plane.token_replayed", message_key: "errors.data_plane.token_replayed" });
    expect(e.trace_id).toBe(replay.headers.get("x-trace-id")!);
  });

  test("wrong entry, wrong session, tampered and expired tokens are refused and nothing is spent", async () => {
    const r = await activeSession(aMember);
    expect((await errOf(await redeem(adapter, r.attach.token))).code).toBe("data_plane.wrong_entry");
    const other = await activeSession(aMember2);
    expect((await errOf(await redeem(entry, r.attach.token, other.session.id))).code).toBe("data_plane.wrong_session");
    const [h, p, s] = r.attach.token.split(".");
    const claims = JSON.parse(Buffer.from(p!, "base64url").toString());
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sid: other.session.id })).toString("base64url")}.${s}`;
    expect((await errOf(await redeem(entry, forged))).code).toBe("data_plane.token_invalid");
    expect((await errOf(await redeem(entry, `${h}.${p}.${s!.slice(0, -2)}AA`))).code).toBe("data_plane.token_invalid");
    expect((await errOf(await redeem(entry, "not-a-token"))).code).toBe("data_plane.token_invalid");
    // None of those spent the token: it still redeems once at the right entry.
    expect((await redeem(entry, r.attach.token, r.session.id)).status).toBe(200);
    const late = await json(await call(aMember2, "POST", `/${other.session.id}/attach`), 200);
    t.clock.advance(61_000);
    expect((await errOf(await redeem(entry, late.token))).code).toBe("data_plane.token_expired");
  });

  test("a token of a taken-over attachment is refused as superseded", async () => {
    const r = await activeSession(aMember);
    const phone = await signIn(t, aMember.email);
    await json(await call(phone, "POST", `/${r.session.id}/takeover`), 200);
    expect((await errOf(await redeem(entry, r.attach.token, r.session.id))).code).toBe("data_plane.attachment_superseded");
  });
});

describe("access ends, sessions end", () => {
  const assignmentOf = async (id: string) =>
    ((await json(await agent(adapter, "GET", "/sessions/assignments"), 200)).assignments as any[]).find((a) => a.session_id === id);

  test("removing a member terminates their live sessions in the organization in the same commit, audited member_removed", async () => {
    const leaver = await addMember(t, owner, orgA, "leaver@acme.example", "org_member");
    const active = (await activeSession(leaver)).session.id;
    const detached = (await activeSession(leaver)).session.id;
    await call(leaver, "POST", `/${detached}/detach`);
    const starting = (await json(await start(leaver), 201)).session.id;
    const bystander = (await activeSession(aMember2)).session.id;
    expect((await t.call("DELETE", `/api/v1/organizations/${orgA}/members/${leaver.userId}`, { token: aAdmin.token })).status).toBe(204);
    for (const id of [active, detached, starting]) {
      expect(await json(await call(owner, "GET", `/${id}`), 200)).toMatchObject({ state: "terminating", end_reason: "member_removed" });
      expect((await audited(id, "session.terminate")).details).toMatchObject({ end_reason: "member_removed", state_after: "terminating" });
      expect(await assignmentOf(id)).toMatchObject({ desired: "stopped" });
    }
    // The removed user no longer sees them (404), which is why they had to end here.
    expect((await call(leaver, "GET", `/${active}`)).status).toBe(404);
    expect(await stateOf(bystander)).toBe("active");
    await call(aMember2, "POST", `/${bystander}/terminate`);
  });

  test("suspending a member terminates their live sessions, audited member_suspended", async () => {
    const paused = await addMember(t, owner, orgA, "paused@acme.example", "org_member");
    const id = (await activeSession(paused)).session.id;
    await json(await t.call("PATCH", `/api/v1/organizations/${orgA}/members/${paused.userId}`, { token: aAdmin.token, body: { status: "suspended" } }), 200);
    expect(await json(await call(owner, "GET", `/${id}`), 200)).toMatchObject({ state: "terminating", end_reason: "member_suspended" });
  });

  test("deleting a resource terminates its live sessions in the same commit (resource_deleted); the adapter is still told to stop them", async () => {
    const gone = await newResource("doomed", "office-moscow");
    const r = await json(await start(aMember, gone), 201);
    expect((await report(adapter, r.session.id, { type: "adapter.started" })).status).toBe(200);
    const starting = (await json(await start(aMember2, gone), 201)).session.id;
    expect((await t.call("DELETE", `/api/v1/resources/${gone}`, { token: aAdmin.token })).status).toBe(204);
    for (const id of [r.session.id, starting]) {
      expect(await json(await call(owner, "GET", `/${id}`), 200)).toMatchObject({ state: "terminating", end_reason: "resource_deleted" });
      expect((await audited(id, "session.terminate")).details).toMatchObject({ end_reason: "resource_deleted", resource_name: "doomed" });
      expect(await assignmentOf(id)).toMatchObject({ desired: "stopped", resource: { id: gone, target_host: "10.0.0.22", target_port: 22 } });
    }
    // No more tokens: attach is refused, and a token issued before does not redeem.
    expect((await errOf(await call(aMember, "POST", `/${r.session.id}/attach`))).code).toBe("actor.event_rejected");
    expect((await errOf(await redeem(entry, r.attach.token, r.session.id))).code).toBe("data_plane.attachment_superseded");
    expect((await json(await report(adapter, r.session.id, { type: "adapter.ended" }), 200)).state).toBe("terminated");
  });
});

describe("a running session keeps what it was started with", () => {
  test("editing the resource changes neither the target, verification nor policy (quality included) of a running session; a new session gets the edit", async () => {
    const edited = await newResource("edited", "office-moscow", { clipboard_mode: "client_to_server" });
    const r = await json(await start(aMember, edited), 201);
    expect((await report(adapter, r.session.id, { type: "adapter.started" })).status).toBe(200);
    await json(
      await t.call("PATCH", `/api/v1/resources/${edited}`, {
        token: aAdmin.token,
        body: {
          target_host: "10.66.6.6",
          target_port: 2222,
          certificate_verification_mode: "ignore",
          clipboard_mode: "bidirectional",
          file_transfer_mode: "bidirectional",
          quality_profile: "low_bandwidth",
          color_mode: "16",
          quality_adjustable: false,
        },
      }),
      200,
    );
    const assignments = async () => (await json(await agent(adapter, "GET", "/sessions/assignments"), 200)).assignments as any[];
    expect((await assignments()).find((a) => a.session_id === r.session.id)).toMatchObject({
      resource: { target_host: "10.0.0.22", target_port: 22, verification: "strict" },
      policy: {
        clipboard: "client_to_server",
        file_transfer: "disabled",
        channels: ["control", "input", "render", "clipboard"],
        quality: { profile: "balanced", color_mode: null, adjustable: true },
      },
    });
    // A reattach's token carries the session's policy, not the edited one.
    await call(aMember, "POST", `/${r.session.id}/detach`);
    const re = await json(await call(aMember, "POST", `/${r.session.id}/attach`), 200);
    expect(re.channels).toEqual(["control", "input", "render", "clipboard"]);
    const claims = v.parse(DataPlaneClaims, JSON.parse(Buffer.from(re.token.split(".")[1], "base64url").toString()));
    expect(claims.pol).toEqual({ clipboard: "client_to_server", file_transfer: "disabled" });
    // A session started after the edit connects where the resource now says.
    const next = await json(await start(aMember, edited), 201);
    expect((await assignments()).find((a) => a.session_id === next.session.id)).toMatchObject({
      resource: { target_host: "10.66.6.6", target_port: 2222, verification: "ignore" },
      policy: { clipboard: "bidirectional", file_transfer: "bidirectional", quality: { profile: "low_bandwidth", color_mode: "16", adjustable: false } },
    });
    for (const id of [r.session.id, next.session.id]) await call(aMember, "POST", `/${id}/terminate`);
  });
});

describe("redemption rechecks the entry node", () => {
  test("a node whose entry-node role for the organization was withdrawn may not redeem a token naming it", async () => {
    const r = await activeSession(aMember);
    const [role] = await stores.store.db.query<{ id: string }>(
      "select id::text from node_role_assignments where node_id = $1 and role = 'entry-node' and status = 'active'",
      [entry.nodeId],
    );
    await stepUp(t, owner);
    expect((await t.call("DELETE", `/api/v1/clusters/${clusterId}/nodes/${entry.nodeId}/roles/${role!.id}`, { token: owner.token })).status).toBe(204);
    const refused = await redeem(entry, r.attach.token, r.session.id);
    expect(refused.status).toBe(403);
    expect((await errOf(refused)).code).toBe("data_plane.entry_not_authorized");
    // Given the role back, the node redeems again.
    await assign(entry, "entry-node", orgA);
    await call(aMember, "POST", `/${r.session.id}/detach`);
    const re = await json(await call(aMember, "POST", `/${r.session.id}/attach`), 200);
    expect((await redeem(entry, re.token, r.session.id)).status).toBe(200);
    await call(aMember, "POST", `/${r.session.id}/terminate`);
  });
});

describe("credentials and host keys for the adapter", () => {
  const PIN = `SHA256:${"Ab3+/".repeat(8)}xyz`;

  test("only the session's adapter node gets the credentials, while the session runs; each delivery is audited without the secret", async () => {
    const withSecret = await newResource("with-secret", "office-moscow", { host_key_fingerprint: `${PIN}=` });
    await stepUp(t, owner);
    const secret = {
      username: "ops",
      password: "Sup3r-Secret-Pw!",
      private_key: "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----",
    };
    expect((await t.call("PUT", `/api/v1/resources/${withSecret}/secret`, { token: owner.token, body: secret })).status).toBe(200);
    const r = await json(await start(aMember, withSecret), 201);
    const id = r.session.id as string;
    // The assignment names the pinned key (one spelling, no padding) and never the secret.
    const assignment = (await json(await agent(adapter, "GET", "/sessions/assignments"), 200)).assignments.find((a: any) => a.session_id === id);
    expect(assignment.resource).toMatchObject({ verification: "strict", host_key_fingerprint: PIN, has_credentials: true });
    expect(JSON.stringify(assignment)).not.toContain("Sup3r");
    const got = await agent(adapter, "GET", `/sessions/${id}/credentials`);
    expect(got.headers.get("cache-control")).toBe("no-store");
    expect(await json(got, 200)).toEqual({ session_id: id, username: "ops", password: secret.password, private_key: secret.private_key, domain: null });
    const delivered = (await listAudit(stores.store.db, { limit: 50, targetId: withSecret })).find((a) => a.action === "resource.secret_delivered")!;
    expect(delivered.details).toMatchObject({ session_id: id, node_id: adapter.nodeId, fields: ["password", "private_key", "username"] });
    expect(JSON.stringify(delivered)).not.toContain("Sup3r");
    // Not the entry node, not another adapter, not a session that ended.
    for (const n of [entry, otherPool]) expect((await errOf(await agent(n, "GET", `/sessions/${id}/credentials`))).code).toBe("adapter.session_not_assigned");
    await call(aMember, "POST", `/${id}/terminate`);
    expect((await errOf(await agent(adapter, "GET", `/sessions/${id}/credentials`))).code).toBe("adapter.session_not_assigned");
    expect((await agent(adapter, "GET", "/sessions/not-a-uuid/credentials")).status).toBe(400);
  });

  test("a resource without stored credentials says so; a malformed pin is refused and changes nothing", async () => {
    const bare = await newResource("bare", "office-moscow");
    const r = await json(await start(aMember, bare), 201);
    const refused = await agent(adapter, "GET", `/sessions/${r.session.id}/credentials`);
    expect(refused.status).toBe(404);
    expect((await errOf(refused)).code).toBe("adapter.no_credentials");
    for (const bad of ["MD5:aa:bb", `SHA256:${"A".repeat(42)}`, "SHA256:has spaces in it"]) {
      const res = await t.call("PATCH", `/api/v1/resources/${bare}`, { token: owner.token, body: { host_key_fingerprint: bad } });
      expect(res.status).toBe(400);
    }
    expect((await json(await t.call("GET", `/api/v1/resources/${bare}`, { token: owner.token }), 200)).host_key_fingerprint).toBeNull();
    await call(aMember, "POST", `/${r.session.id}/terminate`);
  });
});

describe("entry endpoints", () => {
  test("an entry node publishes where clients connect; offers name its URLs and certificate hashes; bad bodies change nothing", async () => {
    const hash = "0f".repeat(32);
    const body = { urls: ["https://fra-1.access.example.test:4433/rap/v1"], certificate_hashes: [hash] };
    expect(await json(await agent(entry, "PUT", "/entry-endpoint", body), 200)).toEqual({ changed: true });
    expect(await json(await agent(entry, "PUT", "/entry-endpoint", body), 200)).toEqual({ changed: false });
    for (const bad of [
      { urls: ["http://fra-1.access.example.test:4433/rap/v1"], certificate_hashes: [] },
      { urls: [], certificate_hashes: [] },
      { urls: Array(5).fill(body.urls[0]), certificate_hashes: [] },
      { urls: body.urls, certificate_hashes: ["0F".repeat(32)] },
      { urls: body.urls, certificate_hashes: [], extra: true },
    ]) {
      expect((await agent(entry, "PUT", "/entry-endpoint", bad)).status).toBe(400);
    }
    const r = await json(await start(aMember), 201);
    expect(r.attach.entry).toEqual({ name: expect.any(String), urls: body.urls, certificate_hashes: [hash] });
    await call(aMember, "POST", `/${r.session.id}/terminate`);
  });
});
