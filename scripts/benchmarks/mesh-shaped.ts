/**
 * Shaped-link scenarios of `scripts/bench mesh` (also alone: `scripts/bench mesh --shaped-only`).
 *
 * Two network namespaces joined by a veth pair; each side's egress goes through
 * a `tc` token bucket (`tbf`: the link rate, and a queue of LINK_QUEUE_MS at that
 * rate, the bottleneck buffer where bulk traffic can build a standing queue).
 * This kernel has no `sch_netem`, so the round-trip delay and the random loss are
 * a user-space delay line inside `mesh-bench shaped` (crates/fabric-quic/src/bin/
 * mesh-bench/shaped.rs), in node B's namespace. One mesh node in each namespace;
 * `input` one-way latency idle and under a saturating `file_transfer`,
 * `vpn_packet` and `render` flow, and what each flow delivered.
 *
 * Needs root (namespaces, tc). The namespaces are named after NETNS_PREFIX and
 * removed when the run ends, fails or is interrupted (and by scripts/bench's trap).
 */
import { spawnSync } from "node:child_process";

export interface ShapedScenario {
  /** Key in the report, e.g. `50mbit_20ms`. */
  name: string;
  rate_mbit: number;
  rtt_ms: number;
  /** Share of datagrams dropped at random in each direction (0..1). */
  loss: number;
}

export const SCENARIOS: ShapedScenario[] = [
  { name: "50mbit_20ms", rate_mbit: 50, rtt_ms: 20, loss: 0 },
  { name: "200mbit_5ms", rate_mbit: 200, rtt_ms: 5, loss: 0 },
  { name: "50mbit_20ms_1pct_loss", rate_mbit: 50, rtt_ms: 20, loss: 0.01 },
];

/** The bottleneck buffer, as time at the link rate: a modestly bloated home or office link. */
export const LINK_QUEUE_MS = 100;
/** Token-bucket burst: ~20 full-size packets may leave at once. */
const BURST = "32kb";

/** RFC 2544's benchmarking range: used only inside our own namespaces. */
const ADDR_A = "198.18.0.1";
const ADDR_B = "198.18.0.2";
export const NETNS_PREFIX = process.env.MESH_NETNS_PREFIX ?? `meshb${process.pid}`;
const NS_A = `${NETNS_PREFIX}a`;
const NS_B = `${NETNS_PREFIX}b`;

export interface ShapedLoad {
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  samples: number;
  load_mbps: number;
  vpn_qos_drops: number;
  render_replaced: number;
  udp_drops: { rcvbuf_errors: number; sndbuf_errors: number };
  sender: { lost_packets: number; sent_packets: number; congestion_events: number; rtt_ms?: number; cwnd?: number };
  delay_line: { forwarded: number; lost: number };
}
export interface ShapedRun {
  scenario: string;
  idle: ShapedLoad;
  file_transfer: ShapedLoad;
  vpn_packet: ShapedLoad;
  render: ShapedLoad;
  /** Packets the token buckets dropped (queue full) over the whole run, A → B and B → A. */
  tbf_drops: { a_to_b: number; b_to_a: number };
}
export const LOADS = ["file_transfer", "vpn_packet", "render"] as const;

function sh(args: string[], allowFail = false): string {
  const p = spawnSync(args[0]!, args.slice(1), { encoding: "utf8" });
  if (p.status !== 0 && !allowFail) throw new Error(`${args.join(" ")} failed: ${(p.stderr || String(p.error)).trim()}`);
  return p.stdout ?? "";
}

/** Removes both namespaces (their veth ends go with them); safe to call twice. */
export function removeNamespaces(): void {
  for (const ns of [NS_A, NS_B]) sh(["ip", "netns", "del", ns], true);
}

function makeNamespaces(): void {
  removeNamespaces();
  sh(["ip", "netns", "add", NS_A]);
  sh(["ip", "netns", "add", NS_B]);
  sh(["ip", "link", "add", "wa", "netns", NS_A, "type", "veth", "peer", "name", "wb", "netns", NS_B]);
  sh(["ip", "-n", NS_A, "addr", "add", `${ADDR_A}/30`, "dev", "wa"]);
  sh(["ip", "-n", NS_B, "addr", "add", `${ADDR_B}/30`, "dev", "wb"]);
  for (const [ns, dev] of [
    [NS_A, "wa"],
    [NS_B, "wb"],
  ] as const) {
    sh(["ip", "-n", ns, "link", "set", dev, "up"]);
    sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
  }
}

function shape(s: ShapedScenario): void {
  for (const [ns, dev] of [
    [NS_A, "wa"],
    [NS_B, "wb"],
  ] as const) {
    sh([
      "ip",
      "netns",
      "exec",
      ns,
      "tc",
      "qdisc",
      "replace",
      "dev",
      dev,
      "root",
      "tbf",
      "rate",
      `${s.rate_mbit}mbit`,
      "burst",
      BURST,
      "latency",
      `${LINK_QUEUE_MS}ms`,
    ]);
  }
}

function tbfDrops(ns: string, dev: string): number {
  const out = sh(["ip", "netns", "exec", ns, "tc", "-s", "qdisc", "show", "dev", dev]);
  return Number(/dropped (\d+)/.exec(out)?.[1] ?? 0);
}

/** `runs` runs of every scenario (scenarios interleaved within a run); `mesh` runs mesh-bench with arguments. */
export async function shapedScenarios(runs: number, quick: boolean, mesh: (args: string[]) => Promise<unknown>): Promise<ShapedRun[]> {
  if (process.getuid?.() !== 0) throw new Error("the shaped-link scenarios need root (network namespaces and tc)");
  const cleanup = () => {
    removeNamespaces();
    process.exit(130);
  };
  process.once("SIGINT", cleanup);
  process.once("SIGTERM", cleanup);
  try {
    makeNamespaces();
    const out: ShapedRun[] = [];
    for (let i = 0; i < runs; i++) {
      for (const s of SCENARIOS) {
        console.error(`[mesh] shaped ${s.name}, run ${i + 1}`);
        shape(s);
        const before = { a: tbfDrops(NS_A, "wa"), b: tbfDrops(NS_B, "wb") };
        const run = (await mesh([
          "shaped",
          ...["--ns-a", NS_A, "--ns-b", NS_B, "--addr-a", ADDR_A, "--addr-b", ADDR_B],
          ...["--one-way-ms", String(s.rtt_ms / 2), "--loss", String(s.loss)],
          ...(quick ? ["--quick"] : []),
        ])) as Omit<ShapedRun, "scenario" | "tbf_drops">;
        const tbf_drops = { a_to_b: tbfDrops(NS_A, "wa") - before.a, b_to_a: tbfDrops(NS_B, "wb") - before.b };
        out.push({ scenario: s.name, ...run, tbf_drops });
      }
    }
    return out;
  } finally {
    process.off("SIGINT", cleanup);
    process.off("SIGTERM", cleanup);
    removeNamespaces();
  }
}

/** Delivered payload of a load as a share of the link rate (MB/s of payload ÷ link Mbit/s ÷ 8). */
export const goodputShare = (load: ShapedLoad, s: ShapedScenario) => (load.load_mbps * 8) / s.rate_mbit;
