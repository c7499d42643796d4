/**
 * MeshRuntime over real QUIC in one process: two or three runtimes with
 * certificates from the cluster CA code and an in-memory directory in place
 * of the control plane (the multi-process test uses the real one). The
 * runtimes' ticks, heartbeats and TTLs run on a manual clock that the tests
 * move; the network is real.
 */
import { afterEach, describe, expect, test } from "../../fixtures/test.ts";
import { MeshRuntime, type Directory, type MeshControl } from "./runtime.ts";
import { Mesh } from "../../crates/fabric-quic/index.ts";
import { encode } from "./messages.ts";
import { classesBetween } from "./policy.ts";
import { PROTOCOL_VERSION } from "./channel.ts";
import { nodeCredentials, testCa, type TestCa } from "../../fixtures/mesh.ts";
import { waitFor } from "../../fixtures/wait.ts";
import { ManualClock } from "../../fixtures/clock.ts";

const running: MeshRuntime[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

/** The control plane's part: advertised addresses land in a shared map; reports go nowhere. */
class Control implements MeshControl {
  constructor(
    private readonly nodeId: string,
    private readonly shared: Map<string, string>,
  ) {}
  async advertise(address: string) {
    this.shared.set(this.nodeId, address);
  }
  async reportLinks() {}
  async revokedSerials() {
    return { version: 0, serials: [] };
  }
  async reportRouteHealth() {}
}

/** Heartbeats keep their default period (2 s): while a test steps the clock 100 ms per round, real acks always have time to arrive. */
async function runtime(
  ca: TestCa,
  addresses: Map<string, string>,
  logs: string[],
  clock: ManualClock,
  extra: Partial<Parameters<typeof MeshRuntime.start>[0]> = {},
) {
  const creds = await nodeCredentials(ca);
  const control = new Control(creds.nodeId, addresses);
  const rt = await MeshRuntime.start({
    clusterId: ca.clusterId,
    nodeId: creds.nodeId,
    certPem: creds.certPem,
    caPem: ca.certPem,
    keyPkcs8: creds.keyPkcs8,
    listen: "127.0.0.1:0",
    control,
    log: (line, f) => logs.push(`${creds.nodeId.slice(0, 8)} ${line} ${JSON.stringify(f ?? {})}`),
    tickMs: 100,
    clock,
    random: () => 0.5,
    ...extra,
  });
  running.push(rt);
  return { rt, nodeId: creds.nodeId, control };
}

function directory(version: number, self: string, roles: string[], peers: { nodeId: string; roles: string[] }[], addresses: Map<string, string>): Directory {
  return {
    version,
    roles,
    relays: peers.filter((p) => p.roles.includes("relay-node")).map((p) => p.nodeId),
    route_paths: [],
    revocation_list_version: 0,
    peers: peers
      .filter((p) => p.nodeId !== self)
      .map((p) => ({
        node_id: p.nodeId,
        name: p.nodeId.slice(0, 8),
        roles: p.roles,
        endpoints: addresses.has(p.nodeId) ? [{ transport: "quic", address: addresses.get(p.nodeId)! }] : [],
      })),
  };
}

/** Two entry nodes with an established direct channel; `view()` is a's status entry for b. */
async function entryPair(aOptions: Partial<Parameters<typeof MeshRuntime.start>[0]> = {}) {
  const ca = await testCa();
  const addresses = new Map<string, string>();
  const logs: string[] = [];
  const clock = new ManualClock(Date.now());
  const a = await runtime(ca, addresses, logs, clock, aOptions);
  const b = await runtime(ca, addresses, logs, clock);
  const nodes = [
    { nodeId: a.nodeId, roles: ["entry-node"] },
    { nodeId: b.nodeId, roles: ["entry-node"] },
  ];
  // The second directory carries the addresses both advertised when they started.
  for (const v of [1, 2]) {
    await a.rt.apply(directory(v, a.nodeId, ["entry-node"], nodes, addresses));
    await b.rt.apply(directory(v, b.nodeId, ["entry-node"], nodes, addresses));
  }
  const view = () => a.rt.status().peers.find((x) => x.node_id === b.nodeId);
  await waitFor(() => view()?.channel === "established" && view()?.route === "direct", { clock, what: `established channel; logs:\n${logs.join("\n")}` });
  return { addresses, logs, a, b, view, clock };
}

describe("mesh runtime", () => {
  test("two entry nodes establish a channel, authorize the session classes and answer pings directly", async () => {
    const { a, b, view, clock } = await entryPair();
    const peer = await waitFor(() => (view()?.reached_at ? view() : null), { clock, what: "a ping answer" });
    expect(peer.route).toBe("direct");
    expect(peer.reached_via).toBeNull();
    const got: string[] = [];
    b.rt.onMessage((m) => got.push(`${m.class}:${new TextDecoder().decode(m.data)}`));
    await a.rt.send(b.nodeId, "input", new TextEncoder().encode("key"));
    await waitFor(() => got.length === 1);
    expect(got).toEqual(["input:key"]);
  });
});

describe("mesh runtime revalidation", () => {
  test("a role change that takes classes away drains and closes the channel, which comes back with the smaller set", async () => {
    const { addresses, logs, a, b, view, clock } = await entryPair();
    const direct = () => view()?.channel === "established" && view()?.route === "direct";
    expect(await a.rt.send(b.nodeId, "vpn_packet", new Uint8Array(100))).toBe(true);
    // B becomes a video relay: between an entry node and a video relay only the interactive classes remain.
    const after = [
      { nodeId: a.nodeId, roles: ["entry-node"] },
      { nodeId: b.nodeId, roles: ["video-relay"] },
    ];
    await a.rt.apply(directory(3, a.nodeId, ["entry-node"], after, addresses));
    await b.rt.apply(directory(3, b.nodeId, ["video-relay"], after, addresses));
    await waitFor(() => logs.some((l) => l.includes("mesh channel failed revalidation") && l.includes("policy_denied")), {
      clock,
      what: `revalidation failure; logs:\n${logs.join("\n")}`,
    });
    await waitFor(direct, { clock, timeoutMs: 15_000, what: "re-established" });
    await expect(a.rt.send(b.nodeId, "vpn_packet", new Uint8Array(100))).rejects.toMatchObject({ code: "channel_class_denied" });
    expect(await a.rt.send(b.nodeId, "input", new Uint8Array(1))).toBe(true);
  }, 20_000);
});

describe("mesh runtime in degraded mode", () => {
  test("with the control plane away, channels keep carrying traffic until the degraded TTL, then drain and close", async () => {
    // Shorter than a heartbeat period, so moving time past it in one go misses no heartbeat.
    const { logs, a, b, view: peer, clock } = await entryPair({ degradedTtlMs: 1500 });
    // Back within the TTL: nothing is lost.
    a.rt.controlPlane(false);
    expect(peer()!.channel).toBe("degraded");
    expect(await a.rt.send(b.nodeId, "input", new Uint8Array(1))).toBe(true);
    a.rt.controlPlane(true);
    expect(peer()!.channel).toBe("established");
    // Away for longer than the TTL: the channel drains and closes with trust_bundle_stale (ticks come every 100 ms; the next one may already
    // have set up a fresh channel machine waiting out the redial backoff, which keeps the failure).
    a.rt.controlPlane(false);
    await clock.advanceAsync(1400);
    expect(peer()!.channel).toBe("degraded");
    expect(await a.rt.send(b.nodeId, "input", new Uint8Array(1))).toBe(true);
    await clock.advanceAsync(200);
    const closed = peer()!;
    expect(["degraded", "established"]).not.toContain(closed.channel);
    expect(closed.failure).toBe("trust_bundle_stale");
    expect(logs.some((l) => l.includes("outlived the degraded TTL"))).toBe(true);
  });
});

describe("mesh runtime failures", () => {
  test("a peer that completes the hello but stops answering heartbeats fails with heartbeat_timeout and is disconnected", async () => {
    const ca = await testCa();
    const addresses = new Map<string, string>();
    const logs: string[] = [];
    const clock = new ManualClock(Date.now());
    // Short heartbeats: the peer never answers, so no real ack has to keep up with the moved time.
    const a = await runtime(ca, addresses, logs, clock, { heartbeatMs: 300 });
    // The silent peer: a bare endpoint that says hello once and then reads nothing.
    const silentCreds = await nodeCredentials(ca);
    const silent = await Mesh.bind({ ...silentCreds, idleTimeoutMs: 60_000 });
    addresses.set(silentCreds.nodeId, silent.address);
    const nodes = [
      { nodeId: a.nodeId, roles: ["entry-node"] },
      { nodeId: silentCreds.nodeId, roles: ["entry-node"] },
    ];
    await a.rt.apply(directory(1, a.nodeId, ["entry-node"], nodes, addresses));
    await waitFor(() => silent.peers().includes(a.nodeId), { clock, what: "dialled" });
    silent.authorize(a.nodeId, []);
    await silent.send(
      a.nodeId,
      "fabric_control",
      encode({
        type: "hello",
        protocol_version: PROTOCOL_VERSION,
        cluster_id: ca.clusterId,
        node_id: silentCreds.nodeId,
        classes: classesBetween(["entry-node"], ["entry-node"]),
        route_epoch: 0,
        trust_bundle_version: 0,
        draining: false,
      }),
    );
    await waitFor(() => a.rt.status().peers.find((p) => p.node_id === silentCreds.nodeId)?.channel === "established", { clock, what: "established" });
    // Three silent heartbeat periods fail the channel. Time stops moving once it has: no redial (backoff 250 ms) can follow.
    const failed = await waitFor(
      () => {
        const p = a.rt.status().peers.find((x) => x.node_id === silentCreds.nodeId);
        return p && p.failure === "heartbeat_timeout" ? p : null;
      },
      { clock, what: "heartbeat timeout" },
    );
    expect(failed.channel).not.toBe("established");
    await waitFor(() => !silent.peers().includes(a.nodeId), { what: "disconnect" });
    await silent.close();
  });

  test("a hello that does not offer the classes the policy requires fails the channel with channel_class_denied and closes it", async () => {
    const ca = await testCa();
    const addresses = new Map<string, string>();
    const logs: string[] = [];
    const clock = new ManualClock(Date.now());
    const a = await runtime(ca, addresses, logs, clock);
    const liarCreds = await nodeCredentials(ca);
    const liar = await Mesh.bind(liarCreds);
    addresses.set(liarCreds.nodeId, liar.address);
    const nodes = [
      { nodeId: a.nodeId, roles: ["entry-node"] },
      { nodeId: liarCreds.nodeId, roles: ["video-relay"] },
    ];
    await a.rt.apply(directory(1, a.nodeId, ["entry-node"], nodes, addresses));
    await waitFor(() => liar.peers().includes(a.nodeId), { clock, what: "dialled" });
    // Entry ↔ video-relay needs the base classes plus input, render and clipboard; this hello leaves out route_control, health and telemetry.
    await liar.send(
      a.nodeId,
      "fabric_control",
      encode({
        type: "hello",
        protocol_version: PROTOCOL_VERSION,
        cluster_id: ca.clusterId,
        node_id: liarCreds.nodeId,
        classes: ["fabric_control", "input", "render", "clipboard", "vpn_packet"],
        route_epoch: 0,
        trust_bundle_version: 0,
        draining: false,
      }),
    );
    const p = await waitFor(() => a.rt.status().peers.find((x) => x.node_id === liarCreds.nodeId && x.failure), { clock, what: "refusal" });
    expect(p.failure).toBe("channel_class_denied");
    await waitFor(() => !liar.peers().includes(a.nodeId), { what: "disconnect" });
    await expect(liar.send(a.nodeId, "input", new Uint8Array([1]))).rejects.toMatchObject({ code: "channel_class_denied" });
    await liar.close();
  });
});
