/**
 * VPN data-path benchmark (run by `scripts/bench vpn [--quick|--failover-only]`; root).
 *
 * On the lab of fixtures/netns.ts with the path of fixtures/vpn-path.ts
 * (client TUN → mesh `vpn_packet` → egress TUN → WireGuard → office), each
 * run measures, alternating the order of path and baseline:
 *
 * - `tun_mesh_vs_veth`: iperf3 TCP from the client namespace to a server on
 *   the egress node's TUN address (client TUN → mesh → egress TUN), divided
 *   by iperf3 TCP between the same two namespaces over their plain veth pair.
 * - `office_via_wireguard_mbps`: iperf3 TCP into the office, through the mesh
 *   and then wireguard-go (userspace WireGuard, its own TUN hop and crypto).
 * - `pps_small_packets`: iperf3 UDP, 64-byte payloads, unlimited rate, from
 *   the client to the egress TUN address: packets per second received.
 * - `cpu_s_per_gbit`: CPU seconds of the two mesh/pump processes (client
 *   and egress, from /proc) per Gbit carried during the TCP run.
 * - `wireguard_go_vs_veth` (a reference, not ours): iperf3 TCP from the
 *   egress namespace to the gateway through the lab's wireguard-go tunnel,
 *   divided by the same two namespaces over their veth: what the userspace
 *   WireGuard this host has does on the same CPUs.
 * - `tun_mesh_vs_veth_jumbo`: `tun_mesh_vs_veth` again on a lab whose
 *   client ⇄ egress link has MTU 9000, both mesh endpoints bound with
 *   `maxUdpPayload` 8972 and TUN MTU `vpnTunMtu(8972)` (a data centre's or
 *   a cloud network's jumbo frames; the same veth baseline).
 *
 * - `failover_p50_s`, `failover_max_s`: SIGKILL of the connection's owner to
 *   the first ping answered through the new owner, over 5 kills, with real
 *   agents and a real control plane (vpn-failover.ts; the lease TTL of
 *   core/vpn/lease-timing.ts).
 * Writes docs/bench/vpn.json and docs/bench/vpn.md. `--failover-only` measures
 * only the failover and rewrites both files with the throughput figures of
 * the last full run kept as they were (their own date and command).
 */
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { LAB } from "../../fixtures/netns.ts";
import { CONNECTION, vpnPath, type VpnPath, type VpnPathOptions } from "../../fixtures/vpn-path.ts";
import { vpnTunMtu } from "../../crates/fabric-quic/vpn.ts";
import { waitFor } from "../../fixtures/wait.ts";
import { measureFailover } from "./vpn-failover.ts";
import { VPN_LEASE_TTL_MS } from "../../core/vpn/lease-timing.ts";

const ROOT = join(import.meta.dirname, "../..");
const quick = process.argv.includes("--quick");
const failoverOnly = process.argv.includes("--failover-only");
const RUNS = quick ? 1 : 5;
const SECONDS = quick ? 2 : 5;
const FLOOR = 0.15;
const AIM = 0.35;
const KILLS = 5;
const FAILOVER_AIM_S = 2;

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Starts a one-shot iperf3 server in `where` and runs the client in `from` (default the client namespace) once it listens. */
async function iperf(
  path: VpnPath,
  where: "egress" | "office" | "gateway",
  bind: string,
  clientArgs: string[],
  from: "client" | "egress" = "client",
): Promise<any> {
  const server = path.lab.start(where, ["iperf3", "-s", "-1", "-B", bind, "--rcv-timeout", "10000"]);
  try {
    return await waitFor(
      () => {
        const r = path.lab.attempt(from, ["iperf3", "-c", bind, "-t", String(SECONDS), "-J", "--connect-timeout", "3000", ...clientArgs]);
        if (r.status !== 0) return null;
        const result = JSON.parse(r.stdout);
        if (result.error) console.log(`iperf3 to ${bind}: ${result.error}`);
        return result.error ? null : result;
      },
      { timeoutMs: 30_000 + SECONDS * 1000, what: `iperf3 to ${bind}` },
    );
  } finally {
    server.kill();
    await server.exited;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, digits = 3) => Number(x.toFixed(digits));

interface Run {
  tun_mesh_mbps: number;
  veth_mbps: number;
  office_via_wireguard_mbps: number;
  pps_small_packets: number;
  cpu_s_per_gbit: number;
  wireguard_go_mbps: number;
  wireguard_veth_mbps: number;
}

interface TunRun {
  tun_mesh_mbps: number;
  veth_mbps: number;
  cpu_s_per_gbit: number;
}

/** TUN → mesh → TUN and the plain veth between the same namespaces, in alternating order. */
async function tunAndVeth(path: VpnPath, index: number): Promise<TunRun> {
  const pids = [path.client.proc.pid, path.egress.proc.pid];
  const measureTun = async () => {
    const cpuBefore = pids.map(cpuSeconds);
    const r = await iperf(path, "egress", LAB.egressTun, []);
    const cpu = pids.map(cpuSeconds).reduce((a, b, i) => a + b - cpuBefore[i]!, 0);
    const bits = (r.end.sum_received.bytes as number) * 8;
    return { mbps: (r.end.sum_received.bits_per_second as number) / 1e6, cpuPerGbit: cpu / (bits / 1e9) };
  };
  const measureVeth = async () => (await iperf(path, "egress", LAB.egressUnderlay, [])).end.sum_received.bits_per_second / 1e6;
  let tun: { mbps: number; cpuPerGbit: number };
  let veth: number;
  if (index % 2 === 0) {
    tun = await measureTun();
    veth = await measureVeth();
  } else {
    veth = await measureVeth();
    tun = await measureTun();
  }
  return { tun_mesh_mbps: round(tun.mbps, 0), veth_mbps: round(veth, 0), cpu_s_per_gbit: round(tun.cpuPerGbit, 2) };
}

async function oneRun(path: VpnPath, index: number): Promise<Run> {
  const tun = await tunAndVeth(path, index);
  const wireguard = (await iperf(path, "gateway", LAB.wgGateway, [], "egress")).end.sum_received.bits_per_second / 1e6;
  const wireguardVeth = (await iperf(path, "gateway", LAB.gatewayToEgress, [], "egress")).end.sum_received.bits_per_second / 1e6;
  const office = (await iperf(path, "office", LAB.office, [])).end.sum_received.bits_per_second / 1e6;
  const udp = await iperf(path, "egress", LAB.egressTun, ["-u", "-l", "64", "-b", "0"]);
  const sum = udp.end.sum;
  const pps = (sum.packets - sum.lost_packets) / sum.seconds;
  const run = {
    ...tun,
    office_via_wireguard_mbps: round(office, 0),
    pps_small_packets: round(pps, 0),
    wireguard_go_mbps: round(wireguard, 0),
    wireguard_veth_mbps: round(wireguardVeth, 0),
  };
  console.log(`run ${index + 1}/${RUNS}: ${JSON.stringify(run)}`);
  return run;
}

/** A lab path whose client may also reach the egress node's own TUN address (the TUN → mesh → TUN measurement). */
async function benchPath(options: VpnPathOptions = {}): Promise<VpnPath> {
  const path = await vpnPath(options);
  path.lab.run("client", ["ip", "route", "add", `${LAB.egressTun}/32`, "dev", "vpn0"]);
  await path.client.call("setRoutes", {
    connection: CONNECTION,
    routes: [
      [LAB.officeCidr, path.egress.nodeId],
      [`${LAB.egressTun}/32`, path.egress.nodeId],
    ],
  });
  await path.egress.call("setFilter", { connection: CONNECTION, allow: [LAB.officeCidr, `${LAB.egressTun}/32`], deny: [LAB.deniedCidr] });
  return path;
}

/** The throughput part of the report: one full (or quick) run's figures, with when and how they were measured. */
interface Throughput {
  date: string;
  duration_s: number;
  command: string;
  quick: boolean;
  host: { cpus: number; model: string; loadavg_1m: number };
  tun_mesh_vs_veth: number;
  pps_small_packets: number;
  cpu_s_per_gbit: number;
  office_via_wireguard_mbps: number;
  /** Absent in a report written before these were measured (`--failover-only` keeps what it finds). */
  wireguard_go_vs_veth?: number;
  tun_mesh_vs_veth_jumbo?: number;
  cpu_s_per_gbit_jumbo?: number;
  figures: { tun_mesh_vs_veth: { verdict: string; [field: string]: unknown }; [figure: string]: unknown };
  runs: Run[];
  jumbo?: typeof JUMBO & { runs: TunRun[] };
  counters_after: Record<string, unknown>;
}

const JUMBO = { underlayMtu: 9000, maxUdpPayload: 8972, mtu: vpnTunMtu(8972) };
const verdictOf = (x: number) => (x >= AIM ? "meets aim" : x >= FLOOR ? "meets floor, misses aim" : "misses floor");
const hostNow = () => ({ cpus: cpus().length, model: cpus()[0]?.model ?? "", loadavg_1m: round(loadavg()[0]!, 2) });

async function measureThroughput(): Promise<Throughput> {
  const started = Date.now();
  const runs: Run[] = [];
  let counters: Record<string, unknown> = {};
  const path = await benchPath();
  try {
    for (let i = 0; i < RUNS; i++) runs.push(await oneRun(path, i));
    counters = { client: await path.client.counters(), egress: await path.egress.counters() };
  } finally {
    await path.close();
  }
  const jumboRuns: TunRun[] = [];
  const jumbo = await benchPath(JUMBO);
  try {
    for (let i = 0; i < RUNS; i++) {
      jumboRuns.push(await tunAndVeth(jumbo, i));
      console.log(`jumbo run ${i + 1}/${RUNS}: ${JSON.stringify(jumboRuns.at(-1))}`);
    }
  } finally {
    await jumbo.close();
  }
  const ratios = runs.map((r) => r.tun_mesh_mbps / r.veth_mbps);
  const ratio = round(median(ratios));
  const jumboRatios = jumboRuns.map((r) => r.tun_mesh_mbps / r.veth_mbps);
  const jumboRatio = round(median(jumboRatios));
  const wireguardRatios = runs.map((r) => r.wireguard_go_mbps / r.wireguard_veth_mbps);
  const wireguardRatio = round(median(wireguardRatios));
  return {
    date: new Date().toISOString(),
    duration_s: Math.round((Date.now() - started) / 1000),
    command: `scripts/bench vpn${quick ? " --quick" : ""}`,
    quick,
    host: hostNow(),
    tun_mesh_vs_veth: ratio,
    pps_small_packets: median(runs.map((r) => r.pps_small_packets)),
    cpu_s_per_gbit: median(runs.map((r) => r.cpu_s_per_gbit)),
    office_via_wireguard_mbps: median(runs.map((r) => r.office_via_wireguard_mbps)),
    wireguard_go_vs_veth: wireguardRatio,
    tun_mesh_vs_veth_jumbo: jumboRatio,
    cpu_s_per_gbit_jumbo: median(jumboRuns.map((r) => r.cpu_s_per_gbit)),
    figures: {
      tun_mesh_vs_veth: { value: ratio, runs: ratios.map((r) => round(r)), floor: FLOOR, aim: AIM, verdict: verdictOf(ratio) },
      tun_mesh_vs_veth_jumbo: { value: jumboRatio, runs: jumboRatios.map((r) => round(r)), floor: FLOOR, aim: AIM, verdict: verdictOf(jumboRatio) },
      wireguard_go_vs_veth: { value: wireguardRatio, runs: wireguardRatios.map((r) => round(r)), reference: true },
    },
    runs,
    jumbo: { ...JUMBO, runs: jumboRuns },
    counters_after: counters,
  };
}

/** The last full run's throughput figures, from the report on disk (`--failover-only` keeps them). */
function previousThroughput(): Throughput {
  const old = JSON.parse(readFileSync(join(ROOT, "docs/bench/vpn.json"), "utf8"));
  const { failover_s: _failover, ...figures } = old.figures;
  return {
    date: old.date,
    duration_s: old.duration_s,
    command: old.command,
    quick: old.quick,
    host: old.host,
    tun_mesh_vs_veth: old.tun_mesh_vs_veth,
    pps_small_packets: old.pps_small_packets,
    cpu_s_per_gbit: old.cpu_s_per_gbit,
    office_via_wireguard_mbps: old.office_via_wireguard_mbps,
    wireguard_go_vs_veth: old.wireguard_go_vs_veth,
    tun_mesh_vs_veth_jumbo: old.tun_mesh_vs_veth_jumbo,
    cpu_s_per_gbit_jumbo: old.cpu_s_per_gbit_jumbo,
    figures,
    runs: old.runs,
    jumbo: old.jumbo,
    counters_after: old.counters_after,
  };
}

const throughput = failoverOnly ? previousThroughput() : await measureThroughput();

const failoverStarted = Date.now();
const failover = await measureFailover(KILLS);
const failoverP50 = median(failover.seconds);
const failoverMax = Math.max(...failover.seconds);
const failoverPart = {
  date: new Date().toISOString(),
  duration_s: Math.round((Date.now() - failoverStarted) / 1000),
  command: `scripts/bench vpn${failoverOnly ? " --failover-only" : quick ? " --quick" : ""}`,
  host: hostNow(),
  lease_ttl_ms: VPN_LEASE_TTL_MS,
};

const { figures: throughputFigures, runs, jumbo, counters_after, ...throughputHead } = throughput;
const report = {
  benchmark: "vpn",
  ...throughputHead,
  failover_p50_s: failoverP50,
  failover_max_s: failoverMax,
  figures: {
    ...throughputFigures,
    failover_s: {
      p50: failoverP50,
      max: failoverMax,
      kills: failover.seconds,
      aim: FAILOVER_AIM_S,
      history_violations: failover.violations,
      self_stops: failover.self_stops,
      splits: failover.splits,
      ...failoverPart,
    },
  },
  runs,
  ...(jumbo ? { jumbo } : {}),
  counters_after,
};
await writeFile(join(ROOT, "docs/bench/vpn.json"), `${JSON.stringify(report, null, 2)}\n`);

/** A figure, or a dash where the report being kept predates it. */
const shown = (x: number | undefined) => (x === undefined ? "—" : String(x));
const ratio = throughput.tun_mesh_vs_veth;
const verdict = throughput.figures.tun_mesh_vs_veth.verdict;
const jumboRuns = jumbo?.runs ?? [];
const row = (r: Run, i: number) =>
  `| ${i + 1} | ${r.tun_mesh_mbps} | ${r.veth_mbps} | ${round(r.tun_mesh_mbps / r.veth_mbps)} | ${r.office_via_wireguard_mbps} | ${r.pps_small_packets} | ${r.cpu_s_per_gbit} | ${shown(r.wireguard_go_mbps)} / ${shown(r.wireguard_veth_mbps)} |`;
const jumboRow = (r: TunRun, i: number) => `| ${i + 1} | ${r.tun_mesh_mbps} | ${r.veth_mbps} | ${round(r.tun_mesh_mbps / r.veth_mbps)} | ${r.cpu_s_per_gbit} |`;
const jumboRatio = throughput.tun_mesh_vs_veth_jumbo;
const md = `# VPN data-path benchmark

Throughput: \`${throughput.command}\`, ${throughput.date}, ${throughput.duration_s} s, ${throughput.host.cpus} CPUs (${throughput.host.model}), load ${throughput.host.loadavg_1m}.
Failover: \`${failoverPart.command}\`, ${failoverPart.date}, ${failoverPart.duration_s} s, load ${failoverPart.host.loadavg_1m}, lease TTL ${VPN_LEASE_TTL_MS / 1000} s.
Produced by \`scripts/benchmarks/vpn.ts\`; method in its header. Namespaces and addresses: \`fixtures/netns.ts\`.

| figure | value | floor | aim | verdict |
| --- | --- | --- | --- | --- |
| \`tun_mesh_vs_veth\` (median of ${runs.length}; 1500-byte underlay, TUN MTU 1280) | ${ratio} | ${FLOOR} | ${AIM} | ${verdict} |
| \`tun_mesh_vs_veth_jumbo\` (median of ${jumboRuns.length}; 9000-byte underlay, \`maxUdpPayload\` ${JUMBO.maxUdpPayload}, TUN MTU ${JUMBO.mtu}) | ${shown(jumboRatio)} | ${FLOOR} | ${AIM} | ${jumboRatio === undefined ? "not measured in the kept run" : verdictOf(jumboRatio)} |
| \`wireguard_go_vs_veth\` (reference: this host's userspace WireGuard, egress → gateway, over its veth) | ${shown(throughput.wireguard_go_vs_veth)} | | | |
| \`pps_small_packets\` (UDP, 64-byte payloads, received) | ${throughput.pps_small_packets} | | | |
| \`cpu_s_per_gbit\` (client + egress mesh processes) | ${throughput.cpu_s_per_gbit} | | | |
| \`cpu_s_per_gbit_jumbo\` | ${shown(throughput.cpu_s_per_gbit_jumbo)} | | | |
| \`office_via_wireguard_mbps\` (through the mesh, then wireguard-go) | ${throughput.office_via_wireguard_mbps} | | | |
| \`failover_p50_s\` (SIGKILL of the owner → first ping through the new owner, ${KILLS} kills) | ${failoverP50} | | ${FAILOVER_AIM_S} | ${failoverP50 <= FAILOVER_AIM_S ? "meets aim" : "misses aim"} |
| \`failover_max_s\` (goal: under 5 s) | ${failoverMax} | | | ${failoverMax < 5 ? "meets goal" : "misses goal"} |

Failover per kill (s): ${failover.seconds.join(", ")}; split (s after the kill: next epoch granted / new owner's keeper forwarding / its tunnel up / the client following it / first answer):
${failover.splits.map((x) => `${x.granted_s} / ${x.forwarding_s} / ${x.tunnel_up_s} / ${x.client_follows_s} / ${x.answered_s}`).join("; ")};
owners that stopped on their own for want of a renewal (needless, nobody was cut off): ${failover.self_stops}; history checker over the whole run: ${failover.violations.length ? failover.violations.join("; ") : "no violations (never two owners)"}.
Real agents and a real control plane in network namespaces (\`fixtures/vpn-agents.ts\`); the lease TTL is ${VPN_LEASE_TTL_MS / 1000} s
(core/vpn/lease-timing.ts), and failover is the rest of the dead owner's lease (at most one TTL, at least three quarters of
one) plus the standby learning of its grant, its first renewal and its tunnel start (docs/vpn.md, "Lease and fencing").

Per run (Mbit/s):

| run | TUN → mesh → TUN | plain veth | ratio | into the office via WireGuard | small-packet pps | CPU s / Gbit | wireguard-go / its veth |
| --- | --- | --- | --- | --- | --- | --- | --- |
${runs.map(row).join("\n")}

Jumbo-frame underlay (Mbit/s):

| run | TUN → mesh → TUN | plain veth | ratio | CPU s / Gbit |
| --- | --- | --- | --- | --- |
${jumboRuns.map(jumboRow).join("\n")}

Both namespaces share the host's ${throughput.host.cpus} CPUs with the iperf3 ends and, for the office figure, two
wireguard-go processes; the plain veth baseline uses the kernel's TCP segmentation offload end to end, which
is why it is so much faster than any per-packet path (every packet through the VPN is one QUIC datagram of at
most the TUN MTU). On these CPUs the cost is per packet, so the same path on jumbo frames (a data centre's or a
cloud network's underlay) carries several times more with fewer datagrams; the reference row shows what this
host's userspace WireGuard does over the same kind of link.
`;
await writeFile(join(ROOT, "docs/bench/vpn.md"), md);
console.log(
  `tun_mesh_vs_veth ${ratio} (${verdict}); jumbo ${shown(jumboRatio)}; wireguard_go_vs_veth ${shown(throughput.wireguard_go_vs_veth)}; pps_small_packets ${throughput.pps_small_packets}; cpu_s_per_gbit ${throughput.cpu_s_per_gbit}; failover p50 ${failoverP50} s, max ${failoverMax} s`,
);
process.exit(0);
