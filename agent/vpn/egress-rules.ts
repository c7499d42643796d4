/**
 * The owner's kernel rules for one VPN connection (nftables, one table per
 * connection): the pump decides what enters from the mesh, these rules decide
 * what the owner's kernel forwards between the connection's TUN device, its
 * WireGuard tunnel and the owner's own uplink.
 *
 * - Nothing enters the connection's tunnel but what came from its TUN device:
 *   a host that routes the office's ranges at the owner by hand (another
 *   organization's client on the same underlay, say) is dropped and counted
 *   (`foreign`), even with a spoofed client address. Without this the
 *   owner's `ip_forward` would carry it into the tunnel.
 * - Traffic from the TUN device to a denied range is dropped (`denied`; the
 *   pump refuses it first, this is the kernel's second line).
 * - Internet egress on: traffic from the TUN device to anything but the
 *   tunnel leaves by the owner's routing table (its uplink) with source NAT to
 *   the owner's address (`internet`). Off: it is dropped (`blocked`), so
 *   nothing but the allowed ranges (routed into the tunnel) leaves.
 *
 * The table is replaced atomically on every change and deleted when the
 * connection stops; a guard process deletes it when the agent dies
 * (egress.ts). Names are the operator's to read: `nft list table inet
 * rapvpn-<tag>`.
 */
import { shortTag } from "./commands.ts";

export interface EgressRuleSpec {
  /** nftables table name (rapvpn-<tag>). */
  table: string;
  /** The connection's TUN device on this owner. */
  device: string;
  /** The connection's WireGuard interface. */
  tunnel: string;
  internetEgress: boolean;
  deniedCidrs: readonly string[];
}

/** The named counters every table has (`nft list counters table inet <table>`). */
export const EGRESS_COUNTERS = ["foreign", "denied", "internet", "blocked"] as const;
export type EgressCounters = Record<(typeof EGRESS_COUNTERS)[number], number>;

/** The connection's table name (nftables allows long names; a hash keeps it short and free of id syntax). */
export function egressTableName(connectionId: string): string {
  return `rapvpn-${shortTag(connectionId, 10)}`;
}

function quoted(name: string): string {
  if (!/^[A-Za-z0-9._-]{1,15}$/.test(name)) throw new Error(`not an interface name: ${JSON.stringify(name)}`);
  return `"${name}"`;
}

function cidrSet(cidrs: readonly string[]): string {
  for (const c of cidrs) if (!/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(c)) throw new Error(`not a CIDR: ${JSON.stringify(c)}`);
  return `{ ${cidrs.join(", ")} }`;
}

/**
 * The whole table as one `nft -f -` script: declare, delete, declare again, so applying it replaces any earlier
 * version (or a table a killed agent left) atomically.
 */
export function egressRuleset(spec: EgressRuleSpec): string {
  const table = `inet ${spec.table}`;
  const dev = quoted(spec.device);
  const tun = quoted(spec.tunnel);
  const denied4 = spec.deniedCidrs.filter((c) => !c.includes(":"));
  const denied6 = spec.deniedCidrs.filter((c) => c.includes(":"));
  const forward = [
    `oifname ${tun} iifname != ${dev} counter name "foreign" drop`,
    ...(denied4.length ? [`iifname ${dev} ip daddr ${cidrSet(denied4)} counter name "denied" drop`] : []),
    ...(denied6.length ? [`iifname ${dev} ip6 daddr ${cidrSet(denied6)} counter name "denied" drop`] : []),
    `iifname ${dev} oifname ${tun} accept`,
    spec.internetEgress ? `iifname ${dev} counter name "internet" accept` : `iifname ${dev} counter name "blocked" drop`,
  ];
  const nat = spec.internetEgress ? [`iifname ${dev} oifname != ${tun} masquerade`] : [];
  return [
    `table ${table}`,
    `delete table ${table}`,
    `table ${table} {`,
    ...EGRESS_COUNTERS.map((c) => `  counter ${c} { }`),
    "  chain forward {",
    "    type filter hook forward priority filter; policy accept;",
    ...forward.map((r) => `    ${r}`),
    "  }",
    "  chain postrouting {",
    "    type nat hook postrouting priority srcnat; policy accept;",
    ...nat.map((r) => `    ${r}`),
    "  }",
    "}",
    "",
  ].join("\n");
}

/** The counters out of `nft -j list counters table inet <table>` (absent ones are 0). */
export function parseEgressCounters(json: string): EgressCounters {
  const out: EgressCounters = { foreign: 0, denied: 0, internet: 0, blocked: 0 };
  const parsed = JSON.parse(json) as { nftables?: { counter?: { name?: string; packets?: number } }[] };
  for (const item of parsed.nftables ?? []) {
    const c = item.counter;
    if (c?.name && c.name in out) out[c.name as keyof EgressCounters] = c.packets ?? 0;
  }
  return out;
}
