/**
 * The channel lifecycle, pure transitions, against the spec's required
 * validations (section 19) that the state machine owns: mTLS identity checks,
 * revocation closing an active channel, class authorization, no traffic
 * before authorization, heartbeat timeout, draining, trust rotation and
 * degraded-mode TTL. The transport half of these arrives with fabric-quic.
 */
import { describe, expect, test } from "../../fixtures/test.ts";
import { createActor, type SnapshotFrom } from "xstate";
import {
  canSend,
  channelMachine,
  reconnectDelay,
  PROTOCOL_VERSION,
  type ChannelEvent,
  type ChannelPolicy,
  type Hello,
  type PeerCertificate,
} from "./channel.ts";

const now = 1_800_000_000_000;
const input = { clusterId: "c1", expectedPeer: "peer-1" };
const cert: PeerCertificate = { clusterId: "c1", nodeId: "peer-1", serial: "0a", notBefore: now - 1000, notAfter: now + 86_400_000 };
const policy: ChannelPolicy = {
  allowedClasses: ["fabric_control", "health", "input", "render"],
  routeEpoch: 3,
  trustBundleVersion: 1,
  revokedSerials: new Set(),
  peerDisabled: false,
};
const hello: Hello = {
  protocolVersion: PROTOCOL_VERSION,
  clusterId: "c1",
  nodeId: "peer-1",
  classes: ["fabric_control", "health", "input", "render", "vpn_packet"],
  routeEpoch: 3,
  trustBundleVersion: 1,
  draining: false,
};

function run(...events: ChannelEvent[]): SnapshotFrom<typeof channelMachine> {
  const actor = createActor(channelMachine, { input }).start();
  for (const e of events) actor.send(e);
  const s = actor.getSnapshot();
  actor.stop();
  return s;
}

const toAuthorizing: ChannelEvent[] = [{ type: "open" }, { type: "transport.connected" }, { type: "tls.verified", cert, now, revokedSerials: new Set() }];
const established: ChannelEvent[] = [...toAuthorizing, { type: "hello", hello, policy, requested: ["fabric_control", "health", "input"] }];

describe("channel lifecycle", () => {
  test("valid mTLS identity and an authorized hello reach established", () => {
    const s = run(...established);
    expect(s.value).toBe("established");
    expect(s.context).toMatchObject({ peerSerial: "0a", classes: ["fabric_control", "health", "input"], failure: null });
  });

  test("wrong cluster, wrong node id, expired and revoked certificates are rejected", () => {
    const attempt = (c: PeerCertificate, revoked = new Set<string>()) =>
      run({ type: "open" }, { type: "transport.connected" }, { type: "tls.verified", cert: c, now, revokedSerials: revoked }).context.failure;
    expect(attempt({ ...cert, clusterId: "c2" })).toBe("wrong_cluster");
    expect(attempt({ ...cert, nodeId: "impostor" })).toBe("wrong_node");
    expect(attempt({ ...cert, notAfter: now - 1 })).toBe("certificate_invalid");
    expect(attempt(cert, new Set(["0a"]))).toBe("certificate_revoked");
  });

  test("a revoked certificate closes an active channel at once", () => {
    const s = run(...established, { type: "revoked", serials: new Set(["0a"]) });
    expect(s.value).toBe("failed");
    expect(s.context.failure).toBe("certificate_revoked");
    expect(run(...established, { type: "revoked", serials: new Set(["ff"]) }).value).toBe("established");
  });

  test("an unauthorized channel class is rejected; stale epochs, trust bundles and disabled peers too", () => {
    const reject = (h: Partial<Hello>, p: Partial<ChannelPolicy>, requested: Parameters<typeof canSend>[1][]) =>
      run(...toAuthorizing, { type: "hello", hello: { ...hello, ...h }, policy: { ...policy, ...p }, requested }).context.failure;
    expect(reject({}, {}, ["vpn_packet"])).toBe("channel_class_denied");
    expect(reject({ routeEpoch: 2 }, {}, ["input"])).toBe("route_epoch_stale");
    expect(reject({ trustBundleVersion: 0 }, {}, ["input"])).toBe("trust_bundle_stale");
    expect(reject({}, { peerDisabled: true }, ["input"])).toBe("peer_disabled");
    expect(reject({ clusterId: "c2" }, {}, ["input"])).toBe("wrong_cluster");
  });

  test("no traffic before authorization", () => {
    for (const steps of [[], [{ type: "open" }], toAuthorizing] as ChannelEvent[][]) {
      const s = run(...steps);
      expect(canSend(s, "input")).toBe(false);
      expect(canSend(s, "fabric_control")).toBe(false);
    }
    const s = run(...established);
    expect(canSend(s, "input")).toBe(true);
    expect(canSend(s, "render")).toBe(false);
  });

  test("missed heartbeats make the channel suspect, then fail it; a heartbeat clears suspicion", () => {
    const suspect = run(...established, { type: "heartbeat.missed" });
    expect(suspect.context.suspect).toBe(true);
    expect(run(...established, { type: "heartbeat.missed" }, { type: "heartbeat.received" }).context).toMatchObject({ suspect: false, missedHeartbeats: 0 });
    const dead = run(...established, { type: "heartbeat.missed" }, { type: "heartbeat.missed" }, { type: "heartbeat.missed" });
    expect(dead.value).toBe("failed");
    expect(dead.context.failure).toBe("heartbeat_timeout");
  });

  test("draining: a draining peer refuses new non-essential channels; a draining channel carries only essentials", () => {
    expect(run(...toAuthorizing, { type: "hello", hello: { ...hello, draining: true }, policy, requested: ["input"] }).context.failure).toBe("peer_draining");
    expect(run(...toAuthorizing, { type: "hello", hello: { ...hello, draining: true }, policy, requested: ["health"] }).value).toBe("established");
    const draining = run(...established, { type: "drain" });
    expect([canSend(draining, "input"), canSend(draining, "fabric_control")]).toEqual([false, true]);
    expect(run(...established, { type: "drain" }, { type: "drained" }, { type: "transport.closed" }).value).toBe("closed");
  });

  test("trust rotation revalidates: still trusted returns to established, no longer trusted drains", () => {
    const ok = run(...established, { type: "revalidate" }, { type: "revalidated", cert, policy, now });
    expect(ok.value).toBe("established");
    const revalidating = run(...established, { type: "revalidate" });
    expect([canSend(revalidating, "input"), canSend(revalidating, "health")]).toEqual([false, true]);
    const lost = run(...established, { type: "revalidate" }, { type: "revalidated", cert, policy: { ...policy, allowedClasses: ["health"] }, now });
    expect(lost.value).toBe("draining");
  });

  test("degraded mode lasts only its TTL, then drains", () => {
    const degraded = run(...established, { type: "control_plane.unreachable", now, ttlMs: 60_000 });
    expect(degraded.value).toBe("degraded");
    expect(canSend(degraded, "input")).toBe(true);
    expect(run(...established, { type: "control_plane.unreachable", now, ttlMs: 60_000 }, { type: "tick", now: now + 30_000 }).value).toBe("degraded");
    expect(run(...established, { type: "control_plane.unreachable", now, ttlMs: 60_000 }, { type: "tick", now: now + 60_000 }).value).toBe("draining");
    expect(run(...established, { type: "control_plane.unreachable", now, ttlMs: 60_000 }, { type: "control_plane.reachable" }).value).toBe("established");
  });

  test("closed and failed are terminal: nothing reopens them", () => {
    for (const s of [
      run(...established, { type: "close" }, { type: "transport.closed" }),
      run({ type: "open" }, { type: "transport.error", handshake: false }),
    ]) {
      expect(s.status).toBe("done");
      expect(s.can({ type: "open" })).toBe(false);
    }
  });

  test("reconnect backoff is exponential with jitter, capped, and gives up", () => {
    expect(reconnectDelay(0, 1)).toBe(500);
    expect(reconnectDelay(3, 1)).toBe(4000);
    expect(reconnectDelay(20, 1)).toBeNull();
    expect(reconnectDelay(10, 1)).toBe(60_000);
    expect(reconnectDelay(3, 0.5)).toBe(2000);
  });
});
