/**
 * VPN connections with real agents and a real control plane, in network
 * namespaces the test makes and removes (fixtures/vpn-agents.ts on the lab
 * of fixtures/netns.ts `vpnAgentLab`): two candidate owners
 * (`vpn-connector`) and a client (`vpn-client`), each a real
 * `rap-node-agent run` in its own namespace, the office behind its WireGuard
 * gateway. Proves: ping and a TCP flow from the client into the office
 * through the owner's WireGuard; a denied range unreachable (refused at the
 * egress); another organization's client gets no route, and packets it
 * forces at the owner (by a hand-made route through the owner's kernel, or as
 * forged `vpn_packet` frames over the mesh with its own valid certificate)
 * are dropped there and counted; internet egress (full tunnel) out of
 * the owner's uplink with its address as source, only while the policy allows
 * it, and the owner denies the internet to a client's own identity when it
 * does not; DNS routes: names under the connection's suffix resolved by the office's
 * DNS server through the tunnel, others by the host's resolver; SIGKILL of the owner: the standby carries traffic again within a
 * measured bound; SIGSTOP past the lease, then SIGCONT; the owner cut off
 * from the control plane stops on its own before its lease ends. Every run's
 * recorded facts (the control plane's lease history, each agent's forwarding
 * file) go through the history checker: never two owners, with no
 * tolerance (every recorder here reads the same host clock), the paused run
 * included: its owner's pump closed the epoch at the lease deadline by
 * itself, and the keeper records the stop there when it wakes.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { AGENT_LAB, vpnLabUnavailable } from "../../fixtures/netns.ts";
import { join } from "node:path";
import { scriptArgv } from "../../core/runtime/index.ts";
import { CLIENT_RESOLVER_ANSWER, type LabAgent, VpnAgents } from "../../fixtures/vpn-agents.ts";
import { VpnPeer } from "../../fixtures/vpn-path.ts";
import { ROOT } from "../../fixtures/process.ts";
import { runAgent } from "../../fixtures/agent-process.ts";
import { DEFAULT_DNS_LISTEN } from "./dns-stub.ts";
import { waitFor } from "../../fixtures/wait.ts";
import { checkVpnHistory } from "../../core/vpn/history.ts";
import { VPN_LEASE_TTL_MS } from "../../core/vpn/lease-timing.ts";
import { readVpnHistory, vpnHistoryFile } from "./history-file.ts";

setDefaultTimeout(240_000);

const unavailable = vpnLabUnavailable();
if (unavailable) console.warn(`vpn.e2e.test.ts skipped: ${unavailable}`);

let run: VpnAgents;

beforeAll(async () => {
  if (!unavailable) run = await VpnAgents.start();
}, 240_000);

afterAll(async () => {
  await run?.close(!!process.env.VPN_E2E_LOGS);
});

const office = () => run.ping(AGENT_LAB.office);

/**
 * A node's agent stopped and a test process with its identity in its place (fixtures/vpn-peer.ts `bindAs`): a mesh
 * channel to the owner, a TUN device `forge0` with `address`, `ranges` routed into it and sent to the owner under the
 * lease's current epoch, whatever the node's snapshot allows. What the owner does with it is the owner's enforcement.
 */
async function forgeAs(node: LabAgent, owner: LabAgent, address: string, ranges: string[]): Promise<VpnPeer> {
  node.proc.kill("SIGTERM");
  await node.proc.exited;
  const forger = new VpnPeer(node.nodeId, run.lab.lab.start(node.name, scriptArgv(join(ROOT, "fixtures", "vpn-peer.ts"))));
  const underlay = AGENT_LAB.underlay as Record<string, string>;
  await forger.call("bindAs", { stateDir: node.stateDir, listen: `${underlay[node.name]}:7444` });
  await forger.call("connect", { nodeId: owner.nodeId, address: `${underlay[owner.name]}:7443` });
  await forger.call("hello", { nodeId: owner.nodeId, roles: ["vpn-client"], peerRoles: ["vpn-connector"] });
  await forger.call("authorize", { nodeId: owner.nodeId });
  await forger.call("createTun", { options: { name: "forge0", ipv4: [`${address}/32`] } });
  await run.inNs(node.name, ["ip", "link", "set", "forge0", "up"]);
  for (const range of ranges) await run.inNs(node.name, ["ip", "route", "replace", range, "dev", "forge0"]);
  await forger.call("attach", { connection: run.connectionId, device: "forge0" });
  await forger.call("setRoutes", { connection: run.connectionId, routes: ranges.map((r) => [r, owner.nodeId]) });
  await forger.call("setEpoch", { connection: run.connectionId, epoch: (await run.lease()).epoch });
  return forger;
}

describe.skipIf(!!unavailable)("VPN connections with real agents in network namespaces", () => {
  test("the owner brings up WireGuard; the client reaches the office by ping and TCP; a denied range is refused at the egress", async () => {
    const owner = await waitFor(() => run.owner(), { timeoutMs: 60_000, what: "an owner for the connection" });
    await waitFor(office, { timeoutMs: 90_000, what: "ping from the client into the office" });
    expect(owner.output()).toContain('"msg":"vpn forwarding"');
    // The standby prepares nothing: no WireGuard interface in its namespace.
    const standby = [...run.agents.values()].find((a) => a.name.startsWith("owner") && a !== owner)!;
    expect(await run.hasTunnel(standby.name)).toBe(false);
    // A TCP flow: iperf3 for 2 s through the tunnel.
    const server = run.lab.lab.start("office", ["iperf3", "-s", "-1", "-B", AGENT_LAB.office]);
    await waitFor(async () => (await run.inNs("office", ["ss", "-ltn"])).out.includes(":5201"), { timeoutMs: 10_000, what: "iperf3 listening" });
    const flow = await run.inNs("client", ["iperf3", "-c", AGENT_LAB.office, "-t", "2", "-J"]);
    expect(flow.status).toBe(0);
    const bps = JSON.parse(flow.out).end.sum_received.bits_per_second as number;
    console.log(`TCP into the office through the owner's WireGuard: ${(bps / 1e6).toFixed(0)} Mbit/s`);
    expect(bps).toBeGreaterThan(0);
    await server.exited;
    // The denied address answers the gateway, but not the client: the owner's egress filter drops it.
    expect(await run.ping(AGENT_LAB.officeDenied, "gateway")).toBe(true);
    expect(await run.ping(AGENT_LAB.officeDenied)).toBe(false);
    // The owner's pump counted it (`rap-node-agent status`): dropped by the filter, not lost on the way.
    const counted = await waitFor(
      async () => {
        const c = await run.counters(owner);
        return c && (c.denied ?? 0) > 0 ? c : null;
      },
      { timeoutMs: 15_000, what: "the owner's denied counter" },
    );
    expect(counted.written_packets).toBeGreaterThan(0);
  });

  test("a policy change and a new secret follow from the snapshot: the filter changes, the tunnel is rebuilt, the client keeps its adapter", async () => {
    const owner = (await run.owner())!;
    const epoch = (await run.lease()).epoch;
    const adapterBefore = (await run.inNs("client", ["ip", "-o", "link", "show"])).out.match(/vpc-\w+/)?.[0];
    expect(adapterBefore).toBeDefined();
    // The denied range is lifted and the WireGuard configuration given again (same keys: the secret version moves).
    await run.cluster.api("PUT", `/api/v1/organizations/${run.orgId}/vpn-connections/${run.connectionId}`, {
      ...run.config,
      routing: { ...run.config.routing, denied_cidrs: [] },
      secret: { ...run.lab.secret, tunnel_addresses: [`${AGENT_LAB.wgOwner}/32`] },
    });
    await waitFor(() => run.ping(AGENT_LAB.officeDenied), { timeoutMs: 30_000, what: "the formerly denied address through the tunnel" });
    await waitFor(() => owner.output().includes("vpn tunnel configuration changed; rebuilding it"), { timeoutMs: 30_000, what: "the tunnel rebuilt" });
    await waitFor(office, { timeoutMs: 30_000, what: "the office through the rebuilt tunnel" });
    // Same owner, same epoch, same client adapter: nothing was reconfigured but what changed.
    expect((await run.lease()).epoch).toBe(epoch);
    expect((await run.inNs("client", ["ip", "-o", "link", "show"])).out).toContain(adapterBefore!);
    // The denied range again, for the tests that follow.
    await run.cluster.api("PUT", `/api/v1/organizations/${run.orgId}/vpn-connections/${run.connectionId}`, run.config);
    await waitFor(async () => !(await run.ping(AGENT_LAB.officeDenied)), { timeoutMs: 30_000, what: "the denied range refused again" });
  });

  test("another organization's client gets no route into the connection; packets it forces at the owner are dropped and counted there", async () => {
    const owner = (await run.owner())!;
    const other = run.agents.get("client2")!;
    // Its agent runs with its own vpn-client role and tunnel address, but its snapshot names no connection: no adapter, no route.
    const status = await waitFor(() => run.vpnStatus(other), { timeoutMs: 30_000, what: "client2's status" });
    expect(status.client).toEqual({});
    expect((await run.inNs("client2", ["ip", "-o", "link", "show"])).out).not.toContain("vpc-");
    expect((await run.inNs("client2", ["ip", "route", "get", AGENT_LAB.office])).status).not.toBe(0);
    // It forces the office's range at the owner by hand, from its own underlay address, its own tunnel address and the
    // first organization's client's address (spoofed). The owner's kernel would forward all of it into the tunnel; the
    // connection's rules drop it (`foreign`), and nothing reaches the office.
    const before = (await run.egressCounters(owner))!;
    expect(before).not.toBeNull();
    await run.inNs("client2", ["ip", "route", "add", AGENT_LAB.officeCidr, "via", AGENT_LAB.underlay[owner.name as "ownerA" | "ownerB"]]);
    for (const address of [AGENT_LAB.client2Tun, AGENT_LAB.clientTun]) await run.inNs("client2", ["ip", "addr", "add", `${address}/32`, "dev", "lo"]);
    const forced = [[], ["-I", AGENT_LAB.client2Tun], ["-I", AGENT_LAB.clientTun]];
    // (the addresses stay on its loopback for the mesh forgery below)
    for (const source of forced)
      expect((await run.inNs("client2", ["ping", "-c", "2", "-i", "0.2", "-W", "1", ...source, AGENT_LAB.office])).status).not.toBe(0);
    const after = (await run.egressCounters(owner))!;
    console.log(`another organization's forced packets dropped at the owner: ${after.foreign - before.foreign}`);
    expect(after.foreign - before.foreign).toBeGreaterThanOrEqual(forced.length * 2);
    await run.inNs("client2", ["ip", "route", "del", AGENT_LAB.officeCidr]);
    // Through the mesh: client2's node, with its own valid certificate, forges `vpn_packet` frames naming the first
    // organization's connection under its current epoch (its agent stopped, a test process with its identity in its
    // place). The mesh admits it (a vpn-client and a vpn-connector may exchange packets); the owner's pump refuses every
    // one, because no source it may send from routes back to it (`refused_source`), and nothing reaches the office.
    const forger = await forgeAs(other, owner, AGENT_LAB.client2Tun, [AGENT_LAB.officeCidr]);
    const pumpBefore = (await run.counters(owner))!;
    const sent = async () => (await forger.stats()).connections[run.connectionId]?.sent_packets ?? 0;
    // Its own tunnel address, and the first organization's client's (spoofed).
    for (const source of [
      ["-I", AGENT_LAB.client2Tun],
      ["-I", AGENT_LAB.clientTun],
    ]) {
      expect((await run.inNs("client2", ["ping", "-c", "2", "-i", "0.2", "-W", "1", ...source, AGENT_LAB.office])).status).not.toBe(0);
    }
    expect(await sent()).toBeGreaterThanOrEqual(4);
    const pumpAfter = await waitFor(
      async () => {
        const c = await run.counters(owner);
        return c && (c.refused_source ?? 0) - (pumpBefore.refused_source ?? 0) >= 4 ? c : null;
      },
      { timeoutMs: 15_000, what: "the owner's pump refusing the forged packets (refused_source)" },
    );
    console.log(
      `another organization's node forging vpn_packet frames: ${await sent()} sent, ${(pumpAfter.refused_source ?? 0) - (pumpBefore.refused_source ?? 0)} refused by the owner's pump (refused_source)`,
    );
    // The connection's own client is unaffected.
    await waitFor(office, { timeoutMs: 10_000, what: "the first organization's client still through" });
    await forger.call("close").catch(() => undefined);
  });

  test("internet egress: only while the policy allows it, the client reaches an internet host through the owner's uplink, as the owner's address", async () => {
    const owner = (await run.owner())!;
    const uplink = AGENT_LAB.uplink[owner.name as "ownerA" | "ownerB"];
    // The owner reaches the internet host; the client (split tunnel, no way out of its underlay) does not.
    expect(await run.ping(AGENT_LAB.internetHost, owner.name)).toBe(true);
    expect(await run.ping(AGENT_LAB.internetHost)).toBe(false);
    await run.configure({ internet_egress: true });
    await waitFor(() => run.ping(AGENT_LAB.internetHost), { timeoutMs: 30_000, what: "the internet host through the owner (full tunnel)" });
    // The internet host sees the owner's uplink address as the source (source NAT), never the client's tunnel address.
    const server = run.lab.lab.start("internet", ["iperf3", "-s", "-1", "-J", "-B", AGENT_LAB.internetHost]);
    const seen = new Response(server.stdout).text();
    await waitFor(async () => (await run.inNs("internet", ["ss", "-ltn"])).out.includes(":5201"), { timeoutMs: 10_000, what: "iperf3 listening" });
    expect((await run.inNs("client", ["iperf3", "-c", AGENT_LAB.internetHost, "-t", "1"])).status).toBe(0);
    await server.exited;
    const connected = JSON.parse(await seen).start.connected[0] as { remote_host: string };
    console.log(`internet egress: the internet host saw ${connected.remote_host} (the owner's uplink is ${uplink})`);
    expect(connected.remote_host).toBe(uplink);
    // Denied ranges still apply under a full tunnel; the office still answers.
    expect(await run.ping(AGENT_LAB.officeDenied)).toBe(false);
    expect(await run.ping(AGENT_LAB.office)).toBe(true);
    expect((await run.egressCounters(owner))!.internet).toBeGreaterThan(0);
    // Off again: the client's full-tunnel routes go and the owner's rules block anything but the allowed ranges.
    await run.configure({});
    await waitFor(async () => !(await run.ping(AGENT_LAB.internetHost)), { timeoutMs: 30_000, what: "the internet host unreachable again" });
    await waitFor(office, { timeoutMs: 10_000, what: "the office after internet egress was turned off" });
  });

  test("DNS routes: names under the suffix go to the office's server through the tunnel, others to the host's resolver; changes follow", async () => {
    const officeDns = await run.dnsServer("office", AGENT_LAB.officeDns, 53, AGENT_LAB.office, AGENT_LAB.officeSuffix);
    const hostResolver = await run.dnsServer("client", "127.0.0.1", 5300, CLIENT_RESOLVER_ANSWER);
    const client = run.agents.get("client")!;
    const routes = [{ suffix: AGENT_LAB.officeSuffix, servers: [AGENT_LAB.officeDns] }];
    await run.configure({ dns_routes: routes });
    // The stub shows the route in force (rap-node-agent status) and logs it.
    await waitFor(async () => (await run.vpnStatus(client))?.dns?.routes.some((r) => r.suffix === AGENT_LAB.officeSuffix) ?? false, {
      timeoutMs: 30_000,
      what: "the DNS route in the client's status",
    });
    expect(client.output()).toContain('"msg":"vpn dns routes in force"');
    const name = `intranet.${AGENT_LAB.officeSuffix}`;
    expect(await run.resolve("client", DEFAULT_DNS_LISTEN, name)).toBe(AGENT_LAB.office);
    expect(await run.resolve("client", DEFAULT_DNS_LISTEN, "www.example.org")).toBe(CLIENT_RESOLVER_ANSWER);
    // Over TCP too (a resolver's retry after a truncated answer), through the tunnel as well.
    expect(await run.resolve("client", DEFAULT_DNS_LISTEN, `tcp.${AGENT_LAB.officeSuffix}`, "tcp")).toBe(AGENT_LAB.office);
    expect(officeDns()).toContain(`query tcp.${AGENT_LAB.officeSuffix} from ${AGENT_LAB.clientTun} (tcp)`);
    // The office's server saw the routed name, from the client's tunnel address (through the adapter); never the other one.
    expect(officeDns()).toContain(`query ${name} from ${AGENT_LAB.clientTun} (udp)`);
    expect(officeDns()).not.toContain("www.example.org");
    expect(hostResolver()).toContain("query www.example.org");
    expect(hostResolver()).not.toContain(name);
    const status = (await waitFor(
      async () => {
        const dns = (await run.vpnStatus(client))?.dns;
        return dns && dns.routes[0]!.queries >= 1 && dns.other_queries >= 1 ? dns : null;
      },
      { timeoutMs: 15_000, what: "the stub's counters in the status" },
    ))!;
    expect(status.routes[0]).toMatchObject({ suffix: AGENT_LAB.officeSuffix, servers: [AGENT_LAB.officeDns], connection_id: run.connectionId, failures: 0 });
    // The plain `rap-node-agent status` names the route in force too.
    const text = await runAgent(["status", "--state-dir", client.stateDir]);
    expect(text.output).toContain(`dns ${DEFAULT_DNS_LISTEN}: ${AGENT_LAB.officeSuffix} → ${AGENT_LAB.officeDns}`);
    // The route removed by a new snapshot: the same name now goes to the host's resolver; the stub kept running.
    await run.configure({});
    await waitFor(async () => (await run.resolve("client", DEFAULT_DNS_LISTEN, name)) === CLIENT_RESOLVER_ANSWER, {
      timeoutMs: 30_000,
      what: "the suffix no longer routed",
    });
    expect(client.output().match(/"msg":"vpn dns stub listening"/g)?.length).toBe(1);
  });

  test("SIGKILL of the owner: the standby carries traffic again within a measured bound; never two owners", async () => {
    const owner = (await run.owner())!;
    const before = await run.lease();
    expect(before.standby_node_id).not.toBeNull();
    await run.kill(owner, before.epoch);
    await waitFor(office, { timeoutMs: 60_000, what: "ping into the office through the new owner" });
    const failoverS = (Date.now() - owner.killedAt!) / 1000;
    console.log(`failover after SIGKILL of the owner: traffic again ${failoverS.toFixed(1)} s after the kill (lease TTL ${VPN_LEASE_TTL_MS / 1000} s)`);
    const after = await run.lease();
    expect(after.owner_node_id).toBe(before.standby_node_id);
    expect(after.epoch).toBeGreaterThan(before.epoch);
    // The rest of the lease (at most one TTL) + the standby's first renewal and tunnel start; timings are measured by
    // `scripts/bench vpn`, this bound only catches a takeover that did not happen at the expiry (ten TTLs).
    expect(failoverS).toBeLessThan((10 * VPN_LEASE_TTL_MS) / 1000);
    // The killed agent left no tunnel behind: its wireguard-go ended with it.
    await waitFor(async () => !(await run.hasTunnel(owner.name)), { timeoutMs: 10_000, what: "the killed owner's WireGuard interface gone" });
    // …and no nftables table: its guard process deleted it when the agent's pipe closed.
    await waitFor(async () => !(await run.hasEgressRules(owner.name)), { timeoutMs: 10_000, what: "the killed owner's nftables table gone" });
    expect(checkVpnHistory(await run.facts(), { toleranceMs: 0 })).toEqual([]);
  });

  test("SIGSTOP of the owner past its lease, then SIGCONT: the standby takes over, the old owner stops and takes its tunnel down", async () => {
    // The killed node comes back (same state): it becomes the standby.
    const back = run.restart([...run.agents.values()].find((a) => a.killedAt !== null)!);
    await waitFor(async () => (await run.lease()).standby_node_id === back.nodeId, { timeoutMs: 60_000, what: "the restarted node as standby" });
    const owner = (await run.owner())!;
    const before = await run.lease();
    const stoppedAt = Date.now();
    owner.proc.kill("SIGSTOP");
    await waitFor(office, { timeoutMs: 60_000, what: "ping into the office through the standby" });
    console.log(`failover after SIGSTOP of the owner: traffic again ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s after the stop`);
    const after = await run.lease();
    expect(after.owner_node_id).toBe(back.nodeId);
    expect(after.epoch).toBeGreaterThan(before.epoch);
    const resumedAt = Date.now();
    owner.proc.kill("SIGCONT");
    // On waking, the old owner stops on its own (its deadline passed) and its renewal is refused; its tunnel goes down.
    await waitFor(async () => !(await run.hasTunnel(owner.name)), { timeoutMs: 15_000, what: "the resumed owner's WireGuard interface gone" });
    await waitFor(async () => !(await run.hasEgressRules(owner.name)), { timeoutMs: 15_000, what: "the resumed owner's nftables table gone" });
    const stop = readVpnHistory(vpnHistoryFile(owner.stateDir, run.clusterId)).find((e) => e.epoch === before.epoch && e.kind === "forward.stopped");
    expect(stop?.reason).toMatch(/cannot_renew|fenced/);
    console.log(`the resumed owner recorded its stop at its lease deadline, ${resumedAt - Date.parse(stop!.at)} ms before SIGCONT`);
    // The client still reaches the office through the new owner.
    await waitFor(office, { timeoutMs: 10_000, what: "ping after the old owner woke up" });
    const facts = await run.facts();
    // The control plane never had two owners: its lease facts alone pass.
    expect(checkVpnHistory(facts.filter((e) => e.kind.startsWith("lease.")))).toEqual([]);
    // The paused agent recorded its stop on waking, at the deadline its pump had closed the epoch at (held in Rust):
    // the whole run passes, with no tolerance.
    expect(Date.parse(stop!.at)).toBeLessThan(resumedAt);
    expect(checkVpnHistory(facts, { toleranceMs: 0 })).toEqual([]);
  });

  test("the owner cut off from the control plane stops on its own before its lease ends; the standby takes over", async () => {
    const owner = (await run.owner())!;
    await waitFor(
      async () => {
        const l = await run.lease();
        return l.standby_node_id !== null && l.standby_node_id !== owner.nodeId;
      },
      { timeoutMs: 60_000, what: "a standby again" },
    );
    const before = await run.lease();
    const cutAt = Date.now();
    await run.cutOff(owner);
    await waitFor(office, { timeoutMs: 5_000, what: "traffic still through the owner right after the cut" });
    const stop = await waitFor(
      () => readVpnHistory(vpnHistoryFile(owner.stateDir, run.clusterId)).find((e) => e.kind === "forward.stopped" && e.epoch === before.epoch),
      { timeoutMs: 30_000, what: "the cut-off owner's own stop" },
    );
    expect(stop.reason).toBe("cannot_renew");
    await waitFor(async () => (await run.lease()).epoch > before.epoch, { timeoutMs: 30_000, what: "the lease granted to the standby" });
    await waitFor(office, { timeoutMs: 30_000, what: "ping through the standby" });
    const recoveredS = (Date.now() - cutAt) / 1000;
    const facts = (await run.facts()).filter((e) => e.epoch >= before.epoch);
    const end = facts.find((e) => e.epoch === before.epoch && (e.kind === "lease.expired" || e.kind === "lease.fenced"));
    expect(end).toBeDefined();
    const marginMs = Date.parse(end!.at) - Date.parse(stop.at);
    console.log(
      `cut off: the owner stopped on its own ${((Date.parse(stop.at) - cutAt) / 1000).toFixed(1)} s after the cut, ${marginMs} ms before its lease ended; traffic through the standby ${recoveredS.toFixed(1)} s after the cut`,
    );
    // It stopped before the control plane could give the connection to anyone else.
    expect(marginMs).toBeGreaterThan(0);
    expect(checkVpnHistory(facts, { toleranceMs: 0 })).toEqual([]);
  });

  test("draining the owner hands over to the standby: stop, release, the standby's grant at once; the interruption is measured", async () => {
    // The node cut off in the last test comes back and becomes the standby.
    const cut = [...run.agents.values()].find((a) => a.bridge.exitCode !== null)!;
    await run.reconnect(cut);
    const owner = (await run.owner())!;
    await waitFor(async () => (await run.lease()).standby_node_id === cut.nodeId, { timeoutMs: 60_000, what: "the reconnected node as standby" });
    await waitFor(office, { timeoutMs: 10_000, what: "traffic before the drain" });
    const before = await run.lease();
    const answers = async () => (await run.inNs("client", ["ping", "-c", "1", "-W", "0.3", AGENT_LAB.office])).status === 0;
    const drainedAt = Date.now();
    await run.cluster.api("POST", `/api/v1/clusters/${run.clusterId}/nodes/${owner.nodeId}/drain`);
    // Pings back to back until the new owner answers; the longest time without an answer is the interruption.
    let lastAnswer = drainedAt;
    let longestGapMs = 0;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ok = await answers();
      const now = Date.now();
      if (ok) {
        longestGapMs = Math.max(longestGapMs, now - lastAnswer);
        lastAnswer = now;
        if ((await run.lease()).owner_node_id === cut.nodeId && now - drainedAt > 500) break;
      }
      if (now > deadline) throw new Error("no answer through the standby within 60 s of the drain");
    }
    const after = await run.lease();
    expect(after.epoch).toBe(before.epoch + 1);
    const facts = (await run.facts()).filter((e) => e.epoch >= before.epoch);
    expect(facts.find((e) => e.kind === "lease.released" && e.epoch === before.epoch)).toBeDefined();
    const stopped = facts.find((e) => e.kind === "forward.stopped" && e.epoch === before.epoch && e.node_id === owner.nodeId);
    expect(stopped?.reason).toBe("released");
    console.log(
      `drain: longest time without an answer ${(longestGapMs / 1000).toFixed(1)} s (up to one renewal interval, TTL/4, + the standby's renewal and tunnel start)`,
    );
    expect(longestGapMs).toBeLessThan(15_000);
    await waitFor(async () => !(await run.hasTunnel(owner.name)), { timeoutMs: 10_000, what: "the drained owner's WireGuard interface gone" });
    await waitFor(async () => !(await run.hasEgressRules(owner.name)), { timeoutMs: 10_000, what: "the drained owner's nftables table gone" });
    expect(await run.hasEgressRules((await run.owner())!.name)).toBe(true);
    expect(checkVpnHistory(facts, { toleranceMs: 0 })).toEqual([]);
  });
  test("the owner decides what leaves, whatever a client sends: with internet egress off, the client's own node and address reach the office but not the internet", async () => {
    // Last: the client's agent is replaced by a test process with its identity that sends everything to the owner.
    const owner = (await run.owner())!;
    const client = run.agents.get("client")!;
    const forger = await forgeAs(client, owner, AGENT_LAB.clientTun, [AGENT_LAB.officeCidr, `${AGENT_LAB.internetHost}/32`]);
    await waitFor(office, { timeoutMs: 15_000, what: "the office from the client's identity through the test process" });
    const before = (await run.counters(owner))!;
    expect((await run.inNs("client", ["ping", "-c", "3", "-i", "0.2", "-W", "1", AGENT_LAB.internetHost])).status).not.toBe(0);
    const after = await waitFor(
      async () => {
        const c = await run.counters(owner);
        return c && (c.denied ?? 0) - (before.denied ?? 0) >= 3 ? c : null;
      },
      { timeoutMs: 15_000, what: "the owner's pump denying the internet host (denied)" },
    );
    console.log(`internet egress off: ${(after.denied ?? 0) - (before.denied ?? 0)} packets to the internet host denied by the owner's pump`);
    await forger.call("close").catch(() => undefined);
  });
});
