/** Node-local state: migrations once, memberships per cluster, snapshot caches replaced whole, removal per cluster. */
import type { SignedSnapshot } from "../core/contracts/snapshot.ts";
import { afterAll, describe, expect, test } from "../fixtures/test.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AgentStore, type Membership } from "./store.ts";
import { ManualClock } from "../fixtures/clock.ts";

const dir = mkdtempSync(join(tmpdir(), "rap-agent-store-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const membership = (clusterId: string): Membership => ({
  clusterId,
  controlPlaneUrl: "http://cp",
  status: "enrolled",
  nodeName: "n",
  nodeId: `node-${clusterId}`,
  joinRequestId: "j",
  fingerprint: `fp-${clusterId}`,
  publicKey: "pk",
  pinnedAuthorityFingerprint: "SHA256:a",
  authorityPublicKey: "apk",
  certificatePem: "cert",
  caChainPem: "ca",
  enrolledAt: "2026-01-01T00:00:00Z",
});

describe("agent store", () => {
  test("reopening applies no migration twice and keeps data", async () => {
    const path = join(dir, "a.db");
    const s1 = await AgentStore.open(path, new ManualClock());
    await s1.saveMembership(membership("c1"));
    s1.close();
    const s2 = await AgentStore.open(path, new ManualClock());
    expect((await s2.membership("c1"))?.nodeId).toBe("node-c1");
    s2.close();
  });

  test("a snapshot replaces the peer, route and service caches of its cluster only", async () => {
    const s = await AgentStore.open(join(dir, "b.db"), new ManualClock());
    for (const c of ["c1", "c2"]) await s.saveMembership(membership(c));
    const body = (peers: string[], routes: { to: string; via: string[] }[], roles: string[]): SignedSnapshot => ({
      node_id: "n1",
      version: 1,
      term: 1,
      heartbeat_interval_seconds: 30,
      revocation_list_version: 0,
      roles: roles.map((role) => ({ role, organization_id: null })),
      mesh: {
        peers: peers.map((p) => ({ node_id: p, name: p, roles: ["relay-node"], endpoints: [] })),
        qos: { classes: [], max_relay_hops: 2 },
        relays: [],
        route_paths: routes.map((r) => ({ ...r, alternates: [] })),
      },
    });
    await s.applySnapshot("c1", 1, "jws1", body(["p1", "p2"], [{ to: "p2", via: ["p1"] }], ["relay-node"]));
    await s.applySnapshot("c2", 1, "jws2", body(["q1"], [], ["entry-node"]));
    expect((await s.peers("c1")).map((p) => p.nodeId)).toEqual(["p1", "p2"]);
    expect(await s.routes("c1")).toEqual([{ destination: "p2", via: ["p1"] }]);
    await s.applySnapshot("c1", 2, "jws3", body(["p1"], [], []));
    expect((await s.peers("c1")).map((p) => p.nodeId)).toEqual(["p1"]);
    expect(await s.routes("c1")).toEqual([]);
    expect(await s.assignments("c1")).toEqual([]);
    expect((await s.assignments("c2")).map((a) => a.serviceType)).toEqual(["entry-node"]);
    await s.removeMembership("c1");
    expect(await s.membership("c1")).toBeUndefined();
    expect(await s.snapshot("c1")).toBeUndefined();
    expect((await s.snapshot("c2"))?.version).toBe(1);
    s.close();
  });
});
