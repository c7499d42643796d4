/**
 * The VPN control plane end to end over real stores: three enrolled nodes
 * heartbeat through the real node-agent API, a connection is placed (owner
 * and standby), the owner's lease keeper (agent/vpn) renews through the real
 * renewal call, is cut off, stops on its own, the lease expires on the
 * durable timer and goes to the standby with epoch+1, the old owner's
 * renewal is refused; then a drain hands over by release. The recorded
 * history (the control plane's lease facts and both keepers' forwarding
 * facts) passes the history checker, and a doctored copy does not.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { useStores } from "../../fixtures/stores.ts";
import { makeApp, serveApp, testIdentity, type TestApp } from "../../fixtures/control-plane.ts";
import { bootstrapOwner, createOrg, enrollTotp, json, stepUp, type Session } from "../../fixtures/identity.ts";
import { enrollNode, nodeSession, type EnrolledNode } from "../../fixtures/nodes.ts";
import type { VpnHistoryEvent } from "../../core/contracts/vpn.ts";
import { checkVpnHistory } from "../../core/vpn/history.ts";
import { listAudit } from "../../sql/audit.ts";
import { getVpnLease, leaseHistory } from "../../sql/vpn.ts";
import type { LeasePort } from "../../agent/vpn/lease-runner.ts";
import { controlLeasePort, VpnAssignmentFollower } from "../../agent/vpn/control-port.ts";
import { ControlPlaneClient } from "../../agent/client.ts";
import type { SnapshotBody } from "../../core/contracts/snapshot.ts";
import { createVpnConnection, setVpnConnectionEnabled } from "./service.ts";
import { vpnAssignmentsOf } from "./node-calls.ts";
import { reconcileVpnConnection } from "./placement.ts";
import type { VpnConfig } from "../../actors/vpn-connection/machine.ts";

// Before useStores: its hooks (a fresh migrated database) take the timeout in force when they are registered.
setDefaultTimeout(120_000);
const stores = useStores();

const VPN = { can_route_mesh: true, can_run_vpn_connector: true };
const config: VpnConfig = {
  name: "berlin-office",
  target: { site: "Berlin office", address: "198.51.100.7", port: 51820 },
  allowedNodes: { mode: "any" },
  mode: "single_active",
  routing: { allowedCidrs: ["10.20.0.0/16"], deniedCidrs: ["10.20.9.0/24"], dnsRoutes: [], services: ["ip_tunnel"], resourceIds: [], internetEgress: false },
  placement: { allowedRegions: [], preferredRegions: [], standby: true },
  bandwidth: { maxMbps: null, perClientMbps: null },
};
const secret = { private_key: "cHJpdmF0ZS1rZXktb2YtdGVzdA==", peer_public_key: "cGVlci1rZXk=", preshared_key: null, tunnel_addresses: ["10.99.0.2/32"] };

let t: TestApp;
let server: { url: string; stop: () => Promise<void> };
let owner: Session;
let clusterId: string;
let orgA: string;
let orgB: string;
const nodes: Record<string, EnrolledNode> = {};
/** `vpn-client` nodes, one per organization. */
const clients: Record<string, EnrolledNode> = {};
let connectionId: string;
/** Both keepers' forwarding facts, as agents would record them. */
const agentFacts: VpnHistoryEvent[] = [];
const forwarding: string[] = [];

const admin = (traceId: string) => ({ author: { type: "user" as const, id: owner.userId }, source: { type: "http" as const }, traceId });
const deps = () => ({ db: stores.store.db, host: t.host, clock: t.clock.now, identity: t.identity, fabric: t.fabric });
const agent = async (n: EnrolledNode, method: string, path: string, body?: unknown) =>
  t.call(method, `/api/v1/node-agents${path}`, { token: await nodeSession(t, n, clusterId), body });
const lease = () => stores.store.db.transaction((tx) => getVpnLease(tx, connectionId));
const assignments = (n: EnrolledNode) => stores.store.db.transaction((tx) => vpnAssignmentsOf(tx, n.nodeId));

/**
 * Node `n`'s agent side: the snapshot follower and its lease keepers, calling the real renewal and release routes
 * through the agent's client over loopback HTTP; `cut` makes its calls fail as if the link to the control plane were down.
 */
function keeper(name: string, n: EnrolledNode) {
  const inFlight = new Set<Promise<unknown>>();
  const state = { cut: false };
  const track = <T>(p: Promise<T>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => {});
    return p;
  };
  const real = controlLeasePort(new ControlPlaneClient(server.url, t.clock), () => nodeSession(t, n, clusterId));
  const cutOff = () => Promise.reject(new Error("control plane unreachable"));
  const port: LeasePort = {
    renew: (id, epoch) => track(state.cut ? cutOff() : real.renew(id, epoch)),
    release: (id, epoch) => track(state.cut ? cutOff() : real.release(id, epoch)),
  };
  const follower = new VpnAssignmentFollower({
    nodeId: n.nodeId,
    clock: t.clock,
    lease: port,
    forwarding: {
      start: (_c, e) => forwarding.push(`${name} start ${e}`),
      hold: () => {},
      stop: (_c, e, why) => forwarding.push(`${name} stop ${e} ${why}`),
    },
    record: (e) => agentFacts.push(e),
  });
  /** Waits (bounded) for this node's calls in flight, so each clock step sees their answers. */
  const settle = async () => {
    for (let i = 0; i < 50 && inFlight.size > 0; i++) await Promise.allSettled([...inFlight]);
    expect(inFlight.size).toBe(0);
  };
  const runner = {
    get phase() {
      return follower.runner(connectionId)?.phase ?? "idle";
    },
  };
  return { follower, runner, state, settle };
}
let keepers: Record<string, ReturnType<typeof keeper>>;

let hb = 0;
/** Moves time one second at a time: nodes heartbeat, keepers' timers fire and their calls finish, due lease timers run. */
async function advance(seconds: number) {
  for (let i = 0; i < seconds; i++) {
    await t.clock.advanceAsync(1000);
    for (const k of Object.values(keepers)) await k.settle();
    hb++;
    for (const n of Object.values(nodes)) expect((await agent(n, "POST", "/heartbeat", { seq: hb })).status).toBe(202);
    await t.scheduler.tick();
  }
}
/** Each node's agent reads its signed snapshot and follows its VPN section (the snapshot handler's part). */
async function followAssignments() {
  for (const [name, n] of Object.entries(nodes)) {
    const poll = await json(await agent(n, "GET", "/snapshot"), 200);
    const body = JSON.parse(Buffer.from((poll.snapshot as string).split(".")[1]!, "base64url").toString()) as SnapshotBody;
    keepers[name]!.follower.apply(body.vpn);
  }
  await t.clock.advanceAsync(0);
  for (const k of Object.values(keepers)) await k.settle();
}

beforeAll(async () => {
  t = await makeApp(stores.store.db, stores.live, { identity: await testIdentity({ accessTtlSeconds: 7 * 24 * 3600 }) });
  server = serveApp(t);
  owner = await enrollTotp(t, await bootstrapOwner(t));
  await stepUp(t, owner);
  orgA = await createOrg(t, owner, "acme");
  orgB = await createOrg(t, owner, "globex");
  clusterId = (await json(await t.call("POST", "/api/v1/clusters", { token: owner.token, body: { name: "Frankfurt", slug: "fra" } }), 201)).id;
  for (const name of ["vpn-a", "vpn-b", "vpn-other"]) nodes[name] = await enrollNode(t, owner, clusterId, VPN, name);
  for (const [name, org] of [
    ["vpn-a", orgA],
    ["vpn-b", orgA],
    ["vpn-other", orgB],
  ] as const) {
    await stepUp(t, owner);
    await json(
      await t.call("POST", `/api/v1/clusters/${clusterId}/nodes/${nodes[name]!.nodeId}/roles`, {
        token: owner.token,
        body: { role: "vpn-connector", organization_id: org },
      }),
      201,
    );
  }
  // VPN clients of each organization (no connector capability: never placed); set up before time starts to matter.
  for (const [name, org, address] of [
    ["client-a", orgA, "100.64.0.2/32"],
    ["client-other", orgB, "100.64.0.3/32"],
  ] as const) {
    clients[name] = await enrollNode(t, owner, clusterId, { can_route_mesh: true, can_run_vpn_client: true }, name);
    await stepUp(t, owner);
    await json(
      await t.call("POST", `/api/v1/clusters/${clusterId}/nodes/${clients[name]!.nodeId}/roles`, {
        token: owner.token,
        body: { role: "vpn-client", organization_id: org, policy: { tunnel_address: address } },
      }),
      201,
    );
  }
  for (const n of Object.values(nodes)) expect((await agent(n, "POST", "/heartbeat", { seq: 0 })).status).toBe(202);
}, 120_000);

afterAll(() => server?.stop());

describe("VPN failover over the real control plane", () => {
  let first: string;
  let second: string;

  test("placement: one owner with epoch 1 and one standby, both of the organization's nodes; the other organization's node is neither", async () => {
    connectionId = await createVpnConnection(deps(), orgA, { config, secret, enabled: true }, admin("t-create"));
    keepers = Object.fromEntries(Object.entries(nodes).map(([name, n]) => [name, keeper(name, n)]));
    const l = (await lease())!;
    expect(l).toMatchObject({ state: "held", epoch: 1 });
    const ids = [nodes["vpn-a"]!.nodeId, nodes["vpn-b"]!.nodeId];
    expect(ids).toContain(l.ownerNodeId);
    expect(ids).toContain(l.standbyNodeId);
    first = Object.keys(nodes).find((k) => nodes[k]!.nodeId === l.ownerNodeId)!;
    second = Object.keys(nodes).find((k) => nodes[k]!.nodeId === l.standbyNodeId)!;
    expect((await assignments(nodes[first]!)).map((a) => [a.role, a.epoch])).toEqual([["active", 1]]);
    expect((await assignments(nodes[second]!)).map((a) => [a.role, a.epoch])).toEqual([["standby", 1]]);
    expect(await assignments(nodes["vpn-other"]!)).toEqual([]);
  });

  test("vpn-client nodes: the organization's client sees the connection with its owner and epoch, the owner routes back to it; another organization's client sees nothing", async () => {
    const snapshot = async (n: EnrolledNode) => {
      const poll = await json(await agent(n, "GET", "/snapshot"), 200);
      return JSON.parse(Buffer.from((poll.snapshot as string).split(".")[1]!, "base64url").toString()) as SnapshotBody;
    };
    const mine = await snapshot(clients["client-a"]!);
    expect(mine.vpn_client).toEqual([
      expect.objectContaining({ connection_id: connectionId, owner_node_id: nodes[first]!.nodeId, epoch: 1, tunnel_address: "100.64.0.2/32" }),
    ]);
    expect(mine.vpn_client![0]!.routing).toMatchObject({ allowed_cidrs: ["10.20.0.0/16"], denied_cidrs: ["10.20.9.0/24"], internet_egress: false });
    // Both VPN roles are mesh roles: the client gets its peers.
    expect(mine.mesh?.peers.map((p) => p.node_id)).toContain(nodes[first]!.nodeId);
    expect((await snapshot(clients["client-other"]!)).vpn_client).toBeUndefined();
    // The owner routes only the organization's client back (and accepts packets only from it).
    expect((await assignments(nodes[first]!))[0]!.clients).toEqual([{ node_id: clients["client-a"]!.nodeId, address: "100.64.0.2/32" }]);
    expect((await assignments(nodes[second]!))[0]!.clients).toBeUndefined();
  });

  test("only the owner gets the WireGuard secret, and each delivery is audited without the secret", async () => {
    const got = await json(await agent(nodes[first]!, "GET", `/vpn/${connectionId}/secret`), 200);
    expect(got).toMatchObject({ connection_id: connectionId, epoch: 1, wireguard: secret });
    const refused = await agent(nodes[second]!, "GET", `/vpn/${connectionId}/secret`);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("vpn.not_owner");
    const rows = (await listAudit(stores.store.db, { limit: 50, targetId: connectionId })).filter((a) => a.action === "vpn.secret_delivered");
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows[0])).not.toContain(secret.private_key);
  });

  test("the owner's keeper renews through the real call and forwards; the standby's renewal is refused", async () => {
    await followAssignments();
    expect(keepers[first]!.runner.phase).toBe("forwarding");
    await advance(7);
    expect(keepers[first]!.runner.phase).toBe("forwarding");
    expect((await lease())!.renewedAt).not.toBeNull();
    const refused = await json(await agent(nodes[second]!, "POST", `/vpn/${connectionId}/renew`, { epoch: 1 }), 200);
    expect(refused).toEqual({ status: "refused", reason: "not_owner" });
  });

  test("the owner cut off stops on its own before its lease ends; the standby takes over with epoch 2; the old owner is refused", async () => {
    keepers[first]!.state.cut = true;
    const cutAt = t.clock.now().getTime();
    let stoppedAt = 0;
    for (let i = 0; i < 15 && (await lease())!.epoch === 1; i++) {
      await advance(1);
      if (!stoppedAt && keepers[first]!.runner.phase === "stopped") stoppedAt = t.clock.now().getTime();
    }
    const l = (await lease())!;
    expect(l).toMatchObject({ state: "held", epoch: 2, ownerNodeId: nodes[second]!.nodeId, failovers: 1 });
    expect(stoppedAt).toBeGreaterThan(cutAt);
    expect(stoppedAt).toBeLessThan(Date.parse(l.grantedAt!));
    await followAssignments();
    expect(keepers[second]!.runner.phase).toBe("forwarding");
    keepers[first]!.state.cut = false;
    await advance(2);
    // Its snapshot no longer lists it as the owner, so its keeper is unassigned; it forwarded nothing since it stopped.
    expect(keepers[first]!.runner.phase).toBe("idle");
    expect(forwarding.filter((f) => f.startsWith(first))).toEqual([`${first} start 1`, `${first} stop 1 cannot_renew`]);
    expect(await json(await agent(nodes[first]!, "POST", `/vpn/${connectionId}/renew`, { epoch: 1 }), 200)).toEqual({ status: "refused", reason: "not_owner" });
    const audit = await listAudit(stores.store.db, { limit: 200, targetId: connectionId });
    expect(audit.some((a) => a.action === "lease.expire" && a.details.owner_node_id === nodes[second]!.nodeId && a.details.epoch === 2)).toBe(true);
  });

  test("drain: the owner's node drains, the renewal asks for the lease back, the keeper stops and releases, the new standby takes epoch 3", async () => {
    await reconcileVpnConnection(deps(), connectionId);
    expect((await lease())!.standbyNodeId).toBe(nodes[first]!.nodeId);
    // Through the node actor, not the route: the route's step-up moves the manual clock by a TOTP period, past every lease.
    await t.host.send("node", nodes[second]!.nodeId, { type: "node.drain" }, admin("t-drain"));
    for (let i = 0; i < 5 && (await lease())!.epoch === 2; i++) await advance(1);
    expect(await lease()).toMatchObject({ epoch: 3, ownerNodeId: nodes[first]!.nodeId, failovers: 1, lastEndReason: "released" });
    expect(keepers[second]!.runner.phase).toBe("releasing");
    await followAssignments();
    expect(keepers[first]!.runner.phase).toBe("forwarding");
    expect(forwarding.filter((f) => f.includes("stop"))).toEqual([`${first} stop 1 cannot_renew`, `${second} stop 2 released`]);
  });

  test("disabling fences the owner: its next renewal is refused, it stops, nobody takes over", async () => {
    await setVpnConnectionEnabled(deps(), orgA, connectionId, false, {}, admin("t-off"));
    expect((await lease())!.state).toBe("fencing");
    await advance(4);
    expect(keepers[first]!.runner.phase).toBe("stopped");
    await advance(10);
    expect(await lease()).toMatchObject({ state: "vacant", epoch: 3, ownerNodeId: null });
  });

  test("audit: a row per grant, end, fence and standby change, none per renewal; each term's end counts the term's renewals", async () => {
    const control = await stores.store.db.transaction((tx) => leaseHistory(tx, connectionId));
    const audit = await listAudit(stores.store.db, { limit: 500, targetId: connectionId });
    const renewalsOf = (epoch: number) => control.filter((e) => e.kind === "lease.renewed" && e.epoch === epoch).length;
    expect(renewalsOf(1)).toBeGreaterThan(3);
    expect(audit.filter((a) => a.action === "lease.renew")).toEqual([]);
    const ends = audit
      .filter((a) => a.action === "lease.expire" || a.action === "lease.release")
      .map((a) => a.details.ended_term as { epoch: number; renewals: number; reason: string })
      .sort((x, y) => x.epoch - y.epoch);
    expect(ends.map((t) => [t.epoch, t.reason, t.renewals])).toEqual([
      [1, "expired", renewalsOf(1)],
      [2, "released", renewalsOf(2)],
      [3, "connection_disabled", renewalsOf(3)],
    ]);
  });

  test("the whole recorded history passes the checker; doctored copies do not", async () => {
    const control = await stores.store.db.transaction((tx) => leaseHistory(tx, connectionId));
    const all = [...control, ...agentFacts];
    expect(control.filter((e) => e.kind === "lease.granted").map((e) => e.epoch)).toEqual([1, 2, 3]);
    expect(checkVpnHistory(all, { toleranceMs: 0 })).toEqual([]);
    // The old owner "forwarding" one packet after its lease expired.
    const expired = control.find((e) => e.kind === "lease.expired")!;
    const late: VpnHistoryEvent = {
      kind: "forward.packet",
      connection_id: connectionId,
      node_id: expired.node_id,
      epoch: 1,
      at: new Date(Date.parse(expired.at) + 500).toISOString(),
    };
    expect(checkVpnHistory([...all, late]).map((v) => v.code)).toContain("forwarded_after_lease_end");
    // The second grant moved before the first lease ran out.
    const grant2 = control.find((e) => e.kind === "lease.granted" && e.epoch === 2)!;
    const early = all.map((e) => (e === grant2 ? { ...e, at: new Date(Date.parse(e.at) - 4000).toISOString() } : e));
    expect(checkVpnHistory(early).map((v) => v.code)).toContain("overlapping_owners");
  });
});
