/**
 * The VPN part of `rap-node-agent status` (without `--json`): one line an
 * operator can read at a glance: what this node forwards as an owner, which
 * owner each client connection follows, and the DNS routes in force with
 * their query counts. The full detail (pump counters, per-route failures)
 * is in `status --json` under `mesh.vpn`.
 */

interface VpnStatusShape {
  egress?: Record<string, { epoch: number | null; tunnel: string | null }>;
  client?: Record<string, { owner: string | null; epoch: number }>;
  dns?: { listen: string; routes: { suffix: string; servers: string[]; queries: number; failures: number }[]; other_queries: number } | null;
}

const short = (id: string) => id.slice(0, 8);

/** `  vpn: …` or "" when the node runs no VPN role. */
export function vpnStatusLine(vpn: unknown): string {
  if (!vpn || typeof vpn !== "object") return "";
  const v = vpn as VpnStatusShape;
  const parts: string[] = [];
  for (const [id, e] of Object.entries(v.egress ?? {})) {
    parts.push(e.epoch === null ? `owner of ${short(id)}: stopped` : `owner of ${short(id)} epoch ${e.epoch} via ${e.tunnel ?? "-"}`);
  }
  for (const [id, c] of Object.entries(v.client ?? {})) {
    parts.push(c.owner ? `client of ${short(id)} → node ${short(c.owner)} epoch ${c.epoch}` : `client of ${short(id)}: nobody holds it`);
  }
  if (v.dns) {
    const routes = v.dns.routes.map((r) => `${r.suffix} → ${r.servers.join(",")} (${r.queries} queries, ${r.failures} failed)`);
    parts.push(`dns ${v.dns.listen}: ${routes.length ? routes.join("; ") : "no routes"}; other names ${v.dns.other_queries} queries`);
  }
  return parts.length ? `\n  vpn: ${parts.join(" | ")}` : "";
}
