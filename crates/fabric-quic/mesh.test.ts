/**
 * The fabric-quic addon over real QUIC on loopback, with certificates from
 * the control plane's issuing code: mTLS identity checks, channel-class
 * authorization, revocation and trust rotation on live connections, relays
 * spliced in Rust, and the QoS queues.
 */
import { afterEach, describe, expect, test } from "../../fixtures/test.ts";
import { sleep } from "../../core/runtime/index.ts";
import { type ChannelClass, Mesh, MeshError } from "./index.ts";
import { meshNode, MeshRecorder, nodeCredentials, testCa, type TestCa } from "../../fixtures/mesh.ts";
import { waitFor } from "../../fixtures/wait.ts";

const open: Mesh[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((m) => m.close()));
});

async function node(ca: TestCa, overrides = {}) {
  const mesh = await meshNode(ca, overrides);
  open.push(mesh);
  return mesh;
}

/** Two connected nodes that allow each other `classes`, with b's deliveries and events recorded. */
async function pairAllowing(...classes: ChannelClass[]) {
  const ca = await testCa();
  const [a, b] = [await node(ca), await node(ca)];
  const rb = new MeshRecorder(b);
  await a.connect(b.nodeId, b.address);
  a.authorize(b.nodeId, classes);
  b.authorize(a.nodeId, classes);
  return { a, b, rb };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  const error = await p.then(
    () => null,
    (e) => e,
  );
  expect(error).toBeInstanceOf(MeshError);
  return (error as MeshError).code;
}

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe("mutual TLS with cluster node certificates", () => {
  test("two nodes of a cluster connect and both learn the other's node id and serial", async () => {
    const ca = await testCa();
    const [a, b] = [await node(ca), await node(ca)];
    const rb = new MeshRecorder(b);
    const peer = await a.connect(b.nodeId, b.address);
    expect(peer.node_id).toBe(b.nodeId);
    expect(peer.serial).toBe(b.serial.replace(/^0+/, ""));
    const up = await rb.event("peer_up");
    expect(up.node_id).toBe(a.nodeId);
    expect(up.dialled).toBe(false);
    rb.stop();
  });

  test("a server with another cluster's certificate is refused (certificate_invalid), so is a client", async () => {
    const [ca, other] = [await testCa(), await testCa()];
    const a = await node(ca);
    const stranger = await node(other);
    expect(await refusal(a.connect(stranger.nodeId, stranger.address))).toBe("certificate_invalid");
    const rb = new MeshRecorder(a);
    await stranger.connect(a.nodeId, a.address).catch(() => null);
    expect((await rb.event("handshake_failed")).reason).toBe("certificate_invalid");
    expect(a.peers()).toEqual([]);
    rb.stop();
  });

  test("a certificate from our CA naming another cluster is refused as wrong_cluster", async () => {
    const ca = await testCa();
    const otherCluster = crypto.randomUUID();
    const liar = await nodeCredentials(ca, crypto.randomUUID(), { sanClusterId: otherCluster });
    // Bound as a member of our cluster, its own certificate fails the checks.
    expect(await refusal(Mesh.bind(liar))).toBe("wrong_cluster");
    // Bound as what its certificate says, it can dial, and we refuse it.
    const impostor = await Mesh.bind({ ...liar, clusterId: otherCluster });
    open.push(impostor);
    const honest = await node(ca);
    const recorder = new MeshRecorder(honest);
    expect(await refusal(impostor.connect(honest.nodeId, honest.address))).toBe("wrong_cluster");
    expect((await recorder.event("handshake_failed")).reason).toBe("wrong_cluster");
    expect(honest.peers()).toEqual([]);
    expect(honest.stats().handshake_failures).toEqual({ wrong_cluster: 1 });
    recorder.stop();
  });

  test("a max UDP payload outside 1200–8972 bytes is refused with config_invalid, and nothing is bound", async () => {
    const ca = await testCa();
    const creds = await nodeCredentials(ca, crypto.randomUUID());
    for (const maxUdpPayload of [1199, 8973, 70_000]) {
      expect(await refusal(Mesh.bind({ ...creds, maxUdpPayload }))).toBe("config_invalid");
    }
    const jumbo = await Mesh.bind({ ...creds, maxUdpPayload: 8972 });
    open.push(jumbo);
    expect(jumbo.address).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  test("dialling a node id the server's certificate does not name fails with wrong_node", async () => {
    const ca = await testCa();
    const [a, b] = [await node(ca), await node(ca)];
    expect(await refusal(a.connect(crypto.randomUUID(), b.address))).toBe("wrong_node");
    expect(a.peers()).toEqual([]);
  });

  test("expired certificates are refused on both sides", async () => {
    const ca = await testCa();
    const a = await node(ca);
    const expired = await nodeCredentials(ca, crypto.randomUUID(), { issuedAt: new Date(Date.now() - 3 * 86_400_000), validForMs: 86_400_000 });
    expect(await refusal(Mesh.bind(expired))).toBe("certificate_expired");
    const b = await node(ca);
    const rb = new MeshRecorder(b);
    // A node whose certificate expires while connected is closed at expiry.
    const soon = await nodeCredentials(ca, crypto.randomUUID(), { validForMs: 2_000 });
    const c = await Mesh.bind(soon);
    open.push(c);
    await c.connect(b.nodeId, b.address);
    const down = await rb.event("peer_down", (e) => e.node_id === soon.nodeId);
    expect(down.reason).toBe("certificate_expired");
    expect(await refusal(c.connect(a.nodeId, a.address))).toBe("certificate_expired");
    rb.stop();
  }, 10_000);

  test("revoking a serial closes the live connection at once and refuses it afterwards", async () => {
    const ca = await testCa();
    const [a, b] = [await node(ca), await node(ca)];
    const ra = new MeshRecorder(a);
    const rb = new MeshRecorder(b);
    await a.connect(b.nodeId, b.address);
    await rb.event("peer_up");
    expect(b.setRevoked([a.serial])).toEqual([a.nodeId]);
    expect((await rb.event("peer_down")).reason).toBe("certificate_revoked");
    expect((await ra.event("peer_down")).reason).toBe("certificate_revoked");
    await a.connect(b.nodeId, b.address).catch(() => null);
    expect((await rb.event("handshake_failed")).reason).toBe("certificate_revoked");
    expect(b.peers()).toEqual([]);
    ra.stop();
    rb.stop();
  });

  test("trust rotation: both CAs during the overlap, the old one's nodes closed when it is retired", async () => {
    const oldCa = await testCa();
    const newCa = await testCa(oldCa.clusterId);
    const hub = await node(oldCa);
    const legacy = await node(oldCa);
    const fresh = await node(newCa, { caPems: [oldCa.certPem, newCa.certPem] });
    expect(await refusal(fresh.connect(hub.nodeId, hub.address))).toBe("certificate_invalid");
    expect(hub.setTrust([oldCa.certPem, newCa.certPem])).toEqual([]);
    await fresh.connect(hub.nodeId, hub.address);
    await legacy.connect(hub.nodeId, hub.address);
    expect(hub.peers().sort()).toEqual([fresh.nodeId, legacy.nodeId].sort());
    expect(hub.setTrust([newCa.certPem])).toEqual([legacy.nodeId]);
    await waitFor(() => hub.peers().length === 1);
    expect(hub.peers()).toEqual([fresh.nodeId]);
    expect(() => hub.setTrust(["not a pem"])).toThrow(MeshError);
  });

  test("a renewed certificate is presented on new handshakes both ways while the live connection keeps carrying messages", async () => {
    const ca = await testCa();
    const [a, b, c, d] = [await node(ca), await node(ca), await node(ca), await node(ca)];
    const [ra, rb, rd] = [new MeshRecorder(a), new MeshRecorder(b), new MeshRecorder(d)];
    const oldSerial = a.serial.replace(/^0+/, "");
    await a.connect(b.nodeId, b.address);
    a.authorize(b.nodeId, ["input"]);
    b.authorize(a.nodeId, ["input"]);
    await a.send(b.nodeId, "input", bytes("before"));
    await waitFor(() => rb.messages.some((m) => text(m.data) === "before"));

    const renewed = await nodeCredentials(ca, a.nodeId);
    const newSerial = renewed.serial.replace(/^0+/, "");
    expect(newSerial).not.toBe(oldSerial);
    expect(a.setCertificate(renewed.certPem, renewed.keyPkcs8)).toMatchObject({ node_id: a.nodeId, serial: newSerial });

    // The A–B connection made with the old certificate stays and works both ways.
    await a.send(b.nodeId, "input", bytes("after"));
    await b.send(a.nodeId, "input", bytes("reply"));
    await waitFor(() => rb.messages.some((m) => text(m.data) === "after"));
    await waitFor(() => ra.messages.some((m) => text(m.data) === "reply"));
    expect(rb.events.filter((e) => e.type === "peer_down")).toEqual([]);
    expect(b.stats().peers.find((p) => p.node_id === a.nodeId)?.serial).toBe(oldSerial);

    // Accepting: C dialling A sees the new serial.
    expect((await c.connect(a.nodeId, a.address)).serial).toBe(newSerial);
    // Dialling: D, dialled by A, sees the new serial too.
    await a.connect(d.nodeId, d.address);
    expect((await rd.event("peer_up", (e) => e.node_id === a.nodeId)).serial).toBe(newSerial);
    expect(a.peers().sort()).toEqual([b.nodeId, c.nodeId, d.nodeId].sort());
    for (const r of [ra, rb, rd]) r.stop();
  });

  test("after a renewal, connect moves a live connection to the new certificate on both sides: no peer_down, nothing lost", async () => {
    const ca = await testCa();
    // B dialled A: the connection A moves is one A accepted.
    const [a, b] = [await node(ca), await node(ca)];
    const [ra, rb] = [new MeshRecorder(a), new MeshRecorder(b)];
    await b.connect(a.nodeId, a.address);
    a.authorize(b.nodeId, ["input"]);
    b.authorize(a.nodeId, ["input"]);
    const renewed = await nodeCredentials(ca, a.nodeId, { validForMs: 2 * 86_400_000 });
    const newSerial = a.setCertificate(renewed.certPem, renewed.keyPkcs8).serial;
    // Messages sent both ways before, while and after the connection moves all arrive.
    const sent = Array.from({ length: 200 }, (_, i) => `m${i}`);
    const sending = (async () => {
      for (const m of sent) {
        await a.send(b.nodeId, "input", bytes(m));
        await b.send(a.nodeId, "input", bytes(m));
        if (Number(m.slice(1)) % 20 === 0) await sleep(1);
      }
    })();
    expect((await a.connect(b.nodeId, b.address)).node_id).toBe(b.nodeId);
    await sending;
    await waitFor(() => b.stats().peers.find((p) => p.node_id === a.nodeId)?.serial === newSerial, { what: "B sees A's new certificate" });
    await waitFor(() => rb.messages.length === sent.length && ra.messages.length === sent.length, { what: "every message" });
    expect(rb.messages.map((m) => text(m.data))).toEqual(expect.arrayContaining(sent));
    expect(ra.messages.map((m) => text(m.data))).toEqual(expect.arrayContaining(sent));
    expect([...ra.events, ...rb.events].filter((e) => e.type === "peer_down")).toEqual([]);
    // A second connect reuses the moved connection.
    expect((await a.connect(b.nodeId, b.address)).serial).toBe(b.serial.replace(/^0+/, ""));
    expect(rb.events.filter((e) => e.type === "peer_up")).toHaveLength(2);
    for (const r of [ra, rb]) r.stop();
  });

  test("a certificate for another node or cluster, or with a key that is not its own, is refused and changes nothing", async () => {
    const ca = await testCa();
    const [a, b] = [await node(ca), await node(ca)];
    const otherNode = await nodeCredentials(ca);
    const otherCluster = await nodeCredentials(ca, a.nodeId, { sanClusterId: crypto.randomUUID() });
    const foreignCa = await nodeCredentials(await testCa(ca.clusterId), a.nodeId);
    const renewed = await nodeCredentials(ca, a.nodeId);
    const codeOf = (call: () => unknown) => {
      try {
        call();
      } catch (e) {
        expect(e).toBeInstanceOf(MeshError);
        return { code: (e as MeshError).code, message: (e as MeshError).message };
      }
      throw new Error("expected a refusal");
    };
    const wrongNode = codeOf(() => a.setCertificate(otherNode.certPem, otherNode.keyPkcs8));
    expect(wrongNode.code).toBe("wrong_node");
    expect(wrongNode.message).toContain(`node/${otherNode.nodeId}`);
    expect(wrongNode.message).toContain(`node/${a.nodeId}`);
    expect(codeOf(() => a.setCertificate(otherCluster.certPem, otherCluster.keyPkcs8)).code).toBe("wrong_cluster");
    expect(codeOf(() => a.setCertificate(foreignCa.certPem, foreignCa.keyPkcs8)).code).toBe("certificate_invalid");
    expect(codeOf(() => a.setCertificate(renewed.certPem, otherNode.keyPkcs8)).code).toBe("config_invalid");
    expect(codeOf(() => a.setCertificate("not a pem", renewed.keyPkcs8)).code).toBe("config_invalid");
    // Still the original certificate.
    expect((await b.connect(a.nodeId, a.address)).serial).toBe(a.serial.replace(/^0+/, ""));
  });
});

describe("channel classes", () => {
  test("only fabric_control flows before authorization; other classes are refused at both ends", async () => {
    const ca = await testCa();
    const [a, b] = [await node(ca), await node(ca)];
    const rb = new MeshRecorder(b);
    await a.connect(b.nodeId, b.address);
    expect(await a.send(b.nodeId, "fabric_control", bytes("hello"))).toBe(true);
    expect(await refusal(a.send(b.nodeId, "input", bytes("key")))).toBe("channel_class_denied");
    await waitFor(() => rb.messages.length === 1);
    expect(rb.messages.map((m) => [m.class, text(m.data)])).toEqual([["fabric_control", "hello"]]);

    // a authorizes input towards b, but b has not: b refuses what arrives.
    a.authorize(b.nodeId, ["input"]);
    await a.send(b.nodeId, "input", bytes("early"));
    const refused = await rb.event("refused");
    expect(refused).toMatchObject({ node_id: a.nodeId, class: "input", reason: "channel_class_denied" });
    expect(b.stats().classes.input.refused).toBe(1);

    b.authorize(a.nodeId, ["input"]);
    await a.send(b.nodeId, "input", bytes("k1"));
    await waitFor(() => rb.messages.some((m) => text(m.data) === "k1"));
    expect(rb.messages.map((m) => text(m.data))).toEqual(["hello", "k1"]);
    expect(await refusal(a.send(b.nodeId, "no_such_class" as never, bytes("x")))).toBe("channel_class_denied");
    rb.stop();
  });

  test("render keeps only the latest frame; telemetry drops when its queue is full", async () => {
    const { a, b, rb } = await pairAllowing("render", "telemetry");
    const frame = new Uint8Array(256 * 1024);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => a.send(b.nodeId, "render", frame.fill(i % 250, 0, 1))));
    const telemetry = await Promise.all(Array.from({ length: 400 }, () => a.send(b.nodeId, "telemetry", new Uint8Array(64 * 1024))));
    const stats = a.stats();
    expect(results.filter((r) => !r).length).toBe(stats.classes.render.drops);
    expect(stats.classes.render.drops).toBeGreaterThan(0);
    expect(telemetry.filter((r) => !r).length).toBe(stats.classes.telemetry.drops);
    expect(stats.classes.telemetry.drops).toBeGreaterThan(0);
    const renders = await waitFor(() => {
      const got = rb.messages.filter((m) => m.class === "render");
      return got.length === 200 - stats.classes.render.drops ? got : null;
    });
    // The last frame sent is always delivered.
    expect(renders.at(-1)!.data[0]).toBe(199 % 250);
    rb.stop();
  });

  test("vpn_packet rides datagrams and is delivered when authorized", async () => {
    const { a, b, rb } = await pairAllowing("vpn_packet");
    await a.send(b.nodeId, "vpn_packet", new Uint8Array(1200));
    await a.send(b.nodeId, "vpn_packet", new Uint8Array(60_000)); // larger than a datagram: dropped
    await waitFor(() => rb.messages.length === 1);
    await waitFor(() => a.stats().classes.vpn_packet.drops === 1);
    expect(rb.messages[0]).toMatchObject({ class: "vpn_packet", from: a.nodeId });
    expect(rb.messages[0].data.length).toBe(1200);
    rb.stop();
  });

  test("datagrams of a class the receiver withdraws are refused from then on, reported once, and delivered again once allowed", async () => {
    const { a, b, rb } = await pairAllowing("vpn_packet");
    await a.send(b.nodeId, "vpn_packet", bytes("first"));
    await waitFor(() => rb.messages.length === 1);

    // b withdraws the class on the live connection; a still sends.
    b.authorize(a.nodeId, []);
    for (let i = 0; i < 5; i++) await a.send(b.nodeId, "vpn_packet", bytes(`refused ${i}`));
    await waitFor(() => b.stats().classes.vpn_packet.refused === 5);
    // Events arrive in order: once a later refusal (of input) is recorded, every vpn_packet refusal event is too.
    a.authorize(b.nodeId, ["vpn_packet", "input"]);
    await a.send(b.nodeId, "input", bytes("marker"));
    await rb.event("refused", (e) => e.class === "input");
    const refusals = () => rb.events.filter((e) => e.type === "refused" && e.class === "vpn_packet");
    expect(refusals()).toHaveLength(1);
    expect(refusals()[0]).toMatchObject({ node_id: a.nodeId, reason: "channel_class_denied" });

    b.authorize(a.nodeId, ["vpn_packet"]);
    await a.send(b.nodeId, "vpn_packet", bytes("again"));
    await waitFor(() => rb.messages.length === 2);
    expect(rb.messages.map((m) => text(m.data))).toEqual(["first", "again"]);
    expect(b.stats().classes.vpn_packet.refused).toBe(5);
    rb.stop();
  });
});

describe("sending through the addon", () => {
  test("a back-pressured class queues every message in call order and delivers each intact", async () => {
    const { a, b, rb } = await pairAllowing("file_transfer");
    // 200 messages of 64 KiB: far past file_transfer's depth of 64, so later sends wait for room.
    const message = (i: number) => new Uint8Array(64 * 1024).fill(i % 251);
    const sent = await Promise.all(Array.from({ length: 200 }, (_, i) => a.send(b.nodeId, "file_transfer", message(i))));
    expect(sent.every(Boolean)).toBe(true);
    const got = await waitFor(() => (rb.messages.length === 200 ? rb.messages : null), { timeoutMs: 30_000 });
    expect(got.map((m) => m.data[0])).toEqual(Array.from({ length: 200 }, (_, i) => i % 251));
    // Received buffers are the messages' own bytes (handed over without a copy), not views into a shared one.
    expect(got.every((m, i) => m.data.length === 64 * 1024 && m.data[m.data.length - 1] === i % 251)).toBe(true);
    expect(a.stats().classes.file_transfer.drops).toBe(0);
    rb.stop();
  });

  test("sendMany queues a batch in order in one call, reports QoS drops, and refuses an unauthorized class whole", async () => {
    const { a, b, rb } = await pairAllowing("file_transfer", "telemetry");

    expect(await refusal(a.sendMany(b.nodeId, "input", [bytes("x"), bytes("y")]))).toBe("channel_class_denied");
    const batch = Array.from({ length: 150 }, (_, i) => bytes(`part-${i}`));
    expect(await a.sendMany(b.nodeId, "file_transfer", batch)).toEqual({ queued: 150, dropped: 0 });
    const parts = await waitFor(() => {
      const got = rb.messages.filter((m) => m.class === "file_transfer");
      return got.length === 150 ? got : null;
    });
    expect(parts.map((m) => text(m.data))).toEqual(batch.map(text));

    // telemetry drops when its queue is full: the batch says how many, and so do the counters.
    const burst = await a.sendMany(
      b.nodeId,
      "telemetry",
      Array.from({ length: 600 }, () => new Uint8Array(64 * 1024)),
    );
    expect(burst.queued + burst.dropped).toBe(600);
    expect(burst.dropped).toBeGreaterThan(0);
    expect(a.stats().classes.telemetry.drops).toBe(burst.dropped);
    expect(rb.messages.some((m) => m.class === "input")).toBe(false);
    rb.stop();
  });
});

describe("relays", () => {
  async function line(ca: TestCa, n: number) {
    const nodes = [];
    for (let i = 0; i < n; i++) nodes.push(await node(ca));
    for (let i = 0; i + 1 < n; i++) {
      await nodes[i].connect(nodes[i + 1].nodeId, nodes[i + 1].address);
    }
    return nodes;
  }

  function allow(pairs: [Mesh, Mesh][], classes: Parameters<Mesh["authorize"]>[1]) {
    for (const [x, y] of pairs) {
      x.authorize(y.nodeId, classes);
      y.authorize(x.nodeId, classes);
    }
  }

  test("one and two relays splice streams and datagrams end to end; the origin is preserved", async () => {
    const ca = await testCa();
    const [a, r1, r2, c] = await line(ca, 4);
    const rc = new MeshRecorder(c);
    const ra = new MeshRecorder(a);
    allow(
      [
        [a, r1],
        [r1, r2],
        [r2, c],
        [a, c],
        [a, r2],
      ],
      ["input", "file_transfer", "vpn_packet"],
    );
    const hour = new Date(Date.now() + 3_600_000);
    r1.setRelay(true);
    r2.setRelay(true);
    r1.setRelayLeases(
      [
        [a.nodeId, c.nodeId],
        [a.nodeId, r2.nodeId],
      ],
      hour,
    );
    r2.setRelayLeases([[a.nodeId, c.nodeId]], hour);
    a.setRoute(c.nodeId, [r1.nodeId, r2.nodeId]);
    c.setRoute(a.nodeId, [r2.nodeId, r1.nodeId]);
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
    await a.send(c.nodeId, "input", bytes("via two relays"));
    await a.send(c.nodeId, "file_transfer", big);
    await a.send(c.nodeId, "vpn_packet", new Uint8Array(1000));
    await waitFor(() => rc.messages.length === 3, { timeoutMs: 10_000 });
    const byClass = Object.fromEntries(rc.messages.map((m) => [m.class, m]));
    expect(byClass.input).toMatchObject({ from: a.nodeId, via: r2.nodeId });
    expect(text(byClass.input.data)).toBe("via two relays");
    expect(Buffer.compare(byClass.file_transfer.data, Buffer.from(big))).toBe(0);
    expect(byClass.vpn_packet.from).toBe(a.nodeId);
    expect(r1.stats().relay.bytes).toBeGreaterThan(big.length);
    expect(r2.stats().relay.datagrams).toBe(1);

    await c.send(a.nodeId, "input", bytes("reply"));
    await waitFor(() => ra.messages.some((m) => text(m.data) === "reply"));
    expect(ra.messages.find((m) => text(m.data) === "reply")).toMatchObject({ from: c.nodeId, via: r1.nodeId });

    // One relay: a → r1 → ... c is two hops from r1, so route a → r2 needs one relay.
    const rr2 = new MeshRecorder(r2);
    a.setRoute(r2.nodeId, [r1.nodeId]);
    await a.send(r2.nodeId, "input", bytes("one relay"));
    await waitFor(() => rr2.messages.some((m) => text(m.data) === "one relay"));
    expect(rr2.messages[0]).toMatchObject({ from: a.nodeId, via: r1.nodeId });
    for (const r of [rc, ra, rr2]) r.stop();
  });

  test("a node forwards only as a relay, with a current lease for the two end nodes and the class on both links", async () => {
    const ca = await testCa();
    const [a, r, c] = await line(ca, 3);
    const rr = new MeshRecorder(r);
    const rc = new MeshRecorder(c);
    allow(
      [
        [a, r],
        [r, c],
        [a, c],
      ],
      ["input"],
    );
    a.setRoute(c.nodeId, [r.nodeId]);
    const reasons = () => rr.events.filter((e) => e.type === "refused").map((e) => (e as { reason: string }).reason);
    await a.send(c.nodeId, "input", bytes("not a relay"));
    await waitFor(() => reasons().length === 1);
    r.setRelay(true);
    await a.send(c.nodeId, "input", bytes("no lease"));
    await waitFor(() => reasons().length === 2);
    r.setRelayLeases([[a.nodeId, c.nodeId]], new Date(Date.now() - 1000));
    await a.send(c.nodeId, "input", bytes("expired lease"));
    await waitFor(() => reasons().length === 3);
    r.setRelayLeases([[c.nodeId, a.nodeId]], new Date(Date.now() + 60_000));
    a.authorize(c.nodeId, ["input", "clipboard"]);
    await a.send(c.nodeId, "clipboard", bytes("class not on the relay's links"));
    await waitFor(() => reasons().length === 4);
    expect(reasons()).toEqual(["policy_denied", "relay_lease_missing", "relay_lease_missing", "channel_class_denied"]);
    expect(r.stats().relay.refused).toBe(4);
    expect(rc.messages).toEqual([]);
    await a.send(c.nodeId, "input", bytes("leased"));
    await waitFor(() => rc.messages.length === 1);
    expect(text(rc.messages[0]!.data)).toBe("leased");
    rr.stop();
    rc.stop();
  });

  test("when the relay closes, the route moves to another relay on the next message", async () => {
    const ca = await testCa();
    const [a, r1, r2, c] = [await node(ca), await node(ca), await node(ca), await node(ca)];
    for (const r of [r1, r2]) {
      await a.connect(r.nodeId, r.address);
      await c.connect(r.nodeId, r.address);
      r.setRelay(true);
      r.setRelayLeases([[a.nodeId, c.nodeId]], new Date(Date.now() + 60_000));
    }
    allow(
      [
        [a, r1],
        [a, r2],
        [c, r1],
        [c, r2],
        [a, c],
      ],
      ["input"],
    );
    const rc = new MeshRecorder(c);
    a.setRoute(c.nodeId, [r1.nodeId]);
    await a.send(c.nodeId, "input", bytes("1"));
    await waitFor(() => rc.messages.length === 1);
    await r1.close();
    await waitFor(() => !a.peers().includes(r1.nodeId));
    expect(await refusal(a.send(c.nodeId, "input", bytes("lost")))).toBe("network_unreachable");
    a.setRoute(c.nodeId, [r2.nodeId]);
    await a.send(c.nodeId, "input", bytes("2"));
    await waitFor(() => rc.messages.length === 2);
    expect(rc.messages.map((m) => [text(m.data), m.via])).toEqual([
      ["1", r1.nodeId],
      ["2", r2.nodeId],
    ]);
    rc.stop();
  });
});
