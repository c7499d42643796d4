/**
 * The organization's VPN connections (docs/vpn.md): name, site, the ranges
 * it reaches and its status (active, failing over, waiting for a node,
 * disabled). Never where it runs: the organization does not see nodes.
 * Creating and changing connections is the API's for now.
 */
import { api } from "../lib/api.ts";
import { badge, h, mount, table } from "../lib/dom.ts";
import { when } from "../lib/format.ts";
import type { PageView } from "../lib/router.ts";

interface Connection {
  id: string;
  name: string;
  status: string;
  desired_state: string;
  disabled_reason: string | null;
  target: { site: string };
  routing: { allowed_cidrs: string[]; denied_cidrs: string[]; internet_egress: boolean };
  updated_at: string;
}

const TONE: Record<string, string> = { active: "active", failing_over: "stale", waiting_for_node: "stale", disabled: "disabled" };

export async function vpnStatusPage(orgId: string): Promise<PageView> {
  const body = h("div");
  const load = async () => {
    const { items } = await api.get<{ items: Connection[] }>(`/organizations/${orgId}/vpn-connections`);
    mount(
      body,
      table(
        [
          { title: "Connection", cell: (c) => c.name },
          { title: "Site", cell: (c) => c.target.site },
          { title: "Reaches", cell: (c) => c.routing.allowed_cidrs.join(", ") },
          { title: "Except", cell: (c) => c.routing.denied_cidrs.join(", ") || "—" },
          { title: "Internet egress", cell: (c) => (c.routing.internet_egress ? "yes" : "no") },
          { title: "Status", cell: (c) => badge(TONE[c.status] ?? "unknown", c.status.replaceAll("_", " ")) },
          { title: "Changed", cell: (c) => when(c.updated_at) },
        ],
        items,
        { testid: "org-vpn", rowId: (c) => c.id, empty: "No VPN connections." },
      ),
    );
  };
  await load();
  return { el: h("div", {}, h("h1", {}, "VPN connections"), body), refresh: load };
}
