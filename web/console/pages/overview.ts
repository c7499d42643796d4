/** Overview: counts across every cluster, nodes by health, pending join requests, role coverage gaps, workload health and risky states. Live. */
import { api } from "../../lib/api.ts";
import { badge, card, fact, facts, h, link, mount, section, table } from "../../lib/dom.ts";
import { when } from "../../lib/format.ts";
import { href, type PageView } from "../../lib/router.ts";
import { loadOverview, type Overview } from "../overview-data.ts";
import { risksTable } from "./health.ts";

interface Installation {
  activated: boolean;
  mode: string;
  product_root_fingerprint: string | null;
  activated_at: string | null;
}

export async function overviewPage(): Promise<PageView> {
  const inst = await api.get<Installation>("/installation");
  const installation = section(
    "Installation",
    facts(
      fact("Status", badge(inst.activated ? "active" : "pending", inst.activated ? "activated" : "not activated"), "installation-state"),
      fact("Mode", inst.mode, "installation-mode"),
      fact("Activated", when(inst.activated_at)),
      fact("Product Root fingerprint", inst.product_root_fingerprint ? h("code", {}, inst.product_root_fingerprint) : "none (dev mode)"),
    ),
  );
  const body = h("div");
  const render = (o: Overview) =>
    mount(
      body,
      h(
        "div",
        { class: "cards" },
        card("clusters", o.clusters.total, "count-clusters"),
        card("nodes", o.nodes.total, "count-nodes"),
        card("healthy", o.nodes.by_health.healthy, "count-healthy", "ok"),
        card("stale", o.nodes.by_health.stale, "count-stale", o.nodes.by_health.stale ? "warn" : ""),
        card("offline", o.nodes.by_health.offline, "count-offline", o.nodes.by_health.offline ? "bad" : ""),
        card("pending join requests", o.pending_join_requests, "count-pending", o.pending_join_requests ? "warn" : ""),
        card("role coverage gaps", o.role_coverage_gaps.length, "count-gaps", o.role_coverage_gaps.length ? "warn" : ""),
        card("workloads running", `${o.workloads.running} / ${o.workloads.desired_running}`, "count-workloads", o.workloads.failed ? "bad" : ""),
      ),
      section("Risky states", risksTable(o.risky_states)),
      section(
        "Role coverage gaps",
        table(
          [
            { title: "Cluster", cell: (g) => link(`#/clusters/${g.cluster_id}`, g.cluster_name) },
            { title: "Missing roles", cell: (g) => g.missing_roles.map((r) => badge("warning", r)) },
            { title: "", cell: (g) => link(href("/nodes", { cluster: g.cluster_id }), "assign from a node") },
          ],
          o.role_coverage_gaps,
          { testid: "gaps", empty: "Every active cluster has its required roles." },
        ),
      ),
      section(
        "Clusters",
        table(
          [
            { title: "Cluster", cell: (c) => link(`#/clusters/${c.id}`, c.name) },
            { title: "Status", cell: (c) => [badge(c.status), " ", badge(c.partition_state)] },
            { title: "Nodes", cell: (c) => c.nodes.total },
            { title: "Healthy / stale / offline", cell: (c) => `${c.nodes.by_health.healthy} / ${c.nodes.by_health.stale} / ${c.nodes.by_health.offline}` },
            { title: "Pending", cell: (c) => link(href("/join-requests", { cluster: c.id }), String(c.pending_join_requests)) },
            { title: "Workloads", cell: (c) => `${c.workloads.running} / ${c.workloads.desired_running} running` },
          ],
          o.per_cluster,
          { testid: "overview-clusters", rowId: (c) => c.id },
        ),
      ),
      h("p", { class: "muted" }, `Updated ${o.generated_at}`),
    );
  render(await loadOverview());
  return { el: h("div", {}, h("h1", {}, "Overview"), body, installation), refresh: async () => render(await loadOverview()) };
}
