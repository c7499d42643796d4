/**
 * VPN connections across the platform (docs/vpn.md): each with its owner
 * node, fencing epoch, standby, lease expiry and failovers; pick one for its
 * lease history (grants, renewals, expiries, releases, fences). Live.
 */
import { api } from "../../lib/api.ts";
import { badge, h, link, section, table } from "../../lib/dom.ts";
import { ago, when } from "../../lib/format.ts";
import { href, type PageView } from "../../lib/router.ts";

interface Lease {
  state: string;
  epoch: number;
  owner_node_id: string | null;
  standby_node_id: string | null;
  expires_at: string | null;
  granted_at: string | null;
  fenced_reason: string | null;
  last_end_reason: string | null;
  failovers: number;
}
interface Connection {
  id: string;
  organization_id: string;
  name: string;
  status: string;
  desired_state: string;
  target: { site: string; address: string; port: number };
  lease: Lease | null;
}
interface Fact {
  kind: string;
  node_id: string;
  epoch: number;
  at: string;
  expires_at?: string;
  reason?: string;
}

const short = (id: string | null | undefined) => (id ? h("code", { title: id }, id.slice(0, 8)) : "—");

export async function vpnPage(_: Record<string, string>, query: URLSearchParams): Promise<PageView> {
  const el = h("div", {});
  const selected = query.get("vpn");
  const render = async () => {
    const { items } = await api.get<{ items: Connection[] }>("/platform/vpn-connections");
    const list = table(
      [
        { title: "Connection", cell: (c) => link(href("/vpn", { vpn: c.id }), c.name) },
        { title: "Site", cell: (c) => `${c.target.site} (${c.target.address}:${c.target.port})` },
        { title: "Status", cell: (c) => badge(c.status === "active" ? "active" : c.status === "disabled" ? "disabled" : "stale", c.status) },
        { title: "Owner", cell: (c) => short(c.lease?.owner_node_id) },
        { title: "Epoch", cell: (c) => String(c.lease?.epoch ?? 0) },
        { title: "Standby", cell: (c) => short(c.lease?.standby_node_id) },
        { title: "Lease ends", cell: (c) => when(c.lease?.expires_at) },
        { title: "Failovers", cell: (c) => String(c.lease?.failovers ?? 0) },
        { title: "Last end", cell: (c) => c.lease?.fenced_reason ?? c.lease?.last_end_reason ?? "—" },
      ],
      items,
      { testid: "vpn-connections", rowId: (c) => c.id, empty: "No VPN connections yet: organizations create them (docs/vpn.md)." },
    );
    const history = selected
      ? section(
          "Lease history",
          table(
            [
              { title: "When", cell: (f: Fact) => `${when(f.at)} (${ago(f.at)})` },
              { title: "Fact", cell: (f) => h("code", {}, f.kind) },
              { title: "Node", cell: (f) => short(f.node_id) },
              { title: "Epoch", cell: (f) => String(f.epoch) },
              { title: "Until", cell: (f) => when(f.expires_at) },
              { title: "Reason", cell: (f) => f.reason ?? "" },
            ],
            // Newest first: failovers are what an operator looks for.
            (await api.get<{ items: Fact[] }>(`/platform/vpn-connections/${selected}/history`, { limit: "100" })).items.reverse(),
            { testid: "vpn-history", empty: "No lease facts yet." },
          ),
        )
      : null;
    el.replaceChildren(h("h1", {}, "VPN connections"), list, history ?? "");
  };
  await render();
  return { el, refresh: render };
}
